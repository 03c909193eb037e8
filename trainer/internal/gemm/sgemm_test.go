package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmCase is one Sgemm call to check.
type gemmCase struct {
	tA, tB        blas.Transpose
	m, n, k       int
	lda, ldb, ldc int
	alpha, beta   float32
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%c/tB=%c/m=%d/n=%d/k=%d/lda=%d/ldb=%d/ldc=%d/alpha=%g/beta=%g",
		tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.lda, tc.ldb, tc.ldc, tc.alpha, tc.beta)
}

// stored returns the stored shape of op(X) = X or Xᵀ (r×c) before the
// transpose: the matrix in memory is rows×cols, with stride ≥ cols.
func stored(t blas.Transpose, r, c int) (rows, cols int) {
	if t == blas.NoTrans {
		return r, c
	}
	return c, r
}

// randMat returns a rows×cols matrix with stride ld (≥ cols) filled with
// values in [-1, 1), and the padding between rows set to pad.
func randMat(rng *rand.Rand, rows, cols, ld int, pad float32) []float32 {
	if rows == 0 {
		return nil
	}
	s := make([]float32, (rows-1)*ld+cols)
	for i := range s {
		if i%ld < cols {
			s[i] = 2*rng.Float32() - 1
		} else {
			s[i] = pad
		}
	}
	return s
}

// naive computes alpha·op(A)·op(B) + beta·C in float64 by the definition,
// and for each element the bound Σ|alpha·a·b| + |beta·c| on the magnitudes
// that enter it (beta·c counts only when beta ≠ 0: C is not read then).
func naive(tc gemmCase, a, b, c []float32) (want, mag []float64) {
	want = make([]float64, len(c))
	mag = make([]float64, len(c))
	at := func(i, l int) float64 {
		if tc.tA == blas.NoTrans {
			return float64(a[i*tc.lda+l])
		}
		return float64(a[l*tc.lda+i])
	}
	bt := func(l, j int) float64 {
		if tc.tB == blas.NoTrans {
			return float64(b[l*tc.ldb+j])
		}
		return float64(b[j*tc.ldb+l])
	}
	for i := range tc.m {
		for j := range tc.n {
			var s, sa float64
			for l := range tc.k {
				p := at(i, l) * bt(l, j)
				s += p
				sa += math.Abs(p)
			}
			v := float64(tc.alpha) * s
			g := math.Abs(float64(tc.alpha)) * sa
			if tc.beta != 0 {
				cb := float64(tc.beta) * float64(c[i*tc.ldc+j])
				v += cb
				g += math.Abs(cb)
			}
			want[i*tc.ldc+j] = v
			mag[i*tc.ldc+j] = g
		}
	}
	return want, mag
}

// check runs Sgemm on tc with random operands and compares it with naive.
//
// Tolerance: every element of C is a float32 dot product of length k, then
// scaled by alpha and added to beta·c: at most k+2 roundings in any
// summation order, so |got − want| ≤ γ(k+2)·(Σ|alpha·a·b| + |beta·c|) with
// γ(n) = n·u/(1−n·u) and u = 2⁻²⁴ (Higham, Accuracy and Stability of
// Numerical Algorithms, 2nd ed., §3.1). For the operands here, in [-1, 1),
// that is a relative error of about 6e-8·k. A 1e-30 absolute slack covers
// exact zeros.
func check(t *testing.T, rng *rand.Rand, tc gemmCase) {
	t.Helper()
	ar, ac := stored(tc.tA, tc.m, tc.k)
	br, bc := stored(tc.tB, tc.k, tc.n)
	// Padding of A and B is NaN: reading it would poison C.
	a := randMat(rng, ar, ac, tc.lda, float32(math.NaN()))
	b := randMat(rng, br, bc, tc.ldb, float32(math.NaN()))
	const padC = 12345
	c := randMat(rng, tc.m, tc.n, tc.ldc, padC)
	if tc.beta == 0 {
		// C must not be read: NaN must not reach the result.
		for i := range c {
			if i%tc.ldc < tc.n {
				c[i] = float32(math.NaN())
			}
		}
	}
	want, mag := naive(tc, a, b, c)
	// Guard elements after the end of C catch stores past the last row.
	const guard = 16
	c = append(c, make([]float32, guard)...)
	for i := len(c) - guard; i < len(c); i++ {
		c[i] = padC
	}
	Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, c[:len(c)-guard], tc.ldc)
	for i := len(c) - guard; i < len(c); i++ {
		if c[i] != padC {
			t.Fatalf("%v: element %d after the end of C = %g, want %d untouched", tc, i-len(c)+guard, c[i], padC)
		}
	}
	c = c[:len(c)-guard]

	const u = 0x1p-24
	g := float64(tc.k+2) * u / (1 - float64(tc.k+2)*u)
	bad := 0
	for i := range c {
		if i%tc.ldc >= tc.n {
			if c[i] != padC {
				t.Fatalf("%v: c[%d] (padding) = %g, want %d untouched", tc, i, c[i], padC)
			}
			continue
		}
		diff := math.Abs(float64(c[i]) - want[i])
		if !(diff <= g*mag[i]+1e-30) {
			bad++
			if bad <= 3 {
				t.Errorf("%v: C[%d,%d] = %g, want %g (|diff| %.3g > bound %.3g)",
					tc, i/tc.ldc, i%tc.ldc, c[i], want[i], diff, g*mag[i])
			}
		}
	}
	if bad > 3 {
		t.Errorf("%v: %d elements wrong in all", tc, bad)
	}
}

var transposes = []blas.Transpose{blas.NoTrans, blas.Trans}

// randCase returns a random case with dimensions up to maxDim (a third of
// them primes or around the tile and block sizes), strides at or above the
// minimum, and alpha, beta from the sets that exercise every branch.
func randCase(rng *rand.Rand, maxDim int) gemmCase {
	special := []int{1, 2, 3, 5, 6, 7, 11, 13, 15, 16, 17, 31, 47, 97, 127, 131, 257, 293}
	dim := func() int {
		if rng.IntN(3) == 0 {
			for {
				if d := special[rng.IntN(len(special))]; d <= maxDim {
					return d
				}
			}
		}
		return 1 + rng.IntN(maxDim)
	}
	tc := gemmCase{
		tA: transposes[rng.IntN(2)], tB: transposes[rng.IntN(2)],
		m: dim(), n: dim(), k: dim(),
		alpha: []float32{1, 0.5, 0}[rng.IntN(3)],
		beta:  []float32{0, 1, -0.25}[rng.IntN(3)],
	}
	pad := func() int {
		if rng.IntN(2) == 0 {
			return 0
		}
		return 1 + rng.IntN(9)
	}
	_, ac := stored(tc.tA, tc.m, tc.k)
	_, bc := stored(tc.tB, tc.k, tc.n)
	tc.lda, tc.ldb, tc.ldc = ac+pad(), bc+pad(), tc.n+pad()
	return tc
}

// kernels returns the kernels to test: the pure-Go one and, when it
// differs, the one this CPU uses.
func kernels() []*kernel {
	return append([]*kernel{goKernel}, cpuKernels()...)
}

// useKernel makes Sgemm use kr until the test ends.
func useKernel(tb testing.TB, kr *kernel) {
	tb.Helper()
	old := kern
	kern = kr
	tb.Cleanup(func() { kern = old })
}

// useBlocking sets the cache blocking until the test ends.
func useBlocking(tb testing.TB, kc, mc, nc int) {
	tb.Helper()
	okc, omc, onc := kcBlock, mcBlock, ncBlock
	kcBlock, mcBlock, ncBlock = kc, mc, nc
	tb.Cleanup(func() { kcBlock, mcBlock, ncBlock = okc, omc, onc })
}

// useThreads forces the parallel split of every product over procs
// goroutines until the test ends.
func useThreads(tb testing.TB, procs int) {
	tb.Helper()
	oldFlops := parFlops
	oldProcs := runtime.GOMAXPROCS(procs)
	parFlops = 0
	tb.Cleanup(func() {
		parFlops = oldFlops
		runtime.GOMAXPROCS(oldProcs)
	})
}

func TestSgemmRandom(t *testing.T) {
	n := 100 // cases per configuration
	if testing.Short() || raceEnabled {
		n = 25
	}
	for _, kr := range kernels() {
		for _, blocking := range []struct {
			name       string
			kc, mc, nc int
		}{
			{"default", kcBlock, mcBlock, ncBlock},
			{"small", 7, 12, 32}, // many blocks in every dimension
		} {
			for _, procs := range []int{1, 3} {
				t.Run(fmt.Sprintf("kernel=%s/blocking=%s/procs=%d", kr.name, blocking.name, procs), func(t *testing.T) {
					useKernel(t, kr)
					useBlocking(t, blocking.kc, blocking.mc, blocking.nc)
					if procs > 1 {
						useThreads(t, procs)
					}
					rng := rand.New(rand.NewPCG(1, uint64(procs)))
					for range n {
						check(t, rng, randCase(rng, 300))
						if t.Failed() {
							return
						}
					}
				})
			}
		}
	}
}

// TestKernelEdges checks every tile shape of the micro-kernels against a
// direct sum: the m×n part is updated, nothing else around it is touched.
func TestKernelEdges(t *testing.T) {
	const kc, ldc = 11, nr + 3
	rng := rand.New(rand.NewPCG(5, 0))
	a := randMat(rng, 1, kc*mr, kc*mr, 0)
	b := randMat(rng, 1, kc*nr, kc*nr, 0)
	for _, kr := range kernels() {
		for _, beta := range []float32{0, -0.5} {
			for m := 1; m <= mr; m++ {
				for n := 1; n <= nr; n++ {
					// C is the tile at row 1, column 1 of a larger grid of sentinels.
					const sentinel = 777
					buf := make([]float32, (mr+2)*ldc)
					for i := range buf {
						buf[i] = sentinel
					}
					c := buf[ldc+1:]
					for i := range m {
						for j := range n {
							c[i*ldc+j] = float32(i - j)
							if beta == 0 {
								c[i*ldc+j] = float32(math.NaN())
							}
						}
					}
					kr.tile(kc, a, b, nr, c, ldc, 2, beta, m, n)
					for idx, got := range buf {
						i, j := idx/ldc-1, idx%ldc-1
						if i < 0 || i >= m || j < 0 || j >= n {
							if got != sentinel {
								t.Fatalf("kernel=%s m=%d n=%d beta=%g: wrote %g at (%d, %d) outside the tile", kr.name, m, n, beta, got, i, j)
							}
							continue
						}
						var want float64
						for q := range kc {
							want += float64(a[q*mr+i]) * float64(b[q*nr+j])
						}
						want *= 2
						if beta != 0 {
							want += float64(beta) * float64(i-j)
						}
						// kc+2 roundings of terms below 2·kc in magnitude.
						if math.Abs(float64(got)-want) > (kc+2)*0x1p-24*2*kc {
							t.Fatalf("kernel=%s m=%d n=%d beta=%g: C[%d,%d] = %g, want %g", kr.name, m, n, beta, i, j, got, want)
						}
					}
				}
			}
		}
	}
}

// TestKernel12Edges checks the two-panel tiles (tile12, the AVX-512
// kernel where the CPU has it) of every shape up to 2·mr×nr against two
// calls of the same kernel's tile, bit for bit, with alpha 1 and 2 and
// beta 0 and −0.5, and that nothing around the tile is written.
func TestKernel12Edges(t *testing.T) {
	const kc, ldc = 13, nr + 3
	rng := rand.New(rand.NewPCG(6, 0))
	a := randMat(rng, 1, 2*kc*mr, 2*kc*mr, 0)
	b := randMat(rng, 1, kc*nr, kc*nr, 0)
	tested := 0
	for _, kr := range kernels() {
		if kr.tile12 == nil {
			continue
		}
		tested++
		for _, alpha := range []float32{1, 2} {
			for _, beta := range []float32{0, -0.5} {
				for m := 1; m <= 2*mr; m++ {
					for n := 1; n <= nr; n++ {
						const sentinel = 777
						got := make([]float32, (2*mr+2)*ldc)
						want := make([]float32, len(got))
						for i := range got {
							got[i], want[i] = sentinel, sentinel
						}
						for i := range m {
							for j := range n {
								v := float32(i - j)
								if beta == 0 {
									v = float32(math.NaN())
								}
								got[(i+1)*ldc+1+j], want[(i+1)*ldc+1+j] = v, v
							}
						}
						kr.tile12(kc, a, b, nr, got[ldc+1:], ldc, alpha, beta, m, n)
						kr.tile(kc, a[:kc*mr], b, nr, want[ldc+1:], ldc, alpha, beta, min(m, mr), n)
						if m > mr {
							kr.tile(kc, a[kc*mr:], b, nr, want[(mr+1)*ldc+1:], ldc, alpha, beta, m-mr, n)
						}
						for idx := range got {
							if math.Float32bits(got[idx]) != math.Float32bits(want[idx]) {
								t.Fatalf("kernel=%s alpha=%g beta=%g m=%d n=%d: element (%d, %d) = %g, two tiles give %g",
									kr.name, alpha, beta, m, n, idx/ldc-1, idx%ldc-1, got[idx], want[idx])
							}
						}
					}
				}
			}
		}
	}
	if tested == 0 {
		t.Log("no kernel with two-panel tiles on this CPU (AVX-512 absent)")
	}
}

// TestSgemmModelShapes checks the shapes of the models' convolutions
// (forward and both backward products) and fully connected layers.
func TestSgemmModelShapes(t *testing.T) {
	type shape struct{ m, n, k int }
	shapes := []shape{
		{16, 784, 25}, {32, 196, 400}, {64, 64, 576}, {64, 16, 800}, {10, 128, 784}, {50, 10, 200},
	}
	if !testing.Short() && !raceEnabled {
		shapes = append(shapes, shape{128, 16, 4608}, shape{16, 4096, 784})
	}
	for _, kr := range kernels() {
		for _, s := range shapes {
			for _, tA := range transposes {
				for _, tB := range transposes {
					t.Run(fmt.Sprintf("kernel=%s/m=%d/n=%d/k=%d/tA=%c/tB=%c", kr.name, s.m, s.n, s.k, tA, tB), func(t *testing.T) {
						useKernel(t, kr)
						rng := rand.New(rand.NewPCG(2, 0))
						tc := gemmCase{tA: tA, tB: tB, m: s.m, n: s.n, k: s.k, alpha: 1, beta: 0}
						_, tc.lda = stored(tA, s.m, s.k)
						_, tc.ldb = stored(tB, s.k, s.n)
						tc.ldc = s.n
						check(t, rng, tc)
						tc.alpha, tc.beta = -0.5, 1
						check(t, rng, tc)
					})
				}
			}
		}
	}
}

// TestSgemmZeroSizes checks empty products: with m or n zero nothing is
// touched; with k or alpha zero, C is only scaled by beta (and not read
// when beta is zero).
func TestSgemmZeroSizes(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		c, want     []float32
	}{
		{"m=0", 0, 2, 3, 1, 0, []float32{nan, nan}, []float32{nan, nan}},
		{"n=0", 2, 0, 3, 1, 0, []float32{nan, nan}, []float32{nan, nan}},
		{"k=0/beta=0", 1, 2, 0, 1, 0, []float32{nan, nan}, []float32{0, 0}},
		{"k=0/beta=1", 1, 2, 0, 1, 1, []float32{1, 2}, []float32{1, 2}},
		{"k=0/beta=2", 1, 2, 0, 1, 2, []float32{1, 2}, []float32{2, 4}},
		{"alpha=0/beta=0", 1, 2, 1, 0, 0, []float32{nan, nan}, []float32{0, 0}},
		{"alpha=0/beta=-1", 1, 2, 1, 0, -1, []float32{1, 2}, []float32{-1, -2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A and B hold NaN: they must not be read either.
			a := []float32{nan, nan, nan, nan, nan, nan}
			b := []float32{nan, nan, nan, nan, nan, nan}
			lda, ldb := max(1, tc.k), max(1, tc.n)
			c := append([]float32(nil), tc.c...)
			Sgemm(blas.NoTrans, blas.NoTrans, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, max(1, tc.n))
			for i := range c {
				if !(c[i] == tc.want[i] || math.IsNaN(float64(c[i])) && math.IsNaN(float64(tc.want[i]))) {
					t.Errorf("c = %v, want %v", c, tc.want)
					break
				}
			}
		})
	}
}

// TestSgemmNaNPropagates checks that NaN and Inf in A or B reach C, as in
// reference BLAS (the kernel does not skip zero products).
func TestSgemmNaNPropagates(t *testing.T) {
	for _, kr := range kernels() {
		t.Run("kernel="+kr.name, func(t *testing.T) {
			useKernel(t, kr)
			const m, n, k = 7, 17, 5
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			a[3*k+2] = float32(math.NaN())
			c := make([]float32, m*n)
			Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n)
			for i := range m {
				for j := range n {
					if got := c[i*n+j]; math.IsNaN(float64(got)) != (i == 3) {
						t.Fatalf("C[%d,%d] = %g, want NaN only in row 3", i, j, got)
					}
				}
			}
		})
	}
}

// TestSgemmPanics checks that bad arguments panic with gonum's message.
func TestSgemmPanics(t *testing.T) {
	s := make([]float32, 100)
	for _, tc := range []struct {
		name    string
		tA, tB  blas.Transpose
		m, n, k int
		a       []float32
		lda     int
		b       []float32
		ldb     int
		c       []float32
		ldc     int
	}{
		{"tA", 'x', blas.NoTrans, 2, 2, 2, s, 2, s, 2, s, 2},
		{"tB", blas.NoTrans, 'x', 2, 2, 2, s, 2, s, 2, s, 2},
		{"m<0", blas.NoTrans, blas.NoTrans, -1, 2, 2, s, 2, s, 2, s, 2},
		{"n<0", blas.NoTrans, blas.NoTrans, 2, -1, 2, s, 2, s, 2, s, 2},
		{"k<0", blas.NoTrans, blas.NoTrans, 2, 2, -1, s, 2, s, 2, s, 2},
		{"lda", blas.NoTrans, blas.NoTrans, 2, 2, 3, s, 2, s, 2, s, 2},
		{"ldaT", blas.Trans, blas.NoTrans, 3, 2, 2, s, 2, s, 2, s, 2},
		{"ldb", blas.NoTrans, blas.NoTrans, 2, 3, 2, s, 2, s, 2, s, 3},
		{"ldbT", blas.NoTrans, blas.Trans, 2, 2, 3, s, 3, s, 2, s, 2},
		{"ldc", blas.NoTrans, blas.NoTrans, 2, 3, 2, s, 2, s, 3, s, 2},
		{"shortA", blas.NoTrans, blas.NoTrans, 4, 2, 2, s[:7], 2, s, 2, s, 2},
		{"shortB", blas.NoTrans, blas.Trans, 2, 4, 2, s, 2, s[:7], 2, s, 4},
		{"shortC", blas.NoTrans, blas.NoTrans, 2, 2, 2, s, 2, s, 2, s[:3], 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := func(f func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) (msg any) {
				defer func() { msg = recover() }()
				f(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0, tc.c, tc.ldc)
				return nil
			}
			got := call(Sgemm)
			want := call(gonum.Implementation{}.Sgemm)
			if want == nil {
				t.Fatalf("gonum did not panic: the case is wrong")
			}
			if got != want {
				t.Errorf("Sgemm panicked with %v, want %v", got, want)
			}
		})
	}
}

// TestSgemmMatchesGonum compares Implementation.Sgemm with gonum's on the
// same operands.
func TestSgemmMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 0))
	var impl blas.Float32 = Implementation{}
	for range 20 {
		tc := randCase(rng, 100)
		ar, ac := stored(tc.tA, tc.m, tc.k)
		br, bc := stored(tc.tB, tc.k, tc.n)
		a := randMat(rng, ar, ac, tc.lda, 0)
		b := randMat(rng, br, bc, tc.ldb, 0)
		c := randMat(rng, tc.m, tc.n, tc.ldc, 0)
		want := append([]float32(nil), c...)
		impl.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, c, tc.ldc)
		gonum.Implementation{}.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, want, tc.ldc)
		for i := range c {
			// Operands in [-1, 1): both are within γ(k+2)·k of the exact
			// value, so within 2·(k+2)·2⁻²⁴·k of each other.
			if d := math.Abs(float64(c[i] - want[i])); d > 2*float64(tc.k+2)*0x1p-24*float64(tc.k+1) {
				t.Fatalf("%v: c[%d] = %g, gonum %g", tc, i, c[i], want[i])
			}
		}
	}
}

// TestSgemmNoAllocs checks that calls allocate nothing once the packing
// buffers are in the pool, single-threaded and split over goroutines.
func TestSgemmNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumentation allocates")
	}
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			useThreads(t, procs)
			const m, n, k = 64, 200, 300
			a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
			allocs := testing.AllocsPerRun(50, func() {
				Sgemm(blas.Trans, blas.NoTrans, m, n, k, 1, a, m, b, n, 0, c, n)
			})
			// A GC during the run may empty the pools once: allow a
			// fraction of an allocation per call, not one per call.
			if allocs >= 1 {
				t.Errorf("Sgemm allocated %v times per call, want 0", allocs)
			}
		})
	}
}

// TestSgemmConcurrentCalls runs independent products from several
// goroutines at once, each split over goroutines itself: the pools and the
// split must not share state between calls (run with -race).
func TestSgemmConcurrentCalls(t *testing.T) {
	useThreads(t, 2)
	for w := range 4 {
		t.Run(fmt.Sprintf("worker=%d", w), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(4, uint64(w)))
			for range 10 {
				check(t, rng, randCase(rng, 120))
			}
		})
	}
}

// TestSetThreads checks that SetThreads caps the split and restores.
func TestSetThreads(t *testing.T) {
	useThreads(t, 4)
	parFlops = 1 << 22
	if got := threads(1 << 30); got != 4 {
		t.Errorf("threads with GOMAXPROCS=4 = %d, want 4", got)
	}
	old := SetThreads(1)
	t.Cleanup(func() { SetThreads(old) })
	if got := threads(1 << 30); got != 1 {
		t.Errorf("threads after SetThreads(1) = %d, want 1", got)
	}
	if got := SetThreads(0); got != 1 {
		t.Errorf("SetThreads(0) returned %d, want the previous cap 1", got)
	}
	if got := threads(1 << 30); got != 4 {
		t.Errorf("threads after SetThreads(0) = %d, want GOMAXPROCS 4", got)
	}
	if got := threads(1<<22 - 1); got != 1 {
		t.Errorf("threads below parFlops = %d, want 1", got)
	}
}

func FuzzSgemm(f *testing.F) {
	f.Add(uint8(6), uint8(16), uint8(8), uint8(0), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(15), uint64(2))
	f.Add(uint8(13), uint8(33), uint8(70), uint8(5), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 0))
		tc := gemmCase{
			tA: transposes[flags&1], tB: transposes[flags>>1&1],
			m: int(m) % 80, n: int(n) % 80, k: int(k) % 80,
			alpha: []float32{1, 0.5, 0, -2}[flags>>2&3],
			beta:  []float32{0, 1, -0.25, 3}[flags>>4&3],
		}
		_, ac := stored(tc.tA, tc.m, tc.k)
		_, bc := stored(tc.tB, tc.k, tc.n)
		extra := int(flags >> 6)
		tc.lda, tc.ldb, tc.ldc = max(1, ac+extra), max(1, bc+extra), max(1, tc.n+extra)
		if tc.m == 0 || tc.n == 0 {
			return // check's matrices need a row; TestSgemmZeroSizes covers these
		}
		for _, kr := range kernels() {
			old := kern
			kern = kr
			check(t, rng, tc)
			kern = old
		}
	})
}

// useDirect sets directMaxM until the test ends.
func useDirect(tb testing.TB, maxM int) {
	tb.Helper()
	old := directMaxM
	directMaxM = maxM
	tb.Cleanup(func() { directMaxM = old })
}

// TestSgemmBInPlace checks that reading B in place or packing it panel by
// panel (m ≤ directMaxM) gives the bits of packing it by blocks, for
// every kernel and transpose, with the default and a small blocking
// (several panels and slices of k), and that the assembly kernels give
// the AVX2 kernel's bits on that path.
func TestSgemmBInPlace(t *testing.T) {
	n := 60
	if testing.Short() || raceEnabled {
		n = 15
	}
	for _, blocking := range []struct {
		name       string
		kc, mc, nc int
	}{
		{"default", kcBlock, mcBlock, ncBlock},
		{"small", 7, 12, 32},
	} {
		t.Run("blocking="+blocking.name, func(t *testing.T) {
			useBlocking(t, blocking.kc, blocking.mc, blocking.nc)
			rng := rand.New(rand.NewPCG(7, 3))
			for range n {
				tc := randCase(rng, 300)
				tc.m = 1 + rng.IntN(directMaxM)
				ar, ac := stored(tc.tA, tc.m, tc.k)
				br, bc := stored(tc.tB, tc.k, tc.n)
				tc.lda, tc.ldb = ac+rng.IntN(3), bc+rng.IntN(3)
				a := randMat(rng, ar, ac, tc.lda, float32(math.NaN()))
				b := randMat(rng, br, bc, tc.ldb, float32(math.NaN()))
				c0 := randMat(rng, tc.m, tc.n, tc.ldc, 0)
				run := func(kr *kernel, maxM int) []float32 {
					old, oldM := kern, directMaxM
					kern, directMaxM = kr, maxM
					defer func() { kern, directMaxM = old, oldM }()
					c := slices.Clone(c0)
					Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, c, tc.ldc)
					return c
				}
				var avx2 []float32
				for _, kr := range kernels() {
					direct, packed := run(kr, directMaxM), run(kr, 0)
					if i := firstDiff(direct, packed); i >= 0 {
						t.Fatalf("kernel=%s %v: B in place gives %g at %d, packed %g", kr.name, tc, direct[i], i, packed[i])
					}
					if kr.name == "avx2" {
						avx2 = direct
					}
				}
				for _, kr := range cpuKernels() {
					if avx2 == nil {
						break
					}
					if i := firstDiff(run(kr, directMaxM), avx2); i >= 0 {
						t.Fatalf("kernel=%s %v: B in place differs from the AVX2 kernel at %d", kr.name, tc, i)
					}
				}
			}
		})
	}
}

// firstDiff returns the first index where x and y differ in bits, or -1.
func firstDiff(x, y []float32) int {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return i
		}
	}
	return -1
}

// TestSgemmSameBitsAsAVX2 checks that Sgemm gives the same bits with
// every assembly kernel as with the AVX2 one on random cases (every
// transpose, B packed or read in place, tiles of 12 rows one or several
// per call), with the default and a small blocking.
func TestSgemmSameBitsAsAVX2(t *testing.T) {
	ks := cpuKernels()
	if len(ks) < 2 {
		t.Skipf("%d assembly kernels on this CPU: nothing to compare", len(ks))
	}
	n := 60
	if testing.Short() || raceEnabled {
		n = 15
	}
	for _, blocking := range []struct {
		name       string
		kc, mc, nc int
	}{
		{"default", kcBlock, mcBlock, ncBlock},
		{"small", 7, 36, 32},
	} {
		t.Run("blocking="+blocking.name, func(t *testing.T) {
			useBlocking(t, blocking.kc, blocking.mc, blocking.nc)
			rng := rand.New(rand.NewPCG(8, 5))
			for range n {
				tc := randCase(rng, 300)
				ar, ac := stored(tc.tA, tc.m, tc.k)
				br, bc := stored(tc.tB, tc.k, tc.n)
				a := randMat(rng, ar, ac, tc.lda, float32(math.NaN()))
				b := randMat(rng, br, bc, tc.ldb, float32(math.NaN()))
				c0 := randMat(rng, tc.m, tc.n, tc.ldc, 0)
				var want []float32
				for _, kr := range ks {
					old := kern
					kern = kr
					c := slices.Clone(c0)
					Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, c, tc.ldc)
					kern = old
					if want == nil {
						want = c // cpuKernels lists avx2 first
						continue
					}
					if i := firstDiff(c, want); i >= 0 {
						t.Fatalf("kernel=%s %v: element %d is %g, the AVX2 kernel gives %g", kr.name, tc, i, c[i], want[i])
					}
				}
			}
		})
	}
}
