package model

import "testing"

// TestRNGStateRoundTrip: a model restored with UnmarshalRNG draws the
// same dropout masks next as the one whose MarshalRNG it got; bad bytes
// are an error.
func TestRNGStateRoundTrip(t *testing.T) {
	a, err := New("MNIST2NN", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New("MNIST2NN", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	na, nb := a.(*net), b.(*net)
	for range 5 {
		na.maskRNG.Uint64() // as dropout masks would
	}
	st, err := a.(RNGState).MarshalRNG()
	if err != nil {
		t.Fatal(err)
	}
	if nb.maskRNG.Uint64() == na.maskRNG.Uint64() {
		t.Fatal("the generators agree before the restore: the test cannot tell")
	}
	if err := b.(RNGState).UnmarshalRNG(st); err != nil {
		t.Fatal(err)
	}
	if err := a.(RNGState).UnmarshalRNG(st); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if x, y := na.maskRNG.Uint64(), nb.maskRNG.Uint64(); x != y {
			t.Errorf("draw %d after the restore: %d and %d", i, x, y)
		}
	}
	if err := b.(RNGState).UnmarshalRNG(st[:len(st)-1]); err == nil {
		t.Error("UnmarshalRNG of truncated bytes: no error")
	}
}
