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
