package model

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the harness of the op tests (op_bias_test.go,
// op_bn_test.go, op_loss_test.go): a small graph around one op, run like
// the models' graphs, with Σ out⊙w as the cost for tensor outputs.

// dotOp is a test cost: Σ x⊙w for a fixed w, so that the gradient of x
// is w. Its backward op returns g·w from a buffer it owns; neither
// allocates per run, so allocation tests measure the op under test.
type dotOp struct {
	base
	w     *tensor.Dense
	out32 G.F32
	out64 G.F64
}

func newDotOp(w *tensor.Dense) *dotOp {
	b := newBase("test.dot", 1, tensor.ScalarShape())
	b.typ = hm.NewFnType(tensorType(w.Dims()), hm.TypeVariable('a'))
	return &dotOp{base: b, w: w}
}

func (op *dotOp) DiffWRT(int) []bool { return []bool{true} }

func (op *dotOp) Do(in ...G.Value) (G.Value, error) {
	switch w := op.w.Data().(type) {
	case []float32:
		op.out32 = G.F32(dot(in[0].Data().([]float32), w))
		return &op.out32, nil
	case []float64:
		op.out64 = G.F64(dot(in[0].Data().([]float64), w))
		return &op.out64, nil
	}
	return nil, fmt.Errorf("test.dot: %v", op.w.Dtype())
}

func dot[T float32 | float64](x, w []T) float64 {
	var s float64
	for i, v := range x {
		s += float64(v) * float64(w[i])
	}
	return s
}

func (op *dotOp) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	b := newBase("test.dotgrad", 1, op.w.Shape())
	b.typ = hm.NewFnType(hm.TypeVariable('a'), tensorType(op.w.Dims()))
	d, err := G.ApplyOp(&dotGradOp{base: b, w: op.w, dx: newBuffer(op.w.Dtype(), op.w.Shape()...)}, grad)
	return G.Nodes{d}, err
}

type dotGradOp struct {
	base
	w, dx *tensor.Dense
}

func (op *dotGradOp) Do(in ...G.Value) (G.Value, error) {
	g, err := scalar(op, "dcost", in[0])
	if err != nil {
		return nil, err
	}
	switch w := op.w.Data().(type) {
	case []float32:
		dx := op.dx.Float32s()
		for i, v := range w {
			dx[i] = float32(g) * v
		}
	case []float64:
		dx := op.dx.Float64s()
		for i, v := range w {
			dx[i] = g * v
		}
	}
	return op.dx, nil
}

// toFloats returns the values of v (a tensor or scalar) as float64s.
func toFloats(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	case float32:
		return []float64{float64(d)}
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("toFloats: %T", v.Data()))
}

// setFloats writes vals into the tensor t.
func setFloats(t tensor.Tensor, vals []float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i, v := range vals {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, vals)
	}
}

// opGraph is a compiled graph around one op: differentiable inputs of
// given shapes, the op's output read out, and (with w) the cost Σ out⊙w
// (or the output itself if it is a scalar) and the inputs' gradients.
type opGraph struct {
	t    *testing.T
	dt   tensor.Dtype
	vm   G.VM
	ins  []*G.Node
	outV G.Value
	back bool
}

// newOpGraph builds build(g, ins) over inputs of the given shapes; w (the
// cost's weights, len = output size) nil builds a forward-only graph.
func newOpGraph(t *testing.T, dt tensor.Dtype, shapes [][]int, w []float64, build func(g *G.ExprGraph, ins []*G.Node) (*G.Node, error)) *opGraph {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	g := G.NewGraph()
	og := &opGraph{t: t, dt: dt, back: w != nil}
	for i, s := range shapes {
		opts := []G.NodeConsOpt{G.WithShape(s...), G.WithName(fmt.Sprintf("in%d", i)), G.WithValue(tensor.New(tensor.Of(dt), tensor.WithShape(s...)))}
		if og.back {
			opts = append(opts, G.WithGrad(tensor.New(tensor.Of(dt), tensor.WithShape(s...))))
		}
		og.ins = append(og.ins, G.NewTensor(g, dt, len(s), opts...))
	}
	out, err := build(g, og.ins)
	if err != nil {
		t.Fatal(err)
	}
	G.Read(out, &og.outV)
	if !og.back {
		og.vm = newTapeMachine(g)
		t.Cleanup(func() { _ = og.vm.Close() })
		return og
	}
	cost := out
	if !out.IsScalar() {
		wt := tensor.New(tensor.Of(dt), tensor.WithShape(out.Shape()...))
		setFloats(wt, w)
		if cost, err = G.ApplyOp(newDotOp(wt), out); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := G.Grad(cost, og.ins...); err != nil {
		t.Fatal(err)
	}
	og.vm = newTapeMachine(g, G.BindDualValues(og.ins...))
	t.Cleanup(func() { _ = og.vm.Close() })
	return og
}

// set writes the values of input i.
func (og *opGraph) set(i int, vals []float64) { setFloats(og.ins[i].Value().(tensor.Tensor), vals) }

// run zeroes the gradients and runs the graph once.
func (og *opGraph) run() {
	og.t.Helper()
	if og.back {
		for _, n := range og.ins {
			g, err := n.Grad()
			if err != nil {
				og.t.Fatal(err)
			}
			g.(tensor.Tensor).Zero()
		}
	}
	if err := og.vm.RunAll(); err != nil {
		og.t.Fatal(err)
	}
	og.vm.Reset()
}

// out returns the op's output of the last run.
func (og *opGraph) out() []float64 { return toFloats(og.outV) }

// grad returns the gradient of input i of the last run.
func (og *opGraph) grad(i int) []float64 {
	g, err := og.ins[i].Grad()
	if err != nil {
		og.t.Fatal(err)
	}
	return toFloats(g)
}

// bytesPerRun returns the bytes allocated by one run, averaged over runs.
func (og *opGraph) bytesPerRun(runs int) float64 {
	og.run() // warm up: gorgonia allocates the Read destinations once
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range runs {
		og.run()
	}
	runtime.ReadMemStats(&b)
	return float64(b.TotalAlloc-a.TotalAlloc) / float64(runs)
}

// randn returns n draws from N(mean, std²).
func randn(r *rand.Rand, n int, mean, std float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = mean + std*r.NormFloat64()
	}
	return v
}

// normErr is maxRelErr (op_conv_test.go): the error of a relative to the
// size of the reference b.
func normErr(a, b []float64) float64 { return maxRelErr(a, b) }

// tolFor returns the tolerance of comparisons with gorgonia's ops: 1e-9
// in float64, 2e-5 in float32 (our ops accumulate in float64, gorgonia's
// in float32: the float32 results differ by a few roundings). Observed
// worst errors: 1e-15 in float64, 4.7e-7 in float32 (BatchNorm's dx).
func tolFor(dt tensor.Dtype) float64 {
	if dt == tensor.Float64 {
		return 1e-9
	}
	return 2e-5
}

func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

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
						if e := normErr(c.got, c.ref); e > tol {
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

// TestOpAllocs checks that the ops allocate next to nothing per run: a
// forward and backward run of a graph around each op allocates under 8
// KiB (the tape machine's own bookkeeping; observed 0.7–2.7 KiB), where
// the gorgonia ops they replace allocate outputs and temporaries every
// run (observed 13 KiB for LogSoftMax + NLL, 31 KiB for BroadcastAdd,
// 39 KiB for Mul + BroadcastAdd, 107–590 KiB for BatchNorm and 320 KiB for
// Rectify at these sizes). The test also checks that gorgonia's ops exceed
// the bound, so that it would fail for them.
func TestOpAllocs(t *testing.T) {
	const bound = 8 << 10
	dt := tensor.Float32
	r := rand.New(rand.NewPCG(7, 8))
	type opPair struct {
		name   string
		shapes [][]int
		ours   func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)
		ref    func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)
	}
	bn := func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		op, err := newBNOp(testOps(t), dt, in[0].Shape(), true, bnMomentum, bnEpsilon)
		if err != nil {
			return nil, err
		}
		return G.ApplyOp(op, in...)
	}
	refBN := func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		y, _, _, _, err := G.BatchNorm(in[0], in[1], in[2], bnMomentum, bnEpsilon)
		return y, err
	}
	labels := make([]int, 16)
	for _, p := range []opPair{
		{"BatchNorm4d", [][]int{{8, 16, 14, 14}, {1, 16, 1, 1}, {1, 16, 1, 1}}, bn, refBN},
		{"BatchNorm2d", [][]int{{16, 200}, {1, 200}, {1, 200}}, bn, refBN},
		{"bias", [][]int{{16, 200}, {1, 200}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				op, err := newBiasOp(dt, in[0].Shape(), in[1].Shape())
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(op, in...)
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return G.BroadcastAdd(in[0], in[1], nil, []byte{0})
			}},
		{"linear", [][]int{{16, 100}, {100, 50}, {1, 50}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				op, err := newLinearOp(dt, in[0].Shape(), in[1].Shape(), in[2].Shape(), true)
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(op, in...)
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				y, err := G.Mul(in[0], in[1])
				if err != nil {
					return nil, err
				}
				return G.BroadcastAdd(y, in[2], nil, []byte{0})
			}},
		{"relu", [][]int{{8, 16, 14, 14}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return relu(testOps(t), in[0])
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return G.Rectify(in[0]) }},
		{"loss", [][]int{{16, 10}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return G.ApplyOp(newLossOp(dt, 16, 10), in[0]) },
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return refLoss(g, dt, in[0], labels) }},
	} {
		t.Run(p.name, func(t *testing.T) {
			var w []float64
			if p.name == "linear" {
				w = randn(r, 16*50, 0, 1)
			} else {
				w = randn(r, shapeSize(p.shapes[0]), 0, 1)
			}
			ours := newOpGraph(t, dt, p.shapes, w, p.ours)
			ref := newOpGraph(t, dt, p.shapes, w, p.ref)
			for i, s := range p.shapes {
				x := randn(r, shapeSize(s), 1, 1)
				ours.set(i, x)
				ref.set(i, x)
			}
			got, old := ours.bytesPerRun(5), ref.bytesPerRun(5)
			t.Logf("%.0f bytes per run, gorgonia's op %.0f", got, old)
			if got > bound {
				t.Errorf("%.0f bytes allocated per run, want ≤ %d", got, bound)
			}
			if old <= bound {
				t.Errorf("gorgonia's op allocates only %.0f bytes per run: the bound %d does not tell them apart", old, bound)
			}
		})
	}
}
