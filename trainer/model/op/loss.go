package op

import (
	"fmt"
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
	base
	dt            tensor.Dtype
	rows, classes int
	labels        []int         // class of every row, in [0, classes); written by the caller
	prob          *tensor.Dense // softmax of the last forward pass (rows, classes), never returned
	loss32        G.F32         // the output (float32 graphs)
	loss64        G.F64         // the output (float64 graphs)
}

// Loss applies the training loss to logits (rows, classes): the mean
// over the rows of −log softmax(logits)[label], a scalar. labels is the
// op's buffer of the rows' classes, which the caller writes before each
// run; a label outside [0, classes) fails the run.
func Loss(logits *G.Node) (loss *G.Node, labels []int, err error) {
	if logits.Dims() != 2 {
		return nil, nil, buildErrorf("loss needs 2-d logits, got %v", logits.Shape())
	}
	if err := checkDtype("loss", logits.Dtype()); err != nil {
		return nil, nil, err
	}
	s := logits.Shape()
	op := newLossOp(logits.Dtype(), s[0], s[1])
	if loss, err = G.ApplyOp(op, logits); err != nil {
		return nil, nil, err
	}
	return loss, op.labels, nil
}

// newLossOp returns the loss op of (rows, classes) logits of dtype dt.
func newLossOp(dt tensor.Dtype, rows, classes int) *lossOp {
	b := newBase(fmt.Sprintf("nllloss(%d,%d)", rows, classes), 1, tensor.ScalarShape())
	b.typ = hm.NewFnType(tensorType(2), hm.TypeVariable('a'))
	return &lossOp{base: b, dt: dt, rows: rows, classes: classes, labels: make([]int, rows), prob: newBuffer(dt, rows, classes)}
}

// Do computes the mean loss and the softmax.
func (op *lossOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	if op.dt == tensor.Float32 {
		l, err := lossForward[float32](op, in[0])
		op.loss32 = G.F32(l)
		return &op.loss32, err
	}
	l, err := lossForward[float64](op, in[0])
	op.loss64 = G.F64(l)
	return &op.loss64, err
}

func lossForward[T float](op *lossOp, xv G.Value) (float64, error) {
	k := op.classes
	x, err := input[T](op, "logits", xv, op.rows*k)
	if err != nil {
		return 0, err
	}
	p := data[T](op.prob)
	var sum float64
	for r, l := range op.labels {
		if l < 0 || l >= k {
			return 0, op.errorf("label %d of row %d not in [0, %d)", l, r, k)
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
func logSumExp[T float](x []T) float64 {
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
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	s := tensor.Shape{op.rows, op.classes}
	b := newBase(fmt.Sprintf("nllloss.dx%v", s), 2, s)
	a := hm.TypeVariable('a')
	b.typ = hm.NewFnType(a, a, tensorType(2))
	d, err := G.ApplyOp(&lossGradOp{base: b, loss: op, dx: newBuffer(op.dt, s...)}, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// lossGradOp is the gradient of a lossOp's logits: g·(softmax −
// onehot)/rows, from the softmax the forward pass kept.
type lossGradOp struct {
	base
	loss *lossOp
	dx   *tensor.Dense // the output (rows, classes)
}

// Do computes the logits' gradient into the op's buffer.
func (op *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	g, err := scalar(op, "dloss", in[1])
	if err != nil {
		return nil, err
	}
	if op.loss.dt == tensor.Float32 {
		lossBackward[float32](op, g)
	} else {
		lossBackward[float64](op, g)
	}
	return asShape(op.dx, op.shape), nil
}

func lossBackward[T float](op *lossGradOp, g float64) {
	l := op.loss
	k := l.classes
	s := g / float64(l.rows)
	p, dx := data[T](l.prob), data[T](op.dx)
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
	base
	dt   tensor.Dtype
	logp *tensor.Dense // the output (rows, classes)
}

// LogSoftmax applies log softmax over the rows of the 2-d x, computed in
// float64, one op without a gradient (the evaluation graph's output).
func LogSoftmax(x *G.Node) (*G.Node, error) {
	if x.Dims() != 2 {
		return nil, buildErrorf("log softmax needs a 2-d input, got %v", x.Shape())
	}
	if err := checkDtype("log softmax", x.Dtype()); err != nil {
		return nil, err
	}
	return G.ApplyOp(newLogSoftmaxOp(x.Dtype(), x.Shape()), x)
}

// newLogSoftmaxOp returns the log softmax op of a (rows, classes) input.
func newLogSoftmaxOp(dt tensor.Dtype, s tensor.Shape) *logSoftmaxOp {
	return &logSoftmaxOp{base: newBase(fmt.Sprintf("logsoftmax%v", s), 1, s), dt: dt, logp: newBuffer(dt, s...)}
}

// Do computes the log-probabilities.
func (op *logSoftmaxOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = logSoftmaxRows[float32](op, in[0])
	} else {
		err = logSoftmaxRows[float64](op, in[0])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.logp, op.shape), nil
}

func logSoftmaxRows[T float](op *logSoftmaxOp, xv G.Value) error {
	y := data[T](op.logp)
	x, err := input[T](op, "x", xv, len(y))
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
