package job

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/fed"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// TestFedConfigDefaults: the default TOML configuration maps to fed's
// default configuration.
func TestFedConfigDefaults(t *testing.T) {
	c := configs.DefaultConfig()
	got, want := FedConfig(&c), fed.DefaultConfig()
	want.PartitionArgs = c.Data.SamplerArgs // [] rather than nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FedConfig(defaults) = %+v,\nwant %+v", got, want)
	}
}

// TestFedConfigMapsEveryKey: every key of [federated], [data] and [train]
// reaches fed.Config (each set to a non-default value here).
func TestFedConfigMapsEveryKey(t *testing.T) {
	c := configs.DefaultConfig()
	c.Job.Seed = 7
	c.Federated = configs.Federated{Rounds: 9, Clients: 8, ClientsPerRound: 3, EpochsPerCycle: 0.5, Strategy: "fedadam",
		ProximalMu: 0.2, Eta: 0.3, EtaL: 0.4, Beta1: 0.5, Beta2: 0.6, Tau: 0.7, Parallel: 2, TargetAccuracy: 0.8,
		RoundTimeout: configs.Duration{Duration: 90e9}, MinWorkers: 3}
	c.Data = configs.Data{Dataset: "bible", Path: "/d", Sampler: "dirichlet", SamplerArgs: []float64{0.1}, TestSet: "odd-half", SeqLen: 12}
	c.Train = configs.Train{Net: "CharLSTM", BatchSize: 3, EvalBatchSize: 4, Optimizer: "adam", LearningRate: 0.01,
		Momentum: 0.9, WeightDecay: 0.001, Nesterov: true, AdamBeta1: 0.8, AdamBeta2: 0.99, AdamEps: 1e-7,
		Scheduler: "cosine", SchedulerStepSize: 20, SchedulerGamma: 0.9, MinLR: 1e-5, ClipNorm: 5, KeepOptimizerState: true}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	got := FedConfig(&c)
	want := fed.Config{Seed: 7, Rounds: 9, Clients: 8, ClientsPerRound: 3, EpochsPerCycle: 0.5,
		Strategy: strategy.Config{Name: "fedadam", ProximalMu: 0.2, Eta: 0.3, EtaL: 0.4, Beta1: 0.5, Beta2: 0.6, Tau: 0.7},
		Parallel: 2, TargetAccuracy: 0.8, RoundTimeout: 90e9, MinWorkers: 3,
		Dataset: "bible", DataDir: "/d", TestSet: "odd-half", SeqLen: 12, Partition: "dirichlet", PartitionArgs: []float64{0.1},
		Net: "CharLSTM", BatchSize: 3, EvalBatchSize: 4,
		Optimizer: optim.Config{Name: "adam", LR: 0.01, Momentum: 0.9, WeightDecay: 0.001, Nesterov: true, Beta1: 0.8, Beta2: 0.99, Eps: 1e-7},
		Schedule:  optim.ScheduleConfig{Name: "cosine", StepSize: 20, Gamma: 0.9, MinLR: 1e-5, TMax: 20, EtaMin: 1e-5},
		ClipNorm:  5, KeepOptimizerState: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FedConfig = %+v,\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("a valid TOML configuration maps to an invalid fed.Config: %v", err)
	}
}

// TestNamesMatchConfigs keeps the configs package's lists of valid names
// equal to what the trainer packages implement.
func TestNamesMatchConfigs(t *testing.T) {
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	for _, tt := range []struct {
		name      string
		got, want []string
	}{
		{"model.Names vs configs.Nets", model.Names(), configs.Nets},
		{"data.Names vs configs.Datasets", data.Names(), configs.Datasets},
		{"strategy.Names vs configs.Strategies", strategy.Names(), configs.Strategies},
		{"fed.TestSets vs configs.TestSets", fed.TestSets, configs.TestSets},
	} {
		if got, want := sorted(tt.got), sorted(tt.want); !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v", tt.name, got, want)
		}
	}
}

// TestEffectiveConfig: config.toml starts with its comment and loads
// back into the configuration it was rendered from.
func TestEffectiveConfig(t *testing.T) {
	c := configs.DefaultConfig()
	c.Job.Name, c.Federated.Strategy, c.Data.SamplerArgs = "x", "fedadam", []float64{0.5}
	b, err := EffectiveConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# The effective configuration of this experiment (defaults filled in).\n[job]\n") {
		t.Errorf("config.toml begins %q", b[:min(len(b), 100)])
	}
	got, err := configs.Parse("config.toml", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, c) {
		t.Errorf("config.toml loads as %+v, want %+v", *got, c)
	}
}

// TestResults: the federator's recorder writes output.dir/job.name
// (with TensorBoard event files in tb/ unless output.tensorboard is
// false) and prints the progress lines.
func TestResults(t *testing.T) {
	for _, tb := range []bool{true, false} {
		t.Run(fmt.Sprint("tensorboard=", tb), func(t *testing.T) { testResults(t, tb) })
	}
}

func testResults(t *testing.T, tensorboard bool) {
	c := configs.DefaultConfig()
	c.Job.Name, c.Output.Dir, c.Output.TensorBoard = "exp", t.TempDir(), tensorboard
	var out bytes.Buffer
	rec, closeResults, err := Results(&c, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer closeResults()
	dir := filepath.Join(c.Output.Dir, "exp")
	if err := rec.Start(fed.Setup{Rounds: 1, Clients: 1, PerRound: 1, Workers: 1, Classes: 1,
		Partition: []fed.ClientData{{Samples: 1, Labels: []int{1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Finish(trainer.Checkpoint{Net: "MNIST2NN", State: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.toml", "partition.csv", "metrics.csv", "clients.csv", "classes.csv", "model.ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if want := "results in " + dir; !strings.Contains(out.String(), want) {
		t.Errorf("progress %q does not say %q", out.String(), want)
	}
	events, _ := filepath.Glob(filepath.Join(dir, TensorBoardDir, "events.out.tfevents.*"))
	if want := map[bool]int{true: 1, false: 0}[tensorboard]; len(events) != want {
		t.Errorf("output.tensorboard = %v: event files %v, want %d", tensorboard, events, want)
	}
	if err := closeResults(); err != nil {
		t.Errorf("close after Finish: %v", err)
	}
}
