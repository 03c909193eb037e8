package op

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBiasOp compares biasOp with gorgonia's BroadcastAdd on the same
// random inputs: output and both gradients, 2-d (Linear) and 4-d
// (per-channel), float64 and float32.
func TestBiasOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, tc := range []struct {
			x, b []int
			axes []byte
		}{
			{[]int{5, 7}, []int{1, 7}, []byte{0}},
			{[]int{3, 4, 2, 3}, []int{1, 4, 1, 1}, []byte{0, 2, 3}},
		} {
			t.Run(fmt.Sprintf("%v/%v", dt, tc.x), func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 2))
				w := randn(r, shapeSize(tc.x), 0, 1)
				shapes := [][]int{tc.x, tc.b}
				ours := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					op, err := newBiasOp(dt, in[0].Shape(), in[1].Shape())
					if err != nil {
						return nil, err
					}
					return G.ApplyOp(op, in[0], in[1])
				})
				ref := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					return G.BroadcastAdd(in[0], in[1], nil, tc.axes)
				})
				for step := range 2 {
					x, b := randn(r, shapeSize(tc.x), 0, 2), randn(r, shapeSize(tc.b), 1, 1)
					for _, og := range []*opGraph{ours, ref} {
						og.set(0, x)
						og.set(1, b)
						og.run()
					}
					tol := tolFor(dt)
					for _, c := range []struct {
						what     string
						got, ref []float64
					}{
						{"y", ours.out(), ref.out()},
						{"dx", ours.grad(0), ref.grad(0)},
						{"db", ours.grad(1), ref.grad(1)},
					} {
						if e := optest.RelErr(c.got, c.ref); e > tol {
							t.Errorf("step %d %s: error %.2g > %.0g", step, c.what, e, tol)
						}
					}
				}
			})
		}
	}
}

// TestBiasOpBadShapes checks that newBiasOp rejects biases that do not
// broadcast over the channels.
func TestBiasOpBadShapes(t *testing.T) {
	for _, tc := range [][2]tensor.Shape{
		{{5, 7}, {1, 6}},
		{{5, 7}, {7}},
		{{5, 7}, {2, 7}},
		{{3, 4, 2, 2}, {1, 4, 2, 1}},
		{{3, 4, 2}, {1, 4, 1}},
	} {
		if _, err := newBiasOp(tensor.Float32, tc[0], tc[1]); err == nil {
			t.Errorf("bias %v on %v accepted", tc[1], tc[0])
		}
	}
}
