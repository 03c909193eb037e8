package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, dir string) *Run {
	t.Helper()
	r, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	acc := func(target float64, accs ...float64) *Run {
		r := &Run{Name: "mem", Target: target}
		for i, a := range accs {
			r.Rounds = append(r.Rounds, Round{Round: i + 1, TestAccuracy: a, RoundSeconds: 1.5, BytesUp: 10, BytesDown: 20})
		}
		return r
	}
	tests := []struct {
		name   string
		run    *Run
		want   Summary
		target string
	}{
		{"run-a", mustLoad(t, "testdata/run-a"), Summary{Rounds: 4, FinalAccuracy: 0.9, BestAccuracy: 0.91, BestRound: 3, Target: 0.9,
			RoundsToTarget: 3, WallSeconds: 7.5, BytesUp: 4e6, BytesDown: 8e6}, "3"},
		{"run-b", mustLoad(t, "testdata/run-b"), Summary{Rounds: 2, FinalAccuracy: 0.7, BestAccuracy: 0.7, BestRound: 2,
			WallSeconds: 6, BytesUp: 5e5, BytesDown: 4e6}, "no target"},
		{"not reached", acc(0.95, 0.5, 0.9, 0.94), Summary{Rounds: 3, FinalAccuracy: 0.94, BestAccuracy: 0.94, BestRound: 3, Target: 0.95,
			WallSeconds: 4.5, BytesUp: 30, BytesDown: 60}, "not reached"},
		{"reached in round 1", acc(0.5, 0.5, 0.4), Summary{Rounds: 2, FinalAccuracy: 0.4, BestAccuracy: 0.5, BestRound: 1, Target: 0.5,
			RoundsToTarget: 1, WallSeconds: 3, BytesUp: 20, BytesDown: 40}, "1"},
		{"tie keeps the first", acc(0, 0.8, 0.8), Summary{Rounds: 2, FinalAccuracy: 0.8, BestAccuracy: 0.8, BestRound: 1,
			WallSeconds: 3, BytesUp: 20, BytesDown: 40}, "no target"},
		{"NaN round", acc(0.6, nan, 0.7), Summary{Rounds: 2, FinalAccuracy: 0.7, BestAccuracy: 0.7, BestRound: 2, Target: 0.6,
			RoundsToTarget: 2, WallSeconds: 3, BytesUp: 20, BytesDown: 40}, "2"},
		{"zero rounds", mustLoad(t, "testdata/zero-rounds"), Summary{FinalAccuracy: nan, BestAccuracy: nan}, "no target"},
		{"zero rounds with target", acc(0.9), Summary{FinalAccuracy: nan, BestAccuracy: nan, Target: 0.9}, "not reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.run)
			if !sameSummary(got, tt.want) {
				t.Errorf("Summarize = %+v\nwant        %+v", got, tt.want)
			}
			if got.TargetText() != tt.target {
				t.Errorf("TargetText = %q, want %q", got.TargetText(), tt.target)
			}
		})
	}
}

// sameSummary compares with a tolerance on the float sums; NaN equals NaN.
func sameSummary(a, b Summary) bool {
	eq := func(x, y float64) bool { return (math.IsNaN(x) && math.IsNaN(y)) || math.Abs(x-y) < 1e-9 }
	return a.Rounds == b.Rounds && eq(a.FinalAccuracy, b.FinalAccuracy) && eq(a.BestAccuracy, b.BestAccuracy) && a.BestRound == b.BestRound &&
		a.Target == b.Target && a.RoundsToTarget == b.RoundsToTarget && eq(a.WallSeconds, b.WallSeconds) && a.BytesUp == b.BytesUp && a.BytesDown == b.BytesDown
}

func TestWriteSummary(t *testing.T) {
	r := mustLoad(t, "testdata/run-a")
	var b bytes.Buffer
	if err := WriteSummary(&b, r, Summarize(r)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"final accuracy    90.00% (round 4)", "best accuracy     91.00% (round 3)",
		"rounds to target  3 (target 90.00%)", "wall time         7.5s", "bytes up          4.00 MB (4000000 B)", "bytes down        8.00 MB (8000000 B)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestIncompleteWarning: a folder holding INCOMPLETE loads as Incomplete,
// and the summary and the comparison begin with a warning naming it; a
// complete run gets no warning.
func TestIncompleteWarning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-a")
	if err := os.CopyFS(dir, os.DirFS("testdata/run-a")); err != nil {
		t.Fatal(err)
	}
	complete := mustLoad(t, dir)
	if err := os.WriteFile(filepath.Join(dir, IncompleteFile), []byte("pid 1 on h since 2026-01-01T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustLoad(t, dir)
	if complete.Incomplete || !r.Incomplete {
		t.Fatalf("Incomplete: %v without %s, %v with it", complete.Incomplete, IncompleteFile, r.Incomplete)
	}
	want := "warning: " + dir + " holds INCOMPLETE"
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer, *Run) error
	}{
		{"summary", func(b *bytes.Buffer, r *Run) error { return WriteSummary(b, r, Summarize(r)) }},
		{"compare", func(b *bytes.Buffer, r *Run) error { return WriteCompare(b, []*Run{r}, []string{"a"}) }},
	} {
		var b bytes.Buffer
		if err := tt.write(&b, r); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.String(), want) {
			t.Errorf("%s of an incomplete run does not begin %q:\n%s", tt.name, want, b.String())
		}
		b.Reset()
		if err := tt.write(&b, complete); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "warning") {
			t.Errorf("%s of a complete run warns:\n%s", tt.name, b.String())
		}
	}
}

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1.00 kB"}, {2_500_000, "2.50 MB"}, {3_210_000_000, "3.21 GB"}} {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	runs := []*Run{{Dir: "a/x", Name: "x"}, {Dir: "b/x/", Name: "x"}, {Dir: "c/y", Name: "y"}}
	got := Labels(runs)
	if got[0] != "a/x" || got[1] != "b/x" || got[2] != "y" {
		t.Errorf("Labels = %q", got)
	}
}

func TestAggregate(t *testing.T) {
	s, err := LoadSweep("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	type pt struct {
		x        string
		mean, sd float64
		n        int
	}
	pair := func(d float64) float64 { return d / math.Sqrt2 } // sample sd of two values d apart
	tests := []struct {
		key     string
		m       Metric
		numeric bool
		series  map[string][]pt
	}{
		{"train.learning_rate", FinalAccuracy, true, map[string][]pt{
			"federated.codec=none": {{"0.01", 0.82, pair(0.04), 2}, {"0.1", 0.91, pair(0.02), 2}},
			"federated.codec=int8": {{"0.01", 0.77, pair(0.02), 2}, {"0.1", 0.88, 0, 1}}, // the failed run is left out
		}},
		{"federated.codec", WallSeconds, false, map[string][]pt{
			"train.learning_rate=0.01": {{"none", 11, pair(1), 2}, {"int8", 8, 0, 2}},
			"train.learning_rate=0.1":  {{"none", 9, 0, 2}, {"int8", 7, 0, 1}},
		}},
		{"federated.codec", BestAccuracy, false, map[string][]pt{
			"train.learning_rate=0.01": {{"none", 0.83, pair(0.02), 2}, {"int8", 0.795, pair(0.01), 2}},
			"train.learning_rate=0.1":  {{"none", 0.92, pair(0.02), 2}, {"int8", 0.9, 0, 1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+string(tt.m), func(t *testing.T) {
			series, numeric, err := s.Aggregate(tt.key, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if numeric != tt.numeric || len(series) != len(tt.series) {
				t.Fatalf("numeric %v, %d series; want %v, %d", numeric, len(series), tt.numeric, len(tt.series))
			}
			for _, ser := range series {
				want, ok := tt.series[ser.Label]
				if !ok || len(ser.Points) != len(want) {
					t.Fatalf("series %q: %+v, want %+v", ser.Label, ser.Points, want)
				}
				for i, p := range ser.Points {
					w := want[i]
					if p.X != w.x || math.Abs(p.Mean-w.mean) > 1e-9 || math.Abs(p.Spread-w.sd) > 1e-9 || p.N != w.n {
						t.Errorf("series %q point %d = %+v, want %+v", ser.Label, i, p, w)
					}
				}
			}
		})
	}
	if _, _, err := s.Aggregate("train.epochs", FinalAccuracy); err == nil || !strings.Contains(err.Error(), "train.epochs") {
		t.Errorf("unknown key: err = %v", err)
	}
}

// TestAggregateBench: a benchmark sweep aggregates median time and GB/s,
// np (which varies) is an axis of its own and splits the series of the
// other axes, and the failed run leaves its point out.
func TestAggregateBench(t *testing.T) {
	s, err := LoadSweep("testdata/bench-sweep")
	if err != nil {
		t.Fatal(err)
	}
	type pt struct {
		x    string
		mean float64
	}
	tests := []struct {
		key     string
		m       Metric
		numeric bool
		labels  []string
		series  map[string][]pt
	}{
		{"bench.bytes", MedianMicros, true,
			[]string{"bench.op=bcast, np=2", "bench.op=allreduce, np=2", "bench.op=bcast, np=3", "bench.op=allreduce, np=3"},
			map[string][]pt{
				"bench.op=bcast, np=2":     {{"4096", 40}, {"65536", 150}, {"1048576", 1500}},
				"bench.op=allreduce, np=3": {{"4096", 180}, {"65536", 600}}, // 1048576 failed
			}},
		{"bench.op", GBps, false,
			[]string{"bench.bytes=4096, np=2", "bench.bytes=65536, np=2", "bench.bytes=1048576, np=2", "bench.bytes=4096, np=3", "bench.bytes=65536, np=3", "bench.bytes=1048576, np=3"},
			map[string][]pt{
				"bench.bytes=65536, np=2":   {{"bcast", 0.436907}, {"allreduce", 0.16384}},
				"bench.bytes=1048576, np=3": {{"bcast", 0.466034}},
			}},
		{NPKey, MedianMicros, true,
			[]string{"bench.op=bcast, bench.bytes=4096", "bench.op=bcast, bench.bytes=65536", "bench.op=bcast, bench.bytes=1048576",
				"bench.op=allreduce, bench.bytes=4096", "bench.op=allreduce, bench.bytes=65536", "bench.op=allreduce, bench.bytes=1048576"},
			map[string][]pt{
				"bench.op=bcast, bench.bytes=4096": {{"2", 40}, {"3", 60}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+string(tt.m), func(t *testing.T) {
			series, numeric, err := s.Aggregate(tt.key, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			for _, ser := range series {
				labels = append(labels, ser.Label)
			}
			if numeric != tt.numeric || !slices.Equal(labels, tt.labels) {
				t.Fatalf("numeric %v, series %q; want %v, %q", numeric, labels, tt.numeric, tt.labels)
			}
			for _, ser := range series {
				want, ok := tt.series[ser.Label]
				if !ok {
					continue
				}
				if len(ser.Points) != len(want) {
					t.Fatalf("series %q: %+v, want %+v", ser.Label, ser.Points, want)
				}
				for i, p := range ser.Points {
					if p.X != want[i].x || math.Abs(p.Mean-want[i].mean) > 1e-9 || p.Spread != 0 || p.N != 1 {
						t.Errorf("series %q point %d = %+v, want %+v (n=1)", ser.Label, i, p, want[i])
					}
				}
			}
		})
	}
	if _, _, err := s.Aggregate("collective.codec", MedianMicros); err == nil || !strings.Contains(err.Error(), "keys: bench.op, bench.bytes, np") {
		t.Errorf("unknown key: err = %v", err)
	}
}

func TestAggregateManySeries(t *testing.T) {
	s := &Sweep{Keys: []string{"a", "b"}}
	for i := 0; i < MaxSeries+1; i++ {
		for _, a := range []string{"2", "10"} {
			s.Runs = append(s.Runs, SweepRun{Values: []string{a, string(rune('p' + i))}, FinalAccuracy: 0.5 + 0.01*float64(i), Status: "ok"})
		}
	}
	series, numeric, err := s.Aggregate("a", FinalAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	if !numeric || len(series) != 1 || series[0].Label != "all" {
		t.Fatalf("numeric %v, series %+v; want one numeric series \"all\"", numeric, series)
	}
	// Sorted numerically (2 before 10), each the mean over the 7 b values.
	p := series[0].Points
	if len(p) != 2 || p[0].X != "2" || p[1].X != "10" || p[0].N != MaxSeries+1 || math.Abs(p[0].Mean-0.53) > 1e-9 {
		t.Errorf("points = %+v", p)
	}
	one := &Sweep{Keys: []string{"a"}, Runs: []SweepRun{{Values: []string{"x"}, WallSeconds: 3, Status: "ok"}}}
	series, _, err = one.Aggregate("a", WallSeconds)
	if err != nil || len(series) != 1 || len(series[0].Points) != 1 || series[0].Points[0].Mean != 3 {
		t.Errorf("one key: %+v, %v", series, err)
	}
}

func TestWriteBenchSweep(t *testing.T) {
	s, err := LoadSweep("testdata/bench-sweep")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteSweep(&b, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 14 || lines[0] != "sweep bench-sweep (testdata/bench-sweep): 12 runs, 11 ok; grid keys: bench.op, bench.bytes" {
		t.Fatalf("bench table (want title, header, 12 runs):\n%s", b.String())
	}
	for i, want := range map[int][]string{
		1:  {"run", "bench.op", "bench.bytes", "seed", "np", "median µs", "min µs", "GB/s", "wall s", "status"},
		6:  {"5", "allreduce", "65536", "42", "2", "400.0", "320.0", "0.164", "0.7", "ok"},
		13: {"12", "allreduce", "1048576", "3", "-", "0.8", "failed: rank 2 exited with status 1"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(b.String(), "final") || strings.Contains(b.String(), "%") {
		t.Errorf("bench table shows training columns:\n%s", b.String())
	}
	b.Reset()
	if err := WriteAggregates(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"median time (µs) against bench.bytes (mean ± sd over seeds):\n",
		"  bench.op=allreduce, np=3:  4096 → 180.0 µs ± 0.0 (n=1)  65536 → 600.0 µs ± 0.0 (n=1)\n",
		"GB/s against bench.op (mean ± sd over seeds):\n",
		"  bench.bytes=65536, np=2:  bcast → 0.437 GB/s ± 0.000 (n=1)  allreduce → 0.164 GB/s ± 0.000 (n=1)\n",
		"median time (µs) against np (mean ± sd over seeds):\n", "GB/s against np (mean ± sd over seeds):\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("aggregates lack %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "accuracy") {
		t.Errorf("bench aggregates show accuracy:\n%s", b.String())
	}
}

func TestWriteSweepAndCompare(t *testing.T) {
	s, err := LoadSweep("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteSweep(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"8 runs, 7 ok", "train.learning_rate", "federated.codec", "92.00%", "failed: rank 2 exited with status 1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("sweep table lacks %q:\n%s", want, b.String())
		}
	}
	if n := strings.Count(b.String(), "\n"); n != 10 {
		t.Errorf("sweep table has %d lines, want 10 (title, header, 8 runs)", n)
	}
	b.Reset()
	if err := WriteAggregates(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"final accuracy against train.learning_rate (mean ± sd over seeds):\n",
		"  federated.codec=none:  0.01 → 82.00% ± 2.83 (n=2)  0.1 → 91.00% ± 1.41 (n=2)\n",
		"final accuracy against federated.codec (mean ± sd over seeds):\n",
		"  train.learning_rate=0.1:  none → 91.00% ± 1.41 (n=2)  int8 → 88.00% ± 0.00 (n=1)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("aggregates lack %q:\n%s", want, b.String())
		}
	}
	if n := strings.Count(b.String(), "\n"); n != 6 {
		t.Errorf("aggregates have %d lines, want 6 (a title and 2 series per key)", n)
	}
	b.Reset()
	runs := []*Run{mustLoad(t, "testdata/run-a"), mustLoad(t, "testdata/run-b")}
	if err := WriteCompare(&b, runs, Labels(runs)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "run-a") || !strings.Contains(lines[1], "91.00%") ||
		!strings.Contains(lines[2], "no target") || !strings.Contains(lines[2], "500.00 kB") {
		t.Errorf("compare table:\n%s", b.String())
	}
}
