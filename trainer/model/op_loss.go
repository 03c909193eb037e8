package model

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lossOp is the training loss of every model: the mean over the rows of
// −log softmax(logits)[label], i.e. LogSoftMax followed by the negative
// log-likelihood (PyTorch's cross-entropy on logits), fused into one op.
// The labels are not a graph input: the caller writes them into the op's
// buffer (labels) before each run, so no one-hot tensor is filled or
// multiplied. The forward pass keeps the softmax for the backward pass,
// lossGradOp: dlogits = g·(softmax − onehot)/rows for the loss gradient g.
// Everything is computed in float64 and stored in the graph's dtype.
type lossOp struct {
	ownedOutput
	dt            tensor.Dtype
	rows, classes int
	labels        []int         // class of every row, in [0, classes); written by the caller
	prob          *tensor.Dense // softmax of the last forward pass (rows, classes), never returned
	loss32        G.F32         // the output (float32 graphs)
	loss64        G.F64         // the output (float64 graphs)
}

// newLossOp returns the loss op of (rows, classes) logits of dtype dt.
func newLossOp(dt tensor.Dtype, rows, classes int) *lossOp {
	return &lossOp{dt: dt, rows: rows, classes: classes, labels: make([]int, rows), prob: newBuffer(dt, rows, classes)}
}

func (op *lossOp) Arity() int                                     { return 1 }
func (op *lossOp) Type() hm.Type                                  { return hm.NewFnType(tensorType(2), hm.TypeVariable('a')) }
func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *lossOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fltk.nllloss(%d,%d)@%p", op.rows, op.classes, op)
}
func (op *lossOp) Hashcode() uint32 { return opHashcode(op) }
func (op *lossOp) String() string   { return fmt.Sprintf("fltk.nllloss(%d,%d)", op.rows, op.classes) }

// Do computes the mean loss and the softmax.
func (op *lossOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("model: loss: %d inputs, want 1", len(in))
	}
	switch op.dt {
	case tensor.Float32:
		l, err := lossForward[float32](op, in[0])
		op.loss32 = G.F32(l)
		return &op.loss32, err
	case tensor.Float64:
		l, err := lossForward[float64](op, in[0])
		op.loss64 = G.F64(l)
		return &op.loss64, err
	}
	return nil, fmt.Errorf("model: loss: dtype %v not supported", op.dt)
}

func lossForward[T float32 | float64](op *lossOp, xv G.Value) (float64, error) {
	k := op.classes
	x, err := floatsOf[T](xv, op.rows*k, "loss")
	if err != nil {
		return 0, err
	}
	p := sliceOf[T](op.prob)
	var sum float64
	for r, l := range op.labels {
		if l < 0 || l >= k {
			return 0, fmt.Errorf("model: loss: label %d of row %d not in [0, %d)", l, r, k)
		}
		lse := logSumExp(x[r*k : (r+1)*k])
		pr := p[r*k : (r+1)*k]
		for j, v := range x[r*k : (r+1)*k] {
			pr[j] = T(math.Exp(float64(v) - lse))
		}
		sum += lse - float64(x[r*k+l])
	}
	return sum / float64(op.rows), nil
}

// logSumExp returns log Σ exp(x), shifted by the maximum for stability.
func logSumExp[T float32 | float64](x []T) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

func (op *lossOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns lossGradOp(loss, grad): the loss node is an input so
// that the gradient runs after the forward pass (grad is a constant).
func (op *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("model: loss: %d inputs, want 1", len(inputs))
	}
	d, err := G.ApplyOp(&lossGradOp{loss: op, dx: newBuffer(op.dt, op.rows, op.classes)}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// lossGradOp is the gradient of a lossOp's logits: g·(softmax −
// onehot)/rows, from the softmax the forward pass kept.
type lossGradOp struct {
	ownedOutput
	loss *lossOp
	dx   *tensor.Dense // the output (rows, classes)
}

func (op *lossGradOp) Arity() int { return 2 }
func (op *lossGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a, tensorType(2))
}
func (op *lossGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.loss.rows, op.loss.classes}, nil
}
func (op *lossGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fltk.nllgrad@%p", op) }
func (op *lossGradOp) Hashcode() uint32      { return opHashcode(op) }
func (op *lossGradOp) String() string {
	return fmt.Sprintf("fltk.nllgrad(%d,%d)", op.loss.rows, op.loss.classes)
}

// Do computes the logits' gradient into the op's buffer.
func (op *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("model: loss gradient: %d inputs, want 2", len(in))
	}
	g, err := scalarOf(in[1], "loss gradient")
	if err != nil {
		return nil, err
	}
	switch op.loss.dt {
	case tensor.Float32:
		lossBackward[float32](op, g)
	case tensor.Float64:
		lossBackward[float64](op, g)
	default:
		return nil, fmt.Errorf("model: loss gradient: dtype %v not supported", op.loss.dt)
	}
	return asShape(op.dx, tensor.Shape{op.loss.rows, op.loss.classes}), nil
}

func lossBackward[T float32 | float64](op *lossGradOp, g float64) {
	l := op.loss
	k := l.classes
	s := g / float64(l.rows)
	p, dx := sliceOf[T](l.prob), sliceOf[T](op.dx)
	for i, v := range p {
		dx[i] = T(s * float64(v))
	}
	for r, c := range l.labels {
		i := r*k + c
		dx[i] = T(s * (float64(p[i]) - 1))
	}
}

// logSoftmaxOp is the evaluation graph's output: log softmax over the rows
// of (rows, classes) logits into the op's buffer, computed in float64. It
// has no gradient.
type logSoftmaxOp struct {
	ownedOutput
	dt    tensor.Dtype
	shape tensor.Shape  // (rows, classes)
	logp  *tensor.Dense // the output
}

// logSoftmax adds log softmax over the rows of the 2-d x.
func (b *builder) logSoftmax(x *node) *node {
	if b.err != nil {
		return nil
	}
	if x.Dims() != 2 {
		b.fail(fmt.Errorf("%w: log softmax needs a 2-d input, got %v", ErrGraph, x.Shape()))
		return nil
	}
	y, err := G.ApplyOp(&logSoftmaxOp{dt: b.dt, shape: x.Shape(), logp: newBuffer(b.dt, x.Shape()...)}, x)
	return b.check("log softmax", y, err)
}

func (op *logSoftmaxOp) Arity() int { return 1 }
func (op *logSoftmaxOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t)
}
func (op *logSoftmaxOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}
func (op *logSoftmaxOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fltk.logsoftmax@%p", op) }
func (op *logSoftmaxOp) Hashcode() uint32      { return opHashcode(op) }
func (op *logSoftmaxOp) String() string        { return fmt.Sprintf("fltk.logsoftmax%v", op.shape) }

// Do computes the log-probabilities.
func (op *logSoftmaxOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("model: log softmax: %d inputs, want 1", len(in))
	}
	var err error
	switch op.dt {
	case tensor.Float32:
		err = logSoftmaxRows[float32](op, in[0])
	case tensor.Float64:
		err = logSoftmaxRows[float64](op, in[0])
	default:
		err = fmt.Errorf("model: log softmax: dtype %v not supported", op.dt)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.logp, op.shape), nil
}

func logSoftmaxRows[T float32 | float64](op *logSoftmaxOp, xv G.Value) error {
	y := sliceOf[T](op.logp)
	x, err := floatsOf[T](xv, len(y), "log softmax")
	if err != nil {
		return err
	}
	k := op.shape[1]
	for r := 0; r < len(x); r += k {
		lse := logSumExp(x[r : r+k])
		for j, v := range x[r : r+k] {
			y[r+j] = T(float64(v) - lse)
		}
	}
	return nil
}

// setLabels writes the training graph's targets into its loss op: y holds
// the class of every logit row (checked by the caller).
func (gr *graph) setLabels(y []int32) {
	for i, l := range y[:len(gr.labels)] {
		gr.labels[i] = int(l)
	}
}
