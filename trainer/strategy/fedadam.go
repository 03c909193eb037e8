package strategy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// FedAdam is the server-side Adam of Reddi et al. (2021), "Adaptive
// Federated Optimization", as Flower's FedAdam: with Δ = mean − global,
// where mean is the sample-weighted mean of the updates (FedAvg's),
//
//	m = β1·m + (1−β1)·Δ
//	v = β2·v + (1−β2)·Δ²
//	global = global + η·m/(√v + τ)
//
// with m and v starting at 0 and no bias correction (as Flower). On the
// Info.Buffers ranges the global state just becomes the mean. The moments
// persist across rounds (float32, one each per state element); the
// arithmetic is float64 per element.
//
// The FedAdam that [New] returns carries Config.EtaL, the clients'
// learning rate, and reports it through [ClientLearningRate].
//
// A FedAdam is not safe for concurrent use.
type FedAdam struct {
	eta, beta1, beta2, tau float64
	etaL                   float64   // the clients' learning rate; 0: the caller's
	m, v                   []float32 // moments; nil before the first round
	mean                   []float32 // scratch for a mean of several updates
}

// NewFedAdam returns a FedAdam with server learning rate eta, moment
// decays beta1 and beta2, and adaptivity tau, and no client learning
// rate of its own (ClientLR returns 0). Arguments are not checked; use
// [New] for validation and defaults.
func NewFedAdam(eta, beta1, beta2, tau float64) *FedAdam {
	return &FedAdam{eta: eta, beta1: beta1, beta2: beta2, tau: tau}
}

// Name returns "fedadam".
func (*FedAdam) Name() string { return "fedadam" }

// Weight returns u.Samples (the mean is FedAvg's).
func (*FedAdam) Weight(u *Update) float64 { return float64(u.Samples) }

// Individual returns false.
func (*FedAdam) Individual() bool { return false }

// ProximalMu returns 0.
func (*FedAdam) ProximalMu() float64 { return 0 }

// ClientLR returns the clients' learning rate (Config.EtaL), or 0 when
// the clients keep their own.
func (f *FedAdam) ClientLR() float64 { return f.etaL }

// Reset forgets the moments.
func (f *FedAdam) Reset() { f.m, f.v, f.mean = nil, nil, nil }

// Aggregate takes one server Adam step from global towards the weighted
// mean of the updates. On error global and the moments are unchanged.
func (f *FedAdam) Aggregate(info Info, global []float32, updates []Update) error {
	n := len(global)
	if err := checkBuffers(info.Buffers, n); err != nil {
		return err
	}
	if f.m != nil && len(f.m) != n {
		return fmt.Errorf("%w: fedadam moments have %d elements, the global state %d (Reset between models)",
			ErrLength, len(f.m), n)
	}
	ws, total, err := prepare(n, updates, f.Weight)
	if err != nil {
		return err
	}
	var mean []float32
	if k, ok := single(ws); ok {
		mean = updates[k].State // pre-averaged: no copy needed
	} else {
		if cap(f.mean) < n {
			f.mean = make([]float32, n)
		}
		mean = f.mean[:n]
		accumulate(mean, updates, ws, total)
	}
	if f.m == nil {
		f.m, f.v = make([]float32, n), make([]float32, n)
	}
	bufs := slices.Clone(info.Buffers)
	slices.SortFunc(bufs, func(a, b [2]int) int { return cmp.Compare(a[0], b[0]) })
	pos := 0
	for _, r := range bufs {
		if r[0] > pos {
			f.step(global[pos:r[0]], mean[pos:r[0]], f.m[pos:r[0]], f.v[pos:r[0]])
		}
		if lo := max(pos, r[0]); r[1] > lo {
			copy(global[lo:r[1]], mean[lo:r[1]])
		}
		pos = max(pos, r[1])
	}
	f.step(global[pos:], mean[pos:], f.m[pos:], f.v[pos:])
	return nil
}

// step applies the Adam update to one run of trained parameters.
func (f *FedAdam) step(global, mean, m, v []float32) {
	b1, b2 := f.beta1, f.beta2
	mean, m, v = mean[:len(global)], m[:len(global)], v[:len(global)]
	for i, g := range global {
		d := float64(mean[i]) - float64(g)
		mi := b1*float64(m[i]) + (1-b1)*d
		vi := b2*float64(v[i]) + (1-b2)*d*d
		m[i], v[i] = float32(mi), float32(vi)
		global[i] = float32(float64(g) + f.eta*mi/(math.Sqrt(vi)+f.tau))
	}
}

// checkBuffers checks that every range lies within a state of n elements.
func checkBuffers(bufs [][2]int, n int) error {
	for _, r := range bufs {
		if r[0] < 0 || r[0] > r[1] || r[1] > n {
			return fmt.Errorf("%w [%d, %d) in a state of %d elements", ErrBuffers, r[0], r[1], n)
		}
	}
	return nil
}
