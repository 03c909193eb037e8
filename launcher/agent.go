package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// AgentServer is the server an agent runs for its host, started by
// [AgentConfig.StartServer].
type AgentServer interface {
	// ClientURL is the URL the host's workers connect to.
	ClientURL() string
	// ClusterURL is the URL other nodes route to.
	ClusterURL() string
	// WaitRoutes waits until the server has routes to n other nodes.
	WaitRoutes(ctx context.Context, n int) error
	// Shutdown stops the server and waits for it.
	Shutdown()
}

// AgentConfig configures [RunAgent].
type AgentConfig struct {
	// In carries the launcher's messages (the agent's stdin); Out the
	// agent's (its stdout).
	In  io.Reader
	Out io.Writer

	// StartServer starts the host's server. It may be nil when the
	// launcher never asks for one (jobs on an existing NATS cluster).
	StartServer func(ctx context.Context, s ServerSpec) (AgentServer, error)

	// Version is reported in the agent's hello.
	Version string

	// Lookup resolves --iface; nil means [LookupIface].
	Lookup func(spec string) (netip.Addr, error)

	// Logger receives the agent's own records. Nil discards them.
	Logger *slog.Logger
}

// RunAgent is the agent of one host of a multi-host job: the hidden
// "fltk agent" command the launcher starts over ssh, one per host, like
// OpenMPI's orted. It speaks the protocol of proto.go over cfg.In and
// cfg.Out: it resolves the host's address, starts the host's server,
// runs the host's workers and streams their output and exits back.
//
// RunAgent returns when cfg.In reaches EOF, always after it has
// terminated its workers (SIGTERM, then SIGKILL after the job's grace
// period), stopped its server and removed its files. Cancelling ctx
// (the agent itself got SIGTERM, say) terminates the workers like EOF
// does, then returns without waiting for EOF (leaving a goroutine
// blocked reading cfg.In: the process is expected to exit). It returns
// an error only for a broken protocol stream.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Lookup == nil {
		cfg.Lookup = LookupIface
	}
	a := &agent{cfg: cfg, log: cfg.Logger, enc: &encoder{w: cfg.Out}, lastHeard: new(atomic.Int64)}
	a.lastHeard.Store(time.Now().UnixNano())
	raw := make(chan message, 16)
	msgs := make(chan message, 16)
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() { readErr = readMessages(cfg.In, raw) })
	// Note every message when it arrives, even while the agent is busy,
	// and drop the pings.
	wg.Go(func() {
		defer close(msgs)
		for m := range raw {
			a.lastHeard.Store(time.Now().UnixNano())
			if m.Type != msgPing {
				msgs <- m
			}
		}
	})
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a.cancel = cancel
	stopPing := make(chan struct{})
	var pingWG sync.WaitGroup
	a.startPing = func(liveness time.Duration) {
		pingWG.Go(func() { a.heartbeat(ctx, liveness, stopPing) })
	}
	defer func() {
		close(stopPing)
		pingWG.Wait()
	}()
	a.serve(ctx, msgs)
	for {
		select {
		case _, ok := <-msgs:
			if ok {
				continue // drain until EOF, so that the reader can finish
			}
			wg.Wait()
			a.cleanup()
			return readErr
		case <-ctx.Done():
			// The agent was told to quit, or the launcher fell silent,
			// without EOF: clean up and leave the reader, blocked on In,
			// to the process's exit.
			a.log.Info("agent quits without EOF", logKeyError, context.Cause(ctx))
			a.cleanup()
			return nil
		}
	}
}

// agent is the state of one RunAgent, owned by its goroutine.
type agent struct {
	cfg AgentConfig
	log *slog.Logger
	enc *encoder

	job    string
	addr   string
	start  *startSpec
	srv    AgentServer
	tmpDir string // per-job files of this agent (the CA)
	caFile string
	// certFile and keyFile: the host's certificate for direct links (TLS).
	certFile, keyFile string

	lastHeard *atomic.Int64                // unix ns of the launcher's last message
	cancel    context.CancelCauseFunc      // ends the agent's context
	startPing func(liveness time.Duration) // starts heartbeat, once, at init
}

// send sends m to the launcher. A failed write means the launcher (or
// the connection) is gone: it ends the agent's context, which
// terminates the workers, as EOF does.
func (a *agent) send(m message) {
	if err := a.enc.send(m); err != nil && a.cancel != nil {
		a.cancel(fmt.Errorf("launcher: writing to the launcher: %w", err))
	}
}

// errLauncherSilent ends an agent whose launcher fell silent.
var errLauncherSilent = errors.New("launcher: no message from the launcher within the liveness timeout")

// heartbeat pings the launcher every liveness/5 and ends the agent's
// context when the launcher was silent for liveness.
func (a *agent) heartbeat(ctx context.Context, liveness time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(max(liveness/5, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			a.send(message{Type: msgPing})
			if time.Since(time.Unix(0, a.lastHeard.Load())) > liveness {
				a.log.Info("launcher silent: terminating", logKeyGrace, liveness)
				a.cancel(errLauncherSilent)
				return
			}
		}
	}
}

// serve runs the protocol until EOF on msgs or until the workers ended
// and were reported. It returns with msgs possibly still open.
func (a *agent) serve(ctx context.Context, msgs <-chan message) {
	for {
		var m message
		var ok bool
		select {
		case m, ok = <-msgs:
		case <-ctx.Done():
			return
		}
		if !ok {
			return
		}
		switch m.Type {
		case msgInit:
			a.init(m)
		case msgStart:
			a.startServer(ctx, m)
		case msgRun:
			if a.start == nil {
				a.fail(errors.New("run before start"), false)
				continue
			}
			a.run(ctx, msgs)
			return
		case msgSignal:
			// No workers yet: nothing to forward to.
		default:
			a.fail(fmt.Errorf("unexpected %q message", m.Type), false)
		}
	}
}

// fail reports err to the launcher.
func (a *agent) fail(err error, usage bool) {
	a.log.Info("agent error", logKeyError, err)
	a.send(message{Type: msgError, Error: err.Error(), Usage: usage})
}

// init resolves the host's address and says hello.
func (a *agent) init(m message) {
	a.job = m.Job
	if m.Liveness > 0 && a.startPing != nil {
		a.startPing(m.Liveness)
		a.startPing = nil
	}
	hostname, _ := os.Hostname()
	addr, err := agentAddr(m.Iface, a.cfg.Lookup)
	if err != nil {
		a.fail(err, true)
		return
	}
	a.addr = addr
	a.send(message{Type: msgHello, Addr: addr, Hostname: hostname, Version: a.cfg.Version})
}

// agentAddr returns the address the host's server binds to: the one
// --iface selects; else the local address of the ssh connection that
// started the agent (SSH_CONNECTION), the address the launcher reached
// this host by; else loopback.
func agentAddr(iface string, lookup func(string) (netip.Addr, error)) (string, error) {
	if iface != "" {
		a, err := lookup(iface)
		if err != nil {
			return "", fmt.Errorf("--iface: %w", err)
		}
		return a.String(), nil
	}
	if f := strings.Fields(os.Getenv("SSH_CONNECTION")); len(f) == 4 {
		if a, err := netip.ParseAddr(f[2]); err == nil {
			return a.Unmap().String(), nil
		}
	}
	return "127.0.0.1", nil
}

// startServer handles the start message: it writes the job's files and
// starts the host's server, then reports ready.
func (a *agent) startServer(ctx context.Context, m message) {
	if m.Start == nil || len(m.Start.Command) == 0 || len(m.Start.Ranks) == 0 {
		a.fail(errors.New("start message without command or ranks"), false)
		return
	}
	a.start = m.Start
	if s := m.Start.Server; s != nil && len(s.CAPEM) > 0 {
		dir, err := os.MkdirTemp("", "fltk-"+safeName(a.job)+"-agent-")
		if err != nil {
			a.fail(fmt.Errorf("job directory: %w", err), false)
			return
		}
		a.tmpDir = dir
		a.caFile = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(a.caFile, s.CAPEM, 0o600); err != nil {
			a.fail(fmt.Errorf("writing the CA: %w", err), false)
			return
		}
		if m.Start.LinkCert != "" && len(s.CertPEM) > 0 {
			// The workers' direct links present the host's certificate.
			a.certFile, a.keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			for _, f := range []struct {
				path string
				b    []byte
			}{{a.certFile, s.CertPEM}, {a.keyFile, s.KeyPEM}} {
				if err := os.WriteFile(f.path, f.b, 0o600); err != nil {
					a.fail(fmt.Errorf("writing the host's certificate: %w", err), false)
					return
				}
			}
		}
	}
	ready := message{Type: msgReady}
	if s := m.Start.Server; s != nil {
		if a.cfg.StartServer == nil {
			a.fail(errors.New("this agent cannot start servers"), false)
			return
		}
		srv, err := a.cfg.StartServer(ctx, *s)
		if err != nil {
			a.fail(fmt.Errorf("starting the server on %s: %w", s.Host, err), false)
			return
		}
		a.srv = srv
		ready.URL, ready.ClusterURL = srv.ClientURL(), srv.ClusterURL()
	}
	a.send(ready)
}

// run starts the workers and waits for them, forwarding signals from
// msgs; EOF on msgs or ctx terminates them. It reports done.
func (a *agent) run(ctx context.Context, msgs <-chan message) {
	s := a.start
	if a.srv != nil && s.Server.Peers > 1 {
		if err := a.srv.WaitRoutes(ctx, s.Server.Peers-1); err != nil {
			a.fail(fmt.Errorf("server routes: %w", err), false)
			a.send(message{Type: msgDone, Error: err.Error()})
			return
		}
	}
	// The server's entries come last: they win over the launcher's.
	var srvEnv []string
	if a.srv != nil && s.URLEnv != "" {
		srvEnv = append(srvEnv, s.URLEnv+"="+a.srv.ClientURL())
	}
	if a.caFile != "" && s.CAEnv != "" {
		srvEnv = append(srvEnv, s.CAEnv+"="+a.caFile)
	}
	if a.srv != nil && s.LinkEnv != "" {
		srvEnv = append(srvEnv, s.LinkEnv+"="+a.addr)
		if a.certFile != "" {
			srvEnv = append(srvEnv, s.LinkCert+"="+a.certFile, s.LinkKey+"="+a.keyFile)
		}
	}
	env := slices.Clone(s.Env)
	if s.GOMAXPROCS && !hasEnv(os.Environ(), "GOMAXPROCS") && !hasEnv(env, "GOMAXPROCS") {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(max(1, goruntime.NumCPU()/len(s.Ranks))))
	}
	spec := Spec{
		NP:      len(s.Ranks),
		Command: s.Command,
		Dir:     s.Dir,
		Env: func(rank int) []string {
			e := append(slices.Clip(env), s.RankEnv[strconv.Itoa(rank)]...)
			return append(e, srvEnv...)
		},
		Grace:     s.Grace,
		Logger:    a.log,
		KeepGoing: s.KeepGoing,
	}
	if err := spec.Validate(); err != nil {
		a.fail(err, false)
		a.send(message{Type: msgDone, Error: err.Error()})
		return
	}
	sigs := make(chan os.Signal, 4)
	spec.Signals = sigs
	host := &hostRanks{
		ranks: s.Ranks,
		line: func(rank int, stderr bool, line []byte) {
			a.send(message{Type: msgLine, Rank: rank, Stderr: stderr, Line: string(line)})
		},
		exited: func(st exitStatus, stopping bool) {
			m := message{Type: msgExit, Rank: st.rank, Stopping: stopping}
			switch {
			case st.state == nil:
				m.Code = -1
				m.Sig = "lost"
			default:
				m.Code = st.state.ExitCode()
				if ws, ok := st.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					m.Sig = ws.Signal().String()
				}
			}
			if !st.success() {
				m.Tail = st.tail
			}
			a.send(m)
		},
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- newRunner(spec, host).run(rctx) })
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				a.log.Info("launcher gone: terminating workers")
				cancel()
				continue
			}
			if m.Type == msgSignal && m.Signal > 0 {
				sigs <- syscall.Signal(m.Signal)
			}
		case err := <-errc:
			wg.Wait()
			done := message{Type: msgDone}
			if err != nil {
				done.Error = err.Error()
			}
			a.send(done)
			return
		}
	}
}

// cleanup stops the server and removes the agent's files.
func (a *agent) cleanup() {
	if a.srv != nil {
		a.srv.Shutdown()
	}
	if a.tmpDir != "" {
		_ = os.RemoveAll(a.tmpDir)
	}
	if a.start != nil && isJobDir(a.start.JobDir) {
		_ = os.RemoveAll(a.start.JobDir)
	}
}

// isJobDir reports whether dir is a directory --copy made: the agent
// removes nothing else.
func isJobDir(dir string) bool {
	return dir != "" && filepath.IsAbs(dir) && strings.HasPrefix(filepath.Base(dir), "fltk-") &&
		filepath.Clean(dir) == dir && dir != "/"
}

// safeName keeps the characters of s that are safe in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if isHostRune(r) {
			return r
		}
		return '_'
	}, s)
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}
