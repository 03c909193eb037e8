package fed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/partition"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// metaFields is the number of float64 values per client in the metadata
// gather: client+1 (0 = empty slot), samples, steps, loss, train seconds.
const metaFields = 5

// rankFields is the number of per-rank values at the end of a worker's
// metadata block: training wall seconds, bytes up, bytes down.
const rankFields = 3

// job is one rank's view of a federated training job.
type job struct {
	cfg      *configs.Config
	comm     *collective.Comm
	out      io.Writer
	rank     int
	size     int
	clients  int
	perRound int
	parallel int

	train, test *data.Set
	parts       [][]int // client -> training sample indices
	hosted      []int   // clients on this rank
	testIdx     []int   // this rank's stride of the test set
	strat       strategy.Strategy
	sched       optim.Schedule
	aug         data.Augmenter

	models   []model.Model // [0] also evaluates
	info     strategy.Info
	global   []float32
	selected map[int]int       // client -> times it has been selected (its scheduler epoch)
	opts     []optim.Optimizer // client -> its optimizer, kept across rounds with train.keep_optimizer_state
	res      *results          // rank 0 only
}

// Run runs the federated job of cfg on this rank and returns when every
// round is done (or the target accuracy is reached). Rank 0 prints
// progress to out and writes the results.
func Run(ctx context.Context, comm *collective.Comm, cfg *configs.Config, out io.Writer) (err error) {
	j := &job{cfg: cfg, comm: comm, out: out, rank: comm.Rank(), size: comm.Size(), selected: map[int]int{}}
	if j.size < 2 {
		return fmt.Errorf("fed: needs a federator and at least one worker, world size is %d", j.size)
	}
	if err := j.setup(); err != nil {
		return err
	}
	defer func() {
		for _, m := range j.models {
			_ = m.Close()
		}
	}()
	return j.run(ctx)
}

// setup loads data, splits it, builds models and the strategy.
func (j *job) setup() error {
	f, d, t := &j.cfg.Federated, &j.cfg.Data, &j.cfg.Train
	j.clients = f.Clients
	if j.clients == 0 {
		j.clients = j.size - 1
	}
	j.perRound = f.ClientsPerRound
	if j.perRound == 0 {
		j.perRound = j.clients
	}
	opts := data.Options{SeqLen: d.SeqLen}
	var err error
	if j.train, err = data.Load(d.Dataset, d.Path, true, opts); err != nil {
		return fmt.Errorf("fed: rank %d: %w", j.rank, err)
	}
	if j.test, err = data.Load(d.Dataset, d.Path, false, opts); err != nil {
		return fmt.Errorf("fed: rank %d: %w", j.rank, err)
	}
	if d.TestSet == "odd-half" {
		var odd []int
		for i := 1; i < j.test.Len(); i += 2 {
			odd = append(odd, i)
		}
		j.test = j.test.Subset(odd)
	}
	if err := checkModelData(t.Net, j.train); err != nil {
		return err
	}
	j.parts, err = partition.Split(j.train.Labels(), j.train.Classes, j.clients, j.train.Groups,
		partition.Config{Scheme: d.Sampler, Args: d.SamplerArgs, Seed: uint64(j.cfg.Job.Seed)})
	if err != nil {
		return fmt.Errorf("fed: split %d training samples over %d clients: %w", j.train.Len(), j.clients, err)
	}
	sc := strategy.Config{Name: f.Strategy, ProximalMu: f.ProximalMu, Eta: f.Eta, EtaL: f.EtaL, Beta1: f.Beta1, Beta2: f.Beta2, Tau: f.Tau}
	if j.strat, err = strategy.New(sc); err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	if j.sched, err = optim.NewSchedule(optim.ScheduleConfig{Name: t.Scheduler, StepSize: t.SchedulerStepSize,
		Gamma: t.SchedulerGamma, MinLR: t.MinLR, TMax: t.SchedulerStepSize, EtaMin: t.MinLR}); err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	j.aug = data.TrainAugmenter(d.Dataset)

	j.opts = make([]optim.Optimizer, j.clients)
	for c := range j.clients {
		if j.workerOf(c) == j.rank {
			j.hosted = append(j.hosted, c)
		}
	}
	for i := j.rank; i < j.test.Len(); i += j.size {
		j.testIdx = append(j.testIdx, i)
	}
	j.parallel = f.Parallel
	if j.parallel == 0 {
		j.parallel = goruntime.GOMAXPROCS(0)
	}
	j.parallel = max(1, min(j.parallel, len(j.hosted)))
	mc := modelConfig(j.cfg, j.train)
	for i := 0; i < j.parallel; i++ {
		m, err := model.New(t.Net, mc)
		if err != nil {
			for _, m := range j.models {
				_ = m.Close()
			}
			j.models = nil
			return fmt.Errorf("fed: %w", err)
		}
		j.models = append(j.models, m)
	}
	j.global = j.models[0].State(nil)
	j.info = strategy.Info{Buffers: j.models[0].Buffers()}
	if j.rank == 0 {
		if j.res, err = newResults(j.cfg, j.train, j.parts); err != nil {
			return err
		}
	}
	return nil
}

// modelConfig derives the model's configuration from the job's.
func modelConfig(cfg *configs.Config, set *data.Set) model.Config {
	mc := model.DefaultConfig()
	mc.Batch = cfg.Train.BatchSize
	mc.EvalBatch = cfg.Train.EvalBatchSize
	mc.Seed = uint64(cfg.Job.Seed)
	mc.Classes = set.Classes
	if set.LabelsPerSample > 1 { // a sequence model: one label per time step
		mc.SeqLen = set.Shape[0]
	}
	return mc
}

// checkModelData rejects a model that cannot take the data set's samples.
func checkModelData(net string, set *data.Set) error {
	info, err := model.Info(net)
	if err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	text := set.LabelsPerSample > 1
	switch {
	case info.InputShape == nil && !text: // a sequence model
		return fmt.Errorf("%w: train.net: %s is a sequence model for the text data sets (opticks, bible), but data set %q holds images of shape %v",
			configs.ErrInvalid, net, set.Name, set.Shape)
	case info.InputShape != nil && !slices.Equal(info.InputShape, set.Shape):
		return fmt.Errorf("%w: train.net: %s takes samples of shape %v, but data set %q has %v",
			configs.ErrInvalid, net, info.InputShape, set.Name, set.Shape)
	}
	return nil
}

// Select returns the clients that train in round (1-based): perRound of
// clients, a pure function of (seed, round), sorted.
func Select(seed int64, round, clients, perRound int) []int {
	if perRound >= clients {
		all := make([]int, clients)
		for i := range all {
			all[i] = i
		}
		return all
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5e1ec7^uint64(round)))
	sel := rng.Perm(clients)[:perRound]
	slices.Sort(sel)
	return sel
}

// clientSeed seeds client c's sample order in round.
func clientSeed(seed int64, round, c int) uint64 {
	x := uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(round)*0xBF58476D1CE4E5B9 ^ uint64(c+1)*0x94D049BB133111EB
	x ^= x >> 31
	x *= 0xD6E8FEDD2F0A2C35
	return x ^ x>>29
}

// workerOf returns the rank that hosts client c: the workers 1..size−1
// take the clients round-robin, so client c lives on 1 + c mod (size−1).
func (j *job) workerOf(c int) int { return 1 + c%(j.size-1) }

// roundCtx bounds one round.
func (j *job) roundCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, j.cfg.Federated.RoundTimeout.Duration)
}

func (j *job) run(ctx context.Context) error {
	f := &j.cfg.Federated
	bctx, cancel := j.roundCtx(ctx)
	var down collective.Stats
	err := collective.Broadcast(bctx, j.comm, j.global, 0, collective.WithStats(&down))
	cancel()
	if err != nil {
		return fmt.Errorf("fed: initial broadcast: %w", err)
	}
	if j.rank == 0 {
		j.res.start(j.out, j.clients, j.perRound, j.size-1, j.models[0].NumParams())
	}
	for round := 1; round <= f.Rounds; round++ {
		stop, err := j.round(ctx, round, &down)
		if err != nil {
			return fmt.Errorf("fed: round %d: %w", round, err)
		}
		if stop {
			break
		}
	}
	if j.rank == 0 {
		if err := j.res.finish(j.out, j.cfg, j.models[0].Name(), j.info.Buffers, j.global); err != nil {
			return err
		}
	}
	return nil
}

// clientOut is one client's result on a worker.
type clientOut struct {
	client int
	res    trainer.Result
	weight float64
	state  []float32 // the trained state, kept for strategies that need every update
}

// round runs one round; down holds the bytes this rank received with the
// broadcast that delivered the model trained in this round.
func (j *job) round(ctx context.Context, round int, down *collective.Stats) (stop bool, err error) {
	rctx, cancel := j.roundCtx(ctx)
	defer cancel()
	t0 := time.Now()
	sel := Select(j.cfg.Job.Seed, round, j.clients, j.perRound)
	var mine []int
	for _, c := range sel {
		if j.workerOf(c) == j.rank {
			mine = append(mine, c)
		}
	}

	// Local training, folded into a weighted sum.
	mean := make([]float32, len(j.global))
	var outs []clientOut
	var weight float64
	var trainWall time.Duration
	if len(mine) > 0 {
		tt := time.Now()
		outs, weight, err = j.trainLocal(rctx, round, mine, mean)
		if err != nil {
			return false, err
		}
		trainWall = time.Since(tt)
	}

	// Partial means to the federator, or every client's state when the
	// strategy needs each one.
	var up collective.Stats
	agg := mean
	var states []float32 // rank 0, individual strategies: perWorker states per rank
	perWorker := 0
	if j.strat.Individual() {
		if states, perWorker, err = j.gatherStates(rctx, sel, outs, &up); err != nil {
			return false, err
		}
	} else {
		if j.rank == 0 {
			agg = make([]float32, len(j.global))
		}
		if err := collective.Reduce(rctx, j.comm, agg, mean, collective.WeightedMean, 0,
			collective.WithWeight(weight), collective.WithStats(&up)); err != nil {
			return false, fmt.Errorf("reduce updates: %w", err)
		}
	}
	slots := (j.clients + j.size - 2) / (j.size - 1)
	block := slots*metaFields + rankFields
	meta := make([]float64, block)
	for i, o := range outs {
		m := meta[i*metaFields:]
		m[0], m[1], m[2], m[3], m[4] = float64(o.client+1), float64(o.res.Samples), float64(o.res.Steps), o.res.Loss, o.res.Duration.Seconds()
	}
	meta[slots*metaFields] = trainWall.Seconds()
	meta[slots*metaFields+1] = float64(up.WireSent)
	meta[slots*metaFields+2] = float64(down.WireRecv)
	var all []float64
	if j.rank == 0 {
		all = make([]float64, j.size*block)
	}
	if err := collective.Gather(rctx, j.comm, all, meta, 0); err != nil {
		return false, fmt.Errorf("gather client metadata: %w", err)
	}

	// Aggregate.
	var rec roundRecord
	ta := time.Now()
	if j.rank == 0 {
		rec = j.collect(round, all, slots, block)
		if rec.samples == 0 {
			return false, fmt.Errorf("no client trained (selected %v)", sel)
		}
		upd := []strategy.Update{{Client: -1, State: agg, Samples: rec.samples, Steps: rec.steps, TrainLoss: rec.trainLoss}}
		if states != nil {
			upd = individualUpdates(rec, states, perWorker, len(j.global))
		}
		j.info.Round = round
		if err := j.strat.Aggregate(j.info, j.global, upd); err != nil {
			return false, fmt.Errorf("aggregate: %w", err)
		}
	}
	aggTime := time.Since(ta)

	// New global model to everyone.
	*down = collective.Stats{}
	if err := collective.Broadcast(rctx, j.comm, j.global, 0, collective.WithStats(down)); err != nil {
		return false, fmt.Errorf("broadcast global model: %w", err)
	}

	// Distributed evaluation.
	te := time.Now()
	ev := j.models[0]
	if err := ev.LoadState(j.global); err != nil {
		return false, err
	}
	met, err := trainer.Evaluate(rctx, ev, j.test, j.testIdx, j.cfg.Train.EvalBatchSize)
	if err != nil {
		return false, err
	}
	vec := met.Vector()
	sum := make([]float64, len(vec))
	if err := collective.AllReduce(rctx, j.comm, sum, vec, collective.Sum); err != nil {
		return false, fmt.Errorf("allreduce test metrics: %w", err)
	}
	met, err = trainer.MetricsFromVector(j.test.Classes, sum)
	if err != nil {
		return false, err
	}
	evalTime := time.Since(te)
	stop = j.cfg.Federated.TargetAccuracy > 0 && met.Accuracy() >= j.cfg.Federated.TargetAccuracy
	if j.rank == 0 {
		rec.round, rec.met = round, met
		rec.roundTime, rec.evalTime, rec.aggTime = time.Since(t0), evalTime, aggTime
		if err := j.res.record(j.out, rec, j.cfg.Federated.Rounds, stop); err != nil {
			return false, err
		}
	}
	return stop, nil
}

// gatherStates brings every selected client's trained state to rank 0:
// each rank contributes one block of perWorker states (the most any worker
// trained this round, which every rank computes from the selection),
// its clients' states in the order it trained them, the rest zero. On
// rank 0 it returns the gathered blocks, rank by rank.
func (j *job) gatherStates(ctx context.Context, sel []int, outs []clientOut, up *collective.Stats) ([]float32, int, error) {
	counts := make([]int, j.size)
	for _, c := range sel {
		counts[j.workerOf(c)]++
	}
	perWorker := slices.Max(counts)
	n := len(j.global)
	block := make([]float32, perWorker*n)
	for i, o := range outs {
		copy(block[i*n:(i+1)*n], o.state)
	}
	var all []float32
	if j.rank == 0 {
		all = make([]float32, j.size*perWorker*n)
	}
	if err := collective.Gather(ctx, j.comm, all, block, 0, collective.WithStats(up)); err != nil {
		return nil, 0, fmt.Errorf("gather client states: %w", err)
	}
	return all, perWorker, nil
}

// individualUpdates pairs the gathered states with the clients' metadata:
// the clients of rank r come in rec in the order r trained them, which is
// the order of its states.
func individualUpdates(rec roundRecord, states []float32, perWorker, n int) []strategy.Update {
	upd := make([]strategy.Update, 0, len(rec.clients))
	next := map[int]int{} // rank → index of its next state
	for _, c := range rec.clients {
		i := next[c.rank]
		next[c.rank]++
		off := (c.rank*perWorker + i) * n
		upd = append(upd, strategy.Update{Client: c.client, State: states[off : off+n], Samples: c.samples, Steps: c.steps, TrainLoss: c.loss})
	}
	return upd
}

// trainLocal trains the clients mine with j.parallel models and writes
// the weighted mean of their states into mean. Client i is trained by
// goroutine i mod parallel, and the sums are folded in a fixed order, so
// the result does not depend on timing. For a strategy that needs every
// update it keeps each client's state in its clientOut instead and leaves
// mean alone.
func (j *job) trainLocal(ctx context.Context, round int, mine []int, mean []float32) ([]clientOut, float64, error) {
	p := min(j.parallel, len(mine))
	outs := make([]clientOut, len(mine))
	sums := make([][]float64, p)
	weights := make([]float64, p)
	errs := make([]error, p)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Scheduler epochs are taken before the goroutines start.
	epochs := make([]int, len(mine))
	for i, c := range mine {
		epochs[i] = j.selected[c]
		j.selected[c]++
	}
	var wg sync.WaitGroup
	for g := 0; g < p; g++ {
		wg.Go(func() {
			m := j.models[g]
			individual := j.strat.Individual() // keep each state; no mean needed
			var acc []float64
			if !individual {
				acc = make([]float64, len(j.global))
			}
			var state []float32
			for i := g; i < len(mine); i += p {
				c := mine[i]
				res, w, err := j.trainClient(ctx, m, round, c, epochs[i])
				if err != nil {
					errs[g] = fmt.Errorf("client %d on rank %d: %w", c, j.rank, err)
					cancel()
					return
				}
				outs[i] = clientOut{client: c, res: res, weight: w}
				weights[g] += w
				if individual {
					outs[i].state = m.State(nil)
					continue
				}
				state = m.State(state)
				for k, v := range state {
					acc[k] += w * float64(v)
				}
			}
			sums[g] = acc
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	var total float64
	for g := 0; g < p; g++ {
		total += weights[g]
	}
	if !(total > 0) {
		return nil, 0, fmt.Errorf("clients %v on rank %d have total weight %g", mine, j.rank, total)
	}
	if j.strat.Individual() {
		return outs, total, nil // the states travel one by one (gatherStates)
	}
	for k := range mean {
		var s float64
		for g := 0; g < p; g++ {
			s += sums[g][k]
		}
		mean[k] = float32(s / total)
	}
	return outs, total, nil
}

// clientLR returns the clients' base learning rate: the strategy's when it
// chooses one ([strategy.ClientLearningRate]), else base.
func clientLR(s strategy.Strategy, base float64) float64 {
	if c, ok := s.(strategy.ClientLearningRate); ok && c.ClientLR() > 0 {
		return c.ClientLR()
	}
	return base
}

// trainClient loads the global state into m and trains client c.
func (j *job) trainClient(ctx context.Context, m model.Model, round, c, epoch int) (trainer.Result, float64, error) {
	t, f := &j.cfg.Train, &j.cfg.Federated
	if err := m.LoadState(j.global); err != nil {
		return trainer.Result{}, 0, err
	}
	lr := clientLR(j.strat, t.LearningRate)
	// Each client is trained by one goroutine a round, so opts[c] needs no lock.
	opt := j.opts[c]
	if opt == nil {
		var err error
		opt, err = optim.New(optim.Config{Name: t.Optimizer, LR: lr, Momentum: t.Momentum,
			WeightDecay: t.WeightDecay, Nesterov: t.Nesterov, Beta1: t.AdamBeta1, Beta2: t.AdamBeta2, Eps: t.AdamEps})
		if err != nil {
			return trainer.Result{}, 0, err
		}
		if t.KeepOptimizerState {
			j.opts[c] = opt
		}
	}
	opt.SetLR(j.sched.LR(lr, epoch))
	res, err := trainer.Train(ctx, m, opt, j.train, j.parts[c], trainer.LocalConfig{
		Epochs:     f.EpochsPerCycle,
		Batch:      t.BatchSize,
		ProximalMu: j.strat.ProximalMu(),
		Global:     j.global,
		ClipNorm:   t.ClipNorm,
		Augment:    j.aug,
		Seed:       clientSeed(j.cfg.Job.Seed, round, c),
	})
	if err != nil {
		return res, 0, err
	}
	// The strategy weighs the client by the samples it holds (n_k, as
	// McMahan), not by the samples it processed this round.
	u := strategy.Update{Client: c, Samples: len(j.parts[c]), Steps: res.Steps, TrainLoss: res.Loss}
	w := j.strat.Weight(&u)
	if !(w >= 0) || math.IsInf(w, 0) {
		return res, 0, fmt.Errorf("strategy weight %g", w)
	}
	return res, w, nil
}
