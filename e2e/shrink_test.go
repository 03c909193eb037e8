package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shrinkJob is an fltk-launch job of 4 ranks whose workers record their
// pids, so that a test can kill or stop one.
type shrinkJob struct {
	*proc
	dir     string // pid files
	out     string // results folder
	started time.Time
}

// startShrinkJob starts fltk-launch -np 4 on a small MNIST job of rounds
// rounds, with rt and fed appended to the [runtime] and [federated] tables
// of its config and env added to the workers' environment.
func startShrinkJob(t *testing.T, rounds int, rt, fed string, env ...string) *shrinkJob {
	t.Helper()
	return startShrinkJobArgs(t, nil, rounds, rt, fed, env...)
}

// writeShrinkConfig writes the config of a 4-rank training job of rounds
// rounds with results in out, rt and fed appended to its [runtime] and
// [federated] tables. Liveness 3 s: with 1 s a healthy rank was counted
// lost in round 1 of a run at load 10 (page faults stall whole processes
// on this kind of VM).
func writeShrinkConfig(t *testing.T, rounds int, rt, fed, out string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`
[job]
name = "shrink"
world_size = 4
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "3s"
rendezvous_timeout = "60s"
%s
[federated]
rounds = %d
clients = 6
clients_per_round = 6
epochs_per_cycle = 0.02
%s
[data]
path = %q
test_set = "odd-half"
[train]
net = "MNIST2NN"
batch_size = 20
learning_rate = 0.05
[output]
dir = %q
tensorboard = false
`, rt, rounds, fed, mnistData(t), out))
}

// startShrinkJobArgs is startShrinkJob with flags for fltk-launch.
func startShrinkJobArgs(t *testing.T, flags []string, rounds int, rt, fed string, env ...string) *shrinkJob {
	t.Helper()
	j := &shrinkJob{dir: t.TempDir(), out: t.TempDir()}
	cfg := writeShrinkConfig(t, rounds, rt, fed, j.out)
	script := fmt.Sprintf(`echo $$ > %s/pid.$FLTK_RANK; exec %s run %s`, j.dir, filepath.Join(binDir, "fltk"), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	args := append(append([]string{"-np", "4"}, flags...), cfg, "--", "sh", "-c", script)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "fltk-launch"), args...)
	cmd.Env = append(os.Environ(), env...)
	j.started = time.Now()
	j.proc = startProc(t, cmd)
	return j
}

// signal sends sig to the worker process of rank.
func (j *shrinkJob) signal(t *testing.T, rank int, sig syscall.Signal) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(j.dir, "pid."+strconv.Itoa(rank)))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
}

// metricsRows returns metrics.csv's rows as maps by column name.
func (j *shrinkJob) metricsRows(t *testing.T) []map[string]string {
	t.Helper()
	return j.csvRows(t, "metrics.csv")
}

// csvRows returns the rows of a results file as maps by column name.
func (j *shrinkJob) csvRows(t *testing.T, name string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(j.out, "shrink", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], ",")
	var rows []map[string]string
	for _, l := range lines[1:] {
		m := map[string]string{}
		for i, v := range strings.Split(l, ",") {
			m[head[i]] = v
		}
		rows = append(rows, m)
	}
	return rows
}

// TestShrinkSurvivesKilledWorker SIGKILLs worker rank 2 in round 2 of a
// training job — before its local training, before it sends its update
// (the reduce), and once it sent it (waiting for the broadcast of the new
// global model) — and the job finishes every round without it: exit 0,
// the launcher names rank 2, metrics.csv shows the death.
func TestShrinkSurvivesKilledWorker(t *testing.T) {
	for _, step := range []string{"train", "reduce", "broadcast"} {
		t.Run(step, func(t *testing.T) {
			j := startShrinkJob(t, 3, "", "", "FLTK_TEST_HALT=2:2:"+step)
			j.waitFor(t, "rank 2 halted before "+step+" of round 2")
			j.signal(t, 2, syscall.SIGKILL)
			if code := j.wait(t); code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, j.stdout, j.stderr)
			}
			if want := "the job went on without rank 2, which was killed by signal: killed"; !strings.Contains(j.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, j.stderr)
			}
			if !strings.Contains(j.stdout.String(), "[0] round 3/3") || !strings.Contains(j.stdout.String(), "[rank 2 lost: ") {
				t.Errorf("rank 0 did not finish naming rank 2:\n%s", j.stdout)
			}
			rows := j.metricsRows(t)
			if len(rows) != 3 {
				t.Fatalf("metrics.csv has %d rounds, want 3", len(rows))
			}
			for i, row := range rows {
				want := map[string]string{"workers": "3", "lost_ranks": "", "attempts": "1", "epoch": "0", "clients": "6"}
				if i >= 1 {
					want["workers"], want["epoch"] = "2", "1"
				}
				if i == 1 {
					want["lost_ranks"], want["attempts"] = "2", "2"
				}
				for k, v := range want {
					if row[k] != v {
						t.Errorf("round %d: %s = %q, want %q", i+1, k, row[k], v)
					}
				}
			}
		})
	}
}

// TestShrinkStoppedWorker SIGSTOPs worker rank 2 in round 2: the job goes
// on without it once the liveness timeout names it; SIGCONT later makes
// it learn it was left out, and it exits with that error instead of
// rejoining the old epoch.
func TestShrinkStoppedWorker(t *testing.T) {
	j := startShrinkJob(t, 4, "", "", "FLTK_TEST_HALT=2:2:reduce")
	j.waitFor(t, "rank 2 halted before reduce of round 2")
	// A halted rank still heartbeats; stopped, it does not.
	j.signal(t, 2, syscall.SIGSTOP)
	stopped := time.Now()
	j.waitFor(t, "[0] round 2/4")
	t.Logf("round 2 done without rank 2 %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if !strings.Contains(j.stdout.String(), "[rank 2 lost: ") {
		t.Errorf("round 2 does not name rank 2:\n%s", j.stdout)
	}
	j.signal(t, 2, syscall.SIGCONT)
	j.waitFor(t, "rank 2 was left out of epoch 1")
	if code := j.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, j.stdout, j.stderr)
	}
	if want := "the job went on without rank 2, which exited with status 1"; !strings.Contains(j.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, j.stderr)
	}
	if rows := j.metricsRows(t); len(rows) != 4 || rows[1]["lost_ranks"] != "2" || rows[3]["workers"] != "2" {
		t.Errorf("metrics.csv: %v", rows)
	}
}

// TestShrinkFails: the job still fails, naming why, when rank 0 dies,
// when fewer than federated.min_workers remain, and with
// runtime.on_rank_failure = "abort".
func TestShrinkFails(t *testing.T) {
	tests := []struct {
		name    string
		rt, fed string
		halt    string
		kill    int
		want    []string
	}{
		{"rank 0 killed", "", "", "0:2:reduce", 0, []string{"rank 0 killed by signal: killed"}},
		{"min_workers", "", "min_workers = 3", "2:2:reduce", 2, []string{"rank 0 exited with status 1", "federated.min_workers is 3", "rank 2: "}},
		{"abort", `on_rank_failure = "abort"`, "", "2:2:reduce", 2, []string{"rank 2 killed by signal: killed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := startShrinkJob(t, 3, tt.rt, tt.fed, "FLTK_TEST_HALT="+tt.halt)
			j.waitFor(t, fmt.Sprintf("rank %d halted before", tt.kill))
			j.signal(t, tt.kill, syscall.SIGKILL)
			if code := j.wait(t); code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, j.stdout, j.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(j.stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, j.stderr)
				}
			}
		})
	}
}

// TestShrinkLateWorker: worker rank 2 stalls before its local training in
// round 2 (alive: it keeps sending heartbeats) until the round times out;
// it is left out as late, told so, and exits, and the job finishes
// without it.
func TestShrinkLateWorker(t *testing.T) {
	j := startShrinkJob(t, 3, "", `round_timeout = "4s"`, "FLTK_TEST_HALT=2:2:train")
	if code := j.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, j.stdout, j.stderr)
	}
	out := j.stdout.String() + j.stderr.String()
	for _, want := range []string{"[rank 2 late, left out: missed the round's deadline", "rank 2 was left out of epoch 1",
		"the job went on without rank 2, which exited with status 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if rows := j.metricsRows(t); len(rows) != 3 || rows[1]["late_ranks"] != "2" || rows[1]["lost_ranks"] != "2" {
		t.Errorf("metrics.csv: %v", rows)
	}
}
