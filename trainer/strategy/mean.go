package strategy

import (
	"fmt"
	"math"
)

// WeightedMean sets dst to Σ w_k·State_k / Σ w_k with w_k = weight(&updates[k]),
// accumulating in float64 in the order of updates, so the result is
// deterministic. Updates of weight 0 are skipped (but must have the right
// length). A single update of positive weight is copied exactly.
//
// It checks everything before writing: on error dst is unchanged. Errors:
// [ErrNoUpdates]; [ErrZeroWeight]; and, in a [ClientError] naming the
// client, [ErrWeight] (negative or non-finite), [ErrLength] (State of
// another length than dst) and [ErrNonFinite] (NaN or ±Inf in State).
// dst may be the State of one of the updates but must not otherwise
// overlap them.
func WeightedMean(dst []float32, updates []Update, weight func(*Update) float64) error {
	ws, total, err := prepare(len(dst), updates, weight)
	if err != nil {
		return err
	}
	accumulate(dst, updates, ws, total)
	return nil
}

// prepare validates the updates against a state of n elements and returns
// their weights and total weight.
func prepare(n int, updates []Update, weight func(*Update) float64) ([]float64, float64, error) {
	if len(updates) == 0 {
		return nil, 0, ErrNoUpdates
	}
	ws := make([]float64, len(updates))
	var total float64
	for k := range updates {
		u := &updates[k]
		w := weight(u)
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, 0, &ClientError{u.Client, fmt.Errorf("%w %v (samples %d)", ErrWeight, w, u.Samples)}
		}
		if len(u.State) != n {
			return nil, 0, &ClientError{u.Client, fmt.Errorf("%w: state has %d elements, want %d", ErrLength, len(u.State), n)}
		}
		ws[k] = w
		total += w
	}
	if total == 0 {
		return nil, 0, fmt.Errorf("%w over %d updates", ErrZeroWeight, len(updates))
	}
	for k := range updates {
		if ws[k] == 0 {
			continue
		}
		if i := nonFinite(updates[k].State); i >= 0 {
			return nil, 0, &ClientError{updates[k].Client,
				fmt.Errorf("%w %v at index %d", ErrNonFinite, updates[k].State[i], i)}
		}
	}
	return ws, total, nil
}

// nonFinite returns the index of the first NaN or ±Inf in x, or −1.
func nonFinite(x []float32) int {
	for i, v := range x {
		if v-v != 0 { // NaN − NaN and Inf − Inf are NaN; finite − itself is 0
			return i
		}
	}
	return -1
}

// meanBlock is the number of elements accumulated at a time: a float64
// scratch small enough for the stack and the L1 cache.
const meanBlock = 2048

// accumulate sets dst to the weighted mean of validated updates.
func accumulate(dst []float32, updates []Update, ws []float64, total float64) {
	if k, ok := single(ws); ok {
		copy(dst, updates[k].State)
		return
	}
	var acc [meanBlock]float64
	for lo := 0; lo < len(dst); lo += meanBlock {
		hi := min(lo+meanBlock, len(dst))
		a := acc[:hi-lo]
		clear(a)
		for k := range updates {
			w := ws[k]
			if w == 0 {
				continue
			}
			for i, x := range updates[k].State[lo:hi] {
				a[i] += w * float64(x)
			}
		}
		for i, s := range a {
			dst[lo+i] = float32(s / total)
		}
	}
}

// single reports whether exactly one weight is positive, and which.
func single(ws []float64) (int, bool) {
	k := -1
	for i, w := range ws {
		if w != 0 {
			if k >= 0 {
				return 0, false
			}
			k = i
		}
	}
	return k, k >= 0
}
