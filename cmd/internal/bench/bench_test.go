package bench

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		bad  bool
	}{
		{"4096,64KiB,1MiB", []int{4096, 65536, 1 << 20}, false},
		{" 16MiB , 0", []int{16 << 20, 0}, false},
		{"3", nil, true},   // not whole float32s
		{"-4", nil, true},  // negative
		{"4XB", nil, true}, // unknown suffix
		{"", nil, true},    // empty
	}
	for _, tt := range tests {
		got, err := ParseSizes(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSizes(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseOps(t *testing.T) {
	if got, err := ParseOps("bcast,barrier"); err != nil || !slices.Equal(got, []string{"bcast", "barrier"}) {
		t.Errorf("ParseOps: %v, %v", got, err)
	}
	if _, err := ParseOps("bcast,alltoall"); err == nil {
		t.Error(`ParseOps("alltoall") succeeded`)
	}
}

func TestRepeats(t *testing.T) {
	for size, want := range map[int]int{4096: 20, 1 << 20: 20, 16 << 20: 5, 64 << 20: 3} {
		if got := Repeats(size); got != want {
			t.Errorf("Repeats(%d) = %d, want %d", size, got, want)
		}
	}
}

// TestBurn checks that Burn computes for at least the time asked (a lower
// bound only: a loaded machine may make it longer) and that its result
// depends on the work done.
func TestBurn(t *testing.T) {
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond} {
		t0 := time.Now()
		v := Burn(d)
		if el := time.Since(t0); el < d {
			t.Errorf("Burn(%v) returned after %v", d, el)
		}
		if d > 0 && (v == 0 || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)) {
			t.Errorf("Burn(%v) = %v, want a finite non-zero sum", d, v)
		}
	}
}
