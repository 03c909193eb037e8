package op

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestLinearOp compares linearOp with gorgonia's Mul + BroadcastAdd and
// reluOp with Rectify on the same random inputs (outputs and all
// gradients), float64 (error ≤ 1e-9) and float32 (≤ 2e-5).
func TestLinearOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, s := range [][3]int{{5, 7, 3}, {1, 4, 6}, {16, 50, 10}} {
			n, in, out := s[0], s[1], s[2]
			t.Run(fmt.Sprintf("%v/%d×%d→%d", dt, n, in, out), func(t *testing.T) {
				r := rand.New(rand.NewPCG(9, 10))
				shapes := [][]int{{n, in}, {in, out}, {1, out}}
				w := randn(r, n*out, 0, 1)
				ours := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					op, err := newLinearOp(dt, x[0].Shape(), x[1].Shape(), x[2].Shape(), true)
					if err != nil {
						return nil, err
					}
					return G.ApplyOp(op, x...)
				})
				ref := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					y, err := G.Mul(x[0], x[1])
					if err != nil {
						return nil, err
					}
					return G.BroadcastAdd(y, x[2], nil, []byte{0})
				})
				xs := [][]int{{n, in}}
				wr := randn(r, n*in, 0, 1)
				relu := newOpGraph(t, dt, xs, wr, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					return ReLU(testConfig(t), x[0])
				})
				refRelu := newOpGraph(t, dt, xs, wr, func(_ *G.ExprGraph, x []*G.Node) (*G.Node, error) {
					return G.Rectify(x[0])
				})
				tol := tolFor(dt)
				for step := range 2 {
					vals := [][]float64{randn(r, n*in, 0, 1), randn(r, in*out, 0, 1), randn(r, out, 0, 1)}
					for _, og := range []*opGraph{ours, ref} {
						for i, v := range vals {
							og.set(i, v)
						}
						og.run()
					}
					for _, og := range []*opGraph{relu, refRelu} {
						og.set(0, vals[0])
						og.run()
					}
					for _, c := range []struct {
						what     string
						got, ref []float64
					}{
						{"y", ours.out(), ref.out()},
						{"dx", ours.grad(0), ref.grad(0)},
						{"dW", ours.grad(1), ref.grad(1)},
						{"db", ours.grad(2), ref.grad(2)},
						{"relu", relu.out(), refRelu.out()},
						{"relu dx", relu.grad(0), refRelu.grad(0)},
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
