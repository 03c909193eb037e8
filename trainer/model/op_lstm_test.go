package model

import (
	"fmt"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

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
					b := &builder{dt: dt, batch: n, train: true}
					return b.lstmGorgonia(x[0], x[1], x[2], x[3], steps), b.err
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
						if e := normErr(c.got, c.ref); e > tol {
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
