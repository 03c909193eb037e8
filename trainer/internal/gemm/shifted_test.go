package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// convGeoms are same-convolution shapes: the models' (FashionMNIST-CNN's
// two layers, the CIFAR 3×3 ones) and edge cases (one column, a kernel
// larger than the image, planes that are not whole panels).
var convGeoms = []struct{ c, h, w, k int }{
	{1, 28, 28, 5}, {16, 14, 14, 5}, {3, 8, 8, 3}, {2, 5, 7, 3},
	{1, 1, 1, 1}, {3, 3, 3, 1}, {2, 4, 4, 7}, {5, 2, 9, 3}, {1, 17, 1, 3},
}

// TestSameConvColumns checks the Shifted column matrix element by element
// against the definition of im2col.
func TestSameConvColumns(t *testing.T) {
	for _, g := range convGeoms {
		s, err := SameConvColumns(g.c, g.h, g.w, g.k)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, g.c*g.h*g.w)
		for i := range x {
			x[i] = float32(i + 1)
		}
		s.SetBase(x)
		p := (g.k - 1) / 2
		for c := range g.c {
			for ki := range g.k {
				for kj := range g.k {
					for oh := range g.h {
						for ow := range g.w {
							var want float32
							if ih, iw := oh+ki-p, ow+kj-p; ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
								want = x[(c*g.h+ih)*g.w+iw]
							}
							r, j := (c*g.k+ki)*g.k+kj, oh*g.w+ow
							if got := s.At(r, j); got != want {
								t.Fatalf("%+v: B[%d][%d] = %g, want %g", g, r, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// materialize writes s out as a row-major rows×cols matrix.
func materialize(s *Shifted) []float32 {
	rows, cols := s.Dims()
	b := make([]float32, rows*cols)
	for r := range rows {
		for j := range cols {
			b[r*cols+j] = s.At(r, j)
		}
	}
	return b
}

// randShifted returns a Shifted matrix with random offsets and masks over
// a base of n elements: every selected entry inside it, many windows
// starting before it or ending past it.
func randShifted(rng *rand.Rand, rows, cols, n int) *Shifted {
	panels := (cols + nr - 1) / nr
	off := make([]int32, rows)
	mask := make([]uint16, rows*panels)
	for r := range rows {
		off[r] = int32(rng.IntN(n+2*cols) - 2*cols)
		for j := range cols {
			if i := int(off[r]) + j; i >= 0 && i < n && rng.IntN(4) != 0 {
				mask[(j/nr)*rows+r] |= 1 << (j % nr)
			}
		}
	}
	s, err := NewShifted(rows, cols, off, mask)
	if err != nil {
		panic(err)
	}
	return s
}

// TestSgemmShifted checks that SgemmShifted gives the bits of Sgemm on the
// matrix written out, for every kernel, blocking and split, with the base
// vector inside NaN padding (an entry read outside the masks shows).
func TestSgemmShifted(t *testing.T) {
	type shiftCase struct {
		name string
		s    *Shifted
		n    int // base length
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var cases []shiftCase
	for _, g := range convGeoms {
		s, err := SameConvColumns(g.c, g.h, g.w, g.k)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, shiftCase{fmt.Sprintf("conv%dx%dx%dk%d", g.c, g.h, g.w, g.k), s, g.c * g.h * g.w})
	}
	for i := range 6 {
		rows, cols, n := 1+rng.IntN(300), 1+rng.IntN(100), 1+rng.IntN(500)
		cases = append(cases, shiftCase{fmt.Sprintf("random%d", i), randShifted(rng, rows, cols, n), n})
	}
	for _, kr := range kernels() {
		for _, blocking := range []struct {
			name       string
			kc, mc, nc int
		}{
			{"default", kcBlock, mcBlock, ncBlock},
			{"small", 7, 12, 32},
		} {
			for _, procs := range []int{1, 3} {
				t.Run(fmt.Sprintf("kernel=%s/blocking=%s/procs=%d", kr.name, blocking.name, procs), func(t *testing.T) {
					useKernel(t, kr)
					useBlocking(t, blocking.kc, blocking.mc, blocking.nc)
					if procs > 1 {
						useThreads(t, procs)
					}
					for _, sc := range cases {
						nan := float32(math.NaN())
						padded := randMat(rng, 1, sc.n+64, sc.n+64, nan)
						for i := range 32 {
							padded[i], padded[len(padded)-1-i] = nan, nan
						}
						sc.s.SetBase(padded[32 : 32+sc.n])
						b := materialize(sc.s)
						rows, cols := sc.s.Dims()
						for _, tB := range transposes {
							k, n := rows, cols // op(B) k×n
							if tB == blas.Trans {
								k, n = cols, rows
							}
							for _, tA := range transposes {
								m := 1 + rng.IntN(40)
								ar, ac := stored(tA, m, k)
								a := randMat(rng, ar, ac, ac, 0)
								c0 := randMat(rng, m, n, n, 0)
								for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {1, -0.25}} {
									want := append([]float32(nil), c0...)
									Sgemm(tA, tB, m, n, k, ab[0], a, ac, b, cols, ab[1], want, n)
									got := append([]float32(nil), c0...)
									SgemmShifted(tA, tB, m, n, k, ab[0], a, ac, sc.s, ab[1], got, n)
									for i := range got {
										if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
											t.Fatalf("%s tA=%c tB=%c m=%d alpha=%g beta=%g: C[%d,%d] = %g, Sgemm on the written-out matrix %g",
												sc.name, tA, tB, m, ab[0], ab[1], i/n, i%n, got[i], want[i])
										}
									}
								}
							}
						}
					}
				})
			}
		}
	}
}

func TestNewShiftedErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols int
		off        []int32
		mask       []uint16
		want       string
	}{
		{"empty", 0, 3, nil, nil, "0×3"},
		{"offsets", 2, 3, []int32{0}, []uint16{1, 1}, "1 offsets"},
		{"masks", 1, 17, []int32{0}, []uint16{1}, "1 masks"},
		{"before the base", 1, 3, []int32{-1}, []uint16{1}, "reads base[-1]"},
		{"past the columns", 1, 3, []int32{0}, []uint16{1 << 3}, "entry (0, 3)"},
	} {
		_, err := NewShifted(tc.rows, tc.cols, tc.off, tc.mask)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	for _, g := range [][4]int{{0, 3, 3, 3}, {1, 3, 3, 2}, {1, 0, 3, 1}} {
		if _, err := SameConvColumns(g[0], g[1], g[2], g[3]); err == nil {
			t.Errorf("SameConvColumns%v: no error", g)
		}
	}
}

func TestShiftedPanics(t *testing.T) {
	s, err := SameConvColumns(2, 3, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	c := make([]float32, 18*9)
	a := make([]float32, 18*18)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"short base", func() { s.SetBase(make([]float32, 17)) }, "base of 17 elements, need 18"},
		{"no base", func() { SgemmShifted(blas.NoTrans, blas.NoTrans, 1, 9, 18, 1, a, 18, s, 0, c, 9) }, "without a base"},
		{"no base (transposed)", func() { SgemmShifted(blas.NoTrans, blas.Trans, 1, 18, 9, 1, a, 9, s, 0, c, 18) }, "without a base"},
		{"wrong shape", func() { SgemmShifted(blas.NoTrans, blas.NoTrans, 1, 9, 17, 1, a, 17, s, 0, c, 9) }, shortB},
		{"wrong shape (transposed)", func() { SgemmShifted(blas.NoTrans, blas.Trans, 1, 9, 18, 1, a, 18, s, 0, c, 9) }, shortB},
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
