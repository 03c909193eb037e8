package op

import (
	"math"
	"math/rand/v2"
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
		im2col(&g, x, col)
		var a, b float64
		for i := range c {
			a += col[i] * c[i]
		}
		col2im(&g, c, dx, blas64.axpy)
		for i := range x {
			b += x[i] * dx[i]
		}
		if math.Abs(a-b) > 1e-12*max(math.Abs(a), 1) {
			t.Errorf("%v: ⟨im2col x, c⟩ = %v, ⟨x, col2im c⟩ = %v", cc, a, b)
		}
	}
}
