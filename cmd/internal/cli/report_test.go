package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtures copies the report package's fixture folders into a fresh
// folder, so that the plots land there.
func fixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../../report/testdata")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runFltk(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := Fltk(context.Background(), args, &out, &errb)
	if err != nil {
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), ExitCode(err)
}

func countFiles(t *testing.T, dir, ext string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: empty or unreadable (%v)", f, err)
		}
	}
	return len(m)
}

func TestReport(t *testing.T) {
	fx := fixtures(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings of stdout
		stderr   []string // substrings of stderr and the error
		plotsDir string   // relative to the fixtures; "" for none
		pngs     int
	}{
		{name: "run", args: []string{"report", "run-a"}, stdout: []string{"final accuracy    90.00% (round 4)", "best accuracy     91.00% (round 3)",
			"rounds to target  3 (target 90.00%)", "wall time         7.5s (7.5 s)", "bytes up          4.00 MB (4000000 B)",
			"bytes down        8.00 MB (8000000 B)", "plots: 18 files (PNG and SVG) in run-a/plots"}, plotsDir: "run-a/plots", pngs: 9},
		{name: "run without target", args: []string{"report", "run-b", "--out", "b-plots"}, stdout: []string{"rounds to target  no target",
			"plots: 12 files (PNG and SVG) in b-plots"}, plotsDir: "b-plots", pngs: 6},
		{name: "zero rounds", args: []string{"report", "zero-rounds"}, stdout: []string{"rounds            0", "final accuracy    -",
			"label histogram only"}, plotsDir: "zero-rounds/plots", pngs: 1},
		{name: "sweep", args: []string{"report", "sweep"}, stdout: []string{"8 runs, 7 ok", "failed: rank 2 exited with status 1",
			"final accuracy against train.learning_rate (mean ± sd over seeds):", "0.1 → 91.00% ± 1.41 (n=2)", "0.1 → 88.00% ± 0.00 (n=1)",
			"plots: 12 files (PNG and SVG) in sweep/plots"}, plotsDir: "sweep/plots", pngs: 6},
		{name: "bench sweep", args: []string{"report", "bench-sweep"}, stdout: []string{"12 runs, 11 ok; grid keys: bench.op, bench.bytes",
			"median µs  min µs  GB/s", "failed: rank 2 exited with status 1",
			"median time (µs) against bench.bytes (mean ± sd over seeds):", "4096 → 40.0 µs ± 0.0 (n=1)",
			"GB/s against bench.op (mean ± sd over seeds):", "bcast → 0.437 GB/s ± 0.000 (n=1)",
			"median time (µs) against np (mean ± sd over seeds):", "plots: 12 files (PNG and SVG) in bench-sweep/plots"},
			plotsDir: "bench-sweep/plots", pngs: 6},
		{name: "compare", args: []string{"report", "--compare", "run-a", "run-b"}, stdout: []string{"run-a       4  90.00%  91.00%",
			"no target", "plots: 8 files (PNG and SVG) in compare"}, plotsDir: "compare", pngs: 4},
		{name: "compare --out", args: []string{"report", "--compare", "--out", "cmp", "run-a", "run-b", "zero-rounds"},
			stdout: []string{"zero-rounds", "in cmp"}, plotsDir: "cmp", pngs: 4},
		{name: "empty folder", args: []string{"report", "empty"}, code: 2,
			stderr: []string{"report: no results: empty has no metrics.csv (a run's results folder) and no sweep.csv"}},
		{name: "parent folder", args: []string{"report", "."}, code: 2, stderr: []string{"it holds results folders: ", "run-a", "sweep"}},
		{name: "missing folder", args: []string{"report", "nope"}, code: 2, stderr: []string{"no results", "nope"}},
		{name: "malformed", args: []string{"report", "bad"}, code: 2, stderr: []string{"report: bad/metrics.csv:3: column test_loss: \"x\""}},
		{name: "sweep of neither kind", args: []string{"report", "bad-sweep"}, code: 2,
			stderr: []string{"report: bad-sweep/sweep.csv:1: header must end with seed,np,final_accuracy,", "(training jobs) or seed,np,median_us,"}},
		{name: "compare with a bad run", args: []string{"report", "--compare", "run-a", "empty"}, code: 2, stderr: []string{"no results"}},
		{name: "no argument", args: []string{"report"}, code: 2, stderr: []string{"exactly one RESULTS_DIR"}},
		{name: "two arguments", args: []string{"report", "run-a", "run-b"}, code: 2, stderr: []string{"--compare"}},
		{name: "help", args: []string{"report", "-h"}, stderr: []string{"Usage: fltk report", "-compare"}},
	}
	if err := os.Mkdir(filepath.Join(fx, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(fx, "bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := "round,test_accuracy,test_loss\n1,0.5,1\n2,0.6,x\n"
	if err := os.WriteFile(filepath.Join(fx, "bad", "metrics.csv"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(fx, "bad-sweep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fx, "bad-sweep", "sweep.csv"), []byte("run,dir,bench.op,seed,np,median_us,status\n1,d,bcast,1,2,3,ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(fx)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runFltk(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tt.plotsDir != "" {
				if png, svg := countFiles(t, tt.plotsDir, ".png"), countFiles(t, tt.plotsDir, ".svg"); png != tt.pngs || svg != tt.pngs {
					t.Errorf("%s: %d PNG and %d SVG files, want %d of each", tt.plotsDir, png, svg, tt.pngs)
				}
			}
		})
	}
}
