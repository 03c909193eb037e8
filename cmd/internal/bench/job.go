package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
)

// CSVName is the file the benchmark job writes into output.dir/job.name.
const CSVName = "bench.csv"

// Job runs the benchmark job (job.task = "bench") on this rank: cfg.Bench's
// op at its size, with the Comm's codec (collective.codec). Rank 0
// writes bench.csv (CSVHeader and one row) and config.toml (effective)
// into output.dir/job.name and prints the row to stdout.
//
// Rank 0 holds the folder as a training job does ([fed.OpenResultsDir]):
// before the benchmark runs it takes the folder's lock (a second job on
// the same folder fails at once with a [*fed.BusyError]), removes the
// bench.csv an earlier run left and writes INCOMPLETE, which it removes
// only once both files are written, each atomically.
func Job(ctx context.Context, c *collective.Comm, cfg *configs.Config, effective []byte, stdout io.Writer) error {
	var rd *fed.ResultsDir
	if c.Rank() == 0 {
		var err error
		if rd, err = fed.OpenResultsDir(filepath.Join(cfg.Output.Dir, cfg.Job.Name)); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer rd.Close()
		if err := os.Remove(filepath.Join(rd.Dir(), CSVName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bench: remove the previous run's %w", err)
		}
	}
	var row bytes.Buffer
	b := cfg.Bench
	if err := Run(ctx, c, []string{b.Op}, []int{b.Bytes}, b.Repeats, Mode{Cold: b.Cold.Duration}, nil, &row); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.Rank() != 0 {
		return nil
	}
	if err := fed.WriteFileAtomic(filepath.Join(rd.Dir(), "config.toml"), effective, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := fed.WriteFileAtomic(filepath.Join(rd.Dir(), CSVName), append([]byte(CSVHeader+"\n"), row.Bytes()...), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := rd.Complete(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := rd.Close(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s", CSVHeader, row.Bytes())
	return nil
}
