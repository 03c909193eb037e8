package launcher

import "testing"

func TestRootCause(t *testing.T) {
	down := &WorkerError{Rank: 1, ExitCode: 1, Tail: []string{"fltk: collective: rank 0 is down: peer closed"}}
	canceled := &WorkerError{Rank: 2, ExitCode: 1, Tail: []string{"fltk: fed: round 1: context canceled"}}
	killed := &WorkerError{Rank: 3, ExitCode: -1, Signal: "killed"}
	io := &WorkerError{Rank: 0, ExitCode: 1, Tail: []string{"fltk: open results/x: permission denied"}}
	other := &WorkerError{Rank: 4, ExitCode: 2, Tail: []string{"fltk: fed: bad"}}
	tests := []struct {
		name  string
		first *WorkerError
		later []*WorkerError
		want  *WorkerError
	}{
		{name: "a cause first", first: io, later: []*WorkerError{down}, want: io},
		{name: "a consequence first", first: down, later: []*WorkerError{canceled, killed, io}, want: io},
		{name: "the earliest cause", first: down, later: []*WorkerError{other, io}, want: other},
		{name: "only consequences", first: down, later: []*WorkerError{canceled, killed}, want: down},
		{name: "alone", first: down, want: down},
	}
	for _, tt := range tests {
		if got := rootCause(tt.first, tt.later); got != tt.want {
			t.Errorf("%s: rootCause = rank %d, want rank %d", tt.name, got.Rank, tt.want.Rank)
		}
	}
}
