package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refLoss builds the loss the models used before lossOp: LogSoftMax, a
// one-hot tensor (filled from labels), Σ and −1/rows.
func refLoss(g *G.ExprGraph, dt tensor.Dtype, logits *G.Node, labels []int) (*G.Node, error) {
	rows, k := logits.Shape()[0], logits.Shape()[1]
	oh := tensor.New(tensor.Of(dt), tensor.WithShape(rows, k))
	vals := make([]float64, rows*k)
	for r, l := range labels {
		vals[r*k+l] = 1
	}
	setFloats(oh, vals)
	ohn := G.NewMatrix(g, dt, G.WithShape(rows, k), G.WithName("onehot"), G.WithValue(oh))
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	picked, err := G.HadamardProd(logp, ohn)
	if err != nil {
		return nil, err
	}
	sum, err := G.Sum(picked)
	if err != nil {
		return nil, err
	}
	scale := G.NewConstant(-1 / float64(rows))
	if dt == tensor.Float32 {
		scale = G.NewConstant(float32(-1 / float64(rows)))
	}
	return G.Mul(sum, scale)
}

// TestLossOp compares lossOp with gorgonia's LogSoftMax + NLL on the same
// random logits and labels (loss and the logits' gradient), and
// logSoftmaxOp with LogSoftMax, in float64 (error ≤ 1e-9) and float32
// (≤ 2e-5).
func TestLossOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, shape := range [][]int{{6, 4}, {1, 10}, {16, 10}} {
			t.Run(fmt.Sprintf("%v/%v", dt, shape), func(t *testing.T) {
				rows, k := shape[0], shape[1]
				r := rand.New(rand.NewPCG(5, 6))
				labels := make([]int, rows)
				for i := range labels {
					labels[i] = r.IntN(k)
				}
				shapes := [][]int{shape}
				ours := newOpGraph(t, dt, shapes, []float64{}, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					loss, l, err := Loss(in[0])
					copy(l, labels)
					return loss, err
				})
				ref := newOpGraph(t, dt, shapes, []float64{}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					return refLoss(g, dt, in[0], labels)
				})
				lsm := newOpGraph(t, dt, shapes, nil, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					return LogSoftmax(in[0])
				})
				refLsm := newOpGraph(t, dt, shapes, nil, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
					return G.LogSoftMax(in[0])
				})
				tol := tolFor(dt)
				for step := range 2 {
					x := randn(r, rows*k, 0, 3)
					for _, og := range []*opGraph{ours, ref, lsm, refLsm} {
						og.set(0, x)
						og.run()
					}
					for _, c := range []struct {
						what     string
						got, ref []float64
					}{
						{"loss", ours.out(), ref.out()},
						{"dlogits", ours.grad(0), ref.grad(0)},
						{"log softmax", lsm.out(), refLsm.out()},
					} {
						if e := optest.RelErr(c.got, c.ref); e > tol {
							t.Errorf("step %d %s: error %.2g > %.0g\n got  %.6g\n want %.6g", step, c.what, e, tol, c.got, c.ref)
						}
					}
				}
			})
		}
	}
}

// TestLossOpStable checks the loss and log softmax at logits ±1000
// (exp overflows without the shift by the maximum) and a label out of
// range.
func TestLossOpStable(t *testing.T) {
	op := newLossOp(tensor.Float32, 2, 3)
	x := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1000, 0, -1000, 0, 1000, 0}))
	copy(op.labels, []int{0, 2})
	v, err := op.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: log Σ ≈ 1000, −logp[0] ≈ 0. Row 1: −logp[2] ≈ 1000.
	if l := float64(*v.(*G.F32)); math.Abs(l-500) > 1e-3 {
		t.Errorf("loss %v, want 500", l)
	}
	lsm := newLogSoftmaxOp(tensor.Float32, tensor.Shape{2, 3})
	out, err := lsm.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, -1000, -2000, -1000, 0, -1000}
	if e := optest.RelErr(optest.Floats(out), want); e > 1e-7 {
		t.Errorf("log softmax %v, want %v", out.Data(), want)
	}
	op.labels[1] = 3
	if _, err := op.Do(x); err == nil {
		t.Error("label 3 of 3 classes accepted")
	}
}
