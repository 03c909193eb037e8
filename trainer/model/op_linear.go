package model

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
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
	ownedOutput
	dt          tensor.Dtype
	n, in, out  int
	needDX      bool          // x depends on a learnable: compute its gradient
	y           *tensor.Dense // the output (N, out)
	outputShape tensor.Shape
}

// newLinearOp returns the op for x (N, in) times W (in, out) plus b (1,
// out).
func newLinearOp(dt tensor.Dtype, x, w, b tensor.Shape, needDX bool) (*linearOp, error) {
	if x.Dims() != 2 || w.Dims() != 2 || x[1] != w[0] || !b.Eq(tensor.Shape{1, w[1]}) {
		return nil, fmt.Errorf("model: linear layer of %v by %v plus %v", x, w, b)
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("model: linear layer: dtype %v not supported", dt)
	}
	s := tensor.Shape{x[0], w[1]}
	return &linearOp{dt: dt, n: x[0], in: x[1], out: w[1], needDX: needDX, y: newBuffer(dt, s...), outputShape: s}, nil
}

func (op *linearOp) Arity() int { return 3 }
func (op *linearOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t, t, t)
}
func (op *linearOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.outputShape.Clone(), nil
}
func (op *linearOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fltk.linear(%d,%d,%d)@%p", op.n, op.in, op.out, op)
}
func (op *linearOp) Hashcode() uint32 { return opHashcode(op) }
func (op *linearOp) String() string {
	return fmt.Sprintf("fltk.linear(%d, %d→%d)", op.n, op.in, op.out)
}

// Do computes x·W + b into the op's buffer.
func (op *linearOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("model: linear layer: %d inputs, want 3", len(in))
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
	return asShape(op.y, op.outputShape), nil
}

// linearGemm is gemm32 or gemm64.
type linearGemm[T float32 | float64] func(tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

func linearForward[T float32 | float64](op *linearOp, in []G.Value, gemm linearGemm[T]) error {
	x, err := floatsOf[T](in[0], op.n*op.in, "linear layer")
	if err != nil {
		return err
	}
	w, err := floatsOf[T](in[1], op.in*op.out, "linear layer weight")
	if err != nil {
		return err
	}
	b, err := floatsOf[T](in[2], op.out, "linear layer bias")
	if err != nil {
		return err
	}
	y := sliceOf[T](op.y)
	for r := 0; r < len(y); r += op.out {
		copy(y[r:r+op.out], b)
	}
	gemm(blas.NoTrans, blas.NoTrans, op.n, op.out, op.in, 1, x, op.in, w, op.out, 1, y, op.out)
	return nil
}

func (op *linearOp) DiffWRT(int) []bool { return []bool{op.needDX, true, true} }

// SymDiff returns dx (nil without needDX), dW and db.
func (op *linearOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("model: linear layer: %d inputs, want 3", len(inputs))
	}
	dw, err := G.ApplyOp(&linearGradOp{lin: op, out: newBuffer(op.dt, op.in, op.out), shape: tensor.Shape{op.in, op.out}}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	bias := &biasOp{dt: op.dt, xShape: op.outputShape, bShape: tensor.Shape{1, op.out}, c: op.out, inner: 1}
	db, err := G.ApplyOp(newBiasGradOp(bias), grad)
	if err != nil {
		return nil, err
	}
	var dx *G.Node
	if op.needDX {
		gop := &linearGradOp{lin: op, dx: true, out: newBuffer(op.dt, op.n, op.in), shape: tensor.Shape{op.n, op.in}}
		if dx, err = G.ApplyOp(gop, inputs[1], grad); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dx, dw, db}, nil
}

// linearGradOp is a gradient of a linearOp: dW = xᵀ·dy (inputs x, dy) or,
// with dx set, dx = dy·Wᵀ (inputs W, dy).
type linearGradOp struct {
	ownedOutput
	lin   *linearOp
	dx    bool
	out   *tensor.Dense // the output
	shape tensor.Shape  // its shape
}

func (op *linearGradOp) Arity() int { return 2 }
func (op *linearGradOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t, t)
}
func (op *linearGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *linearGradOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "fltk.lineargrad(%v)@%p", op.dx, op) }
func (op *linearGradOp) Hashcode() uint32                               { return opHashcode(op) }
func (op *linearGradOp) String() string {
	if op.dx {
		return fmt.Sprintf("fltk.linear.dx%v", op.shape)
	}
	return fmt.Sprintf("fltk.linear.dW%v", op.shape)
}

// Do computes the gradient into the op's buffer.
func (op *linearGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("model: linear layer gradient: %d inputs, want 2", len(in))
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

func linearBackward[T float32 | float64](op *linearGradOp, av, dyv G.Value, gemm linearGemm[T]) error {
	l := op.lin
	dy, err := floatsOf[T](dyv, l.n*l.out, "linear layer gradient")
	if err != nil {
		return err
	}
	out := sliceOf[T](op.out)
	if op.dx {
		w, err := floatsOf[T](av, l.in*l.out, "linear layer gradient")
		if err != nil {
			return err
		}
		gemm(blas.NoTrans, blas.Trans, l.n, l.in, l.out, 1, dy, l.out, w, l.out, 0, out, l.in)
		return nil
	}
	x, err := floatsOf[T](av, l.n*l.in, "linear layer gradient")
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
		b.fail(fmt.Errorf("%w: %s: %w", ErrGraph, what, err))
		return nil
	}
	y, err := G.ApplyOp(op, x, w, bias)
	return b.check(what, y, err)
}

// asShape returns t after restoring its shape s: the ops return the same
// tensor every run, and gorgonia's Reshape reshapes a tensor in place
// when its input is not used afterwards.
func asShape(t *tensor.Dense, s tensor.Shape) *tensor.Dense {
	if !t.Shape().Eq(s) {
		_ = t.Reshape(s...) // same size: cannot fail
	}
	return t
}

// reluOp is max(x, 0) into the op's buffer; its gradient (reluGradOp,
// inputs y and dy) is dy where y > 0 and 0 elsewhere (also at 0, as in
// PyTorch). gorgonia's Rectify allocates a mask and a product every run
// and computes a gradient for the mask too.
type reluOp struct {
	ownedOutput
	dt    tensor.Dtype
	shape tensor.Shape
	y     *tensor.Dense
}

// ReLU's op: see reluOp.
func (b *builder) relu(x *node) *node {
	if b.err != nil {
		return nil
	}
	if b.dt != tensor.Float32 && b.dt != tensor.Float64 {
		b.fail(fmt.Errorf("%w: relu: dtype %v not supported", ErrGraph, b.dt))
		return nil
	}
	s := x.Shape()
	y, err := G.ApplyOp(&reluOp{dt: b.dt, shape: s, y: newBuffer(b.dt, s...)}, x)
	return b.check("relu", y, err)
}

func (op *reluOp) Arity() int { return 1 }
func (op *reluOp) Type() hm.Type {
	t := tensorType(op.shape.Dims())
	return hm.NewFnType(t, t)
}
func (op *reluOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *reluOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "fltk.relu%v@%p", op.shape, op) }
func (op *reluOp) Hashcode() uint32                               { return opHashcode(op) }
func (op *reluOp) String() string                                 { return fmt.Sprintf("fltk.relu%v", op.shape) }

// Do computes max(x, 0).
func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("model: relu: %d inputs, want 1", len(in))
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

func reluForward[T float32 | float64](op *reluOp, xv G.Value) error {
	y := sliceOf[T](op.y)
	x, err := floatsOf[T](xv, len(y), "relu")
	if err != nil {
		return err
	}
	if y32, ok := any(y).([]float32); ok {
		x32 := any(x).([]float32)
		forPieces(len(y32), func(lo, hi int) { simd.ReLU(y32[lo:hi], x32[lo:hi]) })
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
	if len(inputs) != 1 {
		return nil, fmt.Errorf("model: relu: %d inputs, want 1", len(inputs))
	}
	d, err := G.ApplyOp(&reluGradOp{relu: op, dx: newBuffer(op.dt, op.shape...)}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// reluGradOp is the gradient of a reluOp's input.
type reluGradOp struct {
	ownedOutput
	relu *reluOp
	dx   *tensor.Dense
}

func (op *reluGradOp) Arity() int { return 2 }
func (op *reluGradOp) Type() hm.Type {
	t := tensorType(op.relu.shape.Dims())
	return hm.NewFnType(t, t, t)
}
func (op *reluGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.relu.shape.Clone(), nil
}
func (op *reluGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fltk.relugrad@%p", op) }
func (op *reluGradOp) Hashcode() uint32      { return opHashcode(op) }
func (op *reluGradOp) String() string        { return fmt.Sprintf("fltk.relu.dx%v", op.relu.shape) }

// Do computes dy·[y > 0].
func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("model: relu gradient: %d inputs, want 2", len(in))
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

func reluBackward[T float32 | float64](op *reluGradOp, yv, dyv G.Value, mask func(dx, y, dy []T)) error {
	dx := sliceOf[T](op.dx)
	y, err := floatsOf[T](yv, len(dx), "relu gradient")
	if err != nil {
		return err
	}
	dy, err := floatsOf[T](dyv, len(dx), "relu gradient")
	if err != nil {
		return err
	}
	forPieces(len(dx), func(lo, hi int) { mask(dx[lo:hi], y[lo:hi], dy[lo:hi]) })
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
