package collective

import (
	"context"
	"slices"
	"testing"
)

// fakeHosts is a HostTransport that only answers Size and HostOf.
type fakeHosts []int

func (f fakeHosts) Rank() int                                       { return 0 }
func (f fakeHosts) Size() int                                       { return len(f) }
func (f fakeHosts) MaxFrame() int                                   { return 1 << 20 }
func (f fakeHosts) Send(context.Context, int, []byte) error         { return nil }
func (f fakeHosts) Start(func(int, []byte), func(int, error)) error { return nil }
func (f fakeHosts) HostOf(r int) int                                { return f[r] }

func TestNewHostLayout(t *testing.T) {
	for _, tt := range []struct {
		name   string
		hostOf []int
		lo     []int // nil: flat
	}{
		{"2x2", []int{0, 0, 1, 1}, []int{0, 2}},
		{"uneven", []int{0, 1, 1, 1, 1, 2, 2}, []int{0, 1, 5}},
		{"renumbered", []int{0, 0, 2, 2, 1}, []int{0, 2, 4}},
		{"one host", []int{0, 0, 0}, nil},
		{"interleaved", []int{0, 1, 0, 1}, nil},
		{"out of range", []int{0, 5}, nil},
		{"negative", []int{0, -1}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, why := newHostLayout(fakeHosts(tt.hostOf))
			switch {
			case tt.lo == nil && l != nil:
				t.Fatalf("layout %+v, want the flat schedules", l)
			case tt.lo == nil && why == "":
				t.Fatal("flat without a reason")
			case tt.lo != nil && (l == nil || !slices.Equal(l.lo, tt.lo)):
				t.Fatalf("layout %+v (%s), want hosts starting at %v", l, why, tt.lo)
			}
		})
	}
}

func TestChainAllReduceModel(t *testing.T) {
	layout := func(hostOf ...int) *hostLayout {
		l, _ := newHostLayout(fakeHosts(hostOf))
		return l
	}
	for _, tt := range []struct {
		name  string
		l     *hostLayout
		m     int
		chain bool
	}{
		{"3x3 one chunk", layout(0, 0, 0, 1, 1, 1, 2, 2, 2), 1, false},
		{"3x3 16 chunks", layout(0, 0, 0, 1, 1, 1, 2, 2, 2), 16, true},
		{"2x2 2 chunks", layout(0, 0, 1, 1), 2, false},
		{"2x2 3 chunks", layout(0, 0, 1, 1), 3, true},
		{"1x3 many chunks", layout(0, 1, 2), 1000, false},
	} {
		if got := tt.l.chainAllReduce(tt.m); got != tt.chain {
			t.Errorf("%s: chainAllReduce(%d) = %v, want %v", tt.name, tt.m, got, tt.chain)
		}
	}
}
