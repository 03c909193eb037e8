package op

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Stats returns the running mean and variance, (C) tensors whose backing
// arrays the op reads and (in training) writes in place.
func (op *bnOp) Stats() (mean, variance tensor.Tensor) { return op.runMean, op.runVar }

// TestBNOp compares bnOp with gorgonia's BatchNorm (γ and β passed as
// (1, C, 1, 1) or (1, C) nodes, as the models did) on the same random
// inputs over several training steps: the output, the gradients of x, γ
// and β, and the running mean and variance after every step; then
// evaluation mode with the trained running statistics. 4-d and 2-d
// inputs, ε 1e-5 and 1e-3, float64 (error ≤ 1e-9) and float32 (≤ 2e-5).
func TestBNOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, tc := range []struct {
			x   []int
			eps float64
		}{
			{[]int{4, 3, 5, 5}, 1e-5},
			{[]int{2, 2, 3, 3}, 1e-3},
			{[]int{6, 5}, 1e-5},
			// Not N = 2: x̂ is then ±1 and dx is rounding noise, relative to
			// which gorgonia's float32 sums are off by 5e-4.
			{[]int{3, 4}, 1e-3},
		} {
			t.Run(fmt.Sprintf("%v/%v/eps=%g", dt, tc.x, tc.eps), func(t *testing.T) {
				testBNOp(t, dt, tc.x, tc.eps)
			})
		}
	}
}

func testBNOp(t *testing.T, dt tensor.Dtype, xShape []int, eps float64) {
	r := rand.New(rand.NewPCG(3, 4))
	c := xShape[1]
	pShape := []int{1, c}
	if len(xShape) == 4 {
		pShape = []int{1, c, 1, 1}
	}
	shapes := [][]int{xShape, pShape, pShape}
	w := randn(r, shapeSize(xShape), 0, 1)
	var ourOp *bnOp
	ours := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		var err error
		if ourOp, err = newBNOp(testConfig(t), dt, in[0].Shape(), true, testMomentum, eps); err != nil {
			return nil, err
		}
		return G.ApplyOp(ourOp, in[0], in[1], in[2])
	})
	var refOp *G.BatchNormOp
	ref := newOpGraph(t, dt, shapes, w, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		y, _, _, op, err := G.BatchNorm(in[0], in[1], in[2], testMomentum, eps)
		refOp = op
		return y, err
	})
	tol := tolFor(dt)
	check := func(what string, got, want []float64) {
		t.Helper()
		if e := optest.RelErr(got, want); e > tol {
			t.Errorf("%s: error %.2g > %.0g\n got  %.6g\n want %.6g", what, e, tol, got, want)
		}
	}
	gamma, beta := randn(r, c, 1, 0.5), randn(r, c, 0, 0.5)
	for step := range 4 {
		x := randn(r, shapeSize(xShape), 2, 3)
		for _, og := range []*opGraph{ours, ref} {
			og.set(0, x)
			og.set(1, gamma)
			og.set(2, beta)
			og.run()
		}
		s := fmt.Sprintf("step %d ", step)
		check(s+"y", ours.out(), ref.out())
		check(s+"dx", ours.grad(0), ref.grad(0))
		check(s+"dγ", ours.grad(1), ref.grad(1))
		check(s+"dβ", ours.grad(2), ref.grad(2))
		om, ov := ourOp.Stats()
		rm, rv := refOp.Stats()
		check(s+"running mean", optest.Floats(om), optest.Floats(rm))
		check(s+"running variance", optest.Floats(ov), optest.Floats(rv))
	}

	// Evaluation mode with the trained statistics.
	var evalOp *bnOp
	ev := newOpGraph(t, dt, shapes, nil, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		var err error
		if evalOp, err = newBNOp(testConfig(t), dt, in[0].Shape(), false, testMomentum, eps); err != nil {
			return nil, err
		}
		return G.ApplyOp(evalOp, in[0], in[1], in[2])
	})
	m, v := ourOp.Stats()
	em, evv := evalOp.Stats()
	setFloats(em, optest.Floats(m))
	setFloats(evv, optest.Floats(v))
	// gorgonia's evaluation mode: its tape machine resets the statistics
	// (SetTraining(true)), so they are set afterwards, then SetTraining(false).
	refEv := newOpGraph(t, dt, shapes, nil, func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		y, _, _, op, err := G.BatchNorm(in[0], in[1], in[2], testMomentum, eps)
		refOp = op
		return y, err
	})
	if err := refOp.SetStats(m, v); err != nil {
		t.Fatal(err)
	}
	if err := refOp.SetTraining(false); err != nil {
		t.Fatal(err)
	}
	x := randn(r, shapeSize(xShape), 2, 3)
	for _, og := range []*opGraph{ev, refEv} {
		og.set(0, x)
		og.set(1, gamma)
		og.set(2, beta)
		og.run()
	}
	check("eval y", ev.out(), refEv.out())
	if e := optest.RelErr(optest.Floats(em), optest.Floats(m)); e != 0 {
		t.Errorf("evaluation changed the running mean")
	}
}

// TestBNOpBadInput checks the shapes newBNOp rejects and that evaluation
// mode has no gradient.
func TestBNOpBadInput(t *testing.T) {
	for _, s := range []tensor.Shape{{3}, {2, 3, 4}, {1, 2, 3, 4, 5}} {
		if _, err := newBNOp(testConfig(t), tensor.Float32, s, true, 0.1, 1e-5); err == nil {
			t.Errorf("BatchNorm of %v accepted", s)
		}
	}
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 3), G.WithName("x"))
	p := G.NewMatrix(g, tensor.Float32, G.WithShape(1, 3), G.WithName("p"))
	op, err := newBNOp(testConfig(t), tensor.Float32, x.Shape(), false, 0.1, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	y, err := G.ApplyOp(op, x, p, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.SymDiff(G.Nodes{x, p, p}, y, y); err == nil {
		t.Error("evaluation-mode BatchNorm returned a gradient")
	}
}
