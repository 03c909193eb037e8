package job

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/fed"
)

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

// TestResults: the federator's recorder writes output.dir/job.name and
// prints the progress lines.
func TestResults(t *testing.T) {
	c := configs.DefaultConfig()
	c.Job.Name, c.Output.Dir = "exp", t.TempDir()
	var out bytes.Buffer
	csv, rec, err := Results(&c, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer csv.Close()
	dir := filepath.Join(c.Output.Dir, "exp")
	if csv.Dir() != dir {
		t.Errorf("results in %s, want %s", csv.Dir(), dir)
	}
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
}
