package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	"github.com/fltk-go/fltk/trainer/model/op"
)

// newModel builds name with the given batch sizes and seed, closing it at
// the end of the test.
func newModel(tb testing.TB, name string, batch, evalBatch int, seed uint64) Model {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Batch, cfg.EvalBatch, cfg.Seed = batch, evalBatch, seed
	return newModelConfig(tb, name, cfg)
}

// newModelConfig builds name with cfg, closing it at the end of the test.
func newModelConfig(tb testing.TB, name string, cfg Config) Model {
	tb.Helper()
	m, err := New(name, cfg)
	if err != nil {
		tb.Fatalf("New(%q): %v", name, err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// randomBatch returns n samples of sampleLen values in [0, 1) and labels in
// [0, classes), from seed.
func randomBatch(n, sampleLen, classes int, seed uint64) ([]float32, []int32) {
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float32, n*sampleLen)
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(r.IntN(classes))
	}
	return x, y
}

func sampleLen(m Model) int {
	n := 1
	for _, d := range m.InputShape() {
		n *= d
	}
	return n
}

// sgd applies w -= lr·g over all learnables.
func sgd(m Model, lr float32) {
	grads := m.Grads()
	for i, p := range m.Params() {
		for j := range p {
			p[j] -= lr * grads[i][j]
		}
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// batchFor returns n valid samples and their labels for m, from seed:
// randomBatch for image models (labels in [0, 10)), random token ids and
// next-token labels in [0, Classes) for the text model.
func batchFor(m Model, n int, seed uint64) ([]float32, []int32) {
	sl := sampleLen(m)
	if m.Name() != "CharLSTM" {
		return randomBatch(n, sl, min(m.Config().Classes, 10), seed)
	}
	r := rand.New(rand.NewPCG(seed, 98))
	v := m.Config().Classes
	x := make([]float32, n*sl)
	y := make([]int32, n*sl)
	for i := range x {
		x[i] = float32(r.IntN(v))
		y[i] = int32(r.IntN(v))
	}
	return x, y
}

// testOps returns the models' op configuration with a team of its own,
// closed at the end of the test.
func testOps(tb testing.TB) op.Config {
	tb.Helper()
	c := op.DefaultConfig()
	c.Team = optest.NewTeam(tb, parallel.DefaultConfig())
	return c
}
