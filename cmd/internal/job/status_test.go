package job

import (
	"testing"

	"github.com/fltk-go/fltk/trainer/fed"
)

func TestPhaseText(t *testing.T) {
	for _, tc := range []struct {
		round, rounds int
		phase         string
		done, total   int
		want          string
	}{
		{4, 10, PhaseTraining, 2, 5, "round 4/10  training: 2/5 clients"},
		{4, 10, PhaseTraining, 0, 5, "round 4/10  training: 0/5 clients"},
		{4, 10, PhaseTraining, 3, 0, "round 4/10  training: 3 clients done"},
		{1, 1, PhaseReducing, 5, 5, "round 1/1  reducing: 5 clients trained"},
		{12, 100, PhaseEvaluating, 5, 5, "round 12/100  evaluating"},
	} {
		if got := PhaseText(tc.round, tc.rounds, tc.phase, tc.done, tc.total); got != tc.want {
			t.Errorf("PhaseText(%d, %d, %q, %d, %d) = %q, want %q", tc.round, tc.rounds, tc.phase, tc.done, tc.total, got, tc.want)
		}
	}
}

func TestLiveLines(t *testing.T) {
	for _, ev := range []fed.PhaseEvent{
		{Rank: 0, Round: 1, Rounds: 5, Phase: fed.PhaseTraining, Total: 10},
		{Rank: 3, Round: 12, Rounds: 100, Phase: fed.PhaseTraining, Done: 2, Total: 4},
		{Rank: 0, Round: 5, Rounds: 5, Phase: fed.PhaseEvaluating},
	} {
		line := FormatLive(ev)
		got, ok := ParseLive([]byte(line))
		if !ok || got != ev {
			t.Errorf("ParseLive(%q) = %+v, %v; want %+v", line, got, ok, ev)
		}
	}
	for _, line := range []string{
		"", "round 1/5  test accuracy 90%", "fltk-live", "fltk-live rank=0 round=1/5 phase=training done=0",
		"fltk-live rank=0 round=1 phase=training done=0 of=3", "fltk-live rank=x round=1/5 phase=training done=0 of=3",
		"fltk-live rank=0 round=1/5 phase=napping done=0 of=3", "fltk-live rank=0 round=1/5 phase=training done=0 of=3 extra=1",
		"fltk-live rank=0 rank=0 round=1/5 phase=training done=0",
	} {
		if ev, ok := ParseLive([]byte(line)); ok {
			t.Errorf("ParseLive(%q) = %+v, want rejected", line, ev)
		}
	}
}

// TestStatus feeds the status function the lines of a job of 2 workers
// in the order a launcher may see them, and checks each status line and
// which lines it hides.
func TestStatus(t *testing.T) {
	live := func(rank, round int, ph fed.Phase, done, total int) string {
		return FormatLive(fed.PhaseEvent{Rank: rank, Round: round, Rounds: 3, Phase: ph, Done: done, Total: total})
	}
	const (
		r1 = "round 1/3  test accuracy 90.00%  test loss 0.3000"
		r2 = "round 2/3  test accuracy 95.00%  test loss 0.2000"
	)
	tr, ev := fed.PhaseTraining, fed.PhaseEvaluating
	steps := []struct {
		rank   int
		line   string
		status string // "" = keep the current one
		hide   bool
	}{
		{1, "fed: some log line", "", false},
		{1, live(1, 1, tr, 0, 2), "round 1/3  training: 0/2 clients", true}, // the federator's total is late
		{0, live(0, 1, tr, 0, 3), "round 1/3  training: 0/3 clients", true},
		{2, live(2, 1, tr, 0, 1), "round 1/3  training: 0/3 clients", true},
		{1, live(1, 1, tr, 1, 2), "round 1/3  training: 1/3 clients", true},
		{2, live(2, 1, tr, 1, 1), "round 1/3  training: 2/3 clients", true},
		{1, live(1, 1, tr, 2, 2), "round 1/3  reducing: 3 clients trained", true},
		{1, live(1, 1, ev, 0, 0), "round 1/3  reducing: 3 clients trained", true}, // a worker's evaluation does not count
		{0, live(0, 1, ev, 0, 0), "round 1/3  evaluating", true},
		{2, live(2, 2, tr, 0, 2), "round 2/3  training: 0/2 clients", true}, // round 2 begins before round 1's line
		{0, r1, "round 2/3  training: 0/2 clients" + statusSep + r1, false},
		{0, live(0, 2, tr, 0, 3), "round 2/3  training: 0/3 clients" + statusSep + r1, true},
		{1, live(1, 1, tr, 2, 2), "", true}, // late, of round 1
		{2, live(2, 2, tr, 1, 2), "round 2/3  training: 1/3 clients" + statusSep + r1, true},
		{0, "fed: rank 0 log", "", false},
		{1, live(1, 2, tr, 1, 1), "round 2/3  training: 2/3 clients" + statusSep + r1, true},
		{0, r2, r2, false},
		{0, "round of applause", "round of applause", false}, // a progress line all the same: pinned
	}
	status := NewStatus()
	for i, st := range steps {
		got, hide := status(st.rank, []byte(st.line))
		if string(got) != st.status || (got == nil) != (st.status == "") || hide != st.hide {
			t.Errorf("step %d: rank %d %q → status %q hide %v, want %q hide %v", i, st.rank, st.line, got, hide, st.status, st.hide)
		}
	}
}

// FuzzParseLive: whatever ParseLive accepts formats back to a line it
// parses the same way.
func FuzzParseLive(f *testing.F) {
	f.Add("fltk-live rank=2 round=3/10 phase=training done=1 of=4")
	f.Add("fltk-live rank=0 round=1/1 phase=evaluating done=0 of=0")
	f.Add("fltk-live rank=0 round=1/1 phase=evaluating")
	f.Add("round 1/5  test accuracy 90.00%")
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := ParseLive([]byte(line))
		if !ok {
			return
		}
		again, ok := ParseLive([]byte(FormatLive(ev)))
		if !ok || again != ev {
			t.Errorf("ParseLive(%q) = %+v, which formats to %q and parses to %+v, %v", line, ev, FormatLive(ev), again, ok)
		}
	})
}
