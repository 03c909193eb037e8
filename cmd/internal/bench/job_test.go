package bench

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
)

// runJob runs Job on a 2-rank in-memory world and returns each rank's
// error.
func runJob(t *testing.T, ctx context.Context, cfg *configs.Config) [2]error {
	t.Helper()
	comms := collectivetest.NewNetwork(t, 2).Comms(t, collective.Config{JobID: "bench-job"})
	var errs [2]error
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() { errs[r] = Job(ctx, comms[r], cfg, []byte("# effective\n"), io.Discard) })
	}
	wg.Wait()
	return errs
}

func benchConfig(t *testing.T) *configs.Config {
	cfg := configs.DefaultConfig()
	cfg.Job.Task, cfg.Job.Name = "bench", "b"
	cfg.Output.Dir = t.TempDir()
	cfg.Bench = configs.Bench{Op: "allreduce", Bytes: 64, Repeats: 1}
	return &cfg
}

// TestJobHoldsResultsDir: a benchmark job takes its results folder as a
// training job does — a folder held by another run is refused, an
// earlier run's bench.csv never survives into a run that failed,
// INCOMPLETE stays until both files are written.
func TestJobHoldsResultsDir(t *testing.T) {
	cfg := benchConfig(t)
	dir := filepath.Join(cfg.Output.Dir, cfg.Job.Name)
	csvPath, incomplete := filepath.Join(dir, CSVName), filepath.Join(dir, fed.IncompleteFile)

	// A finished run: bench.csv and config.toml, no INCOMPLETE.
	if errs := runJob(t, t.Context(), cfg); errs[0] != nil || errs[1] != nil {
		t.Fatalf("Job = %v", errs)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil || !strings.HasPrefix(string(b), CSVHeader+"\n") || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("bench.csv = %q, %v; want the header and one row", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.toml")); err != nil {
		t.Errorf("config.toml: %v", err)
	}
	if _, err := os.Stat(incomplete); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("INCOMPLETE after a finished run: %v", err)
	}

	// A run while another holds the folder: refused, the files untouched.
	other, err := fed.OpenResultsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 1)
	comms := collectivetest.NewNetwork(t, 2).Comms(t, collective.Config{JobID: "busy"})
	go func() { errs <- Job(ctx, comms[1], cfg, nil, io.Discard) }()
	err = Job(ctx, comms[0], cfg, nil, io.Discard)
	var busy *fed.BusyError
	if !errors.As(err, &busy) {
		t.Errorf("Job on a held folder = %v, want a *fed.BusyError", err)
	}
	cancel() // rank 1 waits for rank 0 in vain
	<-errs
	other.Close()

	// A run that fails (cancelled): the earlier bench.csv is gone and
	// INCOMPLETE says the folder holds no finished run.
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if errs := runJob(t, ctx, cfg); errs[0] == nil {
		t.Fatal("Job with a cancelled context succeeded on rank 0")
	}
	if _, err := os.Stat(csvPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bench.csv of the earlier run after a failed run: %v", err)
	}
	if _, err := os.Stat(incomplete); err != nil {
		t.Errorf("INCOMPLETE after a failed run: %v", err)
	}
}
