package model

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	goruntime "runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/fltk-go/fltk/trainer/model/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphConfig says which of a model's graphs to build.
type graphConfig struct {
	dt      tensor.Dtype // tensor.Float32 for models, tensor.Float64 in gradient checks
	batch   int          // samples per batch
	classes int          // output classes
	train   bool         // training graph (loss and gradients) or evaluation graph (log-probabilities)
	rng     *rand.Rand   // weight initialisation; nil: zeros
	shared  []any        // backing arrays of the learnables to bind to (evaluation graph)

	// cfg is the resolved model Config; token models read SeqLen,
	// Hidden and Embed from it (batch and classes above take precedence
	// over its Batch, EvalBatch and Classes).
	cfg Config

	// ops configures the fused ops: the team that runs their parallel
	// loops, and their tuning.
	ops op.Config
}

// graph is one compiled graph with its tape machine and the tensors its
// caller reads and writes between runs.
type graph struct {
	g       *G.ExprGraph
	vm      G.VM
	runTape func() error  // the whole tape on the calling goroutine (tapeRunner), or nil: vm.RunAll
	rows    int           // logit rows: batch·labelsPerSample
	classes int           // logit columns
	x       *tensor.Dense // input batch, refilled before each run (tensor.Int token ids, time-major, for token models)
	tokens  bool          // token model: x holds batch·SeqLen ids
	batch   int           // samples per run
	lps     int           // labels (logit rows) per sample: 1, or SeqLen for token models
	labels  []int         // training graph: the class of every logit row, the loss op's buffer (setLabels)
	lossV   G.Value       // training graph: the mean loss, copied out by a Read node
	logpV   G.Value       // evaluation graph: log-probabilities (rows, classes), copied out by a Read node
	params  []*node       // learnables in State order
	names   []string      // their names
	gradsN  G.Nodes       // training graph: the gradient node of each learnable
	grads   []any         // training graph: each learnable's gradient ([]float32 or []float64), copied from gradsN after each run
	bns     []bnStats
	masks   []dropoutMask
}

// buildMu serialises graph construction: gorgonia keeps unsynchronised
// package state for it (encoding.NewGroup's counter, hit by Rectify,
// MaxPool2D, Conv2d, ...). Running graphs needs no lock.
var buildMu sync.Mutex

// construct adds the input and the network of s to a new graph without
// compiling it: gr's graph and input tensor are set, and the builder
// holds the learnables, BatchNorm ops and dropout masks. The caller holds
// buildMu. Tests count the parameters of big models through it.
func construct(s spec, c graphConfig) (gr *graph, b *builder, logits *node, err error) {
	defer func() {
		if r := recover(); r != nil {
			gr, b, logits, err = nil, nil, nil, fmt.Errorf("%w: building %s: gorgonia panicked: %v", ErrGraph, s.info.Name, r)
		}
	}()
	lps := max(s.labelsPerSample, 1)
	if s.tokens {
		lps = c.cfg.SeqLen
		if lps < 1 || c.cfg.Hidden < 1 || c.cfg.Embed < 1 {
			return nil, nil, nil, fmt.Errorf("%w: building %s: SeqLen %d, Hidden %d and Embed %d must be positive",
				ErrGraph, s.info.Name, c.cfg.SeqLen, c.cfg.Hidden, c.cfg.Embed)
		}
	}
	gr = &graph{g: G.NewGraph(), rows: c.batch * lps, classes: c.classes, tokens: s.tokens, batch: c.batch, lps: lps}
	b = &builder{g: gr.g, dt: c.dt, batch: c.batch, train: c.train, rng: c.rng, shared: c.shared, cfg: c.cfg, ops: c.ops}
	var x *node
	if s.tokens {
		gr.x = tensor.New(tensor.Of(tensor.Int), tensor.WithShape(c.batch*lps))
		x = G.NewVector(gr.g, tensor.Int, G.WithShape(c.batch*lps), G.WithName("x"), G.WithValue(gr.x))
	} else {
		x, gr.x = b.input("x", append([]int{c.batch}, s.info.InputShape...)...)
	}
	logits = s.build(b, x, c.classes)
	if b.err != nil {
		return nil, nil, nil, fmt.Errorf("building %s: %w", s.info.Name, b.err)
	}
	if c.shared != nil && len(b.params) != len(c.shared) {
		return nil, nil, nil, fmt.Errorf("%w: building %s: %d learnables, the shared graph has %d", ErrGraph, s.info.Name, len(b.params), len(c.shared))
	}
	if want := []int{gr.rows, c.classes}; !slices.Equal(logits.Shape(), want) {
		return nil, nil, nil, fmt.Errorf("%w: building %s: logits have shape %v, want %v", ErrGraph, s.info.Name, logits.Shape(), want)
	}
	return gr, b, logits, nil
}

// buildGraph builds and compiles the training or evaluation graph of s.
// The training graph's loss is the mean over the rows of −log softmax at
// the target (LogSoftMax + NLL, i.e. cross-entropy on logits), one fused
// op (op.Loss) whose labels are set by setLabels; the evaluation graph
// ends in log softmax (op.LogSoftmax).
func buildGraph(s spec, c graphConfig) (gr *graph, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			gr, err = nil, fmt.Errorf("%w: building %s: gorgonia panicked: %v", ErrGraph, s.info.Name, r)
		}
	}()
	gr, b, logits, err := construct(s, c)
	if err != nil {
		return nil, err
	}
	gr.params, gr.names, gr.bns, gr.masks = b.params, b.names, b.bns, b.masks
	if !c.train {
		logp, err := op.LogSoftmax(logits)
		if err != nil {
			return nil, fmt.Errorf("%w: building %s log softmax: %w", ErrGraph, s.info.Name, err)
		}
		G.Read(logp, &gr.logpV)
		gr.vm = newTapeMachine(gr.g, G.EvalMode())
		gr.runTape = tapeRunner(gr.vm)
		return gr, nil
	}
	loss, labels, err := op.Loss(logits)
	if err != nil {
		return nil, fmt.Errorf("%w: building %s loss: %w", ErrGraph, s.info.Name, err)
	}
	gr.labels = labels
	G.Read(loss, &gr.lossV)
	gr.gradsN, err = G.Grad(loss, gr.params...)
	if err != nil {
		return nil, fmt.Errorf("%w: building %s gradients: %w", ErrGraph, s.info.Name, err)
	}
	if len(gr.gradsN) != len(gr.params) {
		return nil, fmt.Errorf("%w: building %s gradients: %d gradients for %d learnables", ErrGraph, s.info.Name, len(gr.gradsN), len(gr.params))
	}
	for i, p := range gr.params {
		gr.grads = append(gr.grads, gradArray(gr.gradsN[i], c.dt, p.Shape().TotalSize()))
	}
	// No dual values: with them the tape machine adds every gradient
	// into the learnable's dual value, which then has to be zeroed before
	// each run (two passes over every gradient, a noticeable part of an
	// MNIST-CNN step; BenchmarkTrainStep). The gradients are the gradient
	// ops' own buffers instead (gradArray), or copied out by run.
	gr.vm = newTapeMachine(gr.g)
	gr.runTape = tapeRunner(gr.vm)
	return gr, nil
}

// gradArray returns the array a learnable's gradient (node g, n values of
// dt) is read from after each run: the output buffer of g's op when the op
// is one of ours that owns one (op.Output), so that copyGrads finds it in
// place, else a new array.
func gradArray(g *node, dt tensor.Dtype, n int) any {
	if t := op.Output(g.Op()); t != nil && t.DataSize() == n {
		switch d := t.Data().(type) {
		case []float32:
			if dt == tensor.Float32 {
				return d
			}
		case []float64:
			if dt == tensor.Float64 {
				return d
			}
		}
	}
	if dt == tensor.Float32 {
		return make([]float32, n)
	}
	return make([]float64, n)
}

// newTapeMachine is G.NewTapeMachine without the finalizer it sets on the
// machine. The finalizer only frees CUDA contexts (a no-op without the
// cuda build tag), and the machine sits in a reference cycle, which Go
// never collects while a finalizer is set: every graph would leak, closed
// or not.
func newTapeMachine(g *G.ExprGraph, opts ...G.VMOpt) G.VM {
	vm := G.NewTapeMachine(g, opts...)
	goruntime.SetFinalizer(vm, nil)
	return vm
}

// run executes the graph once and resets the tape machine (without the
// reset, later runs silently do nothing). gorgonia panics are returned as
// errors.
func (gr *graph) run() (err error) {
	defer func() {
		gr.vm.Reset()
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: gorgonia panicked: %v", ErrGraph, r)
		}
	}()
	run := gr.vm.RunAll
	if gr.runTape != nil {
		run = gr.runTape
	}
	if err := run(); err != nil {
		return fmt.Errorf("%w: %w", ErrGraph, err)
	}
	return gr.copyGrads()
}

// tapeRunner returns a function that runs every instruction of the tape
// machine vm on the calling goroutine, through the machine's Run on its
// whole program, or nil when vm's internals are not gorgonia v0.9's (the
// caller then uses RunAll). RunAll locks its caller to the OS thread and
// runs the program on a new goroutine, so every run hands the P to
// another thread and back: two futex wake-ups that cost more than an
// MNIST 2NN layer at small batch (BenchmarkTrainStep, model=MNIST2NN).
// Run executes the same instructions (without RunAll's NaN, Inf and
// pointer watches, which our machines do not enable, and its dual-value
// closures, which need dual values our graphs do not have) and then binds
// every node's value, as RunAll's instructions do one by one.
func tapeRunner(vm G.VM) func() error {
	v := reflect.ValueOf(vm)
	prog, run := v.MethodByName("Prog"), v.MethodByName("Run")
	if !prog.IsValid() || !run.IsValid() || prog.Type().NumIn() != 0 || prog.Type().NumOut() != 1 ||
		run.Type().NumIn() != 1 || run.Type().NumOut() != 1 || run.Type().Out(0) != reflect.TypeFor[error]() {
		return nil
	}
	p := prog.Call(nil)[0]
	if p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := p.Elem().FieldByName("instructions")
	if !f.IsValid() || f.Type() != run.Type().In(0) {
		return nil
	}
	// The program never changes after compilation; f is an unexported
	// field, so reach it through its address.
	args := []reflect.Value{reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()}
	return func() error {
		if err, _ := run.Call(args)[0].Interface().(error); err != nil {
			return err
		}
		return nil
	}
}

// copyGrads copies the gradient nodes' values of the run into gr.grads,
// except those already there (gradArray).
func (gr *graph) copyGrads() error {
	for i, n := range gr.gradsN {
		v := n.Value()
		if v == nil {
			return fmt.Errorf("%w: the gradient of %s has no value after the run", ErrGraph, gr.names[i])
		}
		var got int
		switch d := gr.grads[i].(type) {
		case []float32:
			src, ok := v.Data().([]float32)
			if !ok {
				return fmt.Errorf("%w: the gradient of %s holds %T, want []float32", ErrGraph, gr.names[i], v.Data())
			}
			got = copyUnlessSame(d, src)
		case []float64:
			src, ok := v.Data().([]float64)
			if !ok {
				return fmt.Errorf("%w: the gradient of %s holds %T, want []float64", ErrGraph, gr.names[i], v.Data())
			}
			got = copyUnlessSame(d, src)
		}
		if want := gr.params[i].Shape().TotalSize(); got != want || v.Shape().TotalSize() != want {
			return fmt.Errorf("%w: the gradient of %s has %d values, want %d", ErrGraph, gr.names[i], v.Shape().TotalSize(), want)
		}
	}
	return nil
}

// copyUnlessSame copies src into dst unless both start at the same
// element, and returns the number of elements dst holds from src.
func copyUnlessSame[T float32 | float64](dst, src []T) int {
	if len(dst) > 0 && len(src) > 0 && &dst[0] == &src[0] {
		return min(len(dst), len(src))
	}
	return copy(dst, src)
}

// setInput fills the input batch from x, whole samples back to back, and
// pads the missing samples with zeros. Token models convert the ids to
// int in time-major order and check that they are integers in [0,
// classes); on an error the input is left partly written.
func (gr *graph) setInput(x []float32) error {
	if !gr.tokens {
		d := gr.x.Data().([]float32)
		n := copy(d, x)
		clear(d[n:])
		return nil
	}
	ids := gr.x.Ints()
	clear(ids)
	t := gr.lps
	for k, v := range x[:min(len(x), len(ids))] {
		id := int(v)
		if !(v >= 0 && v < float32(gr.classes)) || float32(id) != v {
			return fmt.Errorf("token %v at %d is not an integer in [0, %d)", v, k, gr.classes)
		}
		ids[k%t*gr.batch+k/t] = id // sample k/t, step k%t
	}
	return nil
}

// paramData returns the backing arrays of the learnables.
func (gr *graph) paramData() []any {
	d := make([]any, len(gr.params))
	for i, p := range gr.params {
		d[i] = p.Value().Data()
	}
	return d
}

// gradData returns the arrays that hold the learnables' gradients after
// each run (training graph).
func (gr *graph) gradData() ([]any, error) {
	if len(gr.grads) != len(gr.params) {
		return nil, fmt.Errorf("%w: not a training graph", ErrGraph)
	}
	return slices.Clone(gr.grads), nil
}

// fillMasks draws new dropout masks from rng.
func (gr *graph) fillMasks(rng *rand.Rand) {
	for _, m := range gr.masks {
		keep := 1 / (1 - m.p)
		switch d := m.t.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = 0
				if rng.Float64() >= m.p {
					d[i] = float32(keep)
				}
			}
		case []float64:
			for i := range d {
				d[i] = 0
				if rng.Float64() >= m.p {
					d[i] = keep
				}
			}
		}
	}
}

func (gr *graph) close() { _ = gr.vm.Close() }

// setLabels writes the training graph's targets into its loss op: y holds
// the class of every logit row (checked by the caller).
func (gr *graph) setLabels(y []int32) {
	for i, l := range y[:len(gr.labels)] {
		gr.labels[i] = int(l)
	}
}
