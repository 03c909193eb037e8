package cli

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/cmd/internal/demo"
	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/runtime"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestK8s runs "fltk-launch k8s" through Launch, as the binary does.
func TestK8s(t *testing.T) {
	good := writeConfig(t, "[job]\nname = \"demo\"\ntask = \"demo\"\nworld_size = 3\n")
	unknown := writeConfig(t, "[job]\nname = \"demo\"\n[deploy]\nprofiles = [\"fast\"]\n")
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "manifests")
	tests := []struct {
		name  string
		args  []string
		code  int
		msg   string   // substring of the error
		files []string // files written into out
	}{
		{name: "default -np", args: []string{"k8s", "-o", out, good}, files: []string{
			"10-configmap.yaml", "20-secret.yaml", "30-pvc.yaml", "40-service.yaml",
			"50-job-demo-medium-r2.yaml", "50-job-demo-slow-r1.yaml", "50-job-demo.yaml",
		}},
		{name: "np 1", args: []string{"k8s", "-np", "1", good}, code: 2, msg: "-np must be ≥ 2"},
		{name: "np 0", args: []string{"k8s", "-np=0", good}, code: 2, msg: "-np must be ≥ 2"},
		{name: "unknown profile", args: []string{"k8s", unknown}, code: 2, msg: `deploy.profiles: entry 1: unknown profile "fast"`},
		{name: "unwritable -o", args: []string{"k8s", "-o", filepath.Join(blocker, "sub"), good}, code: 2, msg: "-o: kube: output directory"},
		{name: "no config", args: []string{"k8s"}, code: 2, msg: "exactly one CONFIG.toml"},
		{name: "missing config", args: []string{"k8s", filepath.Join(t.TempDir(), "nope.toml")}, code: 2, msg: "nope.toml"},
		{name: "bad size", args: []string{"k8s", "--results-size", "big", "-o", t.TempDir(), good}, code: 2, msg: `"big"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Launch(t.Context(), tt.args, &stdout, &stderr)
			if code := ExitCode(err); code != tt.code {
				t.Fatalf("exit code %d (%v), want %d", code, err, tt.code)
			}
			if tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("error %v, want it to contain %q", err, tt.msg)
			}
			if tt.files == nil {
				return
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if strings.Join(got, " ") != strings.Join(tt.files, " ") {
				t.Errorf("wrote %v, want %v", got, tt.files)
			}
			if !strings.Contains(stdout.String(), "kubectl apply -f "+out) {
				t.Errorf("stdout %q does not say how to apply the manifests", stdout.String())
			}
		})
	}
}

// setPodEnv gives the process the environment of a pod of an Indexed Job
// (no FLTK_RANK).
func setPodEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"FLTK_RANK", "FLTK_NATS_CA", "FLTK_NATS_CREDS", "FLTK_LIVE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// TestRunServe runs "fltk run --serve" as rank 0's pod does: the rank
// comes from JOB_COMPLETION_INDEX, the server listens on the --serve host
// at the port of FLTK_NATS_URL, and rank 1 (joined in this process, as
// another pod would over the network) finishes the demo with it.
func TestRunServe(t *testing.T) {
	cfgPath := writeConfig(t, "[job]\nname = \"demo\"\ntask = \"demo\"\nworld_size = 2\n[demo]\nrounds = 2\nelements = 64\n")
	port := freePort(t)
	base := map[string]string{
		"JOB_COMPLETION_INDEX": "0", "FLTK_RANK_OFFSET": "0", "FLTK_WORLD_SIZE": "2",
		"FLTK_NATS_URL": fmt.Sprintf("nats://demo-0.demo:%d", port), "FLTK_JOB_ID": "serve-test", "FLTK_TOKEN": "tok", "FLTK_HOST": "demo-0-abcde",
	}
	with := func(k, v string) map[string]string {
		m := maps.Clone(base)
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		code int
		msg  string
	}{
		{name: "rank 0 serves", env: base},
		{name: "not rank 0", env: with("FLTK_RANK_OFFSET", "1"), code: 2, msg: "--serve is for rank 0"},
		{name: "a URL list", env: with("FLTK_NATS_URL", "nats://a:1,nats://b:2"), code: 2, msg: "is not one nats://HOST:PORT URL"},
		{name: "no port", env: with("FLTK_NATS_URL", "nats://demo-0.demo"), code: 2, msg: "is not one nats://HOST:PORT URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setPodEnv(t, tt.env)
			client := make(chan error, 1)
			if tt.code == 0 {
				go func() { client <- runClient(t, cfgPath, port) }()
			}
			var stdout, stderr bytes.Buffer
			err := Fltk(t.Context(), []string{"run", cfgPath, "--serve", "127.0.0.1"}, &stdout, &stderr)
			if code := ExitCode(err); code != tt.code {
				t.Fatalf("exit code %d (%v; stderr %s), want %d", code, err, stderr.String(), tt.code)
			}
			if tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("error %v, want it to contain %q", err, tt.msg)
			}
			if tt.code != 0 {
				return
			}
			if err := <-client; err != nil {
				t.Errorf("rank 1: %v", err)
			}
			if !strings.Contains(stdout.String(), "round 2/2") {
				t.Errorf("rank 0's output lacks the last round:\n%s", stdout.String())
			}
		})
	}
}

// runClient is rank 1 of TestRunServe's job: it reaches rank 0 at
// 127.0.0.1:port (retrying until rank 0 listens) and runs the demo.
func runClient(t *testing.T, cfgPath string, port int) error {
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		return err
	}
	rc := runtime.DefaultConfig()
	rc.Rank, rc.WorldSize, rc.JobID, rc.Token, rc.Host = 1, 2, "serve-test", "tok", "demo-1-fghij"
	rc.URL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	w, comm, err := job.Join(t.Context(), cfg, rc)
	if err != nil {
		return err
	}
	defer w.Close()
	defer comm.Close()
	return demo.Run(t.Context(), comm, demo.Config{Rounds: cfg.Demo.Rounds, Elements: cfg.Demo.Elements, Seed: cfg.Job.Seed}, io.Discard)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
