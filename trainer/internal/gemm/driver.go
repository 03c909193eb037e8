package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Register tile of the micro-kernels: mr rows of C by nr columns. Both
// kernels (assembly and pure Go) share the packed layout this implies.
const (
	mr = 6
	nr = 16
)

// Cache blocking, tuned on a 2-core AMD EPYC (Zen 3: L1d 32 KiB, L2
// 512 KiB per core) with BenchmarkBlocking. A kc×nr micro-panel of B
// (16 KiB) stays in L1 while the kernel sweeps an mc×kc block of A
// (144 KiB) held in L2; the kc×nc block of B streams from L3.
// They are variables so that the tuning benchmark can vary them.
var (
	kcBlock = 256
	mcBlock = 144
	ncBlock = 4096
)

// directMaxM is the largest m for which the micro-kernels read op(B) = B
// in place (row stride ldb) instead of from packed panels, and op(B) = Bᵀ
// from one panel packed just before its tiles (still in L1) instead of
// from a packed kc×nc block (up to 4 MiB, through L3): with few rows of A
// every packed element of B is used only ceil(m/12) times, so packing
// cost about as much as the product (a fully connected layer at small
// batch: its forward, NN, and its input gradient, NT;
// BenchmarkSgemmLinear). A variable so that tests can force either path.
var directMaxM = 64

// parFlops is the smallest product, in flops (2·m·n·k), that Sgemm splits
// over goroutines. A split pays when half the work saves more than waking
// a second goroutine plus packing the unsplit operand again;
// BenchmarkParallelThreshold (-cpu 2) measures where. The break-even moves
// with the machine's load: the value lies between a loaded shared
// machine's and a quiet one's, and wants a rerun on a quiet machine
// (docs/kernels.md).
var parFlops int64 = 1 << 22

// maxThreads caps the goroutines of one Sgemm call; 0 means GOMAXPROCS.
var maxThreads atomic.Int32

// SetThreads caps the number of goroutines one Sgemm call uses at n, or
// at GOMAXPROCS when n ≤ 0 (the default), and returns the previous cap.
// Processes that already keep every core busy, such as several clients
// training side by side, can set 1.
func SetThreads(n int) int {
	return int(maxThreads.Swap(int32(max(0, n))))
}

// threads returns how many goroutines a product of the given flops may use.
func threads(flops int64) int {
	if flops < parFlops {
		return 1
	}
	t := runtime.GOMAXPROCS(0)
	if c := int(maxThreads.Load()); c > 0 {
		t = min(t, c)
	}
	return t
}

// problem is one validated Sgemm call, or a block of one.
type problem struct {
	aTrans, bTrans bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int

	// shifted, when not nil, is B (b and ldb are unused); column bCol
	// of op(B) is column 0 of this problem's.
	shifted *Shifted
	bCol    int

	// scatter, when not nil, receives the product instead of C (c and
	// ldc are unused; see SgemmScatter).
	scatter *Shifted

	// packed, when not nil, is op(A) already packed (a, lda and aTrans
	// are unused; see PackedA).
	packed *PackedA
}

// flops returns 2·m·n·k, without overflow on 32-bit platforms.
func (p *problem) flops() int64 { return 2 * int64(p.m) * int64(p.n) * int64(p.k) }

// workspace holds the packing buffers of one goroutine.
type workspace struct {
	a     []float32 // packed mc×kc block of op(A), in panels of mr rows
	b     []float32 // packed kc×nc block of op(B), in panels of nr columns
	stage []float32 // kc·nr elements: edge panels on their way to a or b
	tile  []float32 // 2·mr·nr elements: a tile on its way to a scattered C
	busy  atomic.Bool
}

// workspaces keeps the packing buffers of finished calls for the next.
// A call first takes the workspace its P (core) returned last, through a
// sync.Pool used only as a hint: two clients training side by side then
// each keep packing into buffers in their own core's cache (a shared
// free list handed them back and forth between the cores, which slowed
// two-core steps: BenchmarkTrainStep and BenchmarkTrainStepClients at
// -cpu 2 in trainer/model). The list of all workspaces is the
// truth: when the hint is empty (the goroutine moved to another P, or the
// garbage collector dropped the hints) a call takes any free workspace
// from it, so a steady stream of products allocates nothing.
var workspaces struct {
	hint sync.Pool    // *workspace, free when its busy flag says so
	mu   sync.Mutex   // guards all
	all  []*workspace // at most maxWorkspaces
}

// maxWorkspaces bounds the workspaces kept: one per product running at
// once is enough (clients training in parallel, split products).
const maxWorkspaces = 16

func getWorkspace() *workspace {
	for {
		v := workspaces.hint.Get()
		if v == nil {
			break
		}
		if ws := v.(*workspace); ws.busy.CompareAndSwap(false, true) {
			return ws
		}
		// Taken through the list since: a stale hint.
	}
	workspaces.mu.Lock()
	defer workspaces.mu.Unlock()
	for _, ws := range workspaces.all {
		if ws.busy.CompareAndSwap(false, true) {
			return ws
		}
	}
	ws := new(workspace)
	ws.busy.Store(true)
	if len(workspaces.all) < maxWorkspaces {
		workspaces.all = append(workspaces.all, ws)
	}
	return ws
}

func putWorkspace(ws *workspace) {
	ws.busy.Store(false)
	workspaces.hint.Put(ws)
}

// ensure returns buf if it holds n elements, else a new 64-byte aligned
// slice of n elements.
func ensure(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	s := make([]float32, n+16)
	off := 0
	if r := uintptr(unsafe.Pointer(&s[0])) & 63; r != 0 {
		off = int(64-r) / 4
	}
	return s[off : off+n : off+n]
}

// blocks splits n into the fewest pieces of at most max, of nearly equal
// size rounded up to a multiple of unit, and returns the piece size.
func blocks(n, max, unit int) int {
	pieces := (n + max - 1) / max
	size := (n + pieces - 1) / pieces
	return (size + unit - 1) / unit * unit
}

// chunksPerThread is how many pieces per goroutine a split product is cut
// into. Goroutines take pieces from a shared counter, so a goroutine that
// starts late (its core busy elsewhere) takes fewer, and the caller never
// waits long for it; each extra piece costs one more packing of the
// operand that is not split.
const chunksPerThread = 2

// run computes the product p with kernel kr, over several goroutines when
// it is large enough and GOMAXPROCS allows.
func run(kr *kernel, p *problem) {
	threads := threads(p.flops())
	if threads <= 1 {
		serial(kr, p)
		return
	}
	// Split the larger dimension of C: every piece packs the whole of the
	// other operand, so this keeps the redundant packing smallest.
	// A packed A is never split: its blocks follow the whole of m.
	splitN := p.n >= p.m || p.packed != nil
	unit, units := mr, (p.m+mr-1)/mr
	if splitN {
		unit, units = nr, (p.n+nr-1)/nr
	}
	threads = min(threads, units)
	if threads <= 1 {
		serial(kr, p)
		return
	}
	j := jobs.Get().(*splitJob)
	j.kr, j.p, j.splitN, j.unit, j.units = kr, *p, splitN, unit, units
	// More chunks than goroutines only while each keeps parFlops of work.
	j.chunks = min(units, max(threads, int(min(int64(threads*chunksPerThread), p.flops()/max(1, parFlops)))))
	j.next.Store(0)
	for range threads - 1 {
		j.wg.Go(j.workFn)
	}
	j.work()
	j.wg.Wait()
	j.kr, j.p = nil, problem{} // do not keep the caller's matrices alive
	jobs.Put(j)
}

// jobs recycles splitJobs, so that a split product does not allocate.
var jobs = sync.Pool{New: func() any {
	j := new(splitJob)
	j.workFn = j.work
	return j
}}

// splitJob is a product cut into chunks of whole tiles along m or n.
type splitJob struct {
	kr     *kernel
	p      problem // a copy, so that the caller's does not escape
	splitN bool    // chunks are column blocks of C (else row blocks)
	unit   int     // nr or mr
	units  int     // tiles along the split dimension
	chunks int
	next   atomic.Int32 // the next chunk to compute
	wg     sync.WaitGroup
	workFn func() // j.work, bound once
}

// work computes chunks until none is left.
func (j *splitJob) work() {
	p := &j.p
	for {
		c := int(j.next.Add(1)) - 1
		if c >= j.chunks {
			return
		}
		lo := c * j.units / j.chunks * j.unit
		hi := (c + 1) * j.units / j.chunks * j.unit
		sub := *p
		if j.splitN {
			hi = min(hi, p.n)
			sub.n = hi - lo
			if p.shifted != nil {
				sub.bCol = p.bCol + lo
			} else if p.bTrans {
				sub.b = p.b[lo*p.ldb:]
			} else {
				sub.b = p.b[lo:]
			}
			sub.c = p.c[lo:]
		} else {
			hi = min(hi, p.m)
			sub.m = hi - lo
			if p.aTrans {
				sub.a = p.a[lo:]
			} else {
				sub.a = p.a[lo*p.lda:]
			}
			sub.c = p.c[lo*p.ldc:]
		}
		serial(j.kr, &sub)
	}
}

// serial computes the product p on the calling goroutine.
func serial(kr *kernel, p *problem) {
	ws := getWorkspace()
	defer putWorkspace(ws)

	kc := blocks(p.k, kcBlock, 1)
	mc := blocks(p.m, mcBlock, mr)
	if p.packed != nil {
		kc, mc = p.packed.kc, p.packed.mc
	}
	nc := blocks(p.n, ncBlock, nr)
	ws.a = ensure(ws.a, mc*kc)
	ws.b = ensure(ws.b, nc*kc)
	ws.stage = ensure(ws.stage, nr*kc)

	// With few rows of A, B's panels are read in place or packed one by
	// one in macro (directMaxM).
	direct := p.m <= directMaxM && p.shifted == nil && p.scatter == nil
	for jc := 0; jc < p.n; jc += nc {
		ncCur := min(nc, p.n-jc)
		for pc := 0; pc < p.k; pc += kc {
			kcCur := min(kc, p.k-pc)
			if !direct {
				packB(&kr.pack, ws.b, ws.stage, p, pc, kcCur, jc, ncCur)
			}
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			for ic := 0; ic < p.m; ic += mc {
				mcCur := min(mc, p.m-ic)
				a := ws.a
				if p.packed != nil {
					a = p.packed.block(pc, ic, kcCur)
				} else {
					packA(&kr.pack, a, ws.stage, p, ic, mcCur, pc, kcCur)
				}
				if p.scatter != nil {
					macroScatter(kr, ws, a, p, ic, jc, mcCur, ncCur, kcCur)
					continue
				}
				var bIn *problem
				if direct {
					bIn = p
				}
				macro(kr, ws, a, bIn, pc, jc, mcCur, ncCur, kcCur, p.alpha, beta, p.c[ic*p.ldc+jc:], p.ldc)
			}
		}
	}
}

// macro updates the mc×nc block of C at the start of c with the packed
// block of A in a and of B in ws: C = alpha·A·B + beta·C. With bIn set, the block of op(B)
// is the one of bIn at row pc, column jc: full panels of an op(B) = B are
// read from it in place, the others packed into ws.b one at a time.
func macro(kr *kernel, ws *workspace, wa []float32, bIn *problem, pc, jc, mc, nc, kc int, alpha, beta float32, c []float32, ldc int) {
	for jr := 0; jr < nc; jr += nr {
		n := min(nr, nc-jr)
		b, ldb := ws.b[jr*kc:(jr+nr)*kc], nr
		if t := mc / (2 * mr); kr.tiles32 != nil && bIn == nil && t > 0 && nc-jr > nr {
			// Two packed panels: full 12-row tiles in one call, then each
			// panel's edge rows.
			n1 := min(nr, nc-jr-nr)
			b1 := ws.b[(jr+nr)*kc : (jr+2*nr)*kc]
			kr.tiles32(kc, wa[:t*2*mr*kc], b, b1, c[jr:], ldc, alpha, beta, n1, t)
			if ir, m := t*2*mr, mc-t*2*mr; m > 0 && m <= 4 && kr.tile4x32 != nil {
				kr.tile4x32(kc, wa[ir*kc:(ir+mr)*kc], b, b1, c[ir*ldc+jr:], ldc, alpha, beta, m, n1)
			} else {
				edgeRows(kr, wa, b, nr, ir, mc, kc, alpha, beta, nr, c[jr:], ldc)
				edgeRows(kr, wa, b1, nr, ir, mc, kc, alpha, beta, n1, c[jr+nr:], ldc)
			}
			jr += nr
			continue
		}
		if bIn != nil {
			if n == nr && !bIn.bTrans {
				off := pc*bIn.ldb + jc + jr
				b, ldb = bIn.b[off:off+(kc-1)*bIn.ldb+nr], bIn.ldb
			} else {
				b = ws.b[:kc*nr]
				packB(&kr.pack, b, ws.stage, bIn, pc, kc, jc+jr, n)
			}
		}
		ir := 0
		if t := mc / (2 * mr); kr.tiles12 != nil && t > 0 {
			// Full 12-row tiles in one call.
			kr.tiles12(kc, wa[:t*2*mr*kc], b, ldb, c[jr:], ldc, alpha, beta, n, t)
			ir = t * 2 * mr
		}
		edgeRows(kr, wa, b, ldb, ir, mc, kc, alpha, beta, n, c[jr:], ldc)
	}
}

// edgeRows computes rows ir … mc−1 of the block's tiles under one B
// panel (b, ldb; n columns, C at c) tile by tile.
func edgeRows(kr *kernel, wa, b []float32, ldb, ir, mc, kc int, alpha, beta float32, n int, c []float32, ldc int) {
	for ; ir < mc; ir += mr {
		// Edge tiles (m < mr or n < nr) read rows or columns of the
		// panels past the block, which hold unspecified values (see
		// packA); the kernel computes and drops them.
		if kr.tile12 != nil && mc-ir > mr {
			// Two panels (the second maybe partial) in one tile.
			m := min(2*mr, mc-ir)
			a := wa[ir*kc : (ir+2*mr)*kc]
			if m <= mr+2 && kr.tile8 != nil {
				kr.tile8(kc, a, b, ldb, c[ir*ldc:], ldc, alpha, beta, m, n)
			} else {
				kr.tile12(kc, a, b, ldb, c[ir*ldc:], ldc, alpha, beta, m, n)
			}
			ir += mr
			continue
		}
		m := min(mr, mc-ir)
		a := wa[ir*kc : (ir+mr)*kc]
		kr.tile(kc, a, b, ldb, c[ir*ldc:], ldc, alpha, beta, m, n)
	}
}
