package op

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// biasOp is y = x + b with b broadcast over the rows of a 2-d x, (N, F) +
// (1, F), or over the channels of a 4-d x, (N, C, H, W) + (1, C, 1, 1),
// without gorgonia's Repeat: one pass into the op's output buffer. The
// gradients are dy itself for x and Σ dy over all axes but the
// channel one for b (biasGradOp).
type biasOp struct {
	base
	dt     tensor.Dtype
	xShape tensor.Shape
	bShape tensor.Shape
	c      int           // channels (features)
	inner  int           // values per sample and channel: 1 (2-d) or H·W
	y      *tensor.Dense // the output
}

// Bias applies y = x + b to x, (N, F) or (N, C, H, W), and b, (1, F)
// or (1, C, 1, 1): b broadcast over the rows or the channels, one op
// (see biasOp).
func Bias(x, b *G.Node) (*G.Node, error) {
	if b.Dtype() != x.Dtype() {
		return nil, buildErrorf("bias of %v values to %v values", b.Dtype(), x.Dtype())
	}
	op, err := newBiasOp(x.Dtype(), x.Shape(), b.Shape())
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(op, x, b)
}

// newBiasOp returns the op adding a bias of shape b to x, checking the
// shapes.
func newBiasOp(dt tensor.Dtype, x, b tensor.Shape) (*biasOp, error) {
	ok := (x.Dims() == 2 || x.Dims() == 4) && b.Dims() == x.Dims() && b[0] == 1 && b[1] == x[1]
	for d := 2; ok && d < b.Dims(); d++ {
		ok = b[d] == 1
	}
	if !ok {
		return nil, buildErrorf("bias %v does not broadcast over the channels of %v", b, x)
	}
	if err := checkDtype("bias", dt); err != nil {
		return nil, err
	}
	op := biasShapes(dt, x, b)
	op.y = newBuffer(dt, x...)
	return op, nil
}

// biasShapes returns a biasOp of checked shapes without its output
// buffer: the shapes of a biasGradOp.
func biasShapes(dt tensor.Dtype, x, b tensor.Shape) *biasOp {
	inner := 1
	for _, d := range x[2:] {
		inner *= d
	}
	return &biasOp{
		base: newBase(fmt.Sprintf("bias%v+%v", x, b), 2, x),
		dt:   dt, xShape: x.Clone(), bShape: b.Clone(), c: x[1], inner: inner,
	}
}

// Do computes x + b into the op's buffer.
func (op *biasOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = biasForward[float32](op, in[0], in[1])
	} else {
		err = biasForward[float64](op, in[0], in[1])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.xShape), nil
}

func biasForward[T float](op *biasOp, xv, bv G.Value) error {
	y := data[T](op.y)
	x, err := input[T](op, "x", xv, len(y))
	if err != nil {
		return err
	}
	b, err := input[T](op, "bias", bv, op.c)
	if err != nil {
		return err
	}
	if op.inner == 1 {
		for r := 0; r < len(x); r += op.c {
			xr, yr := x[r:r+op.c], y[r:r+op.c]
			for j, v := range xr {
				yr[j] = v + b[j]
			}
		}
		return nil
	}
	for off := 0; off < len(x); off += op.inner {
		bc := b[off/op.inner%op.c]
		xs, ys := x[off:off+op.inner], y[off:off+op.inner]
		for i, v := range xs {
			ys[i] = v + bc
		}
	}
	return nil
}

func (op *biasOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff returns dy for x and biasGradOp(dy) for b.
func (op *biasOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(newBiasGradOp(op), grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, db}, nil
}

// biasGradOp is the bias gradient of a biasOp: db[c] = Σ dy over the
// samples (and positions) of channel c, accumulated in float64.
type biasGradOp struct {
	base
	bias *biasOp       // the shapes (its output buffer is not used)
	db   *tensor.Dense // the output, shaped like the bias
	acc  []float64     // per-channel sums
}

// newBiasGradOp returns the bias gradient op of the bias-add op.
func newBiasGradOp(op *biasOp) *biasGradOp {
	b := newBase(fmt.Sprintf("bias.db%v", op.bShape), 1, op.bShape)
	b.typ = fnType(1, op.xShape.Dims())
	return &biasGradOp{base: b, bias: op, db: newBuffer(op.dt, op.bShape...), acc: make([]float64, op.c)}
}

// Do sums dy into the op's buffer.
func (op *biasGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.bias.dt == tensor.Float32 {
		err = biasBackward[float32](op, in[0])
	} else {
		err = biasBackward[float64](op, in[0])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.db, op.bias.bShape), nil
}

func biasBackward[T float](op *biasGradOp, dyv G.Value) error {
	b := op.bias
	dy, err := input[T](op, "dy", dyv, b.xShape.TotalSize())
	if err != nil {
		return err
	}
	acc := op.acc
	clear(acc)
	if b.inner == 1 {
		for r := 0; r < len(dy); r += b.c {
			for j, v := range dy[r : r+b.c] {
				acc[j] += float64(v)
			}
		}
	} else {
		for off := 0; off < len(dy); off += b.inner {
			acc[off/b.inner%b.c] += sum64(dy[off : off+b.inner])
		}
	}
	db := data[T](op.db)
	for j, v := range acc {
		db[j] = T(v)
	}
	return nil
}

// sum64 returns the sum of s in float64, with four partial sums.
func sum64[T float](s []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(s); i += 4 {
		s0 += float64(s[i])
		s1 += float64(s[i+1])
		s2 += float64(s[i+2])
		s3 += float64(s[i+3])
	}
	for ; i < len(s); i++ {
		s0 += float64(s[i])
	}
	return (s0 + s1) + (s2 + s3)
}
