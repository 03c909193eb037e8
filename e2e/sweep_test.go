package e2e

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fltk-go/fltk/trainer/tboard/tboardtest"
)

// tinySweep writes a sweep of four two-round MNIST2NN runs (two learning
// rates × two seeds, three ranks, a twentieth of an epoch per round) and
// returns its path and the sweep's results folder.
func tinySweep(t *testing.T) (path, dir string) {
	t.Helper()
	dataDir := mnistData(t)
	tmp := t.TempDir()
	base := fmt.Sprintf(`
[job]
name = "e2e-sweep"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = 2
clients = 2
epochs_per_cycle = 0.05
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 20
[output]
dir = %q
checkpoint = false
`, dataDir, filepath.Join(tmp, "results"))
	if err := os.WriteFile(filepath.Join(tmp, "base.toml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(tmp, "tiny.toml")
	sweep := `name = "tiny"
base = "base.toml"
repeats = 2
np = [3]
[grid]
"train.learning_rate" = [0.05, 0.1]
`
	if err := os.WriteFile(path, []byte(sweep), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, filepath.Join(tmp, "results", "sweeps", "tiny")
}

// processesUnder returns the processes whose command line mentions dir.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			out = append(out, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// reportSweep runs fltk report on a sweep folder: it must exit 0, name
// each of keys in its summary and write the plots (PNG and SVG, non-empty)
// of each of metrics against each key into dir/plots. It returns the
// summary.
func reportSweep(t *testing.T, dir string, keys, metrics []string) string {
	t.Helper()
	r := run(t, nil, "fltk", "report", dir)
	if r.code != 0 {
		t.Fatalf("fltk report %s: exit %d\nstdout:\n%s\nstderr:\n%s", dir, r.code, r.stdout, r.stderr)
	}
	for _, k := range keys {
		if !strings.Contains(r.stdout, "against "+k+" (mean ± sd over seeds):") {
			t.Errorf("fltk report's summary does not aggregate over %s:\n%s", k, r.stdout)
		}
		for _, m := range metrics {
			for _, ext := range []string{".png", ".svg"} {
				f := filepath.Join(dir, "plots", "sweep_"+m+"_"+k+ext)
				if st, err := os.Stat(f); err != nil || st.Size() == 0 {
					t.Errorf("plot %s: missing or empty (%v)", f, err)
				}
			}
		}
	}
	return r.stdout
}

// TestSweepInterruptResume runs a four-run sweep, interrupts it with
// SIGINT once run 2 has started (no process may be left), then runs it
// again: finished runs are skipped and the sweep completes with four ok
// rows in sweep.csv, each run with its TensorBoard event file; fltk report
// then summarizes and plots the sweep.
func TestSweepInterruptResume(t *testing.T) {
	path, dir := tinySweep(t)
	cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "fltk"), "sweep", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var first strings.Builder
	sc := bufio.NewScanner(stdout)
	signalled := false
	for sc.Scan() {
		first.WriteString(sc.Text() + "\n")
		if !signalled && strings.Contains(sc.Text(), "run 2/4 (") {
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !signalled || !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("interrupted sweep: %v (signalled %t), want exit 1\nstdout:\n%s\nstderr:\n%s", err, signalled, first.String(), stderr.String())
	}
	if !strings.Contains(first.String(), "run 1/4 ok") || !strings.Contains(first.String(), "run 2/4 interrupted") {
		t.Errorf("interrupted sweep's output:\n%s", first.String())
	}
	if left := processesUnder(t, dir); len(left) > 0 {
		t.Errorf("processes left after SIGINT:\n%s", strings.Join(left, "\n"))
	}

	r := run(t, nil, "fltk", "sweep", path)
	if r.code != 0 {
		t.Fatalf("resumed sweep: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "run 1/4 (train.learning_rate=0.05 np=3 seed=42) done, skipped") ||
		!strings.Contains(r.stdout, "run 2/4 ok") || !strings.Contains(r.stdout, "run 4/4 ok") {
		t.Errorf("resumed sweep's output:\n%s", r.stdout)
	}
	f, err := os.Open(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("sweep.csv has %d records, want a header and 4 rows:\n%v", len(recs), recs)
	}
	if got := strings.Join(recs[0], ","); got != "run,dir,train.learning_rate,seed,np,final_accuracy,best_accuracy,rounds_to_target,wall_seconds,bytes_up,bytes_down,status" {
		t.Errorf("header %s", got)
	}
	for _, rec := range recs[1:] {
		if rec[len(rec)-1] != "ok" || rec[5] == "" || rec[9] == "" {
			t.Errorf("row %v: want status ok with an accuracy and bytes", rec)
		}
		if _, err := os.Stat(filepath.Join(dir, rec[1], "metrics.csv")); err != nil {
			t.Error(err)
		}
		// The interrupted run started afresh: one event file, ending
		// with round 2.
		events, _ := filepath.Glob(filepath.Join(dir, rec[1], "tb", "events.out.tfevents.*"))
		if len(events) != 1 {
			t.Errorf("run %s: TensorBoard event files %v, want one", rec[1], events)
			continue
		}
		if evs, err := tboardtest.ReadFile(events[0]); err != nil || len(evs) == 0 || evs[len(evs)-1].Step != 2 {
			t.Errorf("run %s: %s: %d events, %v; want them to end with round 2", rec[1], events[0], len(evs), err)
		}
	}
	out := reportSweep(t, dir, []string{"train.learning_rate"}, []string{"final_accuracy", "best_accuracy", "wall_seconds"})
	if !strings.Contains(out, "4 runs, 4 ok; grid keys: train.learning_rate") {
		t.Errorf("fltk report's summary:\n%s", out)
	}
}

// TestSweepBadInput: sweep files the config decoder rejects exit 2 naming
// the problem, before anything runs.
func TestSweepBadInput(t *testing.T) {
	path, dir := tinySweep(t)
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "[grid]\n\"train.learnin_rate\" = [0.1]\n", `unknown key "train.learnin_rate"`},
		{"wrong type", "[grid]\n\"federated.rounds\" = [2, \"three\"]\n", `"federated.rounds" = three`},
		{"empty grid", "[grid]\n", "[grid] is empty"},
		{"np 1", "np = [1]\n[grid]\n\"federated.rounds\" = [2]\n", "np: 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(filepath.Dir(path), "bad.toml")
			if err := os.WriteFile(p, []byte("name = \"tiny\"\nbase = \"base.toml\"\n"+tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, "fltk", "sweep", p)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q\nstderr:\n%s", r.code, tc.want, r.stderr)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (%v): something ran", dir, err)
			}
		})
	}
}

// TestSweepBench runs a sweep of benchmark jobs (job.task = "bench"):
// sweep.csv gets bench.csv's timings.
func TestSweepBench(t *testing.T) {
	tmp := t.TempDir()
	base := fmt.Sprintf("[job]\nname = \"b\"\ntask = \"bench\"\n[bench]\nbytes = 4096\nrepeats = 3\n[output]\ndir = %q\n", tmp)
	if err := os.WriteFile(filepath.Join(tmp, "base.toml"), []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tmp, "b.toml")
	sweep := "base = \"base.toml\"\nnp = [2]\n[grid]\n\"bench.op\" = [\"bcast\", \"allreduce\"]\n\"collective.codec\" = [\"none\", \"zstd\"]\n"
	if err := os.WriteFile(path, []byte(sweep), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "fltk", "sweep", path)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(tmp, "sweeps", "b", "sweep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || strings.Join(recs[0], ",") != "run,dir,bench.op,collective.codec,seed,np,median_us,min_us,gbps,wall_seconds,status" {
		t.Fatalf("sweep.csv:\n%s", b)
	}
	for i, want := range []string{"bcast,none", "bcast,zstd", "allreduce,none", "allreduce,zstd"} {
		rec := recs[i+1]
		if strings.Join(rec[2:4], ",") != want || rec[6] == "" || rec[len(rec)-1] != "ok" {
			t.Errorf("row %d = %v, want %s with a median and status ok", i+1, rec, want)
		}
	}
	out := reportSweep(t, filepath.Join(tmp, "sweeps", "b"), []string{"bench.op", "collective.codec"}, []string{"median_us", "gbps"})
	if !strings.Contains(out, "4 runs, 4 ok; grid keys: bench.op, collective.codec") || !strings.Contains(out, " µs ± ") ||
		!strings.Contains(out, " GB/s ± ") || strings.Contains(out, "accuracy") {
		t.Errorf("fltk report's summary of a bench sweep:\n%s", out)
	}
}
