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

// SweepKind is what a sweep's jobs were, told by sweep.csv's header.
type SweepKind int

// The kinds of sweep.
const (
	// TrainSweep is a sweep of training jobs (job.task = "train"): its
	// rows hold accuracies, rounds to target and bytes moved.
	TrainSweep SweepKind = iota
	// BenchSweep is a sweep of benchmark jobs (job.task = "bench"): its
	// rows hold a collective's median and minimum time and GB/s.
	BenchSweep
)

// The columns of sweep.csv after the grid keys, per kind. fltk sweep
// writes its header from [SweepKind.Columns]: this is their one
// definition.
var (
	trainColumns = []string{"seed", "np", "final_accuracy", "best_accuracy", "rounds_to_target", "wall_seconds", "bytes_up", "bytes_down", "status"}
	benchColumns = []string{"seed", "np", "median_us", "min_us", "gbps", "wall_seconds", "status"}
)

// Columns returns sweep.csv's columns after run, dir and the grid keys
// for a sweep of kind k.
func (k SweepKind) Columns() []string {
	if k == BenchSweep {
		return slices.Clone(benchColumns)
	}
	return slices.Clone(trainColumns)
}

func (k SweepKind) String() string {
	if k == BenchSweep {
		return "bench"
	}
	return "train"
}

// Metrics returns the metrics [PlotSweep] draws for a sweep of kind k:
// final accuracy, best accuracy and wall time for training; median time
// and GB/s for benchmarks.
func (k SweepKind) Metrics() []Metric {
	if k == BenchSweep {
		return []Metric{MedianMicros, GBps}
	}
	return []Metric{FinalAccuracy, BestAccuracy, WallSeconds}
}

// printed returns the metrics [WriteAggregates] prints.
func (k SweepKind) printed() []Metric {
	if k == BenchSweep {
		return []Metric{MedianMicros, GBps}
	}
	return []Metric{FinalAccuracy}
}

// kindOf tells the kind from a header that starts run,dir: the one whose
// columns end it, leaving the grid keys between.
func kindOf(names []string) (SweepKind, bool) {
	for _, k := range []SweepKind{TrainSweep, BenchSweep} {
		cols := k.Columns()
		if len(names) >= 2+len(cols) && slices.Equal(names[len(names)-len(cols):], cols) {
			return k, true
		}
	}
	return 0, false
}

// SweepRun is one row of sweep.csv: one run of the grid. The fields of
// the other kind of sweep are NaN (or zero, for the integers).
type SweepRun struct {
	Run    string
	Dir    string   // the run's results folder, relative to the sweep folder
	Values []string // the grid keys' values, in Sweep.Keys order
	Seed   int64
	NP     int

	// A training run's results.
	FinalAccuracy  float64 // NaN when empty (a failed run)
	BestAccuracy   float64 // NaN when empty
	RoundsToTarget string  // as written: a round, or a word
	BytesUp        int64
	BytesDown      int64

	// A benchmark run's results (from its bench.csv).
	MedianMicros float64 // median time of a call, µs; NaN when empty
	MinMicros    float64 // fastest call, µs; NaN when empty
	GBps         float64 // bytes per rank / median, GB/s; NaN when empty

	WallSeconds float64 // NaN when empty
	Status      string  // "ok", "failed: …" or "interrupted"
}

// OK reports whether the run succeeded.
func (r SweepRun) OK() bool { return r.Status == "ok" }

// Sweep is a parsed sweep folder.
type Sweep struct {
	Dir  string
	Name string
	Kind SweepKind
	Keys []string // the grid keys (dotted config keys), in column order
	Runs []SweepRun
}

// LoadSweep reads dir/sweep.csv. Its grid keys are the columns between
// dir and the columns of its kind ([SweepKind.Columns]), which its header
// tells; any other header is a [*ParseError] on line 1.
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
	kind, ok := kindOf(t.names)
	if !ok {
		return nil, &ParseError{File: path, Line: 1, Err: fmt.Errorf("header must end with %s (training jobs) or %s (benchmark jobs)",
			strings.Join(trainColumns, ","), strings.Join(benchColumns, ","))}
	}
	s.Kind = kind
	seed := len(t.names) - len(kind.Columns())
	s.Keys = slices.Clone(t.names[2:seed])
	for i, rec := range t.rows {
		r := row{t: t, i: i}
		// A column of the other kind is missing from the header and
		// reads as empty.
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
			BytesUp: optInt("bytes_up"), BytesDown: optInt("bytes_down"),
			MedianMicros: opt("median_us"), MinMicros: opt("min_us"), GBps: opt("gbps")}
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

// Metric names a per-run number of a sweep: a column of sweep.csv.
type Metric string

// The metrics [Sweep.Aggregate] knows.
const (
	FinalAccuracy Metric = "final_accuracy"
	BestAccuracy  Metric = "best_accuracy"
	WallSeconds   Metric = "wall_seconds"
	MedianMicros  Metric = "median_us"
	MinMicros     Metric = "min_us"
	GBps          Metric = "gbps"
)

// metricInfo is how a metric is read, named and shown.
type metricInfo struct {
	title  string  // in plot titles and aggregates
	ylabel string  // the plots' y axis
	scale  float64 // shown value = scale × value
	prec   int     // decimals shown
	unit   string  // after a shown value
	of     func(SweepRun) float64
}

var metrics = map[Metric]metricInfo{
	FinalAccuracy: {"final accuracy", "final accuracy (%)", 100, 2, "%", func(r SweepRun) float64 { return r.FinalAccuracy }},
	BestAccuracy:  {"best accuracy", "best accuracy (%)", 100, 2, "%", func(r SweepRun) float64 { return r.BestAccuracy }},
	WallSeconds:   {"wall time (s)", "wall time (s)", 1, 1, " s", func(r SweepRun) float64 { return r.WallSeconds }},
	MedianMicros:  {"median time (µs)", "median time per call (µs)", 1, 1, " µs", func(r SweepRun) float64 { return r.MedianMicros }},
	MinMicros:     {"min time (µs)", "fastest call (µs)", 1, 1, " µs", func(r SweepRun) float64 { return r.MinMicros }},
	GBps:          {"GB/s", "GB/s (bytes per rank / median)", 1, 3, " GB/s", func(r SweepRun) float64 { return r.GBps }},
}

// of returns m of run r; NaN for an unknown metric.
func (m Metric) of(r SweepRun) float64 {
	if mi, ok := metrics[m]; ok {
		return mi.of(r)
	}
	return math.NaN()
}

func (m Metric) title() string {
	if mi, ok := metrics[m]; ok {
		return mi.title
	}
	return string(m)
}

func (m Metric) info() metricInfo {
	if mi, ok := metrics[m]; ok {
		return mi
	}
	return metricInfo{title: string(m), ylabel: string(m), scale: 1, prec: 3}
}

// format shows a mean and spread: "91.00% ± 1.41", "812.5 µs ± 3.0".
func (m Metric) format(mean, sd float64) string {
	mi := m.info()
	return fmt.Sprintf("%.*f%s ± %.*f", mi.prec, mi.scale*mean, mi.unit, mi.prec, mi.scale*sd)
}

// NPKey is the axis name of the number of processes (sweep.csv's np
// column) when it varies between a sweep's runs: see [Sweep.Axes].
const NPKey = "np"

// Axes returns the sweep's grid keys, then [NPKey] when the runs' np
// (the sweep file's np list, not a grid key) takes more than one value.
// Aggregate, PlotSweep and WriteAggregates treat every axis as a key.
func (s *Sweep) Axes() []string {
	axes := slices.Clone(s.Keys)
	for _, r := range s.Runs {
		if r.NP != s.Runs[0].NP {
			return append(axes, NPKey)
		}
	}
	return axes
}

// value returns run r's value of axis j of [Sweep.Axes].
func (s *Sweep) value(r SweepRun, j int) string {
	if j < len(s.Keys) {
		return r.Values[j]
	}
	return strconv.Itoa(r.NP)
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

// Aggregate returns metric m against key, one of [Sweep.Axes]: for each
// combination of the other axes' values a series (one "all" series
// averaged over them when there are more than MaxSeries combinations),
// with a point per value of key holding the mean and spread over the
// successful runs. numeric says every value of key is a number; points
// are then sorted by it, else they keep the order of first appearance.
func (s *Sweep) Aggregate(key string, m Metric) (series []Series, numeric bool, err error) {
	axes := s.Axes()
	k := slices.Index(axes, key)
	if k < 0 {
		return nil, false, fmt.Errorf("report: sweep %s has no grid key %q (keys: %s)", s.Dir, key, strings.Join(axes, ", "))
	}
	numeric = true
	var xs []string
	for _, r := range s.Runs {
		if x := s.value(r, k); !slices.Contains(xs, x) {
			xs = append(xs, x)
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				numeric = false
			}
		}
	}
	other := func(r SweepRun) string {
		var parts []string
		for j, name := range axes {
			if j != k {
				parts = append(parts, name+"="+s.value(r, j))
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
				if lab != l || s.value(r, k) != x || !r.OK() {
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

// WriteAggregates writes, for each of [Sweep.Axes], the mean ± standard
// deviation over seeds at each of its values (see [Sweep.Aggregate]) of
// final accuracy for a training sweep, of median time and GB/s for a
// benchmark sweep: a line per series.
func WriteAggregates(w io.Writer, s *Sweep) error {
	for _, key := range s.Axes() {
		for _, m := range s.Kind.printed() {
			series, _, err := s.Aggregate(key, m)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s against %s (mean ± sd over seeds):\n", m.title(), key)
			for _, ser := range series {
				fmt.Fprintf(w, "  %s:", ser.Label)
				for _, p := range ser.Points {
					fmt.Fprintf(w, "  %s → %s (n=%d)", p.X, m.format(p.Mean, p.Spread), p.N)
				}
				if _, err := fmt.Fprintln(w); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// WriteSweep writes the sweep's table: a row per run with its grid
// values, seed, np, then accuracies, rounds to target, wall time and bytes
// (a training sweep) or median and fastest time, GB/s and wall time (a
// benchmark sweep), and status.
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
	if s.Kind == BenchSweep {
		fmt.Fprintln(tw, "seed\tnp\tmedian µs\tmin µs\tGB/s\twall s\tstatus")
	} else {
		fmt.Fprintln(tw, "seed\tnp\tfinal\tbest\tto target\twall s\tup\tdown\tstatus")
	}
	for _, r := range s.Runs {
		fmt.Fprintf(tw, "%s\t", r.Run)
		for _, v := range r.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		wall := fixed(r.WallSeconds, 1)
		if s.Kind == BenchSweep {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Seed, r.NP, fixed(r.MedianMicros, 1), fixed(r.MinMicros, 1), fixed(r.GBps, 3), wall, r.Status)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seed, r.NP, pct(r.FinalAccuracy), pct(r.BestAccuracy),
			cmpStr(r.RoundsToTarget, "-"), wall, Bytes(r.BytesUp), Bytes(r.BytesDown), r.Status)
	}
	return tw.Flush()
}

// fixed formats v with prec decimals; NaN is "-".
func fixed(v float64, prec int) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
