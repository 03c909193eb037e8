package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Interest propagation in a cluster.
//
// A subscription is made on the server its client is connected to; the
// other nodes of a cluster learn of it asynchronously, over their routes.
// Until a node knows that a rank on another node subscribed to a subject, it
// silently drops what its own clients publish there: NATS stores nothing.
// A rank that finished the rendezvous could therefore publish its
// shared-memory announcement, or its first frame, to a rank whose interest
// has not reached its server yet, and the world would hang until a
// deadline.
//
// Hence, after the verdict and before anything else is published, every
// rank confirms every other rank: it requests ping.<r>, which rank r
// subscribed to after all its other subjects (subscribe, subscribeShm,
// then subscribePing, on one connection). A node sends a client's
// subscriptions over a route in the order it received them, so once this
// rank's server routes ping.<r> to r's node it routes r's other subjects
// too. The request is retried while the server has no route to the
// responder (nats.ErrNoResponders) or the reply is lost on the way back
// (the reply subject may not have propagated either), until the rendezvous
// deadline. On a single server every ping succeeds at the first try.
//
// The rendezvous itself is safe without it: a worker subscribes to
// rdv.ready before its hello travels to rank 0's node over the same route,
// so rank 0's node knows the interest before it learns of the worker. In
// case a verdict is lost all the same, a waiting worker repeats its hello,
// and rank 0 answers a hello after the verdict with the verdict.

// pingTimeout bounds one ping request; a lost reply is retried after it.
const pingTimeout = 250 * time.Millisecond

// pingConcurrency bounds the pings in flight per rank.
const pingConcurrency = 16

// subscribePing subscribes to ping.<rank>, the last subject this rank
// subscribes to before the rendezvous (see above), and flushes, so the
// server has every subscription of this rank.
func (w *World) subscribePing() error {
	s, err := w.nc.Subscribe(w.prefix+".ping."+strconv.Itoa(w.rank), func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		return fmt.Errorf("runtime: subscribe: %w", err)
	}
	w.subs = append(w.subs, s)
	if err := w.nc.Flush(); err != nil {
		return fmt.Errorf("runtime: subscribe: %w", err)
	}
	return nil
}

// confirmRoutes pings every other rank until it answers (see above). The
// error names the ranks that never answered.
func (w *World) confirmRoutes(ctx context.Context) error {
	if w.size == 1 {
		return nil
	}
	var (
		mu      sync.Mutex // guards missing
		missing []int
		wg      sync.WaitGroup
		sem     = make(chan struct{}, pingConcurrency)
	)
	for r := range w.size {
		if r == w.rank {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := w.ping(ctx, r); err != nil {
				mu.Lock()
				missing = append(missing, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(missing) > 0 {
		slices.Sort(missing)
		return w.rdvError(missing, "rank %d could not reach ranks %v through the NATS cluster within %v (are all nodes routed to each other?)", w.rank, missing, w.cfg.RendezvousTimeout)
	}
	return nil
}

// ping requests ping.<r> until r answers or ctx ends.
func (w *World) ping(ctx context.Context, r int) error {
	subject := w.prefix + ".ping." + strconv.Itoa(r)
	backoff := 5 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		_, err := w.nc.RequestWithContext(pctx, subject, nil)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("runtime: ping rank %d: %w", r, err)
		}
		if errors.Is(err, nats.ErrNoResponders) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 100*time.Millisecond)
		}
	}
}
