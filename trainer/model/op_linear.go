package model

import (
	"fmt"
	"math"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is a fully connected layer y = x·W + b fused into one op: x
// (N, in), W (in, out), b (1, out). The bias is copied into every row of
// the op's output buffer and one gemm adds x·W to it. The backward ops
// write into buffers of their own too:
//
//	dW = xᵀ·dy (linearGradOp), db = Σ dy over the rows (biasGradOp),
//	dx = dy·Wᵀ (linearGradOp, left out when x needs no gradient)
//
// which replaces gorgonia's Mul (an output allocated every run, and dx
// computed even for the graph's input) and BroadcastAdd.
type linearOp struct {
	base
	dt         tensor.Dtype
	n, in, out int
	needDX     bool          // x depends on a learnable: compute its gradient
	y          *tensor.Dense // the output (N, out)
}

// newLinearOp returns the op for x (N, in) times W (in, out) plus b (1,
// out).
func newLinearOp(dt tensor.Dtype, x, w, b tensor.Shape, needDX bool) (*linearOp, error) {
	if x.Dims() != 2 || w.Dims() != 2 || x[1] != w[0] || !b.Eq(tensor.Shape{1, w[1]}) {
		return nil, shapeErrorf("linear layer of %v by %v plus %v", x, w, b)
	}
	if err := checkDtype("linear layer", dt); err != nil {
		return nil, err
	}
	op := linearShapes(dt, x[0], x[1], w[1])
	op.needDX = needDX
	op.y = newBuffer(dt, op.shape...)
	return op, nil
}

// linearShapes returns a linearOp of n rows from in to out features
// without its output buffer: the shapes of a linearGradOp.
func linearShapes(dt tensor.Dtype, n, in, out int) *linearOp {
	s := tensor.Shape{n, out}
	return &linearOp{base: newBase(fmt.Sprintf("linear(%d, %d→%d)", n, in, out), 3, s), dt: dt, n: n, in: in, out: out}
}

// Do computes x·W + b into the op's buffer.
func (op *linearOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = linearForward(op, in, gemm32)
	} else {
		err = linearForward(op, in, gemm64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

// linearGemm is gemm32 or gemm64.
type linearGemm[T float] func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

func linearForward[T float](op *linearOp, in []G.Value, gemm linearGemm[T]) error {
	x, err := input[T](op, "x", in[0], op.n*op.in)
	if err != nil {
		return err
	}
	w, err := input[T](op, "weight", in[1], op.in*op.out)
	if err != nil {
		return err
	}
	b, err := input[T](op, "bias", in[2], op.out)
	if err != nil {
		return err
	}
	y := data[T](op.y)
	for r := 0; r < len(y); r += op.out {
		copy(y[r:r+op.out], b)
	}
	gemm(blas.NoTrans, blas.NoTrans, op.n, op.out, op.in, 1, x, op.in, w, op.out, 1, y, op.out)
	return nil
}

func (op *linearOp) DiffWRT(int) []bool { return []bool{op.needDX, true, true} }

// SymDiff returns dx (nil without needDX), dW and db.
func (op *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(newLinearGradOp(op, false), inputs[0], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(newBiasGradOp(biasShapes(op.dt, op.shape, tensor.Shape{1, op.out})), grad)
	if err != nil {
		return nil, err
	}
	var dx *G.Node
	if op.needDX {
		if dx, err = G.ApplyOp(newLinearGradOp(op, true), inputs[1], grad); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, dw, db}, nil
}

// linearGradOp is a gradient of a linearOp: dW = xᵀ·dy (inputs x, dy) or,
// with dx set, dx = dy·Wᵀ (inputs W, dy).
type linearGradOp struct {
	base
	lin *linearOp
	dx  bool
	out *tensor.Dense // the output
}

// newLinearGradOp returns the op of dW, or with dx of dx, of lin.
func newLinearGradOp(lin *linearOp, dx bool) *linearGradOp {
	s, name := tensor.Shape{lin.in, lin.out}, "linear.dW"
	if dx {
		s, name = tensor.Shape{lin.n, lin.in}, "linear.dx"
	}
	return &linearGradOp{base: newBase(fmt.Sprintf("%s%v", name, s), 2, s), lin: lin, dx: dx, out: newBuffer(lin.dt, s...)}
}

// Do computes the gradient into the op's buffer.
func (op *linearGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.lin.dt == tensor.Float32 {
		err = linearBackward(op, in[0], in[1], gemm32)
	} else {
		err = linearBackward(op, in[0], in[1], gemm64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.out, op.shape), nil
}

func linearBackward[T float](op *linearGradOp, av, dyv G.Value, gemm linearGemm[T]) error {
	l := op.lin
	dy, err := input[T](op, "dy", dyv, l.n*l.out)
	if err != nil {
		return err
	}
	out := data[T](op.out)
	if op.dx {
		w, err := input[T](op, "weight", av, l.in*l.out)
		if err != nil {
			return err
		}
		gemm(blas.NoTrans, blas.Trans, l.n, l.in, l.out, 1, dy, l.out, w, l.out, 0, out, l.in)
		return nil
	}
	x, err := input[T](op, "x", av, l.n*l.in)
	if err != nil {
		return err
	}
	gemm(blas.Trans, blas.NoTrans, l.in, l.out, l.n, 1, x, l.in, dy, l.out, 0, out, l.out)
	return nil
}

// needsGrad reports whether x depends on a learnable of b, i.e. whether
// an op taking x must compute x's gradient (the graph's input, reshaped
// or pooled, needs none).
func (b *builder) needsGrad(x *node) bool {
	learnable := make(map[int64]bool, len(b.params))
	for _, p := range b.params {
		learnable[p.ID()] = true
	}
	seen := map[int64]bool{}
	stack := []int64{x.ID()}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if learnable[id] {
			return true
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		for it := b.g.From(id); it.Next(); {
			stack = append(stack, it.Node().ID())
		}
	}
	return false
}

// linear adds x·w + bias with a linearOp.
func (b *builder) linear(what string, x, w, bias *node) *node {
	if b.err != nil {
		return nil
	}
	op, err := newLinearOp(b.dt, x.Shape(), w.Shape(), bias.Shape(), b.train && b.needsGrad(x))
	if err != nil {
		return b.check(what, nil, err)
	}
	y, err := G.ApplyOp(op, x, w, bias)
	return b.check(what, y, err)
}

// reluOp is max(x, 0) into the op's buffer; its gradient (reluGradOp,
// inputs y and dy) is dy where y > 0 and 0 elsewhere (also at 0, as in
// PyTorch). gorgonia's Rectify allocates a mask and a product every run
// and computes a gradient for the mask too.
type reluOp struct {
	base
	dt   tensor.Dtype
	team *parallel.Team
	y    *tensor.Dense
}

// ReLU's op: see reluOp.
func (b *builder) relu(x *node) *node {
	if b.err != nil {
		return nil
	}
	y, err := relu(b.ops, x)
	return b.check("relu", y, err)
}

// relu applies a reluOp to x.
func relu(oc opConfig, x *G.Node) (*G.Node, error) {
	if err := oc.validate(); err != nil {
		return nil, err
	}
	dt, s := x.Dtype(), x.Shape()
	if err := checkDtype("relu", dt); err != nil {
		return nil, err
	}
	return G.ApplyOp(&reluOp{base: newBase(fmt.Sprintf("relu%v", s), 1, s), dt: dt, team: oc.team, y: newBuffer(dt, s...)}, x)
}

// Do computes max(x, 0).
func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = reluForward[float32](op, in[0])
	} else {
		err = reluForward[float64](op, in[0])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

func reluForward[T float](op *reluOp, xv G.Value) error {
	y := data[T](op.y)
	x, err := input[T](op, "x", xv, len(y))
	if err != nil {
		return err
	}
	if y32, ok := any(y).([]float32); ok {
		x32 := any(x).([]float32)
		op.team.Pieces(len(y32), func(lo, hi int) { simd.ReLU(y32[lo:hi], x32[lo:hi]) })
		return nil
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns reluGradOp(y, dy).
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	gop := &reluGradOp{base: newBase(fmt.Sprintf("relu.dx%v", op.shape), 2, op.shape), relu: op, dx: newBuffer(op.dt, op.shape...)}
	d, err := G.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// reluGradOp is the gradient of a reluOp's input.
type reluGradOp struct {
	base
	relu *reluOp
	dx   *tensor.Dense
}

// Do computes dy·[y > 0].
func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.relu.dt == tensor.Float32 {
		err = reluBackward(op, in[0], in[1], simd.ReLUMask)
	} else {
		err = reluBackward(op, in[0], in[1], reluMask64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dx, op.relu.shape), nil
}

func reluBackward[T float](op *reluGradOp, yv, dyv G.Value, mask func(dx, y, dy []T)) error {
	dx := data[T](op.dx)
	y, err := input[T](op, "y", yv, len(dx))
	if err != nil {
		return err
	}
	dy, err := input[T](op, "dy", dyv, len(dx))
	if err != nil {
		return err
	}
	op.relu.team.Pieces(len(dx), func(lo, hi int) { mask(dx[lo:hi], y[lo:hi], dy[lo:hi]) })
	return nil
}

// reluMask64 sets dx = dy where y > 0, else 0, without branches (the
// signs of y are random: a branch mispredicts half the time). y ≥ 0 is
// the output of max(x, 0), so y > 0 exactly when its bits are not 0
// (simd.ReLUMask does float32 the same way).
func reluMask64(dx, y, dy []float64) {
	dy = dy[:len(y)]
	dx = dx[:len(y)]
	for i, v := range y {
		b := math.Float64bits(v)
		m := uint64(int64(b|-b) >> 63)
		dx[i] = math.Float64frombits(math.Float64bits(dy[i]) & m)
	}
}
