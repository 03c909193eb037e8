package fed

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/tboard"
)

// The TensorBoard tags of a round's scalars. The first three are FLTK's
// federator tags; accuracy is a fraction, as in metrics.csv, and times are
// in seconds.
const (
	TagTestAccuracy  = "Test Accuracy"
	TagTestLoss      = "Test Loss"
	TagRoundDuration = "Round duration"
	TagTrainLoss     = "Train Loss"
	TagTrainDuration = "Train duration"
	TagCommDuration  = "Communication duration"
	TagAggDuration   = "Aggregation duration"
	TagEvalDuration  = "Evaluation duration"
	TagBytesUp       = "Bytes up"
	TagBytesDown     = "Bytes down"
	TagCompression   = "Compression ratio"
	TagWorkers       = "Workers"
	TagLostRanks     = "Lost ranks"
)

// ClientTag returns the tag of client's scalar name (TagTrainLoss or
// TagTrainDuration): "client/<id>/<name>".
func ClientTag(client int, name string) string {
	return "client/" + strconv.Itoa(client) + "/" + name
}

// TensorBoard is the [Recorder] that writes a job's per-round scalars to
// a TensorBoard event file in a directory (step = round): the round's
// test accuracy and loss, train loss, round/train/communication/
// aggregation/evaluation seconds, bytes up and down and the compression
// ratio, the worker ranks that took part and the ranks lost during the
// round, and each trained client's train loss and train seconds under
// client/<id>/. See the Tag constants. It flushes after every round, so
// a job that crashes leaves a readable file.
//
// Start removes the event files a previous run left in the directory and
// creates a new one; Finish closes it. Call Close when the job failed.
//
// A resumed job's TensorBoard (NewResumedTensorBoard) continues the
// event file the checkpoint recorded: Start cuts it back to its size
// at the checkpoint, dropping the events of the rounds that are redone,
// and appends to it.
type TensorBoard struct {
	dir    string
	w      *tboard.Writer
	resume *Checkpoint
}

// NewTensorBoard returns a TensorBoard recorder writing into dir; it
// touches no file before Start.
func NewTensorBoard(dir string) *TensorBoard { return &TensorBoard{dir: dir} }

// NewResumedTensorBoard returns the TensorBoard recorder of a job that
// resumes from ck, writing into dir.
func NewResumedTensorBoard(dir string, ck *Checkpoint) *TensorBoard {
	return &TensorBoard{dir: dir, resume: ck}
}

// key is the name of the event file at path in Checkpoint.Files: its
// path relative to the parent of the recorder's directory (the results
// folder), as "tb/events.out.tfevents…".
func (t *TensorBoard) key(path string) string {
	return filepath.Base(t.dir) + "/" + filepath.Base(path)
}

// Dir returns the directory of the event file.
func (t *TensorBoard) Dir() string { return t.dir }

// Start creates the event file.
func (t *TensorBoard) Start(Setup) error {
	if t.resume != nil {
		for name, size := range t.resume.Files {
			if dir, file := filepath.Split(name); dir == filepath.Base(t.dir)+"/" && strings.HasPrefix(file, tboard.FilePrefix) {
				w, err := tboard.Append(filepath.Join(t.dir, file), size)
				if err != nil {
					return err
				}
				t.w = w
				return nil
			}
		}
		// The checkpoint knows no event file (TensorBoard was off): a new one.
		w, err := tboard.Create(t.dir)
		if err != nil {
			return err
		}
		t.w = w
		return nil
	}
	if err := tboard.RemoveFiles(t.dir); err != nil {
		return err
	}
	w, err := tboard.Create(t.dir)
	if err != nil {
		return err
	}
	t.w = w
	return nil
}

// Round writes the round's scalars as one event and flushes it.
func (t *TensorBoard) Round(r RoundResult) error {
	vals := make([]tboard.Scalar, 0, 13+2*len(r.Clients))
	vals = append(vals,
		tboard.Scalar{Tag: TagTestAccuracy, Value: r.Metrics.Accuracy()},
		tboard.Scalar{Tag: TagTestLoss, Value: r.Metrics.Loss()},
		tboard.Scalar{Tag: TagTrainLoss, Value: r.TrainLoss},
		tboard.Scalar{Tag: TagRoundDuration, Value: r.RoundTime.Seconds()},
		tboard.Scalar{Tag: TagTrainDuration, Value: r.TrainTime.Seconds()},
		tboard.Scalar{Tag: TagCommDuration, Value: r.CommTime.Seconds()},
		tboard.Scalar{Tag: TagAggDuration, Value: r.AggTime.Seconds()},
		tboard.Scalar{Tag: TagEvalDuration, Value: r.EvalTime.Seconds()},
		tboard.Scalar{Tag: TagBytesUp, Value: float64(r.BytesUp)},
		tboard.Scalar{Tag: TagBytesDown, Value: float64(r.BytesDown)},
		tboard.Scalar{Tag: TagCompression, Value: r.CompressionUp()},
		tboard.Scalar{Tag: TagWorkers, Value: float64(r.Workers)},
		tboard.Scalar{Tag: TagLostRanks, Value: float64(len(r.Lost))},
	)
	for _, c := range r.Clients {
		vals = append(vals,
			tboard.Scalar{Tag: ClientTag(c.Client, TagTrainLoss), Value: c.Loss},
			tboard.Scalar{Tag: ClientTag(c.Client, TagTrainDuration), Value: c.Time.Seconds()})
	}
	if err := t.w.Write(int64(r.Round), time.Now(), vals); err != nil {
		return err
	}
	return t.w.Flush()
}

// Checkpoint syncs the event file and records its size in c.Files.
func (t *TensorBoard) Checkpoint(c *Checkpoint) error {
	if t.w == nil {
		return fmt.Errorf("fed: tensorboard: checkpoint: no event file open")
	}
	size, err := t.w.Sync()
	if err != nil {
		return err
	}
	if c.Files == nil {
		c.Files = map[string]int64{}
	}
	c.Files[t.key(t.w.Path())] = size
	return nil
}

// Finish closes the event file.
func (t *TensorBoard) Finish(trainer.Checkpoint) error { return t.Close() }

// Close closes the event file if it is open. It may be called more than
// once.
func (t *TensorBoard) Close() error {
	if t.w == nil {
		return nil
	}
	err := t.w.Close()
	t.w = nil
	return err
}
