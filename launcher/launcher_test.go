package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/launcher"
)

// Worker processes are this test binary, re-executed with envMode set
// (groupcache/litestream style). TestMain runs the worker instead of the
// tests.
const (
	envMode = "LAUNCHER_TEST_WORKER"
	envRank = "LAUNCHER_TEST_RANK"
)

// longLineLen is the length of the long line of the "long-line" worker:
// longer than the 1 MiB limit at which the launcher splits lines.
const longLineLen = 1<<20 + 100

// waitTimeout bounds every wait in these tests, so that a bug fails the
// test instead of hanging it. It is far above anything a healthy run
// needs, even on a loaded machine.
const waitTimeout = 15 * time.Second

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(runTestAgent(os.Args[2:]))
	}
	if mode := os.Getenv(envMode); mode != "" {
		os.Exit(worker(mode))
	}
	os.Exit(m.Run())
}

// worker is the main function of a worker process.
func worker(mode string) int {
	rank, _ := strconv.Atoi(os.Getenv(envRank))
	switch mode {
	case "ok":
		for i := range 3 {
			fmt.Printf("out %d %d\n", rank, i)
			fmt.Fprintf(os.Stderr, "err %d %d\n", rank, i)
		}
		return 0
	case "env":
		for _, k := range []string{"FLTK_RANK", "FLTK_WORLD_SIZE", "LAUNCHER_TEST_INHERITED", "LAUNCHER_TEST_OVERRIDE"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		wd, _ := os.Getwd()
		fmt.Printf("PWD=%s\n", wd)
		return 0
	case "fail-rank-2":
		if rank != 2 {
			return hang()
		}
		for i := range 10 {
			fmt.Printf("fail line %d\n", i)
		}
		return 3
	case "keep-going":
		// Rank 2 fails; the others finish once it has, rank 3 (when
		// LAUNCHER_TEST_HANG is set) not at all.
		dir := os.Getenv("LAUNCHER_TEST_DIR")
		if rank == 2 {
			fmt.Println("fail line")
			_ = os.WriteFile(filepath.Join(dir, "rank2-failed"), nil, 0o644)
			return 3
		}
		if rank == 3 && os.Getenv("LAUNCHER_TEST_HANG") != "" {
			return hang()
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "rank2-failed")); err == nil {
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
	case "restart":
		// Rank 2 fails; started again (LAUNCHER_TEST_REJOIN=1) it
		// succeeds, unless LAUNCHER_TEST_ALWAYS is set. The others
		// finish once it succeeded or failed twice.
		dir := os.Getenv("LAUNCHER_TEST_DIR")
		runs := filepath.Join(dir, "rank2-runs")
		if rank == 2 {
			f, _ := os.OpenFile(runs, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			fmt.Fprintln(f, "run")
			_ = f.Close()
			if os.Getenv("LAUNCHER_TEST_REJOIN") == "1" && os.Getenv("LAUNCHER_TEST_ALWAYS") == "" {
				_ = os.WriteFile(filepath.Join(dir, "rank2-back"), nil, 0o644)
				return 0
			}
			fmt.Println("fail line")
			return 3
		}
		for {
			b, _ := os.ReadFile(runs)
			if _, err := os.Stat(filepath.Join(dir, "rank2-back")); err == nil || strings.Count(string(b), "run") >= 2 {
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
	case "federator-fails-late":
		// Rank 0 fails; rank 1, seeing it down, exits first. Rank 0
		// reports its own error only once the launcher stops it.
		switch rank {
		case 0:
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGTERM)
			_ = os.WriteFile(filepath.Join(os.Getenv("LAUNCHER_TEST_DIR"), "rank0-ready"), nil, 0o644)
			<-c
			fmt.Fprintln(os.Stderr, "fltk: open results/job/metrics.csv: permission denied")
			return 1
		case 1:
			for { // until rank 0 handles SIGTERM
				if _, err := os.Stat(filepath.Join(os.Getenv("LAUNCHER_TEST_DIR"), "rank0-ready")); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Fprintln(os.Stderr, "fltk: collective: rank 0 is down: peer closed")
			return 1
		}
		return hang()
	case "kill-self-rank-1":
		if rank != 1 {
			return hang()
		}
		fmt.Println("about to die")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour) // the scenario: never exit on its own, the signal ends it
		return 0
	case "hang":
		return hang()
	case "pid-hang":
		fmt.Printf("pid %d\n", os.Getpid())
		return hang()
	case "exe":
		exe, _ := os.Executable()
		fmt.Printf("exe %s host %s\n", exe, os.Getenv("FLTK_HOST"))
		return 0
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour) // the scenario: a worker that outlives SIGTERM until the launcher kills it
		return 0
	case "partial-line":
		fmt.Print("no newline on stdout")
		fmt.Fprint(os.Stderr, "no newline on stderr")
		return 0
	case "long-line":
		os.Stdout.Write(bytes.Repeat([]byte("x"), longLineLen))
		os.Stdout.Write([]byte("\nafter"))
		return 0
	case "orphan":
		// Leave a child behind that holds our stdout open, then exit.
		exe, _ := os.Executable()
		child := exec.Command(exe, "-test.run=^$")
		child.Env = append(os.Environ(), envMode+"=ignore-term")
		child.Stdout = os.Stdout
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("orphan started")
		return 0
	default:
		fmt.Fprintf(os.Stderr, "unknown worker mode %q\n", mode)
		return 2
	}
}

// hang prints "ready" and waits for SIGTERM or SIGINT, then reports it
// and exits 0.
func hang() int {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	sig := <-c
	fmt.Printf("got %v\n", sig)
	return 0
}

// lineBuffer is a concurrency-safe writer that records lines and closes
// ready once it has seen readyN lines ending in "ready".
type lineBuffer struct {
	mu     sync.Mutex // guards buf and nReady
	buf    bytes.Buffer
	nReady int
	readyN int
	ready  chan struct{}
}

func newLineBuffer(readyN int) *lineBuffer {
	return &lineBuffer{readyN: readyN, ready: make(chan struct{})}
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The launcher writes whole lines, one per Write.
	if bytes.HasSuffix(p, []byte("] ready\n")) {
		b.nReady++
		if b.nReady == b.readyN {
			close(b.ready)
		}
	}
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the lines written so far, without newlines.
func (b *lineBuffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// newSpec returns a Spec running np copies of this test binary in the
// given worker mode, with output recorded in the returned buffers.
func newSpec(t *testing.T, mode string, np int) (launcher.Spec, *lineBuffer, *lineBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	stdout, stderr := newLineBuffer(np), newLineBuffer(np)
	s := launcher.Spec{
		NP:      np,
		Command: []string{exe, "-test.run=^$"},
		Env: func(rank int) []string {
			return []string{
				envMode + "=" + mode,
				envRank + "=" + strconv.Itoa(rank),
				"FLTK_RANK=" + strconv.Itoa(rank),
				"FLTK_WORLD_SIZE=" + strconv.Itoa(np),
				// A -race binary sleeps 1s at exit by default.
				"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
			}
		},
		Stdout: stdout,
		Stderr: stderr,
		Grace:  10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return s, stdout, stderr
}

// startRun runs launcher.Run in a goroutine. The returned channel yields
// its result. A cleanup cancels the run and waits for it, so that no test
// leaves workers behind.
func startRun(t *testing.T, s launcher.Spec) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- launcher.Run(ctx, s) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return cancel, errc
}

// waitRun waits for the result of a run started by startRun.
func waitRun(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("Run did not return within %v", waitTimeout)
		return nil
	}
}

// waitReady waits until every worker printed "ready".
func waitReady(t *testing.T, b *lineBuffer, errc <-chan error) {
	t.Helper()
	select {
	case <-b.ready:
	case err := <-errc:
		t.Fatalf("Run returned %v before all workers were ready; output:\n%s", err, b.String())
	case <-time.After(waitTimeout):
		t.Fatalf("workers not ready within %v; output:\n%s", waitTimeout, b.String())
	}
}

func prefix(rank, np int) string {
	return fmt.Sprintf("[%*d] ", len(strconv.Itoa(np-1)), rank)
}

func TestRunSuccess(t *testing.T) {
	tests := []struct {
		name string
		np   int
	}{
		{"np=1", 1},
		{"np=3", 3},
		{"np=11", 11}, // two-digit ranks: "[ 3] "
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, stderr := newSpec(t, "ok", tt.np)
			if err := launcher.Run(t.Context(), s); err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, stream := range []struct {
				name string
				word string
				buf  *lineBuffer
			}{{"stdout", "out", stdout}, {"stderr", "err", stderr}} {
				got := stream.buf.lines()
				var want []string
				for r := range tt.np {
					var wantRank, gotRank []string
					for i := range 3 {
						wantRank = append(wantRank, fmt.Sprintf("%s%s %d %d", prefix(r, tt.np), stream.word, r, i))
					}
					for _, l := range got {
						if strings.HasPrefix(l, prefix(r, tt.np)) {
							gotRank = append(gotRank, l)
						}
					}
					// Lines of one worker keep their order.
					if !slices.Equal(gotRank, wantRank) {
						t.Errorf("%s lines of rank %d = %q, want %q", stream.name, r, gotRank, wantRank)
					}
					want = append(want, wantRank...)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s = %q, want (in any order) %q", stream.name, got, want)
				}
			}
		})
	}
}

func TestRunEnvAndDir(t *testing.T) {
	t.Setenv("LAUNCHER_TEST_INHERITED", "parent")
	t.Setenv("LAUNCHER_TEST_OVERRIDE", "parent")
	const np = 2
	dir := t.TempDir()
	s, stdout, _ := newSpec(t, "env", np)
	s.Dir = dir
	env := s.Env
	s.Env = func(rank int) []string {
		return append(env(rank), "LAUNCHER_TEST_OVERRIDE=rank"+strconv.Itoa(rank))
	}
	if err := launcher.Run(t.Context(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := stdout.String()
	for r := range np {
		for _, want := range []string{
			fmt.Sprintf("[%d] FLTK_RANK=%d\n", r, r),
			fmt.Sprintf("[%d] FLTK_WORLD_SIZE=%d\n", r, np),
			fmt.Sprintf("[%d] LAUNCHER_TEST_INHERITED=parent\n", r),
			fmt.Sprintf("[%d] LAUNCHER_TEST_OVERRIDE=rank%d\n", r, r),
			fmt.Sprintf("[%d] PWD=%s\n", r, dir),
		} {
			if !strings.Contains(got, want) {
				t.Errorf("stdout lacks %q; got:\n%s", want, got)
			}
		}
	}
}

func TestRunWorkerFails(t *testing.T) {
	tests := []struct {
		name         string
		mode         string
		wantRank     int
		wantExitCode int
		wantSignal   string
		wantTail     []string
		wantMsg      string
	}{
		{
			name:         "exit status",
			mode:         "fail-rank-2",
			wantRank:     2,
			wantExitCode: 3,
			wantTail:     []string{"fail line 7", "fail line 8", "fail line 9"},
			wantMsg:      "rank 2 exited with status 3\nlast lines of rank 2:\n  fail line 7\n  fail line 8\n  fail line 9",
		},
		{
			name:         "killed by signal",
			mode:         "kill-self-rank-1",
			wantRank:     1,
			wantExitCode: -1,
			wantSignal:   "killed",
			wantTail:     []string{"about to die"},
			wantMsg:      "rank 1 killed by signal: killed\nlast lines of rank 1:\n  about to die",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, _ := newSpec(t, tt.mode, 4)
			s.TailLines = 3
			start := time.Now()
			err := launcher.Run(t.Context(), s)
			elapsed := time.Since(start)

			var werr *launcher.WorkerError
			if !errors.As(err, &werr) {
				t.Fatalf("Run = %v, want a *WorkerError; stdout:\n%s", err, stdout)
			}
			if werr.Rank != tt.wantRank || werr.ExitCode != tt.wantExitCode || werr.Signal != tt.wantSignal {
				t.Errorf("WorkerError{Rank: %d, ExitCode: %d, Signal: %q}, want {%d, %d, %q}",
					werr.Rank, werr.ExitCode, werr.Signal, tt.wantRank, tt.wantExitCode, tt.wantSignal)
			}
			if !slices.Equal(werr.Tail, tt.wantTail) {
				t.Errorf("Tail = %q, want %q", werr.Tail, tt.wantTail)
			}
			if got := err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
			if !errors.Is(err, launcher.ErrWorkerFailed) {
				t.Errorf("errors.Is(%v, ErrWorkerFailed) = false", err)
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Errorf("errors.As(%v, *exec.ExitError) = false", err)
			}
			// The other workers only exit when signalled: a return well
			// before the SIGKILL deadline shows they got SIGTERM.
			if elapsed >= s.Grace {
				t.Errorf("Run took %v, want < Grace %v", elapsed, s.Grace)
			}
		})
	}
}

// TestRunNamesTheRootCause: the summary names the rank whose failure is
// not a consequence of another's, not the rank that exited first.
func TestRunNamesTheRootCause(t *testing.T) {
	s, stdout, _ := newSpec(t, "federator-fails-late", 3)
	env, dir := s.Env, t.TempDir()
	s.Env = func(rank int) []string { return append(env(rank), "LAUNCHER_TEST_DIR="+dir) }
	err := launcher.Run(t.Context(), s)
	var werr *launcher.WorkerError
	if !errors.As(err, &werr) {
		t.Fatalf("Run = %v, want a *WorkerError; stdout:\n%s", err, stdout)
	}
	if werr.Rank != 0 || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Run = %v, want rank 0's permission denied (rank 1 only saw rank 0 down)", err)
	}
}

// TestRunKeepGoing: with Spec.KeepGoing a worker other than rank 0 that
// fails does not stop the job, which succeeds when rank 0 does and names
// the worker it went on without; a worker still running when rank 0 is
// done gets the grace period, then is killed. Without KeepGoing the
// failure stops the job, as always.
func TestRunKeepGoing(t *testing.T) {
	tests := []struct {
		name      string
		keepGoing bool
		hang      bool
		wantErr   bool
	}{
		{"keep going", true, false, false},
		{"keep going, a worker outlives rank 0", true, true, false},
		{"abort", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, stderr := newSpec(t, "keep-going", 4)
			env, dir := s.Env, t.TempDir()
			s.Env = func(rank int) []string {
				e := append(env(rank), "LAUNCHER_TEST_DIR="+dir)
				if tt.hang {
					e = append(e, "LAUNCHER_TEST_HANG=1")
				}
				return e
			}
			s.KeepGoing, s.Grace = tt.keepGoing, 200*time.Millisecond
			err := launcher.Run(t.Context(), s)
			if tt.wantErr {
				var werr *launcher.WorkerError
				if !errors.As(err, &werr) || werr.Rank != 2 {
					t.Fatalf("Run = %v, want rank 2's WorkerError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run = %v, want nil; stdout:\n%s", err, stdout)
			}
			want := "launcher: the job went on without rank 2, which exited with status 3 (its last line: fail line)\n"
			if got := stderr.String(); got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
		})
	}
}

// TestRunRestart: with Restart 1, a failed rank 2 is started again with
// RestartEnv, and the launcher says so; a rank that fails again is gone.
func TestRunRestart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		always bool
		want   string
	}{
		{"comes back", false, "[2] launcher: restarting rank 2 (1/1): it exited with status 3\n"},
		{"fails again", true, "[2] launcher: restarting rank 2 (1/1): it exited with status 3\n" +
			"launcher: the job went on without rank 2, which exited with status 3 (its last line: fail line)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, stderr := newSpec(t, "restart", 3)
			env, dir := s.Env, t.TempDir()
			s.Env = func(rank int) []string {
				e := append(env(rank), "LAUNCHER_TEST_DIR="+dir)
				if tt.always {
					e = append(e, "LAUNCHER_TEST_ALWAYS=1")
				}
				return e
			}
			s.KeepGoing, s.Restart, s.RestartEnv = true, 1, []string{"LAUNCHER_TEST_REJOIN=1"}
			if err := launcher.Run(t.Context(), s); err != nil {
				t.Fatalf("Run = %v, want nil; stdout:\n%s", err, stdout)
			}
			if got := stderr.String(); got != tt.want {
				t.Errorf("stderr = %q, want %q", got, tt.want)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "rank2-runs"))
			if n := strings.Count(string(b), "run"); n != 2 {
				t.Errorf("rank 2 ran %d times, want 2", n)
			}
		})
	}
}

func TestRunKillsAfterGrace(t *testing.T) {
	tests := []struct {
		name    string
		trigger func(cancel context.CancelFunc, sigs chan<- os.Signal)
		wantErr error
	}{
		{
			name:    "context cancelled",
			trigger: func(cancel context.CancelFunc, _ chan<- os.Signal) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name:    "signal forwarded",
			trigger: func(_ context.CancelFunc, sigs chan<- os.Signal) { sigs <- syscall.SIGTERM },
			wantErr: launcher.ErrInterrupted,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, stdout, _ := newSpec(t, "ignore-term", 2)
			s.Grace = 200 * time.Millisecond
			sigs := make(chan os.Signal, 1)
			s.Signals = sigs
			cancel, errc := startRun(t, s)
			waitReady(t, stdout, errc)

			start := time.Now()
			tt.trigger(cancel, sigs)
			err := waitRun(t, errc)
			elapsed := time.Since(start)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Run = %v, want an error wrapping %v", err, tt.wantErr)
			}
			// The workers ignore SIGTERM: they can only have died from
			// the SIGKILL sent after Grace.
			if elapsed < s.Grace {
				t.Errorf("Run returned %v after termination began, want ≥ Grace %v", elapsed, s.Grace)
			}
		})
	}
}

func TestRunForwardsSignal(t *testing.T) {
	tests := []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGTERM, "got terminated"},
		{syscall.SIGINT, "got interrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.sig.String(), func(t *testing.T) {
			const np = 3
			s, stdout, _ := newSpec(t, "hang", np)
			sigs := make(chan os.Signal, 1)
			s.Signals = sigs
			_, errc := startRun(t, s)
			waitReady(t, stdout, errc)

			sigs <- tt.sig
			err := waitRun(t, errc)
			if !errors.Is(err, launcher.ErrInterrupted) {
				t.Errorf("Run = %v, want an error wrapping ErrInterrupted", err)
			}
			got := stdout.String()
			for r := range np {
				if want := fmt.Sprintf("[%d] %s\n", r, tt.want); !strings.Contains(got, want) {
					t.Errorf("stdout lacks %q; got:\n%s", want, got)
				}
			}
		})
	}
}

func TestRunContextCancel(t *testing.T) {
	const np = 2
	s, stdout, _ := newSpec(t, "hang", np)
	cancel, errc := startRun(t, s)
	waitReady(t, stdout, errc)

	cancel()
	err := waitRun(t, errc)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want an error wrapping context.Canceled", err)
	}
	got := stdout.String()
	for r := range np {
		if want := fmt.Sprintf("[%d] got terminated\n", r); !strings.Contains(got, want) {
			t.Errorf("stdout lacks %q; got:\n%s", want, got)
		}
	}
}

func TestRunContextDoneBeforeStart(t *testing.T) {
	s, stdout, _ := newSpec(t, "ok", 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := launcher.Run(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want an error wrapping context.Canceled", err)
	}
	if got := stdout.String(); got != "" {
		t.Errorf("stdout = %q, want nothing", got)
	}
}

func TestRunStartFailure(t *testing.T) {
	tests := []struct {
		name    string
		command string
		wantErr error
	}{
		{"not in PATH", "fltk-launcher-test-no-such-command", exec.ErrNotFound},
		{"no such file", "/nonexistent/fltk-launcher-test", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newSpec(t, "ok", 3)
			s.Command = []string{tt.command, "arg"}
			err := launcher.Run(t.Context(), s)
			if !errors.Is(err, launcher.ErrStart) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Run = %v, want an error wrapping ErrStart and %v", err, tt.wantErr)
			}
			for _, want := range []string{"rank 0", tt.command} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestRunStartFailureTerminatesStarted makes rank 2 of 4 fail to start
// (an environment entry with a NUL byte is rejected by exec) and checks
// that ranks 0 and 1, which wait for a signal, are terminated.
func TestRunStartFailureTerminatesStarted(t *testing.T) {
	s, stdout, _ := newSpec(t, "hang", 4)
	env := s.Env
	s.Env = func(rank int) []string {
		if rank == 2 {
			return append(env(rank), "BAD=\x00")
		}
		return env(rank)
	}
	start := time.Now()
	err := launcher.Run(t.Context(), s)
	elapsed := time.Since(start)
	if !errors.Is(err, launcher.ErrStart) || !strings.Contains(err.Error(), "rank 2") {
		t.Fatalf("Run = %v, want an error wrapping ErrStart naming rank 2", err)
	}
	if elapsed >= s.Grace {
		t.Errorf("Run took %v, want < Grace %v", elapsed, s.Grace)
	}
	if got := stdout.String(); strings.Contains(got, "[2]") || strings.Contains(got, "[3]") {
		t.Errorf("ranks 2 and 3 must not have run; stdout:\n%s", got)
	}
}

func TestRunPartialLine(t *testing.T) {
	s, stdout, stderr := newSpec(t, "partial-line", 1)
	if err := launcher.Run(t.Context(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := stdout.String(), "[0] no newline on stdout\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), "[0] no newline on stderr\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestRunLongLine(t *testing.T) {
	s, stdout, _ := newSpec(t, "long-line", 1)
	if err := launcher.Run(t.Context(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := stdout.lines()
	want := []int{1 << 20, longLineLen - 1<<20, len("after")}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i, l := range got {
		if !strings.HasPrefix(l, "[0] ") || len(l)-len("[0] ") != want[i] {
			t.Errorf("line %d: %d bytes starting %.10q, want %q and %d bytes", i, len(l), l, "[0] ", want[i])
		}
	}
}

// TestRunOrphanKilled checks that a process left behind by a worker in its
// process group is killed when the worker exits, so that it cannot hold
// the worker's output open until Grace expires.
func TestRunOrphanKilled(t *testing.T) {
	s, stdout, _ := newSpec(t, "orphan", 1)
	start := time.Now()
	if err := launcher.Run(t.Context(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(start); elapsed >= s.Grace {
		t.Errorf("Run took %v, want < Grace %v", elapsed, s.Grace)
	}
	// The orphan may or may not have printed "ready" before it was killed,
	// and before or after its parent's line: both share the pipe.
	got := slices.Sorted(slices.Values(stdout.lines()))
	if !slices.Equal(got, []string{"[0] orphan started"}) && !slices.Equal(got, []string{"[0] orphan started", "[0] ready"}) {
		t.Errorf("stdout = %q, want %q and maybe %q", got, "[0] orphan started", "[0] ready")
	}
}

func TestValidate(t *testing.T) {
	cmd := []string{"fltk"}
	tests := []struct {
		name    string
		spec    launcher.Spec
		wantMsg string // "" means valid
	}{
		{"valid", launcher.Spec{NP: 1, Command: cmd}, ""},
		{"np zero", launcher.Spec{NP: 0, Command: cmd}, "launcher: np must be ≥ 1, got 0"},
		{"np negative", launcher.Spec{NP: -2, Command: cmd}, "launcher: np must be ≥ 1, got -2"},
		{"no command", launcher.Spec{NP: 1}, "launcher: command must not be empty"},
		{"empty command name", launcher.Spec{NP: 1, Command: []string{""}}, "launcher: command[0] must not be empty"},
		{"negative grace", launcher.Spec{NP: 1, Command: cmd, Grace: -time.Second}, "launcher: grace must be ≥ 0, got -1s"},
		{"negative tail", launcher.Spec{NP: 1, Command: cmd, TailLines: -1}, "launcher: tail lines must be ≥ 0, got -1"},
		{"negative restart", launcher.Spec{NP: 1, Command: cmd, KeepGoing: true, Restart: -1}, "launcher: restart must be ≥ 0, got -1"},
		{"restart without keep going", launcher.Spec{NP: 1, Command: cmd, Restart: 1}, "launcher: restart needs keep going (a job that goes on without a failed worker)"},
		{"all problems", launcher.Spec{Grace: -1}, "launcher: np must be ≥ 1, got 0; command must not be empty; grace must be ≥ 0, got -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			err := s.Validate()
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if s.Grace != launcher.DefaultGrace || s.TailLines != launcher.DefaultTailLines {
					t.Errorf("defaults: Grace = %v, TailLines = %d, want %v, %d",
						s.Grace, s.TailLines, launcher.DefaultGrace, launcher.DefaultTailLines)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantMsg)
			}
			if !errors.Is(err, launcher.ErrInvalidSpec) {
				t.Errorf("errors.Is(%v, ErrInvalidSpec) = false", err)
			}
			// Run validates too.
			if err := launcher.Run(t.Context(), tt.spec); !errors.Is(err, launcher.ErrInvalidSpec) {
				t.Errorf("Run = %v, want an error wrapping ErrInvalidSpec", err)
			}
		})
	}
}

func TestWorkerErrorMessage(t *testing.T) {
	tests := []struct {
		err  launcher.WorkerError
		want string
	}{
		{launcher.WorkerError{Rank: 3, ExitCode: 1}, "rank 3 exited with status 1"},
		{launcher.WorkerError{Rank: 3, ExitCode: -1, Signal: "killed"}, "rank 3 killed by signal: killed"},
		{
			launcher.WorkerError{Rank: 0, ExitCode: 2, Tail: []string{"a", "", "b"}},
			"rank 0 exited with status 2\nlast lines of rank 0:\n  a\n  \n  b",
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
	inner := errors.New("inner")
	werr := &launcher.WorkerError{Err: inner}
	if !errors.Is(werr, inner) || !errors.Is(werr, launcher.ErrWorkerFailed) {
		t.Errorf("WorkerError does not match its Err and ErrWorkerFailed")
	}
}
