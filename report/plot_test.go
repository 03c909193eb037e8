package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkPNG decodes path and checks its size: Width × Height at 96 dpi.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 768 || b.Dy() != 480 {
		t.Errorf("%s: %d×%d pixels, want 768×480", path, b.Dx(), b.Dy())
	}
}

// svgTexts parses path as XML and returns the text of its <text> elements.
func svgTexts(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var texts []string
	var in bool
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			in = tok.Name.Local == "text"
		case xml.CharData:
			if in {
				texts = append(texts, strings.TrimSpace(string(tok)))
			}
		case xml.EndElement:
			in = false
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	return texts
}

// checkPlots checks that the files are exactly the PNG and SVG of each of
// want's names, and that each SVG shows want's texts.
func checkPlots(t *testing.T, dir string, files []string, want map[string][]string) {
	t.Helper()
	var names []string
	for name := range want {
		names = append(names, filepath.Join(dir, name+".png"), filepath.Join(dir, name+".svg"))
	}
	slices.Sort(names)
	got := slices.Sorted(slices.Values(files))
	if !slices.Equal(got, names) {
		t.Fatalf("files = %q\nwant %q", got, names)
	}
	for name, texts := range want {
		checkPNG(t, filepath.Join(dir, name+".png"))
		svg := filepath.Join(dir, name+".svg")
		have := svgTexts(t, svg)
		for _, w := range texts {
			if !slices.Contains(have, w) {
				t.Errorf("%s: no text %q in %q", svg, w, have)
			}
		}
	}
}

func TestPlotRun(t *testing.T) {
	dir := t.TempDir()
	files, err := PlotRun(mustLoad(t, "testdata/run-a"), dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlots(t, dir, files, map[string][]string{
		"accuracy":      {"run-a: test accuracy", "round", "test accuracy (%)", "test accuracy", "target 90.00%"},
		"accuracy_time": {"wall time (s)", "test accuracy (%)", "test accuracy"},
		"loss":          {"round", "loss", "test loss", "train loss"},
		"loss_time":     {"wall time (s)", "test loss", "train loss"},
		"time_split":    {"run-a: time per round", "seconds", "train", "communication", "aggregation", "evaluation", "1", "4"},
		"bytes":         {"MB per round", "up (updates)", "down (global model)"},
		"participation": {"round", "client", "3"},
		"recall":        {"run-a: recall per class (pale: 0 … red: 1)", "round", "class", "1"},
		"labels":        {"run-a: label histogram per client (pale: 0 … red: 300 samples)", "class", "client", "2"},
	})
}

func TestPlotRunPartial(t *testing.T) {
	dir := t.TempDir()
	files, err := PlotRun(mustLoad(t, "testdata/run-b"), dir)
	if err != nil {
		t.Fatal(err)
	}
	// No clients.csv, partition.csv or target.
	checkPlots(t, dir, files, map[string][]string{
		"accuracy": {"test accuracy"}, "accuracy_time": {"test accuracy"}, "loss": {"test loss"},
		"loss_time": {"train loss"}, "time_split": {"train"}, "bytes": {"up (updates)"},
	})
	dir = t.TempDir()
	files, err = PlotRun(mustLoad(t, "testdata/zero-rounds"), dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlots(t, dir, files, map[string][]string{"labels": {"class", "client"}})
	dir = t.TempDir()
	files, err = PlotRun(&Run{Name: "nothing"}, dir)
	if err != nil || len(files) != 0 {
		t.Errorf("empty run: files %q, err %v", files, err)
	}
}

func TestPlotCompare(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cmp")
	runs := []*Run{mustLoad(t, "testdata/run-a"), mustLoad(t, "testdata/run-b"), {Name: "empty", Dir: "x/empty"}}
	files, err := PlotCompare(runs, Labels(runs), dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlots(t, dir, files, map[string][]string{
		"compare_accuracy":       {"test accuracy", "round", "run-a", "run-b", "empty"},
		"compare_accuracy_time":  {"wall time (s)", "run-a", "run-b"},
		"compare_bytes":          {"MB", "run-a up", "run-a down", "run-b up", "run-b down"},
		"compare_accuracy_bytes": {"cumulative MB", "run-a", "run-b"},
	})
}

func TestPlotSweep(t *testing.T) {
	s, err := LoadSweep("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := PlotSweep(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlots(t, dir, files, map[string][]string{
		"sweep_final_accuracy_train.learning_rate": {"sweep: final accuracy against train.learning_rate (mean ± sd over seeds)",
			"train.learning_rate", "final accuracy (%)", "federated.codec=none", "federated.codec=int8"},
		"sweep_best_accuracy_train.learning_rate": {"best accuracy (%)", "federated.codec=int8"},
		"sweep_wall_seconds_train.learning_rate":  {"wall time (s)", "federated.codec=none"},
		"sweep_final_accuracy_federated.codec":    {"federated.codec", "none", "int8", "train.learning_rate=0.01", "train.learning_rate=0.1"},
		"sweep_best_accuracy_federated.codec":     {"none", "int8"},
		"sweep_wall_seconds_federated.codec":      {"none", "int8"},
	})
}

// TestPlotBenchSweep: a benchmark sweep plots median time and GB/s
// against each grid key and np (which varies); median time, spanning
// over 100×, gets a logarithmic y axis (ticks 100, 1000, 10000), GB/s
// does not.
func TestPlotBenchSweep(t *testing.T) {
	s, err := LoadSweep("testdata/bench-sweep")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := PlotSweep(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkPlots(t, dir, files, map[string][]string{
		"sweep_median_us_bench.bytes": {"bench-sweep: median time (µs) against bench.bytes (mean ± sd over seeds)", "bench.bytes",
			"median time per call (µs)", "100", "1000", "10000", "1e+06", "bench.op=bcast, np=2", "bench.op=allreduce, np=3"},
		"sweep_gbps_bench.bytes": {"bench-sweep: GB/s against bench.bytes (mean ± sd over seeds)", "GB/s (bytes per rank / median)",
			"0.25", "bench.op=allreduce, np=2"},
		"sweep_median_us_bench.op": {"bench.op", "bcast", "allreduce", "bench.bytes=4096, np=2", "bench.bytes=1048576, np=3"},
		"sweep_gbps_bench.op":      {"bcast", "allreduce", "GB/s (bytes per rank / median)"},
		"sweep_median_us_np":       {"np", "median time per call (µs)", "bench.op=allreduce, bench.bytes=1048576"},
		"sweep_gbps_np":            {"np", "bench.op=bcast, bench.bytes=65536"},
	})
	if texts := svgTexts(t, filepath.Join(dir, "sweep_gbps_bench.bytes.svg")); slices.Contains(texts, "0.1") || slices.Contains(texts, "1") {
		t.Errorf("GB/s spans under 100×, want a linear axis; texts %q", texts)
	}
}

// TestPlotSweepLogY: the y axis is logarithmic only when the means ± sd
// are positive and span 100× or more.
func TestPlotSweepLogY(t *testing.T) {
	tests := []struct {
		name      string
		medians   []float64
		sd        bool // two seeds per point, one at 0.1 × the other
		wantTicks []string
		notTicks  []string
	}{
		{"spans 1000×", []float64{10, 100, 10000}, false, []string{"10", "100", "1000", "10000"}, []string{"0", "2000"}},
		{"spans 10×", []float64{100, 400, 1000}, false, []string{"200", "600", "1000"}, []string{"10", "100"}},
		// Error bars reaching below zero cannot be drawn on a log axis.
		{"error bar below zero", []float64{10, 100, 10000}, true, []string{"0"}, []string{"10", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A categorical key: the x axis has no numbers.
			s := &Sweep{Name: "b", Kind: BenchSweep, Keys: []string{"bench.op"}}
			for i, m := range tt.medians {
				x := "op" + strconv.Itoa(i)
				s.Runs = append(s.Runs, SweepRun{Values: []string{x}, MedianMicros: m, GBps: 1, Status: "ok"})
				if tt.sd {
					s.Runs = append(s.Runs, SweepRun{Values: []string{x}, MedianMicros: 0.001 * m, GBps: 1, Status: "ok"})
				}
			}
			dir := t.TempDir()
			if _, err := PlotSweep(s, dir); err != nil {
				t.Fatal(err)
			}
			texts := svgTexts(t, filepath.Join(dir, "sweep_median_us_bench.op.svg"))
			for _, w := range tt.wantTicks {
				if !slices.Contains(texts, w) {
					t.Errorf("no tick %q in %q", w, texts)
				}
			}
			for _, w := range tt.notTicks {
				if slices.Contains(texts, w) {
					t.Errorf("tick %q in %q", w, texts)
				}
			}
		})
	}
}

func TestPlotSweepLogAndEmpty(t *testing.T) {
	s := &Sweep{Name: "lr", Keys: []string{"train.learning_rate"}}
	for _, lr := range []string{"0.001", "0.01", "0.1", "1"} {
		s.Runs = append(s.Runs, SweepRun{Values: []string{lr}, FinalAccuracy: 0.5, BestAccuracy: 0.6, WallSeconds: 2, Status: "ok"})
	}
	dir := t.TempDir()
	files, err := PlotSweep(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("files = %q, want 6", files)
	}
	// Only failed runs: nothing to draw, no error.
	for i := range s.Runs {
		s.Runs[i].Status = "interrupted"
	}
	files, err = PlotSweep(s, t.TempDir())
	if err != nil || len(files) != 0 {
		t.Errorf("no successful run: files %q, err %v", files, err)
	}
}

// TestPlotRunUndrawable: data gonum/plot cannot put on an axis (values
// near 1e18 one apart) is an error, not a panic; so is a client id that
// would make the participation chart enormous.
func TestPlotRunUndrawable(t *testing.T) {
	huge := &Run{Name: "huge", Rounds: []Round{{Round: 1, TestAccuracy: 1e16}, {Round: 2, TestAccuracy: 1e16}}}
	if _, err := PlotRun(huge, t.TempDir()); err == nil || !strings.Contains(err.Error(), "cannot draw") {
		t.Errorf("PlotRun(1e18 accuracy) = %v, want a cannot-draw error", err)
	}
	stray := &Run{Name: "stray", Rounds: []Round{{Round: 1, TestAccuracy: 0.5}}, Clients: []ClientRound{{Round: 1, Client: 1 << 24}}}
	if _, err := PlotRun(stray, t.TempDir()); err == nil || !strings.Contains(err.Error(), "participation") {
		t.Errorf("PlotRun(client 2^24) = %v, want a participation error", err)
	}
}
