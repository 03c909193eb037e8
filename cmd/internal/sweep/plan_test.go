package sweep

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testBase = `
[job]
name = "base"
world_size = 3
seed = 7
[federated]
rounds = 2
[output]
dir = "out"
`

// writeSweep writes base.toml and sweep.toml into a temporary directory
// and returns the sweep's path.
func writeSweep(t *testing.T, sweep string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"base.toml": testBase, "demo.toml": "[job]\ntask = \"demo\"\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "sweep.toml")
	if err := os.WriteFile(p, []byte(sweep), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, sweep string
		want        []string // substrings of the error
	}{
		{"unknown grid key", `base = "base.toml"
[grid]
"train.learnin_rate" = [0.1]`, []string{`"train.learnin_rate"`, "unknown key", `did you mean "train.learning_rate"`}},
		{"unknown table", `base = "base.toml"
[grid]
"nope.x" = [1]`, []string{`"nope.x"`, "unknown key"}},
		{"empty grid", `base = "base.toml"
[grid]`, []string{"[grid] is empty"}},
		{"no grid", `base = "base.toml"`, []string{"[grid] is missing"}},
		{"empty values", `base = "base.toml"
[grid]
"train.learning_rate" = []`, []string{`"train.learning_rate"`, "empty list"}},
		{"not a list", `base = "base.toml"
[grid]
"train.learning_rate" = 0.1`, []string{`"train.learning_rate"`, "expected an array"}},
		{"wrong value type", `base = "base.toml"
[grid]
"train.learning_rate" = [0.1, "fast"]`, []string{`"train.learning_rate" = fast`, "expected a number"}},
		{"invalid value", `base = "base.toml"
[grid]
"federated.strategy" = ["fedavg", "best"]`, []string{"federated.strategy=best", `"best" is not one of`}},
		{"reserved key", `base = "base.toml"
[grid]
"job.seed" = [1, 2]`, []string{`"job.seed"`, "repeats"}},
		{"bad base path", `base = "missing.toml"
[grid]
"train.learning_rate" = [0.1]`, []string{"base", "missing.toml", "no such file"}},
		{"no base", `[grid]
"train.learning_rate" = [0.1]`, []string{"base: expected the path"}},
		{"repeats 0", `base = "base.toml"
repeats = 0
[grid]
"train.learning_rate" = [0.1]`, []string{"repeats", "at least 1"}},
		{"repeats not int", `base = "base.toml"
repeats = "2"
[grid]
"train.learning_rate" = [0.1]`, []string{"repeats", "expected an integer"}},
		{"np 1", `base = "base.toml"
np = [1, 3]
[grid]
"train.learning_rate" = [0.1]`, []string{"np", "2..1024"}},
		{"np empty", `base = "base.toml"
np = []
[grid]
"train.learning_rate" = [0.1]`, []string{"np", "non-empty"}},
		{"unknown top key", `base = "base.toml"
seeds = 3
[grid]
"train.learning_rate" = [0.1]`, []string{`unknown key "seeds"`}},
		{"bad name", `name = "a/b"
base = "base.toml"
[grid]
"train.learning_rate" = [0.1]`, []string{`name "a/b"`}},
		{"invalid combination", `base = "base.toml"
[grid]
"federated.clients" = [2, 4]
"federated.clients_per_round" = [3]`, []string{"run 1", "federated.clients=2", "clients_per_round"}},
		{"syntax", `base = `, []string{"sweep.toml"}},
		{"task demo", `base = "demo.toml"
[grid]
"demo.rounds" = [1]`, []string{"demo.toml", "job.task"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeSweep(t, tc.sweep)
			plan, err := Load(p)
			if err == nil {
				t.Fatalf("Load = %d runs, want an error", len(plan.Runs))
			}
			if !errors.Is(err, ErrSweep) {
				t.Errorf("error %v does not wrap ErrSweep", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadPlan(t *testing.T) {
	p := writeSweep(t, `name = "lr"
base = "base.toml"
repeats = 2
np = [3, 5]
[grid]
"train.learning_rate" = [0.05, 0.1]
federated.rounds = [4]
"data.sampler_args" = [[0.5], [1]]
`)
	plan, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(plan.Header(), ","),
		"run,dir,train.learning_rate,federated.rounds,data.sampler_args,seed,np,final_accuracy,best_accuracy,rounds_to_target,wall_seconds,bytes_up,bytes_down,status"; got != want {
		t.Errorf("header\n%s\nwant\n%s", got, want)
	}
	if len(plan.Runs) != 16 {
		t.Fatalf("%d runs, want 2×1×2 values × 2 np × 2 repeats = 16", len(plan.Runs))
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cwd, "out", "sweeps", "lr"); plan.Dir != want { // output.dir is relative to the working directory
		t.Errorf("Dir = %s, want %s", plan.Dir, want)
	}
	// Order: keys in file order (first slowest), then np, then repeat.
	for i, want := range []struct {
		id   string
		lr   float64
		np   int
		seed int64
	}{
		{"001-lr0p05-sa0p5-np3-seed7", 0.05, 3, 7},
		{"002-lr0p05-sa0p5-np3-seed8", 0.05, 3, 8},
		{"003-lr0p05-sa0p5-np5-seed7", 0.05, 5, 7},
		{"005-lr0p05-sa1-np3-seed7", 0.05, 3, 7},
		{"009-lr0p1-sa0p5-np3-seed7", 0.1, 3, 7},
		{"016-lr0p1-sa1-np5-seed8", 0.1, 5, 8},
	} {
		idx := []int{0, 1, 2, 4, 8, 15}[i]
		r := plan.Runs[idx]
		c := r.Config
		if r.ID != want.id || c.Train.LearningRate != want.lr || r.NP != want.np || r.Seed != want.seed {
			t.Errorf("run %d = %s lr %v np %d seed %d, want %+v", idx+1, r.ID, c.Train.LearningRate, r.NP, r.Seed, want)
		}
		if c.Job.Name != r.ID || c.Job.WorldSize != r.NP || c.Job.Seed != r.Seed || c.Output.Dir != plan.Dir || c.Federated.Rounds != 4 {
			t.Errorf("run %d config: job %+v output %+v rounds %d", idx+1, c.Job, c.Output, c.Federated.Rounds)
		}
	}
}

// The sweeps in configs/sweeps load, with the expected number of runs.
func TestShippedSweeps(t *testing.T) {
	for file, runs := range map[string]int{"lr.toml": 12, "dirichlet.toml": 16, "collectives.toml": 72} {
		t.Run(file, func(t *testing.T) {
			plan, err := Load(filepath.Join("..", "..", "..", "configs", "sweeps", file))
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Runs) != runs {
				t.Errorf("%d runs, want %d", len(plan.Runs), runs)
			}
		})
	}
}
