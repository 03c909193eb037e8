// Package optest holds the helpers shared by the tests of trainer/model and
// trainer/model/op: comparing tensors with a relative error and giving a
// test its own team of parallel-loop helpers.
package optest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
)

// NewTeam returns a parallel.Team of cfg, closed at the end of the test.
func NewTeam(tb testing.TB, cfg parallel.Config) *parallel.Team {
	tb.Helper()
	t, err := parallel.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = t.Close() })
	return t
}

// Floats returns the values of v — a float32 or float64 tensor or scalar
// (a gorgonia Value, a tensor.Tensor) — as float64s. It panics on other
// element types: that is a mistake in the test.
func Floats(v interface{ Data() any }) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return slices.Clone(d)
	case float32:
		return []float64{float64(d)}
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("optest.Floats: %T", v.Data()))
}

// RelErr returns max|a−b| / max(max|b|, 1e-300): the error of a relative
// to the magnitude of the reference b (+Inf if the lengths differ or a NaN
// stands where the other has none).
func RelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		if math.IsNaN(a[i]) != math.IsNaN(b[i]) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(a[i]-b[i]))
		m = max(m, math.Abs(b[i]))
	}
	return d / max(m, 1e-300)
}
