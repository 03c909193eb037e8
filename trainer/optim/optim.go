package optim

import (
	"fmt"
	"math"
	"strings"
)

// Optimizer updates parameters in place from their gradients.
//
// params and grads are the model's learnable tensors as flat backing
// arrays, in a fixed order, with grads[i] the same length as params[i].
// Optimizers with state (momentum, moments) size it on the first Step and
// allocate nothing afterwards; passing tensors of other shapes without a
// Reset in between is a programmer error and panics.
type Optimizer interface {
	// Step applies one update. It panics if params and grads differ in
	// shape, or differ from the shapes of the optimizer's state.
	Step(params, grads [][]float32)
	// LR returns the learning rate of the next Step.
	LR() float64
	// SetLR sets the learning rate of the following Steps.
	SetLR(lr float64)
	// Reset forgets the state (momentum buffers, moments, step count).
	Reset()
}

// Config selects and parameterises an optimizer for [New].
type Config struct {
	// Name is "sgd" or "adam" (case-insensitive).
	Name string
	// LR is the learning rate, ≥ 0.
	LR float64
	// Momentum is SGD's momentum, ≥ 0 (0 = plain SGD).
	Momentum float64
	// WeightDecay is the L2 penalty added to the gradient, ≥ 0.
	WeightDecay float64
	// Nesterov selects Nesterov momentum for SGD; it needs Momentum > 0.
	Nesterov bool
	// Beta1 and Beta2 are Adam's moment decays, in [0, 1); 0 means the
	// default (0.9, 0.999).
	Beta1, Beta2 float64
	// Eps is Adam's denominator term, > 0; 0 means the default 1e-8.
	Eps float64
}

// DefaultConfig returns plain SGD with learning rate 0.01 and PyTorch's
// Adam defaults filled in.
func DefaultConfig() Config {
	return Config{Name: "sgd", LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

// Validate canonicalises Name ("" becomes "sgd"), fills zero Beta1, Beta2
// and Eps with their defaults, and rejects values out of range.
func (c *Config) Validate() error {
	def := DefaultConfig()
	c.Name = strings.ToLower(strings.TrimSpace(c.Name))
	if c.Name == "" {
		c.Name = def.Name
	}
	if c.Name != "sgd" && c.Name != "adam" {
		return fmt.Errorf("%w: optimizer %q (valid: sgd, adam)", ErrUnknown, c.Name)
	}
	if c.Beta1 == 0 {
		c.Beta1 = def.Beta1
	}
	if c.Beta2 == 0 {
		c.Beta2 = def.Beta2
	}
	if c.Eps == 0 {
		c.Eps = def.Eps
	}
	switch {
	case !finiteAtLeast(c.LR, 0):
		return fmt.Errorf("%w: learning rate %v must be ≥ 0", ErrConfig, c.LR)
	case !finiteAtLeast(c.Momentum, 0):
		return fmt.Errorf("%w: momentum %v must be ≥ 0", ErrConfig, c.Momentum)
	case !finiteAtLeast(c.WeightDecay, 0):
		return fmt.Errorf("%w: weight decay %v must be ≥ 0", ErrConfig, c.WeightDecay)
	case c.Name == "sgd" && c.Nesterov && c.Momentum == 0:
		return fmt.Errorf("%w: Nesterov momentum needs momentum > 0", ErrConfig)
	case !finiteAtLeast(c.Beta1, 0) || c.Beta1 >= 1:
		return fmt.Errorf("%w: beta1 %v must be in [0, 1)", ErrConfig, c.Beta1)
	case !finiteAtLeast(c.Beta2, 0) || c.Beta2 >= 1:
		return fmt.Errorf("%w: beta2 %v must be in [0, 1)", ErrConfig, c.Beta2)
	case !finiteAtLeast(c.Eps, 0):
		return fmt.Errorf("%w: eps %v must be > 0", ErrConfig, c.Eps)
	}
	return nil
}

// New validates a copy of cfg and returns the optimizer it describes.
func New(cfg Config) (Optimizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "adam" {
		return NewAdam(cfg.LR, cfg.Beta1, cfg.Beta2, cfg.Eps, cfg.WeightDecay), nil
	}
	return NewSGD(cfg.LR, cfg.Momentum, cfg.WeightDecay, cfg.Nesterov), nil
}

func finiteAtLeast(x, lo float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= lo
}

// checkShapes panics unless params and grads have the same shapes.
func checkShapes(params, grads [][]float32) {
	if len(params) != len(grads) {
		panic(fmt.Sprintf("optim: %d parameter tensors but %d gradients", len(params), len(grads)))
	}
	for i, p := range params {
		if len(p) != len(grads[i]) {
			panic(fmt.Sprintf("optim: parameter %d has %d elements but its gradient %d", i, len(p), len(grads[i])))
		}
	}
}

// state returns buffers shaped like params, allocating them if bufs is
// nil, and panics if existing buffers have other shapes.
func state(bufs [][]float32, params [][]float32) [][]float32 {
	if bufs == nil {
		bufs = make([][]float32, len(params))
		for i, p := range params {
			bufs[i] = make([]float32, len(p))
		}
		return bufs
	}
	if len(bufs) != len(params) {
		panic(fmt.Sprintf("optim: state for %d tensors, Step got %d (call Reset between models)", len(bufs), len(params)))
	}
	for i, p := range params {
		if len(p) != len(bufs[i]) {
			panic(fmt.Sprintf("optim: state of tensor %d has %d elements, Step got %d (call Reset between models)",
				i, len(bufs[i]), len(p)))
		}
	}
	return bufs
}
