package launcher_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/launcher/launchertest"
)

// runTestAgent is the test binary run as "agent": the agent of a host,
// speaking the protocol on stdin and stdout, without servers.
func runTestAgent(args []string) int {
	if slices.Contains(args, "--check") {
		fmt.Println("test agent ok")
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := launcher.RunAgent(ctx, launcher.AgentConfig{
		In: os.Stdin, Out: os.Stdout, Version: "test",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return 0
}

// newHostsSpec returns a HostsSpec running np ranks of this test binary in
// the given worker mode on hosts, through the fake ssh.
func newHostsSpec(t *testing.T, mode, hosts string, np int) (launcher.HostsSpec, *lineBuffer, *lineBuffer) {
	t.Helper()
	s, stdout, stderr := newSpec(t, mode, np)
	hs, err := launcher.ParseHosts(hosts)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	return launcher.HostsSpec{
		Hosts:        hs,
		NP:           np,
		Job:          "test-" + strconv.Itoa(os.Getpid()),
		Command:      s.Command,
		Env:          s.Env,
		SSH:          []string{launchertest.FakeSSH(t, filepath.Dir(exe)), "-p", "2222"},
		Agent:        []string{exe, "agent"},
		Stdout:       stdout,
		Stderr:       stderr,
		Grace:        s.Grace,
		Logger:       s.Logger,
		StartTimeout: waitTimeout,
	}, stdout, stderr
}

// startHosts runs launcher.RunHosts in a goroutine, like startRun.
func startHosts(t *testing.T, s launcher.HostsSpec) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- launcher.RunHosts(ctx, s) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return cancel, errc
}

// workerPIDs returns the pids the "pid-hang" workers printed.
func workerPIDs(t *testing.T, out string) []int {
	t.Helper()
	var pids []int
	for _, m := range regexp.MustCompile(`\] pid (\d+)\n`).FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

// checkGone fails unless none of pids is a live process (or zombie).
func checkGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker pid %d still exists after RunHosts returned (kill 0: %v)", pid, err)
		}
	}
}

func TestRunHostsSuccess(t *testing.T) {
	tests := []struct {
		name  string
		hosts string
		np    int
		want  []string // host of each rank
	}{
		{"two hosts", "a:2,b:2", 4, []string{"a", "a", "b", "b"}},
		{"fewer ranks than slots", "a:2,b:5,c:1", 3, []string{"a", "a", "b"}},
		{"localhost without ssh", "localhost:2", 2, []string{"localhost", "localhost"}},
		{"user@host", "me@a:1,b", 2, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, stderr := newHostsSpec(t, "ok", tt.hosts, tt.np)
			if err := launcher.RunHosts(t.Context(), s); err != nil {
				t.Fatalf("RunHosts: %v\nstderr:\n%s", err, stderr)
			}
			var want []string
			for r, h := range tt.want {
				for i := range 3 {
					want = append(want, fmt.Sprintf("[%d@%s] out %d %d", r, h, r, i))
				}
			}
			got := stdout.lines()
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("stdout = %q, want (in any order) %q", got, want)
			}
		})
	}
}

func TestRunHostsEnvHost(t *testing.T) {
	s, stdout, stderr := newHostsSpec(t, "exe", "a,b", 2)
	if err := launcher.RunHosts(t.Context(), s); err != nil {
		t.Fatalf("RunHosts: %v\nstderr:\n%s", err, stderr)
	}
	for r, h := range []string{"a", "b"} {
		want := fmt.Sprintf("[%d@%s] exe %s host %s\n", r, h, s.Command[0], h)
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, stdout)
		}
	}
}

func TestRunHostsPreflight(t *testing.T) {
	tests := []struct {
		name   string
		hosts  string
		agent  string // "" for the test binary
		host   string // the host the error names
		substr string
	}{
		{"unreachable", "a:1,bad:1", "", "bad", "ssh failed (exit 255): ssh: connect to host bad"},
		{"no binary remote", "nobin:1,a:1", "", "nobin", "not found (exit 127)"},
		{"no binary local", "localhost:2", "/nonexistent/fltk", "localhost", "not found (exit 127)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, _ := newHostsSpec(t, "ok", tt.hosts, 2)
			if tt.agent != "" {
				s.Agent[0] = tt.agent
			}
			err := launcher.RunHosts(t.Context(), s)
			var he *launcher.HostError
			if !errors.As(err, &he) || he.Host != tt.host {
				t.Fatalf("RunHosts = %v, want a HostError for %s", err, tt.host)
			}
			if !errors.Is(err, launcher.ErrHost) || !strings.Contains(err.Error(), tt.substr) ||
				!strings.Contains(err.Error(), "host "+tt.host+": ") {
				t.Errorf("RunHosts = %q, want it to match ErrHost, name host %s and contain %q", err, tt.host, tt.substr)
			}
			if out := stdout.String(); out != "" {
				t.Errorf("workers ran although a host failed its check:\n%s", out)
			}
		})
	}
}

// TestRunHostsVersion: an agent of another version than the launcher's
// fails the job naming its host before any rank starts; the same version
// runs.
func TestRunHostsVersion(t *testing.T) {
	s, _, stderr := newHostsSpec(t, "ok", "a:1", 1)
	s.Version = "test" // what runTestAgent reports
	if err := launcher.RunHosts(t.Context(), s); err != nil {
		t.Fatalf("RunHosts with the agents' version: %v\nstderr:\n%s", err, stderr)
	}
	s, stdout, _ := newHostsSpec(t, "ok", "a:1", 1)
	s.Version = "v9.9.9"
	err := launcher.RunHosts(t.Context(), s)
	var he *launcher.HostError
	if !errors.As(err, &he) || he.Host != "a" || !strings.Contains(err.Error(), `version "test", fltk-launch's "v9.9.9"`) {
		t.Fatalf("RunHosts = %v, want a HostError for a naming both versions", err)
	}
	if out := stdout.String(); out != "" {
		t.Errorf("workers ran although the agent's version differs:\n%s", out)
	}
}

func TestRunHostsWorkerFails(t *testing.T) {
	s, stdout, _ := newHostsSpec(t, "fail-rank-2", "a:2,b:2", 4)
	err := launcher.RunHosts(t.Context(), s)
	var we *launcher.WorkerError
	if !errors.As(err, &we) {
		t.Fatalf("RunHosts = %v, want a WorkerError\nstdout:\n%s", err, stdout)
	}
	if we.Rank != 2 || we.Host != "b" || we.ExitCode != 3 || !slices.Equal(we.Tail[len(we.Tail)-1:], []string{"fail line 9"}) {
		t.Errorf("WorkerError = %+v, want rank 2 on b, status 3, tail ending in fail line 9", we)
	}
	if !strings.HasPrefix(err.Error(), "rank 2 on b exited with status 3") {
		t.Errorf("error = %q", err)
	}
}

// TestRunHostsKeepGoing: with KeepGoing, rank 2 on host b failing does
// not stop the job; it succeeds with rank 0 and names the rank and host
// it went on without.
func TestRunHostsKeepGoing(t *testing.T) {
	s, stdout, stderr := newHostsSpec(t, "keep-going", "a:2,b:2", 4)
	env, dir := s.Env, t.TempDir()
	s.Env = func(rank int) []string { return append(env(rank), "LAUNCHER_TEST_DIR="+dir) }
	s.KeepGoing = true
	if err := launcher.RunHosts(t.Context(), s); err != nil {
		t.Fatalf("RunHosts = %v, want nil\nstdout:\n%s", err, stdout)
	}
	want := "launcher: the job went on without rank 2 on b, which exited with status 3 (its last line: fail line)"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}

func TestRunHostsSignal(t *testing.T) {
	s, stdout, stderr := newHostsSpec(t, "pid-hang", "a:2,b:1", 3)
	sigs := make(chan os.Signal, 1)
	s.Signals = sigs
	_, errc := startHosts(t, s)
	waitReady(t, stdout, errc)
	pids := workerPIDs(t, stdout.String())
	sigs <- syscall.SIGINT
	err := waitRun(t, errc)
	if !errors.Is(err, launcher.ErrInterrupted) {
		t.Fatalf("RunHosts = %v, want ErrInterrupted\nstderr:\n%s", err, stderr)
	}
	for r, h := range []string{"a", "a", "b"} {
		if want := fmt.Sprintf("[%d@%s] got interrupt\n", r, h); !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, stdout)
		}
	}
	if len(pids) != 3 {
		t.Fatalf("got pids %v, want 3", pids)
	}
	checkGone(t, pids)
}

func TestRunHostsContextCancel(t *testing.T) {
	s, stdout, _ := newHostsSpec(t, "pid-hang", "a,b", 2)
	cancel, errc := startHosts(t, s)
	waitReady(t, stdout, errc)
	pids := workerPIDs(t, stdout.String())
	cancel()
	if err := waitRun(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunHosts = %v, want context.Canceled", err)
	}
	checkGone(t, pids)
}

func TestRunHostsConnectionLost(t *testing.T) {
	s, stdout, stderr := newHostsSpec(t, "pid-hang", "a:1,b:2", 3)
	_, errc := startHosts(t, s)
	waitReady(t, stdout, errc)
	pids := workerPIDs(t, stdout.String())
	b, err := os.ReadFile(launchertest.PIDFile(s.SSH[0], "b"))
	if err != nil {
		t.Fatal(err)
	}
	sshPID, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(sshPID, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the ssh of b: %v", err)
	}
	err = waitRun(t, errc)
	var he *launcher.HostError
	if !errors.As(err, &he) || he.Host != "b" || !slices.Equal(he.Ranks, []int{1, 2}) {
		t.Fatalf("RunHosts = %v, want a HostError for b, ranks 1-2\nstderr:\n%s", err, stderr)
	}
	if !strings.HasPrefix(err.Error(), "host b (ranks 1-2): connection lost") {
		t.Errorf("error = %q, want it to start with %q", err, "host b (ranks 1-2): connection lost")
	}
	// Rank 0 on a was stopped by the launcher.
	if want := "[0@a] got terminated\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q; got:\n%s", want, stdout)
	}
	checkGone(t, pids)
}

func TestRunHostsCopy(t *testing.T) {
	s, stdout, stderr := newHostsSpec(t, "exe", "a,b", 2)
	s.Copy = []string{s.Command[0]}
	s.Job = "copytest" + strconv.Itoa(os.Getpid())
	if err := launcher.RunHosts(t.Context(), s); err != nil {
		t.Fatalf("RunHosts: %v\nstderr:\n%s", err, stderr)
	}
	re := regexp.MustCompile(`\[(\d)@([ab])\] exe (/tmp/fltk-` + s.Job + `-\w+)/` + regexp.QuoteMeta(filepath.Base(s.Command[0])) + ` host [ab]\n`)
	m := re.FindAllStringSubmatch(stdout.String(), -1)
	if len(m) != 2 {
		t.Fatalf("stdout does not show both ranks running the copies:\n%s", stdout)
	}
	if m[0][3] == m[1][3] {
		t.Errorf("both hosts used the same directory %s", m[0][3])
	}
	for _, mm := range m {
		if _, err := os.Stat(mm[3]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("job directory %s of host %s still exists (stat: %v)", mm[3], mm[2], err)
		}
	}
}

// TestRunHostsNoLeftoverOnLauncherDeath ends the agents' stdin abruptly,
// as when the launcher is killed: the agents must kill their workers.
func TestAgentEOFKillsWorkers(t *testing.T) {
	exe, _ := os.Executable()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- launcher.RunAgent(t.Context(), launcher.AgentConfig{In: inR, Out: outW})
		outW.Close()
	}()
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 4096)
		for {
			n, err := outR.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				i := strings.IndexByte(string(buf), '\n')
				if i < 0 {
					break
				}
				lines <- string(buf[:i])
				buf = buf[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	expect := func(substr string) string {
		t.Helper()
		timeout := time.After(waitTimeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("agent output ended before %q", substr)
				}
				if strings.Contains(l, substr) {
					return l
				}
			case <-timeout:
				t.Fatalf("no agent message containing %q within %v", substr, waitTimeout)
			}
		}
	}
	send(`{"type":"init","job":"j"}`)
	expect(`"type":"hello","addr":"127.0.0.1"`)
	send(fmt.Sprintf(`{"type":"start","start":{"world_size":4,"ranks":[2,3],"command":[%q,"-test.run=^$"],"rank_env":{"2":["%s=pid-hang"],"3":["%s=pid-hang"]},"grace":5000000000}}`, exe, envMode, envMode))
	expect(`"type":"ready"`)
	send(`{"type":"run"}`)
	var pids []int
	for range 2 {
		l := expect(`"line":"pid `)
		m := regexp.MustCompile(`"rank":(\d),"line":"pid (\d+)"`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad line %s", l)
		}
		pid, _ := strconv.Atoi(m[2])
		pids = append(pids, pid)
	}
	inW.Close() // EOF: the launcher is gone
	for range 2 {
		expect(`"type":"exit"`)
	}
	expect(`"type":"done"`)
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("RunAgent = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("RunAgent did not return after EOF")
	}
	checkGone(t, pids)
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"ssh", []string{"ssh"}, false},
		{"  ssh  -p 2222\t-i KEY ", []string{"ssh", "-p", "2222", "-i", "KEY"}, false},
		{`ssh -i 'my key' -o "ProxyJump=a b"`, []string{"ssh", "-i", "my key", "-o", "ProxyJump=a b"}, false},
		{`ssh -o a\ b "x\"y" 'it''s'`, []string{"ssh", "-o", "a b", `x"y`, "its"}, false},
		{`''`, []string{""}, false},
		{"", nil, false},
		{`ssh 'open`, nil, true},
		{`ssh "open`, nil, true},
		{`ssh \`, nil, true},
	}
	for _, tt := range tests {
		got, err := launcher.SplitCommand(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestRunHostsSilentAgent: an agent that stops talking (its host or link
// went down: no EOF) is reported lost after Liveness and killed.
func TestRunHostsSilentAgent(t *testing.T) {
	// Only the silent host: a slow healthy agent (a -race binary on a
	// loaded machine) could be silent for the short Liveness too.
	s, _, _ := newHostsSpec(t, "ok", "b", 1)
	// Agent b says hello, then nothing.
	silent := `case "$*" in *--check*) exit 0;; esac; echo "{\"type\":\"hello\",\"addr\":\"127.0.0.1\"}"; exec sleep 60`
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "agent")
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$FLTK_HOST\" = b ]; then exec /bin/sh -c '%s' \"$@\"; fi\nexec %q \"$@\"\n", silent, s.Agent[0])
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s.Agent = []string{wrapper, "agent"}
	s.Liveness = 500 * time.Millisecond
	err := launcher.RunHosts(t.Context(), s)
	var he *launcher.HostError
	if !errors.As(err, &he) || he.Host != "b" || !strings.Contains(err.Error(), "host or link down") {
		t.Fatalf("RunHosts = %v, want a HostError for b, host or link down", err)
	}
}

// TestAgentSilentLauncher: an agent whose launcher stops talking (no EOF)
// terminates its workers and returns after the liveness timeout.
func TestAgentSilentLauncher(t *testing.T) {
	exe, _ := os.Executable()
	inR, inW := io.Pipe()
	defer inW.Close()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- launcher.RunAgent(t.Context(), launcher.AgentConfig{In: inR, Out: outW})
		outW.Close()
	}()
	var mu sync.Mutex
	var out strings.Builder
	pidSeen := make(chan struct{})
	readDone := make(chan struct{}) // the agent's output fully read: RunAgent closed it
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		once := sync.Once{}
		for {
			n, err := outR.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			if strings.Contains(out.String(), `"line":"pid `) {
				once.Do(func() { close(pidSeen) })
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	msgs := []string{
		`{"type":"init","job":"j","liveness":1000000000}`,
		fmt.Sprintf(`{"type":"start","start":{"world_size":1,"ranks":[0],"command":[%q,"-test.run=^$"],"rank_env":{"0":["%s=pid-hang"]},"grace":5000000000}}`, exe, envMode),
		`{"type":"run"}`,
	}
	for _, m := range msgs {
		if _, err := io.WriteString(inW, m+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-pidSeen:
	case <-time.After(waitTimeout):
		t.Fatal("worker did not start")
	}
	// Now silence: no ping, no EOF.
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("RunAgent = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("RunAgent did not return after the launcher fell silent")
	}
	// The pipe hands "done" over before the reader appends it to out.
	select {
	case <-readDone:
	case <-time.After(waitTimeout):
		t.Fatal("the agent's output was not closed after RunAgent returned")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(out.String(), `"type":"done"`) || !strings.Contains(out.String(), `got terminated`) {
		t.Errorf("agent output lacks the worker's termination and done:\n%s", out.String())
	}
}

// TestAgentOutputClosed: an agent that cannot write to the launcher any
// more (the launcher died, the connection is gone: EPIPE) terminates its
// workers and returns, without waiting for EOF.
func TestAgentOutputClosed(t *testing.T) {
	exe, _ := os.Executable()
	inR, inW := io.Pipe()
	defer inW.Close()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- launcher.RunAgent(t.Context(), launcher.AgentConfig{In: inR, Out: outW}) }()
	msgs := []string{
		`{"type":"init","job":"j","liveness":60000000000}`,
		fmt.Sprintf(`{"type":"start","start":{"world_size":1,"ranks":[0],"command":[%q,"-test.run=^$"],"rank_env":{"0":["%s=pid-hang"]},"grace":5000000000}}`, exe, envMode),
		`{"type":"run"}`,
	}
	go func() {
		for _, m := range msgs {
			_, _ = io.WriteString(inW, m+"\n")
		}
	}()
	var out strings.Builder
	buf := make([]byte, 4096)
	re := regexp.MustCompile(`"line":"pid (\d+)"`)
	var pid int
	for pid == 0 {
		n, err := outR.Read(buf)
		out.Write(buf[:n])
		if m := re.FindStringSubmatch(out.String()); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if err != nil {
			t.Fatalf("agent output ended: %v\n%s", err, out.String())
		}
	}
	outR.CloseWithError(syscall.EPIPE) // the launcher is gone
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("RunAgent = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("RunAgent did not return after its output was closed")
	}
	checkGone(t, []int{pid})
}

// TestRunHostsSignalDuringPreflight: a signal while the hosts are checked
// (a host that takes its time to answer) stops the job at once.
func TestRunHostsSignalDuringPreflight(t *testing.T) {
	s, stdout, _ := newHostsSpec(t, "ok", "a,b", 2)
	dir := t.TempDir()
	slow := filepath.Join(dir, "agent")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\necho checking\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.Agent = []string{slow}
	sigs := make(chan os.Signal, 1)
	s.Signals = sigs
	sigs <- syscall.SIGINT
	if err := launcher.RunHosts(t.Context(), s); !errors.Is(err, launcher.ErrInterrupted) {
		t.Fatalf("RunHosts = %v, want ErrInterrupted", err)
	}
	if stdout.String() != "" {
		t.Errorf("workers ran:\n%s", stdout)
	}
}

// TestRunHostsNamesTheRootCause: across hosts too, the summary names the
// rank whose failure is not a consequence of another's (rank 0 on a),
// not the rank that exited first (rank 1 on b, which saw rank 0 down).
func TestRunHostsNamesTheRootCause(t *testing.T) {
	s, stdout, _ := newHostsSpec(t, "federator-fails-late", "a:1,b:1", 2)
	env, dir := s.Env, t.TempDir()
	s.Env = func(rank int) []string { return append(env(rank), "LAUNCHER_TEST_DIR="+dir) }
	err := launcher.RunHosts(t.Context(), s)
	var werr *launcher.WorkerError
	if !errors.As(err, &werr) {
		t.Fatalf("RunHosts = %v, want a *WorkerError; stdout:\n%s", err, stdout)
	}
	if werr.Rank != 0 || werr.Host != "a" || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("RunHosts = %v, want rank 0 on a and its permission denied (rank 1 only saw rank 0 down)", err)
	}
}
