package fed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/partition"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// metaFields is the number of float64 values per client in the metadata
// gather: client+1 (0 = empty slot), samples, steps, loss, train seconds.
const metaFields = 5

// rankFields is the number of per-rank values at the end of a worker's
// metadata block: training wall seconds, bytes up, bytes down, raw bytes
// up.
const rankFields = 4

// job is one rank's view of a federated training job.
type job struct {
	cfg      Config // validated
	comm     *collective.Comm
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

	models   []model.Model  // [0] also evaluates
	team     *parallel.Team // the models' parallel loops; owned by Run
	info     strategy.Info
	global   []float32
	selCount []int             // client -> times it was selected in rounds 1..selUpTo-1 (its scheduler epoch)
	selUpTo  int               // the round selCount counts up to (excluded)
	opts     []optim.Optimizer // client -> its optimizer, kept across rounds with Config.KeepOptimizerState
	down     collective.Stats  // bytes received with the latest broadcast of the global state
	rec      Recorder          // rank 0 only
	phaseMu  sync.Mutex        // serializes the calls of cfg.OnPhase
	// residual is this rank's error feedback: what the lossy codec lost
	// of its latest update, added to its next one. It is per worker rank,
	// not per client, because a worker pre-averages its clients' updates
	// and sends one update per round (reduceUpdates); the rank's clients
	// share it. Nil until a lossy codec first loses something.
	residual []float32
	resume   bool        // the job continues from a checkpoint (Resume)
	ck       *Checkpoint // rank 0, resume: the checkpoint

	mem  *members           // nil unless Config.Membership: the world may shrink (epoch.go)
	own  []*collective.Comm // the Comms of later epochs, closed by close
	lost []lostRank         // rank 0: ranks lost since the latest recorded round
	// rejoined are, on rank 0, the ranks taken back since the latest
	// recorded round (rejoin.go).
	rejoined []int
}

// lostRank is a rank lost during a round, for its record.
type lostRank struct {
	rank int // world rank
	late bool
	why  string
}

// Run runs the federated job of cfg on this rank and returns when every
// round is done (or the target accuracy is reached). Every rank calls it
// with the same cfg, which it validates ([Config.Validate]). Rank 0 passes
// the results to rec (nil: nowhere); the other ranks do not use it.
func Run(ctx context.Context, comm *collective.Comm, cfg Config, rec Recorder) (err error) {
	return start(ctx, comm, cfg, rec, false, nil)
}

// start runs the job, from its start or (resume) from checkpoint ck.
func start(ctx context.Context, comm *collective.Comm, cfg Config, rec Recorder, resume bool, ck *Checkpoint) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if rec == nil {
		rec = discard{}
	}
	j := &job{cfg: cfg, comm: comm, rec: rec, rank: comm.Rank(), size: comm.Size(), resume: resume, ck: ck}
	if cfg.Membership != nil && cfg.Membership.Rejoin && j.rank == 0 {
		return fmt.Errorf("%w: rank 0 cannot rejoin a job", ErrConfig)
	}
	if j.size < 2 {
		return fmt.Errorf("fed: needs a federator and at least one worker, world size is %d", j.size)
	}
	if cfg.Membership != nil {
		var err error
		if j.mem, err = newMembers(cfg.Membership, j.rank, j.size); err != nil {
			return err
		}
	}
	defer j.close()
	if err := j.setup(); err != nil {
		return err
	}
	return j.run(ctx)
}

// close closes the models, then stops their team.
func (j *job) close() {
	if j.mem != nil {
		j.mem.close()
	}
	for _, c := range j.own {
		_ = c.Close()
	}
	for _, m := range j.models {
		_ = m.Close()
	}
	j.models = nil
	if j.team != nil {
		_ = j.team.Close()
	}
}

// setup loads data, splits it, builds models and the strategy.
func (j *job) setup() error {
	cfg := &j.cfg
	j.clients = cfg.Clients
	if j.clients == 0 {
		j.clients = j.size - 1
	}
	j.perRound = cfg.ClientsPerRound
	if j.perRound == 0 {
		j.perRound = j.clients
	}
	opts := data.Options{SeqLen: cfg.SeqLen}
	var err error
	if j.train, err = data.Load(cfg.Dataset, cfg.DataDir, true, opts); err != nil {
		return fmt.Errorf("fed: rank %d: %w", j.rank, err)
	}
	if j.test, err = data.Load(cfg.Dataset, cfg.DataDir, false, opts); err != nil {
		return fmt.Errorf("fed: rank %d: %w", j.rank, err)
	}
	if cfg.TestSet == "odd-half" {
		var odd []int
		for i := 1; i < j.test.Len(); i += 2 {
			odd = append(odd, i)
		}
		j.test = j.test.Subset(odd)
	}
	if err := checkModelData(cfg.Net, j.train); err != nil {
		return err
	}
	j.parts, err = partition.Split(j.train.Labels(), j.train.Classes, j.clients, j.train.Groups,
		partition.Config{Scheme: cfg.Partition, Args: cfg.PartitionArgs, Seed: uint64(cfg.Seed)})
	if err != nil {
		return fmt.Errorf("fed: split %d training samples over %d clients: %w", j.train.Len(), j.clients, err)
	}
	if j.strat, err = strategy.New(cfg.Strategy); err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	if j.sched, err = optim.NewSchedule(cfg.Schedule); err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	j.aug = data.TrainAugmenter(cfg.Dataset)

	j.opts = make([]optim.Optimizer, j.clients)
	j.place()
	j.parallel = cfg.Parallel
	if j.parallel == 0 {
		j.parallel = goruntime.GOMAXPROCS(0)
	}
	j.parallel = max(1, min(j.parallel, len(j.hosted)))
	// One team of helpers for all of the rank's models: they take turns
	// on the cores anyway, and the job stops it when it ends (close).
	if j.team, err = parallel.New(parallel.DefaultConfig()); err != nil {
		return fmt.Errorf("fed: %w", err)
	}
	mc := modelConfig(cfg, j.train)
	mc.Team = j.team
	for i := 0; i < j.parallel; i++ {
		m, err := model.New(cfg.Net, mc)
		if err != nil {
			return fmt.Errorf("fed: %w", err)
		}
		j.models = append(j.models, m)
	}
	j.global = j.models[0].State(nil)
	j.info = strategy.Info{Buffers: j.models[0].Buffers()}
	return nil
}

// place computes the clients this rank hosts and its stride of the test
// set, from its rank and the world's size (again after the world shrank).
func (j *job) place() {
	j.hosted, j.testIdx = nil, nil
	for c := range j.clients {
		if j.workerOf(c) == j.rank {
			j.hosted = append(j.hosted, c)
		}
	}
	for i := j.rank; i < j.test.Len(); i += j.size {
		j.testIdx = append(j.testIdx, i)
	}
}

// modelConfig derives the model's configuration from the job's.
func modelConfig(cfg *Config, set *data.Set) model.Config {
	mc := model.DefaultConfig()
	mc.Batch = cfg.BatchSize
	mc.EvalBatch = cfg.EvalBatchSize
	mc.Seed = uint64(cfg.Seed)
	mc.Classes = set.Classes
	if set.LabelsPerSample > 1 { // a sequence model: one label per time step
		mc.SeqLen = set.Shape[0]
	}
	return mc
}

// checkModelData rejects a model that cannot take the data set's samples.
func checkModelData(net string, set *data.Set) error {
	return netFits(net, set.Name, set.Shape, set.LabelsPerSample > 1)
}

// CheckNet reports whether net can take the samples of dataset (with
// windows of seqLen tokens for the text data sets), from their shapes
// alone: the check [Run] does once the data is loaded, for a launcher to
// do before any rank starts. Its errors wrap [ErrConfig].
func CheckNet(net, dataset string, seqLen int) error {
	shape, text, ok := data.SampleShape(dataset, seqLen)
	if !ok {
		return fmt.Errorf("%w: data set %q is not one of %s", ErrConfig, dataset, strings.Join(data.Names(), ", "))
	}
	return netFits(net, dataset, shape, text)
}

// netFits rejects a model that cannot take samples of shape (text: token
// windows) of the data set named dataset.
func netFits(net, dataset string, shape []int, text bool) error {
	info, err := model.Info(net)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case info.InputShape == nil && !text: // a sequence model
		return fmt.Errorf("%w: net %s is a sequence model for the text data sets (opticks, bible), but data set %q holds images of shape %v",
			ErrConfig, net, dataset, shape)
	case info.InputShape != nil && !slices.Equal(info.InputShape, shape):
		return fmt.Errorf("%w: net %s takes samples of shape %v, but data set %q has %v",
			ErrConfig, net, info.InputShape, dataset, shape)
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
	return context.WithTimeout(ctx, j.cfg.RoundTimeout)
}

// run hands the recorder the job's setup, broadcasts the initial global
// state, runs the rounds and hands the recorder the final global model.
func (j *job) run(ctx context.Context) error {
	if j.rank == 0 {
		if err := j.rec.Start(j.setupInfo()); err != nil {
			return err
		}
	}
	var (
		first  int
		done   bool
		resume *roundState // a round to go on with in a new epoch (see shrink)
		err    error
	)
	if j.mem != nil && j.mem.m.Rejoin {
		// A process started again for a lost rank: it begins in the
		// epoch rank 0 takes it back in (rejoin.go).
		if resume, err = j.rejoinJob(ctx); err != nil {
			return err
		}
		first = resume.round
	} else {
		if first, done, err = j.restore(ctx); err != nil {
			return err
		}
		bctx, cancel := j.roundCtx(ctx)
		err = collective.Broadcast(bctx, j.comm, j.global, 0, collective.WithStats(&j.down))
		cancel()
		if err != nil {
			if j.mem == nil || !recoverable(ctx, err) {
				return fmt.Errorf("fed: initial broadcast: %w", err)
			}
			if resume, err = j.recover(ctx, &roundState{round: first}, err); err != nil {
				return err
			}
		}
	}
	last := first - 1
	for round := first; round <= j.cfg.Rounds && !done; {
		if resume == nil && j.mem != nil && j.rank == 0 {
			// A round boundary: take back the ranks that rejoined.
			if resume, err = j.grow(ctx, round); err != nil {
				return fmt.Errorf("fed: round %d: %w", round, err)
			}
			if resume != nil {
				round = resume.round
			}
		}
		r, err := j.round(ctx, round, resume)
		resume = nil
		if err != nil {
			if j.mem == nil || !recoverable(ctx, err) {
				return fmt.Errorf("fed: round %d: %w", round, err)
			}
			if resume, err = j.recover(ctx, r, err); err != nil {
				return err
			}
			round = resume.round
			continue
		}
		last = round
		if end := r.stop || round == j.cfg.Rounds; j.checkpointDue(round, end) {
			if err := j.checkpoint(ctx, round, end); err != nil {
				if j.mem == nil || !recoverable(ctx, err) {
					return fmt.Errorf("fed: round %d: checkpoint: %w", round, err)
				}
				// The round is done and recorded; the next round's
				// collectives meet the lost rank and shrink the world.
				j.mem.log.Warn("checkpoint skipped: a rank was lost", "round", round, "err", err)
			}
		}
		if r.stop {
			break
		}
		round++
	}
	if j.rank == 0 {
		final := trainer.Checkpoint{Net: j.models[0].Name(), Round: last, Buffers: j.info.Buffers, State: j.global}
		if err := j.rec.Finish(final); err != nil {
			return err
		}
	}
	return nil
}

// setupInfo describes the job to the recorder.
func (j *job) setupInfo() Setup {
	s := Setup{Rounds: j.cfg.Rounds, Resumed: j.resumed(), Clients: j.clients, PerRound: j.perRound, Workers: j.size - 1,
		Params: j.models[0].NumParams(), Classes: j.train.Classes, Partition: make([]ClientData, len(j.parts))}
	labels := j.train.Labels()
	for c, idx := range j.parts {
		s.Partition[c] = ClientData{Samples: len(idx), Labels: partition.Histogram(labels, j.train.Classes, idx)}
	}
	return s
}

// clientOut is one client's result on a worker.
type clientOut struct {
	client int
	res    trainer.Result
	weight float64
	state  []float32 // the trained state, kept for strategies that need every update
}

// roundState carries one round through its phases. Every rank fills the
// fields of the phases it takes part in; "rank 0" marks the federator's.
type roundState struct {
	round int
	start time.Time

	sel  []int // the round's selected clients (selectClients)
	mine []int // the selected clients this rank hosts (selectClients)

	outs      []clientOut   // this rank's trained clients, in training order (trainClients)
	mean      []float32     // the weighted mean of this rank's clients' updates, trained − global (trainClients)
	weight    float64       // the total weight of outs (trainClients)
	trainWall time.Duration // this rank's training wall time (trainClients)

	up        collective.Stats // bytes this rank sent with its updates (reduceUpdates)
	agg       []float32        // rank 0: the weighted mean update over all selected clients (reduceUpdates)
	states    []float32        // rank 0, individual strategies: perWorker states per rank (reduceUpdates)
	perWorker int              // individual strategies: states per rank in states (reduceUpdates)

	meta     []float64       // rank 0: every rank's metadata block (gatherMetadata)
	slots    int             // client slots in a metadata block (gatherMetadata)
	block    int             // values in a metadata block (gatherMetadata)
	rec      RoundResult     // rank 0: the round's results (aggregate, record)
	aggTime  time.Duration   // the time aggregate took (aggregate)
	met      trainer.Metrics // the new global model's test metrics, every rank (evaluate)
	evalTime time.Duration   // the time evaluate took (evaluate)
	stop     bool            // met reaches Config.TargetAccuracy (evaluate)

	attempts  int       // times the round was begun (redone in a shrunk world)
	trained   bool      // this rank's local training is done (trainClients)
	committed bool      // rank 0 aggregated the update: j.global is the round's result (commit)
	residual  []float32 // j.residual when the round began, for a redo
}

// round runs one round, phase by phase, and returns its state: r.stop
// says the target accuracy is reached. resume, if not nil, is the state
// of the round to go on with in a new epoch: from its evaluation when
// resume.committed (rank 0 had aggregated its update), else from the
// start.
func (j *job) round(ctx context.Context, round int, resume *roundState) (*roundState, error) {
	ctx, cancel := j.roundCtx(ctx)
	defer cancel()
	if j.mem != nil {
		j.mem.setRound(cancel)
		defer j.mem.setRound(nil)
	}
	type step struct {
		name string // for Config.Hook
		f    func(context.Context, *roundState) error
	}
	phases := []step{{"train", j.trainClients}, {"reduce", j.reduceUpdates}, {"gather", j.gatherMetadata},
		{"aggregate", j.aggregate}, {"commit", j.commit}, {"broadcast", j.broadcastGlobal}, {"evaluate", j.evaluate}, {"record", j.record}}
	r := &roundState{round: round, start: time.Now()}
	if resume != nil {
		r.attempts = resume.attempts
		if resume.committed {
			r = resume
			phases = phases[6:]
		} else {
			r.start = resume.start
		}
	}
	r.attempts++
	if !r.committed {
		j.selectClients(r)
		ev := PhaseEvent{Phase: PhaseTraining, Total: len(r.mine)}
		if j.rank == 0 {
			ev.Total = len(r.sel)
		}
		j.phase(round, ev)
		if j.residual != nil {
			r.residual = slices.Clone(j.residual) // a redo starts from it again
		}
	}
	for _, p := range phases {
		if j.cfg.Hook != nil {
			j.cfg.Hook(ctx, round, p.name)
		}
		if err := p.f(ctx, r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// commit marks the round's update as aggregated: from here on a failed
// round is not trained again (see shrink).
func (j *job) commit(_ context.Context, r *roundState) error {
	r.committed = true
	return nil
}

// phase reports ev of round to Config.OnPhase, if set.
func (j *job) phase(round int, ev PhaseEvent) {
	if j.cfg.OnPhase == nil {
		return
	}
	ev.Rank, ev.Round, ev.Rounds = j.rank, round, j.cfg.Rounds
	j.phaseMu.Lock()
	defer j.phaseMu.Unlock()
	j.cfg.OnPhase(ev)
}

// selectClients computes the round's selected clients, on every rank
// alike (a pure function of the seed and the round, see [Select]), and
// the ones this rank hosts.
func (j *job) selectClients(r *roundState) {
	r.sel = Select(j.cfg.Seed, r.round, j.clients, j.perRound)
	for _, c := range r.sel {
		if j.workerOf(c) == j.rank {
			r.mine = append(r.mine, c)
		}
	}
}

// trainClients trains this rank's selected clients and folds their updates
// (trained − global state) into the weighted mean r.mean, plus the error
// feedback of a lossy codec (or keeps each state, for a strategy that
// needs every update). The federator and a worker with no selected client
// train nothing.
func (j *job) trainClients(ctx context.Context, r *roundState) error {
	r.mean = make([]float32, len(j.global))
	if len(r.mine) == 0 {
		r.trained = true
		return nil
	}
	t0 := time.Now()
	var err error
	if r.outs, r.weight, err = j.trainLocal(ctx, r.round, r.mine, r.mean); err != nil {
		return err
	}
	r.trainWall = time.Since(t0)
	r.trained = true
	if j.strat.Individual() {
		return nil
	}
	// Updates are small and centred on zero, where bf16 and int8 lose
	// less than on the weights themselves.
	for k, g := range j.global {
		r.mean[k] -= g
	}
	return j.feedback(r.mean)
}

// feedback adds to upd, the update this rank is about to send, what the
// codec lost of the previous ones, and keeps what it will lose of this
// one (error feedback, Seide et al. 2014; Karimireddy et al. 2019): over
// the rounds the federator receives the sum of the updates, not of their
// rounded values. A lossless codec needs none. Across hosts the reduce
// also quantises its partial sums once per hop between hosts; no rank
// keeps that error (collective.Config.ExactPartials, TOML
// collective.exact_partials, keeps the partials raw).
func (j *job) feedback(upd []float32) error {
	codec := j.comm.Codec()
	if !codec.Lossy() {
		return nil
	}
	if j.residual == nil {
		j.residual = make([]float32, len(upd))
	}
	for k, e := range j.residual {
		upd[k] += e
	}
	sent := j.residual // reused: becomes upd as the federator decodes it
	copy(sent, upd)
	if err := collective.Decoded(j.comm, sent, codec); err != nil {
		return fmt.Errorf("error feedback: %w", err)
	}
	for k, v := range upd {
		j.residual[k] = v - sent[k]
	}
	return nil
}

// reduceUpdates brings the updates to the federator: a weighted-mean Reduce of
// the workers' partial mean updates (the federator contributes weight 0), or,
// for a strategy that needs every update, a Gather of every trained state.
func (j *job) reduceUpdates(ctx context.Context, r *roundState) error {
	if j.strat.Individual() {
		var err error
		r.states, r.perWorker, err = j.gatherStates(ctx, r.sel, r.outs, &r.up)
		return err
	}
	r.agg = r.mean
	if j.rank == 0 {
		r.agg = make([]float32, len(j.global))
	}
	if err := collective.Reduce(ctx, j.comm, r.agg, r.mean, collective.WeightedMean, 0,
		collective.WithWeight(r.weight), collective.WithStats(&r.up)); err != nil {
		return fmt.Errorf("reduce updates: %w", err)
	}
	return nil
}

// gatherMetadata gathers on the federator every rank's metadata block:
// its trained clients' samples, steps, loss and time (metaFields each, in
// training order, in slots sized for the busiest possible worker), then
// its training wall time and the bytes it sent and received (rankFields).
func (j *job) gatherMetadata(ctx context.Context, r *roundState) error {
	r.slots = (j.clients + j.size - 2) / (j.size - 1)
	r.block = r.slots*metaFields + rankFields
	meta := make([]float64, r.block)
	for i, o := range r.outs {
		m := meta[i*metaFields:]
		m[0], m[1], m[2], m[3], m[4] = float64(o.client+1), float64(o.res.Samples), float64(o.res.Steps), o.res.Loss, o.res.Duration.Seconds()
	}
	meta[r.slots*metaFields] = r.trainWall.Seconds()
	meta[r.slots*metaFields+1] = float64(r.up.WireSent)
	meta[r.slots*metaFields+2] = float64(j.down.WireRecv)
	meta[r.slots*metaFields+3] = float64(r.up.RawSent)
	if j.rank == 0 {
		r.meta = make([]float64, j.size*r.block)
	}
	// Counts, losses and times must arrive exact: never the job's (maybe lossy) codec.
	if err := collective.Gather(ctx, j.comm, r.meta, meta, 0, collective.WithCodec(collective.CodecNone)); err != nil {
		return fmt.Errorf("gather client metadata: %w", err)
	}
	return nil
}

// aggregate, on the federator, decodes the metadata into the round's
// record and applies the strategy to the reduced mean (or to every
// client's state) to make the new global state.
func (j *job) aggregate(_ context.Context, r *roundState) error {
	t0 := time.Now()
	defer func() { r.aggTime = time.Since(t0) }()
	if j.rank != 0 {
		return nil
	}
	r.rec = j.collect(r.round, r.meta, r.slots, r.block)
	if r.rec.Samples == 0 {
		return fmt.Errorf("no client trained (selected %v)", r.sel)
	}
	var upd []strategy.Update
	if r.states != nil {
		upd = individualUpdates(r.rec, r.states, r.perWorker, len(j.global))
	} else {
		// The workers sent the mean update; the strategies take states.
		for k, g := range j.global {
			r.agg[k] += g
		}
		upd = []strategy.Update{{Client: -1, State: r.agg, Samples: r.rec.Samples, Steps: r.rec.Steps, TrainLoss: r.rec.TrainLoss}}
	}
	for i := range r.rec.Clients { // the record names world ranks
		r.rec.Clients[i].Rank = j.worldRank(r.rec.Clients[i].Rank)
	}
	j.info.Round = r.round
	if err := j.strat.Aggregate(j.info, j.global, upd); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

// broadcastGlobal sends the new global state from the federator to every rank;
// j.down counts the bytes this rank receives, reported in the next
// round's metadata.
func (j *job) broadcastGlobal(ctx context.Context, _ *roundState) error {
	j.down = collective.Stats{}
	if err := collective.Broadcast(ctx, j.comm, j.global, 0, collective.WithStats(&j.down)); err != nil {
		return fmt.Errorf("broadcast global model: %w", err)
	}
	return nil
}

// evaluate tests the new global model: every rank evaluates its stride of
// the test set, and an AllReduce of the metrics vectors gives every rank
// the same metrics, so that all agree on stopping at the target accuracy.
func (j *job) evaluate(ctx context.Context, r *roundState) error {
	t0 := time.Now()
	j.phase(r.round, PhaseEvent{Phase: PhaseEvaluating})
	ev := j.models[0]
	if err := ev.LoadState(j.global); err != nil {
		return err
	}
	met, err := trainer.Evaluate(ctx, ev, j.test, j.testIdx, j.cfg.EvalBatchSize)
	if err != nil {
		return err
	}
	vec := met.Vector()
	sum := make([]float64, len(vec))
	// The confusion matrix is counts: never the job's (maybe lossy) codec.
	if err := collective.AllReduce(ctx, j.comm, sum, vec, collective.Sum, collective.WithCodec(collective.CodecNone)); err != nil {
		return fmt.Errorf("allreduce test metrics: %w", err)
	}
	if r.met, err = trainer.MetricsFromVector(j.test.Classes, sum); err != nil {
		return err
	}
	r.evalTime = time.Since(t0)
	r.stop = j.cfg.TargetAccuracy > 0 && r.met.Accuracy() >= j.cfg.TargetAccuracy
	return nil
}

// record, on the federator, passes the round's results to the recorder.
func (j *job) record(_ context.Context, r *roundState) error {
	if j.rank != 0 {
		return nil
	}
	rec := &r.rec
	rec.Round, rec.Metrics, rec.TargetReached = r.round, r.met, r.stop
	j.membership(r)
	rec.RoundTime, rec.EvalTime, rec.AggTime = time.Since(r.start), r.evalTime, r.aggTime
	rec.CommTime = max(rec.RoundTime-rec.TrainTime-rec.EvalTime-rec.AggTime, 0)
	return j.rec.Round(*rec)
}

// collect decodes the gathered metadata blocks into the round's results.
func (j *job) collect(round int, all []float64, slots, block int) RoundResult {
	rec := RoundResult{Round: round}
	var lossW float64
	for rank := 1; rank < j.size; rank++ {
		b := all[rank*block : (rank+1)*block]
		for s := 0; s < slots; s++ {
			m := b[s*metaFields:]
			if m[0] == 0 {
				continue
			}
			cr := ClientResult{Client: int(m[0]) - 1, Rank: rank, Samples: int(m[1]), Steps: int(m[2]), Loss: m[3],
				Time: time.Duration(m[4] * float64(time.Second))}
			rec.Clients = append(rec.Clients, cr)
			rec.Samples += cr.Samples
			rec.Steps += cr.Steps
			lossW += cr.Loss * float64(cr.Samples)
		}
		rec.TrainTime = max(rec.TrainTime, time.Duration(b[slots*metaFields]*float64(time.Second)))
		rec.BytesUp += int64(b[slots*metaFields+1])
		rec.BytesDown += int64(b[slots*metaFields+2])
		rec.RawBytesUp += int64(b[slots*metaFields+3])
	}
	if rec.Samples > 0 {
		rec.TrainLoss = lossW / float64(rec.Samples)
	}
	return rec
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
func individualUpdates(rec RoundResult, states []float32, perWorker, n int) []strategy.Update {
	upd := make([]strategy.Update, 0, len(rec.Clients))
	next := map[int]int{} // rank → index of its next state
	for _, c := range rec.Clients {
		i := next[c.Rank]
		next[c.Rank]++
		off := (c.Rank*perWorker + i) * n
		upd = append(upd, strategy.Update{Client: c.Client, State: states[off : off+n], Samples: c.Samples, Steps: c.Steps, TrainLoss: c.Loss})
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
		epochs[i] = j.schedEpoch(c, round)
	}
	var (
		doneMu sync.Mutex // guards done and orders the reports
		done   int        // clients trained
	)
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
				doneMu.Lock()
				done++
				j.phase(round, PhaseEvent{Phase: PhaseTraining, Done: done, Total: len(mine)})
				doneMu.Unlock()
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
	cfg := &j.cfg
	if err := m.LoadState(j.global); err != nil {
		return trainer.Result{}, 0, err
	}
	lr := clientLR(j.strat, cfg.Optimizer.LR)
	// Each client is trained by one goroutine a round, so opts[c] needs no lock.
	opt := j.opts[c]
	if opt == nil {
		oc := cfg.Optimizer
		oc.LR = lr
		var err error
		if opt, err = optim.New(oc); err != nil {
			return trainer.Result{}, 0, err
		}
		if cfg.KeepOptimizerState {
			j.opts[c] = opt
		}
	}
	opt.SetLR(j.sched.LR(lr, epoch))
	res, err := trainer.Train(ctx, m, opt, j.train, j.parts[c], trainer.LocalConfig{
		Epochs:     cfg.EpochsPerCycle,
		Batch:      cfg.BatchSize,
		ProximalMu: j.strat.ProximalMu(),
		Global:     j.global,
		ClipNorm:   cfg.ClipNorm,
		Augment:    j.aug,
		Seed:       clientSeed(j.cfg.Seed, round, c),
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
