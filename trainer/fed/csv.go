package fed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fltk-go/fltk/trainer"
)

// MetricsHeader is the header of metrics.csv.
var MetricsHeader = []string{"round", "test_accuracy", "test_loss", "train_loss", "round_seconds", "train_seconds",
	"comm_seconds", "eval_seconds", "bytes_up", "bytes_down", "clients", "samples", "compression_up",
	"selected", "epoch", "workers", "attempts", "lost_ranks", "late_ranks", "dead_epoch_frames",
	"rejoined_ranks"}

// ClassesHeader is the header of classes.csv: the global model's
// per-class precision and recall on the test set, each round.
var ClassesHeader = []string{"round", "class", "precision", "recall", "test_samples"}

// ClientsHeader is the header of clients.csv.
var ClientsHeader = []string{"round", "client", "rank", "samples", "steps", "train_loss", "train_seconds", "epoch"}

// CSVConfig configures a [CSV] recorder.
type CSVConfig struct {
	// Dir is the directory the files go into, created (with its parents)
	// when the job starts.
	Dir string

	// Checkpoint writes the final global model to model.ckpt.
	Checkpoint bool

	// ConfigTOML, when not nil, is written verbatim to config.toml: the
	// effective configuration of the experiment.
	ConfigTOML []byte

	// Resume, when not nil, is the checkpoint a resumed job continues
	// from: Start cuts metrics.csv, clients.csv and classes.csv back to
	// the sizes it recorded (Checkpoint.Files), atomically, and the rows
	// of the following rounds are appended to them.
	Resume *Checkpoint
}

// csvFiles are the per-round files of a [CSV], whose sizes it records in
// checkpoints.
var csvFiles = []string{"metrics.csv", "clients.csv", "classes.csv"}

// CSV is the [Recorder] that writes a job's results as files into a
// directory: metrics.csv (one row per round), clients.csv (one row per
// client per round), classes.csv (the global model's per-class precision
// and recall each round), partition.csv (each client's sample count and
// label histogram), config.toml (when given) and model.ckpt (the final
// global model, when enabled). Floats are written with 6 significant
// digits. A round's rows reach each CSV file in one write; partition.csv,
// config.toml and model.ckpt are written whole, atomically
// ([WriteFileAtomic]). A run holds its folder with [OpenResultsDir] before
// Start: CSV itself neither locks nor clears it.
//
// Start creates the files; Finish closes them. Call Close when the job
// failed: it closes what is still open.
type CSV struct {
	cfg     CSVConfig
	metrics *os.File
	clients *os.File
	classes *os.File
}

// NewCSV returns a CSV recorder; it touches no file before Start.
func NewCSV(cfg CSVConfig) *CSV { return &CSV{cfg: cfg} }

// Dir returns the directory the files go into.
func (w *CSV) Dir() string { return w.cfg.Dir }

// Start creates the directory, writes config.toml and partition.csv, and
// creates metrics.csv, clients.csv and classes.csv with their headers.
func (w *CSV) Start(s Setup) error {
	dir := w.cfg.Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	if w.cfg.ConfigTOML != nil {
		if err := WriteFileAtomic(filepath.Join(dir, "config.toml"), w.cfg.ConfigTOML, 0o644); err != nil {
			return err
		}
	}
	if err := writePartition(filepath.Join(dir, "partition.csv"), s.Classes, s.Partition); err != nil {
		return err
	}
	if w.cfg.Resume != nil {
		return w.reopen()
	}
	var err error
	if w.metrics, err = createCSV(filepath.Join(dir, "metrics.csv"), MetricsHeader); err != nil {
		return err
	}
	if w.clients, err = createCSV(filepath.Join(dir, "clients.csv"), ClientsHeader); err != nil {
		w.Close()
		return err
	}
	if w.classes, err = createCSV(filepath.Join(dir, "classes.csv"), ClassesHeader); err != nil {
		w.Close()
		return err
	}
	return nil
}

// reopen cuts the per-round files back to the sizes the checkpoint
// recorded and opens them for appending.
func (w *CSV) reopen() error {
	ck := w.cfg.Resume
	for i, f := range []**os.File{&w.metrics, &w.clients, &w.classes} {
		name := csvFiles[i]
		path := filepath.Join(w.cfg.Dir, name)
		size, ok := ck.Files[name]
		if !ok {
			w.Close()
			return fmt.Errorf("fed: results: the checkpoint after round %d does not record the size of %s", ck.Round, name)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			w.Close()
			return fmt.Errorf("fed: results: resume: %w", err)
		}
		if int64(len(b)) < size {
			w.Close()
			return fmt.Errorf("fed: results: resume: %s has %d bytes, fewer than the %d it had after round %d (the checkpoint's): rows were lost",
				path, len(b), size, ck.Round)
		}
		if int64(len(b)) > size {
			if err := WriteFileAtomic(path, b[:size], 0o644); err != nil {
				w.Close()
				return err
			}
		}
		if *f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
			w.Close()
			return fmt.Errorf("fed: results: resume: %w", err)
		}
	}
	return nil
}

// Checkpoint syncs metrics.csv, clients.csv and classes.csv to stable
// storage and records their sizes in c.Files.
func (w *CSV) Checkpoint(c *Checkpoint) error {
	if c.Files == nil {
		c.Files = map[string]int64{}
	}
	for i, f := range []*os.File{w.metrics, w.clients, w.classes} {
		if f == nil {
			return fmt.Errorf("fed: results: checkpoint: %s is not open", csvFiles[i])
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fed: results: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("fed: results: %w", err)
		}
		c.Files[csvFiles[i]] = st.Size()
	}
	return nil
}

func createCSV(path string, header []string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("fed: results: %w", err)
	}
	if _, err := fmt.Fprintln(f, strings.Join(header, ",")); err != nil {
		f.Close()
		return nil, fmt.Errorf("fed: results: %w", err)
	}
	return f, nil
}

func writePartition(path string, classes int, parts []ClientData) error {
	var b bytes.Buffer
	fmt.Fprint(&b, "client,samples")
	for c := 0; c < classes; c++ {
		fmt.Fprintf(&b, ",label_%d", c)
	}
	fmt.Fprintln(&b)
	for c, p := range parts {
		fmt.Fprintf(&b, "%d,%d", c, p.Samples)
		for _, n := range p.Labels {
			fmt.Fprintf(&b, ",%d", n)
		}
		fmt.Fprintln(&b)
	}
	return WriteFileAtomic(path, b.Bytes(), 0o644)
}

// lostRanks lists the ranks of lost (only the late ones when late is
// set), separated by ';' (empty when none).
func lostRanks(lost []LostRank, late bool) string {
	var rs []string
	for _, l := range lost {
		if !late || l.Late {
			rs = append(rs, strconv.Itoa(l.Rank))
		}
	}
	return strings.Join(rs, ";")
}

// joinRanks lists ranks separated by ';' (empty when none).
func joinRanks(ranks []int) string {
	rs := make([]string, len(ranks))
	for i, r := range ranks {
		rs[i] = strconv.Itoa(r)
	}
	return strings.Join(rs, ";")
}

func f64(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

// Round appends the round's rows to metrics.csv, clients.csv and
// classes.csv. Each file gets the round's rows in one write(2), so a
// reader never sees a torn row. If a write fails (a full disk fails one
// part way), every file is cut back to where it was before the round:
// the files keep whole rows of the same rounds.
func (w *CSV) Round(r RoundResult) (err error) {
	files := []*os.File{w.metrics, w.clients, w.classes}
	sizes := make([]int64, len(files))
	for i, f := range files {
		if sizes[i], err = f.Seek(0, io.SeekCurrent); err != nil {
			return fmt.Errorf("fed: results: %w", err)
		}
	}
	defer func() {
		if err == nil {
			return
		}
		for i, f := range files {
			if terr := f.Truncate(sizes[i]); terr != nil {
				err = errors.Join(err, fmt.Errorf("fed: results: cut back %w", terr))
			} else if _, serr := f.Seek(sizes[i], io.SeekStart); serr != nil {
				err = errors.Join(err, fmt.Errorf("fed: results: %w", serr))
			}
		}
	}()
	return w.round(r)
}

// round writes the rows of Round.
func (w *CSV) round(r RoundResult) error {
	row := []string{strconv.Itoa(r.Round), f64(r.Metrics.Accuracy()), f64(r.Metrics.Loss()), f64(r.TrainLoss),
		f64(r.RoundTime.Seconds()), f64(r.TrainTime.Seconds()), f64(r.CommTime.Seconds()), f64(r.EvalTime.Seconds()),
		strconv.FormatInt(r.BytesUp, 10), strconv.FormatInt(r.BytesDown, 10), strconv.Itoa(len(r.Clients)), strconv.Itoa(r.Samples),
		f64(r.CompressionUp()), strconv.Itoa(len(r.Selected)), strconv.Itoa(r.Epoch), strconv.Itoa(r.Workers),
		strconv.Itoa(r.Attempts), lostRanks(r.Lost, false), lostRanks(r.Lost, true), strconv.FormatInt(r.DeadFrames, 10),
		joinRanks(r.Rejoined)}
	if _, err := io.WriteString(w.metrics, strings.Join(row, ",")+"\n"); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	var b strings.Builder
	for _, c := range r.Clients {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%s,%s,%d\n", r.Round, c.Client, c.Rank, c.Samples, c.Steps, f64(c.Loss), f64(c.Time.Seconds()), r.Epoch)
	}
	if _, err := io.WriteString(w.clients, b.String()); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	b.Reset()
	met := &r.Metrics
	for c := 0; c < met.Classes; c++ {
		var n float64
		for p := 0; p < met.Classes; p++ {
			n += met.Confusion[c*met.Classes+p]
		}
		fmt.Fprintf(&b, "%d,%d,%s,%s,%d\n", r.Round, c, f64(met.Precision(c)), f64(met.Recall(c)), int64(n))
	}
	if _, err := io.WriteString(w.classes, b.String()); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	return nil
}

// Finish closes the CSV files and writes final to model.ckpt when
// CSVConfig.Checkpoint is set.
func (w *CSV) Finish(final trainer.Checkpoint) error {
	if err := w.Close(); err != nil {
		return err
	}
	if w.cfg.Checkpoint {
		if err := trainer.WriteCheckpoint(filepath.Join(w.cfg.Dir, "model.ckpt"), final); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the CSV files that are still open. It may be called more
// than once.
func (w *CSV) Close() error {
	var errs []error
	for _, f := range []**os.File{&w.metrics, &w.clients, &w.classes} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	return nil
}
