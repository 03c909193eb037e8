// Package collectivetest provides an in-memory Network of transports for
// testing collectives without sockets: frames are copied and delivered by
// one goroutine per rank and route, as a NATS subscription would, and a
// test can tamper with, drop or cut off traffic.
//
// # Usage
//
//	net := collectivetest.NewNetwork(t, 4)
//	comms := net.Comms(t, collective.Config{JobID: "test"})
//
// # Hosts
//
// NewHostNetwork places ranks on hosts: its transports then tell the
// collectives which ranks share a host (collective.HostTransport) and the
// network counts the bytes that cross between hosts, as a NATS cluster of
// one server per host would carry them: a point-to-point frame crosses
// once, a fan-out (collective.All) once per remote host that has a
// receiver (the servers' routes carry one copy each).
//
//	net := collectivetest.NewHostNetwork(t, collectivetest.Hosts(3, 3, 3))
//	... // run collectives
//	net.LinkBytes(0, 1), net.EgressBytes(0), net.IngressBytes(2)
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

	hostOf []int // rank → host
	hosts  int

	mu     sync.Mutex // guards filter, killed and link
	filter Filter
	killed []bool
	link   [][]int64 // [from host][to host]: bytes that crossed
}

// Hosts returns the host of each rank when consecutive ranks fill hosts
// of the given sizes in order (as the launcher places them).
func Hosts(sizes ...int) []int {
	var of []int
	for h, n := range sizes {
		for range n {
			of = append(of, h)
		}
	}
	return of
}

// NewHostNetwork returns a network of len(hostOf) ranks, rank r on host
// hostOf[r] (hosts are numbered from 0); it stops with the test.
func NewHostNetwork(tb testing.TB, hostOf []int) *Network {
	tb.Helper()
	nw := NewNetwork(tb, len(hostOf))
	nw.hostOf = append([]int(nil), hostOf...)
	nw.hosts = 0
	for _, h := range hostOf {
		nw.hosts = max(nw.hosts, h+1)
	}
	nw.link = make([][]int64, nw.hosts)
	for h := range nw.link {
		nw.link[h] = make([]int64, nw.hosts)
	}
	return nw
}

// LinkBytes returns the bytes that crossed from host a to host b.
func (nw *Network) LinkBytes(a, b int) int64 {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.link[a][b]
}

// EgressBytes returns the bytes that left host h for other hosts.
func (nw *Network) EgressBytes(h int) int64 {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var n int64
	for _, b := range nw.link[h] {
		n += b
	}
	return n
}

// IngressBytes returns the bytes that reached host h from other hosts.
func (nw *Network) IngressBytes(h int) int64 {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var n int64
	for a := range nw.link {
		n += nw.link[a][h]
	}
	return n
}

// NumHosts returns the number of hosts (1 for NewNetwork).
func (nw *Network) NumHosts() int { return max(1, nw.hosts) }

// ResetBytes zeroes the byte counters.
func (nw *Network) ResetBytes() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, row := range nw.link {
		clear(row)
	}
}

func (nw *Network) hostOfRank(r int) int {
	if nw.hostOf == nil {
		return 0
	}
	return nw.hostOf[r]
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

// Inject delivers frame to rank to as if rank from had sent it point to
// point, past the filter: a test playing a faulty network or an attacker
// replays a captured frame, or delivers another job's. It copies frame.
func (nw *Network) Inject(from, to int, frame []byte) {
	nw.ts[to].routes[0].push(msg{from: from, b: append([]byte(nil), frame...)})
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
// collective.HostTransport (every rank on host 0 unless the network was
// made by NewHostNetwork).
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

// HostOf implements collective.HostTransport.
func (t *Transport) HostOf(rank int) int { return t.nw.hostOfRank(rank) }

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
	if t.nw.link != nil {
		// One copy per remote host (a route carries a fan-out once).
		from := t.nw.hostOfRank(t.rank)
		crossed := make(map[int]bool)
		for _, d := range dsts {
			if h := t.nw.hostOfRank(d); h != from {
				crossed[h] = true
			}
		}
		t.nw.mu.Lock()
		for h := range crossed {
			t.nw.link[from][h] += int64(len(frame))
		}
		t.nw.mu.Unlock()
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
