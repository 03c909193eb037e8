package bench

import (
	"slices"
	"testing"
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
