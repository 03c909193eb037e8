package job

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/report"
	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/fltk-go/fltk/trainer/fed"
)

// trainAll runs Train of c on a world of two in-process ranks.
func trainAll(t *testing.T, c *configs.Config) error {
	t.Helper()
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "jobtest", 2, nil)
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	return runtimetest.OnAll(2, func(r int) error { return Train(context.Background(), comms[r], c, io.Discard) })
}

// resultsConfig is a valid config whose results go into a temporary
// output.dir.
func resultsConfig(t *testing.T) *configs.Config {
	t.Helper()
	c := configs.DefaultConfig()
	c.Job.Name = "exp"
	c.Output.Dir = t.TempDir()
	c.Data.Path = filepath.Join(t.TempDir(), "nowhere") // no data: Train fails once it has the folder
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestTrainRefusesBusyFolder: while another run holds output.dir/job.name,
// Train fails at once naming the folder, and leaves the holder's files
// alone.
func TestTrainRefusesBusyFolder(t *testing.T) {
	c := resultsConfig(t)
	dir := ResultsDir(c)
	holder, err := fed.OpenResultsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	metrics := []byte("round,test_accuracy\n1,0.5\n")
	if err := os.WriteFile(filepath.Join(dir, "metrics.csv"), metrics, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "jobtest", 2, nil)
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	err = Train(context.Background(), comms[0], c, io.Discard) // rank 0 fails before any collective
	var busy *fed.BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Train on a held folder: %v, want a *fed.BusyError naming %s", err, dir)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "metrics.csv")); string(got) != string(metrics) {
		t.Errorf("the holder's metrics.csv became %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, fed.IncompleteFile)); err != nil {
		t.Errorf("the holder's %s: %v", fed.IncompleteFile, err)
	}
}

// TestTrainFailureMarksFolder: a run that fails leaves INCOMPLETE and not
// the previous run's model.ckpt.
func TestTrainFailureMarksFolder(t *testing.T) {
	c := resultsConfig(t)
	dir := ResultsDir(c)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.ckpt"), []byte("an earlier run's model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := trainAll(t, c); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("Train without data: %v, want an error naming the data folder", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.ckpt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("model.ckpt after a failed run: %v, want the earlier run's removed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, fed.IncompleteFile)); err != nil {
		t.Errorf("%s after a failed run: %v", fed.IncompleteFile, err)
	}
	again, err := fed.OpenResultsDir(dir)
	if err != nil {
		t.Fatalf("the folder after the failed run: %v, want it released", err)
	}
	again.Close()
}

// TestIncompleteFileName: report looks for the marker fed writes.
func TestIncompleteFileName(t *testing.T) {
	if fed.IncompleteFile != report.IncompleteFile {
		t.Errorf("fed.IncompleteFile %q, report.IncompleteFile %q", fed.IncompleteFile, report.IncompleteFile)
	}
}
