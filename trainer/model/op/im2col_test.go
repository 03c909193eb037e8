package op

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// TestIm2colAdjoint checks ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for random x
// and c: col2im is the transpose of im2col, which the input gradient
// relies on.
func TestIm2colAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, cc := range convCases {
		g, err := newConvGeom(tensor.Shape{1, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad)
		if err != nil {
			t.Fatal(err)
		}
		x, c := randn(r, g.chw, 0, 1), randn(r, g.ckk*g.hw, 0, 1)
		col, dx := make([]float64, len(c)), make([]float64, len(x))
		im2col(&g, x, col, g.hw)
		var a, b float64
		for i := range c {
			a += col[i] * c[i]
		}
		col2im(&g, c, g.hw, dx, blas64.axpy)
		for i := range x {
			b += x[i] * dx[i]
		}
		if math.Abs(a-b) > 1e-12*max(math.Abs(a), 1) {
			t.Errorf("%v: ⟨im2col x, c⟩ = %v, ⟨x, col2im c⟩ = %v", cc, a, b)
		}
	}
}

// TestIm2colPaths checks both ways of writing the columns, the copies of
// rows and shifted planes and the gather through the table src, against
// the definition, with a row stride wider than a row; and that col2im
// gives the same sums on both.
func TestIm2colPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := append(slices.Clone(convCases),
		convCase{2, 3, 4, 4, 5, 3, 1, 1, false},   // a ResNet's 4×4 stage: "same", gathered
		convCase{2, 3, 16, 12, 5, 3, 1, 1, false}, // "same", copied
	)
	for _, cc := range cases {
		g, err := newConvGeom(tensor.Shape{1, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad)
		if err != nil {
			t.Fatal(err)
		}
		if g.direct {
			continue
		}
		x := randn(r, g.chw, 0, 1)
		ld := g.hw + 3
		want := make([]float64, g.ckk*ld)
		for c := range g.c {
			for ki := range g.k {
				for kj := range g.k {
					row := (c*g.k+ki)*g.k + kj
					for oh := range g.ho {
						for ow := range g.wo {
							ih, iw := oh*g.stride-g.pad+ki, ow*g.stride-g.pad+kj
							if ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
								want[row*ld+oh*g.wo+ow] = x[(c*g.h+ih)*g.w+iw]
							}
						}
					}
				}
			}
		}
		for _, gathered := range []bool{false, true} {
			gg := g
			if !gathered {
				gg.src = nil
			} else if gg.src == nil {
				continue
			}
			col := make([]float64, g.ckk*ld)
			for i := range col {
				col[i] = math.NaN() // every entry of a row is written
			}
			im2col(&gg, x, col, ld)
			for i := range col {
				if i%ld >= g.hw {
					continue
				}
				if col[i] != want[i] {
					t.Fatalf("%v gathered %t: column entry (%d, %d) is %v, want %v", cc, gathered, i/ld, i%ld, col[i], want[i])
				}
			}
		}
		if g.src == nil {
			continue
		}
		// col2im: the same sums through the table as by rows and planes.
		c := randn(r, g.ckk*ld, 0, 1)
		got, ref := randn(r, g.chw, 0, 1), make([]float64, g.chw)
		copy(ref, got)
		gg := g
		gg.src = nil
		col2im(&gg, slices.Clone(c), ld, ref, blas64.axpy)
		col2im(&g, c, ld, got, blas64.axpy)
		for i := range got {
			if got[i] != ref[i] {
				t.Fatalf("%v: col2im through the table: dx[%d] is %v, want %v", cc, i, got[i], ref[i])
			}
		}
	}
}
