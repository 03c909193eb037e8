package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fltk-go/fltk/trainer/fed"
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

// Header returns sweep.csv's header: run, dir, the grid keys, then the
// task's result columns (report.TrainSweep.Columns() or
// report.BenchSweep.Columns()).
func (p *Plan) Header() []string {
	h := []string{"run", "dir"}
	for _, a := range p.Axes {
		h = append(h, a.Key)
	}
	return append(h, resultsOf(p.Task).columns...)
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
		// A folder another process holds (a sweep running this run now)
		// is neither done nor to be rerun: rerunning would delete the
		// files it is writing.
		incomplete, err := fed.ProbeResultsDir(filepath.Join(p.Dir, r.ID))
		if err != nil {
			if werr := p.writeRows(rows); werr != nil {
				return werr
			}
			return fmt.Errorf("sweep %s: run %d/%d: %w", p.Name, r.Index, len(p.Runs), err)
		}
		if row, ok := old[r.ID]; ok && !incomplete && p.finished(r, row) {
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
			wall.Round(100*time.Millisecond), p.summary(row))
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
		incomplete, err := fed.ProbeResultsDir(filepath.Join(p.Dir, p.Runs[j].ID))
		if row, ok := old[p.Runs[j].ID]; !ok || incomplete || err != nil || !p.finished(&p.Runs[j], row) {
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
	if incomplete, err := fed.ProbeResultsDir(dir); err != nil || incomplete {
		if err == nil {
			err = fmt.Errorf("the job exited successfully but left %s in %s: its results are not complete", fed.IncompleteFile, dir)
		}
		return failed(err)
	}
	res := resultsOf(p.Task)
	if _, err := res.read(filepath.Join(dir, res.file), r.Config); err != nil {
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

// row returns r's sweep.csv row.
func (p *Plan) row(r *Run, wall time.Duration, status string) []string {
	row := []string{strconv.Itoa(r.Index), r.ID}
	for _, v := range r.Values {
		row = append(row, FormatValue(v))
	}
	row = append(row, strconv.FormatInt(r.Seed, 10), strconv.Itoa(r.NP))
	res := resultsOf(p.Task)
	vals, err := res.read(filepath.Join(p.Dir, r.ID, res.file), r.Config)
	if err != nil {
		vals = make([]string, len(res.columns)-4) // all but seed, np, wall_seconds, status
	}
	return append(append(append(row, vals[:res.wallAt]...), strconv.FormatFloat(wall.Seconds(), 'f', 2, 64)),
		append(vals[res.wallAt:], status)...)
}

// summary is the end of a run's progress line: its first result.
func (p *Plan) summary(row []string) string {
	i := 2 + len(p.Axes) + 2
	if v := row[i]; v != "" {
		return ", " + strings.ReplaceAll(p.Header()[i], "_", " ") + " " + v
	}
	return ""
}

// finished reports whether r completed before: its row says ok, its
// results file exists and its run.toml is the one the plan writes now.
// (The caller also checks that its folder holds no INCOMPLETE marker.)
func (p *Plan) finished(r *Run, row []string) bool {
	if len(row) != len(p.Header()) || row[len(row)-1] != statusOK {
		return false
	}
	dir := filepath.Join(p.Dir, r.ID)
	cfg, err := os.ReadFile(filepath.Join(dir, "run.toml"))
	if err != nil || !bytes.Equal(cfg, r.TOML) {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, resultsOf(p.Task).file))
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
