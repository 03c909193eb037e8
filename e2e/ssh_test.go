package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/launcher/launchertest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// writeFakeSSH writes the ssh stand-in (launchertest.FakeSSH: host
// "bad" is unreachable, host "nobin" lacks the binaries) and returns its
// path.
func writeFakeSSH(t *testing.T) string { return launchertest.FakeSSH(t, binDir) }

// TestSSHLaunchDemo runs the demo on two "hosts" through the fake ssh:
// one agent, one NATS server (clustered, TLS) and two ranks per host.
func TestSSHLaunchDemo(t *testing.T) {
	cfg := writeConfig(t, smallDemo)
	ssh := writeFakeSSH(t)
	for _, tls := range []string{"true", "false"} {
		t.Run("tls="+tls, func(t *testing.T) {
			r := run(t, nil, "fltk-launch", "-np", "4", "--hosts", "a:2,b:2", "--ssh", ssh+" -p 2222", "--tls="+tls, cfg)
			if r.code != 0 || !strings.Contains(r.stdout, "[0@a] round 2/2:") || strings.Contains(r.stdout, "WRONG") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// TestSSHLaunchCopy ships the binary and the config with --copy: the
// workers run the copies from /tmp/fltk-JOB-XXXXXX, which is gone after.
func TestSSHLaunchCopy(t *testing.T) {
	cfg := writeConfig(t, smallDemo)
	ssh := writeFakeSSH(t)
	job := "e2ecopy" + strconv.Itoa(os.Getpid())
	env := []string{"FLTK_LOG=info"}
	r := run(t, env, "fltk-launch", "-np", "3", "--hosts", "a,b:2", "--ssh", ssh, "--copy", "--job", job, cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "[0@a] round 2/2:") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	re := regexp.MustCompile(`\[agent@([ab])\] .*msg="starting workers".*command="\[(/tmp/fltk-` + job + `-\w+)/fltk run (/tmp/fltk-` + job + `-\w+)/job.toml\]"`)
	m := re.FindAllStringSubmatch(r.stderr, -1)
	if len(m) != 2 || m[0][2] != m[0][3] || m[0][2] == m[1][2] {
		t.Fatalf("the agents did not run the copies, each host in its own directory:\n%s", r.stderr)
	}
	if left, _ := filepath.Glob("/tmp/fltk-" + job + "-*"); len(left) > 0 {
		t.Errorf("job directories left behind: %v", left)
	}
}

// TestSSHPreflight: an unreachable host or a missing binary fails the
// job before any rank starts, naming the host; usage errors exit 2.
func TestSSHPreflight(t *testing.T) {
	cfg := writeConfig(t, smallDemo)
	ssh := writeFakeSSH(t)
	hostfile := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hostfile, []byte("# two hosts\na slots=2\nb:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unreachable", []string{"--hosts", "a:2,bad:2"}, 1, []string{"host bad: ", "ssh failed (exit 255)"}},
		{"no binary", []string{"--hosts", "nobin:2,a:2"}, 1, []string{"host nobin: ", "not found (exit 127)"}},
		{"np > slots", []string{"-np", "5", "--hosts", "a:2,b:2"}, 2, []string{"-np 5 is more than the 4 slots of 2 hosts"}},
		{"bad hosts", []string{"--hosts", "a:x"}, 2, []string{`"a:x"`}},
		{"hosts and hostfile", []string{"--hosts", "a", "--hostfile", hostfile}, 2, []string{"not both"}},
		{"bad iface on a host", []string{"--hosts", "a:2,b:2", "--iface", "nosuchif0"}, 2, []string{" (ranks ", `: --iface: launcher: iface: unknown interface "nosuchif0"`}},
		{"bad ssh", []string{"--hosts", "a:4", "--ssh", "ssh 'x"}, 2, []string{"--ssh"}},
		{"creds without nats", []string{"--creds", "x.creds"}, 2, []string{"--creds needs --nats"}},
		{"copy without hosts", []string{"--copy"}, 2, []string{"--copy needs --hosts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if strings.Contains(strings.Join(args, " "), "--host") {
				args = append([]string{"--ssh", ssh}, args...)
			}
			if !strings.Contains(strings.Join(tt.args, " "), "-np") {
				args = append(args, "-np", "4")
			}
			r := run(t, nil, "fltk-launch", append(args, cfg)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("ranks ran:\n%s", r.stdout)
			}
		})
	}
	t.Run("hostfile", func(t *testing.T) {
		r := run(t, nil, "fltk-launch", "-np", "4", "--hostfile", hostfile, "--ssh", ssh, cfg)
		if r.code != 0 || !strings.Contains(r.stdout, "[0@a] round 2/2") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// startLaunch starts fltk-launch with workers that print their pid and
// sleep, and returns it with the pids of its np workers once all printed.
func startLaunch(t *testing.T, ssh string, np int, hosts string) (*exec.Cmd, []int, *strings.Builder, <-chan error) {
	t.Helper()
	cfg := writeConfig(t, smallDemo)
	cmd := exec.Command(filepath.Join(binDir, "fltk-launch"), "-np", strconv.Itoa(np), "--hosts", hosts, "--ssh", ssh, "--grace", "2s",
		cfg, "--", "sh", "-c", `echo "pid $$"; exec sleep 300`)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	pids := make(chan int, np)
	rest := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`^\[\d+@\w+\] pid (\d+)$`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				pids <- pid
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		rest <- cmd.Wait()
	}()
	var got []int
	timeout := time.After(time.Minute)
	for len(got) < np {
		select {
		case pid := <-pids:
			got = append(got, pid)
		case err := <-rest:
			t.Fatalf("fltk-launch exited early (%v):\n%s", err, stderr.String())
		case <-timeout:
			t.Fatalf("workers did not start:\n%s", stderr.String())
		}
	}
	return cmd, got, &stderr, rest
}

// waitExit waits for fltk-launch and returns its exit code.
func waitExit(t *testing.T, rest <-chan error) int {
	t.Helper()
	select {
	case err := <-rest:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		t.Fatal("fltk-launch did not exit")
		return -1
	}
}

// checkNoProcess fails unless every pid is gone (not even a zombie).
func checkNoProcess(t *testing.T, what string, pids []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, pid := range pids {
		// The sleeps' parents (the agents) reap them before they exit,
		// and fltk-launch waits for the agents: gone means gone now;
		// the poll only covers the reparented fake ssh's reaping by init.
		for syscall.Kill(pid, 0) == nil {
			if ctx.Err() != nil {
				t.Errorf("%s pid %d still exists", what, pid)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func sshPIDs(t *testing.T, ssh string, hosts ...string) []int {
	t.Helper()
	var pids []int
	for _, h := range hosts {
		b, err := os.ReadFile(launchertest.PIDFile(ssh, h))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		pids = append(pids, pid)
	}
	return pids
}

// TestSSHInterrupt: SIGINT to fltk-launch reaches every worker on every
// host; nothing is left.
func TestSSHInterrupt(t *testing.T) {
	ssh := writeFakeSSH(t)
	cmd, pids, stderr, rest := startLaunch(t, ssh, 4, "a:2,b:2")
	ssh2 := sshPIDs(t, ssh, "a", "b")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, rest); code != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, want 1 (interrupted)\nstderr:\n%s", code, stderr)
	}
	checkNoProcess(t, "worker", pids)
	checkNoProcess(t, "ssh", ssh2)
}

// TestSSHConnectionLost kills one host's ssh mid-job: the job fails at
// once naming the host and its ranks, and nothing is left anywhere.
func TestSSHConnectionLost(t *testing.T) {
	ssh := writeFakeSSH(t)
	_, pids, stderr, rest := startLaunch(t, ssh, 4, "a:1,b:3")
	ssh2 := sshPIDs(t, ssh, "a", "b")
	if err := syscall.Kill(ssh2[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, rest); code != 1 || !strings.Contains(stderr.String(), "host b (ranks 1-3): connection lost") {
		t.Errorf("exit %d, want 1 naming host b and ranks 1-3\nstderr:\n%s", code, stderr)
	}
	checkNoProcess(t, "worker", pids)
	checkNoProcess(t, "ssh", ssh2)
}

// TestExistingNATSCluster runs jobs with --nats on a real 3-node NATS
// cluster the test starts: locally and across two fake-ssh hosts. No
// server is started by fltk-launch; the token comes from $FLTK_TOKEN.
func TestExistingNATSCluster(t *testing.T) {
	srvs := runtimetest.RunCluster(t, 3, nil)
	urls := make([]string, len(srvs))
	for i, s := range srvs {
		urls[i] = s.URL()
	}
	list := strings.Join(urls, ",")
	env := []string{runtime.EnvToken + "=" + srvs[0].Token()}
	cfg := writeConfig(t, smallDemo)
	ssh := writeFakeSSH(t)
	for _, tt := range []struct {
		name string
		args []string
		tag  string
	}{
		{"local", nil, "[0] round 2/2"},
		{"hosts", []string{"--hosts", "a:2,b", "--ssh", ssh}, "[0@a] round 2/2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-np", "3", "--nats", list}, tt.args...)
			r := run(t, env, "fltk-launch", append(args, cfg)...)
			if r.code != 0 || !strings.Contains(r.stdout, tt.tag) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	// --creds reaches every worker as FLTK_NATS_CREDS, with the URL list
	// (runtime's TestCredsExistingCluster joins with them on an
	// operator-mode cluster).
	creds := filepath.Join(t.TempDir(), "job.creds")
	if err := os.WriteFile(creds, []byte("not checked by the launcher\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, hosts := range [][]string{nil, {"--hosts", "a,b", "--ssh", ssh}} {
		args := append([]string{"-np", "2", "--nats", list, "--creds", creds}, hosts...)
		args = append(args, cfg, "--", "sh", "-c", `echo "creds=$FLTK_NATS_CREDS url=$FLTK_NATS_URL"`)
		r := run(t, env, "fltk-launch", args...)
		if want := "creds=" + creds + " url=" + list; r.code != 0 || strings.Count(r.stdout, want) != 2 {
			t.Errorf("%v: exit %d, want 2 workers printing %q\nstdout:\n%s\nstderr:\n%s", hosts, r.code, want, r.stdout, r.stderr)
		}
	}
	if r := run(t, env, "fltk-launch", "-np", "2", "--nats", list, "--creds", "/nonexistent/job.creds", cfg); r.code != 2 {
		t.Errorf("a missing --creds file: exit %d, want 2\n%s", r.code, r.stderr)
	}
	t.Run("wrong token", func(t *testing.T) {
		quick := writeConfig(t, strings.Replace(smallDemo, `rendezvous_timeout = "30s"`, `rendezvous_timeout = "2s"`, 1))
		r := run(t, []string{runtime.EnvToken + "=wrong"}, "fltk-launch", "-np", "2", "--nats", list, quick)
		if r.code != 1 || !strings.Contains(r.stderr, "uthorization") {
			t.Fatalf("exit %d, want 1 with an authorization error\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestSSHHostFrozen stops (SIGSTOP) one host's agent mid-job, as a host
// or link that went down without closing the connection: the job fails
// naming that host and its ranks (the launcher hears nothing from it for
// the liveness timeout), and nothing is left.
func TestSSHHostFrozen(t *testing.T) {
	cfg := writeConfig(t, `
[job]
name = "frozen"
task = "demo"
world_size = 4
[runtime]
heartbeat_interval = "250ms"
liveness_timeout = "3s"
[demo]
rounds = 1000000
elements = 1000
`)
	ssh := writeFakeSSH(t)
	// The frozen agent is killed and cannot remove its files (a host that
	// went down cannot either): the test does.
	job := "frozen" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() {
		left, _ := filepath.Glob("/tmp/fltk-" + job + "-agent-*")
		for _, d := range left {
			_ = os.RemoveAll(d)
		}
	})
	cmd := exec.Command(filepath.Join(binDir, "fltk-launch"), "--hosts", "a:2,b:2", "--ssh", ssh, "--grace", "2s", "--job", job, cfg)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	rounds := make(chan struct{})
	rest := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "[0@a] round ") {
				if n++; n == 10 {
					close(rounds)
				}
			}
		}
		rest <- cmd.Wait()
	}()
	select {
	case <-rounds:
	case err := <-rest:
		t.Fatalf("fltk-launch exited early (%v):\n%s", err, stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("no rounds:\n%s", stderr.String())
	}
	sshB := sshPIDs(t, ssh, "b")[0]
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sshB, sshB))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("agent of b: children of ssh %d: %q", sshB, b)
	}
	if err := syscall.Kill(agent, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, rest); code != 1 || !strings.Contains(stderr.String(), "host b (ranks 2-3): no message for") {
		t.Errorf("exit %d, want 1 naming host b and ranks 2-3\nstderr:\n%s", code, stderr.String())
	}
	checkNoProcess(t, "agent", []int{agent})
}
