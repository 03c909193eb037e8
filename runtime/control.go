package runtime

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// PublishControl publishes b on the job's control subject ctl.<name>, for
// the ranks that subscribed to it ([World.SubscribeControl]). Control
// messages are small, rare and outside the collectives' frames: the
// membership decisions of a world that shrinks (package trainer/fed).
func (w *World) PublishControl(name string, b []byte) error {
	subject := w.prefix + ".ctl." + name
	if err := w.nc.Publish(subject, b); err != nil {
		return fmt.Errorf("runtime: publish %s: %w", subject, err)
	}
	return nil
}

// SubscribeControl calls f with every message published on ctl.<name>
// from the time it returns until stop is called or the World closes. f is
// called from one goroutine at a time, in the order the messages were
// published by each sender; b is f's to keep.
func (w *World) SubscribeControl(name string, f func(b []byte)) (stop func(), err error) {
	subject := w.prefix + ".ctl." + name
	s, err := w.nc.Subscribe(subject, func(m *nats.Msg) { f(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("runtime: subscribe %s: %w", subject, err)
	}
	// Once the server has the subscription, no later publish misses it.
	if err := w.nc.FlushTimeout(10 * time.Second); err != nil {
		_ = s.Unsubscribe()
		return nil, fmt.Errorf("runtime: subscribe %s: %w", subject, err)
	}
	return func() { _ = s.Unsubscribe() }, nil
}

// Exclude reports rank down (unless it already is) because the job left
// it out of a shrunk world: what it sends is no longer heard, and what its
// goodbye says about other ranks is ignored.
func (w *World) Exclude(rank int, why string) {
	if rank < 0 || rank >= w.size || rank == w.rank {
		return
	}
	w.reportDown(rank, fmt.Errorf("%w: %s", ErrRankExcluded, why))
}

// Rejoined reports whether this process joined a running world for a rank
// the job had lost (it was started again: Config.Rejoin, or by hand): the
// job takes it back at its next round boundary (package trainer/fed).
func (w *World) Rejoined() bool { return w.rejoined }

// Readmit lets rank, lost before, be heard again because a new process for
// it joined the running world: it forgets that rank is down, why, and the
// frames counted to and from its old process, restarts its liveness
// clock, and stops using the old process's shared memory (the new one
// speaks through the server only, and the shared barrier is off from now
// on). On rank 0 it fails unless a new process for rank was accepted since
// rank was last readmitted; the other ranks readmit the ranks rank 0 names.
func (w *World) Readmit(rank int) error {
	if rank <= 0 || rank >= w.size || rank == w.rank {
		return fmt.Errorf("runtime: readmit rank %d: out of range [1, %d) or this rank", rank, w.size)
	}
	w.mu.Lock()
	if w.rank == 0 {
		if !w.accepted[rank] {
			w.mu.Unlock()
			return fmt.Errorf("runtime: readmit rank %d: no new process joined for it", rank)
		}
		delete(w.accepted, rank)
	}
	delete(w.down, rank)
	delete(w.byeCount, rank)
	delete(w.byeWhy, rank)
	w.recv[rank].Store(0)
	w.sent[rank].Store(0)
	w.beatSent[rank].Store(0)
	w.lastSeen[rank].Store(time.Now().UnixNano())
	w.cut[rank].Store(true)
	w.readmitted.Store(true)
	w.mu.Unlock()
	w.cutLink(rank)
	w.log.Info("rank readmitted", LogKeyPeer, rank)
	return nil
}
