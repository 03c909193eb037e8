package op

import (
	"fmt"

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

// Linear applies a fully connected layer x·w + b to x (N, in), w (in,
// out) and b (1, out), one op; needDX says whether the gradient with
// respect to x is wanted (not for the graph's input).
func Linear(x, w, b *G.Node, needDX bool) (*G.Node, error) {
	if w.Dtype() != x.Dtype() || b.Dtype() != x.Dtype() {
		return nil, buildErrorf("linear layer of %v by %v plus %v values", x.Dtype(), w.Dtype(), b.Dtype())
	}
	op, err := newLinearOp(x.Dtype(), x.Shape(), w.Shape(), b.Shape(), needDX)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(op, x, w, b)
}

// newLinearOp returns the op for x (N, in) times W (in, out) plus b (1,
// out).
func newLinearOp(dt tensor.Dtype, x, w, b tensor.Shape, needDX bool) (*linearOp, error) {
	if x.Dims() != 2 || w.Dims() != 2 || x[1] != w[0] || !b.Eq(tensor.Shape{1, w[1]}) {
		return nil, buildErrorf("linear layer of %v by %v plus %v", x, w, b)
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
