package optim

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStateRoundTrip: an optimizer restored from another's state after k
// steps takes the same next steps, bit for bit, as the original.
func TestStateRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"sgd plain", Config{Name: "sgd", LR: 0.1}},
		{"sgd momentum", Config{Name: "sgd", LR: 0.1, Momentum: 0.9}},
		{"sgd nesterov decay", Config{Name: "sgd", LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}},
		{"adam", Config{Name: "adam", LR: 0.01}},
		{"adam decay", Config{Name: "adam", LR: 0.01, WeightDecay: 0.1, Beta1: 0.3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			grads := func() [][]float32 {
				g := [][]float32{make([]float32, 7), make([]float32, 3)}
				for _, x := range g {
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
				}
				return g
			}
			params := [][]float32{make([]float32, 7), make([]float32, 3)}
			a, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				a.Step(params, grads())
			}
			b, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			st, err := a.(Stateful).MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			if err := b.(Stateful).UnmarshalState(st); err != nil {
				t.Fatalf("UnmarshalState: %v", err)
			}
			pb := [][]float32{slices.Clone(params[0]), slices.Clone(params[1])}
			for range 3 {
				g := grads()
				a.Step(params, g)
				b.Step(pb, g)
			}
			for i := range params {
				if !slices.Equal(params[i], pb[i]) {
					t.Errorf("tensor %d: original %v, restored %v", i, params[i], pb[i])
				}
			}
		})
	}
}

// TestStateErrors: truncated, corrupt and foreign states are ErrState
// errors and leave the optimizer alone.
func TestStateErrors(t *testing.T) {
	sgd := NewSGD(0.1, 0.9, 0, false)
	sgd.Step([][]float32{{1, 2}}, [][]float32{{1, 1}})
	adam := NewAdam(0.1, 0.9, 0.999, 1e-8, 0)
	adam.Step([][]float32{{1, 2}}, [][]float32{{1, 1}})
	sgdState, _ := sgd.MarshalState()
	adamState, _ := adam.MarshalState()
	for _, tt := range []struct {
		name string
		opt  Stateful
		b    []byte
	}{
		{"empty", sgd, nil},
		{"adam state into sgd", sgd, adamState},
		{"sgd state into adam", adam, sgdState},
		{"sgd truncated", sgd, sgdState[:len(sgdState)-1]},
		{"sgd trailing", sgd, append(slices.Clone(sgdState), 0)},
		{"adam truncated", adam, adamState[:len(adamState)-3]},
		{"adam header only", adam, adamState[:9]},
		{"huge count", sgd, []byte{stateSGD, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := tt.opt.MarshalState()
			if err := tt.opt.UnmarshalState(tt.b); !errors.Is(err, ErrState) {
				t.Errorf("UnmarshalState = %v, want ErrState", err)
			}
			if after, _ := tt.opt.MarshalState(); !slices.Equal(before, after) {
				t.Error("a failed UnmarshalState changed the state")
			}
		})
	}
}

// FuzzUnmarshalState: no input makes UnmarshalState panic, and what it
// accepts marshals back to the same bytes.
func FuzzUnmarshalState(f *testing.F) {
	sgd := NewSGD(0.1, 0.9, 0, false)
	sgd.Step([][]float32{{1, 2}, {3}}, [][]float32{{1, 1}, {2}})
	adam := NewAdam(0.1, 0.9, 0.999, 1e-8, 0)
	adam.Step([][]float32{{1, 2}}, [][]float32{{1, 1}})
	for _, o := range []Stateful{sgd, adam, NewSGD(0.1, 0, 0, false), NewAdam(0.1, 0.9, 0.999, 1e-8, 0)} {
		b, _ := o.MarshalState()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, o := range []Stateful{NewSGD(0.1, 0.9, 0, false), NewAdam(0.1, 0.9, 0.999, 1e-8, 0)} {
			if err := o.UnmarshalState(b); err != nil {
				continue
			}
			if got, _ := o.MarshalState(); !slices.Equal(got, b) {
				t.Errorf("accepted %x but marshals %x", b, got)
			}
		}
	})
}
