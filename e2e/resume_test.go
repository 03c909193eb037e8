package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/fltk-go/fltk/trainer/fed"
	"github.com/fltk-go/fltk/trainer/tboard/tboardtest"
)

// resumeConfig is a short MNIST job with every kind of state a
// checkpoint carries: FedAdam's moments, the clients' momentum
// (keep_optimizer_state) and the int8 codec's error-feedback residuals.
const resumeConfig = `
[job]
name = %q
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "3s"
[collective]
codec = "int8"
[federated]
rounds = 6
clients = 4
clients_per_round = 3
epochs_per_cycle = 0.1
strategy = "fedadam"
eta = 0.01
eta_l = 0.05
[data]
path = %q
sampler = "dirichlet"
sampler_args = [1.0]
[train]
net = "MNIST2NN"
batch_size = 20
momentum = 0.9
keep_optimizer_state = true
[output]
dir = %q
checkpoint_every = 2
`

// rankPid returns the pid of the child of launcher whose environment
// says FLTK_RANK=rank, or 0.
func rankPid(launcher, rank int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", launcher))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if slices.Contains(strings.Split(string(env), "\x00"), "FLTK_RANK="+strconv.Itoa(rank)) {
				return pid
			}
		}
	}
	return 0
}

// rows returns the data rows of a CSV file (0 if unreadable).
func rows(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return max(0, strings.Count(string(b), "\n")-1)
}

// withoutTiming returns a CSV file's lines without its timing columns
// (*_seconds).
func withoutTiming(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []int
	for i, h := range strings.Split(lines[0], ",") {
		if !strings.HasSuffix(h, "_seconds") {
			keep = append(keep, i)
		}
	}
	out := make([]string, len(lines))
	for n, l := range lines {
		f := strings.Split(l, ",")
		var g []string
		for _, i := range keep {
			g = append(g, f[i])
		}
		out[n] = strings.Join(g, ",")
	}
	return out
}

// TestResumeAfterKillingRankZero runs a job uninterrupted; runs it again
// and SIGKILLs rank 0 once the checkpoint of round 2 is on disk and round
// 3 is recorded; then resumes it with fltk-launch --resume. The resumed
// run's metrics.csv and clients.csv (but the times) and its model.ckpt
// must equal the uninterrupted run's, bit for bit, and its TensorBoard
// file must hold each round once. On the way: a resume with an edited
// config exits 2, and resuming the finished run exits 2.
func TestResumeAfterKillingRankZero(t *testing.T) {
	dataDir := mnistData(t)
	out := t.TempDir()
	full := writeConfig(t, fmt.Sprintf(resumeConfig, "full", dataDir, out))
	if r := run(t, nil, "fltk-launch", full); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	cutDir := filepath.Join(out, "cut")
	cut := writeConfig(t, fmt.Sprintf(resumeConfig, "cut", dataDir, out))
	cmd := exec.Command(filepath.Join(binDir, "fltk-launch"), cut)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var killedAt int // metrics.csv rows when rank 0 was killed
	runtimetest.CheckFor(t, 2*time.Minute, 5*time.Millisecond, func() error {
		ck, err := fed.ReadCheckpoint(filepath.Join(cutDir, fed.CheckpointFile))
		if err != nil {
			return err
		}
		if n := rows(filepath.Join(cutDir, "metrics.csv")); ck.Round != 2 || n < 3 {
			return fmt.Errorf("checkpoint of round %d, %d rounds recorded", ck.Round, n)
		}
		pid := rankPid(cmd.Process.Pid, 0)
		if pid == 0 {
			return fmt.Errorf("rank 0 not found")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return err
		}
		killedAt = rows(filepath.Join(cutDir, "metrics.csv"))
		return nil
	})
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("killed run: %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	ck, err := fed.ReadCheckpoint(filepath.Join(cutDir, fed.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Round != 2 || killedAt <= ck.Round || killedAt >= 6 {
		t.Fatalf("killed after %d rounds with the checkpoint of round %d: want rounds past the checkpoint, not the whole run", killedAt, ck.Round)
	}
	t.Logf("rank 0 killed after round %d; checkpoint of round %d", killedAt, ck.Round)

	// An edited config is refused (exit 2), naming --force.
	recorded := filepath.Join(cutDir, "config.toml")
	orig, err := os.ReadFile(recorded)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "rounds = 6", "rounds = 7", 1)
	if edited == string(orig) {
		t.Fatalf("no rounds = 6 in the recorded config:\n%s", orig)
	}
	if err := os.WriteFile(recorded, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, "fltk-launch", "--resume", cutDir); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("resume with an edited config: exit %d, want 2 naming --force\nstderr:\n%s", r.code, r.stderr)
	}
	if err := os.WriteFile(recorded, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	r := run(t, nil, "fltk-launch", "--resume", cutDir)
	if r.code != 0 || !strings.Contains(r.stdout, "resumed after round 2/6") || !strings.Contains(r.stdout, "round 6/6") {
		t.Fatalf("resume: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	fullDir := filepath.Join(out, "full")
	for _, f := range []string{"metrics.csv", "clients.csv", "classes.csv"} {
		want, got := withoutTiming(t, filepath.Join(fullDir, f)), withoutTiming(t, filepath.Join(cutDir, f))
		if !slices.Equal(got, want) {
			t.Errorf("%s after the resume:\n%s\nwant (uninterrupted):\n%s", f, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	a, _ := os.ReadFile(filepath.Join(fullDir, "model.ckpt"))
	b, _ := os.ReadFile(filepath.Join(cutDir, "model.ckpt"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("model.ckpt: %d bytes uninterrupted, %d resumed, want the same bytes", len(a), len(b))
	}
	events, _ := filepath.Glob(filepath.Join(cutDir, "tb", "events.out.tfevents.*"))
	if len(events) != 1 {
		t.Fatalf("event files %v, want one", events)
	}
	evs, err := tboardtest.ReadFile(events[0])
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, e := range evs[1:] {
		steps = append(steps, e.Step)
	}
	if !slices.Equal(steps, []int64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("TensorBoard steps %v after the resume, want each round once", steps)
	}
	if _, err := os.Stat(filepath.Join(cutDir, fed.IncompleteFile)); !os.IsNotExist(err) {
		t.Errorf("%s after the resumed run finished: %v", fed.IncompleteFile, err)
	}

	// The run is finished: nothing to resume.
	if r := run(t, nil, "fltk-launch", "--resume", cutDir); r.code != 2 || !strings.Contains(r.stderr, "finished") {
		t.Errorf("resume of a finished run: exit %d, want 2 saying it finished\nstderr:\n%s", r.code, r.stderr)
	}
}
