package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRejoinRestartedWorker: with fltk-launch --restart 1, worker rank 2,
// SIGKILLed in round 2, is started again; the job goes on without it, then
// takes it back at a round boundary: exit 0, the launcher says it
// restarted rank 2, metrics.csv shows the loss and the rejoin, and rank 2
// trains clients in the rounds after it.
func TestRejoinRestartedWorker(t *testing.T) {
	const rounds = 60 // time for the new process to start, join and ask
	j := startShrinkJobArgs(t, []string{"--restart", "1"}, rounds, "", "", "FLTK_TEST_HALT=2:2:train")
	j.waitFor(t, "rank 2 halted before train of round 2")
	j.signal(t, 2, syscall.SIGKILL)
	if code := j.wait(t); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, j.stdout, j.stderr)
	}
	if want := "[2] launcher: restarting rank 2 (1/1): it was killed by signal: killed"; !strings.Contains(j.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, j.stderr)
	}
	if strings.Contains(j.stderr.String(), "the job went on without rank 2") {
		t.Errorf("the launcher says the job went on without rank 2:\n%s", j.stderr)
	}
	rows := j.metricsRows(t)
	if len(rows) != rounds {
		t.Fatalf("metrics.csv has %d rounds, want %d", len(rows), rounds)
	}
	if rows[1]["lost_ranks"] != "2" || rows[1]["workers"] != "2" {
		t.Errorf("round 2: lost_ranks %q, workers %q; want 2, 2", rows[1]["lost_ranks"], rows[1]["workers"])
	}
	back := 0
	for i, row := range rows {
		if row["rejoined_ranks"] == "2" {
			back = i + 1
			break
		}
	}
	if back == 0 {
		t.Fatalf("no round says rank 2 rejoined\nstdout:\n%s", j.stdout)
	}
	t.Logf("rank 2 rejoined in round %d of %d", back, rounds)
	for i := back - 1; i < rounds; i++ {
		if rows[i]["workers"] != "3" {
			t.Errorf("round %d (after the rejoin): workers %q, want 3", i+1, rows[i]["workers"])
		}
	}
	trained := 0
	for _, row := range j.csvRows(t, "clients.csv") {
		round, _ := strconv.Atoi(row["round"])
		if row["rank"] == "2" && round >= 2 && round < back {
			t.Errorf("round %d: client %s trained on rank 2, which was lost", round, row["client"])
		}
		if row["rank"] == "2" && round >= back {
			trained++
		}
	}
	if want := 2 * (rounds - back + 1); trained != want { // 6 clients on 3 workers
		t.Errorf("rank 2 trained %d clients in rounds %d..%d, want %d", trained, back, rounds, want)
	}
}

// startSingle starts rank rank by hand (fltk single) against master.
func startSingle(t *testing.T, cfg, master string, rank int, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "fltk"), "single", cfg, "--rank="+strconv.Itoa(rank), "--master", master)
	cmd.Env = append(append(os.Environ(), "FLTK_TOKEN=s3cret"), env...)
	return startProc(t, cmd)
}

// TestRejoinByHand: ranks started by hand (fltk single); worker rank 2 is
// SIGKILLed in round 2, and once rank 0 went on without it, the same
// command starts rank 2 again: it rejoins and trains, and every rank
// exits 0. A second process for the live rank 1 is refused, naming it.
func TestRejoinByHand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	master := l.Addr().String()
	l.Close()
	const rounds = 60
	out := t.TempDir()
	cfg := writeShrinkConfig(t, rounds, "", "", out)
	ps := make([]*proc, 4)
	for r := range ps {
		ps[r] = startSingle(t, cfg, master, r, "FLTK_TEST_HALT=2:2:train")
	}
	ps[2].waitFor(t, "rank 2 halted before train of round 2")
	if err := ps[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ps[2].wait(t)
	ps[0].waitFor(t, "[rank 2 lost: ")

	dup := startSingle(t, cfg, master, 1)
	if code := dup.wait(t); code == 0 || !strings.Contains(dup.stderr.String(), "rank 1 already joined this job (from pid") {
		t.Errorf("a second rank 1: exit %d, want a refusal naming the live one\nstderr:\n%s", code, dup.stderr)
	}

	again := startSingle(t, cfg, master, 2)
	for r, p := range []*proc{ps[0], ps[1], again, ps[3]} {
		if code := p.wait(t); code != 0 {
			t.Errorf("rank %d: exit %d\nstdout:\n%s\nstderr:\n%s", r, code, p.stdout, p.stderr)
		}
	}
	if !strings.Contains(ps[0].stdout.String(), "[ranks [2] rejoined]") {
		t.Errorf("rank 0 does not say rank 2 rejoined:\n%s", ps[0].stdout)
	}
	j := &shrinkJob{out: out}
	back := 0
	for i, row := range j.metricsRows(t) {
		if row["rejoined_ranks"] == "2" {
			back = i + 1
		}
	}
	if back == 0 {
		t.Fatal("metrics.csv: no round says rank 2 rejoined")
	}
	trained := 0
	for _, row := range j.csvRows(t, "clients.csv") {
		if round, _ := strconv.Atoi(row["round"]); row["rank"] == "2" && round >= back {
			trained++
		}
	}
	if want := 2 * (rounds - back + 1); trained != want {
		t.Errorf("rank 2 trained %d clients in rounds %d..%d, want %d", trained, back, rounds, want)
	}
}
