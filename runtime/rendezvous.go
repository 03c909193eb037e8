package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// hello is what a rank tells rank 0 when it arrives.
type hello struct {
	Rank      int    `json:"rank"`
	WorldSize int    `json:"world_size"`
	Nonce     string `json:"nonce"` // tells two processes claiming one rank apart
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	// Link is the rank's direct-link listener, host:port ("" = none).
	Link string `json:"link,omitempty"`
	// Rejoin: a process started for a lost rank (Config.Rejoin) that waits
	// while rank 0 still counts the rank's old process alive.
	Rejoin bool `json:"rejoin,omitempty"`
}

func (h hello) who() string { return fmt.Sprintf("pid %d on %s", h.PID, h.Host) }

// verdict is rank 0's answer to a hello (Error empty: welcome) and, on
// rdv.ready, the end of the rendezvous.
type verdict struct {
	Error   string   `json:"error,omitempty"`
	Missing []int    `json:"missing,omitempty"`
	Hosts   []string `json:"hosts,omitempty"` // on rdv.ready: the host of every rank
	Links   []string `json:"links,omitempty"` // with Hosts: every rank's direct-link listener
	Final   bool     `json:"final,omitempty"` // the end of the rendezvous (always on rdv.ready)
	// Rejoin: the answer to a process that joins the running world for a
	// rank that is down (with Final and Hosts).
	Rejoin bool `json:"rejoin,omitempty"`
	// Retry: the error may pass (a rank still counted alive); a rejoining
	// process asks again.
	Retry bool `json:"retry,omitempty"`
}

// hostName is this process's host identity: $FLTK_HOST, else the hostname.
func hostName() string {
	if h := os.Getenv(EnvHost); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

func newHello(rank, size int, host string) hello {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		host = hostName()
	}
	return hello{Rank: rank, WorldSize: size, Nonce: hex.EncodeToString(b[:]), Host: host, PID: os.Getpid()}
}

func (w *World) rendezvous(ctx context.Context, me hello) error {
	if w.rank == 0 {
		return w.rendezvousRoot(ctx, me)
	}
	return w.rendezvousWorker(ctx, me)
}

func (w *World) rdvError(missing []int, format string, args ...any) error {
	return &RendezvousError{Job: w.cfg.JobID, Missing: missing, Reason: fmt.Sprintf(format, args...)}
}

// rendezvousRoot runs on rank 0: it collects a hello from every other rank,
// then publishes the verdict on rdv.ready.
func (w *World) rendezvousRoot(ctx context.Context, me hello) error {
	// Is there another rank 0? Answer claims first, then claim ourselves.
	claims, err := w.nc.Subscribe(w.prefix+".rdv.root", func(m *nats.Msg) {
		b, _ := json.Marshal(me)
		_ = m.Respond(b)
	})
	if err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	keepClaims := false // answer a second rank 0 for the world's lifetime
	defer func() {
		if !keepClaims {
			_ = claims.Unsubscribe()
		}
	}()
	if err := w.nc.Flush(); err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	if reply, err := w.nc.Request(w.prefix+".rdv.root", nil, 200*time.Millisecond); err == nil {
		var other hello
		_ = json.Unmarshal(reply.Data, &other)
		return w.rdvError(nil, "rank 0 is claimed twice: by %s and by %s", me.who(), other.who())
	}

	var (
		mu      sync.Mutex // guards arrived, failed and final
		arrived = map[int]hello{0: me}
		failed  string
		final   *verdict // once published
		full    = make(chan struct{})
	)
	hellos, err := w.nc.Subscribe(w.prefix+".rdv.hello", func(m *nats.Msg) {
		var h hello
		v := verdict{}
		mu.Lock()
		switch {
		case final != nil:
			// A worker that missed the verdict asks again (see interest.go).
			parsed := json.Unmarshal(m.Data, &h) == nil
			prev, dup := arrived[h.Rank]
			switch {
			case final.Error != "" || parsed && dup && prev.Nonce == h.Nonce:
				v = *final
			case parsed && dup:
				v = w.rejoinVerdict(final, prev, h)
				if v.Rejoin {
					arrived[h.Rank] = h
				}
			default:
				v.Error = "the world is already complete"
			}
		case json.Unmarshal(m.Data, &h) != nil:
			v.Error = "malformed hello"
		case h.WorldSize != w.size:
			v.Error = fmt.Sprintf("world size mismatch: rank %d (%s) says %d ranks, rank 0 (%s) says %d", h.Rank, h.who(), h.WorldSize, me.who(), w.size)
		case h.Rank <= 0 || h.Rank >= w.size:
			v.Error = fmt.Sprintf("rank %d (%s) is out of range [1, %d)", h.Rank, h.who(), w.size)
		default:
			prev, dup := arrived[h.Rank]
			if dup && prev.Nonce != h.Nonce {
				v.Error = fmt.Sprintf("rank %d is claimed twice: by %s and by %s", h.Rank, prev.who(), h.who())
			} else if !dup {
				arrived[h.Rank] = h
				if len(arrived) == w.size && failed == "" {
					close(full)
				}
			}
		}
		if v.Error != "" && failed == "" && final == nil {
			failed = v.Error
			if len(arrived) < w.size {
				close(full)
			}
		}
		mu.Unlock()
		b, _ := json.Marshal(v)
		_ = m.Respond(b)
	})
	if err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	keep := false // the answers to late hellos, for the world's lifetime
	defer func() {
		if !keep {
			_ = hellos.Unsubscribe()
		}
	}()
	if w.size == 1 {
		w.setHosts([]string{me.Host})
		keepClaims = true
		w.subs = append(w.subs, claims)
		return nil
	}
	v := verdict{Final: true}
	select {
	case <-full:
		mu.Lock()
		v.Error = failed
		if failed == "" {
			v.Hosts = make([]string, w.size)
			v.Links = make([]string, w.size)
			for r, h := range arrived {
				v.Hosts[r] = h.Host
				v.Links[r] = h.Link
			}
		}
		mu.Unlock()
	case <-ctx.Done():
		mu.Lock()
		for r := range w.size {
			if _, ok := arrived[r]; !ok {
				v.Missing = append(v.Missing, r)
			}
		}
		mu.Unlock()
		if errors.Is(ctx.Err(), context.Canceled) {
			v.Error = fmt.Sprintf("rank 0 (%s) was interrupted while waiting for ranks %v (world size %d)", me.who(), v.Missing, w.size)
		} else {
			v.Error = fmt.Sprintf("ranks %v never arrived within %v (world size %d)", v.Missing, w.cfg.RendezvousTimeout, w.size)
		}
	}
	mu.Lock()
	final = &v
	mu.Unlock()
	b, _ := json.Marshal(v)
	if err := w.nc.Publish(w.prefix+".rdv.ready", b); err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	if err := w.nc.Flush(); err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	if v.Error != "" {
		return w.rdvError(v.Missing, "%s", v.Error)
	}
	w.setHosts(v.Hosts)
	w.linkRoster = v.Links
	keep, keepClaims = true, true
	w.subs = append(w.subs, hellos, claims)
	return nil
}

// rejoinVerdict answers h, a process claiming rank h.Rank of the running
// world (final is the rendezvous' verdict, prev the rank's process so
// far): welcome when the rank is down here (dead, left or left out of a
// shrunk world), else refused, naming the live process. It runs on rank 0.
func (w *World) rejoinVerdict(final *verdict, prev, h hello) verdict {
	var v verdict
	w.mu.Lock()
	_, down := w.down[h.Rank]
	w.mu.Unlock()
	switch {
	case h.WorldSize != w.size:
		v.Error = fmt.Sprintf("world size mismatch: rank %d (%s) says %d ranks, the running world has %d", h.Rank, h.who(), h.WorldSize, w.size)
	case !down:
		// A second process for a live rank: refuse it, so that it fails
		// at once instead of waiting (a rejoining one asks again until
		// the old process is found down).
		v.Error = fmt.Sprintf("rank %d already joined this job (from %s) and is alive; %s claims it again", h.Rank, prev.who(), h.who())
		v.Retry = h.Rejoin
	case final.Hosts[h.Rank] != h.Host:
		v.Error = fmt.Sprintf("rank %d rejoins from host %q, but it was on %q", h.Rank, h.Host, final.Hosts[h.Rank])
	default:
		v = verdict{Final: true, Rejoin: true, Hosts: final.Hosts}
		w.mu.Lock()
		w.accepted[h.Rank] = true
		w.mu.Unlock()
		w.log.Info("rank rejoins", LogKeyPeer, h.Rank, "process", h.who())
	}
	return v
}

// setHosts numbers the hosts of the roster by first appearance in rank
// order.
func (w *World) setHosts(roster []string) {
	w.hostOf = make([]int, len(roster))
	idx := map[string]int{}
	for r, h := range roster {
		i, ok := idx[h]
		if !ok {
			i = len(w.hosts)
			idx[h] = i
			w.hosts = append(w.hosts, h)
		}
		w.hostOf[r] = i
	}
}

// rendezvousWorker runs on ranks > 0: it says hello to rank 0 until rank 0
// answers, then waits for the verdict.
func (w *World) rendezvousWorker(ctx context.Context, me hello) error {
	ready := make(chan *nats.Msg, 4)
	sub, err := w.nc.ChanSubscribe(w.prefix+".rdv.ready", ready)
	if err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := w.nc.Flush(); err != nil {
		return fmt.Errorf("runtime: rendezvous: %w", err)
	}
	verdictOf := func(m *nats.Msg) error {
		var v verdict
		if err := json.Unmarshal(m.Data, &v); err != nil {
			return w.rdvError(nil, "malformed verdict from rank 0")
		}
		if v.Error != "" {
			return w.rdvError(v.Missing, "rank 0 aborted it: %s", v.Error)
		}
		if len(v.Hosts) != w.size {
			return w.rdvError(nil, "rank 0's verdict lists %d hosts for %d ranks", len(v.Hosts), w.size)
		}
		w.setHosts(v.Hosts)
		w.linkRoster = v.Links
		return nil
	}
	body, _ := json.Marshal(me)
	acked, warned := false, false
	for !acked {
		select {
		case m := <-ready:
			return verdictOf(m)
		case <-ctx.Done():
			return w.rdvError(nil, "rank 0 (the federator) never answered rank %d within %v", w.rank, w.cfg.RendezvousTimeout)
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		reply, err := w.nc.RequestWithContext(rctx, w.prefix+".rdv.hello", body)
		cancel()
		switch {
		case err == nil:
			var v verdict
			if json.Unmarshal(reply.Data, &v) != nil {
				return w.rdvError(nil, "malformed answer from rank 0")
			}
			switch {
			case v.Error != "" && v.Retry:
				// The rank's old process is not yet known down.
				if !warned {
					w.log.Info("waiting for rank 0 to find the rank's old process down", "err", v.Error)
					warned = true
				}
				select {
				case <-time.After(250 * time.Millisecond):
				case <-ctx.Done():
					return w.rdvError(nil, "rank 0 refused rank %d: %s (still, after %v)", w.rank, v.Error, w.cfg.RendezvousTimeout)
				}
				continue
			case v.Error != "":
				return w.rdvError(nil, "rank 0 refused rank %d: %s", w.rank, v.Error)
			case v.Final && v.Rejoin:
				// The world is running: this process replaces a lost rank.
				if err := verdictOf(reply); err != nil {
					return err
				}
				w.rejoined = true
				return nil
			}
			acked = true
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			select { // rank 0 not there yet
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
			}
		default:
			return fmt.Errorf("runtime: rendezvous: %w", err)
		}
	}
	// Wait for the verdict, asking again now and then in case it was lost
	// (interest.go). Rank 0 publishes it at its own deadline at the latest;
	// give it a moment beyond ours so that a timeout names the missing
	// ranks.
	again := time.NewTicker(time.Second)
	defer again.Stop()
	for {
		select {
		case m := <-ready:
			return verdictOf(m)
		case <-ctx.Done():
			grace := time.NewTimer(2 * time.Second)
			defer grace.Stop()
			select {
			case m := <-ready:
				return verdictOf(m)
			case <-grace.C:
				return w.rdvError(nil, "rank 0 answered but the world was not complete within %v", w.cfg.RendezvousTimeout)
			}
		case <-again.C:
			rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			reply, err := w.nc.RequestWithContext(rctx, w.prefix+".rdv.hello", body)
			cancel()
			var v verdict
			if err == nil && json.Unmarshal(reply.Data, &v) == nil && v.Final {
				return verdictOf(reply)
			}
		}
	}
}
