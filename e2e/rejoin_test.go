package e2e

import (
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
	const rounds = 40 // time for the new process to start, join and ask
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
