package e2e

import (
	"bufio"
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

// TestKillLauncherNoOrphans SIGKILLs fltk-launch while its workers train
// (rank 1 and 2 in a long local epoch, rank 0 waiting for their updates):
// its embedded NATS server dies with it, and every worker must exit
// within runtime.liveness_timeout of the kill, leaving no process behind
// (none of the workers, nothing in their process groups).
func TestKillLauncherNoOrphans(t *testing.T) {
	dataDir := mnistData(t)
	const liveness = 2 * time.Second
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-kill-launcher"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = %q
[federated]
rounds = 100
clients = 2
epochs_per_cycle = 4
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 10
[output]
dir = %q
tensorboard = false
`, liveness.String(), dataDir, t.TempDir()))
	// Each client trains for several seconds a round, much longer than
	// the liveness timeout: the kill comes right after round 1, when
	// round 2's local training has just begun, so a worker that only
	// notices at its next collective outlives the bound.
	launch := exec.Command(filepath.Join(binDir, "fltk-launch"), "-np", "3", cfg)
	stdout, err := launch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	launch.Stderr = os.Stderr
	if err := launch.Start(); err != nil {
		t.Fatal(err)
	}
	launcherDone := false
	t.Cleanup(func() {
		if !launcherDone {
			_ = launch.Process.Kill()
			_ = launch.Wait()
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "[0] round 1/") {
			break
		}
	}
	workers := childrenOf(t, launch.Process.Pid)
	if len(workers) != 3 {
		t.Fatalf("fltk-launch has children %v, want 3 workers", workers)
	}
	t.Cleanup(func() { // whatever the test found, leave nothing running
		for _, pid := range workers {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	killed := time.Now()
	if err := launch.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = launch.Wait()
	launcherDone = true
	go func() { // drain what the dead launcher's pipe still holds
		for lines.Scan() {
		}
	}()
	// Poll until every worker and its process group are gone; the bound is
	// the liveness timeout.
	var left []int
	for {
		left = left[:0]
		for _, pid := range workers {
			if alive(pid) || len(groupMembers(pid)) > 0 {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Since(killed) > liveness {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("workers %v still running %v after fltk-launch was killed (liveness_timeout %v)", left, time.Since(killed).Round(time.Millisecond), liveness)
	}
	t.Logf("all %d workers gone %v after fltk-launch was killed", len(workers), time.Since(killed).Round(time.Millisecond))
}

// procStat returns the fields of /proc/pid/stat after the command name:
// state, ppid, pgrp, …; nil if the process is gone.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// alive reports whether pid is a process that has not exited (a zombie
// has: it only waits for its new parent to reap it).
func alive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// pids returns every process id in /proc.
func pids(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// childrenOf returns the live children of ppid.
func childrenOf(t *testing.T, ppid int) []int {
	var out []int
	for _, pid := range pids(t) {
		if f := procStat(pid); len(f) > 2 && f[1] == strconv.Itoa(ppid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// groupMembers returns the live processes of process group pgid other
// than its leader.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pgid {
			continue
		}
		if f := procStat(pid); len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}
