package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The size of every plot: PNGs are Width × Height at 96 dpi, 768 × 480
// pixels.
const (
	Width  = 8 * vg.Inch
	Height = 5 * vg.Inch
)

// save writes p as dir/name.png and dir/name.svg and returns their paths.
// gonum/plot panics on some data (an axis range that float64 cannot
// split, such as values near 1e18 that differ by 1): that becomes an
// error naming the plot.
func save(p *plot.Plot, dir, name string) (out []string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("report: plot %s: cannot draw this data: %v", filepath.Join(dir, name), v)
		}
	}()
	for _, ext := range []string{".png", ".svg"} {
		path := filepath.Join(dir, name+ext)
		if err := p.Save(Width, Height, path); err != nil {
			return out, fmt.Errorf("report: plot %s: %w", path, err)
		}
		out = append(out, path)
	}
	return out, nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// xys drops the points whose coordinates are NaN or infinite: a plotter
// refuses them.
func xys(x, y []float64) plotter.XYs {
	out := make(plotter.XYs, 0, len(x))
	for i := range x {
		if finite(x[i]) && finite(y[i]) {
			out = append(out, plotter.XY{X: x[i], Y: y[i]})
		}
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// addLine adds a line (with points when it is short) in style i.
func addLine(p *plot.Plot, i int, label string, pts plotter.XYs, dashed bool) error {
	l, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("report: %s: %w", label, err)
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
	}
	p.Add(l)
	var thumb plot.Thumbnailer = l
	if len(pts) <= 40 {
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("report: %s: %w", label, err)
		}
		s.Color, s.Shape, s.Radius = l.Color, plotutil.Shape(i), vg.Points(2.5)
		p.Add(s)
		thumb = lineScatter{l, s}
	}
	p.Legend.Add(label, thumb)
	return nil
}

type lineScatter struct {
	l *plotter.Line
	s *plotter.Scatter
}

func (ls lineScatter) Thumbnail(c *draw.Canvas) { ls.l.Thumbnail(c); ls.s.Thumbnail(c) }

// column returns f of every round.
func column(rs []Round, f func(Round) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func roundsOf(rs []Round) []float64 {
	return column(rs, func(r Round) float64 { return float64(r.Round) })
}

// wallTimes returns the cumulative round_seconds at the end of each round.
func wallTimes(rs []Round) []float64 {
	out := make([]float64, len(rs))
	t := 0.0
	for i, r := range rs {
		t += r.RoundSeconds
		out[i] = t
	}
	return out
}

// PlotRun draws run r's plots into dir (created if needed) as PNG and SVG
// files and returns their paths:
//
//   - accuracy, loss: test accuracy; test and train loss against round
//   - accuracy_time, loss_time: the same against wall time (cumulative
//     round_seconds)
//   - time_split: each round's time split into train, communication,
//     aggregation (round − train − comm − eval) and evaluation
//   - bytes: bytes up and down per round
//   - participation: round × client, the clients that trained each round
//     (needs clients.csv)
//   - recall: round × class, the global model's recall of each class
//     (needs classes.csv)
//   - labels: client × class, each client's label histogram (needs
//     partition.csv)
//
// A run of zero rounds gets only the labels plot.
func PlotRun(r *Run, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var files []string
	add := func(p *plot.Plot, name string, err error) error {
		if err != nil {
			return err
		}
		fs, err := save(p, dir, name)
		files = append(files, fs...)
		return err
	}
	rs := r.Rounds
	if len(rs) > 0 {
		x, t := roundsOf(rs), wallTimes(rs)
		acc := column(rs, func(r Round) float64 { return 100 * r.TestAccuracy })
		testLoss := column(rs, func(r Round) float64 { return r.TestLoss })
		trainLoss := column(rs, func(r Round) float64 { return r.TrainLoss })
		for _, v := range []struct {
			name, xlabel string
			x            []float64
		}{{"", "round", x}, {"_time", "wall time (s)", t}} {
			p := newPlot(r.Name+": test accuracy", v.xlabel, "test accuracy (%)")
			p.Legend.Top = false // accuracy rises: the legend goes below it
			err := addLine(p, 0, "test accuracy", xys(v.x, acc), false)
			if err == nil && r.Target > 0 {
				err = addLine(p, 1, fmt.Sprintf("target %.2f%%", 100*r.Target), xys([]float64{v.x[0], v.x[len(v.x)-1]}, []float64{100 * r.Target, 100 * r.Target}), true)
			}
			if err := add(p, "accuracy"+v.name, err); err != nil {
				return files, err
			}
			p = newPlot(r.Name+": loss", v.xlabel, "loss")
			err = addLine(p, 0, "test loss", xys(v.x, testLoss), false)
			if err == nil {
				err = addLine(p, 1, "train loss", xys(v.x, trainLoss), false)
			}
			if err := add(p, "loss"+v.name, err); err != nil {
				return files, err
			}
		}
		p, err := timeSplit(r)
		if err := add(p, "time_split", err); err != nil {
			return files, err
		}
		p = newPlot(r.Name+": bytes per round", "round", "MB per round")
		err = addLine(p, 0, "up (updates)", xys(x, column(rs, func(r Round) float64 { return float64(r.BytesUp) / 1e6 })), false)
		if err == nil {
			err = addLine(p, 1, "down (global model)", xys(x, column(rs, func(r Round) float64 { return float64(r.BytesDown) / 1e6 })), false)
		}
		if err := add(p, "bytes", err); err != nil {
			return files, err
		}
		if len(r.Clients) > 0 {
			p, err := participation(r)
			if err := add(p, "participation", err); err != nil {
				return files, err
			}
		}
	}
	if len(rs) > 0 && len(r.Classes) > 0 {
		p, err := recall(r)
		if err := add(p, "recall", err); err != nil {
			return files, err
		}
	}
	if r.Partition != nil && len(r.Partition.Labels) > 0 && r.Partition.Classes > 0 {
		p, err := labels(r)
		if err := add(p, "labels", err); err != nil {
			return files, err
		}
	}
	return files, nil
}

// timeSplit is the stacked bar chart of each round's time.
func timeSplit(r *Run) (*plot.Plot, error) {
	rs := r.Rounds
	p := newPlot(r.Name+": time per round", "round", "seconds")
	parts := []struct {
		label string
		f     func(Round) float64
	}{
		{"train", func(r Round) float64 { return r.TrainSeconds }},
		{"communication", func(r Round) float64 { return r.CommSeconds }},
		{"aggregation", Round.AggSeconds},
		{"evaluation", func(r Round) float64 { return r.EvalSeconds }},
	}
	// The bars share about 500 points of the plot's width.
	width := vg.Points(min(40, max(0.5, 0.7*500/float64(len(rs)))))
	var below *plotter.BarChart
	top := 0.0
	for i, part := range parts {
		vs := make(plotter.Values, len(rs))
		for j, rd := range rs {
			if v := part.f(rd); finite(v) {
				vs[j] = max(0, v)
			}
		}
		b, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return nil, fmt.Errorf("report: time split: %w", err)
		}
		b.XMin = float64(rs[0].Round)
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(part.label, b)
	}
	for j := range rs {
		top = max(top, below.BarHeight(j))
	}
	// Room for the legend above the bars, and half a round on each side.
	p.Y.Min, p.Y.Max = 0, 1.3*top
	p.X.Min, p.X.Max = float64(rs[0].Round)-0.5, float64(rs[0].Round+len(rs))-0.5
	p.X.Tick.Marker = intTicks{}
	return p, nil
}

// grid is a plotter.GridXYZ over a dense matrix: z[r][c] at (xs[c], ys[r]).
type grid struct {
	z      [][]float64
	xs, ys []float64
}

func (g grid) Dims() (c, r int)   { return len(g.xs), len(g.ys) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return g.xs[c] }
func (g grid) Y(r int) float64    { return g.ys[r] }

// twoColors is the palette of the participation chart: absent, present.
type twoColors []color.Color

func (t twoColors) Colors() []color.Color { return t }

// intTicks are the default ticks that fall on integers; when none of
// them has a label (a short range), every one gets its number.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	labelled := false
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value == math.Trunc(t.Value) {
			out = append(out, t)
			labelled = labelled || t.Label != ""
		}
	}
	if !labelled {
		for i := range out {
			out[i].Label = strconv.FormatFloat(out[i].Value, 'f', -1, 64)
		}
	}
	return out
}

func seq(lo, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(lo + i)
	}
	return out
}

func heatMap(g grid, pal palette.Palette) *plotter.HeatMap {
	h := plotter.NewHeatMap(g, pal)
	if h.Min == h.Max {
		h.Max = h.Min + 1
	}
	c, r := g.Dims()
	h.Rasterized = c*r > 20000
	return h
}

// maxCells bounds a heat map's cells: a clients.csv with a stray client id
// or round must not allocate without bound.
const maxCells = 1 << 20

// participation is the round × client chart from clients.csv.
func participation(r *Run) (*plot.Plot, error) {
	rs := r.Rounds
	nc := 0
	for _, c := range r.Clients {
		nc = max(nc, c.Client+1)
	}
	first, last := rs[0].Round, rs[len(rs)-1].Round
	for _, c := range r.Clients {
		first, last = min(first, c.Round), max(last, c.Round)
	}
	if cells := float64(nc) * float64(last-first+1); cells > maxCells {
		return nil, fmt.Errorf("report: participation: %d clients × rounds %d..%d is over %d cells", nc, first, last, maxCells)
	}
	z := make([][]float64, nc)
	for i := range z {
		z[i] = make([]float64, last-first+1)
	}
	for _, c := range r.Clients {
		z[c.Client][c.Round-first] = 1
	}
	p := newPlot(r.Name+": clients that trained each round (dark: took part)", "round", "client")
	p.Add(heatMap(grid{z: z, xs: seq(first, last-first+1), ys: seq(0, nc)}, twoColors{color.RGBA{0xf2, 0xf2, 0xf2, 0xff}, color.RGBA{0x1f, 0x4e, 0x9a, 0xff}}))
	p.X.Tick.Marker, p.Y.Tick.Marker = intTicks{}, intTicks{}
	return p, nil
}

// recall is the round × class chart of the global model's per-class
// recall from classes.csv, on a fixed 0..1 scale.
func recall(r *Run) (*plot.Plot, error) {
	first, last, classes := r.Classes[0].Round, r.Classes[0].Round, 0
	for _, c := range r.Classes {
		first, last, classes = min(first, c.Round), max(last, c.Round), max(classes, c.Class+1)
	}
	if r.Classes[0].Class < 0 || float64(classes)*float64(last-first+1) > maxCells {
		return nil, fmt.Errorf("report: recall: classes.csv spans %d classes × rounds %d..%d", classes, first, last)
	}
	z := make([][]float64, classes)
	for k := range z {
		z[k] = make([]float64, last-first+1)
		for i := range z[k] {
			z[k][i] = math.NaN()
		}
	}
	for _, c := range r.Classes {
		if c.Class >= 0 {
			z[c.Class][c.Round-first] = c.Recall
		}
	}
	p := newPlot(r.Name+": recall per class (pale: 0 … red: 1)", "round", "class")
	h := heatMap(grid{z: z, xs: seq(first, last-first+1), ys: seq(0, classes)}, reversed{palette.Heat(64, 1)})
	h.Min, h.Max = 0, 1
	h.Underflow, h.Overflow = h.Palette.Colors()[0], h.Palette.Colors()[63]
	p.Add(h)
	p.X.Tick.Marker, p.Y.Tick.Marker = intTicks{}, intTicks{}
	return p, nil
}

// labels is the client × class chart of label counts from partition.csv.
func labels(r *Run) (*plot.Plot, error) {
	pt := r.Partition
	if cells := len(pt.Labels) * pt.Classes; cells > maxCells {
		return nil, fmt.Errorf("report: labels: %d clients × %d classes is over %d cells", len(pt.Labels), pt.Classes, maxCells)
	}
	z := make([][]float64, len(pt.Labels))
	most := 0
	for c, ls := range pt.Labels {
		z[c] = make([]float64, pt.Classes)
		for k, n := range ls {
			z[c][k] = float64(n)
			most = max(most, n)
		}
	}
	p := newPlot(fmt.Sprintf("%s: label histogram per client (pale: 0 … red: %d samples)", r.Name, most), "class", "client")
	p.Add(heatMap(grid{z: z, xs: seq(0, pt.Classes), ys: seq(0, len(pt.Labels))}, reversed{palette.Heat(64, 1)}))
	p.X.Tick.Marker, p.Y.Tick.Marker = intTicks{}, intTicks{}
	return p, nil
}

// reversed runs a palette backwards: Heat then goes from pale to red.
type reversed struct{ palette.Palette }

func (r reversed) Colors() []color.Color {
	c := slices.Clone(r.Palette.Colors())
	slices.Reverse(c)
	return c
}

// PlotCompare overlays runs in dir (created if needed), each run labelled
// by labels[i]: accuracy against round (compare_accuracy) and against wall
// time (compare_accuracy_time), cumulative bytes up and down against
// round (compare_bytes), and accuracy against cumulative bytes moved
// (compare_accuracy_bytes). It returns the files' paths.
func PlotCompare(runs []*Run, labels []string, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	acc := newPlot("test accuracy", "round", "test accuracy (%)")
	accT := newPlot("test accuracy against wall time", "wall time (s)", "test accuracy (%)")
	byt := newPlot("cumulative bytes (solid: up, dashed: down)", "round", "MB")
	accB := newPlot("test accuracy against bytes moved (up + down)", "cumulative MB", "test accuracy (%)")
	acc.Legend.Top, accT.Legend.Top, accB.Legend.Top = false, false, false
	byt.Legend.Left = true // cumulative lines start low on the left
	for i, r := range runs {
		rs := r.Rounds
		x := roundsOf(rs)
		a := column(rs, func(r Round) float64 { return 100 * r.TestAccuracy })
		var up, down, both []float64
		var cu, cd float64
		for _, rd := range rs {
			cu += float64(rd.BytesUp) / 1e6
			cd += float64(rd.BytesDown) / 1e6
			up, down, both = append(up, cu), append(down, cd), append(both, cu+cd)
		}
		for _, e := range []error{
			addLine(acc, i, labels[i], xys(x, a), false),
			addLine(accT, i, labels[i], xys(wallTimes(rs), a), false),
			addLine(byt, i, labels[i]+" up", xys(x, up), false),
			addLine(byt, i, labels[i]+" down", xys(x, down), true),
			addLine(accB, i, labels[i], xys(both, a), false),
		} {
			if e != nil {
				return nil, e
			}
		}
	}
	var files []string
	for _, v := range []struct {
		p    *plot.Plot
		name string
	}{{acc, "compare_accuracy"}, {accT, "compare_accuracy_time"}, {byt, "compare_bytes"}, {accB, "compare_accuracy_bytes"}} {
		fs, err := save(v.p, dir, v.name)
		files = append(files, fs...)
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

// PlotSweep draws, for each of [Sweep.Axes] and each metric of the
// sweep's kind ([SweepKind.Metrics]: final accuracy, best accuracy and
// wall time; or median time and GB/s), the metric's mean ± standard
// deviation over seeds against the key (see [Sweep.Aggregate]) into dir,
// as sweep_<metric>_<key>.png and .svg. It returns the files' paths.
func PlotSweep(s *Sweep, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var files []string
	for _, key := range s.Axes() {
		for _, m := range s.Kind.Metrics() {
			series, numeric, err := s.Aggregate(key, m)
			if err != nil {
				return files, err
			}
			p, err := sweepPlot(s, key, m, series, numeric)
			if err != nil {
				return files, err
			}
			if p == nil {
				continue
			}
			fs, err := save(p, dir, "sweep_"+string(m)+"_"+fileSafe(key))
			files = append(files, fs...)
			if err != nil {
				return files, err
			}
		}
	}
	return files, nil
}

// fileSafe keeps letters, digits, dots, dashes and underscores.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// errXYs is a series' points with their spread as y error bars.
type errXYs struct {
	plotter.XYs
	err []float64
}

func (e errXYs) YError(i int) (float64, float64) { return e.err[i], e.err[i] }

// logRange says whether values from lo to hi (all positive) span a
// factor of 100 or more: such an axis is logarithmic.
func logRange(positive bool, lo, hi float64) bool { return positive && hi/lo >= 100 }

func sweepPlot(s *Sweep, key string, m Metric, series []Series, numeric bool) (*plot.Plot, error) {
	mi := m.info()
	ylabel, scale := mi.ylabel, mi.scale
	p := newPlot(fmt.Sprintf("%s: %s against %s (mean ± sd over seeds)", s.Name, m.title(), key), key, ylabel)
	// Categorical values sit at 0, 1, …, named by their value.
	var cats []string
	if !numeric {
		for _, ser := range series {
			for _, pt := range ser.Points {
				if !slices.Contains(cats, pt.X) {
					cats = append(cats, pt.X)
				}
			}
		}
	}
	positive, lo, hi, points := true, math.Inf(1), math.Inf(-1), 0
	// The y range with the error bars.
	yPositive, ylo, yhi := true, math.Inf(1), math.Inf(-1)
	for i, ser := range series {
		e := errXYs{}
		for _, pt := range ser.Points {
			x := pt.XValue
			if !numeric {
				x = float64(slices.Index(cats, pt.X))
			}
			positive = positive && x > 0
			lo, hi = min(lo, x), max(hi, x)
			y, sd := scale*pt.Mean, scale*pt.Spread
			yPositive = yPositive && y-sd > 0
			ylo, yhi = min(ylo, y-sd), max(yhi, y+sd)
			e.XYs = append(e.XYs, plotter.XY{X: x, Y: y})
			e.err = append(e.err, sd)
		}
		if len(e.XYs) == 0 {
			continue
		}
		points += len(e.XYs)
		if err := addLine(p, i, ser.Label, e.XYs, false); err != nil {
			return nil, err
		}
		bars, err := plotter.NewYErrorBars(e)
		if err != nil {
			return nil, fmt.Errorf("report: %s: %w", ser.Label, err)
		}
		bars.Color = plotutil.Color(i)
		p.Add(bars)
	}
	if points == 0 {
		return nil, nil
	}
	switch {
	case !numeric:
		p.NominalX(cats...)
		p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
	case logRange(positive, lo, hi):
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.X.Min, p.X.Max = lo/1.2, hi*1.2
	case hi > lo:
		p.X.Min, p.X.Max = lo-0.05*(hi-lo), hi+0.05*(hi-lo)
	}
	if logRange(yPositive, ylo, yhi) {
		// Room above for the legend.
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = ylo/1.5, yhi*4
	}
	return p, nil
}
