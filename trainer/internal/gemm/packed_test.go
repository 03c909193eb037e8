package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// packedConfigs are the blockings and thread counts the packed products
// are checked under: a small blocking cuts m and k into several blocks
// (the packed blocks' offsets), two threads split the products.
var packedConfigs = []struct {
	name       string
	kc, mc, nc int
	threads    int
}{
	{"default", 0, 0, 0, 1},
	{"small", 7, 36, 32, 1},
	{"small-2threads", 7, 36, 32, 2},
	{"default-2threads", 0, 0, 0, 2},
}

func usePackedConfig(t *testing.T, kc, mc, nc, threads int) {
	t.Helper()
	if kc > 0 {
		useBlocking(t, kc, mc, nc)
	}
	if threads > 1 {
		useThreads(t, threads)
	}
}

// TestSgemmPacked checks SgemmPacked against the naive product and
// against Sgemm bit for bit, on random cases, every kernel, one PackedA
// packed again for every case.
func TestSgemmPacked(t *testing.T) {
	n := 40
	if testing.Short() || raceEnabled {
		n = 10
	}
	for _, cfg := range packedConfigs {
		for _, kr := range kernels() {
			t.Run(fmt.Sprintf("config=%s/kernel=%s", cfg.name, kr.name), func(t *testing.T) {
				usePackedConfig(t, cfg.kc, cfg.mc, cfg.nc, cfg.threads)
				useKernel(t, kr)
				rng := rand.New(rand.NewPCG(3, 9))
				var pa PackedA
				for range n {
					tc := randCase(rng, 300)
					ar, ac := stored(tc.tA, tc.m, tc.k)
					br, bc := stored(tc.tB, tc.k, tc.n)
					a := randMat(rng, ar, ac, tc.lda, float32(math.NaN()))
					b := randMat(rng, br, bc, tc.ldb, float32(math.NaN()))
					c0 := randMat(rng, tc.m, tc.n, tc.ldc, 0)
					want := slices.Clone(c0)
					Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, want, tc.ldc)
					pa.Pack(tc.tA, tc.m, tc.k, a, tc.lda)
					got := slices.Clone(c0)
					SgemmPacked(tc.tB, tc.m, tc.n, tc.k, tc.alpha, &pa, b, tc.ldb, tc.beta, got, tc.ldc)
					if i := firstDiff(got, want); i >= 0 {
						t.Fatalf("%v: element %d is %g, Sgemm gives %g", tc, i, got[i], want[i])
					}
					ref, mag := naive(tc, a, b, c0)
					u := float64(tc.k+2) * 0x1p-24
					for i, v := range got {
						if i%tc.ldc >= tc.n {
							continue
						}
						if d := math.Abs(float64(v) - ref[i]); !(d <= 2*u*mag[i]+1e-30) {
							t.Fatalf("%v: element %d is %g, want %g", tc, i, v, ref[i])
						}
					}
				}
			})
		}
	}
}

// TestSgemmShiftedPacked checks that SgemmShiftedPacked gives the bits of
// SgemmShifted (which TestSgemmShifted checks against the product with
// the columns written out), B and Bᵀ, every kernel.
func TestSgemmShiftedPacked(t *testing.T) {
	for _, cfg := range packedConfigs {
		for _, kr := range kernels() {
			t.Run(fmt.Sprintf("config=%s/kernel=%s", cfg.name, kr.name), func(t *testing.T) {
				usePackedConfig(t, cfg.kc, cfg.mc, cfg.nc, cfg.threads)
				useKernel(t, kr)
				rng := rand.New(rand.NewPCG(4, 2))
				var pa PackedA
				for _, g := range convGeoms {
					s, err := SameConvColumns(g.c, g.h, g.w, g.k)
					if err != nil {
						t.Fatal(err)
					}
					s.SetBase(randMat(rng, 1, g.c*g.h*g.w, g.c*g.h*g.w, 0))
					rows, cols := s.Dims()
					for _, tA := range transposes {
						for _, tB := range transposes {
							m := 1 + rng.IntN(150)
							k, n := rows, cols
							if tB == blas.Trans {
								k, n = cols, rows
							}
							ar, ac := stored(tA, m, k)
							a := randMat(rng, ar, ac, ac, 0)
							c0 := randMat(rng, m, n, n, 0)
							for _, beta := range []float32{0, 1} {
								want := slices.Clone(c0)
								SgemmShifted(tA, tB, m, n, k, 0.5, a, ac, s, beta, want, n)
								pa.Pack(tA, m, k, a, ac)
								got := slices.Clone(c0)
								SgemmShiftedPacked(tB, m, n, k, 0.5, &pa, s, beta, got, n)
								if i := firstDiff(got, want); i >= 0 {
									t.Fatalf("conv %v tA=%c tB=%c m=%d beta=%g: element %d is %g, SgemmShifted gives %g", g, tA, tB, m, beta, i, got[i], want[i])
								}
								// The same product in blocks of columns.
								got = slices.Clone(c0)
								for j0 := 0; j0 < n; {
									w := min(n-j0, PanelWidth*(1+rng.IntN(3)))
									SgemmShiftedPackedAt(tB, m, w, k, 0.5, &pa, s, j0, beta, got[j0:], n)
									j0 += w
								}
								if i := firstDiff(got, want); i >= 0 {
									t.Fatalf("conv %v tA=%c tB=%c m=%d beta=%g, blocks of columns: element %d is %g, SgemmShifted gives %g", g, tA, tB, m, beta, i, got[i], want[i])
								}
							}
						}
					}
				}
			})
		}
	}
}

// TestSgemmScatterPacked checks that SgemmScatterPacked gives the bits of
// SgemmScatter (which TestSgemmScatter checks against the naive sums).
func TestSgemmScatterPacked(t *testing.T) {
	for _, cfg := range packedConfigs[:2] { // SgemmScatter runs on one goroutine
		for _, kr := range kernels() {
			t.Run(fmt.Sprintf("config=%s/kernel=%s", cfg.name, kr.name), func(t *testing.T) {
				usePackedConfig(t, cfg.kc, cfg.mc, cfg.nc, cfg.threads)
				useKernel(t, kr)
				rng := rand.New(rand.NewPCG(7, 1))
				var pa PackedA
				for _, g := range convGeoms {
					s, err := SameConvColumnsByShift(g.c, g.h, g.w, g.k)
					if err != nil {
						t.Fatal(err)
					}
					m, n := s.Dims()
					base0 := randMat(rng, 1, g.c*g.h*g.w, g.c*g.h*g.w, 0)
					for _, tA := range transposes {
						for _, tB := range transposes {
							k := 1 + rng.IntN(70)
							ar, ac := stored(tA, m, k)
							br, bc := stored(tB, k, n)
							a, b := randMat(rng, ar, ac, ac, 0), randMat(rng, br, bc, bc, 0)
							want := slices.Clone(base0)
							s.SetBase(want)
							SgemmScatter(tA, tB, m, n, k, 0.75, a, ac, b, bc, s)
							got := slices.Clone(base0)
							s.SetBase(got)
							pa.Pack(tA, m, k, a, ac)
							SgemmScatterPacked(tB, m, n, k, 0.75, &pa, b, bc, s)
							if i := firstDiff(got, want); i >= 0 {
								t.Fatalf("conv %v tA=%c tB=%c k=%d: element %d is %g, SgemmScatter gives %g", g, tA, tB, k, i, got[i], want[i])
							}
						}
					}
				}
			})
		}
	}
}

// TestPackedAPanics checks that a product refuses a PackedA of another
// shape or never packed.
func TestPackedAPanics(t *testing.T) {
	var pa PackedA
	a := make([]float32, 12)
	pa.Pack(blas.NoTrans, 3, 4, a, 4)
	c := make([]float32, 30)
	b := make([]float32, 40)
	s, err := SameConvColumns(2, 4, 4, 3) // 18×16
	if err != nil {
		t.Fatal(err)
	}
	s.SetBase(make([]float32, 2*4*4))
	var ps PackedA
	ps.Pack(blas.NoTrans, 3, 18, make([]float32, 3*18), 18)
	cs := make([]float32, 3*32)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"wrong m", func() { SgemmPacked(blas.NoTrans, 2, 5, 4, 1, &pa, b, 5, 0, c, 5) }},
		{"wrong k", func() { SgemmPacked(blas.NoTrans, 3, 5, 3, 1, &pa, b, 5, 0, c, 5) }},
		{"nil", func() { SgemmPacked(blas.NoTrans, 3, 5, 4, 1, nil, b, 5, 0, c, 5) }},
		{"never packed", func() { SgemmPacked(blas.NoTrans, 3, 5, 4, 1, new(PackedA), b, 5, 0, c, 5) }},
		{"shifted: fewer columns", func() { SgemmShiftedPacked(blas.NoTrans, 3, 8, 18, 1, &ps, s, 0, cs, 16) }},
		{"shifted at: unaligned column", func() { SgemmShiftedPackedAt(blas.NoTrans, 3, 8, 18, 1, &ps, s, 8, 0, cs, 16) }},
		{"shifted at: past the last column", func() { SgemmShiftedPackedAt(blas.NoTrans, 3, 16, 18, 1, &ps, s, 16, 0, cs, 16) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}
