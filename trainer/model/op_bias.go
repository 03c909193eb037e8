package model

import (
	"fmt"
	"hash"
	"hash/fnv"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the broadcast bias-add op and what the ops of
// op_bias.go, op_bn.go, op_linear.go and op_loss.go share.
//
// The ops write into buffers they allocate once, when the graph is built,
// and return them as their values: gorgonia's tape machine forgets every
// value between runs (Reset), so an op that allocates in Do allocates
// every step. A returned buffer may be overwritten by later ops of the
// same run once gorgonia's register allocator considers the value dead (an
// op that overwrites its input, say) or reshaped in place (asShape undoes
// that), so anything a backward op needs is either an input of that op
// (kept alive by gorgonia) or kept in a separate buffer that is never
// returned.

// ownedOutput gives the Op methods shared by ops that return a buffer
// they own: the value is a pointer (to that buffer), no cgo, and no input
// is overwritten.
type ownedOutput struct{}

func (ownedOutput) ReturnsPtr() bool     { return true }
func (ownedOutput) CallsExtern() bool    { return false }
func (ownedOutput) OverwritesInput() int { return -1 }

// opHashcode hashes op's WriteHash, as gorgonia's own ops do. The ops
// write their address into the hash: gorgonia merges nodes of equal hashes
// and every op instance owns its buffers.
func opHashcode(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// tensorType returns the gorgonia type of a d-dimensional tensor of the
// type variable a.
func tensorType(d int) G.TensorType { return G.TensorType{Dims: d, Of: hm.TypeVariable('a')} }

// newBuffer returns a zero tensor of dt and shape.
func newBuffer(dt tensor.Dtype, shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// floatsOf returns the backing array of v, a *tensor.Dense of T with n
// values.
func floatsOf[T float32 | float64](v G.Value, n int, what string) ([]T, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("model: %s: input is a %T, want a dense tensor", what, v)
	}
	if d.Dtype() != dtypeOf[T]() || d.DataSize() != n {
		return nil, fmt.Errorf("model: %s: input of %v %v, want %d values of %v", what, d.Dtype(), d.Shape(), n, dtypeOf[T]())
	}
	return sliceOf[T](d), nil
}

// dtypeOf returns the tensor dtype of T.
func dtypeOf[T float32 | float64]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

// sliceOf returns the backing array of t, whose dtype must be T's.
// Unlike t.Data() it does not allocate (Data boxes a new slice header
// every call).
func sliceOf[T float32 | float64](t *tensor.Dense) []T {
	if dtypeOf[T]() == tensor.Float32 {
		s := t.Float32s()
		return *(*[]T)(unsafe.Pointer(&s))
	}
	s := t.Float64s()
	return *(*[]T)(unsafe.Pointer(&s))
}

// scalarOf returns the value of a scalar gorgonia value (a gradient seed).
func scalarOf(v G.Value, what string) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	}
	return 0, fmt.Errorf("model: %s: input is a %T, want a float scalar", what, v)
}

// biasOp is y = x + b with b broadcast over the rows of a 2-d x, (N, F) +
// (1, F), or over the channels of a 4-d x, (N, C, H, W) + (1, C, 1, 1),
// without gorgonia's Repeat: one pass into the op's output buffer. The
// gradients are dy itself for x and Σ dy over all axes but the
// channel one for b (biasGradOp).
type biasOp struct {
	ownedOutput
	dt     tensor.Dtype
	xShape tensor.Shape
	bShape tensor.Shape
	c      int           // channels (features)
	inner  int           // values per sample and channel: 1 (2-d) or H·W
	y      *tensor.Dense // the output
}

// newBiasOp returns the op adding a bias of shape b to x, checking the
// shapes.
func newBiasOp(dt tensor.Dtype, x, b tensor.Shape) (*biasOp, error) {
	ok := (x.Dims() == 2 || x.Dims() == 4) && b.Dims() == x.Dims() && b[0] == 1 && b[1] == x[1]
	for d := 2; ok && d < b.Dims(); d++ {
		ok = b[d] == 1
	}
	if !ok {
		return nil, fmt.Errorf("model: bias %v does not broadcast over the channels of %v", b, x)
	}
	inner := 1
	for _, d := range x[2:] {
		inner *= d
	}
	return &biasOp{dt: dt, xShape: x.Clone(), bShape: b.Clone(), c: x[1], inner: inner, y: newBuffer(dt, x...)}, nil
}

func (op *biasOp) Arity() int { return 2 }
func (op *biasOp) Type() hm.Type {
	t := tensorType(op.xShape.Dims())
	return hm.NewFnType(t, t, t)
}
func (op *biasOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.xShape.Clone(), nil }
func (op *biasOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fltk.bias%v+%v@%p", op.xShape, op.bShape, op)
}
func (op *biasOp) Hashcode() uint32 { return opHashcode(op) }
func (op *biasOp) String() string   { return fmt.Sprintf("fltk.bias%v+%v", op.xShape, op.bShape) }

// Do computes x + b into the op's buffer.
func (op *biasOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("model: bias: %d inputs, want 2", len(in))
	}
	var err error
	switch op.dt {
	case tensor.Float32:
		err = biasForward[float32](op, in[0], in[1])
	case tensor.Float64:
		err = biasForward[float64](op, in[0], in[1])
	default:
		err = fmt.Errorf("model: bias: dtype %v not supported", op.dt)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.xShape), nil
}

func biasForward[T float32 | float64](op *biasOp, xv, bv G.Value) error {
	x, err := floatsOf[T](xv, len(sliceOf[T](op.y)), "bias")
	if err != nil {
		return err
	}
	b, err := floatsOf[T](bv, op.c, "bias")
	if err != nil {
		return err
	}
	y := sliceOf[T](op.y)
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
	if len(inputs) != 2 {
		return nil, fmt.Errorf("model: bias: %d inputs, want 2", len(inputs))
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
	ownedOutput
	bias *biasOp       // the shapes (its output buffer is not used)
	db   *tensor.Dense // the output, shaped like the bias
	acc  []float64     // per-channel sums
}

// newBiasGradOp returns the bias gradient op of the bias-add op.
func newBiasGradOp(op *biasOp) *biasGradOp {
	return &biasGradOp{bias: op, db: newBuffer(op.dt, op.bShape...), acc: make([]float64, op.c)}
}

func (op *biasGradOp) Arity() int { return 1 }
func (op *biasGradOp) Type() hm.Type {
	t := tensorType(op.bias.xShape.Dims())
	return hm.NewFnType(t, t)
}
func (op *biasGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.bias.bShape.Clone(), nil
}
func (op *biasGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fltk.biasgrad@%p", op) }
func (op *biasGradOp) Hashcode() uint32      { return opHashcode(op) }
func (op *biasGradOp) String() string        { return fmt.Sprintf("fltk.biasgrad%v", op.bias.bShape) }

// Do sums dy into the op's buffer.
func (op *biasGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("model: bias gradient: %d inputs, want 1", len(in))
	}
	var err error
	switch op.bias.dt {
	case tensor.Float32:
		err = biasBackward[float32](op, in[0])
	case tensor.Float64:
		err = biasBackward[float64](op, in[0])
	default:
		err = fmt.Errorf("model: bias gradient: dtype %v not supported", op.bias.dt)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.db, op.bias.bShape), nil
}

func biasBackward[T float32 | float64](op *biasGradOp, dyv G.Value) error {
	b := op.bias
	dy, err := floatsOf[T](dyv, b.xShape.TotalSize(), "bias gradient")
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
	db := sliceOf[T](op.db)
	for j, v := range acc {
		db[j] = T(v)
	}
	return nil
}

// sum64 returns the sum of s in float64, with four partial sums.
func sum64[T float32 | float64](s []T) float64 {
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
