package strategy

import (
	"errors"
	"slices"
	"testing"
)

// TestFedAdamStateRoundTrip: a FedAdam restored from another's state
// after two rounds aggregates the next rounds bit for bit as the original.
func TestFedAdamStateRoundTrip(t *testing.T) {
	info := Info{Buffers: [][2]int{{3, 4}}}
	round := func(k int) []Update {
		return []Update{{State: []float32{float32(k), -1, 0.5 * float32(k), 2}, Samples: 3}, {State: []float32{1, float32(k), -2, 0}, Samples: 1}}
	}
	a := NewFedAdam(0.1, 0.9, 0.99, 1e-9)
	ga := []float32{0.1, 0.2, 0.3, 0.4}
	for k := range 2 {
		if err := a.Aggregate(info, ga, round(k)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	b := NewFedAdam(0.1, 0.9, 0.99, 1e-9)
	if err := b.UnmarshalState(st); err != nil {
		t.Fatal(err)
	}
	gb := slices.Clone(ga)
	for k := 2; k < 5; k++ {
		if err := a.Aggregate(info, ga, round(k)); err != nil {
			t.Fatal(err)
		}
		if err := b.Aggregate(info, gb, round(k)); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(ga, gb) {
		t.Errorf("original %v, restored %v", ga, gb)
	}
	// A fresh FedAdam's state restores a fresh FedAdam.
	fresh, _ := NewFedAdam(0.1, 0.9, 0.99, 1e-9).MarshalState()
	if err := b.UnmarshalState(fresh); err != nil || b.m != nil {
		t.Errorf("restoring a fresh state: %v, moments %v", err, b.m)
	}
}

// TestFedAdamUnmarshalStateErrors: bad bytes are ErrState and change nothing.
func TestFedAdamUnmarshalStateErrors(t *testing.T) {
	a := NewFedAdam(0.1, 0.9, 0.99, 1e-9)
	if err := a.Aggregate(Info{}, []float32{1, 2}, []Update{{State: []float32{0, 0}, Samples: 1}}); err != nil {
		t.Fatal(err)
	}
	good, _ := a.MarshalState()
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("fedadam2"), good[8:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(slices.Clone(good), 1)},
		{"huge length", append([]byte(fedAdamMagic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.UnmarshalState(tt.b); !errors.Is(err, ErrState) {
				t.Errorf("UnmarshalState = %v, want ErrState", err)
			}
			if got, _ := a.MarshalState(); !slices.Equal(got, good) {
				t.Error("a failed UnmarshalState changed the state")
			}
		})
	}
}

// FuzzFedAdamUnmarshalState: no input panics; accepted inputs marshal
// back to themselves.
func FuzzFedAdamUnmarshalState(f *testing.F) {
	a := NewFedAdam(0.1, 0.9, 0.99, 1e-9)
	_ = a.Aggregate(Info{}, []float32{1, 2}, []Update{{State: []float32{0, 0}, Samples: 1}})
	good, _ := a.MarshalState()
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewFedAdam(0.1, 0.9, 0.99, 1e-9)
		if err := s.UnmarshalState(b); err != nil {
			return
		}
		if got, _ := s.MarshalState(); !slices.Equal(got, b) {
			t.Errorf("accepted %x but marshals %x", b, got)
		}
	})
}
