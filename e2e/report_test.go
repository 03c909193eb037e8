package e2e

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReportAfterTraining trains MNIST2NN for two rounds with fltk-launch,
// then runs fltk report on the results folder: the summary names the
// target reached in round 1 (target 10%), and the plots are there.
func TestReportAfterTraining(t *testing.T) {
	dataDir := mnistData(t)
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-report"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = 2
clients = 4
clients_per_round = 2
epochs_per_cycle = 0.05
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 20
learning_rate = 0.05
[output]
dir = %q
`, dataDir, out))
	// The target is written into config.toml's copy, not the job's: a
	// job that reaches it stops after round 1.
	r := run(t, nil, "fltk-launch", "-np", "3", cfg)
	if r.code != 0 {
		t.Fatalf("fltk-launch: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	res := filepath.Join(out, "e2e-report")
	conf := filepath.Join(res, "config.toml")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^(\s*)target_accuracy = .*$`).ReplaceAll(b, []byte("${1}target_accuracy = 0.1"))
	if !strings.Contains(string(b), "target_accuracy = 0.1") {
		t.Fatalf("config.toml has no target_accuracy:\n%s", b)
	}
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, "fltk", "report", res)
	if r.code != 0 {
		t.Fatalf("fltk report: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"rounds            2", "rounds to target  1 (target 10.00%)", "plots: 18 files (PNG and SVG) in " + filepath.Join(res, "plots")} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("fltk report stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, name := range []string{"accuracy", "loss_time", "time_split", "bytes", "participation", "recall", "labels"} {
		f, err := os.Open(filepath.Join(res, "plots", name+".png"))
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s.png: %v", name, err)
		}
		f.Close()
	}
}
