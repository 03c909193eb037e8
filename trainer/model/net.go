package model

import (
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"slices"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/op"
	"gorgonia.org/tensor"
)

// PCG stream constants: weight initialisation and dropout masks draw from
// independent streams of the same Config.Seed.
const (
	initStream    = 0x6d6f64656c696e69 // "modelini"
	dropoutStream = 0x6d6f64656c64726f // "modeldro"
)

// net is the Model of every registered spec: a float32 training graph and
// an evaluation graph bound to the same weight arrays.
type net struct {
	name      string
	cfg       Config
	inShape   []int
	sampleLen int // values per sample
	lps       int // labels (logit rows) per sample
	train     *graph
	eval      *graph

	params, grads [][]float32 // training graph's learnables and gradients, State order
	nParams       int
	stateLen      int
	buffers       [][2]int    // State ranges of the buffers
	bufs          [][]float32 // training graph's BatchNorm running mean, variance, ...; parallel to buffers
	evalBufs      [][]float32 // the evaluation graph's copies, parallel to bufs

	// statsDirty is set when bufs may differ from evalBufs (after
	// TrainStep and LoadState). The weights need no such flag: both graphs
	// read the same arrays.
	statsDirty bool

	maskRNG *rand.Rand // dropout masks
	maskSrc *rand.PCG  // maskRNG's source, saved by MarshalRNG
	closed  bool

	// ownTeam is the Team the model created for its ops (Config.Team
	// nil), closed by Close, or nil.
	ownTeam *parallel.Team
	cleanup goruntime.Cleanup // closes ownTeam if the model is dropped unclosed
}

var _ Model = (*net)(nil)

func newNet(s spec, cfg Config) (n *net, err error) {
	cfg.resolve(s)
	classes := cfg.Classes
	ops := op.DefaultConfig()
	ops.Team = cfg.Team
	var own *parallel.Team
	if ops.Team == nil {
		if own, err = parallel.New(parallel.DefaultConfig()); err != nil {
			return nil, fmt.Errorf("model: %s: %w", s.info.Name, err)
		}
		defer func() {
			if err != nil {
				_ = own.Close()
			}
		}()
		ops.Team = own
	}
	tr, err := buildGraph(s, graphConfig{
		dt: tensor.Float32, batch: cfg.Batch, classes: classes, train: true,
		rng: rand.New(rand.NewPCG(cfg.Seed, initStream)), cfg: cfg, ops: ops,
	})
	if err != nil {
		return nil, fmt.Errorf("model: %s training graph: %w", s.info.Name, err)
	}
	ev, err := buildGraph(s, graphConfig{
		dt: tensor.Float32, batch: cfg.EvalBatch, classes: classes, shared: tr.paramData(), cfg: cfg, ops: ops,
	})
	if err != nil {
		tr.close()
		return nil, fmt.Errorf("model: %s evaluation graph: %w", s.info.Name, err)
	}
	inShape := slices.Clone(s.info.InputShape)
	if s.tokens {
		inShape = []int{cfg.SeqLen}
	}
	n = &net{
		name:      s.info.Name,
		cfg:       cfg,
		inShape:   inShape,
		sampleLen: tr.x.Shape().TotalSize() / cfg.Batch,
		lps:       tr.lps,
		train:     tr,
		eval:      ev,
		maskSrc:   rand.NewPCG(cfg.Seed, dropoutStream),
		ownTeam:   own,
	}
	n.maskRNG = rand.New(n.maskSrc)
	if own != nil {
		// A model dropped without Close would leave its helpers parked
		// for ever: close its Team once the model is unreachable (the
		// helpers hold the Team, never the model).
		n.cleanup = goruntime.AddCleanup(n, func(t *parallel.Team) { _ = t.Close() }, own)
	}
	grads, err := tr.gradData()
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("model: %s: %w", s.info.Name, err)
	}
	for i, d := range tr.paramData() {
		n.params = append(n.params, d.([]float32))
		n.grads = append(n.grads, grads[i].([]float32))
		n.nParams += len(n.params[i])
	}
	if len(ev.bns) != len(tr.bns) {
		n.Close()
		return nil, fmt.Errorf("%w: %s: %d BatchNorm layers in training, %d in evaluation", ErrGraph, s.info.Name, len(tr.bns), len(ev.bns))
	}
	off := n.nParams
	for i, st := range tr.bns {
		ev := ev.bns[i]
		for _, p := range [][2]*tensor.Dense{{st.mean, ev.mean}, {st.variance, ev.variance}} {
			d := p[0].Float32s()
			n.bufs = append(n.bufs, d)
			n.evalBufs = append(n.evalBufs, p[1].Float32s())
			n.buffers = append(n.buffers, [2]int{off, off + len(d)})
			off += len(d)
		}
	}
	n.stateLen = off
	n.statsDirty = len(n.bufs) > 0
	return n, nil
}

func (n *net) Name() string        { return n.name }
func (n *net) Config() Config      { return n.cfg }
func (n *net) InputShape() []int   { return slices.Clone(n.inShape) }
func (n *net) NumParams() int      { return n.nParams }
func (n *net) StateLen() int       { return n.stateLen }
func (n *net) Buffers() [][2]int   { return slices.Clone(n.buffers) }
func (n *net) Params() [][]float32 { return slices.Clone(n.params) }
func (n *net) Grads() [][]float32  { return slices.Clone(n.grads) }

func (n *net) State(dst []float32) []float32 {
	dst = slices.Grow(dst[:0], n.stateLen)
	for _, p := range n.params {
		dst = append(dst, p...)
	}
	for _, b := range n.bufs {
		dst = append(dst, b...)
	}
	return dst
}

func (n *net) LoadState(src []float32) error {
	if n.closed {
		return ErrClosed
	}
	if len(src) != n.stateLen {
		return fmt.Errorf("%w: %s: state has %d values, want %d", ErrBadInput, n.name, len(src), n.stateLen)
	}
	off := 0
	for _, p := range n.params {
		off += copy(p, src[off:])
	}
	for _, b := range n.bufs {
		off += copy(b, src[off:])
	}
	n.statsDirty = len(n.bufs) > 0
	return nil
}

// checkLabels checks that the labels are class indices.
func (n *net) checkLabels(y []int32) error {
	for i, l := range y {
		if l < 0 || int(l) >= n.cfg.Classes {
			return fmt.Errorf("%w: %s: label %d at %d not in [0, %d)", ErrBadInput, n.name, l, i, n.cfg.Classes)
		}
	}
	return nil
}

func (n *net) TrainStep(x []float32, y []int32) (float64, error) {
	if n.closed {
		return 0, ErrClosed
	}
	b := n.cfg.Batch
	if len(x) != b*n.sampleLen || len(y) != b*n.lps {
		return 0, fmt.Errorf("%w: %s: TrainStep got %d inputs and %d labels, want %d and %d (batch %d)",
			ErrBadInput, n.name, len(x), len(y), b*n.sampleLen, b*n.lps, b)
	}
	if err := n.checkLabels(y); err != nil {
		return 0, err
	}
	tr := n.train
	if err := tr.setInput(x); err != nil {
		return 0, fmt.Errorf("%w: %s: TrainStep: %w", ErrBadInput, n.name, err)
	}
	tr.setLabels(y)
	tr.fillMasks(n.maskRNG)
	if len(n.bufs) > 0 {
		n.statsDirty = true
	}
	if err := tr.run(); err != nil {
		return 0, fmt.Errorf("model: %s training step: %w", n.name, err)
	}
	return float64(tr.lossV.Data().(float32)), nil
}

func (n *net) Evaluate(x []float32, y []int32, cnt int, pred []int32) (float64, error) {
	if n.closed {
		return 0, ErrClosed
	}
	eb := n.cfg.EvalBatch
	if cnt < 0 || cnt > eb {
		return 0, fmt.Errorf("%w: %s: Evaluate of %d samples, want 0..%d (EvalBatch)", ErrBadInput, n.name, cnt, eb)
	}
	rows := cnt * n.lps
	if len(x) < cnt*n.sampleLen || len(y) < rows || len(pred) < rows {
		return 0, fmt.Errorf("%w: %s: Evaluate of %d samples got %d inputs, %d labels and room for %d predictions, want at least %d, %d and %d",
			ErrBadInput, n.name, cnt, len(x), len(y), len(pred), cnt*n.sampleLen, rows, rows)
	}
	if err := n.checkLabels(y[:rows]); err != nil {
		return 0, err
	}
	if cnt == 0 {
		return 0, nil
	}
	if n.statsDirty {
		for i, b := range n.bufs {
			copy(n.evalBufs[i], b)
		}
		n.statsDirty = false
	}
	ev := n.eval
	if err := ev.setInput(x[:cnt*n.sampleLen]); err != nil {
		return 0, fmt.Errorf("%w: %s: Evaluate: %w", ErrBadInput, n.name, err)
	}
	if err := ev.run(); err != nil {
		return 0, fmt.Errorf("model: %s evaluation: %w", n.name, err)
	}
	logp := ev.logpV.Data().([]float32)
	k := n.cfg.Classes
	var sum float64
	for r := range rows {
		row := logp[r*k : (r+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		pred[r] = int32(best)
		sum -= float64(row[y[r]])
	}
	return sum, nil
}

func (n *net) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	n.train.close()
	n.eval.close()
	if n.ownTeam != nil {
		n.cleanup.Stop()
		return n.ownTeam.Close()
	}
	return nil
}

var _ RNGState = (*net)(nil)

// MarshalRNG returns the position of the dropout mask generator.
func (n *net) MarshalRNG() ([]byte, error) { return n.maskSrc.MarshalBinary() }

// UnmarshalRNG restores a position MarshalRNG returned.
func (n *net) UnmarshalRNG(b []byte) error {
	if err := n.maskSrc.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("model: %s: restore the dropout generator: %w", n.name, err)
	}
	return nil
}
