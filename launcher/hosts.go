package launcher

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of [HostsSpec].
const (
	// DefaultConnectTimeout is the default HostsSpec.ConnectTimeout.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultStartTimeout is the default HostsSpec.StartTimeout.
	DefaultStartTimeout = 60 * time.Second
	// DefaultLiveness is the default HostsSpec.Liveness.
	DefaultLiveness = 10 * time.Second
)

// HostsSpec describes a job across hosts: NP ranks placed on Hosts'
// slots in order, run by one agent per host.
type HostsSpec struct {
	// Hosts are the machines and their slots; ranks fill them in order
	// (see [PlaceRanks]), hosts without ranks are not contacted.
	Hosts []Host
	// NP is the number of ranks, ≥ 1 and at most the slots of Hosts.
	NP int
	// Job is the job id; it names the per-job directories.
	Job string

	// Command is the argv of every worker, run on its host.
	Command []string
	// Env returns the "KEY=VALUE" entries of the given rank's worker,
	// appended to its agent's environment.
	Env func(rank int) []string
	// Dir is the workers' working directory on every host; "" means the
	// agent's (the login directory with ssh).
	Dir string
	// GOMAXPROCS sets GOMAXPROCS for the workers from each host's CPUs
	// and ranks, unless set.
	GOMAXPROCS bool

	// SSH is the argv that reaches a host (default ["ssh"]); the
	// launcher appends -o BatchMode=yes -o ConnectTimeout=N -T, the host
	// and the remote command. Hosts for which [IsLocalHost] holds are run
	// with /bin/sh instead.
	SSH []string
	// Agent is the argv running the agent on a host, as [RunAgent]
	// (e.g. ["/opt/fltk/bin/fltk", "agent"]); the preflight runs it with
	// "--check" appended, which must exit 0.
	Agent []string
	// Version, if not empty, must be the version every agent reports in
	// its hello: an fltk of another version on a host fails the job,
	// naming the host, before any rank starts (the protocol and the wire
	// format may differ between versions).
	Version string
	// Copy lists local files shipped to a per-job directory
	// (/tmp/fltk-<job>-XXXXXX) on every host before the job, removed
	// after it. Elements of Agent and Command equal to one of them are
	// replaced by the copy's path.
	Copy []string

	// Iface, if not empty, is resolved by each host's agent to the
	// address its server binds to (see [LookupIface]).
	Iface string
	// Servers, if not nil, makes every agent start a server: given the
	// hosts' addresses, in host order, it returns their server specs
	// (credentials, TLS, settings). The launcher fills in Routes and
	// Peers. Nil: the workers use an existing server named in Env.
	Servers func(addrs []string) ([]ServerSpec, error)
	// URLEnv names the variable set to the host's server URL for the
	// workers, CAEnv the one set to the CA file of a TLS server.
	URLEnv, CAEnv string
	// LinkEnv, if not empty, names a variable set to the host's address
	// (the one its server binds to), where the workers accept direct
	// links from other hosts; with TLS, LinkCertEnv and LinkKeyEnv name
	// the variables set to the host's certificate and key files.
	LinkEnv, LinkCertEnv, LinkKeyEnv string
	// HostEnv, if not empty, names a variable set to the worker's host
	// (its name in Hosts without user@), so that ranks of different
	// hosts tell each other apart even on one machine.
	HostEnv string

	// Stdout, Stderr, Status, Terminal, Width, Signals, Grace,
	// TailLines and KeepGoing are as in [Spec]. Output lines are prefixed
	// "[rank@host] ". With KeepGoing, the workers still running on any
	// host when rank 0 finished get Grace, then are killed.
	KeepGoing bool

	Stdout    io.Writer
	Stderr    io.Writer
	Status    StatusFunc
	Terminal  bool
	Width     func() int
	Signals   <-chan os.Signal
	Grace     time.Duration
	TailLines int

	// ConnectTimeout is ssh's ConnectTimeout (default 10s).
	ConnectTimeout time.Duration
	// StartTimeout bounds the preflight and the agents' start, until
	// every host's workers run (default 60s, plus copying with Copy).
	StartTimeout time.Duration

	// Liveness is how long the launcher and an agent may hear nothing
	// from each other before the other counts as gone (a host or link
	// that went down closes no connection); both ping every Liveness/5.
	// Default 10s.
	Liveness time.Duration

	// Logger receives the launcher's records. Nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with s in one error wrapping
// [ErrInvalidSpec] (or ErrHostfile for a placement problem), and fills
// in defaults.
func (s *HostsSpec) Validate() error {
	var problems []string
	if len(s.Hosts) == 0 {
		problems = append(problems, "no hosts")
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		problems = append(problems, "command must not be empty")
	}
	if len(s.Agent) == 0 || s.Agent[0] == "" {
		problems = append(problems, "agent command must not be empty")
	}
	if s.Grace < 0 || s.TailLines < 0 || s.ConnectTimeout < 0 || s.StartTimeout < 0 || s.Liveness < 0 {
		problems = append(problems, "grace, tail lines and timeouts must be ≥ 0")
	}
	if len(problems) > 0 {
		return &specError{problems: problems}
	}
	if _, err := PlaceRanks(s.NP, s.Hosts); err != nil {
		return err
	}
	if len(s.SSH) == 0 {
		s.SSH = []string{"ssh"}
	}
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	if s.TailLines == 0 {
		s.TailLines = DefaultTailLines
	}
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.StartTimeout == 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.Liveness == 0 {
		s.Liveness = DefaultLiveness
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Stdout == nil {
		s.Stdout = io.Discard
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}
	return nil
}

// RunHosts runs a job across hosts and waits for it, like [Run] does on
// one machine.
//
// First, on every host in parallel, it checks the host: it copies
// s.Copy, then runs the agent with --check. Any failure there is a
// [*HostError] naming the host, and nothing runs anywhere. Then it starts
// one agent per host (over ssh, or locally for localhost) and drives it
// through the agent protocol: resolve the address, start the host's
// server (the first host's, then the others routed to it), start the
// workers, stream their output with "[rank@host] " tags.
//
// It returns nil if every worker exits 0. Otherwise it returns the first
// reason the job was torn down: a [*WorkerError] (with Host set), a
// [*HostError] for a host whose agent failed or whose connection was
// lost, an error wrapping [ErrInterrupted] or ctx.Err(). In every case the
// other hosts' workers are terminated (SIGTERM, SIGKILL after s.Grace,
// by their agents), every agent has exited and every copied directory
// is removed before RunHosts returns.
func RunHosts(ctx context.Context, s HostsSpec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	place, _ := PlaceRanks(s.NP, s.Hosts)
	h := &hostsRun{spec: s, log: s.Logger, rem: remote{ssh: s.SSH, connectTimeout: s.ConnectTimeout}}
	h.out = &output{stdout: s.Stdout, stderr: s.Stderr, terminal: s.Terminal && s.Status != nil, width: s.Width}
	for _, host := range s.Hosts {
		st := &hostState{i: len(h.hosts), name: host.Name, tag: hostTag(host.Name)}
		for rank, name := range place {
			if name == host.Name {
				st.ranks = append(st.ranks, rank)
			}
		}
		if len(st.ranks) > 0 {
			h.hosts = append(h.hosts, st)
		}
	}
	if err := h.preflight(ctx); err != nil {
		return err
	}
	err := h.run(ctx)
	h.removeDirs()
	h.out.clearStatus()
	return err
}

// hostsRun is the state of one RunHosts, owned by its goroutine except
// where noted.
type hostsRun struct {
	spec  HostsSpec
	log   *slog.Logger
	rem   remote
	out   *output
	hosts []*hostState

	events chan hostEvent
	wg     sync.WaitGroup // one reader goroutine per started agent

	servers  []ServerSpec     // from Spec.Servers, by host
	phase    int              // phaseHello … phaseRunning
	cause    error            // first reason to end the job
	later    []*WorkerError   // workers that failed after a worker's failure (cause) stopped the job
	lost     []error          // hosts lost, reported before cause
	gone     []*WorkerError   // workers that failed while the job went on (KeepGoing)
	doneC    <-chan time.Time // KeepGoing: rank 0 finished; when to end the others
	stopping bool             // the job is being torn down
	timers   []*time.Timer
	closeC   <-chan time.Time // when to close every agent's stdin
	killC    <-chan time.Time // when to kill every agent
}

const (
	phaseHello   = iota // init sent, waiting for every hello
	phaseFirst          // start sent to the first host, waiting for its ready
	phaseOthers         // start sent to the others, waiting for every ready
	phaseRunning        // run sent
)

// hostState is one host and its agent.
type hostState struct {
	i     int
	name  string // as in Hosts
	tag   string // name without user@
	ranks []int

	dir   string   // per-job directory made by Copy
	agent []string // agent argv on this host

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *encoder
	stderr *tail // last lines the agent (or ssh) wrote to stderr

	addr       string
	ready      bool
	clusterURL string
	done       bool // "done" received
	gone       bool // the agent process was reaped
	eof        bool // its stdout reached EOF
	lost       bool // reported lost

	// heard and sending are written by the reader goroutine: the unix ns
	// of the agent's last message, and whether the reader waits to hand
	// one over (so the agent is alive even if the launcher is slow).
	heard    atomic.Int64
	sending  atomic.Bool
	heardAny atomic.Bool // the agent has said something (the login is over)
	closed   bool        // its stdin was closed by us
}

// hostEvent is a message from an agent, the end of its stdout, or its
// exit.
type hostEvent struct {
	i    int
	kind int // evMessage, evEOF or evGone
	m    message
	err  error // evEOF: a read or protocol error; evGone: Wait's error
}

const (
	evMessage = iota
	evEOF     // the agent's stdout reached EOF
	evGone    // the agent process was reaped
)

// preflight copies the files and checks every host, in parallel.
func (h *hostsRun) preflight(ctx context.Context) error {
	timeout := h.spec.StartTimeout + h.spec.ConnectTimeout
	if len(h.spec.Copy) > 0 {
		timeout += 10 * time.Minute // copying a binary over a slow link
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A signal during the preflight (a long --copy) cancels it.
	var interrupted os.Signal
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case sig, ok := <-h.spec.Signals:
			if ok {
				interrupted = sig
				cancel()
			}
		case <-stopWatch:
		}
	})
	errs := make([]error, len(h.hosts))
	var wg sync.WaitGroup
	for _, st := range h.hosts {
		wg.Go(func() {
			st.agent = h.spec.Agent
			if len(h.spec.Copy) > 0 {
				dir, err := h.rem.copyFiles(pctx, st.name, h.spec.Job, h.spec.Copy)
				if err != nil {
					errs[st.i] = &HostError{Host: st.tag, Err: err}
					return
				}
				st.dir = dir
				st.agent = copiedArgv(st.agent, h.spec.Copy, dir)
			}
			check := append(slices.Clone(st.agent), "--check")
			out, err := h.rem.run(pctx, st.name, shellJoin(check), nil)
			if err != nil {
				errs[st.i] = &HostError{Host: st.tag, Err: fmt.Errorf("agent check %q: %w", shellJoin(check), err)}
				return
			}
			h.log.Info("host checked", logKeyHost, st.tag, "agent", out)
		})
	}
	wg.Wait()
	close(stopWatch)
	watch.Wait()
	if interrupted != nil {
		h.removeDirs()
		return fmt.Errorf("%w by signal %q (during the host checks)", ErrInterrupted, interrupted)
	}
	if err := errors.Join(errs...); err != nil {
		h.removeDirs()
		return err
	}
	return nil
}

// removeDirs removes the per-job directories, in parallel.
func (h *hostsRun) removeDirs() {
	var wg sync.WaitGroup
	for _, st := range h.hosts {
		if st.dir == "" {
			continue
		}
		wg.Go(func() {
			if err := h.rem.removeDir(context.Background(), st.name, st.dir); err != nil {
				h.log.Warn("removing the job directory failed", logKeyHost, st.tag, "dir", st.dir, logKeyError, err)
				fmt.Fprintf(h.spec.Stderr, "fltk-launch: host %s: removing %s: %v\n", st.tag, st.dir, err)
				return
			}
			st.dir = ""
		})
	}
	wg.Wait()
}

// run starts the agents and drives them until every one has exited.
func (h *hostsRun) run(ctx context.Context) error {
	h.events = make(chan hostEvent)
	for _, st := range h.hosts {
		if err := h.startAgent(st); err != nil {
			h.fail(&HostError{Host: st.tag, Ranks: st.ranks, Err: err})
			break
		}
		_ = st.enc.send(message{Type: msgInit, Job: h.spec.Job, Iface: h.spec.Iface, Liveness: h.spec.Liveness})
	}
	startDeadline := time.NewTimer(h.spec.StartTimeout)
	defer startDeadline.Stop()
	ping := time.NewTicker(max(h.spec.Liveness/5, 10*time.Millisecond))
	defer ping.Stop()
	done := ctx.Done()
	sigs := h.spec.Signals
	for h.anyStarted() {
		select {
		case ev := <-h.events:
			h.handle(ev)
		case <-ping.C:
			h.heartbeat()
		case <-startDeadline.C:
			if h.phase < phaseRunning {
				h.fail(fmt.Errorf("launcher: hosts not ready within %v: %s", h.spec.StartTimeout, h.notReady()))
			}
		case <-done:
			done = nil
			h.fail(fmt.Errorf("launcher: %w", ctx.Err()))
		case sig, ok := <-sigs:
			if !ok {
				sigs = nil
				continue
			}
			h.forward(sig)
		case <-h.doneC:
			h.doneC = nil
			if !h.stopping && !h.allFinished() {
				h.log.Info("rank 0 finished; killing the workers still running", logKeyGrace, h.spec.Grace)
				h.teardown(syscall.SIGKILL)
			}
		case <-h.closeC:
			h.closeC = nil
			h.log.Info("agents did not finish in time: closing their connections")
			h.closeAll()
		case <-h.killC:
			h.killC = nil
			h.log.Info("agents did not exit in time: killing them")
			for _, st := range h.hosts {
				if st.cmd != nil && !st.gone {
					_ = syscall.Kill(-st.cmd.Process.Pid, syscall.SIGKILL)
				}
			}
		}
		if h.allFinished() {
			h.closeAll()
		}
	}
	h.wg.Wait()
	for _, t := range h.timers {
		t.Stop()
	}
	if first, ok := h.cause.(*WorkerError); ok {
		h.cause = rootCause(first, h.later)
	}
	if len(h.lost) > 0 {
		var he *HostError
		if !errors.As(h.cause, &he) {
			h.cause = errors.Join(append(h.lost, h.cause)...)
		}
	}
	if h.cause == nil && len(h.gone) > 0 {
		h.out.writeLine(h.out.stderr, []byte(lostSummary(h.gone)))
	}
	if err := h.out.writeErr(); err != nil {
		h.log.Info("writing worker output failed", logKeyError, err)
	}
	return h.cause
}

// startAgent starts st's agent and the goroutines that read its stdout
// and stderr and wait for it.
//
// The pipes are os.Pipes, not exec's: Wait then returns as soon as the
// agent process exits, even if something it started still holds its
// stdout (a local ssh stand-in whose remote command outlives it), so a
// dead connection is noticed at once. The reader keeps reading until
// every writer is gone.
func (h *hostsRun) startAgent(st *hostState) error {
	cmd := h.rem.command(st.name, "exec "+shellJoin(st.agent))
	var pipes [6]*os.File // stdin r/w, stdout r/w, stderr r/w
	for i := 0; i < len(pipes); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range pipes[:i] {
				f.Close()
			}
			return err
		}
		pipes[i], pipes[i+1] = r, w
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pipes[0], pipes[3], pipes[5]
	err := cmd.Start()
	pipes[0].Close()
	pipes[3].Close()
	pipes[5].Close()
	if err != nil {
		pipes[1].Close()
		pipes[2].Close()
		pipes[4].Close()
		return fmt.Errorf("starting the agent: %w", err)
	}
	stdin, stdout, stderr := pipes[1], pipes[2], pipes[4]
	st.cmd, st.stdin, st.enc = cmd, stdin, &encoder{w: stdin}
	st.heard.Store(time.Now().UnixNano())
	st.stderr = newTail(5)
	h.log.Info("agent started", logKeyHost, st.tag, logKeyPID, cmd.Process.Pid)

	readerDone := make(chan struct{})
	h.wg.Go(func() {
		defer close(readerDone)
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), maxMessage)
		for sc.Scan() {
			st.heard.Store(time.Now().UnixNano())
			st.heardAny.Store(true)
			var m message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				h.events <- hostEvent{i: st.i, kind: evEOF, err: fmt.Errorf("bad agent output %.80q", sc.Bytes())}
				// Stop the agent: its stdout is no longer read.
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
			if m.Type == msgPing {
				continue
			}
			st.sending.Store(true)
			h.events <- hostEvent{i: st.i, m: m}
			st.sending.Store(false)
		}
		h.events <- hostEvent{i: st.i, kind: evEOF, err: sc.Err()}
	})
	h.wg.Go(func() {
		defer stderr.Close()
		lw := &lineWriter{out: h.out, dst: h.spec.Stderr, prefix: "[agent@" + st.tag + "] ", tail: st.stderr}
		_, _ = io.Copy(lw, stderr)
		lw.flush()
	})
	h.wg.Go(func() {
		err := cmd.Wait()
		// Let the reader deliver what the agent wrote before it exited;
		// if something else still holds its stdout, report the exit
		// anyway.
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-readerDone:
		case <-t.C:
		}
		h.events <- hostEvent{i: st.i, kind: evGone, err: err}
	})
	return nil
}

// handle reacts to one event of an agent.
func (h *hostsRun) handle(ev hostEvent) {
	st := h.hosts[ev.i]
	if ev.kind == evEOF {
		st.eof = true
		if ev.err != nil {
			h.log.Info("reading the agent failed", logKeyHost, st.tag, logKeyError, ev.err)
		}
		return
	}
	if ev.kind == evGone {
		st.gone = true
		// Whatever is left of it ends on EOF.
		if st.stdin != nil && !st.closed {
			defer func() { st.closed = true; _ = st.stdin.Close() }()
		}
		h.log.Info("agent exited", logKeyHost, st.tag, logKeyError, ev.err)
		if !st.done && !st.closed && !st.lost {
			err := errors.New("connection lost")
			if ev.err != nil {
				err = fmt.Errorf("connection lost: %w", ev.err)
			}
			if l := st.stderr.get(); len(l) > 0 {
				err = fmt.Errorf("%w (%s)", err, lastLines(joinLines(l), 3))
			}
			h.hostLost(st, err)
		}
		return
	}
	m := ev.m
	switch m.Type {
	case msgHello:
		h.log.Info("agent hello", logKeyHost, st.tag, "addr", m.Addr, "hostname", m.Hostname, "version", m.Version)
		if h.spec.Version != "" && m.Version != h.spec.Version {
			h.fail(&HostError{Host: st.tag, Ranks: st.ranks, Err: fmt.Errorf(
				"its fltk is version %q, fltk-launch's %q: install the same fltk on every host, or use --copy", m.Version, h.spec.Version)})
			return
		}
		st.addr = m.Addr
		if h.phase == phaseHello && !h.stopping && h.all(func(st *hostState) bool { return st.addr != "" }) {
			h.startServers()
		}
	case msgReady:
		st.ready, st.clusterURL = true, m.ClusterURL
		h.log.Info("agent ready", logKeyHost, st.tag, "url", m.URL, "cluster", m.ClusterURL)
		if h.stopping {
			return
		}
		if h.phase == phaseFirst && st.i == 0 {
			h.startOthers()
		}
		if h.phase == phaseOthers && h.all(func(st *hostState) bool { return st.ready }) {
			h.phase = phaseRunning
			for _, st := range h.hosts {
				_ = st.enc.send(message{Type: msgRun})
			}
		}
	case msgLine:
		h.writeLine(st, m)
	case msgExit:
		failed := m.Code != 0 || m.Sig != ""
		h.log.Info("worker exited", logKeyHost, st.tag, logKeyRank, m.Rank, logKeyExitCode, m.Code, logKeySignal, m.Sig)
		switch {
		case !failed && h.spec.KeepGoing && m.Rank == 0 && !h.stopping && h.doneC == nil:
			t := time.NewTimer(h.spec.Grace)
			h.timers = append(h.timers, t)
			h.doneC = t.C
		case failed:
			code := m.Code
			if m.Sig != "" {
				code = -1
			}
			werr := &WorkerError{Rank: m.Rank, Host: st.tag, ExitCode: code, Signal: m.Sig, Tail: m.Tail}
			if !m.Stopping && !h.stopping {
				if h.spec.KeepGoing && m.Rank != 0 {
					h.log.Info("the job goes on without the worker", logKeyError, werr)
					h.gone = append(h.gone, werr)
					return
				}
				h.fail(werr)
			} else if _, ok := h.cause.(*WorkerError); ok {
				// It may have failed on its own, the cause of the
				// first one's failure (see rootCause).
				h.later = append(h.later, werr)
			}
		}
	case msgDone:
		st.done = true
		if m.Error != "" && !h.stopping {
			h.fail(&HostError{Host: st.tag, Ranks: st.ranks, Err: errors.New(m.Error)})
		}
	case msgError:
		h.fail(&HostError{Host: st.tag, Ranks: st.ranks, Usage: m.Usage, Err: errors.New(m.Error)})
	}
}

// hostLost reports st lost and tears the job down.
func (h *hostsRun) hostLost(st *hostState, err error) {
	st.lost = true
	he := &HostError{Host: st.tag, Ranks: st.ranks, Err: err}
	h.lost = append(h.lost, he)
	h.fail(he)
}

// heartbeat pings every agent and gives up on those silent for longer
// than Liveness after their first message: they are reported lost
// (unless they were done) and killed, which ends their connection.
func (h *hostsRun) heartbeat() {
	for _, st := range h.hosts {
		if st.cmd == nil || st.gone {
			continue
		}
		if !st.closed {
			_ = st.enc.send(message{Type: msgPing})
		}
		// Until its first message the agent may still be logging in
		// (StartTimeout bounds that).
		silent := time.Since(time.Unix(0, st.heard.Load()))
		if !st.heardAny.Load() || silent <= h.spec.Liveness || st.sending.Load() {
			continue
		}
		h.log.Info("agent silent: killing it", logKeyHost, st.tag, "silent", silent)
		if !st.done && !st.closed && !st.lost {
			h.hostLost(st, fmt.Errorf("no message for %v: host or link down", silent.Round(time.Second)))
		}
		_ = syscall.Kill(-st.cmd.Process.Pid, syscall.SIGKILL)
		if st.stdin != nil && !st.closed {
			st.closed = true
			_ = st.stdin.Close()
		}
	}
}

// startServers asks the first host to start its server, or, without
// servers, every host to get ready.
func (h *hostsRun) startServers() {
	if h.spec.Servers == nil {
		h.phase = phaseOthers
		for _, st := range h.hosts {
			_ = st.enc.send(message{Type: msgStart, Start: h.startSpec(st, nil)})
		}
		return
	}
	addrs := make([]string, len(h.hosts))
	for i, st := range h.hosts {
		addrs[i] = st.addr
	}
	specs, err := h.spec.Servers(addrs)
	if err == nil && len(specs) != len(h.hosts) {
		err = fmt.Errorf("%d server specs for %d hosts", len(specs), len(h.hosts))
	}
	if err != nil {
		h.fail(fmt.Errorf("launcher: server settings: %w", err))
		return
	}
	h.servers = specs
	h.phase = phaseFirst
	first := specs[0]
	first.Peers = len(h.hosts)
	_ = h.hosts[0].enc.send(message{Type: msgStart, Start: h.startSpec(h.hosts[0], &first)})
}

// startOthers asks the other hosts to start their servers, routed to the
// first one's.
func (h *hostsRun) startOthers() {
	h.phase = phaseOthers
	for _, st := range h.hosts[1:] {
		srv := h.servers[st.i]
		srv.Peers = len(h.hosts)
		srv.Routes = []string{h.hosts[0].clusterURL}
		_ = st.enc.send(message{Type: msgStart, Start: h.startSpec(st, &srv)})
	}
}

// startSpec returns the start message of st.
func (h *hostsRun) startSpec(st *hostState, srv *ServerSpec) *startSpec {
	s := &startSpec{
		WorldSize:  h.spec.NP,
		Ranks:      st.ranks,
		Command:    h.spec.Command,
		Dir:        h.spec.Dir,
		RankEnv:    map[string][]string{},
		Grace:      h.spec.Grace,
		GOMAXPROCS: h.spec.GOMAXPROCS,
		JobDir:     st.dir,
		Server:     srv,
		URLEnv:     h.spec.URLEnv,
		CAEnv:      h.spec.CAEnv,
		LinkEnv:    h.spec.LinkEnv,
		LinkCert:   h.spec.LinkCertEnv,
		LinkKey:    h.spec.LinkKeyEnv,
		KeepGoing:  h.spec.KeepGoing,
	}
	if st.dir != "" {
		s.Command = copiedArgv(s.Command, h.spec.Copy, st.dir)
	}
	for _, r := range st.ranks {
		var env []string
		if h.spec.Env != nil {
			env = h.spec.Env(r)
		}
		if h.spec.HostEnv != "" {
			env = append(env, h.spec.HostEnv+"="+st.tag)
		}
		s.RankEnv[strconv.Itoa(r)] = env
	}
	return s
}

// writeLine writes one output line of a worker, tagged.
func (h *hostsRun) writeLine(st *hostState, m message) {
	if !m.Stderr && h.spec.Status != nil {
		status, hide := h.spec.Status(m.Rank, []byte(m.Line))
		if status != nil {
			h.out.setStatus(status, hide)
		}
		if hide {
			return
		}
	}
	prefix := "[" + strconv.Itoa(m.Rank) + "@" + st.tag + "] "
	b := make([]byte, 0, len(prefix)+len(m.Line)+1)
	b = append(b, prefix...)
	b = append(b, m.Line...)
	dst := h.out.stdout
	if m.Stderr {
		dst = h.out.stderr
	}
	h.out.writeLine(dst, append(b, '\n'))
}

// fail records cause and tears the job down.
func (h *hostsRun) fail(cause error) {
	if h.cause == nil {
		h.cause = cause
		h.log.Info("job failed", logKeyError, cause)
	}
	if !h.stopping {
		h.teardown(syscall.SIGTERM)
	}
}

// forward forwards a signal the launcher received to every host.
func (h *hostsRun) forward(sig os.Signal) {
	if h.cause == nil {
		h.cause = fmt.Errorf("%w by signal %q", ErrInterrupted, sig)
	}
	ssig, ok := sig.(syscall.Signal)
	if !ok {
		ssig = syscall.SIGTERM
	}
	h.log.Info("forwarding signal", logKeySignal, ssig.String())
	h.teardown(ssig)
}

// teardown signals every host's workers (or, before they run, ends the
// agents) and arms the deadlines after which agents are disconnected and
// then killed.
func (h *hostsRun) teardown(sig syscall.Signal) {
	wasStopping := len(h.timers) > 0
	h.stopping = true
	if h.phase == phaseRunning {
		for _, st := range h.hosts {
			if st.enc != nil && !st.gone && !st.done {
				_ = st.enc.send(message{Type: msgSignal, Signal: int(sig)})
			}
		}
	} else {
		h.closeAll()
	}
	if wasStopping {
		return
	}
	// The agents kill their workers after Grace; give them as long
	// again to report, then disconnect them (they kill everything on
	// EOF), then kill them.
	closeT := time.NewTimer(2*h.spec.Grace + h.spec.ConnectTimeout)
	killT := time.NewTimer(3*h.spec.Grace + 2*h.spec.ConnectTimeout)
	h.timers = append(h.timers, closeT, killT)
	h.closeC, h.killC = closeT.C, killT.C
}

// closeAll closes every agent's stdin: an agent then terminates its
// workers, stops its server, cleans up and exits.
func (h *hostsRun) closeAll() {
	for _, st := range h.hosts {
		if st.stdin != nil && !st.closed {
			st.closed = true
			_ = st.stdin.Close()
		}
	}
}

func (h *hostsRun) anyStarted() bool {
	return slices.ContainsFunc(h.hosts, func(st *hostState) bool { return st.cmd != nil && (!st.gone || !st.eof) })
}

// allFinished reports whether every agent reported done or is gone.
func (h *hostsRun) allFinished() bool {
	return h.all(func(st *hostState) bool { return st.done || st.gone || st.cmd == nil })
}

func (h *hostsRun) all(f func(st *hostState) bool) bool {
	for _, st := range h.hosts {
		if !f(st) {
			return false
		}
	}
	return true
}

// notReady names the hosts that are not ready.
func (h *hostsRun) notReady() string {
	var names []string
	for _, st := range h.hosts {
		if !st.ready {
			names = append(names, st.tag)
		}
	}
	return fmt.Sprint(names)
}

func joinLines(l []string) string {
	var b []byte
	for _, s := range l {
		b = append(b, s...)
		b = append(b, '\n')
	}
	return string(b)
}
