package fed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/partition"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// TestSets lists the values of Config.TestSet, the default first.
var TestSets = []string{"full", "odd-half"}

// Config configures a federated job: [Run] takes it on every rank. Start
// from [DefaultConfig]. A zero field whose documentation names a default
// takes that default in [Config.Validate]; the other zeros mean what their
// documentation says.
type Config struct {
	// Seed seeds every random choice of the job: the clients selected each
	// round, the partition, the models' initial weights and each client's
	// sample order. Default 42; any value, 0 included.
	Seed int64

	// Rounds is the number of federated rounds. Default 5; ≥ 1.
	Rounds int

	// Clients is the number of logical clients the training data is split
	// into; client c lives on worker rank 1 + c mod (N−1) (of the live
	// ranks, renumbered, once the world shrank: see [Membership]). 0 means one
	// client per worker. Default 0; ≥ 0.
	Clients int

	// ClientsPerRound is how many clients train each round, chosen by
	// [Select]. 0 means all of them. Default 0; 0..Clients.
	ClientsPerRound int

	// EpochsPerCycle is how many passes over its local data a selected
	// client makes each round; fractions allowed. Default 1; > 0.
	EpochsPerCycle float64

	// Strategy aggregates the clients' updates; [strategy.New] builds it.
	// A strategy that chooses the clients' learning rate
	// ([strategy.ClientLearningRate]) overrides Optimizer.LR. Default
	// FedAvg, with Flower's FedAdam parameters and μ = 0.01, and no client
	// learning rate of the strategy's own (EtaL 0).
	Strategy strategy.Config

	// Parallel is how many clients one worker trains at once, each in its
	// own goroutine with its own model. 0 means the worker's GOMAXPROCS.
	// Default 0; ≥ 0.
	Parallel int

	// Hook, if not nil, is called on this rank before each step of a
	// round: "train", "reduce", "gather", "aggregate", "commit",
	// "broadcast", "evaluate", "record" (rank 0 alone does something in
	// aggregate, commit and record), with the round's context (done when
	// the round times out or, with Membership, its epoch ends). It is for
	// tests that must act at a precise point, such as killing a rank in
	// the middle of a reduce.
	Hook func(ctx context.Context, round int, step string)

	// MinWorkers is the fewest worker ranks a job with Membership goes on
	// with: below it, the job fails naming the lost ranks. Default 1;
	// ≥ 1.
	MinWorkers int

	// Membership, if not nil, lets the job go on when worker ranks are
	// lost: the world shrinks to the live ranks and the round is redone
	// (see [Membership]). Nil: a lost rank fails the job.
	Membership *Membership

	// TargetAccuracy stops the job after the first round whose test
	// accuracy, a fraction, reaches it. 0 means run every round. Default
	// 0; 0..1.
	TargetAccuracy float64

	// RoundTimeout bounds one round: every collective of the round and the
	// federator's wait for the clients' updates. Default 1h; > 0.
	RoundTimeout time.Duration

	// Dataset is the data set, one of [data.Names]. Default "mnist".
	Dataset string

	// DataDir is the directory holding the data sets. Default "data".
	DataDir string

	// TestSet is the part of the test split the global model is evaluated
	// on: "full" or "odd-half" (its odd-indexed half, as FLTK). Default
	// "full".
	TestSet string

	// SeqLen is the sequence length of the text data sets, in characters.
	// Default 80; ≥ 1.
	SeqLen int

	// Partition is the scheme that splits the training set over the
	// clients, one of [partition.Schemes], and PartitionArgs its
	// parameters; Seed seeds it. Default "iid", no arguments.
	Partition     string
	PartitionArgs []float64

	// Net is the model, one of [model.Names]. Default "MNIST2NN".
	Net string

	// BatchSize is the clients' mini-batch size, in samples. Default 10;
	// ≥ 1.
	BatchSize int

	// EvalBatchSize is the batch size of the evaluation, in samples.
	// Default 100; ≥ 1.
	EvalBatchSize int

	// Optimizer is each client's optimizer; LR is the clients' base
	// learning rate, which Schedule decays. Default SGD with LR 0.05 and
	// no momentum (LR 0 means 0.05).
	Optimizer optim.Config

	// Schedule decays the clients' learning rate once per round a client
	// takes part in (its epoch). Default none.
	Schedule optim.ScheduleConfig

	// ClipNorm clips the global gradient norm of every step. 0 means no
	// clipping. Default 0; ≥ 0.
	ClipNorm float64

	// KeepOptimizerState keeps each client's optimizer (momentum, Adam's
	// moments) from one round it takes part in to the next, as FLTK's
	// long-lived clients do. Default false: a fresh optimizer every round,
	// as in McMahan et al.
	KeepOptimizerState bool

	// Checkpoints makes the job take checkpoints: after every
	// CheckpointEvery rounds and after its last round, every worker sends
	// rank 0 what it keeps between rounds, and rank 0 hands the whole
	// [Checkpoint] to its recorder if that is a [Checkpointer]. Every rank
	// must agree. Default false.
	Checkpoints bool

	// CheckpointEvery is the number of rounds between checkpoints (with
	// Checkpoints); 0 means only after the last round. Default 0; ≥ 0.
	CheckpointEvery int

	// OnPhase, if not nil, is told on every rank what the rank is doing
	// in a round: a live view of the job, for progress displays. It is
	// called one call at a time, from the job's goroutines, and should
	// return quickly. Default nil.
	OnPhase func(PhaseEvent)
}

// DefaultConfig returns the default configuration: McMahan's MNIST 2NN
// on IID MNIST, one client per worker, FedAvg, five rounds. It is valid.
func DefaultConfig() Config {
	st := strategy.DefaultConfig()
	st.EtaL = 0
	opt := optim.DefaultConfig()
	opt.LR = 0.05
	sched := optim.DefaultScheduleConfig()
	sched.EtaMin = sched.MinLR
	return Config{
		Seed:           42,
		Rounds:         5,
		EpochsPerCycle: 1,
		Strategy:       st,
		RoundTimeout:   time.Hour,
		MinWorkers:     1,
		Dataset:        "mnist",
		DataDir:        "data",
		TestSet:        "full",
		SeqLen:         80,
		Partition:      "iid",
		Net:            "MNIST2NN",
		BatchSize:      10,
		EvalBatchSize:  100,
		Optimizer:      opt,
		Schedule:       sched,
	}
}

// Validate fills the zero fields that have a default, canonicalises the
// names of the strategy, optimizer and schedule, and reports every value
// out of range, joined with [errors.Join], each wrapping [ErrConfig].
// Whether ClientsPerRound fits the world (Clients 0) and whether Net fits
// Dataset are checked by [Run].
func (c *Config) Validate() error {
	def := DefaultConfig()
	fill := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	fill(&c.Rounds, def.Rounds)
	fill(&c.MinWorkers, def.MinWorkers)
	fill(&c.SeqLen, def.SeqLen)
	fill(&c.BatchSize, def.BatchSize)
	fill(&c.EvalBatchSize, def.EvalBatchSize)
	fillStr := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	fillStr(&c.Dataset, def.Dataset)
	fillStr(&c.DataDir, def.DataDir)
	fillStr(&c.TestSet, def.TestSet)
	fillStr(&c.Partition, def.Partition)
	fillStr(&c.Net, def.Net)
	if c.EpochsPerCycle == 0 {
		c.EpochsPerCycle = def.EpochsPerCycle
	}
	if c.RoundTimeout == 0 {
		c.RoundTimeout = def.RoundTimeout
	}
	if c.Optimizer.LR == 0 {
		c.Optimizer.LR = def.Optimizer.LR
	}

	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Rounds < 1 {
		bad("rounds %d must be ≥ 1", c.Rounds)
	}
	if c.Clients < 0 {
		bad("clients %d must be ≥ 0", c.Clients)
	}
	if c.ClientsPerRound < 0 || (c.Clients > 0 && c.ClientsPerRound > c.Clients) {
		bad("clients per round %d must be in 0..%d (the clients)", c.ClientsPerRound, c.Clients)
	}
	if !positiveFinite(c.EpochsPerCycle) {
		bad("epochs per cycle %v must be > 0", c.EpochsPerCycle)
	}
	if c.CheckpointEvery < 0 {
		bad("checkpoint every %d rounds must be ≥ 0", c.CheckpointEvery)
	}
	if c.Parallel < 0 {
		bad("parallel %d must be ≥ 0", c.Parallel)
	}
	if !(c.TargetAccuracy >= 0 && c.TargetAccuracy <= 1) {
		bad("target accuracy %v must be in 0..1", c.TargetAccuracy)
	}
	if c.RoundTimeout < 0 {
		bad("round timeout %v must be > 0", c.RoundTimeout)
	}
	if c.MinWorkers < 1 {
		bad("min workers %d must be ≥ 1", c.MinWorkers)
	}
	if !slices.Contains(data.Names(), c.Dataset) {
		bad("data set %q is not one of %s", c.Dataset, strings.Join(data.Names(), ", "))
	}
	if !slices.Contains(TestSets, c.TestSet) {
		bad("test set %q is not one of %s", c.TestSet, strings.Join(TestSets, ", "))
	}
	if c.SeqLen < 1 {
		bad("sequence length %d must be ≥ 1", c.SeqLen)
	}
	if !slices.Contains(model.Names(), c.Net) {
		bad("net %q is not one of %s", c.Net, strings.Join(model.Names(), ", "))
	}
	if c.BatchSize < 1 {
		bad("batch size %d must be ≥ 1", c.BatchSize)
	}
	if c.EvalBatchSize < 1 {
		bad("eval batch size %d must be ≥ 1", c.EvalBatchSize)
	}
	if !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 0) {
		bad("clip norm %v must be ≥ 0", c.ClipNorm)
	}
	pc := partition.Config{Scheme: c.Partition, Args: c.PartitionArgs}
	if err := pc.Validate(); err != nil {
		bad("partition: %w", err)
	}
	if err := c.Strategy.Validate(); err != nil {
		bad("strategy: %w", err)
	}
	if err := c.Optimizer.Validate(); err != nil {
		bad("optimizer: %w", err)
	} else if !(c.Optimizer.LR > 0) {
		bad("optimizer: learning rate %v must be > 0", c.Optimizer.LR)
	}
	if err := c.Schedule.Validate(); err != nil {
		bad("schedule: %w", err)
	}
	return errors.Join(errs...)
}

func positiveFinite(x float64) bool { return x > 0 && !math.IsInf(x, 0) }
