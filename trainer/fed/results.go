package fed

import (
	"fmt"
	"io"
	"time"

	"github.com/fltk-go/fltk/trainer"
)

// Recorder receives the results of a federated job. [Run] calls it on
// rank 0 only, from one goroutine: Start once before the first round,
// Round after every round, and Finish once after the last round of a job
// that succeeded. A job that fails stops calling it; whoever created the
// Recorder releases what it holds (for example [CSV.Close]).
//
// An error from a Recorder fails the job. [CSV] writes the results files,
// [Progress] prints a line per round; [MultiRecorder] combines them.
type Recorder interface {
	// Start describes the job before its first round.
	Start(s Setup) error
	// Round records one round.
	Round(r RoundResult) error
	// Finish records the final global model.
	Finish(final trainer.Checkpoint) error
}

// Setup describes a federated job to a [Recorder] before its first round.
type Setup struct {
	Rounds   int // rounds configured (fewer run when the target accuracy is reached)
	Resumed  int // rounds done before this run: it resumes from a checkpoint after round Resumed (0: a new job)
	Clients  int // logical clients
	PerRound int // clients selected each round
	Workers  int // ranks hosting clients: 1..Workers
	Params   int // parameters of the model
	Classes  int // classes of the data set

	// Partition holds each client's share of the training set, by client.
	Partition []ClientData
}

// ClientData is one client's share of the training set.
type ClientData struct {
	Samples int   // training samples the client holds
	Labels  []int // Labels[k] counts the client's samples of class k
}

// RoundResult is what the federator knows about a round.
type RoundResult struct {
	Round     int             // 1-based
	Metrics   trainer.Metrics // the new global model on the test set
	Samples   int             // training samples the round's clients trained on
	Steps     int             // optimizer steps the round's clients took
	TrainLoss float64         // sample-weighted mean of the clients' mean training losses

	RoundTime time.Duration // the whole round
	TrainTime time.Duration // the slowest worker's local training
	CommTime  time.Duration // the rest: RoundTime − TrainTime − EvalTime − AggTime, ≥ 0
	EvalTime  time.Duration // the distributed evaluation
	AggTime   time.Duration // the strategy's aggregation on the federator

	BytesUp    int64 // wire bytes the workers sent with their updates
	BytesDown  int64 // wire bytes the ranks received with the previous global model
	RawBytesUp int64 // the updates' bytes before the codec: RawBytesUp / BytesUp is its compression

	Clients []ClientResult // the clients that trained, rank by rank in training order

	// TargetReached says the test accuracy reached the target accuracy:
	// this is the last round.
	TargetReached bool

	// Selected are the clients selected for the round, sorted.
	Selected []int
	// Epoch is the world's epoch when the round ended: 0 until a rank is
	// lost (see [Membership]), one more each time the world shrank.
	Epoch int
	// Workers is the number of worker ranks that took part in the round.
	Workers int
	// Attempts is how many times the round was begun: 1, more when it
	// was redone after ranks were lost.
	Attempts int
	// Lost are the ranks lost during the round, by world rank.
	Lost []LostRank
	// DeadFrames counts the frames of ended epochs rank 0 dropped so far.
	DeadFrames int64
	// Rejoined are the ranks taken back at the start of the round (new
	// processes for ranks lost before), by world rank.
	Rejoined []int
}

// LostRank is a rank the job went on without.
type LostRank struct {
	Rank int    // world rank
	Late bool   // it missed federated.round_timeout (else it died, was cut off or did not answer)
	Why  string // why it was left out
}

// ClientResult is one client's part in a round.
type ClientResult struct {
	Client  int           // logical client id
	Rank    int           // the worker that trained it
	Samples int           // training samples it trained on
	Steps   int           // optimizer steps it took
	Loss    float64       // its mean training loss
	Time    time.Duration // its training time
}

// Phase is a step of a round that [Config.OnPhase] reports.
type Phase int

// The phases a rank reports.
const (
	// PhaseTraining: the round started; on a worker, Done of its Total
	// selected clients finished training (reported again after each
	// one). The federator reports it once at the start of the round with
	// Done 0 and Total the clients selected on all workers.
	PhaseTraining Phase = iota + 1
	// PhaseEvaluating: the rank received the new global model and is
	// evaluating it.
	PhaseEvaluating
)

// String returns "training" or "evaluating".
func (p Phase) String() string {
	switch p {
	case PhaseTraining:
		return "training"
	case PhaseEvaluating:
		return "evaluating"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// PhaseEvent is what a rank reports to [Config.OnPhase].
type PhaseEvent struct {
	Rank   int
	Round  int // 1-based
	Rounds int // configured
	Phase  Phase
	Done   int // PhaseTraining: clients this rank finished training this round
	Total  int // PhaseTraining: the round's clients on this rank (the federator: on all workers)
}

// MultiRecorder returns a Recorder that passes every call to each of rs
// in order, stopping at the first error, as [io.MultiWriter] does.
func MultiRecorder(rs ...Recorder) Recorder { return multiRecorder(rs) }

type multiRecorder []Recorder

func (m multiRecorder) Start(s Setup) error {
	for _, r := range m {
		if err := r.Start(s); err != nil {
			return err
		}
	}
	return nil
}

func (m multiRecorder) Round(rr RoundResult) error {
	for _, r := range m {
		if err := r.Round(rr); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoint passes c to each recorder that is a [Checkpointer], in order.
func (m multiRecorder) Checkpoint(c *Checkpoint) error {
	for _, r := range m {
		if cp, ok := r.(Checkpointer); ok {
			if err := cp.Checkpoint(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m multiRecorder) Finish(final trainer.Checkpoint) error {
	for _, r := range m {
		if err := r.Finish(final); err != nil {
			return err
		}
	}
	return nil
}

// discard is the Recorder of a job given none.
type discard struct{}

func (discard) Start(Setup) error               { return nil }
func (discard) Round(RoundResult) error         { return nil }
func (discard) Finish(trainer.Checkpoint) error { return nil }

// Progress is a [Recorder] that prints a line to W when the job starts,
// one per round (test accuracy and loss, times, an ETA) and one when it is
// done. The round lines begin with "round k/R". It ignores write errors:
// a lost progress line does not fail a job.
type Progress struct {
	w       io.Writer
	results string
	rounds  int
	resumed int // Setup.Resumed
	started time.Time
}

// NewProgress returns a Progress that prints to w. When results is not
// empty, the first and last lines name it as where the results are.
func NewProgress(w io.Writer, results string) *Progress {
	return &Progress{w: w, results: results}
}

// suffix names where the results are, if known.
func (p *Progress) suffix() string {
	if p.results == "" {
		return ""
	}
	return "; results in " + p.results
}

// Start prints the job's size and starts the clock of the ETA.
func (p *Progress) Start(s Setup) error {
	p.started, p.rounds, p.resumed = time.Now(), s.Rounds, s.Resumed
	fmt.Fprintf(p.w, "fed: %d clients on %d workers, %d per round; %d parameters%s\n",
		s.Clients, s.Workers, s.PerRound, s.Params, p.suffix())
	if s.Resumed > 0 {
		fmt.Fprintf(p.w, "fed: resumed after round %d/%d\n", s.Resumed, s.Rounds)
	}
	return nil
}

// Round prints the round's line.
func (p *Progress) Round(r RoundResult) error {
	elapsed := time.Since(p.started)
	eta := time.Duration(float64(elapsed) / float64(max(r.Round-p.resumed, 1)) * float64(p.rounds-r.Round))
	line := fmt.Sprintf("round %d/%d  test accuracy %.2f%%  test loss %.4f  train loss %.4f  %d clients  %.1fs (train %.1fs, comm %.2fs)  ETA %s",
		r.Round, p.rounds, 100*r.Metrics.Accuracy(), r.Metrics.Loss(), r.TrainLoss, len(r.Clients),
		r.RoundTime.Seconds(), r.TrainTime.Seconds(), r.CommTime.Seconds(), eta.Round(time.Second))
	if r.TargetReached {
		line += "  (target reached)"
	}
	for _, l := range r.Lost {
		what := "lost"
		if l.Late {
			what = "late, left out"
		}
		line += fmt.Sprintf("  [rank %d %s: %s]", l.Rank, what, l.Why)
	}
	if len(r.Rejoined) > 0 {
		line += fmt.Sprintf("  [ranks %v rejoined]", r.Rejoined)
	}
	if r.Attempts > 1 {
		line += fmt.Sprintf("  (attempt %d, %d workers)", r.Attempts, r.Workers)
	}
	fmt.Fprintln(p.w, line)
	return nil
}

// Finish prints how long the job took.
func (p *Progress) Finish(trainer.Checkpoint) error {
	fmt.Fprintf(p.w, "fed: done in %s%s\n", time.Since(p.started).Round(time.Millisecond), p.suffix())
	return nil
}

// CompressionUp is RawBytesUp / BytesUp: how many times fewer bytes the
// codec put on the wire than the updates hold (wire bytes include frame
// headers, so no codec gives slightly under 1). It is 1 when nothing was
// sent.
func (r *RoundResult) CompressionUp() float64 {
	if r.BytesUp == 0 {
		return 1
	}
	return float64(r.RawBytesUp) / float64(r.BytesUp)
}
