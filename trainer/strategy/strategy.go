package strategy

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Update is one client's contribution after local training.
type Update struct {
	Client    int       // logical client id, for error messages
	State     []float32 // full model state after local training (params then buffers)
	Samples   int       // training samples used this round (n_k)
	Steps     int       // local optimizer steps taken (τ_k; FedNova needs it)
	TrainLoss float64   // final local training loss
}

// Info describes the round and the layout of the state.
type Info struct {
	Round int // 0-based round index
	// Buffers are the [lo, hi) ranges of the state that are buffers rather
	// than trained parameters (BatchNorm running mean and variance).
	// Strategies that step the parameters (FedAdam) just average these.
	Buffers [][2]int
}

// Strategy turns the clients' updates into the next global state.
type Strategy interface {
	// Name returns the canonical name, one of [Names].
	Name() string

	// Weight returns u's weight in a weighted mean (FedAvg: Samples;
	// FLTK's mean: 1).
	Weight(u *Update) float64

	// Individual reports whether Aggregate needs every update (Krum,
	// median). When false the caller may pass a single pre-averaged
	// update — the [WeightedMean] of the updates under Weight, computed
	// elsewhere (for example by a collective reduce), with Samples the
	// sum of the samples — and Aggregate gives the same result as with
	// the full list.
	Individual() bool

	// Aggregate writes the new global state into global, which holds the
	// previous global state. On error global is unchanged.
	Aggregate(info Info, global []float32, updates []Update) error

	// ProximalMu is the FedProx coefficient μ: clients add
	// μ/2·‖w − w_global‖² to their loss. 0 for none.
	ProximalMu() float64
}

// ClientLearningRate is implemented by strategies that choose the
// clients' learning rate (FedAdam's eta_l, as Flower's client-side rate).
// A caller that trains the clients uses ClientLR instead of its own base
// learning rate when ClientLR returns a value > 0.
type ClientLearningRate interface {
	Strategy
	// ClientLR returns the clients' learning rate, > 0, or 0 to keep the
	// caller's.
	ClientLR() float64
}

// Stateful is implemented by every strategy that keeps state across
// rounds (FedAdam's moments). Reset forgets it, for example before a new
// model. MarshalState and UnmarshalState save and restore it for
// checkpoints: a strategy restored with UnmarshalState aggregates the
// next rounds exactly as the one that was saved. UnmarshalState rejects
// bytes it did not write (truncated, corrupt, another strategy's) with
// an error wrapping [ErrState], never a panic, and is then unchanged.
type Stateful interface {
	Strategy
	Reset()
	MarshalState() ([]byte, error)
	UnmarshalState(b []byte) error
}

// ControlVariates is the extension point for SCAFFOLD (Karimireddy et al.
// 2020), which no built-in strategy implements yet. Besides the global
// state the server keeps a control variate c, sent to the selected
// clients with the global state; each client returns its state in
// Aggregate's updates and its control delta Δc_k, as an Update whose State
// is Δc_k, in AggregateControls.
type ControlVariates interface {
	Strategy
	// Control returns the server control variate c (same length as the
	// state). The caller must not modify it.
	Control() []float32
	// AggregateControls folds the selected clients' control deltas into c:
	// c += (|S|/clients)·mean_k Δc_k.
	AggregateControls(info Info, deltas []Update, clients int) error
}

// Config selects a strategy for [New]. Field names follow Flower's
// (proximal_mu, eta, eta_l, beta_1, beta_2, tau).
type Config struct {
	// Name is one of [Names] (case-insensitive; "FedAvg" and "avg" are
	// accepted).
	Name string
	// ProximalMu is FedProx's μ, > 0 for "fedprox"; other strategies
	// ignore it and report 0.
	ProximalMu float64
	// Eta is FedAdam's server learning rate, > 0; 0 means 0.1.
	Eta float64
	// EtaL is the clients' learning rate under FedAdam (Flower's eta_l),
	// ≥ 0. The server does not use it: the FedAdam that [New] returns
	// reports it as its [ClientLearningRate] (0: the caller's own rate).
	EtaL float64
	// Beta1 and Beta2 are FedAdam's moment decays, in [0, 1); 0 means
	// Flower's defaults 0.9 and 0.99.
	Beta1, Beta2 float64
	// Tau is FedAdam's adaptivity ε, > 0; 0 means 1e-9.
	Tau float64
}

// DefaultConfig returns FedAvg, with Flower's FedAdam defaults (eta 0.1,
// eta_l 0.1, beta_1 0.9, beta_2 0.99, tau 1e-9) and μ = 0.01 for FedProx.
func DefaultConfig() Config {
	return Config{Name: "fedavg", ProximalMu: 0.01, Eta: 0.1, EtaL: 0.1, Beta1: 0.9, Beta2: 0.99, Tau: 1e-9}
}

// Names returns the canonical strategy names.
func Names() []string { return []string{"fedavg", "mean", "fedprox", "fedadam", "median"} }

// Validate canonicalises Name ("" becomes "fedavg"), fills zero Eta,
// Beta1, Beta2 and Tau with their defaults and rejects values out of
// range.
func (c *Config) Validate() error {
	def := DefaultConfig()
	name := strings.ToLower(strings.TrimSpace(c.Name))
	name = strings.NewReplacer("-", "", "_", "", " ", "").Replace(name)
	switch name {
	case "":
		name = "fedavg"
	case "avg", "average":
		name = "mean"
	}
	if !slices.Contains(Names(), name) {
		return fmt.Errorf("%w %q (valid: %s)", ErrUnknown, c.Name, strings.Join(Names(), ", "))
	}
	c.Name = name
	if c.Eta == 0 {
		c.Eta = def.Eta
	}
	if c.Beta1 == 0 {
		c.Beta1 = def.Beta1
	}
	if c.Beta2 == 0 {
		c.Beta2 = def.Beta2
	}
	if c.Tau == 0 {
		c.Tau = def.Tau
	}
	switch {
	case !(c.ProximalMu >= 0) || math.IsInf(c.ProximalMu, 0):
		return fmt.Errorf("%w: proximal_mu %v must be ≥ 0", ErrConfig, c.ProximalMu)
	case name == "fedprox" && c.ProximalMu == 0:
		return fmt.Errorf("%w: fedprox needs proximal_mu > 0 (with 0 it is fedavg)", ErrConfig)
	case !(c.Eta > 0) || math.IsInf(c.Eta, 0):
		return fmt.Errorf("%w: eta %v must be > 0", ErrConfig, c.Eta)
	case !(c.EtaL >= 0) || math.IsInf(c.EtaL, 0):
		return fmt.Errorf("%w: eta_l %v must be ≥ 0", ErrConfig, c.EtaL)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("%w: beta_1 %v must be in [0, 1)", ErrConfig, c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("%w: beta_2 %v must be in [0, 1)", ErrConfig, c.Beta2)
	case !(c.Tau > 0) || math.IsInf(c.Tau, 0):
		return fmt.Errorf("%w: tau %v must be > 0", ErrConfig, c.Tau)
	}
	return nil
}

// New validates a copy of cfg and returns the strategy it names.
func New(cfg Config) (Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Name {
	case "mean":
		return Mean{}, nil
	case "fedprox":
		return FedProx{Mu: cfg.ProximalMu}, nil
	case "fedadam":
		f := NewFedAdam(cfg.Eta, cfg.Beta1, cfg.Beta2, cfg.Tau)
		f.etaL = cfg.EtaL
		return f, nil
	case "median":
		return Median{}, nil
	}
	return FedAvg{}, nil
}

// FedAvg is McMahan et al.'s federated averaging: the mean of the
// clients' states weighted by their sample counts.
type FedAvg struct{}

// Name returns "fedavg".
func (FedAvg) Name() string { return "fedavg" }

// Weight returns u.Samples.
func (FedAvg) Weight(u *Update) float64 { return float64(u.Samples) }

// Individual returns false.
func (FedAvg) Individual() bool { return false }

// ProximalMu returns 0.
func (FedAvg) ProximalMu() float64 { return 0 }

// Aggregate sets global to the sample-weighted mean of the updates.
func (f FedAvg) Aggregate(_ Info, global []float32, updates []Update) error {
	return WeightedMean(global, updates, f.Weight)
}

// FedProx is Li et al.'s FedProx: the server aggregates as FedAvg, the
// clients add the proximal term μ/2·‖w − w_global‖² to their loss.
type FedProx struct {
	FedAvg
	Mu float64 // μ > 0
}

// Name returns "fedprox".
func (FedProx) Name() string { return "fedprox" }

// ProximalMu returns Mu.
func (f FedProx) ProximalMu() float64 { return f.Mu }

// Mean is FLTK's aggregation: the unweighted mean of the clients' full
// states (buffers included).
type Mean struct{}

// Name returns "mean".
func (Mean) Name() string { return "mean" }

// Weight returns 1.
func (Mean) Weight(*Update) float64 { return 1 }

// Individual returns false.
func (Mean) Individual() bool { return false }

// ProximalMu returns 0.
func (Mean) ProximalMu() float64 { return 0 }

// Aggregate sets global to the unweighted mean of the updates.
func (m Mean) Aggregate(_ Info, global []float32, updates []Update) error {
	return WeightedMean(global, updates, m.Weight)
}
