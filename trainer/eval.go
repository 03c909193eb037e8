package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/model"
)

// Metrics are the results of an evaluation. They add up: the metrics of
// disjoint parts of a test set, summed with [Metrics.Add] (or as the
// vector of [Metrics.Vector]), are the metrics of the whole.
type Metrics struct {
	Classes int
	N       int     // predictions made (samples × labels per sample)
	LossSum float64 // sum of the per-prediction cross-entropy losses
	Correct int
	// Confusion[t*Classes+p] counts predictions p of true class t.
	Confusion []float64
}

// NewMetrics returns empty metrics for classes classes.
func NewMetrics(classes int) Metrics {
	return Metrics{Classes: classes, Confusion: make([]float64, classes*classes)}
}

// Accuracy is Correct/N, 0 for no predictions.
func (m Metrics) Accuracy() float64 {
	if m.N == 0 {
		return 0
	}
	return float64(m.Correct) / float64(m.N)
}

// Loss is the mean cross-entropy loss, NaN for no predictions.
func (m Metrics) Loss() float64 {
	if m.N == 0 {
		return math.NaN()
	}
	return m.LossSum / float64(m.N)
}

// Precision of class c: true positives over predictions of c (0 if c was
// never predicted).
func (m Metrics) Precision(c int) float64 {
	var col float64
	for t := 0; t < m.Classes; t++ {
		col += m.Confusion[t*m.Classes+c]
	}
	if col == 0 {
		return 0
	}
	return m.Confusion[c*m.Classes+c] / col
}

// Recall of class c: true positives over samples of class c (0 if none).
func (m Metrics) Recall(c int) float64 {
	var row float64
	for p := 0; p < m.Classes; p++ {
		row += m.Confusion[c*m.Classes+p]
	}
	if row == 0 {
		return 0
	}
	return m.Confusion[c*m.Classes+c] / row
}

// Add adds o's counts to m. It panics if the class counts differ.
func (m *Metrics) Add(o Metrics) {
	if m.Classes != o.Classes {
		panic(fmt.Sprintf("trainer: adding metrics of %d classes to %d", o.Classes, m.Classes))
	}
	m.N += o.N
	m.LossSum += o.LossSum
	m.Correct += o.Correct
	for i, v := range o.Confusion {
		m.Confusion[i] += v
	}
}

// Vector flattens the metrics to [N, LossSum, Correct, Confusion...], the
// layout [MetricsFromVector] reads, so that a Sum reduction of vectors is
// the sum of metrics.
func (m Metrics) Vector() []float64 {
	v := make([]float64, 3+len(m.Confusion))
	v[0], v[1], v[2] = float64(m.N), m.LossSum, float64(m.Correct)
	copy(v[3:], m.Confusion)
	return v
}

// MetricsFromVector is the inverse of [Metrics.Vector].
func MetricsFromVector(classes int, v []float64) (Metrics, error) {
	if len(v) != 3+classes*classes {
		return Metrics{}, fmt.Errorf("trainer: metrics vector has %d values, want %d", len(v), 3+classes*classes)
	}
	m := NewMetrics(classes)
	m.N, m.LossSum, m.Correct = int(v[0]), v[1], int(v[2])
	copy(m.Confusion, v[3:])
	return m, nil
}

// Evaluate runs m's evaluation graph over the samples idx of set in
// batches of evalBatch (the model's EvalBatch) and returns the metrics.
// An empty idx gives empty metrics.
func Evaluate(ctx context.Context, m model.Model, set *data.Set, idx []int, evalBatch int) (Metrics, error) {
	met := NewMetrics(set.Classes)
	if evalBatch < 1 {
		return met, fmt.Errorf("trainer: eval batch %d must be positive", evalBatch)
	}
	lps := set.LabelsPerSample
	x := make([]float32, evalBatch*set.SampleLen())
	y := make([]int32, evalBatch*lps)
	pred := make([]int32, evalBatch*lps)
	for lo := 0; lo < len(idx); lo += evalBatch {
		if err := ctx.Err(); err != nil {
			return met, fmt.Errorf("trainer: evaluate: %w", err)
		}
		b := idx[lo:min(lo+evalBatch, len(idx))]
		n := len(b)
		set.Batch(b, x[:n*set.SampleLen()], y[:n*lps])
		loss, err := m.Evaluate(x, y, n, pred)
		if err != nil {
			return met, fmt.Errorf("trainer: evaluate samples %d..%d: %w", lo, lo+n, err)
		}
		met.LossSum += loss
		for i, t := range y[:n*lps] {
			p := pred[i]
			if p == t {
				met.Correct++
			}
			met.Confusion[int(t)*met.Classes+int(p)]++
		}
		met.N += n * lps
	}
	return met, nil
}
