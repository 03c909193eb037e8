package strategy

import "slices"

// Median is the coordinate-wise median of the clients' states (Yin et
// al. 2018), a robust aggregate: each element of the new global state is
// the median of that element over the round's updates (for an even count,
// the mean of the two middle values), so up to half of the clients can
// send anything without moving it arbitrarily. Buffers (BatchNorm
// statistics) take the median too. It needs every update: Individual
// reports true, and the federated round gathers the states instead of
// reducing them.
type Median struct{}

// Name returns "median".
func (Median) Name() string { return "median" }

// Weight returns 1: the median ignores weights.
func (Median) Weight(*Update) float64 { return 1 }

// Individual returns true.
func (Median) Individual() bool { return true }

// ProximalMu returns 0.
func (Median) ProximalMu() float64 { return 0 }

// Aggregate writes the element-wise median of the updates into global.
// It checks every update first (length, finite values): on error global
// is unchanged.
func (Median) Aggregate(_ Info, global []float32, updates []Update) error {
	if _, _, err := prepare(len(global), updates, func(*Update) float64 { return 1 }); err != nil {
		return err
	}
	col := make([]float32, len(updates))
	for i := range global {
		for k := range updates {
			col[k] = updates[k].State[i]
		}
		slices.Sort(col)
		n := len(col)
		if n%2 == 1 {
			global[i] = col[n/2]
		} else {
			global[i] = float32((float64(col[n/2-1]) + float64(col[n/2])) / 2)
		}
	}
	return nil
}
