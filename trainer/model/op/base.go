package op

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds what every op shares: the embedded base, the tensor
// convention and the error convention (see the package documentation).
//
// # Tensors
//
// An op allocates its output and gradient buffers once, when it is
// built, and returns them from Do as its values: gorgonia's tape machine
// forgets every value between runs (Reset), so an op that allocated in Do
// would allocate every step. Every run overwrites a returned buffer
// entirely and no op reads its own previous output: gorgonia's register
// allocator lets an op that overwrites its input in place (OverwritesInput
// ≥ 0) take over the register of a value after its last use
// (gorgonia#576), so a downstream op may scribble over a returned buffer
// within the same run once nothing reads it any more, and a downstream
// Reshape may reshape it in place (asShape undoes that on the next run).
// Anything a backward op needs is therefore either an input of that op
// (kept alive by gorgonia) or kept in a buffer of its own that is never
// returned (BatchNorm's x̂, the max pool's argmax). Gradients are
// assigned, not accumulated: the tape adds the gradient nodes into the
// learnables' gradients itself. Inputs are read with input, which checks
// the value's type, dtype and size and returns its backing array without
// allocating.
//
// # Errors
//
// Errors wrap ErrBuild (constructors, SymDiff: buildErrorf) or ErrInput
// (Do: errorf, input, scalar), then say which op and what went wrong.
// Whoever builds or runs the graph wraps them once more with its own
// context (trainer/model: its ErrGraph).
//
// Building ops touches gorgonia's unsynchronised package state (its
// graph construction is not safe for concurrent use): callers serialise
// it; running distinct graphs concurrently is safe.

// float is the element type of the ops' kernels: float32 in the models,
// float64 in the graphs of gradient checks.
type float interface{ float32 | float64 }

// base is embedded by every op and implements the parts of gorgonia's Op
// that do not depend on the op's arithmetic: Arity, Type, InferShape,
// the hash, String, and the three flags below.
//
// ReturnsPtr is true: Do returns a buffer the op owns and reuses (a
// pointer into memory that outlives the run), not a fresh copy. In
// gorgonia v0.9.18's tape machine the flag only picks the register
// allocator's path (allocMutableOp against allocImmutableOp), and both
// give an op that overwrites no input (OverwritesInput −1) a register of
// its own, so the compiled program runs the same either way; true keeps
// gorgonia's estimate of the memory the program allocates itself
// (CPUMemReq) from counting outputs the ops own, and says what the ops
// do. CallsExtern is false (no cgo buffers to preallocate: the OpenBLAS
// build calls cgo inside Do on the op's own buffers).
type base struct {
	name  string       // String; with the op's address, the hash
	arity int          // inputs
	typ   hm.Type      // the op's function type
	shape tensor.Shape // the output's shape
}

// newBase returns the base of an op called name with arity inputs and
// an output of the given shape, all of them tensors of shape's rank.
func newBase(name string, arity int, shape tensor.Shape) base {
	return base{name: name, arity: arity, typ: fnType(arity, shape.Dims()), shape: shape.Clone()}
}

func (b *base) Arity() int                                     { return b.arity }
func (b *base) Type() hm.Type                                  { return b.typ }
func (b *base) InferShape(...G.DimSizer) (tensor.Shape, error) { return b.shape.Clone(), nil }
func (b *base) ReturnsPtr() bool                               { return true }
func (b *base) CallsExtern() bool                              { return false }
func (b *base) OverwritesInput() int                           { return -1 }
func (b *base) String() string                                 { return b.name }

// WriteHash writes the op's name and address: gorgonia merges nodes of
// equal hashes, and every op instance owns its buffers.
func (b *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", b.name, b) }

// Hashcode is FNV-1a of WriteHash, as gorgonia's own ops do.
func (b *base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// checkInputs returns an error unless in holds Arity values.
func (b *base) checkInputs(in []G.Value) error {
	if len(in) != b.arity {
		return b.errorf("%d inputs, want %d", len(in), b.arity)
	}
	return nil
}

// checkNodes is checkInputs for the input nodes of SymDiff.
func (b *base) checkNodes(in G.Nodes) error {
	if len(in) != b.arity {
		return buildErrorf("%s: %d input nodes, want %d", b.name, len(in), b.arity)
	}
	return nil
}

// errorf returns an error of the op while running (ErrInput): its name,
// then the message.
func (b *base) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInput, b.name, fmt.Sprintf(format, args...))
}

// buildErrorf returns an error of building an op or its gradient
// (ErrBuild): shapes, dtypes or parameters that do not fit.
func buildErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBuild, fmt.Sprintf(format, args...))
}

// tensorType returns the gorgonia type of a d-dimensional tensor of the
// type variable a.
func tensorType(d int) G.TensorType { return G.TensorType{Dims: d, Of: hm.TypeVariable('a')} }

// fnType returns the type of an op taking arity d-dimensional tensors and
// returning one.
func fnType(arity, d int) hm.Type {
	ts := make([]hm.Type, arity+1)
	for i := range ts {
		ts[i] = tensorType(d)
	}
	return hm.NewFnType(ts...)
}

// checkDtype returns an error unless dt is float32 or float64.
func checkDtype(what string, dt tensor.Dtype) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return buildErrorf("%s: dtype %v not supported", what, dt)
	}
	return nil
}

// newBuffer returns a zero tensor of dt and shape.
func newBuffer(dt tensor.Dtype, shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// dtypeOf returns the tensor dtype of T.
func dtypeOf[T float]() tensor.Dtype {
	var z T
	if _, ok := any(z).(float32); ok {
		return tensor.Float32
	}
	return tensor.Float64
}

// data returns the backing array of t, whose dtype must be T's. Unlike
// t.Data() it does not allocate (Data boxes a new slice header every
// call).
func data[T float](t *tensor.Dense) []T {
	if dtypeOf[T]() == tensor.Float32 {
		return any(t.Float32s()).([]T)
	}
	return any(t.Float64s()).([]T)
}

// input returns the backing array of v, input what of op: v must be a
// dense tensor (not a view) of n values of T.
func input[T float](op fmt.Stringer, what string, v G.Value, n int) ([]T, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%w: %v: %s is a %T, want a dense tensor", ErrInput, op, what, v)
	}
	if d.IsMaterializable() {
		return nil, fmt.Errorf("%w: %v: %s is a strided view %v, want a dense tensor", ErrInput, op, what, d.Shape())
	}
	if d.Dtype() != dtypeOf[T]() || d.DataSize() != n {
		return nil, fmt.Errorf("%w: %v: %s has %d values of %v %v, want %d of %v", ErrInput, op, what, d.DataSize(), d.Dtype(), d.Shape(), n, dtypeOf[T]())
	}
	return data[T](d), nil
}

// scalar returns the value of a float scalar gorgonia value (a gradient
// seed), input what of op.
func scalar(op fmt.Stringer, what string, v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	}
	return 0, fmt.Errorf("%w: %v: %s is a %T, want a float scalar", ErrInput, op, what, v)
}

// asShape returns t after restoring its shape s: the ops return the same
// tensor every run, and gorgonia's Reshape reshapes a tensor in place
// when its input is not used afterwards (a Flatten after a pool, say).
func asShape(t *tensor.Dense, s tensor.Shape) *tensor.Dense {
	if !t.Shape().Eq(s) {
		_ = t.Reshape(s...) // same size: cannot fail
	}
	return t
}

// outputOwner is an op whose every run returns the same tensor, a buffer
// of its own that the op overwrites whole.
type outputOwner interface{ output() *tensor.Dense }

// Output returns the tensor every run of o returns, when o is one of this
// package's gradient ops of learnables (Linear's weights, biases,
// convolutions' weights and biases, BatchNorm's γ and β, the LSTM's
// recurrent weights), else nil. The op overwrites all of it on each run,
// so a caller may take it as the gradient's array instead of copying the
// gradient out after every run.
func Output(o G.Op) *tensor.Dense {
	if w, ok := o.(outputOwner); ok {
		return w.output()
	}
	return nil
}

func (op *linearGradOp) output() *tensor.Dense  { return op.out }
func (op *biasGradOp) output() *tensor.Dense    { return op.db }
func (op *convGradWOp) output() *tensor.Dense   { return op.dw }
func (op *convGradBOp) output() *tensor.Dense   { return op.db }
func (op *bnParamGradOp) output() *tensor.Dense { return op.out }
func (op *lstmWhGradOp) output() *tensor.Dense  { return op.dwh }
