// Package collectivetest provides an in-memory Network of transports for
// testing collectives without sockets: frames are copied and delivered by
// one goroutine per rank and route, as a NATS subscription would, and a
// test can tamper with, drop or cut off traffic.
//
// # Usage
//
//	net := collectivetest.NewNetwork(t, 4)
//	comms := net.Comms(t, collective.Config{JobID: "test"})
package collectivetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fltk-go/fltk/collective"
)

// ErrKilled is what the survivors of Network.Kill are told.
var ErrKilled = errors.New("collectivetest: rank killed")

// Filter may inspect and change a frame in flight; returning nil drops it.
type Filter func(from, to int, frame []byte) []byte

// Network connects Size in-memory transports.
type Network struct {
	size     int
	maxFrame int
	ts       []*Transport
	wg       sync.WaitGroup

	mu     sync.Mutex // guards filter and killed
	filter Filter
	killed []bool
}

// NewNetwork returns a network of n ranks; it stops with the test.
func NewNetwork(tb testing.TB, n int) *Network {
	tb.Helper()
	nw := &Network{size: n, maxFrame: 2 << 20, killed: make([]bool, n)}
	for r := range n {
		t := &Transport{nw: nw, rank: r}
		for i := range t.routes {
			t.routes[i] = newQueue()
		}
		nw.ts = append(nw.ts, t)
	}
	tb.Cleanup(nw.Close)
	return nw
}

// Transport returns rank r's transport.
func (nw *Network) Transport(r int) *Transport { return nw.ts[r] }

// Comms returns a started Comm per rank, closed with the test.
func (nw *Network) Comms(tb testing.TB, cfg collective.Config) []*collective.Comm {
	tb.Helper()
	cs := make([]*collective.Comm, nw.size)
	for r := range nw.size {
		c, err := collective.New(nw.ts[r], cfg)
		if err != nil {
			tb.Fatalf("collective.New rank %d: %v", r, err)
		}
		tb.Cleanup(func() { _ = c.Close() })
		cs[r] = c
	}
	return cs
}

// SetFilter installs f for all traffic (nil removes it).
func (nw *Network) SetFilter(f Filter) {
	nw.mu.Lock()
	nw.filter = f
	nw.mu.Unlock()
}

// Kill cuts rank r off: its frames are dropped and the observers are told
// it is down — every other rank when none are given. Naming observers
// models ranks that notice a death at different times (liveness timeouts
// run on each rank's own clock); ReportDown tells the others later.
func (nw *Network) Kill(r int, observers ...int) {
	nw.mu.Lock()
	nw.killed[r] = true
	nw.mu.Unlock()
	if len(observers) == 0 {
		for _, t := range nw.ts {
			if t.rank != r {
				observers = append(observers, t.rank)
			}
		}
	}
	nw.ReportDown(r, observers...)
}

// ReportDown tells the observers that rank r is down (ErrKilled).
func (nw *Network) ReportDown(r int, observers ...int) {
	for _, o := range observers {
		nw.ts[o].down(r, ErrKilled)
	}
}

// Close stops delivery and waits for the delivery goroutines.
func (nw *Network) Close() {
	for _, t := range nw.ts {
		for _, q := range t.routes {
			q.close()
		}
	}
	nw.wg.Wait()
}

// Transport is one rank's end of a Network; it implements
// collective.Transport.
type Transport struct {
	nw     *Network
	rank   int
	routes [2]*queue // 0: point-to-point, 1: fan-out (like two subscriptions)

	mu     sync.Mutex // guards onDown
	onDown func(int, error)
}

// Rank implements collective.Transport.
func (t *Transport) Rank() int { return t.rank }

// Size implements collective.Transport.
func (t *Transport) Size() int { return t.nw.size }

// MaxFrame implements collective.Transport.
func (t *Transport) MaxFrame() int { return t.nw.maxFrame }

// Send implements collective.Transport.
func (t *Transport) Send(ctx context.Context, to int, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frame) > t.nw.maxFrame {
		return fmt.Errorf("collectivetest: frame of %d bytes exceeds %d", len(frame), t.nw.maxFrame)
	}
	t.nw.mu.Lock()
	f, dead := t.nw.filter, t.nw.killed[t.rank]
	t.nw.mu.Unlock()
	if dead {
		return nil
	}
	route := 0
	dsts := []int{to}
	if to == collective.All {
		route = 1
		dsts = dsts[:0]
		for r := range t.nw.size {
			if r != t.rank {
				dsts = append(dsts, r)
			}
		}
	}
	for _, d := range dsts {
		b := append([]byte(nil), frame...)
		if f != nil {
			if b = f(t.rank, d, b); b == nil {
				continue
			}
		}
		t.nw.ts[d].routes[route].push(msg{from: t.rank, b: b})
	}
	return nil
}

// Start implements collective.Transport.
func (t *Transport) Start(onFrame func(int, []byte), onDown func(int, error)) error {
	t.mu.Lock()
	t.onDown = onDown
	t.mu.Unlock()
	for _, q := range t.routes {
		t.nw.wg.Go(func() {
			for {
				m, ok := q.pop()
				if !ok {
					return
				}
				t.nw.mu.Lock()
				dead := t.nw.killed[t.rank]
				t.nw.mu.Unlock()
				if !dead {
					onFrame(m.from, m.b)
				}
			}
		})
	}
	return nil
}

func (t *Transport) down(r int, err error) {
	t.mu.Lock()
	f := t.onDown
	t.mu.Unlock()
	if f != nil {
		f(r, err)
	}
}

type msg struct {
	from int
	b    []byte
}

// queue is an unbounded FIFO.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []msg
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) push(m msg) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, m)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

func (q *queue) pop() (msg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return msg{}, false
	}
	m := q.items[0]
	q.items[0] = msg{}
	q.items = q.items[1:]
	return m, true
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
