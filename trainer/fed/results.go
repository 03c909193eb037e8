package fed

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/partition"
)

// MetricsHeader is the header of metrics.csv.
var MetricsHeader = []string{"round", "test_accuracy", "test_loss", "train_loss", "round_seconds", "train_seconds",
	"comm_seconds", "eval_seconds", "bytes_up", "bytes_down", "clients", "samples"}

// ClassesHeader is the header of classes.csv: the global model's
// per-class precision and recall on the test set, each round.
var ClassesHeader = []string{"round", "class", "precision", "recall", "test_samples"}

// ClientsHeader is the header of clients.csv.
var ClientsHeader = []string{"round", "client", "rank", "samples", "steps", "train_loss", "train_seconds"}

// roundRecord is what the federator knows about a round.
type roundRecord struct {
	round     int
	met       trainer.Metrics
	samples   int
	steps     int
	trainLoss float64 // sample-weighted mean of the clients' mean losses
	trainTime time.Duration
	roundTime time.Duration
	evalTime  time.Duration
	aggTime   time.Duration
	bytesUp   int64
	bytesDown int64
	clients   []clientRow
}

type clientRow struct {
	client, rank, samples, steps int
	loss, seconds                float64
}

// results writes the federator's files and progress lines.
type results struct {
	dir     string
	metrics *os.File
	clients *os.File
	classes *os.File
	started time.Time
	rounds  int // rounds recorded
}

func newResults(cfg *configs.Config, train *data.Set, parts [][]int) (*results, error) {
	dir := filepath.Join(cfg.Output.Dir, cfg.Job.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fed: results: %w", err)
	}
	r := &results{dir: dir}
	var err error
	if err = writeConfig(filepath.Join(dir, "config.toml"), cfg); err != nil {
		return nil, err
	}
	if err = writePartition(filepath.Join(dir, "partition.csv"), train, parts); err != nil {
		return nil, err
	}
	if r.metrics, err = createCSV(filepath.Join(dir, "metrics.csv"), MetricsHeader); err != nil {
		return nil, err
	}
	if r.clients, err = createCSV(filepath.Join(dir, "clients.csv"), ClientsHeader); err != nil {
		r.metrics.Close()
		return nil, err
	}
	if r.classes, err = createCSV(filepath.Join(dir, "classes.csv"), ClassesHeader); err != nil {
		r.metrics.Close()
		r.clients.Close()
		return nil, err
	}
	return r, nil
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

func writeConfig(path string, cfg *configs.Config) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	fmt.Fprintln(f, "# The effective configuration of this experiment (defaults filled in).")
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		f.Close()
		return fmt.Errorf("fed: results: encode config: %w", err)
	}
	return f.Close()
}

func writePartition(path string, train *data.Set, parts [][]int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	w := bufio.NewWriter(f)
	labels := train.Labels()
	fmt.Fprint(w, "client,samples")
	for c := 0; c < train.Classes; c++ {
		fmt.Fprintf(w, ",label_%d", c)
	}
	fmt.Fprintln(w)
	for c, idx := range parts {
		fmt.Fprintf(w, "%d,%d", c, len(idx))
		for _, n := range partition.Histogram(labels, train.Classes, idx) {
			fmt.Fprintf(w, ",%d", n)
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("fed: results: %w", err)
	}
	return f.Close()
}

func (r *results) start(out io.Writer, clients, perRound, workers, params int) {
	r.started = time.Now()
	fmt.Fprintf(out, "fed: %d clients on %d workers, %d per round; %d parameters; results in %s\n",
		clients, workers, perRound, params, r.dir)
}

// collect decodes the gathered metadata blocks.
func (j *job) collect(round int, all []float64, slots, block int) roundRecord {
	var rec roundRecord
	var lossW float64
	for rank := 1; rank < j.size; rank++ {
		b := all[rank*block : (rank+1)*block]
		for s := 0; s < slots; s++ {
			m := b[s*metaFields:]
			if m[0] == 0 {
				continue
			}
			cr := clientRow{client: int(m[0]) - 1, rank: rank, samples: int(m[1]), steps: int(m[2]), loss: m[3], seconds: m[4]}
			rec.clients = append(rec.clients, cr)
			rec.samples += cr.samples
			rec.steps += cr.steps
			lossW += cr.loss * float64(cr.samples)
		}
		rec.trainTime = max(rec.trainTime, time.Duration(b[slots*metaFields]*float64(time.Second)))
		rec.bytesUp += int64(b[slots*metaFields+1])
		rec.bytesDown += int64(b[slots*metaFields+2])
	}
	if rec.samples > 0 {
		rec.trainLoss = lossW / float64(rec.samples)
	}
	return rec
}

func f64(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

func (r *results) record(out io.Writer, rec roundRecord, rounds int, stop bool) error {
	comm := rec.roundTime - rec.trainTime - rec.evalTime - rec.aggTime
	comm = max(comm, 0)
	row := []string{strconv.Itoa(rec.round), f64(rec.met.Accuracy()), f64(rec.met.Loss()), f64(rec.trainLoss),
		f64(rec.roundTime.Seconds()), f64(rec.trainTime.Seconds()), f64(comm.Seconds()), f64(rec.evalTime.Seconds()),
		strconv.FormatInt(rec.bytesUp, 10), strconv.FormatInt(rec.bytesDown, 10), strconv.Itoa(len(rec.clients)), strconv.Itoa(rec.samples)}
	if _, err := fmt.Fprintln(r.metrics, strings.Join(row, ",")); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	var b strings.Builder
	for _, c := range rec.clients {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%s,%s\n", rec.round, c.client, c.rank, c.samples, c.steps, f64(c.loss), f64(c.seconds))
	}
	if _, err := io.WriteString(r.clients, b.String()); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	b.Reset()
	for c := 0; c < rec.met.Classes; c++ {
		var n float64
		for p := 0; p < rec.met.Classes; p++ {
			n += rec.met.Confusion[c*rec.met.Classes+p]
		}
		fmt.Fprintf(&b, "%d,%d,%s,%s,%d\n", rec.round, c, f64(rec.met.Precision(c)), f64(rec.met.Recall(c)), int64(n))
	}
	if _, err := io.WriteString(r.classes, b.String()); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	r.rounds = rec.round
	elapsed := time.Since(r.started)
	eta := time.Duration(float64(elapsed) / float64(rec.round) * float64(rounds-rec.round))
	line := fmt.Sprintf("round %d/%d  test accuracy %.2f%%  test loss %.4f  train loss %.4f  %d clients  %.1fs (train %.1fs, comm %.2fs)  ETA %s",
		rec.round, rounds, 100*rec.met.Accuracy(), rec.met.Loss(), rec.trainLoss, len(rec.clients),
		rec.roundTime.Seconds(), rec.trainTime.Seconds(), comm.Seconds(), eta.Round(time.Second))
	if stop {
		line += "  (target reached)"
	}
	fmt.Fprintln(out, line)
	return nil
}

func (r *results) finish(out io.Writer, cfg *configs.Config, net string, buffers [][2]int, global []float32) error {
	err := r.metrics.Close()
	for _, f := range []*os.File{r.clients, r.classes} {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	if cfg.Output.Checkpoint {
		p := filepath.Join(r.dir, "model.ckpt")
		if err := trainer.WriteCheckpoint(p, trainer.Checkpoint{Net: net, Round: r.rounds, Buffers: buffers, State: global}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "fed: done in %s; results in %s\n", time.Since(r.started).Round(time.Millisecond), r.dir)
	return nil
}
