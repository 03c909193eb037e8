package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/report"
	"github.com/fltk-go/fltk/trainer/fed"
)

// fakeJob writes a metrics.csv as a finished training job would: rounds
// with accuracies 0.5, 0.7, 0.6 and 100/200 bytes each. It fails runs
// whose learning rate is fail, and cancels the context instead of
// running the run at index cancelAt.
type fakeJob struct {
	fail     float64
	cancelAt int
	cancel   context.CancelFunc
	ran      []int
}

func (f *fakeJob) launch(ctx context.Context, r *Run, configPath string, out io.Writer) error {
	f.ran = append(f.ran, r.Index)
	if _, err := os.Stat(configPath); err != nil {
		return err
	}
	if r.Index == f.cancelAt {
		f.cancel()
		return ctx.Err()
	}
	if r.Config.Train.LearningRate == f.fail {
		fmt.Fprintln(out, "boom")
		return errors.New("rank 1 exited with status 1\nlast lines")
	}
	dir := filepath.Join(r.Config.Output.Dir, r.Config.Job.Name)
	body := "round,test_accuracy,test_loss,train_loss,round_seconds,train_seconds,comm_seconds,eval_seconds,bytes_up,bytes_down,clients,samples,compression_up\n" +
		"1,0.5,1,1,1,1,0,0,100,200,2,10,1\n2,0.7,1,1,1,1,0,0,100,200,2,10,1\n3,0.6,1,1,1,1,0,0,100,200,2,10,1\n"
	return os.WriteFile(filepath.Join(dir, "metrics.csv"), []byte(body), 0o644)
}

func readSweepCSV(t *testing.T, p *Plan) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(p.Dir, CSVName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func loadTestPlan(t *testing.T) *Plan {
	t.Helper()
	t.Chdir(t.TempDir())
	p := writeSweep(t, `name = "s"
base = "base.toml"
repeats = 2
[grid]
"train.learning_rate" = [0.05, 0.1]
"federated.target_accuracy" = [0.65]
`)
	plan, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestRunFailureAndResume(t *testing.T) {
	plan := loadTestPlan(t)
	job := &fakeJob{fail: 0.1}
	var progress bytes.Buffer
	err := plan.Run(t.Context(), Options{Launch: job.launch, Progress: &progress})
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	if fmt.Sprint(job.ran) != "[1 2 3 4]" {
		t.Errorf("ran %v, want every run despite failures", job.ran)
	}
	recs := readSweepCSV(t, plan)
	if len(recs) != 5 {
		t.Fatalf("sweep.csv has %d records, want header + 4:\n%v", len(recs), recs)
	}
	if got, want := strings.Join(recs[1][:8], ","), "1,001-lr0p05-np3-seed7,0.05,0.65,7,3,0.6,0.7"; got != want {
		t.Errorf("row 1 = %s, want %s…", got, want)
	}
	if got := recs[1][8]; got != "2" {
		t.Errorf("rounds_to_target = %q, want 2 (first round ≥ 0.65)", got)
	}
	if got := strings.Join(recs[1][10:], ","); got != "300,600,ok" {
		t.Errorf("bytes and status = %s, want 300,600,ok", got)
	}
	if got := recs[3][len(recs[3])-1]; got != "failed: rank 1 exited with status 1" {
		t.Errorf("status of run 3 = %q", got)
	}
	if log, err := os.ReadFile(filepath.Join(plan.Dir, recs[3][1], "output.log")); err != nil || string(log) != "boom\n" {
		t.Errorf("output.log of run 3 = %q, %v", log, err)
	}
	if !strings.Contains(progress.String(), "run 2/4 (train.learning_rate=0.05 federated.target_accuracy=0.65 np=3 seed=8) … ETA") {
		t.Errorf("progress:\n%s", progress.String())
	}

	// Again, with the failure fixed: only the failed runs run.
	job2 := &fakeJob{}
	progress.Reset()
	if err := plan.Run(t.Context(), Options{Launch: job2.launch, Progress: &progress}); err != nil {
		t.Fatalf("second Run = %v", err)
	}
	if fmt.Sprint(job2.ran) != "[3 4]" {
		t.Errorf("second run ran %v, want [3 4]", job2.ran)
	}
	if !strings.Contains(progress.String(), "run 1/4 (train.learning_rate=0.05 federated.target_accuracy=0.65 np=3 seed=7) done, skipped") {
		t.Errorf("progress:\n%s", progress.String())
	}
	recs = readSweepCSV(t, plan)
	for _, rec := range recs[1:] {
		if rec[len(rec)-1] != "ok" {
			t.Errorf("row %v not ok", rec)
		}
	}
	checkReport(t, plan, report.TrainSweep, []string{"train.learning_rate", "federated.target_accuracy"})
}

// checkReport checks that fltk report reads the sweep.csv the plan wrote
// as a sweep of kind with the grid keys and every run ok.
func checkReport(t *testing.T, plan *Plan, kind report.SweepKind, axes []string) {
	t.Helper()
	s, err := report.LoadSweep(plan.Dir)
	if err != nil {
		t.Fatalf("report.LoadSweep: %v", err)
	}
	if s.Kind != kind || !slices.Equal(s.Axes(), axes) || len(s.Runs) != len(plan.Runs) {
		t.Fatalf("report reads a %v sweep with axes %v and %d runs; want %v, %v, %d", s.Kind, s.Axes(), len(s.Runs), kind, axes, len(plan.Runs))
	}
	for _, r := range s.Runs {
		if !r.OK() {
			t.Errorf("report reads run %+v", r)
		}
	}
}

func TestRunInterrupted(t *testing.T) {
	plan := loadTestPlan(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	job := &fakeJob{cancelAt: 2, cancel: cancel}
	err := plan.Run(ctx, Options{Launch: job.launch, Progress: io.Discard})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run = %v, want ErrInterrupted", err)
	}
	if fmt.Sprint(job.ran) != "[1 2]" {
		t.Errorf("ran %v, want [1 2]: nothing after the interruption", job.ran)
	}
	recs := readSweepCSV(t, plan)
	if len(recs) != 3 || recs[1][len(recs[1])-1] != "ok" || recs[2][len(recs[2])-1] != "interrupted" {
		t.Fatalf("sweep.csv:\n%v", recs)
	}
	job2 := &fakeJob{}
	if err := plan.Run(t.Context(), Options{Launch: job2.launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(job2.ran) != "[2 3 4]" {
		t.Errorf("resumed run ran %v, want [2 3 4]", job2.ran)
	}
}

// A run whose config changed since it finished is not skipped.
func TestRunConfigChanged(t *testing.T) {
	plan := loadTestPlan(t)
	job := &fakeJob{}
	if err := plan.Run(t.Context(), Options{Launch: job.launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plan.Dir, plan.Runs[1].ID, "run.toml"), []byte("# edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job2 := &fakeJob{}
	if err := plan.Run(t.Context(), Options{Launch: job2.launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(job2.ran) != "[2]" {
		t.Errorf("ran %v, want [2]", job2.ran)
	}
}

// A sweep of benchmark jobs has bench.csv's columns.
func TestRunBench(t *testing.T) {
	t.Chdir(t.TempDir())
	p := writeSweep(t, `base = "bench.toml"
np = [2, 4]
[grid]
"bench.op" = ["bcast", "allreduce"]
"collective.codec" = ["none"]
`)
	if err := os.WriteFile(filepath.Join(filepath.Dir(p), "bench.toml"), []byte("[job]\ntask = \"bench\"\n[bench]\nbytes = 116136\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	launch := func(_ context.Context, r *Run, _ string, _ io.Writer) error {
		if r.Config.Job.Task != "bench" || r.Config.Bench.Bytes != 116136 {
			return fmt.Errorf("config %+v %+v", r.Config.Job, r.Config.Bench)
		}
		body := fmt.Sprintf("impl,np,op,bytes,median_us,min_us,gbps\nfltk,%d,%s,116136,%d.5,100.000,0.9\n", r.NP, r.Config.Bench.Op, r.Index)
		return os.WriteFile(filepath.Join(r.Config.Output.Dir, r.Config.Job.Name, "bench.csv"), []byte(body), 0o644)
	}
	if err := plan.Run(t.Context(), Options{Launch: launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	recs := readSweepCSV(t, plan)
	var got []string
	for _, rec := range recs {
		got = append(got, strings.Join(rec[:len(rec)-2], ",")+","+rec[len(rec)-1]) // all but wall_seconds
	}
	want := []string{
		"run,dir,bench.op,collective.codec,seed,np,median_us,min_us,gbps,status",
		"1,001-opbcast-np2-seed42,bcast,none,42,2,1.5,100.000,0.9,ok",
		"2,002-opbcast-np4-seed42,bcast,none,42,4,2.5,100.000,0.9,ok",
		"3,003-opallreduce-np2-seed42,allreduce,none,42,2,3.5,100.000,0.9,ok",
		"4,004-opallreduce-np4-seed42,allreduce,none,42,4,4.5,100.000,0.9,ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sweep.csv (without wall_seconds)\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checkReport(t, plan, report.BenchSweep, []string{"bench.op", "collective.codec", "np"})
	s, err := report.LoadSweep(plan.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Runs[2]; r.MedianMicros != 3.5 || r.MinMicros != 100 || r.GBps != 0.9 {
		t.Errorf("report reads run 3 as %+v", r)
	}
}

// TestRunResumeLooksAtResultsDir: a run whose folder holds INCOMPLETE
// (its job was killed after sweep.csv said ok, or another sweep began it
// again) is rerun, never counted as done; a run whose folder another
// process holds stops the sweep with a *fed.BusyError and its files are
// left alone; a job that exits 0 but leaves INCOMPLETE is a failed run.
func TestRunResumeLooksAtResultsDir(t *testing.T) {
	plan := loadTestPlan(t)
	if err := plan.Run(t.Context(), Options{Launch: (&fakeJob{}).launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	runDir := func(i int) string { return filepath.Join(plan.Dir, plan.Runs[i].ID) }
	if err := os.WriteFile(filepath.Join(runDir(1), fed.IncompleteFile), []byte("pid 1 on x since y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := &fakeJob{}
	if err := plan.Run(t.Context(), Options{Launch: job.launch, Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(job.ran) != "[2]" {
		t.Errorf("with INCOMPLETE in run 2's folder, the sweep ran %v, want [2]", job.ran)
	}
	if _, err := os.Stat(filepath.Join(runDir(1), fed.IncompleteFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("INCOMPLETE after the rerun: %v", err)
	}

	// Run 3's folder is held (a job of another sweep process is running
	// it) and incomplete.
	held, err := fed.OpenResultsDir(runDir(2))
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(runDir(2), "written-by-the-holder")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	job = &fakeJob{}
	err = plan.Run(t.Context(), Options{Launch: job.launch, Progress: io.Discard})
	var busy *fed.BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "run 3/4") {
		t.Fatalf("sweep with run 3's folder held = %v, want a *fed.BusyError naming run 3/4", err)
	}
	if len(job.ran) != 0 {
		t.Errorf("the sweep ran %v with run 3's folder held, want nothing", job.ran)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the holder's file: %v; the sweep must not touch a held folder", err)
	}
	held.Close()

	// Released but still INCOMPLETE: rerun. A job that exits 0 and
	// leaves INCOMPLETE fails.
	job = &fakeJob{}
	leave := func(ctx context.Context, r *Run, configPath string, out io.Writer) error {
		if err := job.launch(ctx, r, configPath, out); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(r.Config.Output.Dir, r.Config.Job.Name, fed.IncompleteFile), nil, 0o644)
	}
	err = plan.Run(t.Context(), Options{Launch: leave, Progress: io.Discard})
	if !errors.Is(err, ErrFailed) || fmt.Sprint(job.ran) != "[3]" {
		t.Fatalf("sweep after the holder left = %v, ran %v; want run 3 rerun and failed", err, job.ran)
	}
	recs := readSweepCSV(t, plan)
	if got := recs[3][len(recs[3])-1]; !strings.Contains(got, "failed") || !strings.Contains(got, fed.IncompleteFile) {
		t.Errorf("status of run 3 = %q, want failed naming %s", got, fed.IncompleteFile)
	}
}
