package model

import (
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fltk-go/fltk/trainer/internal/simd"
)

// Parallel loops of the ops. An op splits its work (samples, channels or
// chunks of a tensor) over the cores with parallelFor; the extra workers
// are the goroutines of one process-wide team that stay between loops, so
// a loop costs a few atomic operations instead of starting goroutines.

// minParallelMACs is the work (multiply-adds) below which an op does not
// split its batch: starting and joining a goroutine costs a few
// microseconds.
var minParallelMACs = 1 << 18

// minParallelElems is the size below which an element-wise op (BatchNorm,
// ReLU, pooling, bias sums: a few nanoseconds per element) stays on one
// core.
var minParallelElems = 1 << 14

// busyWorkers counts the goroutines running the ops' batch loops, over
// all models: two clients training in parallel then split their batches
// only over the cores the other is not using, about one each.
var busyWorkers atomic.Int64

// workersFor returns the goroutines an op over n samples doing macs
// multiply-adds in all should use: one per core (GOMAXPROCS) not busy
// with another op, at most one per sample, and one for small work or at
// GOMAXPROCS 1.
func workersFor(n, macs int) int {
	if macs < minParallelMACs {
		return 1
	}
	return freeWorkers(n)
}

// elemWorkers is workersFor for an element-wise op over n pieces (samples,
// channels) holding elems elements in all.
func elemWorkers(n, elems int) int {
	if elems < minParallelElems {
		return 1
	}
	return freeWorkers(n)
}

// freeWorkers returns the cores not busy with another op's loop, at most
// n, at least 1.
func freeWorkers(n int) int {
	p := goruntime.GOMAXPROCS(0)
	if p <= 1 || n < 2 {
		return 1
	}
	return max(1, min(p-int(busyWorkers.Load()), n))
}

// parallelFor calls f(worker, i) for every i in [0, n) on workers
// goroutines — worker 0 is the caller, the others the team's helpers —
// and returns when all are done. Worker w owns the w-th of workers
// consecutive ranges of [0, n) and runs it from the front, so successive
// loops over the same samples (a convolution, its BatchNorm, its ReLU, its
// pooling) keep each sample on one core while the workers keep up. A
// worker that runs out of work takes the others' remaining indices from
// the back of their ranges, so the caller waits at most for the indices
// being run when it runs out — not for a worker whose thread is not
// scheduled, a helper still waking, or a core slowed by its neighbour.
// (Taking only from workers that had not begun their range: the caller
// waited ~40 µs of every ~170 µs loop of a two-thread FashionMNIST-CNN
// step for a helper slower than itself; taking from any range ran 4,580
// against 4,370 samples/s, medians of 18 alternated runs.) workers must be in
// [1, n] (or 1).
func parallelFor(workers, n int, f func(wk, i int)) {
	busyWorkers.Add(int64(workers))
	defer busyWorkers.Add(-int64(workers))
	if workers <= 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	t := &loop{f: f, ranges: make([]span, workers)}
	for w := range t.ranges {
		t.ranges[w].v.Store(uint64(w*n/workers)<<32 | uint64((w+1)*n/workers))
	}
	hs := team.helpers(workers - 1)
	for k, h := range hs {
		h.post(t, k+1)
	}
	t.run(0)
	// Wait until every index is taken (the helpers' begun ranges), then
	// until those still running finish: a helper counts itself in
	// inflight before it takes an index, so once every range is empty,
	// inflight covers every index not yet done.
	for spins := 0; !t.taken() || t.inflight.Load() != 0; spins++ {
		spinWait(spins)
	}
}

// spinYield is how many looks of a spin-wait pass between two yields
// of its core (Gosched), which let another client's goroutine run.
const spinYield = 256

// spinWait is one look of a spin-wait: a PAUSE (simd.Pause), and every
// spinYield looks a Gosched, after which it reports true. The PAUSE
// leaves the core to the thread doing the work when the two share a
// physical core, as this VM's two vCPUs seem to: a Gosched every 16
// looks instead (the scheduler's locks and clock reads, ~11 % of a
// two-thread step's CPU time) ran a two-thread FashionMNIST-CNN step
// 16–19 % slower (4,578–4,869 against 5,474–5,793 samples/s, medians of
// alternated runs; a yield every 32 or 4,096 looks was ~10 % slower than
// every 256).
func spinWait(spins int) bool {
	simd.Pause(1)
	if spins%spinYield == spinYield-1 {
		goruntime.Gosched()
		return true
	}
	return false
}

// elemPiece is the piece of an element-wise loop over a flat tensor.
const elemPiece = 1 << 13

// forPieces calls f(lo, hi) for consecutive pieces of [0, n) of
// elemPiece elements (a multiple of 8, for the vector kernels), over
// several cores when n is large enough.
func forPieces(n int, f func(lo, hi int)) {
	pieces := (n + elemPiece - 1) / elemPiece
	parallelFor(elemWorkers(pieces, n), pieces, func(_, i int) {
		f(i*elemPiece, min(n, (i+1)*elemPiece))
	})
}

// loop is one parallelFor call.
type loop struct {
	f        func(wk, i int)
	ranges   []span       // the indices not yet taken, one range per worker
	inflight atomic.Int32 // helpers between taking an index and finishing it
}

// span is a range [lo, hi) of indices, lo in the high 32 bits.
type span struct {
	v atomic.Uint64
}

// front takes the first index of s.
func (s *span) front() (int, bool) {
	for {
		v := s.v.Load()
		lo, hi := v>>32, v&0xffffffff
		if lo >= hi {
			return 0, false
		}
		if s.v.CompareAndSwap(v, (lo+1)<<32|hi) {
			return int(lo), true
		}
	}
}

// back takes the last index of s.
func (s *span) back() (int, bool) {
	for {
		v := s.v.Load()
		lo, hi := v>>32, v&0xffffffff
		if lo >= hi {
			return 0, false
		}
		if s.v.CompareAndSwap(v, lo<<32|(hi-1)) {
			return int(hi - 1), true
		}
	}
}

// take returns the next index for worker wk: its own range first, then
// the back of another's.
func (t *loop) take(wk int) (int, bool) {
	if i, ok := t.ranges[wk].front(); ok {
		return i, true
	}
	for k := 1; k < len(t.ranges); k++ {
		if i, ok := t.ranges[(wk+k)%len(t.ranges)].back(); ok {
			return i, true
		}
	}
	return 0, false
}

// taken reports whether every index of t has been taken.
func (t *loop) taken() bool {
	for i := range t.ranges {
		if v := t.ranges[i].v.Load(); v>>32 < v&0xffffffff {
			return false
		}
	}
	return true
}

// run takes and runs indices until none is left that wk may take.
// Helpers count themselves in inflight before each take, so the caller
// can tell when they are done.
func (t *loop) run(wk int) {
	if wk == 0 {
		for i, ok := t.take(0); ok; i, ok = t.take(0) {
			t.f(0, i)
		}
		return
	}
	for {
		t.inflight.Add(1)
		i, ok := t.take(wk)
		if !ok {
			t.inflight.Add(-1)
			return
		}
		t.f(wk, i)
		t.inflight.Add(-1)
	}
}

// helperSpin is how long an idle helper keeps looking for the next loop
// before it parks (as OpenMP's threads spin between parallel regions): the
// serial ops between two loops of a training step take up to about a
// millisecond, and waking a parked goroutine costs 50–100 µs on a shared
// VM — with a 200 µs spin a single FashionMNIST-CNN client on two cores
// ran 2,350 samples/s, with 3 ms 2,780. A spinning helper pauses between
// looks and yields its core (Gosched) now and then (spinWait), so another
// client's goroutine still runs.
const helperSpin = 2 * time.Millisecond

// team holds the helpers, started on first use and parked when idle (a
// parked goroutine holds no thread and no core). They live as long as the
// process, like the runtime's own workers.
var team helperTeam

type helperTeam struct {
	mu sync.Mutex // guards hs
	hs []*helper
}

// helpers returns n helpers, starting the missing ones.
func (tm *helperTeam) helpers(n int) []*helper {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	for len(tm.hs) < n {
		h := &helper{wake: make(chan struct{}, 1)}
		tm.hs = append(tm.hs, h)
		go h.serve()
	}
	return tm.hs[:n]
}

// helper is one goroutine of the team. Its worker number comes with each
// loop (several clients may post to the same helper; it runs their loops
// one after another, each with the caller's numbering).
type helper struct {
	slot     atomic.Pointer[posted]
	sleeping atomic.Bool
	wake     chan struct{} // capacity 1
}

type posted struct {
	t  *loop
	wk int
}

// post hands t to h as worker wk and wakes h if it sleeps.
func (h *helper) post(t *loop, wk int) {
	h.slot.Store(&posted{t: t, wk: wk})
	if h.sleeping.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// serve runs the loops posted to h, forever.
func (h *helper) serve() {
	var last *posted
	for {
		p := h.slot.Load()
		if p == last {
			p = h.await(last)
		}
		last = p
		p.t.run(p.wk)
	}
}

// await spins for up to helperSpin for a post other than last, then
// parks until one comes.
func (h *helper) await(last *posted) *posted {
	start := time.Now()
	for spins := 0; ; spins++ {
		if p := h.slot.Load(); p != last {
			return p
		}
		if spinWait(spins) && time.Since(start) > helperSpin {
			break
		}
	}
	for {
		h.sleeping.Store(true)
		// Look again after raising the flag: a post before it is seen
		// here, one after it sends a wake-up.
		if p := h.slot.Load(); p != last {
			h.sleeping.Store(false)
			return p
		}
		<-h.wake
		h.sleeping.Store(false)
	}
}
