package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"testing"

	"github.com/chewxy/hm"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the harness of the op tests: a small graph around one
// op (or a few), run like the models' graphs, with Σ out⊙w as the cost
// for tensor outputs; the execution modes of the parallel loops; and the
// helpers for values and errors.

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
		og.vm = G.NewTapeMachine(g)
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
	og.vm = G.NewTapeMachine(g, G.BindDualValues(og.ins...))
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
func (og *opGraph) out() []float64 { return optest.Floats(og.outV) }

// setAll writes the values of every input.
func (og *opGraph) setAll(vals [][]float64) {
	for i, v := range vals {
		og.set(i, v)
	}
}

// results runs the graph once and returns the output and the gradients
// of every input.
func (og *opGraph) results() (y []float64, grads [][]float64) {
	og.t.Helper()
	og.run()
	for i := range og.ins {
		grads = append(grads, og.grad(i))
	}
	return og.out(), grads
}

// grad returns the gradient of input i of the last run.
func (og *opGraph) grad(i int) []float64 {
	g, err := og.ins[i].Grad()
	if err != nil {
		og.t.Fatal(err)
	}
	return optest.Floats(g)
}

// bytesPerRun returns the bytes allocated by one run, averaged over runs.
func (og *opGraph) bytesPerRun(runs int) float64 {
	og.run() // warm up: gorgonia allocates the Read destinations once
	var a, b goruntime.MemStats
	goruntime.ReadMemStats(&a)
	for range runs {
		og.run()
	}
	goruntime.ReadMemStats(&b)
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

// BatchNorm's hyper-parameters in the tests: PyTorch's defaults, as the
// models'.
const (
	testMomentum = 0.1
	testEpsilon  = 1e-5
)

// testConfig returns the models' op configuration with a team of its
// own, closed at the end of the test.
func testConfig(tb testing.TB) Config {
	tb.Helper()
	c := DefaultConfig()
	c.Team = optest.NewTeam(tb, parallel.DefaultConfig())
	return c
}

// opModes runs f under the op's execution modes: GOMAXPROCS 1 (serial
// products), GOMAXPROCS 2 with small work unsplit (the build's BLAS),
// GOMAXPROCS 2 with every batch split over two goroutines and no
// convolution batched, and every convolution batched (one product for the
// batch's columns). f gets the mode's op configuration.
func opModes(t *testing.T, f func(t *testing.T, cfg Config)) {
	def := parallel.DefaultConfig()
	for _, m := range []struct {
		name    string
		procs   int
		minMAC  int
		batchHW int
	}{
		{"procs=1", 1, def.MinMACs, DefaultConfig().BatchedConvMaxHW},
		{"procs=2", 2, def.MinMACs, DefaultConfig().BatchedConvMaxHW},
		{"split", 2, 0, 0},
		{"batched", 2, 0, math.MaxInt},
	} {
		t.Run(m.name, func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(m.procs))
			pc := def
			pc.MinMACs = m.minMAC
			f(t, Config{Team: optest.NewTeam(t, pc), BatchedConvMaxHW: m.batchHW})
		})
	}
}
