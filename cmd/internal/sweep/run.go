package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of [Plan.Run].
var (
	// ErrFailed is returned when at least one run failed.
	ErrFailed = errors.New("sweep: runs failed")
	// ErrInterrupted is returned when the context was cancelled (SIGINT).
	ErrInterrupted = errors.New("sweep: interrupted")
)

// CSVName is the summary file in the sweep's folder.
const CSVName = "sweep.csv"

// ResultColumns are sweep.csv's columns after the grid keys.
var ResultColumns = []string{"seed", "np", "final_accuracy", "best_accuracy", "rounds_to_target",
	"wall_seconds", "bytes_up", "bytes_down", "status"}

// Header returns sweep.csv's header: run, dir, the grid keys, then
// [ResultColumns].
func (p *Plan) Header() []string {
	h := []string{"run", "dir"}
	for _, a := range p.Axes {
		h = append(h, a.Key)
	}
	return append(h, ResultColumns...)
}

// Launcher runs one job: configPath is the run's run.toml, out receives
// the job's output. It returns when every process of the job is gone.
type Launcher func(ctx context.Context, r *Run, configPath string, out io.Writer) error

// Options configure [Plan.Run].
type Options struct {
	Launch Launcher
	// Progress receives one line as each run starts or is skipped, and one
	// when it ends.
	Progress io.Writer
	// Output, if not nil, also receives the jobs' output (besides each
	// run's output.log).
	Output io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Run runs the plan's runs in order, skipping finished ones, and keeps
// sweep.csv up to date after each. It returns an error wrapping
// [ErrInterrupted] if ctx was cancelled (the current run is recorded as
// interrupted and no later run starts), else one wrapping [ErrFailed] if
// any run failed, else nil.
func (p *Plan) Run(ctx context.Context, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return fmt.Errorf("sweep %s: %w", p.Name, err)
	}
	old := p.readRows()
	// Rows in plan order; runs not reached keep their old row, if any.
	rows := make([][]string, len(p.Runs))
	for i := range p.Runs {
		rows[i] = old[p.Runs[i].ID]
	}
	var spent time.Duration
	ran, failed := 0, 0
	for i := range p.Runs {
		r := &p.Runs[i]
		prefix := fmt.Sprintf("sweep %s: run %d/%d (%s)", p.Name, r.Index, len(p.Runs), p.Describe(r))
		if row, ok := old[r.ID]; ok && p.finished(r, row) {
			fmt.Fprintf(o.Progress, "%s done, skipped\n", prefix)
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w before run %d/%d", ErrInterrupted, r.Index, len(p.Runs))
		}
		eta := ""
		if ran > 0 {
			left := p.left(i, old)
			eta = " ETA " + (spent / time.Duration(ran) * time.Duration(left)).Round(time.Second).String()
		}
		fmt.Fprintf(o.Progress, "%s …%s\n", prefix, eta)
		start := o.Now()
		status := p.runOne(ctx, r, o)
		wall := o.Now().Sub(start)
		spent += wall
		ran++
		row := p.row(r, wall, status)
		rows[i] = row
		if err := p.writeRows(rows); err != nil {
			return err
		}
		fmt.Fprintf(o.Progress, "sweep %s: run %d/%d %s in %s%s\n", p.Name, r.Index, len(p.Runs), status,
			wall.Round(100*time.Millisecond), summary(row, len(p.Axes)))
		switch {
		case status == statusInterrupted:
			return fmt.Errorf("%w in run %d/%d; run the sweep again to resume", ErrInterrupted, r.Index, len(p.Runs))
		case status != statusOK:
			failed++
		}
	}
	if err := p.writeRows(rows); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d; see %s", ErrFailed, failed, len(p.Runs), filepath.Join(p.Dir, CSVName))
	}
	return nil
}

const (
	statusOK          = "ok"
	statusInterrupted = "interrupted"
)

// left counts the runs from index i on that will run (not finished).
func (p *Plan) left(i int, old map[string][]string) int {
	n := 0
	for j := i; j < len(p.Runs); j++ {
		if row, ok := old[p.Runs[j].ID]; !ok || !p.finished(&p.Runs[j], row) {
			n++
		}
	}
	return n
}

// runOne prepares r's folder and runs it; it returns the status.
func (p *Plan) runOne(ctx context.Context, r *Run, o Options) string {
	dir := filepath.Join(p.Dir, r.ID)
	if err := os.RemoveAll(dir); err != nil {
		return failed(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return failed(err)
	}
	cfgPath := filepath.Join(dir, "run.toml")
	if err := os.WriteFile(cfgPath, r.TOML, 0o644); err != nil {
		return failed(err)
	}
	logf, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		return failed(err)
	}
	var out io.Writer = logf
	if o.Output != nil {
		out = io.MultiWriter(logf, o.Output)
	}
	err = o.Launch(ctx, r, cfgPath, out)
	if cerr := logf.Close(); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case ctx.Err() != nil:
		return statusInterrupted
	case err != nil:
		return failed(err)
	}
	if _, err := readMetrics(filepath.Join(dir, "metrics.csv"), 0); err != nil {
		return failed(err)
	}
	return statusOK
}

// failed returns the status of a run that failed with err: its first
// line.
func failed(err error) string {
	msg, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return "failed: " + msg
}

// metrics are a run's totals from its metrics.csv.
type metrics struct {
	final, best    float64
	roundsToTarget int // 0: not reached
	up, down       float64
}

// readMetrics sums up a metrics.csv; target 0 means none.
func readMetrics(path string, target float64) (metrics, error) {
	var m metrics
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return m, fmt.Errorf("%s: no rounds", path)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"round", "test_accuracy", "bytes_up", "bytes_down"} {
		if _, ok := col[h]; !ok {
			return m, fmt.Errorf("%s: no column %s", path, h)
		}
	}
	m.best = math.Inf(-1)
	for _, rec := range recs[1:] {
		num := func(h string) (float64, error) {
			v, err := strconv.ParseFloat(rec[col[h]], 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", path, h, err)
			}
			return v, nil
		}
		vals := map[string]float64{}
		for _, h := range []string{"round", "test_accuracy", "bytes_up", "bytes_down"} {
			if vals[h], err = num(h); err != nil {
				return m, err
			}
		}
		acc := vals["test_accuracy"]
		m.final, m.best = acc, max(m.best, acc)
		m.up += vals["bytes_up"]
		m.down += vals["bytes_down"]
		if target > 0 && m.roundsToTarget == 0 && acc >= target {
			m.roundsToTarget = int(vals["round"])
		}
	}
	return m, nil
}

// row returns r's sweep.csv row.
func (p *Plan) row(r *Run, wall time.Duration, status string) []string {
	row := []string{strconv.Itoa(r.Index), r.ID}
	for _, v := range r.Values {
		row = append(row, FormatValue(v))
	}
	row = append(row, strconv.FormatInt(r.Seed, 10), strconv.Itoa(r.NP))
	m, err := readMetrics(filepath.Join(p.Dir, r.ID, "metrics.csv"), r.Config.Federated.TargetAccuracy)
	if err != nil {
		row = append(row, "", "", "")
	} else {
		target := ""
		if m.roundsToTarget > 0 {
			target = strconv.Itoa(m.roundsToTarget)
		}
		row = append(row, fmtFloat(m.final), fmtFloat(m.best), target)
	}
	row = append(row, strconv.FormatFloat(wall.Seconds(), 'f', 2, 64))
	if err != nil {
		row = append(row, "", "")
	} else {
		row = append(row, strconv.FormatFloat(m.up, 'f', 0, 64), strconv.FormatFloat(m.down, 'f', 0, 64))
	}
	return append(row, status)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// summary is the end of a run's progress line: its final accuracy.
func summary(row []string, axes int) string {
	if acc := row[2+axes+2]; acc != "" {
		return ", final accuracy " + acc
	}
	return ""
}

// finished reports whether r completed before: its row says ok, its
// metrics.csv exists and its run.toml is the one the plan writes now.
func (p *Plan) finished(r *Run, row []string) bool {
	if len(row) != len(p.Header()) || row[len(row)-1] != statusOK {
		return false
	}
	dir := filepath.Join(p.Dir, r.ID)
	cfg, err := os.ReadFile(filepath.Join(dir, "run.toml"))
	if err != nil || !bytes.Equal(cfg, r.TOML) {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "metrics.csv"))
	return err == nil
}

// readRows returns the rows of an existing sweep.csv with this plan's
// header, by dir; nothing if there is none or its header differs.
func (p *Plan) readRows() map[string][]string {
	out := map[string][]string{}
	f, err := os.Open(filepath.Join(p.Dir, CSVName))
	if err != nil {
		return out
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(p.Header(), ",") {
		return out
	}
	for _, rec := range recs[1:] {
		out[rec[1]] = rec
	}
	return out
}

// writeRows replaces sweep.csv atomically with the header and rows.
func (p *Plan) writeRows(rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(p.Header())
	for _, row := range rows {
		if row != nil {
			_ = w.Write(row)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("sweep %s: %w", p.Name, err)
	}
	tmp, err := os.CreateTemp(p.Dir, ".sweep-*.csv")
	if err != nil {
		return fmt.Errorf("sweep %s: %w", p.Name, err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(p.Dir, CSVName))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("sweep %s: write %s: %w", p.Name, CSVName, err)
	}
	return nil
}
