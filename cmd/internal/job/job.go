// Package job wires the pieces of an fltk job together for the commands:
// [Launch] starts the embedded NATS server and the worker processes (what
// fltk-launch and fltk spawn do); [Join] turns a worker's environment and
// config into a World and a Comm.
package job

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/runtime"
)

// ErrUsage marks errors in how a command was called (exit code 2).
var ErrUsage = errors.New("usage")

// LaunchOptions describe a local job.
type LaunchOptions struct {
	NP      int
	Config  *configs.Config
	JobID   string   // "" → "<job.name>-<random>"
	Command []string // argv of each worker
	Host    string   // the embedded server's listen address, default 127.0.0.1
	Port    int      // 0 = a free port
	Stdout  io.Writer
	Stderr  io.Writer
	// Terminal says Stdout is a terminal: a status line ([NewStatus])
	// stays pinned below the output, clipped to Width (nil: 80 columns),
	// and the ranks print live lines for it ([LiveEnv]).
	Terminal bool
	Width    func() int
	Signals  <-chan os.Signal
	Grace    time.Duration
	// Restart is how many times a failed worker other than rank 0 is
	// started again (it rejoins the job; fltk-launch --restart), local
	// jobs of runtime.on_rank_failure = "continue" only.
	Restart int
	Logger  *slog.Logger
	// NATS, if not empty, is an existing NATS server or cluster (a comma
	// list of URLs) the workers use instead of an embedded server; Creds
	// is the .creds file they authenticate with ("" for none).
	NATS  string
	Creds string
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// NewJobID returns name followed by a random suffix, the name cut so that
// the id stays within the 64 characters of a job id.
func NewJobID(name string) string {
	if len(name) > 64-9 {
		name = name[:64-9]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

// Launch starts an embedded NATS server with a fresh token, runs NP workers
// with the FLTK_* environment, and stops the server when they are done.
func Launch(ctx context.Context, o LaunchOptions) error {
	if o.NP < 1 {
		return fmt.Errorf("%w: -np must be ≥ 1, got %d", ErrUsage, o.NP)
	}
	if o.Logger == nil {
		o.Logger = discard()
	}
	if o.JobID == "" {
		o.JobID = NewJobID(o.Config.Job.Name)
	}
	if o.NATS != "" {
		return launchExisting(ctx, o)
	}
	sc := ServerConfig(o.Config)
	sc.Host, sc.Port, sc.Logger = o.Host, o.Port, o.Logger
	srv, err := runtime.StartServer(sc)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	o.Logger.Info("job started", "job", o.JobID, "np", o.NP, "nats", srv.URL())
	// Workers unlink their shared-memory segments once mapped; remove what
	// a worker that crashed before that left behind (this job's only).
	defer func() {
		leftovers, _ := filepath.Glob(filepath.Join("/dev/shm", "fltk-"+o.JobID+"-r*"))
		for _, f := range leftovers {
			_ = os.Remove(f)
		}
	}()
	return runLocal(ctx, o, srv.URL(), srv.Token(), workerEnv(o.NP))
}

// runLocal runs o's workers on this machine, connected to the NATS
// server(s) at url with token, each with env added to the FLTK_* variables.
func runLocal(ctx context.Context, o LaunchOptions, url, token string, env []string) error {
	return launcher.Run(ctx, launcher.Spec{
		NP:      o.NP,
		Command: o.Command,
		Env: func(rank int) []string {
			return append(append(runtime.Env(rank, o.NP, url, o.JobID, token), env...), liveEnv(o.Terminal)...)
		},
		Stdout:    o.Stdout,
		Stderr:    o.Stderr,
		Status:    NewStatus(),
		KeepGoing: Elastic(o.Config),
		Restart:   o.Restart,
		// The new process joins the running world and waits until rank
		// 0 finds its predecessor down.
		RestartEnv: []string{runtime.EnvRejoin + "=1"},
		Terminal:   o.Terminal,
		Width:      o.Width,
		Signals:    o.Signals,
		Grace:      o.Grace,
		Logger:     o.Logger,
	})
}

// launchExisting runs a local job on the existing NATS cluster o.NATS,
// passing on $FLTK_TOKEN (if the cluster uses token authentication).
func launchExisting(ctx context.Context, o LaunchOptions) error {
	if err := natsURLs(o.NATS); err != nil {
		return err
	}
	if o.Creds != "" {
		if err := checkCreds(o.Creds); err != nil {
			return err
		}
	}
	o.Logger.Info("job started", "job", o.JobID, "np", o.NP, "nats", o.NATS)
	env := workerEnv(o.NP)
	if o.Creds != "" {
		env = append(env, runtime.EnvNATSCreds+"="+o.Creds)
	}
	return runLocal(ctx, o, o.NATS, os.Getenv(runtime.EnvToken), env)
}

// workerEnv returns GOMAXPROCS for np workers sharing this machine's CPUs
// with the server, unless the user set it: with more ranks than cores, one
// OS thread per worker avoids most cross-thread wake-ups (fltk bench: the
// barrier and broadcast at np=5 on 2 cores).
func workerEnv(np int) []string {
	if _, ok := os.LookupEnv("GOMAXPROCS"); ok {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(max(1, goruntime.NumCPU()/np))}
}

// ServerConfig returns the embedded server settings of c with a fresh token.
func ServerConfig(c *configs.Config) runtime.ServerConfig {
	sc := runtime.DefaultServerConfig()
	sc.MaxPayload = int32(c.Runtime.MaxPayload)
	sc.MaxPending = c.Runtime.MaxPending
	sc.WriteDeadline = c.Runtime.WriteDeadline.Duration
	return sc
}

// RuntimeConfig applies c's timings to rc.
func RuntimeConfig(c *configs.Config, rc runtime.Config) runtime.Config {
	rc.RendezvousTimeout = c.Runtime.RendezvousTimeout.Duration
	rc.HeartbeatInterval = c.Runtime.HeartbeatInterval.Duration
	rc.LivenessTimeout = c.Runtime.LivenessTimeout.Duration
	rc.SharedMemory = c.Runtime.SharedMemory
	rc.SharedBarrier = c.Runtime.SharedBarrier
	return rc
}

// CommConfig returns the collective settings of c.
func CommConfig(c *configs.Config, jobID string, log *slog.Logger) (collective.Config, error) {
	codec, err := collective.ParseCodec(c.Collective.Codec)
	if err != nil {
		return collective.Config{}, err
	}
	return collective.Config{
		JobID:          jobID,
		ChunkBytes:     c.Collective.ChunkBytes,
		Window:         c.Collective.Window,
		Codec:          codec,
		ZstdLevel:      c.Collective.ZstdLevel,
		OpTimeout:      c.Runtime.OpTimeout.Duration,
		PollFor:        pollFor(c.Collective.PollFor.Duration),
		ExactPartials:  c.Collective.ExactPartials,
		PipeChunkBytes: c.Collective.PipelineChunkBytes,
		SharedBytes:    sharedBytes(c.Collective.SharedBytes),
		Logger:         log,
	}, nil
}

// Join joins the world described by rc (with c's timings applied) and
// returns it with a Comm over it. Close the Comm, then the World.
func Join(ctx context.Context, c *configs.Config, rc runtime.Config) (*runtime.World, *collective.Comm, error) {
	rc = RuntimeConfig(c, rc)
	w, err := runtime.Join(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	cc, err := CommConfig(c, rc.JobID, rc.Logger)
	if err != nil {
		_ = w.Close()
		return nil, nil, err
	}
	var comm *collective.Comm
	if w.Rejoined() && !Elastic(c) {
		_ = w.Close()
		return nil, nil, fmt.Errorf("job: rank %d joined the running job %q for a lost rank, but only a training job with runtime.on_rank_failure = \"continue\" takes ranks back", w.Rank(), rc.JobID)
	}
	if Elastic(c) {
		// The world may shrink: every epoch's Comm shares the World
		// through a Mux (see fed.Membership).
		var mux *collective.Mux
		if mux, err = collective.NewMux(w, rc.JobID, rc.Logger); err == nil {
			all := make([]int, w.Size())
			for r := range all {
				all[r] = r
			}
			if w.Rejoined() {
				// It waits in the Mux's lobby until rank 0 takes it
				// back (fed.Membership.Rejoin).
				comm, err = mux.Lobby(cc)
			} else {
				comm, err = mux.NewComm(0, all, cc)
			}
		}
	} else {
		comm, err = collective.New(w, cc)
	}
	if err != nil {
		_ = w.Close()
		return nil, nil, err
	}
	return w, comm, nil
}

// Elastic reports whether c's job goes on when worker ranks are lost: a
// training job with runtime.on_rank_failure = "continue".
func Elastic(c *configs.Config) bool {
	return c.Job.Task == "train" && c.Runtime.OnRankFailure == "continue"
}

// liveEnv returns LiveEnv=1 when a terminal shows the status line.
func liveEnv(terminal bool) []string {
	if !terminal {
		return nil
	}
	return []string{LiveEnv + "=1"}
}

// sharedBytes maps collective.shared_bytes to
// collective.Config.SharedBytes, where 0 means the default and a negative
// value turns the shared schedules off.
func sharedBytes(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// pollFor maps collective.poll_for to collective.Config.PollFor, where 0
// means the default and a negative value never polls.
func pollFor(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// LogRejected logs, when there are any, the frames comm dropped
// ([collective.Comm.Rejected]: another job's, replayed, corrupt) as one
// warning naming the rank: a job calls it when it ends, so that a
// misrouted or replayed stream shows up even when every call succeeded.
func LogRejected(log *slog.Logger, comm *collective.Comm) {
	r := comm.Rejected()
	if r.Total() == 0 {
		return
	}
	log.Warn("frames rejected", "rank", comm.Rank(), "foreign", r.Foreign, "replayed", r.Replayed, "corrupt", r.Corrupt)
}

// WatchConnection returns a context that is cancelled, with the
// runtime's [runtime.ErrDisconnected] error as its cause, once w has lost
// its connection to the job's NATS server: the launcher that embeds the
// server was killed, or the network went. A rank deep in local training
// then stops at its next batch instead of at its next collective, so it
// exits within the liveness bound. It checks every interval (the
// heartbeat interval); stop ends the watch and releases the context.
func WatchConnection(ctx context.Context, w *runtime.World, interval time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(interval, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err, ok := w.Down()[-1]; ok {
					cancel(err)
					return
				}
			}
		}
	})
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}
