package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Round is one row of a run's metrics.csv.
type Round struct {
	Round         int
	TestAccuracy  float64 // fraction 0..1
	TestLoss      float64
	TrainLoss     float64
	RoundSeconds  float64 // the whole round
	TrainSeconds  float64 // the slowest worker's local training
	CommSeconds   float64 // communication
	EvalSeconds   float64 // the distributed evaluation
	BytesUp       int64
	BytesDown     int64
	Clients       int
	Samples       int
	CompressionUp float64
}

// AggSeconds is the part of the round that metrics.csv does not name:
// RoundSeconds − TrainSeconds − CommSeconds − EvalSeconds, at least 0.
// fltk's federator spends it aggregating the updates.
func (r Round) AggSeconds() float64 {
	return max(0, r.RoundSeconds-r.TrainSeconds-r.CommSeconds-r.EvalSeconds)
}

// ClientRound is one row of a run's clients.csv: one client's part in a
// round.
type ClientRound struct {
	Round, Client, Rank, Samples, Steps int
	TrainLoss, TrainSeconds             float64
}

// ClassRound is one row of a run's classes.csv.
type ClassRound struct {
	Round, Class      int
	Precision, Recall float64
	TestSamples       int64
}

// Partition is a run's partition.csv: each client's share of the
// training set.
type Partition struct {
	Classes int
	Samples []int   // Samples[c]: client c's training samples
	Labels  [][]int // Labels[c][k]: client c's samples of class k
}

// Run is the parsed results folder of one job. Files other than
// metrics.csv may be missing: their fields are then empty.
type Run struct {
	Dir       string
	Name      string // the folder's base name
	Rounds    []Round
	Clients   []ClientRound
	Classes   []ClassRound
	Partition *Partition // nil without partition.csv

	// Target is federated.target_accuracy from config.toml; 0: none (or
	// no config.toml).
	Target float64

	// Incomplete says the folder holds [IncompleteFile]: the run is
	// still going, failed or was interrupted, so its files may stop short.
	Incomplete bool
}

// IncompleteFile is the marker a run keeps in its results folder until it
// finishes successfully (fed.IncompleteFile).
const IncompleteFile = "INCOMPLETE"

// IsRun reports whether dir holds a run's results (metrics.csv).
func IsRun(dir string) bool { return isFile(filepath.Join(dir, "metrics.csv")) }

// IsSweep reports whether dir holds a sweep's results (sweep.csv).
func IsSweep(dir string) bool { return isFile(filepath.Join(dir, "sweep.csv")) }

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// noResults is the error for a folder without metrics.csv or sweep.csv.
// It names the run folders directly inside dir, if any.
func noResults(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoResults, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a folder", ErrNoResults, dir)
	}
	var runs []string
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.IsDir() && (IsRun(filepath.Join(dir, e.Name())) || IsSweep(filepath.Join(dir, e.Name()))) {
				runs = append(runs, e.Name())
			}
		}
	}
	msg := dir + " has no metrics.csv (a run's results folder) and no sweep.csv (a sweep's folder)"
	if len(runs) > 0 {
		msg += "; it holds results folders: " + strings.Join(runs, ", ")
	}
	return fmt.Errorf("%w: %s", ErrNoResults, msg)
}

// LoadRun reads the results folder dir of one run: metrics.csv (required),
// clients.csv, classes.csv, partition.csv and config.toml (each optional).
// A folder without metrics.csv gives [ErrNoResults]; a file that cannot
// be read or parsed gives a [*ParseError] naming the file and line. A
// metrics.csv without rows (or empty) is a run of zero rounds.
func LoadRun(dir string) (*Run, error) {
	if !IsRun(dir) {
		return nil, noResults(dir)
	}
	r := &Run{Dir: dir, Name: filepath.Base(filepath.Clean(dir)), Incomplete: isFile(filepath.Join(dir, IncompleteFile))}
	var err error
	if r.Rounds, err = loadMetrics(filepath.Join(dir, "metrics.csv")); err != nil {
		return nil, err
	}
	if r.Clients, err = loadClients(filepath.Join(dir, "clients.csv")); err != nil {
		return nil, err
	}
	if r.Classes, err = loadClasses(filepath.Join(dir, "classes.csv")); err != nil {
		return nil, err
	}
	if r.Partition, err = loadPartition(filepath.Join(dir, "partition.csv")); err != nil {
		return nil, err
	}
	if r.Target, err = loadTarget(filepath.Join(dir, "config.toml")); err != nil {
		return nil, err
	}
	return r, nil
}

// table is a CSV file read whole: its header's columns by name and its
// rows with their line numbers.
type table struct {
	path  string
	cols  map[string]int
	names []string
	rows  [][]string
	lines []int
}

// readTable reads the CSV file at path. A missing file gives (nil, nil)
// when optional is set. An empty file is a table without columns or rows.
func readTable(path string, optional bool) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &ParseError{File: path, Err: err}
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.ReuseRecord = false
	t := &table{path: path, cols: map[string]int{}}
	header, err := cr.Read()
	if err == io.EOF {
		return t, nil
	}
	if err != nil {
		return nil, csvError(path, err)
	}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := t.cols[h]; dup {
			return nil, &ParseError{File: path, Line: 1, Err: fmt.Errorf("column %q appears twice", h)}
		}
		t.cols[h] = i
		t.names = append(t.names, h)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		line, _ := cr.FieldPos(0)
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	return t, nil
}

func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: path, Line: pe.Line, Err: pe.Err}
	}
	return &ParseError{File: path, Err: err}
}

// require checks that the header has the named columns. An empty table
// (no header at all) passes: it has no rows.
func (t *table) require(names ...string) error {
	if len(t.cols) == 0 {
		return nil
	}
	var missing []string
	for _, n := range names {
		if _, ok := t.cols[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return &ParseError{File: t.path, Line: 1, Err: fmt.Errorf("header lacks column(s) %s", strings.Join(missing, ", "))}
	}
	return nil
}

// row reads the fields of row i by column name, remembering the first
// error with its line. A column missing from the header reads as zero.
type row struct {
	t   *table
	i   int
	err error
}

func (r *row) field(name string) (string, bool) {
	j, ok := r.t.cols[name]
	if !ok {
		return "", false
	}
	return strings.TrimSpace(r.t.rows[r.i][j]), true
}

func (r *row) fail(name, s string, err error) {
	if r.err == nil {
		if ne, ok := err.(*strconv.NumError); ok {
			err = ne.Err
		}
		r.err = &ParseError{File: r.t.path, Line: r.t.lines[r.i], Err: fmt.Errorf("column %s: %q: %w", name, s, err)}
	}
}

func (r *row) float(name string) float64 {
	s, ok := r.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		r.fail(name, s, err)
	}
	return v
}

func (r *row) int64(name string) int64 {
	s, ok := r.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		r.fail(name, s, err)
	}
	return v
}

func (r *row) int(name string) int { return int(r.int64(name)) }

func loadMetrics(path string) ([]Round, error) {
	t, err := readTable(path, false)
	if err != nil {
		return nil, err
	}
	if err := t.require("round", "test_accuracy", "test_loss"); err != nil {
		return nil, err
	}
	out := make([]Round, 0, len(t.rows))
	for i := range t.rows {
		r := row{t: t, i: i}
		m := Round{
			Round: r.int("round"), TestAccuracy: r.float("test_accuracy"), TestLoss: r.float("test_loss"),
			TrainLoss: r.float("train_loss"), RoundSeconds: r.float("round_seconds"), TrainSeconds: r.float("train_seconds"),
			CommSeconds: r.float("comm_seconds"), EvalSeconds: r.float("eval_seconds"),
			BytesUp: r.int64("bytes_up"), BytesDown: r.int64("bytes_down"), Clients: r.int("clients"),
			Samples: r.int("samples"), CompressionUp: r.float("compression_up"),
		}
		if r.err != nil {
			return nil, r.err
		}
		if i > 0 && m.Round <= out[i-1].Round {
			return nil, &ParseError{File: path, Line: t.lines[i], Err: fmt.Errorf("round %d does not follow round %d", m.Round, out[i-1].Round)}
		}
		out = append(out, m)
	}
	return out, nil
}

func loadClients(path string) ([]ClientRound, error) {
	t, err := readTable(path, true)
	if t == nil || err != nil {
		return nil, err
	}
	if err := t.require("round", "client"); err != nil {
		return nil, err
	}
	out := make([]ClientRound, 0, len(t.rows))
	for i := range t.rows {
		r := row{t: t, i: i}
		c := ClientRound{Round: r.int("round"), Client: r.int("client"), Rank: r.int("rank"), Samples: r.int("samples"),
			Steps: r.int("steps"), TrainLoss: r.float("train_loss"), TrainSeconds: r.float("train_seconds")}
		if r.err != nil {
			return nil, r.err
		}
		if c.Client < 0 {
			return nil, &ParseError{File: path, Line: t.lines[i], Err: fmt.Errorf("client %d < 0", c.Client)}
		}
		out = append(out, c)
	}
	return out, nil
}

func loadClasses(path string) ([]ClassRound, error) {
	t, err := readTable(path, true)
	if t == nil || err != nil {
		return nil, err
	}
	if err := t.require("round", "class"); err != nil {
		return nil, err
	}
	out := make([]ClassRound, 0, len(t.rows))
	for i := range t.rows {
		r := row{t: t, i: i}
		c := ClassRound{Round: r.int("round"), Class: r.int("class"), Precision: r.float("precision"),
			Recall: r.float("recall"), TestSamples: r.int64("test_samples")}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, c)
	}
	return out, nil
}

// loadPartition reads partition.csv: client,samples,label_0,…,label_{K−1},
// one row per client in order.
func loadPartition(path string) (*Partition, error) {
	t, err := readTable(path, true)
	if t == nil || err != nil {
		return nil, err
	}
	if len(t.names) == 0 {
		return &Partition{}, nil
	}
	if err := t.require("client", "samples"); err != nil {
		return nil, err
	}
	p := &Partition{}
	for p.Classes = 0; ; p.Classes++ {
		if _, ok := t.cols[fmt.Sprintf("label_%d", p.Classes)]; !ok {
			break
		}
	}
	for i := range t.rows {
		r := row{t: t, i: i}
		c := r.int("client")
		n := r.int("samples")
		labels := make([]int, p.Classes)
		for k := range labels {
			labels[k] = r.int(fmt.Sprintf("label_%d", k))
		}
		if r.err != nil {
			return nil, r.err
		}
		if c != i {
			return nil, &ParseError{File: path, Line: t.lines[i], Err: fmt.Errorf("client %d where client %d belongs", c, i)}
		}
		p.Samples = append(p.Samples, n)
		p.Labels = append(p.Labels, labels)
	}
	return p, nil
}

// loadTarget reads federated.target_accuracy from config.toml; a missing
// file or key is 0.
func loadTarget(path string) (float64, error) {
	var cfg struct {
		Federated struct {
			TargetAccuracy float64 `toml:"target_accuracy"`
		} `toml:"federated"`
	}
	_, err := toml.DecodeFile(path, &cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return 0, &ParseError{File: path, Line: pe.Position.Line, Err: errors.New(pe.Message)}
		}
		return 0, &ParseError{File: path, Err: err}
	}
	return cfg.Federated.TargetAccuracy, nil
}
