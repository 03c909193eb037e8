package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchNPIsTheEffectiveWorldSize: the config.toml of a job started
// with -np 2 says world_size = 2, not the file's 5.
func TestLaunchNPIsTheEffectiveWorldSize(t *testing.T) {
	dataDir := mnistData(t)
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-np"
world_size = 5
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = 1
epochs_per_cycle = 0.02
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 20
[output]
dir = %q
tensorboard = false
`, dataDir, out))
	r := run(t, nil, "fltk-launch", "-np", "2", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "e2e-np", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "world_size = 2\n") {
		t.Errorf("config.toml after -np 2 does not say world_size = 2:\n%s", b)
	}
}

// TestLaunchBadJobExits2: fltk-launch rejects a job its ranks would
// reject with exit 2 and a message naming the key, and writes no results.
func TestLaunchBadJobExits2(t *testing.T) {
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-bad"
world_size = 3
[data]
sampler = "dirichlet"
sampler_args = [-0.5]
[output]
dir = %q
`, out))
	r := run(t, nil, "fltk-launch", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "data.sampler_args") {
		t.Fatalf("exit %d, want 2 naming data.sampler_args\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("output.dir holds %d entries after a rejected job, want none", len(entries))
	}
	if strings.Contains(r.stdout, "[0]") || strings.Contains(r.stderr, "[0]") {
		t.Errorf("a rank printed before the job was rejected:\n%s\n%s", r.stdout, r.stderr)
	}
}
