package op

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lstmGorgonia is the LSTM of lstmOp from gorgonia's generic ops, the
// reference the fused op is tested against (and what CharLSTM ran on
// before it: about 20 nodes per step, each allocating its output). xs is
// (steps·n, in), time-major; the result (n·steps, H), sample-major.
func lstmGorgonia(xs, wx, wh, bias *G.Node, steps int) (*G.Node, error) {
	n, in, H := xs.Shape()[0]/steps, xs.Shape()[1], wh.Shape()[0]
	var err error // the first error; every step below is skipped after it
	// do applies f unless an earlier step failed.
	do := func(f func() (*G.Node, error)) *G.Node {
		if err != nil {
			return nil
		}
		var y *G.Node
		y, err = f()
		return y
	}
	// slice returns z[rows, cols] as an (n, width) matrix: gorgonia drops
	// an axis sliced to length 1 (batch 1, H 1 or in 1).
	slice := func(z *G.Node, rows, cols tensor.Slice, width int) *G.Node {
		s := do(func() (*G.Node, error) { return G.Slice(z, rows, cols) })
		if s == nil || s.Dims() == 2 {
			return s
		}
		return do(func() (*G.Node, error) { return G.Reshape(s, tensor.Shape{n, width}) })
	}
	unary := func(f func(*G.Node) (*G.Node, error), x *G.Node) *G.Node {
		return do(func() (*G.Node, error) { return f(x) })
	}
	binary := func(f func(x, y *G.Node) (*G.Node, error), x, y *G.Node) *G.Node {
		return do(func() (*G.Node, error) { return f(x, y) })
	}
	// gate k of z: f(z[:, k·H : (k+1)·H]).
	gate := func(z *G.Node, k int, f func(*G.Node) (*G.Node, error)) *G.Node {
		return unary(f, slice(z, nil, G.S(k*H, (k+1)*H), H))
	}
	hs := make([]*G.Node, steps)
	var h, c *G.Node
	for t := range steps {
		// Per-step products: slicing a step out of one (steps·batch, 4H)
		// product would cost a gradient of that whole size per step.
		xt := slice(xs, G.S(t*n, (t+1)*n), nil, in)
		z := binary(G.Mul, xt, wx)
		z = binary(func(x, y *G.Node) (*G.Node, error) { return G.BroadcastAdd(x, y, nil, []byte{0}) }, z, bias)
		if t > 0 { // h_{-1} = 0: no recurrent term at step 0
			z = binary(G.Add, z, binary(G.Mul, h, wh))
		}
		ig := binary(G.HadamardProd, gate(z, 0, G.Sigmoid), gate(z, 2, G.Tanh))
		if t == 0 { // c_{-1} = 0
			c = ig
		} else {
			c = binary(G.Add, binary(G.HadamardProd, gate(z, 1, G.Sigmoid), c), ig)
		}
		h = binary(G.HadamardProd, gate(z, 3, G.Sigmoid), unary(G.Tanh, c))
		hs[t] = h
	}
	out := h
	if steps > 1 {
		// (batch, steps·hidden): row i is h_0[i], h_1[i], …
		out = do(func() (*G.Node, error) { return G.Concat(1, hs...) })
	}
	y := do(func() (*G.Node, error) { return G.Reshape(out, tensor.Shape{n * steps, H}) })
	return y, err
}

// TestLSTMOp compares the fused lstmOp with the same LSTM from gorgonia's
// generic ops (lstmGorgonia) on random inputs, two runs each: outputs and
// the gradients of all four inputs, float64 (error ≤ 1e-9) and float32
// (≤ 2e-5). Shapes include one sample and one unit (axes that gorgonia's
// slicing drops). (One step leaves Wh out of gorgonia's graph, which
// then cannot differentiate it; the gradient checks of CharLSTM cover
// the first step.)
func TestLSTMOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, s := range [][4]int{{4, 3, 2, 3}, {2, 2, 3, 2}, {5, 1, 4, 1}, {7, 5, 8, 16}} {
			steps, n, in, h := s[0], s[1], s[2], s[3]
			t.Run(fmt.Sprintf("%v/T%d_N%d_in%d_H%d", dt, steps, n, in, h), func(t *testing.T) {
				r := rand.New(rand.NewPCG(11, 12))
				shapes := [][]int{{steps * n, in}, {in, 4 * h}, {h, 4 * h}, {1, 4 * h}}
				w := randn(r, n*steps*h, 0, 1)
				ours := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					op, err := newLSTMOp(dt, x[0].Shape(), x[1].Shape(), x[2].Shape(), x[3].Shape(), steps, true)
					if err != nil {
						return nil, err
					}
					return G.ApplyOp(op, x...)
				})
				ref := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					return lstmGorgonia(x[0], x[1], x[2], x[3], steps)
				})
				tol := tolFor(dt)
				for step := range 2 {
					for i, sh := range shapes {
						v := randn(r, sh[0]*sh[1], 0, 0.7)
						ours.set(i, v)
						ref.set(i, v)
					}
					ours.run()
					ref.run()
					for _, c := range []struct {
						what     string
						got, ref []float64
					}{
						{"y", ours.out(), ref.out()},
						{"dxs", ours.grad(0), ref.grad(0)},
						{"dWx", ours.grad(1), ref.grad(1)},
						{"dWh", ours.grad(2), ref.grad(2)},
						{"db", ours.grad(3), ref.grad(3)},
					} {
						if e := optest.RelErr(c.got, c.ref); e > tol {
							t.Errorf("run %d %s: error %.2g > %.0g", step, c.what, e, tol)
						}
					}
				}
			})
		}
	}
}

// TestLSTMOpBadShapes: shapes that do not fit are errors, not panics.
func TestLSTMOpBadShapes(t *testing.T) {
	for _, c := range []struct {
		xs, wx, wh, b tensor.Shape
		steps         int
	}{
		{tensor.Shape{7, 2}, tensor.Shape{2, 12}, tensor.Shape{3, 12}, tensor.Shape{1, 12}, 2}, // 7 rows, 2 steps
		{tensor.Shape{6, 2}, tensor.Shape{3, 12}, tensor.Shape{3, 12}, tensor.Shape{1, 12}, 2}, // Wx rows
		{tensor.Shape{6, 2}, tensor.Shape{2, 12}, tensor.Shape{3, 8}, tensor.Shape{1, 12}, 2},  // Wh
		{tensor.Shape{6, 2}, tensor.Shape{2, 12}, tensor.Shape{3, 12}, tensor.Shape{12}, 2},    // bias
		{tensor.Shape{6, 2}, tensor.Shape{2, 12}, tensor.Shape{3, 12}, tensor.Shape{1, 12}, 0}, // steps
	} {
		if _, err := newLSTMOp(tensor.Float32, c.xs, c.wx, c.wh, c.b, c.steps, true); err == nil {
			t.Errorf("newLSTMOp(%v, %v, %v, %v, %d) succeeded", c.xs, c.wx, c.wh, c.b, c.steps)
		}
	}
}
