package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
)

// LocalConfig configures one client's local training in one round.
type LocalConfig struct {
	// Epochs is the number of passes over the client's samples; fractions
	// allowed. > 0.
	Epochs float64

	// Batch is the model's training batch size. ≥ 1.
	Batch int

	// ProximalMu adds FedProx's μ/2·‖w − Global‖² to the loss: the
	// gradient gains μ·(w − Global). 0 turns it off.
	ProximalMu float64

	// Global is the global model's state at the start of the round,
	// needed when ProximalMu > 0 (its parameter prefix is used).
	Global []float32

	// ClipNorm clips the global gradient norm of each step; 0 = off.
	ClipNorm float64

	// Augment, if not nil, is applied to every gathered batch.
	Augment data.Augmenter

	// Seed seeds the sample order (and augmentation) of this client in
	// this round.
	Seed uint64
}

// Result summarises one client's local training.
type Result struct {
	Samples  int           // samples processed: Steps × Batch
	Steps    int           // optimizer steps
	Loss     float64       // mean training loss over the steps
	LastLoss float64       // mean loss of the last 10 steps (FLTK's final running loss)
	Duration time.Duration // wall time of the training loop
}

// Train trains m on the samples idx of set for cfg.Epochs epochs with opt,
// starting from the weights m holds. It checks ctx between steps.
func Train(ctx context.Context, m model.Model, opt optim.Optimizer, set *data.Set, idx []int, cfg LocalConfig) (Result, error) {
	start := time.Now()
	if len(idx) == 0 {
		return Result{}, fmt.Errorf("%w: client has no training samples", ErrNoData)
	}
	if cfg.Batch < 1 || !(cfg.Epochs > 0) {
		return Result{}, fmt.Errorf("trainer: batch %d and epochs %g must be positive", cfg.Batch, cfg.Epochs)
	}
	params, grads := m.Params(), m.Grads()
	if cfg.ProximalMu > 0 && len(cfg.Global) < m.NumParams() {
		return Result{}, fmt.Errorf("trainer: proximal term needs the global state (%d values, want at least %d)", len(cfg.Global), m.NumParams())
	}
	total := int(math.Ceil(cfg.Epochs * float64(len(idx))))
	steps := (total + cfg.Batch - 1) / cfg.Batch
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	order := make([]int, len(idx))
	pos := len(order) // forces a shuffle before the first sample
	batchIdx := make([]int, cfg.Batch)
	x := make([]float32, cfg.Batch*set.SampleLen())
	y := make([]int32, cfg.Batch*set.LabelsPerSample)
	var sum, last float64
	lastN := 0
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("trainer: step %d of %d: %w", s, steps, err)
		}
		for i := range batchIdx {
			if pos == len(order) {
				copy(order, idx)
				rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
				pos = 0
			}
			batchIdx[i] = order[pos]
			pos++
		}
		set.Batch(batchIdx, x, y)
		if cfg.Augment != nil {
			cfg.Augment.Apply(rng, x, cfg.Batch)
		}
		loss, err := m.TrainStep(x, y)
		if err != nil {
			return Result{}, fmt.Errorf("trainer: step %d: %w", s, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return Result{}, fmt.Errorf("%w: loss %v at step %d of %d (lower the learning rate?)", ErrDiverged, loss, s, steps)
		}
		if cfg.ProximalMu > 0 {
			proximal(grads, params, cfg.Global, float32(cfg.ProximalMu))
		}
		if cfg.ClipNorm > 0 {
			optim.ClipGradNorm(grads, cfg.ClipNorm)
		}
		opt.Step(params, grads)
		sum += loss
		if s >= steps-10 {
			last += loss
			lastN++
		}
	}
	return Result{
		Samples:  steps * cfg.Batch,
		Steps:    steps,
		Loss:     sum / float64(steps),
		LastLoss: last / float64(max(lastN, 1)),
		Duration: time.Since(start),
	}, nil
}

// proximal adds μ·(w − global) to the gradients; params are laid out in
// global in order.
func proximal(grads, params [][]float32, global []float32, mu float32) {
	off := 0
	for i, p := range params {
		g, w0 := grads[i], global[off:off+len(p)]
		for j, w := range p {
			g[j] += mu * (w - w0[j])
		}
		off += len(p)
	}
}
