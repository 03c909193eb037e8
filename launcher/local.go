package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run starts s.NP workers running s.Command and waits for all of them.
//
// It returns nil if every worker exits with status 0. Otherwise it returns
// the first reason the job was torn down:
//   - a [*WorkerError] for the first worker that exited non-zero or was
//     killed by a signal the launcher did not send;
//   - an error wrapping [ErrStart] if a worker could not be started;
//   - an error wrapping ctx.Err() if ctx was cancelled;
//   - an error wrapping [ErrInterrupted] if a signal was forwarded from
//     s.Signals.
//
// In every case the remaining workers are terminated (see the package
// documentation), and Run returns only after all of them were reaped and
// all their output was written.
func Run(ctx context.Context, s Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("launcher: not started: %w", err)
	}
	r := newRunner(s, nil)
	return r.run(ctx)
}

// hostRanks configures a runner for the ranks of one host of a multi-host
// job, run by an agent: the global ranks to start, and hooks receiving
// their output lines and exits instead of Spec.Stdout and Spec.Stderr.
type hostRanks struct {
	ranks  []int                                    // global ranks, len(ranks) == Spec.NP
	line   func(rank int, stderr bool, line []byte) // each output line, without newline
	exited func(st exitStatus, stopping bool)       // each worker exit, before the runner reacts
}

// runner is the state of one Run. All its fields except workers' own locks
// are owned by the goroutine executing Run.
type runner struct {
	spec Spec
	log  *slog.Logger
	out  *output
	env  []string // os.Environ() when Run started

	ranks   []int           // global rank of each worker: 0 … NP-1 unless run by an agent
	host    *hostRanks      // non-nil when run by an agent
	workers []*worker       // started workers; workers[i].rank == ranks[i]
	exits   chan exitStatus // buffered for NP: waiters never block
	wg      sync.WaitGroup  // waiter goroutines, one per started worker
	live    int             // started workers not yet seen in exits

	cause    error            // first reason for ending the job, returned by Run
	later    []*WorkerError   // workers that failed after a worker's failure stopped the job
	lost     []*WorkerError   // workers that failed while the job went on (Spec.KeepGoing)
	stopping bool             // whether workers were signalled by us
	kill     *time.Timer      // SIGKILL deadline, started by the first stop
	killC    <-chan time.Time // kill.C until it fired, then nil
	started  time.Time

	restarts map[int]int // Spec.Restart: the restarts of each rank so far
	rootDone bool        // rank 0 exited: no more restarts
}

func newRunner(s Spec, host *hostRanks) *runner {
	r := &runner{
		spec:  s,
		host:  host,
		log:   s.Logger,
		out:   &output{stdout: s.Stdout, stderr: s.Stderr, terminal: s.Terminal && s.Status != nil, width: s.Width},
		env:   os.Environ(),
		exits: make(chan exitStatus, s.NP),

		restarts: map[int]int{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.out.stdout == nil {
		r.out.stdout = io.Discard
	}
	if r.out.stderr == nil {
		r.out.stderr = io.Discard
	}
	if host != nil {
		r.ranks = host.ranks
	} else {
		for rank := range s.NP {
			r.ranks = append(r.ranks, rank)
		}
	}
	return r
}

func (r *runner) run(ctx context.Context) error {
	r.started = time.Now()
	r.log.Info("starting workers", logKeyNP, r.spec.NP, logKeyCommand, r.spec.Command)
	for _, rank := range r.ranks {
		if ctx.Err() != nil {
			break
		}
		if err := r.start(rank); err != nil {
			r.log.Info("worker failed to start", logKeyRank, rank, logKeyError, err)
			r.stop(err, syscall.SIGTERM, "start failure")
			break
		}
	}
	if len(r.workers) < r.spec.NP && r.cause == nil {
		// Only ctx can have stopped the loop early.
		r.stop(fmt.Errorf("launcher: %w", ctx.Err()), syscall.SIGTERM, "context done")
	}

	done := ctx.Done()
	sigs := r.spec.Signals
	for r.live > 0 {
		select {
		case st := <-r.exits:
			r.exited(st)
		case <-done:
			done = nil
			r.stop(fmt.Errorf("launcher: %w", ctx.Err()), syscall.SIGTERM, "context done")
		case sig, ok := <-sigs:
			if !ok {
				sigs = nil
				continue
			}
			r.forward(sig)
		case <-r.killC:
			r.killC = nil
			r.killAll()
		}
	}
	if r.kill != nil {
		r.kill.Stop()
	}
	r.wg.Wait()

	r.out.clearStatus()
	if err := r.out.writeErr(); err != nil {
		r.log.Info("writing worker output failed", logKeyError, err)
	}
	if first, ok := r.cause.(*WorkerError); ok && !(r.spec.KeepGoing && first.Rank == 0) {
		// (A job that goes on without lost workers fails only by rank 0,
		// which says why: the workers' errors repeat its verdict.)
		r.cause = rootCause(first, r.later)
	}
	if r.cause == nil && len(r.lost) > 0 {
		r.out.writeLine(r.out.stderr, []byte(lostSummary(r.lost)))
	}
	r.log.Info("all workers exited", logKeyNP, len(r.workers),
		logKeyElapsed, time.Since(r.started), logKeyError, r.cause)
	return r.cause
}

// start starts the worker of the given rank and its waiter goroutine.
func (r *runner) start(rank int) error {
	s := &r.spec
	cmd := exec.Command(s.Command[0], s.Command[1:]...)
	cmd.Dir = s.Dir
	cmd.Env = slices.Clip(r.env)
	if s.Env != nil {
		cmd.Env = append(cmd.Env, s.Env(rank)...)
	}
	if r.restarts[rank] > 0 {
		cmd.Env = append(cmd.Env, s.RestartEnv...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = s.Grace

	t := newTail(s.TailLines)
	prefix := rankPrefix(rank, s.NP)
	stdout := &lineWriter{out: r.out, dst: r.out.stdout, prefix: prefix, tail: t}
	if s.Status != nil {
		stdout.status = func(line []byte) ([]byte, bool) { return s.Status(rank, line) }
	}
	stderr := &lineWriter{out: r.out, dst: r.out.stderr, prefix: prefix, tail: t}
	if r.host != nil {
		line := r.host.line
		stdout.sink = func(b []byte) { line(rank, false, b) }
		stderr.sink = func(b []byte) { line(rank, true, b) }
	}
	cmd.Stdout = stdout
	cmd.Stderr = stderr

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: rank %d: command %q: %w", ErrStart, rank, s.Command[0], err)
	}
	w := &worker{
		rank:   rank,
		pid:    cmd.Process.Pid,
		cmd:    cmd,
		stdout: stdout,
		stderr: stderr,
		tail:   t,
	}
	r.workers = append(r.workers, w)
	r.live++
	r.log.Debug("worker started", logKeyRank, rank, logKeyPID, w.pid)
	r.wg.Go(func() { r.exits <- w.wait() })
	return nil
}

// exited handles the exit of one worker.
func (r *runner) exited(st exitStatus) {
	r.live--
	if r.host != nil {
		r.host.exited(st, r.stopping)
	}
	if st.rank == 0 {
		r.rootDone = true
	}
	log := r.log.With(logKeyRank, st.rank, logKeyPID, st.pid, logKeyLive, r.live)
	if st.state == nil {
		log.Info("worker lost", logKeyError, st.err)
	} else if ws, ok := st.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		log.Info("worker exited", logKeySignal, ws.Signal().String())
	} else {
		log.Info("worker exited", logKeyExitCode, st.state.ExitCode())
	}
	if errors.Is(st.err, exec.ErrWaitDelay) {
		log.Info("worker output cut off: a process it started kept its stdout or stderr open",
			logKeyGrace, r.spec.Grace)
	}
	if st.success() {
		if r.spec.KeepGoing && st.rank == 0 && r.live > 0 && !r.stopping {
			// The job is done; a worker it went on without may still be
			// running (stopped, or cut off): it gets the grace period.
			log.Info("rank 0 finished; the other workers get the grace period", logKeyGrace, r.spec.Grace)
			r.startKillTimer()
		}
		return
	}
	werr := &WorkerError{Rank: st.rank, ExitCode: -1, Tail: st.tail, Err: st.err}
	if st.state != nil {
		werr.ExitCode = st.state.ExitCode()
		if ws, ok := st.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			werr.Signal = ws.Signal().String()
		}
	}
	if r.spec.KeepGoing && st.rank != 0 && !r.stopping && !r.rootDone && r.restarts[st.rank] < r.spec.Restart {
		// The job shrinks its world; the new process rejoins it.
		r.restarts[st.rank]++
		what := fmt.Sprintf("it exited with status %d", werr.ExitCode)
		if werr.Signal != "" {
			what = "it was killed by signal: " + werr.Signal
		}
		line := fmt.Sprintf("%slauncher: restarting rank %d (%d/%d): %s", rankPrefix(st.rank, r.spec.NP), st.rank, r.restarts[st.rank], r.spec.Restart, what)
		r.out.writeLine(r.out.stderr, []byte(line+"\n"))
		log.Info("restarting the worker", "restart", r.restarts[st.rank], logKeyError, werr)
		err := r.start(st.rank)
		if err == nil {
			return
		}
		log.Info("worker failed to restart", logKeyError, err)
		werr.Err = errors.Join(werr.Err, err)
	}
	if r.spec.KeepGoing && st.rank != 0 && !r.stopping {
		// The job shrinks its world and goes on without this worker.
		log.Info("the job goes on without the worker", logKeyError, werr)
		r.lost = append(r.lost, werr)
		return
	}
	if r.stopping {
		// A worker's failure stopped the job; this one may have failed
		// on its own, the cause of the first one's (see rootCause).
		if _, ok := r.cause.(*WorkerError); ok {
			r.later = append(r.later, werr)
		}
		return
	}
	r.stop(werr, syscall.SIGTERM, "worker failed")
}

// lostSummary names the workers a job that succeeded went on without, one
// line each, with the last line each wrote.
func lostSummary(lost []*WorkerError) string {
	var b strings.Builder
	for _, e := range lost {
		what := fmt.Sprintf("exited with status %d", e.ExitCode)
		if e.Signal != "" {
			what = "was killed by signal: " + e.Signal
		}
		on := ""
		if e.Host != "" {
			on = " on " + e.Host
		}
		fmt.Fprintf(&b, "launcher: the job went on without rank %d%s, which %s", e.Rank, on, what)
		if n := len(e.Tail); n > 0 {
			fmt.Fprintf(&b, " (its last line: %s)", e.Tail[n-1])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// stop records cause and, the first time, signals every live worker with
// sig and starts the SIGKILL deadline.
func (r *runner) stop(cause error, sig syscall.Signal, reason string) {
	if r.cause == nil {
		r.cause = cause
	}
	if r.stopping {
		return
	}
	r.log.Info("terminating workers", logKeyReason, reason, logKeySignal, sig.String(),
		logKeyLive, r.live, logKeyGrace, r.spec.Grace)
	r.stopping = true
	r.signalAll(sig)
	r.startKillTimer()
}

// forward sends sig, received by the launcher, to every live worker and
// starts the SIGKILL deadline if it is not running yet.
func (r *runner) forward(sig os.Signal) {
	ssig, ok := sig.(syscall.Signal)
	if !ok {
		ssig = syscall.SIGTERM
	}
	if r.cause == nil {
		r.cause = fmt.Errorf("%w by signal %q", ErrInterrupted, sig)
	}
	r.log.Info("forwarding signal", logKeySignal, ssig.String(), logKeyLive, r.live,
		logKeyGrace, r.spec.Grace)
	r.stopping = true
	r.signalAll(ssig)
	r.startKillTimer()
}

func (r *runner) startKillTimer() {
	if r.kill == nil {
		r.kill = time.NewTimer(r.spec.Grace)
		r.killC = r.kill.C
	}
}

// killAll sends SIGKILL to every live worker.
func (r *runner) killAll() {
	r.stopping = true // what exits now was killed by us
	r.log.Info("grace period over, killing workers", logKeyLive, r.live, logKeyGrace, r.spec.Grace)
	r.signalAll(syscall.SIGKILL)
}

func (r *runner) signalAll(sig syscall.Signal) {
	for _, w := range r.workers {
		if err := w.signal(sig); err != nil {
			r.log.Debug("signalling worker failed", logKeyRank, w.rank, logKeyPID, w.pid,
				logKeySignal, sig.String(), logKeyError, err)
		}
	}
}

// worker is one started worker process, the leader of its own process
// group.
type worker struct {
	rank   int
	pid    int // also the process group id
	cmd    *exec.Cmd
	stdout *lineWriter
	stderr *lineWriter
	tail   *tail

	mu     sync.Mutex // guards exited, and is held while signalling
	exited bool       // the leader exited: its pid may be reused, never signal it again
}

// signal sends sig to the worker's process group unless the worker has
// exited.
func (w *worker) signal(sig syscall.Signal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.exited {
		return nil
	}
	err := syscall.Kill(-w.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// exitStatus is what a waiter goroutine reports about its worker.
type exitStatus struct {
	rank  int
	pid   int
	state *os.ProcessState // nil if the process could not be waited for
	err   error            // from exec.Cmd.Wait
	tail  []string
}

// success reports whether the worker exited with status 0. Output cut off
// after WaitDelay does not make a worker fail.
func (st exitStatus) success() bool {
	return st.state != nil && st.state.Success() &&
		(st.err == nil || errors.Is(st.err, exec.ErrWaitDelay))
}

// wait waits for the worker to exit and for its output to be written,
// and reaps it. It runs in the worker's waiter goroutine.
func (w *worker) wait() exitStatus {
	if waitExited(w.pid) {
		// The leader is a zombie, so its process group id cannot have
		// been reused: kill whatever the worker left behind in it, so
		// that nothing survives the job or holds its output open.
		w.mu.Lock()
		_ = syscall.Kill(-w.pid, syscall.SIGKILL)
		w.exited = true
		w.mu.Unlock()
	}
	err := w.cmd.Wait()
	w.mu.Lock()
	w.exited = true
	w.mu.Unlock()
	w.stdout.flush()
	w.stderr.flush()
	return exitStatus{
		rank:  w.rank,
		pid:   w.pid,
		state: w.cmd.ProcessState,
		err:   err,
		tail:  w.tail.get(),
	}
}
