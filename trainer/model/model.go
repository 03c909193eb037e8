package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Model is a classifier with a training graph and a forward-only
// evaluation graph that share their weights. One Model is used by one
// goroutine at a time; distinct Models may be used concurrently.
//
// The State vector is all learnables in a fixed order (the order in which
// the model's layers create them: per layer the weight, then the bias; for
// BatchNorm γ, then β), then the buffers (per BatchNorm layer its running
// mean, then its running variance). Convolution weights are (out, in, kh,
// kw) as in PyTorch; linear weights are (in, out), the transpose of
// PyTorch's (out, in).
type Model interface {
	// Name is the registry name, e.g. "MNISTCNN".
	Name() string

	// Config is the validated Config the model was built with (Classes
	// resolved to the actual number of classes).
	Config() Config

	// InputShape is the per-sample input shape, CHW for image models, e.g.
	// {1, 28, 28}, or {Config().SeqLen} for the text model CharLSTM.
	// Inputs are flat: a sample is prod(InputShape) values.
	InputShape() []int

	// NumParams is the number of trainable parameters.
	NumParams() int

	// StateLen is NumParams plus the number of buffer values (BatchNorm
	// running means and variances).
	StateLen() int

	// Buffers lists the [lo, hi) ranges of the State vector that are
	// buffers, one per buffer tensor, in State order; all lie in
	// [NumParams, StateLen).
	Buffers() [][2]int

	// State appends the State vector to dst[:0] and returns it.
	State(dst []float32) []float32

	// LoadState copies src, a State vector of length StateLen, into the
	// model in place (no graph is rebuilt), BatchNorm statistics included.
	LoadState(src []float32) error

	// Params returns the backing arrays of the learnables in State order.
	// They stay valid for the life of the Model; an optimizer updates them
	// in place and both graphs see the change.
	Params() [][]float32

	// Grads returns the backing arrays of the learnables' gradients,
	// parallel to Params. They stay valid for the life of the Model and
	// hold the gradients of the last TrainStep (most are the gradient
	// ops' own output buffers, so after a TrainStep that failed they hold
	// unspecified values).
	Grads() [][]float32

	// TrainStep runs forward and backward on exactly Config().Batch
	// samples (x: Batch·prod(InputShape) values, y: Batch·L labels in
	// [0, Classes), where L is 1 for image models and SeqLen for the text
	// model), leaves fresh (not accumulated) gradients in Grads and
	// returns the mean cross-entropy loss over the Batch·L labels. It does
	// not change the learnables; it does update BatchNorm running
	// statistics. The text model's inputs are token ids stored as float32
	// and must be integers in [0, Classes).
	TrainStep(x []float32, y []int32) (loss float64, err error)

	// Evaluate runs the evaluation graph (BatchNorm with running
	// statistics, no dropout) on the first n ≤ EvalBatch samples of x
	// (len(x) ≥ n·prod(InputShape); missing samples are padded with
	// zeros), returns the sum of the n·L cross-entropy losses (L labels per
	// sample, as for TrainStep) and writes the argmax predictions into
	// pred[:n·L]. Only y[:n·L] is read.
	Evaluate(x []float32, y []int32, n int, pred []int32) (lossSum float64, err error)

	// Close releases the graphs and, unless the model was given a
	// Config.Team, stops the helpers of the Team it made. It is
	// idempotent; TrainStep, Evaluate and LoadState fail with ErrClosed
	// afterwards.
	Close() error
}

// ModelInfo holds the static facts of a registered model.
type ModelInfo struct {
	Name        string   // registry name
	InputShape  []int    // per-sample input shape (CHW); nil for CharLSTM, whose shape is {Config.SeqLen}
	Classes     int      // default number of classes
	Datasets    []string // the data sets the model is meant for
	Params      int      // trainable parameters with the default classes (and sizes)
	BufferLen   int      // buffer values (BatchNorm running mean and variance)
	Description string   // one line: architecture and source
}

// spec is a registry entry: the static facts and the function that adds the
// network to a graph.
type spec struct {
	info ModelInfo

	// build adds the network to b's graph. x is the input batch
	// (batch, InputShape...); build returns the logits, shaped
	// (batch·labelsPerSample, classes).
	build func(b *builder, x *node, classes int) *node

	// labelsPerSample is the number of labels (logit rows) per sample;
	// 0 means 1. Token models have Config.SeqLen instead.
	labelsPerSample int

	// tokens marks a sequence model: a sample is Config.SeqLen token ids
	// (stored as float32 in the caller's x) with one label per step, and
	// info.InputShape is nil. build gets x as a tensor.Int vector of
	// batch·SeqLen ids in time-major order (x[t·batch+i] is token t of
	// sample i) and returns the logits in sample-major order (row
	// i·SeqLen+t), the order of the labels.
	tokens bool
}

var registry = map[string]spec{}

// register adds s to the registry; model files call it from init. It
// panics on a duplicate or malformed entry (a programmer error).
func register(s spec) {
	if _, dup := registry[s.info.Name]; dup {
		panic("model: duplicate registration of " + s.info.Name)
	}
	if s.build == nil || (len(s.info.InputShape) == 0) != s.tokens || s.info.Classes < 2 {
		panic("model: malformed registration of " + s.info.Name)
	}
	registry[s.info.Name] = s
}

// Names returns the registered model names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info returns the static facts of the model called name.
func Info(name string) (ModelInfo, error) {
	s, err := lookup(name)
	if err != nil {
		return ModelInfo{}, err
	}
	info := s.info
	info.InputShape = slices.Clone(info.InputShape)
	info.Datasets = slices.Clone(info.Datasets)
	return info, nil
}

func lookup(name string) (spec, error) {
	s, ok := registry[name]
	if !ok {
		return spec{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownModel, name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// RNGState is implemented by models that draw random numbers as they
// train (dropout masks, from a generator seeded by Config.Seed): the
// generator's position, for checkpoints. A model restored with
// UnmarshalRNG draws the same masks next as the one saved. The built-in
// models implement it.
type RNGState interface {
	MarshalRNG() ([]byte, error)
	UnmarshalRNG(b []byte) error
}

// New builds the model called name (one of [Names]) with cfg: its training
// graph, its evaluation graph and its initial weights.
func New(name string, cfg Config) (Model, error) {
	s, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newNet(s, cfg)
}
