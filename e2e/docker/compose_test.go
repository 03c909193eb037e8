//go:build docker

package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/internal/testbin"
)

// image is what `make image` tags and deploy.image defaults to.
const image = "fltk:latest"

// binDir holds fltk and fltk-launch, built once by TestMain.
var binDir string

// composeCmd is the Compose command: $FLTK_COMPOSE split on spaces
// ("docker compose" for Compose v2), default docker-compose.
var composeCmd = []string{"docker-compose"}

func TestMain(m *testing.M) {
	if c := strings.Fields(os.Getenv("FLTK_COMPOSE")); len(c) > 0 {
		composeCmd = c
	}
	for _, probe := range [][]string{{"docker", "version"}, append(composeCmd[:len(composeCmd):len(composeCmd)], "version")} {
		if out, err := exec.Command(probe[0], probe[1:]...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "docker: %q fails (%v): the Docker tests need the daemon and Compose\n%s", probe, err, out)
			os.Exit(1)
		}
	}
	if out, err := exec.Command("docker", "image", "inspect", image).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "docker: no image %s (%v): run make image (make test-docker does)\n%s", image, err, out)
		os.Exit(1)
	}
	testbin.Main(m, &binDir)
}

// project is one generated Compose project.
type project struct {
	t    *testing.T
	name string // the Compose project name, fltktestXXXXXX
	dir  string // holds job.toml and docker-compose.yml
	file string
}

// newProject writes config into a new directory, generates its project
// for np ranks with fltk-launch compose and registers its removal.
func newProject(t *testing.T, config string, np int) *project {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	p := &project{t: t, name: "fltktest" + hex.EncodeToString(b[:]), dir: t.TempDir()}
	p.file = filepath.Join(p.dir, "docker-compose.yml")
	cfg := filepath.Join(p.dir, "job.toml")
	// 0644: the containers' user (65532) reads it through the bind mount.
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(filepath.Join(binDir, "fltk-launch"), "compose", "-np", fmt.Sprint(np), "-o", p.file, cfg)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("fltk-launch compose: %v\n%s", err, out)
	}
	t.Cleanup(p.down)
	// docker-compose validates the file against its schema.
	if out, err := p.compose(t.Context(), "config", "-q").CombinedOutput(); err != nil {
		t.Fatalf("compose config: %v\n%s", err, out)
	}
	return p
}

// compose returns the Compose command args on p.
func (p *project) compose(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(composeCmd[1:len(composeCmd):len(composeCmd)], "-p", p.name, "-f", p.file), args...)
	return exec.CommandContext(ctx, composeCmd[0], argv...)
}

// down removes the project's containers, network and volume.
func (p *project) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := p.compose(ctx, "down", "-v", "--remove-orphans", "-t", "5").CombinedOutput(); err != nil {
		p.t.Errorf("compose down: %v\n%s", err, out)
	}
}

// up runs "up --exit-code-from federator federator" in the background,
// its output in out.
func (p *project) up(ctx context.Context, out *testbin.Buffer) (*exec.Cmd, error) {
	cmd := p.compose(ctx, "up", "--no-color", "--exit-code-from", "federator", "federator")
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, cmd.Start()
}

// container returns the id of service's container, running or not.
func (p *project) container(ctx context.Context, service string) string {
	p.t.Helper()
	out, err := p.compose(ctx, "ps", "-a", "-q", service).Output()
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" || strings.Contains(id, "\n") {
		p.t.Fatalf("compose ps -a -q %s: %q, %v", service, id, err)
	}
	return id
}

// exitCode returns the exit code of service's stopped container.
func (p *project) exitCode(ctx context.Context, service string) string {
	p.t.Helper()
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", p.container(ctx, service)).Output()
	if err != nil {
		p.t.Fatalf("docker inspect %s: %v", service, err)
	}
	return strings.TrimSpace(string(out))
}

func readConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mnist-2rounds.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImage checks what the image promises: a non-root numeric user, the
// working directory where relative data.path and output.dir resolve, fltk
// as the entry point, a results directory that user owns, a 1777 /tmp and
// the data sets.
func TestImage(t *testing.T) {
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Entrypoint}}", image).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), `65532:65532 /fltk ["/usr/local/bin/fltk"]`; got != want {
		t.Errorf("image config %q, want %q", got, want)
	}
	out, err = exec.Command("docker", "run", "--rm", image, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "fltk ") {
		t.Errorf("docker run %s version: %q, %v", image, out, err)
	}

	// The file system, through a container that never starts.
	id, err := exec.Command("docker", "create", image).Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", strings.TrimSpace(string(id))).Run() })
	export := exec.Command("docker", "export", strings.TrimSpace(string(id)))
	list := exec.Command("tar", "-tvf", "-", "--numeric-owner")
	list.Stdin, _ = export.StdoutPipe()
	if err := export.Start(); err != nil {
		t.Fatal(err)
	}
	tv, err := list.Output()
	if werr := export.Wait(); err != nil || werr != nil {
		t.Fatalf("docker export | tar -tv: %v, %v", err, werr)
	}
	want := map[string]string{ // path: mode and owner
		"tmp/":               "drwxrwxrwt 0/0",
		"fltk/results/":      "drwxr-xr-x 65532/65532",
		"usr/local/bin/fltk": "-rwxr-xr-x 0/0",
		"fltk/data/mnist/":   "drwxr-xr-x 0/0",
		"fltk/data/fashion-mnist/t10k-labels-idx1-ubyte.gz": "-rw-r--r-- 0/0",
	}
	for line := range strings.SplitSeq(string(tv), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if w, ok := want[f[len(f)-1]]; ok {
			if got := f[0] + " " + f[1]; got != w {
				t.Errorf("%s: %s, want %s", f[len(f)-1], got, w)
			}
			delete(want, f[len(f)-1])
		}
	}
	for p := range want {
		t.Errorf("the image has no %s", p)
	}
}

// TestComposeJob runs a two-round MNIST job in 5 containers to completion:
// every rank exits 0 under its profile's limits, the federator's progress
// lines come through docker-compose, and its results land on the
// project's volume, from where docker cp fetches them.
func TestComposeJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	p := newProject(t, readConfig(t), 5)
	var out testbin.Buffer
	cmd, err := p.up(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out.String())
	}
	t.Logf("compose up:\n%s", out.String())
	for _, want := range []string{"round 1/2", "round 2/2", "fed: done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the federator's output lacks %q", want)
		}
	}
	for _, s := range []string{"federator", "client-1", "client-2", "client-3", "client-4"} {
		if got := p.exitCode(ctx, s); got != "exited 0" {
			t.Errorf("%s: %s, want exited 0", s, got)
		}
	}
	// FLTK's profiles, applied by Docker: cpus as NanoCpus, mem_limit as
	// Memory (1024 MiB); the federator unlimited.
	limits := map[string]string{
		"federator": "0 0",
		"client-1":  "500000000 1073741824",
		"client-2":  "750000000 1073741824",
		"client-3":  "1250000000 1073741824",
		"client-4":  "1250000000 1073741824",
	}
	for s, want := range limits {
		got, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", p.container(ctx, s)).Output()
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%s: NanoCpus and Memory %q, %v; want %s", s, got, err, want)
		}
	}
	logs, err := p.compose(ctx, "logs", "--no-color", "federator").CombinedOutput()
	if err != nil || !strings.Contains(string(logs), "round 2/2") {
		t.Errorf("compose logs federator: %v, want the round lines:\n%s", err, logs)
	}

	// The results, as docs/deploy.md fetches them.
	dst := t.TempDir()
	if out, err := exec.CommandContext(ctx, "docker", "cp", p.container(ctx, "federator")+":/fltk/results", dst).CombinedOutput(); err != nil {
		t.Fatalf("docker cp: %v\n%s", err, out)
	}
	res := filepath.Join(dst, "results", "compose-mnist")
	metrics, err := os.ReadFile(filepath.Join(res, "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(metrics)), "\n"); len(lines) != 3 {
		t.Errorf("metrics.csv has %d lines, want a header and 2 rounds:\n%s", len(lines), metrics)
	}
	for _, f := range []string{"config.toml", "clients.csv", "model.ckpt"} {
		if _, err := os.Stat(filepath.Join(res, f)); err != nil {
			t.Errorf("results: %v", err)
		}
	}
	effective, err := os.ReadFile(filepath.Join(res, "config.toml"))
	if err != nil || !strings.Contains(string(effective), "world_size = 5") {
		t.Errorf("config.toml: %v; want world_size = 5:\n%s", err, effective)
	}
}

// TestComposeKilledClient kills one client's container in the middle of a
// job. Under runtime.on_rank_failure = "continue" (the default) the
// federator shrinks the world, finishes every round, names rank 3 as lost
// and exits 0, and so does docker-compose up; under "abort" it names the
// rank and exits 1.
func TestComposeKilledClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string // runtime.on_rank_failure
		rounds int
		code   int    // of compose up and the federator
		says   string // in the federator's output
	}{
		{"continue", "continue", 150, 0, "rank 3 lost"},
		{"abort", "abort", 500, 1, "rank 3 is down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			cfg := strings.Replace(readConfig(t), "rounds = 2", fmt.Sprintf("rounds = %d", tc.rounds), 1)
			cfg = strings.Replace(cfg, "[runtime]\n", fmt.Sprintf("[runtime]\non_rank_failure = %q\n", tc.policy), 1)
			p := newProject(t, cfg, 5)
			var out testbin.Buffer
			cmd, err := p.up(ctx, &out)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			// Every rank is in the job once the first round is over.
			first := fmt.Sprintf("round 1/%d", tc.rounds)
			for !strings.Contains(out.String(), first) {
				select {
				case err := <-done:
					t.Fatalf("compose up ended before round 1 (%v):\n%s", err, out.String())
				case <-ctx.Done():
					t.Fatalf("no round 1: %v\n%s", ctx.Err(), out.String())
				case <-time.After(100 * time.Millisecond):
				}
			}
			victim := p.container(ctx, "client-3")
			if b, err := exec.CommandContext(ctx, "docker", "kill", victim).CombinedOutput(); err != nil {
				t.Fatalf("docker kill client-3: %v\n%s", err, b)
			}
			killed := time.Now()
			var werr error
			select {
			case werr = <-done:
			case <-ctx.Done():
				t.Fatalf("compose up did not end after the kill:\n%s", out.String())
			}
			t.Logf("compose up ended %v after the kill: %v\n%s", time.Since(killed).Round(time.Millisecond), werr, out.String())
			code := 0
			var ee *exec.ExitError
			if errors.As(werr, &ee) {
				code = ee.ExitCode()
			} else if werr != nil {
				t.Fatalf("compose up: %v", werr)
			}
			if code != tc.code {
				t.Errorf("compose up: exit status %d, want %d (the federator's)", code, tc.code)
			}
			if !strings.Contains(out.String(), tc.says) {
				t.Errorf("the federator's output does not say %q", tc.says)
			}
			if tc.code == 0 && !strings.Contains(out.String(), fmt.Sprintf("round %d/%d", tc.rounds, tc.rounds)) {
				t.Errorf("the federator did not finish round %d", tc.rounds)
			}
			if got, want := p.exitCode(ctx, "federator"), fmt.Sprintf("exited %d", tc.code); got != want {
				t.Errorf("federator: %s, want %s", got, want)
			}
		})
	}
}
