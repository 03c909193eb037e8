package parallel

import (
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fltk-go/fltk/trainer/internal/simd"
)

// Config configures a [Team]. Start from [DefaultConfig]: zero values
// are meaningful here (split any loop; park at once).
type Config struct {
	// MinMACs is the work, in multiply-adds of a whole loop, below which
	// [Team.Workers] gives one worker: handing a loop to the helpers
	// costs a few microseconds. 0 splits any loop over two or more
	// samples. Default 1<<18.
	MinMACs int

	// MinElems is the size, in elements of a whole loop, below which
	// [Team.ElemWorkers] gives one worker to an element-wise loop
	// (BatchNorm, ReLU, pooling, bias sums: a few nanoseconds per
	// element). 0 splits any loop over two or more pieces. Default 1<<14.
	MinElems int

	// Spin is how long an idle helper keeps looking for the next loop
	// before it parks: the serial ops between two loops of a training
	// step take up to about a millisecond, and waking a parked goroutine
	// costs tens of microseconds on a shared VM, so helpers that park at
	// once slow a single client on two cores down (BenchmarkTrainStep,
	// model=FashionMNISTCNN, GOMAXPROCS 2). A spinning helper pauses
	// between looks and yields its core now and then, so another client's
	// goroutine still runs. 0 parks after the first few hundred looks.
	// Default 2 ms.
	Spin time.Duration
}

// DefaultConfig returns the tuning of fltk's models: MinMACs 1<<18,
// MinElems 1<<14, Spin 2 ms.
func DefaultConfig() Config {
	return Config{MinMACs: 1 << 18, MinElems: 1 << 14, Spin: 2 * time.Millisecond}
}

// Validate rejects negative values. It fills nothing in: every zero is a
// valid setting.
func (c *Config) Validate() error {
	if c.MinMACs < 0 {
		return fmt.Errorf("%w: MinMACs %d is negative", ErrConfig, c.MinMACs)
	}
	if c.MinElems < 0 {
		return fmt.Errorf("%w: MinElems %d is negative", ErrConfig, c.MinElems)
	}
	if c.Spin < 0 {
		return fmt.Errorf("%w: Spin %v is negative", ErrConfig, c.Spin)
	}
	return nil
}

// processBusy counts the workers of the loops running in the process, of
// every Team: the cores are the process's (see Sharing the cores in the
// package documentation).
var processBusy atomic.Int64

// Team runs parallel loops on its helper goroutines. Its methods may be
// called from any number of goroutines; a nil *Team is not valid.
type Team struct {
	cfg  Config
	busy *atomic.Int64 // the busy workers: &processBusy (tests count their own)

	mu     sync.Mutex // guards hs and closed
	hs     []*helper
	closed bool

	done    chan struct{} // closed by Close: the helpers return
	stopped atomic.Bool   // set by Close: spinning helpers return
	wg      sync.WaitGroup
}

// New returns a Team configured by cfg, with no helpers yet.
func New(cfg Config) (*Team, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Team{cfg: cfg, busy: &processBusy, done: make(chan struct{})}, nil
}

// Config returns the Team's configuration.
func (t *Team) Config() Config { return t.cfg }

// Close stops the helpers and waits until they have returned. It is
// idempotent and returns nil. A loop running during Close, or started
// after it, still completes: its caller runs the indices no helper took.
func (t *Team) Close() error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.stopped.Store(true)
		close(t.done)
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// Workers returns the goroutines a loop over n samples doing macs
// multiply-adds in all should use: one per core (GOMAXPROCS) not busy
// with another loop, at most one per sample, and one for work below
// MinMACs or at GOMAXPROCS 1.
func (t *Team) Workers(n, macs int) int {
	if macs < t.cfg.MinMACs {
		return 1
	}
	return t.freeWorkers(n)
}

// ElemWorkers is Workers for an element-wise loop over n pieces (samples,
// channels) holding elems elements in all, against MinElems.
func (t *Team) ElemWorkers(n, elems int) int {
	if elems < t.cfg.MinElems {
		return 1
	}
	return t.freeWorkers(n)
}

// freeWorkers returns the cores not busy with another loop, at most n,
// at least 1.
func (t *Team) freeWorkers(n int) int {
	p := goruntime.GOMAXPROCS(0)
	if p <= 1 || n < 2 {
		return 1
	}
	return max(1, min(p-int(t.busy.Load()), n))
}

// For calls f(worker, i) for every i in [0, n) on workers goroutines —
// worker 0 is the caller, the others the Team's helpers — and returns
// when all are done. workers must be in [1, n] (or 1). Worker w owns the
// w-th of workers consecutive ranges of [0, n) and runs it from the
// front, so successive loops over the same samples (a convolution, its
// BatchNorm, its ReLU, its pooling) keep each sample on one core while
// the workers keep up. A worker that runs out of work takes the others'
// remaining indices from the back of their ranges, so the caller waits
// at most for the indices being run when it runs out — not for a worker
// whose thread is not scheduled, a helper still waking, or a core slowed
// by its neighbour (taking only from workers that had not begun their
// range left the caller waiting for a helper slower than itself;
// BenchmarkTrainStep, model=FashionMNISTCNN, GOMAXPROCS 2).
func (t *Team) For(workers, n int, f func(wk, i int)) {
	t.busy.Add(int64(workers))
	defer t.busy.Add(-int64(workers))
	if workers <= 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	l := &loop{f: f, ranges: make([]span, workers)}
	for w := range l.ranges {
		l.ranges[w].v.Store(uint64(w*n/workers)<<32 | uint64((w+1)*n/workers))
	}
	hs := t.helpers(workers - 1)
	for k, h := range hs {
		h.post(l, k+1)
	}
	l.run(0)
	// Wait until every index is taken (the helpers' begun ranges), then
	// until those still running finish: a helper counts itself in
	// inflight before it takes an index, so once every range is empty,
	// inflight covers every index not yet done.
	for spins := 0; !l.taken() || l.inflight.Load() != 0; spins++ {
		spinWait(spins)
	}
}

// pieceLen is the piece of an element-wise loop over a flat tensor: a
// multiple of 8, for the vector kernels.
const pieceLen = 1 << 13

// Pieces calls f(lo, hi) for consecutive pieces [lo, hi) of [0, n), each
// of 8192 elements but the last, over several cores when n is at least
// MinElems.
func (t *Team) Pieces(n int, f func(lo, hi int)) {
	pieces := (n + pieceLen - 1) / pieceLen
	t.For(t.ElemWorkers(pieces, n), pieces, func(_, i int) {
		f(i*pieceLen, min(n, (i+1)*pieceLen))
	})
}

// helpers returns n helpers, starting the missing ones; none after
// Close.
func (t *Team) helpers(n int) []*helper {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	for len(t.hs) < n {
		h := &helper{team: t, wake: make(chan struct{}, 1)}
		t.hs = append(t.hs, h)
		t.wg.Add(1)
		helpers.Add(1)
		go h.serve() // not wg.Go: the tests find helpers by their creator
	}
	return t.hs[:n]
}

// spinYield is how many looks of a spin-wait pass between two yields
// of its core (Gosched), which let another client's goroutine run.
const spinYield = 256

// spinWait is one look of a spin-wait: a PAUSE (simd.Pause), and every
// spinYield looks a Gosched, after which it reports true. The PAUSE
// leaves the core to the thread doing the work when the two share a
// physical core, as a VM's two vCPUs may: a Gosched every few looks
// instead (the scheduler's locks and clock reads) made two-thread steps
// markedly slower, and yielding much more or much less often than every
// 256 looks was slower too (BenchmarkTrainStep, model=FashionMNISTCNN,
// GOMAXPROCS 2).
func spinWait(spins int) bool {
	simd.Pause(1)
	if spins%spinYield == spinYield-1 {
		goruntime.Gosched()
		return true
	}
	return false
}

// loop is one For call.
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
func (l *loop) take(wk int) (int, bool) {
	if i, ok := l.ranges[wk].front(); ok {
		return i, true
	}
	for k := 1; k < len(l.ranges); k++ {
		if i, ok := l.ranges[(wk+k)%len(l.ranges)].back(); ok {
			return i, true
		}
	}
	return 0, false
}

// taken reports whether every index of l has been taken.
func (l *loop) taken() bool {
	for i := range l.ranges {
		if v := l.ranges[i].v.Load(); v>>32 < v&0xffffffff {
			return false
		}
	}
	return true
}

// run takes and runs indices until none is left that wk may take.
// Helpers count themselves in inflight before each take, so the caller
// can tell when they are done.
func (l *loop) run(wk int) {
	if wk == 0 {
		for i, ok := l.take(0); ok; i, ok = l.take(0) {
			l.f(0, i)
		}
		return
	}
	for {
		l.inflight.Add(1)
		i, ok := l.take(wk)
		if !ok {
			l.inflight.Add(-1)
			return
		}
		l.f(wk, i)
		l.inflight.Add(-1)
	}
}

// helper is one goroutine of a Team. Its worker number comes with each
// loop (several clients may post to the same helper; it runs their loops
// one after another, each with the caller's numbering).
type helper struct {
	team     *Team
	slot     atomic.Pointer[posted]
	sleeping atomic.Bool
	wake     chan struct{} // capacity 1
}

type posted struct {
	l  *loop
	wk int
}

// post hands l to h as worker wk and wakes h if it sleeps.
func (h *helper) post(l *loop, wk int) {
	h.slot.Store(&posted{l: l, wk: wk})
	if h.sleeping.Load() {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// helpers counts the helper goroutines of all Teams in the process.
var helpers atomic.Int64

// Helpers returns how many helper goroutines of all Teams in the process
// have started and not yet returned. Tests of the owners of Teams use it
// to check that they close them.
func Helpers() int { return int(helpers.Load()) }

// serve runs the loops posted to h until its Team is closed.
func (h *helper) serve() {
	defer h.team.wg.Done()
	defer helpers.Add(-1)
	var last *posted
	for {
		p := h.slot.Load()
		if p == last {
			if p = h.await(last); p == nil {
				return
			}
		}
		last = p
		p.l.run(p.wk)
	}
}

// await spins for up to Spin for a post other than last, then parks
// until one comes. It returns nil when the Team is closed.
func (h *helper) await(last *posted) *posted {
	start := time.Now()
	for spins := 0; ; spins++ {
		if p := h.slot.Load(); p != last {
			return p
		}
		if spinWait(spins) {
			if h.team.stopped.Load() {
				return nil
			}
			if time.Since(start) > h.team.cfg.Spin {
				break
			}
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
		select {
		case <-h.wake:
		case <-h.team.done:
			return nil
		}
		h.sleeping.Store(false)
	}
}
