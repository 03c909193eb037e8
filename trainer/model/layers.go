package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fltk-go/fltk/trainer/model/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// node is a gorgonia graph node; model definitions pass them between the
// layer helpers.
type node = G.Node

// BatchNorm hyper-parameters, PyTorch's defaults. The momentum is the
// weight of the new batch statistic, as in PyTorch.
const (
	bnMomentum = 0.1
	bnEpsilon  = 1e-5
)

// builder adds layers to one graph: the training graph or the evaluation
// graph of a model (or, in tests, a float64 graph for gradient checks).
// Model definitions are functions of a *builder and call its layer helpers
// (Conv2d, BatchNorm, BatchNormEps, Linear, ReLU, MaxPool2d, MaxPool2dPad,
// AvgPool2d, GlobalAvgPool, Flatten, Add, Dropout, BasicBlock,
// PreActBlock, Embedding, LSTM) in a fixed order, which is the State order
// of the learnables.
//
// Errors are sticky: after the first failure every helper returns nil and
// the error is reported once by the caller of the model definition, so
// definitions need no error plumbing.
//
// Custom layers (an LSTM cell, say) create learnables with
//
//	w := b.param(b.name("lstm")+".weight", shape, uniform(bound))
//
// and combine gorgonia ops, passing their errors through b.check. Node
// names must be unique within a graph (b.name numbers the layers):
// gorgonia merges nodes with equal hashes, names included.
type builder struct {
	g     *G.ExprGraph
	dt    tensor.Dtype // tensor.Float32, or tensor.Float64 for gradient checks
	batch int          // samples per batch (static)
	train bool         // training graph: batch statistics in BatchNorm, active dropout
	cfg   Config       // the resolved model Config (sequence models read SeqLen, Hidden, Embed)
	ops   op.Config    // the fused ops' team and tuning

	// rng draws the initial weights; nil leaves new learnables zero (and
	// consumes nothing).
	rng *rand.Rand

	// shared, if not nil, holds the backing arrays the learnables are bound
	// to, in creation order: the evaluation graph reads the training
	// graph's weights in place, so they never need copying.
	shared []any

	params []*node       // learnables in creation (= State) order
	names  []string      // their names, parallel to params
	bns    []bnStats     // BatchNorm running statistics in creation order
	masks  []dropoutMask // dropout masks (training graph only)
	layers int           // layer counter, for unique names
	err    error         // the first error
}

// bnStats are the running mean and variance of a BatchNorm layer: (C)
// tensors its op reads and, in training, updates in place.
type bnStats struct {
	mean, variance *tensor.Dense
}

// dropoutMask is the input a Dropout layer multiplies by: every step it is
// refilled with 0 (probability p) or 1/(1-p) from the model's seeded RNG
// (gorgonia's own Dropout seeds from the clock).
type dropoutMask struct {
	t *tensor.Dense
	p float64
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// check records err (from gorgonia, while doing what) and returns n.
func (b *builder) check(what string, n *node, err error) *node {
	if err != nil {
		b.fail(fmt.Errorf("%w: %s: %w", ErrGraph, what, err))
		return nil
	}
	return n
}

// name returns a fresh layer name such as "conv3".
func (b *builder) name(kind string) string {
	b.layers++
	return fmt.Sprintf("%s%d", kind, b.layers)
}

// newTensor returns a tensor of b's dtype over data (nil: zeros).
func (b *builder) newTensor(shape []int, data any) *tensor.Dense {
	if data == nil {
		return tensor.New(tensor.Of(b.dt), tensor.WithShape(shape...))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// input adds an input node over a fresh zero tensor and returns both.
func (b *builder) input(name string, shape ...int) (*node, *tensor.Dense) {
	t := b.newTensor(shape, nil)
	n := G.NewTensor(b.g, b.dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
	return n, t
}

// param adds a learnable of the given shape. init draws one initial value
// (called prod(shape) times, in order) when b.rng is set.
func (b *builder) param(name string, shape []int, init func(*rand.Rand) float64) *node {
	if b.err != nil {
		return nil
	}
	size := 1
	for _, d := range shape {
		size *= d
	}
	var data any
	if b.shared != nil {
		i := len(b.params)
		if i >= len(b.shared) {
			b.fail(fmt.Errorf("%w: %s: more learnables than the graph it shares with", ErrGraph, name))
			return nil
		}
		data = b.shared[i]
		if l := lenOf(data); l != size {
			b.fail(fmt.Errorf("%w: %s: %d values, the shared learnable has %d", ErrGraph, name, size, l))
			return nil
		}
	} else if b.dt == tensor.Float64 {
		vals := make([]float64, size)
		if b.rng != nil {
			for i := range vals {
				vals[i] = init(b.rng)
			}
		}
		data = vals
	} else {
		vals := make([]float32, size)
		if b.rng != nil {
			for i := range vals {
				vals[i] = float32(init(b.rng))
			}
		}
		data = vals
	}
	opts := []G.NodeConsOpt{G.WithShape(shape...), G.WithName(name), G.WithValue(b.newTensor(shape, data))}
	if b.train {
		// Bind the gradient array now: gorgonia would allocate it on the
		// first run, and Grads must be valid before that.
		opts = append(opts, G.WithGrad(b.newTensor(shape, nil)))
	}
	n := G.NewTensor(b.g, b.dt, len(shape), opts...)
	b.params = append(b.params, n)
	b.names = append(b.names, name)
	return n
}

func lenOf(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	return -1
}

// uniform returns an initialiser drawing from U(-bound, bound).
func uniform(bound float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return (2*r.Float64() - 1) * bound }
}

// normal returns an initialiser drawing from N(0, std²).
func normal(std float64) func(*rand.Rand) float64 {
	return func(r *rand.Rand) float64 { return std * r.NormFloat64() }
}

// constant returns an initialiser that always gives v (no draw).
func constant(v float64) func(*rand.Rand) float64 {
	return func(*rand.Rand) float64 { return v }
}

// scalar returns a constant node of b's dtype.
func (b *builder) scalar(v float64) *node {
	if b.dt == tensor.Float64 {
		return G.NewConstant(v)
	}
	return G.NewConstant(float32(v))
}

// Conv2d adds a k×k convolution of x (N, C, H, W) to out channels with the
// given stride and zero padding, plus a per-channel bias if bias is set.
// The weight is (out, C, k, k). Initialisation is PyTorch's default,
// Kaiming-uniform with a = √5: weight and bias ~ U(±1/√fan_in), fan_in =
// C·k·k.
func (b *builder) Conv2d(x *node, out, k, stride, pad int, bias bool) *node {
	if b.err != nil {
		return nil
	}
	if x.Dims() != 4 {
		b.fail(fmt.Errorf("%w: Conv2d needs a 4-d input, got %v", ErrGraph, x.Shape()))
		return nil
	}
	in := x.Shape()[1]
	name := b.name("conv")
	bound := 1 / math.Sqrt(float64(in*k*k))
	w := b.param(name+".weight", []int{out, in, k, k}, uniform(bound))
	var bn *node
	if bias {
		bn = b.param(name+".bias", []int{1, out, 1, 1}, uniform(bound))
	}
	if b.err != nil {
		return nil
	}
	// The fused op (op.Conv2d); the graph's input needs no gradient.
	y, err := op.Conv2d(b.ops, x, w, bn, stride, pad, !x.IsVar(), name)
	return b.check(name, y, err)
}

// BatchNorm adds batch normalisation over the channels (axis 1) of x, which
// is (N, C, H, W) or (N, C). γ (initially 1) and β (0) are shaped (1, C, 1,
// 1) or (1, C). Momentum 0.1 and ε 1e-5 as in PyTorch. The running mean
// (initially 0) and variance (1) are the model's buffers; the training
// graph updates them, the evaluation graph normalises with them.
func (b *builder) BatchNorm(x *node) *node { return b.BatchNormEps(x, bnEpsilon) }

// BatchNormEps is BatchNorm with ε = eps (FLTK's FashionMNISTResNet
// blocks use 1e-3).
func (b *builder) BatchNormEps(x *node, eps float64) *node {
	if b.err != nil {
		return nil
	}
	var shape []int
	switch x.Dims() {
	case 4:
		shape = []int{1, x.Shape()[1], 1, 1}
	case 2:
		shape = []int{1, x.Shape()[1]}
	default:
		b.fail(fmt.Errorf("%w: BatchNorm needs a 2-d or 4-d input, got %v", ErrGraph, x.Shape()))
		return nil
	}
	name := b.name("bn")
	gamma := b.param(name+".weight", shape, constant(1))
	beta := b.param(name+".bias", shape, constant(0))
	if b.err != nil {
		return nil
	}
	y, mean, variance, err := op.BatchNorm(b.ops, x, gamma, beta, b.train, bnMomentum, eps)
	if b.check(name, y, err) == nil {
		return nil
	}
	b.bns = append(b.bns, bnStats{mean, variance})
	return y
}

// Linear adds a fully connected layer x·W + b from x (N, in) to (N, out).
// W is (in, out). Initialisation as for Conv2d with fan_in = in.
func (b *builder) Linear(x *node, out int) *node {
	if b.err != nil {
		return nil
	}
	if x.Dims() != 2 {
		b.fail(fmt.Errorf("%w: Linear needs a 2-d input, got %v (Flatten first)", ErrGraph, x.Shape()))
		return nil
	}
	in := x.Shape()[1]
	name := b.name("fc")
	bound := 1 / math.Sqrt(float64(in))
	w := b.param(name+".weight", []int{in, out}, uniform(bound))
	bias := b.param(name+".bias", []int{1, out}, uniform(bound))
	if b.err != nil {
		return nil
	}
	y, err := op.Linear(x, w, bias, b.train && b.needsGrad(x)) // x·W + b, one op
	return b.check(name, y, err)
}

// ReLU adds max(x, 0).
func (b *builder) ReLU(x *node) *node {
	if b.err != nil {
		return nil
	}
	y, err := op.ReLU(b.ops, x)
	return b.check("relu", y, err)
}

// MaxPool2d adds k×k max pooling with the given stride and no padding.
func (b *builder) MaxPool2d(x *node, k, stride int) *node { return b.MaxPool2dPad(x, k, stride, 0) }

// MaxPool2dPad adds k×k max pooling with the given stride and pad rows and
// columns of padding on every side. Padding never wins the maximum (it
// counts as −∞, as in PyTorch); the output is ⌊(H + 2·pad − k)/stride⌋ + 1
// high, likewise wide.
func (b *builder) MaxPool2dPad(x *node, k, stride, pad int) *node {
	if b.err != nil {
		return nil
	}
	if x.Dims() != 4 || 2*pad > k {
		b.fail(fmt.Errorf("%w: MaxPool2dPad(%d, %d, %d) needs a 4-d input and pad ≤ k/2, got %v", ErrGraph, k, stride, pad, x.Shape()))
		return nil
	}
	y, err := op.MaxPool2d(b.ops, x, k, stride, pad, !x.IsVar())
	return b.check("maxpool", y, err)
}

// ReLUMaxPool2d adds MaxPool2d(ReLU(x), k, stride), computed as
// ReLU(MaxPool2d(x, k, stride)).
func (b *builder) ReLUMaxPool2d(x *node, k, stride int) *node {
	return b.ReLUMaxPool2dPad(x, k, stride, 0)
}

// ReLUMaxPool2dPad adds MaxPool2dPad(ReLU(x), k, stride, pad), computed
// as ReLU(MaxPool2dPad(x, k, stride, pad)): max and max(·, 0) commute, so
// the values are the same, and so are the gradients — where the window's
// maximum is positive both route the gradient to the same element (ReLU
// changes no positive value, so neither the maximum nor its ties), and
// where it is not, both give zero (ReLU's mask is x > 0)
// (op's TestReLUMaxPoolOrder). The ReLU then runs on the pooled tensor, a
// quarter of the input for 2×2 pooling, forward and backward.
func (b *builder) ReLUMaxPool2dPad(x *node, k, stride, pad int) *node {
	return b.ReLU(b.MaxPool2dPad(x, k, stride, pad))
}

// AvgPool2d adds non-overlapping k×k average pooling (stride k, no
// padding) of x (N, C, H, W); H and W must be multiples of k. It is built
// from reshapes and sums: gorgonia's AveragePool2D computes a wrong
// gradient and GlobalAveragePool2D has none (v0.9.18).
func (b *builder) AvgPool2d(x *node, k int) *node {
	if b.err != nil {
		return nil
	}
	s := x.Shape()
	if x.Dims() != 4 || k < 1 || s[2]%k != 0 || s[3]%k != 0 {
		b.fail(fmt.Errorf("%w: AvgPool2d(%d) needs a 4-d input with H and W multiples of %d, got %v", ErrGraph, k, k, x.Shape()))
		return nil
	}
	n, c, hb, wb := s[0], s[1], s[2]/k, s[3]/k
	// (N, C, H, W) row-major is (N·C·H/k, k, W/k, k): sum over the two k axes.
	y, err := G.Reshape(x, tensor.Shape{n * c * hb, k, wb, k})
	if b.check("avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Sum(y, 3)
	if b.check("avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Sum(y, 1)
	if b.check("avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Mul(y, b.scalar(1/float64(k*k)))
	if b.check("avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Reshape(y, tensor.Shape{n, c, hb, wb})
	return b.check("avgpool", y, err)
}

// GlobalAvgPool averages each channel of x (N, C, H, W) over H and W and
// returns (N, C) (PyTorch's AdaptiveAvgPool2d(1) followed by flatten).
func (b *builder) GlobalAvgPool(x *node) *node {
	if b.err != nil {
		return nil
	}
	if x.Dims() != 4 {
		b.fail(fmt.Errorf("%w: GlobalAvgPool needs a 4-d input, got %v", ErrGraph, x.Shape()))
		return nil
	}
	s := x.Shape()
	y, err := G.Reshape(x, tensor.Shape{s[0] * s[1], s[2] * s[3]})
	if b.check("global avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Sum(y, 1)
	if b.check("global avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Mul(y, b.scalar(1/float64(s[2]*s[3])))
	if b.check("global avgpool", y, err) == nil {
		return nil
	}
	y, err = G.Reshape(y, tensor.Shape{s[0], s[1]})
	return b.check("global avgpool", y, err)
}

// Flatten reshapes x (N, ...) to (N, prod(...)).
func (b *builder) Flatten(x *node) *node {
	if b.err != nil {
		return nil
	}
	s := x.Shape()
	if len(s) == 2 {
		return x
	}
	y, err := G.Reshape(x, tensor.Shape{s[0], s.TotalSize() / s[0]})
	return b.check("flatten", y, err)
}

// Add adds two nodes of the same shape (a residual connection).
func (b *builder) Add(x, y *node) *node {
	if b.err != nil {
		return nil
	}
	z, err := G.Add(x, y)
	return b.check("add", z, err)
}

// Dropout zeroes each element of x with probability p and scales the rest
// by 1/(1-p) (inverted dropout) in the training graph; in the evaluation
// graph it is the identity. The masks come from the model's seeded RNG.
func (b *builder) Dropout(x *node, p float64) *node {
	if b.err != nil {
		return nil
	}
	if !(p >= 0 && p < 1) {
		b.fail(fmt.Errorf("%w: dropout probability %v not in [0, 1)", ErrGraph, p))
		return nil
	}
	if !b.train || p == 0 {
		return x
	}
	m, t := b.input(b.name("dropout"), x.Shape()...)
	b.masks = append(b.masks, dropoutMask{t: t, p: p})
	y, err := G.HadamardProd(x, m)
	return b.check("dropout", y, err)
}

// BasicBlock adds a ResNet basic block (He et al. 2016; kuangliu's
// pytorch-cifar layout, as in FLTK's Cifar10ResNet): conv3×3(stride)–BN–
// ReLU–conv3×3–BN, plus the shortcut — x itself, or conv1×1(stride)–BN
// when the stride is not 1 or the channels change — then ReLU. The
// convolutions have no bias. Learnables in the order conv1, bn1, conv2,
// bn2, shortcut conv, shortcut bn.
func (b *builder) BasicBlock(x *node, out, stride int) *node {
	if b.err != nil {
		return nil
	}
	in := x.Shape()[1]
	h := b.ReLU(b.BatchNorm(b.Conv2d(x, out, 3, stride, 1, false)))
	h = b.BatchNorm(b.Conv2d(h, out, 3, 1, 1, false))
	sc := x
	if stride != 1 || in != out {
		sc = b.BatchNorm(b.Conv2d(x, out, 1, stride, 0, false))
	}
	return b.ReLU(b.Add(h, sc))
}

// PreActBlock adds a pre-activation residual block (He et al. 2016,
// "Identity mappings in deep residual networks"), in the layout of FLTK's
// FashionMNISTResNet (fltk/nets/fashion_mnist_resnet.py, Residual):
// BN(ε 1e-3)–ReLU–conv3×3(stride)–BN(ε 1e-3)–ReLU–conv3×3, plus the
// shortcut — x itself, or conv1×1(stride) when shortcutConv is set (it
// must be when the stride is not 1 or the channels change) — with no
// activation after the sum. All three convolutions have a bias; the first
// BatchNorm normalises the block's input channels. Learnables in the
// order bn1, conv1, bn2, conv2, shortcut conv (PyTorch's state_dict
// order).
func (b *builder) PreActBlock(x *node, out, stride int, shortcutConv bool) *node {
	if b.err != nil {
		return nil
	}
	const eps = 1e-3
	if !shortcutConv && (stride != 1 || x.Shape()[1] != out) {
		b.fail(fmt.Errorf("%w: PreActBlock from %v to %d channels with stride %d needs a shortcut convolution", ErrGraph, x.Shape(), out, stride))
		return nil
	}
	h := b.Conv2d(b.ReLU(b.BatchNormEps(x, eps)), out, 3, stride, 1, true)
	h = b.Conv2d(b.ReLU(b.BatchNormEps(h, eps)), out, 3, 1, 1, true)
	sc := x
	if shortcutConv {
		sc = b.Conv2d(x, out, 1, stride, 0, true)
	}
	return b.Add(h, sc)
}

// Embedding adds a lookup table of vocab rows of width dim (initially
// N(0, 1), as PyTorch's nn.Embedding) and returns the rows of the ids in
// idx, a tensor.Int vector of n ids in [0, vocab): (n, dim).
func (b *builder) Embedding(idx *node, vocab, dim int) *node {
	if b.err != nil {
		return nil
	}
	name := b.name("embedding")
	w := b.param(name+".weight", []int{vocab, dim}, normal(1))
	if b.err != nil {
		return nil
	}
	y, err := G.ByIndices(w, idx, 0)
	return b.check(name, y, err)
}

// LSTM adds one LSTM layer of hidden units (Hochreiter & Schmidhuber
// 1997, PyTorch's gate equations, zero initial state) unrolled over steps
// time steps. xs holds the inputs of all steps time-major: (steps·batch,
// in), rows t·batch … (t+1)·batch−1 are step t. The result is the hidden
// state of every step sample-major: (batch·steps, hidden), row i·steps+t
// is sample i at step t — the order of a text batch's labels.
//
// With the gates z = x_t·Wx + h_{t−1}·Wh + bias split into i, f, g, o:
//
//	c_t = σ(f)⊙c_{t−1} + σ(i)⊙tanh(g),  h_t = σ(o)⊙tanh(c_t)
//
// Learnables in order: Wx (in, 4·hidden), Wh (hidden, 4·hidden), bias (1,
// 4·hidden) — PyTorch's weight_ih_l0ᵀ, weight_hh_l0ᵀ and b_ih+b_hh (one
// bias instead of PyTorch's redundant two); all U(±1/√hidden), PyTorch's
// initialisation.
func (b *builder) LSTM(xs *node, steps, hidden int) *node {
	if b.err != nil {
		return nil
	}
	n := b.batch
	if xs.Dims() != 2 || steps < 1 || xs.Shape()[0] != steps*n {
		b.fail(fmt.Errorf("%w: LSTM of %d steps needs a (%d, in) input, got %v", ErrGraph, steps, steps*n, xs.Shape()))
		return nil
	}
	in, H := xs.Shape()[1], hidden
	name := b.name("lstm")
	bound := 1 / math.Sqrt(float64(H))
	wx := b.param(name+".wx", []int{in, 4 * H}, uniform(bound))
	wh := b.param(name+".wh", []int{H, 4 * H}, uniform(bound))
	bias := b.param(name+".bias", []int{1, 4 * H}, uniform(bound))
	if b.err != nil {
		return nil
	}
	y, err := op.LSTM(xs, wx, wh, bias, steps, b.train && b.needsGrad(xs))
	return b.check(name, y, err)
}

// needsGrad reports whether x depends on a learnable of b, i.e. whether
// an op taking x must compute x's gradient (the graph's input, reshaped
// or pooled, needs none).
func (b *builder) needsGrad(x *G.Node) bool {
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
