package fed

import (
	"strconv"
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
type TensorBoard struct {
	dir string
	w   *tboard.Writer
}

// NewTensorBoard returns a TensorBoard recorder writing into dir; it
// touches no file before Start.
func NewTensorBoard(dir string) *TensorBoard { return &TensorBoard{dir: dir} }

// Dir returns the directory of the event file.
func (t *TensorBoard) Dir() string { return t.dir }

// Start creates the event file.
func (t *TensorBoard) Start(Setup) error {
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
