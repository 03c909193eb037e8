package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
)

// CSVName is the file the benchmark job writes into output.dir/job.name.
const CSVName = "bench.csv"

// Job runs the benchmark job (job.task = "bench") on this rank: cfg.Bench's
// op at its size, with the Comm's codec (collective.codec). Rank 0
// writes bench.csv (CSVHeader and one row) and config.toml (effective)
// into output.dir/job.name and prints the row to stdout.
func Job(ctx context.Context, c *collective.Comm, cfg *configs.Config, effective []byte, stdout io.Writer) error {
	var row bytes.Buffer
	b := cfg.Bench
	if err := Run(ctx, c, []string{b.Op}, []int{b.Bytes}, b.Repeats, b.Cold.Duration, nil, &row); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.Rank() != 0 {
		return nil
	}
	dir := filepath.Join(cfg.Output.Dir, cfg.Job.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), effective, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, CSVName), append([]byte(CSVHeader+"\n"), row.Bytes()...), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s", CSVHeader, row.Bytes())
	return nil
}
