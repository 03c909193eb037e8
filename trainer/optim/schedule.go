package optim

import (
	"fmt"
	"math"
	"strings"
)

// Schedule gives the learning rate for a round or epoch.
type Schedule interface {
	// LR returns the learning rate to use during epoch (0-based: before
	// any decay step) given the base learning rate. Negative epochs count
	// as 0.
	LR(base float64, epoch int) float64
}

// ScheduleConfig selects a learning-rate schedule for [NewSchedule].
type ScheduleConfig struct {
	// Name is "none", "step" (PyTorch StepLR), "min-step" (FLTK's
	// MinCapableStepLR), "exponential" (ExponentialLR) or "cosine"
	// (CosineAnnealingLR). Case, spaces and underscores do not matter;
	// PyTorch's class names are accepted too. "" means "none".
	Name string
	// StepSize is the period in epochs of "step" and "min-step", ≥ 1;
	// 0 means 50 (FLTK's default).
	StepSize int
	// Gamma is the decay factor of "step", "min-step" and "exponential",
	// > 0; 0 means 0.5 (FLTK's default).
	Gamma float64
	// MinLR is "min-step"'s floor, ≥ 0.
	MinLR float64
	// TMax is "cosine"'s half period in epochs, ≥ 1; 0 means 50.
	TMax int
	// EtaMin is "cosine"'s minimum learning rate, ≥ 0.
	EtaMin float64
}

// DefaultScheduleConfig returns FLTK's client schedule parameters (step 50,
// gamma 0.5, min_lr 1e-10) with the schedule off.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{Name: "none", StepSize: 50, Gamma: 0.5, MinLR: 1e-10, TMax: 50}
}

// Validate canonicalises Name, fills zero StepSize, Gamma and TMax with
// their defaults and rejects values out of range for the named schedule.
func (c *ScheduleConfig) Validate() error {
	def := DefaultScheduleConfig()
	name := strings.ToLower(strings.TrimSpace(c.Name))
	name = strings.NewReplacer(" ", "-", "_", "-").Replace(name)
	switch name {
	case "", "none", "constant":
		name = "none"
	case "step", "steplr":
		name = "step"
	case "min-step", "minstep", "mincapablesteplr", "min-capable-step":
		name = "min-step"
	case "exponential", "exponentiallr", "exp":
		name = "exponential"
	case "cosine", "cosineannealinglr", "cosine-annealing":
		name = "cosine"
	default:
		return fmt.Errorf("%w: schedule %q (valid: none, step, min-step, exponential, cosine)", ErrUnknown, c.Name)
	}
	c.Name = name
	if c.StepSize == 0 {
		c.StepSize = def.StepSize
	}
	if c.Gamma == 0 {
		c.Gamma = def.Gamma
	}
	if c.TMax == 0 {
		c.TMax = def.TMax
	}
	decays := name == "step" || name == "min-step" || name == "exponential"
	switch {
	case (name == "step" || name == "min-step") && c.StepSize < 1:
		return fmt.Errorf("%w: %s step size %d must be ≥ 1", ErrConfig, name, c.StepSize)
	case decays && !(finiteAtLeast(c.Gamma, 0) && c.Gamma > 0):
		return fmt.Errorf("%w: %s gamma %v must be > 0", ErrConfig, name, c.Gamma)
	case name == "min-step" && !finiteAtLeast(c.MinLR, 0):
		return fmt.Errorf("%w: min-step min_lr %v must be ≥ 0", ErrConfig, c.MinLR)
	case name == "cosine" && c.TMax < 1:
		return fmt.Errorf("%w: cosine T_max %d must be ≥ 1", ErrConfig, c.TMax)
	case name == "cosine" && !finiteAtLeast(c.EtaMin, 0):
		return fmt.Errorf("%w: cosine eta_min %v must be ≥ 0", ErrConfig, c.EtaMin)
	}
	return nil
}

// NewSchedule validates a copy of cfg and returns its schedule.
func NewSchedule(cfg ScheduleConfig) (Schedule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Name {
	case "step":
		return stepLR{size: cfg.StepSize, gamma: cfg.Gamma}, nil
	case "min-step":
		return stepLR{size: cfg.StepSize, gamma: cfg.Gamma, floor: cfg.MinLR, hasFloor: true}, nil
	case "exponential":
		return exponentialLR{gamma: cfg.Gamma}, nil
	case "cosine":
		return cosineLR{tMax: cfg.TMax, etaMin: cfg.EtaMin}, nil
	}
	return constantLR{}, nil
}

// constantLR is "none".
type constantLR struct{}

func (constantLR) LR(base float64, _ int) float64 { return base }

// stepLR multiplies the rate by gamma every size epochs, as PyTorch's
// StepLR in its chained (default) form. With hasFloor it is FLTK's
// MinCapableStepLR: a decay that would take the rate below floor is
// skipped, so the rate stays at the last value ≥ floor.
type stepLR struct {
	size         int
	gamma, floor float64
	hasFloor     bool
}

func (s stepLR) LR(base float64, epoch int) float64 {
	lr := base
	for range max(epoch, 0) / s.size {
		next := lr * s.gamma
		if s.hasFloor && next < s.floor {
			continue
		}
		lr = next
	}
	return lr
}

// exponentialLR is base·gamma^epoch.
type exponentialLR struct{ gamma float64 }

func (e exponentialLR) LR(base float64, epoch int) float64 {
	return base * math.Pow(e.gamma, float64(max(epoch, 0)))
}

// cosineLR is CosineAnnealingLR's closed form
// etaMin + (base−etaMin)·(1 + cos(π·epoch/tMax))/2; past tMax it rises
// again, as PyTorch's does.
type cosineLR struct {
	tMax   int
	etaMin float64
}

func (c cosineLR) LR(base float64, epoch int) float64 {
	e := float64(max(epoch, 0))
	return c.etaMin + (base-c.etaMin)*(1+math.Cos(math.Pi*e/float64(c.tMax)))/2
}
