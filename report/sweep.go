package report

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// sweepFixed are the columns of sweep.csv around the grid keys: run,dir,
// then one column per grid key, then these.
var sweepFixed = []string{"seed", "np", "final_accuracy", "best_accuracy", "rounds_to_target", "wall_seconds", "bytes_up", "bytes_down", "status"}

// SweepRun is one row of sweep.csv: one run of the grid.
type SweepRun struct {
	Run    string
	Dir    string   // the run's results folder, relative to the sweep folder
	Values []string // the grid keys' values, in Sweep.Keys order
	Seed   int64
	NP     int

	FinalAccuracy  float64 // NaN when empty (a failed run)
	BestAccuracy   float64 // NaN when empty
	RoundsToTarget string  // as written: a round, or a word
	WallSeconds    float64 // NaN when empty
	BytesUp        int64
	BytesDown      int64
	Status         string // "ok", "failed: …" or "interrupted"
}

// OK reports whether the run succeeded.
func (r SweepRun) OK() bool { return r.Status == "ok" }

// Sweep is a parsed sweep folder.
type Sweep struct {
	Dir  string
	Name string
	Keys []string // the grid keys (dotted config keys), in column order
	Runs []SweepRun
}

// LoadSweep reads dir/sweep.csv. Its grid keys are the columns between
// dir and seed.
func LoadSweep(dir string) (*Sweep, error) {
	if !IsSweep(dir) {
		return nil, noResults(dir)
	}
	path := filepath.Join(dir, "sweep.csv")
	t, err := readTable(path, false)
	if err != nil {
		return nil, err
	}
	s := &Sweep{Dir: dir, Name: filepath.Base(filepath.Clean(dir))}
	if len(t.names) == 0 {
		return s, nil
	}
	if len(t.names) < 2 || t.names[0] != "run" || t.names[1] != "dir" {
		return nil, &ParseError{File: path, Line: 1, Err: fmt.Errorf("header starts %q, want run,dir", strings.Join(t.names[:min(2, len(t.names))], ","))}
	}
	seed := slices.Index(t.names, "seed")
	if seed < 0 || !slices.Equal(t.names[seed:], sweepFixed) {
		return nil, &ParseError{File: path, Line: 1, Err: fmt.Errorf("header must end with %s", strings.Join(sweepFixed, ","))}
	}
	s.Keys = slices.Clone(t.names[2:seed])
	for i, rec := range t.rows {
		r := row{t: t, i: i}
		opt := func(name string) float64 {
			if f, _ := r.field(name); f == "" {
				return math.NaN()
			}
			return r.float(name)
		}
		optInt := func(name string) int64 {
			if f, _ := r.field(name); f == "" {
				return 0
			}
			return r.int64(name)
		}
		sr := SweepRun{Run: rec[0], Dir: rec[1], Values: slices.Clone(rec[2:seed]), Seed: optInt("seed"), NP: int(optInt("np")),
			FinalAccuracy: opt("final_accuracy"), BestAccuracy: opt("best_accuracy"), WallSeconds: opt("wall_seconds"),
			BytesUp: optInt("bytes_up"), BytesDown: optInt("bytes_down")}
		sr.RoundsToTarget, _ = r.field("rounds_to_target")
		sr.Status, _ = r.field("status")
		if r.err != nil {
			return nil, r.err
		}
		for k := range sr.Values {
			sr.Values[k] = strings.TrimSpace(sr.Values[k])
		}
		s.Runs = append(s.Runs, sr)
	}
	return s, nil
}

// Metric names a per-run number of a sweep.
type Metric string

// The metrics [Sweep.Aggregate] knows.
const (
	FinalAccuracy Metric = "final_accuracy"
	BestAccuracy  Metric = "best_accuracy"
	WallSeconds   Metric = "wall_seconds"
)

func (m Metric) of(r SweepRun) float64 {
	switch m {
	case FinalAccuracy:
		return r.FinalAccuracy
	case BestAccuracy:
		return r.BestAccuracy
	case WallSeconds:
		return r.WallSeconds
	}
	return math.NaN()
}

// Point is a metric's mean over the runs (seeds) of one grid point.
type Point struct {
	X      string  // the key's value as written
	XValue float64 // X as a number; NaN when the key is not numeric
	Mean   float64
	Spread float64 // sample standard deviation; 0 for one run
	N      int     // runs averaged
}

// Series is a metric against one grid key, for one combination of the
// other keys' values.
type Series struct {
	Label  string // "k=v, k2=v2" of the other keys; "all" when aggregated over them
	Points []Point
}

// MaxSeries is how many combinations of the other keys [Sweep.Aggregate]
// draws as series of their own; above it, it averages over them.
const MaxSeries = 6

// Aggregate returns metric m against grid key key: for each combination
// of the other keys' values a series (one "all" series averaged over them
// when there are more than MaxSeries combinations), with a point per
// value of key holding the mean and spread over the successful runs.
// numeric says every value of key is a number; points are then sorted by
// it, else they keep the order of first appearance.
func (s *Sweep) Aggregate(key string, m Metric) (series []Series, numeric bool, err error) {
	k := slices.Index(s.Keys, key)
	if k < 0 {
		return nil, false, fmt.Errorf("report: sweep %s has no grid key %q (keys: %s)", s.Dir, key, strings.Join(s.Keys, ", "))
	}
	numeric = true
	var xs []string
	for _, r := range s.Runs {
		if !slices.Contains(xs, r.Values[k]) {
			xs = append(xs, r.Values[k])
			if _, err := strconv.ParseFloat(r.Values[k], 64); err != nil {
				numeric = false
			}
		}
	}
	other := func(r SweepRun) string {
		var parts []string
		for j, name := range s.Keys {
			if j != k {
				parts = append(parts, name+"="+r.Values[j])
			}
		}
		return strings.Join(parts, ", ")
	}
	var labels []string
	for _, r := range s.Runs {
		if l := other(r); !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if len(labels) > MaxSeries {
		labels = []string{"all"}
		other = func(SweepRun) string { return "all" }
	}
	if len(labels) == 1 && labels[0] == "" {
		labels[0] = m.title()
	}
	if numeric {
		sort.SliceStable(xs, func(i, j int) bool { return num(xs[i]) < num(xs[j]) })
	}
	for _, l := range labels {
		ser := Series{Label: l}
		for _, x := range xs {
			var vals []float64
			for _, r := range s.Runs {
				lab := other(r)
				if lab == "" {
					lab = m.title()
				}
				if lab != l || r.Values[k] != x || !r.OK() {
					continue
				}
				if v := m.of(r); !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
			if len(vals) == 0 {
				continue
			}
			mean, sd := meanStd(vals)
			xv := math.NaN()
			if numeric {
				xv = num(x)
			}
			ser.Points = append(ser.Points, Point{X: x, XValue: xv, Mean: mean, Spread: sd, N: len(vals)})
		}
		series = append(series, ser)
	}
	return series, numeric, nil
}

func num(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// meanStd returns the mean and sample standard deviation of vs (0 for a
// single value).
func meanStd(vs []float64) (mean, sd float64) {
	for _, v := range vs {
		mean += v
	}
	mean /= float64(len(vs))
	if len(vs) < 2 {
		return mean, 0
	}
	for _, v := range vs {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(vs)-1))
}

func (m Metric) title() string {
	switch m {
	case FinalAccuracy:
		return "final accuracy"
	case BestAccuracy:
		return "best accuracy"
	case WallSeconds:
		return "wall time (s)"
	}
	return string(m)
}

// WriteSweep writes the sweep's table: a row per run with its grid
// values, seed, accuracies, rounds to target, wall time, bytes and status.
func WriteSweep(w io.Writer, s *Sweep) error {
	ok := 0
	for _, r := range s.Runs {
		if r.OK() {
			ok++
		}
	}
	fmt.Fprintf(w, "sweep %s (%s): %d runs, %d ok; grid keys: %s\n", s.Name, s.Dir, len(s.Runs), ok, strings.Join(s.Keys, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "run\t")
	for _, k := range s.Keys {
		fmt.Fprintf(tw, "%s\t", k)
	}
	fmt.Fprintln(tw, "seed\tnp\tfinal\tbest\tto target\twall s\tup\tdown\tstatus")
	for _, r := range s.Runs {
		fmt.Fprintf(tw, "%s\t", r.Run)
		for _, v := range r.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		wall := "-"
		if !math.IsNaN(r.WallSeconds) {
			wall = fmt.Sprintf("%.1f", r.WallSeconds)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seed, r.NP, pct(r.FinalAccuracy), pct(r.BestAccuracy),
			cmpStr(r.RoundsToTarget, "-"), wall, Bytes(r.BytesUp), Bytes(r.BytesDown), r.Status)
	}
	return tw.Flush()
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
