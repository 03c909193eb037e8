package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// TestSgemmScatter checks SgemmScatter against a float64 reference
// (the product added into the base entry by entry), for every kernel and
// blocking, and that the assembly kernels give the same bits with one blocking
// (another blocking adds other partial sums); the base vector
// lies inside NaN padding that must stay untouched.
func TestSgemmScatter(t *testing.T) {
	type scatterCase struct {
		name string
		s    *Shifted
		n    int
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var cases []scatterCase
	for _, g := range convGeoms {
		for _, byShift := range []bool{false, true} {
			mk, name := SameConvColumns, "conv"
			if byShift {
				mk, name = SameConvColumnsByShift, "convByShift"
			}
			s, err := mk(g.c, g.h, g.w, g.k)
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, scatterCase{fmt.Sprintf("%s%dx%dx%dk%d", name, g.c, g.h, g.w, g.k), s, g.c * g.h * g.w})
		}
	}
	for i := range 6 {
		rows, cols, n := 1+rng.IntN(200), 1+rng.IntN(100), 1+rng.IntN(500)
		cases = append(cases, scatterCase{fmt.Sprintf("random%d", i), randShifted(rng, rows, cols, n), n})
	}
	nan := float32(math.NaN())
	for _, sc := range cases {
		m, n := sc.s.Dims()
		k := 1 + rng.IntN(70)
		base0 := randMat(rng, 1, sc.n, sc.n, 0)
		for _, tA := range transposes {
			for _, tB := range transposes {
				ar, ac := stored(tA, m, k)
				br, bc := stored(tB, k, n)
				a, b := randMat(rng, ar, ac, ac, 0), randMat(rng, br, bc, bc, 0)
				const alpha = 0.75
				// The reference and a bound on the rounding of each entry.
				ref, mag := make([]float64, sc.n), make([]float64, sc.n)
				for i, v := range base0 {
					ref[i], mag[i] = float64(v), math.Abs(float64(v))
				}
				sc.s.SetBase(base0)
				for i := range m {
					for j := range n {
						if sc.s.mask[(j/nr)*m+i]>>(j%nr)&1 == 0 {
							continue
						}
						var dot, abs float64
						for q := range k {
							var av, bv float32
							if tA == blas.NoTrans {
								av = a[i*ac+q]
							} else {
								av = a[q*ac+i]
							}
							if tB == blas.NoTrans {
								bv = b[q*bc+j]
							} else {
								bv = b[j*bc+q]
							}
							dot += float64(av) * float64(bv)
							abs += math.Abs(float64(av) * float64(bv))
						}
						e := int(sc.s.off[i]) + j
						ref[e] += alpha * dot
						mag[e] += alpha * abs
					}
				}
				for _, blocking := range [][3]int{{kcBlock, mcBlock, ncBlock}, {7, 12, 32}} {
					var first []float32
					for _, kr := range kernels() {
						name := fmt.Sprintf("%s tA=%c tB=%c k=%d kernel=%s blocking=%v", sc.name, tA, tB, k, kr.name, blocking)
						useKernel(t, kr)
						useBlocking(t, blocking[0], blocking[1], blocking[2])
						padded := make([]float32, sc.n+64)
						for i := range padded {
							padded[i] = nan
						}
						copy(padded[32:], base0)
						sc.s.SetBase(padded[32 : 32+sc.n])
						SgemmScatter(tA, tB, m, n, k, alpha, a, ac, b, bc, sc.s)
						for i, v := range padded {
							if (i < 32 || i >= 32+sc.n) && !math.IsNaN(float64(v)) {
								t.Fatalf("%s: padding element %d written (%g)", name, i-32, v)
							}
						}
						got := padded[32 : 32+sc.n]
						u := float64(k*m+2) * 0x1p-24
						for i, v := range got {
							if d := math.Abs(float64(v) - ref[i]); !(d <= u*mag[i]+1e-30) {
								t.Fatalf("%s: base[%d] = %g, want %g (|diff| %.3g > %.3g)", name, i, v, ref[i], d, u*mag[i])
							}
						}
						if kr == goKernel {
							continue // no fused multiply-adds: other bits
						}
						if first == nil {
							first = append([]float32(nil), got...)
							continue
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
								t.Fatalf("%s: base[%d] = %g, the first kernel %g", name, i, got[i], first[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestSgemmScatterPanics(t *testing.T) {
	s, err := SameConvColumns(2, 3, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]float32, 18*18)
	b := make([]float32, 18*18)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"no base", func() { SgemmScatter(blas.NoTrans, blas.NoTrans, 18, 9, 4, 1, a, 4, b, 9, s) }, "without a base"},
		{"wrong shape", func() { SgemmScatter(blas.NoTrans, blas.NoTrans, 17, 9, 4, 1, a, 4, b, 9, s) }, shortC},
		{"short a", func() { SgemmScatter(blas.NoTrans, blas.NoTrans, 18, 9, 40, 1, a[:10], 40, b, 9, s) }, shortA},
	} {
		func() {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tc.want) {
					t.Errorf("%s: panic %v, want one containing %q", tc.name, r, tc.want)
				}
			}()
			tc.f()
		}()
	}
}
