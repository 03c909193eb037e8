package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is what a run comes to.
type Summary struct {
	Rounds        int     // rounds recorded
	FinalAccuracy float64 // the last round's test accuracy (NaN without rounds)
	BestAccuracy  float64 // the highest test accuracy (NaN without rounds)
	BestRound     int     // the round of BestAccuracy (the first, if tied)

	// Target is federated.target_accuracy (0: none). RoundsToTarget is
	// the first round whose test accuracy reached it, 0 when it was not
	// reached or there is no target.
	Target         float64
	RoundsToTarget int

	WallSeconds float64 // sum of round_seconds
	BytesUp     int64   // sum of bytes_up
	BytesDown   int64   // sum of bytes_down
}

// Summarize computes a run's summary.
func Summarize(r *Run) Summary {
	s := Summary{Rounds: len(r.Rounds), FinalAccuracy: math.NaN(), BestAccuracy: math.NaN(), Target: r.Target}
	for _, m := range r.Rounds {
		s.FinalAccuracy = m.TestAccuracy
		if !math.IsNaN(m.TestAccuracy) && (math.IsNaN(s.BestAccuracy) || m.TestAccuracy > s.BestAccuracy) {
			s.BestAccuracy, s.BestRound = m.TestAccuracy, m.Round
		}
		if s.Target > 0 && s.RoundsToTarget == 0 && m.TestAccuracy >= s.Target {
			s.RoundsToTarget = m.Round
		}
		s.WallSeconds += m.RoundSeconds
		s.BytesUp += m.BytesUp
		s.BytesDown += m.BytesDown
	}
	return s
}

// TargetText says how the run fared against its target: the round that
// reached it, "not reached" or "no target".
func (s Summary) TargetText() string {
	switch {
	case s.Target <= 0:
		return "no target"
	case s.RoundsToTarget == 0:
		return "not reached"
	}
	return fmt.Sprint(s.RoundsToTarget)
}

// pct formats a fraction as a percentage; NaN is "-".
func pct(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

// Bytes formats a byte count with a decimal unit (kB, MB, GB).
func Bytes(n int64) string {
	f := float64(n)
	switch {
	case math.Abs(f) >= 1e9:
		return fmt.Sprintf("%.2f GB", f/1e9)
	case math.Abs(f) >= 1e6:
		return fmt.Sprintf("%.2f MB", f/1e6)
	case math.Abs(f) >= 1e3:
		return fmt.Sprintf("%.2f kB", f/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func seconds(s float64) string {
	return fmt.Sprintf("%s (%.1f s)", time.Duration(s*float64(time.Second)).Round(100*time.Millisecond), s)
}

// WriteSummary writes the summary of run r as aligned "name value" lines,
// after a warning line when r is Incomplete.
func WriteSummary(w io.Writer, r *Run, s Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	warnIncomplete(w, r)
	fmt.Fprintf(tw, "run\t%s (%s)\n", r.Name, r.Dir)
	fmt.Fprintf(tw, "rounds\t%d\n", s.Rounds)
	final := pct(s.FinalAccuracy)
	if s.Rounds > 0 {
		final += fmt.Sprintf(" (round %d)", r.Rounds[len(r.Rounds)-1].Round)
	}
	fmt.Fprintf(tw, "final accuracy\t%s\n", final)
	best := pct(s.BestAccuracy)
	if !math.IsNaN(s.BestAccuracy) {
		best += fmt.Sprintf(" (round %d)", s.BestRound)
	}
	fmt.Fprintf(tw, "best accuracy\t%s\n", best)
	target := s.TargetText()
	if s.Target > 0 {
		target += fmt.Sprintf(" (target %s)", pct(s.Target))
	}
	fmt.Fprintf(tw, "rounds to target\t%s\n", target)
	fmt.Fprintf(tw, "wall time\t%s\n", seconds(s.WallSeconds))
	fmt.Fprintf(tw, "bytes up\t%s (%d B)\n", Bytes(s.BytesUp), s.BytesUp)
	fmt.Fprintf(tw, "bytes down\t%s (%d B)\n", Bytes(s.BytesDown), s.BytesDown)
	return tw.Flush()
}

// WriteCompare writes a table with a row per run: rounds, final and best
// accuracy, rounds to target, wall time and bytes; first a warning line
// per Incomplete run.
func WriteCompare(w io.Writer, runs []*Run, labels []string) error {
	for _, r := range runs {
		warnIncomplete(w, r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\trounds\tfinal\tbest\tto target\twall s\tup\tdown\t")
	for i, r := range runs {
		s := Summarize(r)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.1f\t%s\t%s\t\n", labels[i], s.Rounds, pct(s.FinalAccuracy), pct(s.BestAccuracy),
			s.TargetText(), s.WallSeconds, Bytes(s.BytesUp), Bytes(s.BytesDown))
	}
	return tw.Flush()
}

// Labels returns a short distinct label per run: its folder's base name,
// or its folder as given when two runs share a base name.
func Labels(runs []*Run) []string {
	seen := map[string]int{}
	for _, r := range runs {
		seen[r.Name]++
	}
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Name
		if seen[r.Name] > 1 {
			out[i] = strings.TrimSuffix(r.Dir, "/")
		}
	}
	return out
}

// warnIncomplete prints a warning line when r's folder holds
// [IncompleteFile].
func warnIncomplete(w io.Writer, r *Run) {
	if r.Incomplete {
		fmt.Fprintf(w, "warning: %s holds %s: the run is still going, failed or was interrupted; its results may stop short\n",
			r.Dir, IncompleteFile)
	}
}
