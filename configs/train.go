package configs

import (
	"math"
	"strings"
)

// Tasks lists the values allowed for job.task, the default first.
var Tasks = []string{"train", "demo", "bench"}

// BenchOps lists the values allowed for bench.op (the operations of
// fltk bench).
var BenchOps = []string{"bcast", "gather", "scatter", "allgather", "reduce", "allreduce", "barrier"}

// Optimizers lists the values allowed for train.optimizer.
var Optimizers = []string{"sgd", "adam"}

// Schedulers lists the values allowed for train.scheduler.
var Schedulers = []string{"none", "step", "min-step", "exponential", "cosine"}

// Nets lists the values allowed for train.net (the models of
// trainer/model; a test keeps the two lists equal).
var Nets = []string{"MNIST2NN", "MNISTCNN", "FashionMNISTCNN", "FashionMNISTResNet", "Cifar10CNN", "Cifar10ResNet", "Cifar100ResNet", "Cifar100VGG", "CharLSTM"}

// Datasets lists the values allowed for data.dataset (the loaders of
// trainer/data).
var Datasets = []string{"mnist", "fashion-mnist", "cifar10", "cifar100", "opticks", "bible"}

// Samplers lists the values allowed for data.sampler (the schemes of
// trainer/partition), with FLTK's spellings.
var Samplers = []string{"iid", "shards", "limit-labels", "q-sampler", "dirichlet", "n-labels", "quantity-skew", "natural",
	"strided", "uniform", "limit labels", "q sampler", "n labels"}

// Strategies lists the values allowed for federated.strategy (the
// strategies of trainer/strategy).
var Strategies = []string{"fedavg", "mean", "fedprox", "fedadam", "median"}

// TestSets lists the values allowed for data.test_set.
var TestSets = []string{"full", "odd-half"}

// Federated configures the federated rounds. Key names follow FLTK's where
// it has them (rounds, clients_per_round, epochs_per_cycle) and Flower's
// for strategy parameters (proximal_mu, eta, eta_l, beta_1, beta_2, tau).
type Federated struct {
	// Rounds is the number of federated rounds (FLTK's total_epochs).
	// Default 5; ≥ 1.
	Rounds int `toml:"rounds"`

	// Clients is the number of logical clients the training data is split
	// into. They are spread round-robin over the worker ranks 1..N−1.
	// Default 0: one client per worker, as in FLTK. 0 or ≥ 1.
	Clients int `toml:"clients"`

	// ClientsPerRound is how many clients train in each round, chosen at
	// random (seeded by job.seed and the round). Default 0: all of them.
	// 0..clients.
	ClientsPerRound int `toml:"clients_per_round"`

	// EpochsPerCycle is how many passes over its local data a selected
	// client makes per round; fractions allowed, as in FLTK. Default 1;
	// > 0.
	EpochsPerCycle float64 `toml:"epochs_per_cycle"`

	// Strategy aggregates the clients' updates: "fedavg" (sample-weighted
	// mean), "mean" (FLTK's unweighted mean), "fedprox", "fedadam" or
	// "median" (coordinate-wise; gathers every client's state). Default
	// "fedavg".
	Strategy string `toml:"strategy"`

	// ProximalMu is FedProx's μ: clients add μ/2·‖w − w_global‖² to their
	// loss. Used by "fedprox" (and must then be > 0). Default 0.01; ≥ 0.
	ProximalMu float64 `toml:"proximal_mu"`

	// Eta is FedAdam's server learning rate. Default 0.1; > 0.
	Eta float64 `toml:"eta"`

	// EtaL is the clients' learning rate under FedAdam (Flower's eta_l).
	// Default 0: use train.learning_rate. ≥ 0.
	EtaL float64 `toml:"eta_l"`

	// Beta1 and Beta2 are FedAdam's moment decay rates. Defaults 0.9 and
	// 0.99; in [0, 1).
	Beta1 float64 `toml:"beta_1"`
	Beta2 float64 `toml:"beta_2"`

	// Tau is FedAdam's adaptivity (ε). Default 1e-9; > 0.
	Tau float64 `toml:"tau"`

	// Parallel is how many clients one worker trains at once, each in its
	// own goroutine with its own graph. Default 0: the worker's GOMAXPROCS.
	// ≥ 0.
	Parallel int `toml:"parallel"`

	// TargetAccuracy stops training after the first round whose test
	// accuracy, a fraction, reaches it. Default 0: run every round. 0..1.
	TargetAccuracy float64 `toml:"target_accuracy"`

	// RoundTimeout bounds one round: the federator's wait for the clients'
	// updates and every collective of the round. Default 1h; > 0.
	RoundTimeout Duration `toml:"round_timeout"`

	// MinWorkers is the fewest worker ranks a job that lost ranks goes on
	// with (runtime.on_rank_failure = "continue"): below it, the job
	// fails naming the lost ranks. Default 1; 1..1023.
	MinWorkers int `toml:"min_workers"`
}

// Data chooses the data set and how it is split over the clients.
type Data struct {
	// Dataset is the data set's name: "mnist", "fashion-mnist", "cifar10",
	// "cifar100", "opticks" or "bible". Default "mnist".
	Dataset string `toml:"dataset"`

	// Path is the data directory (`make data` fills ./data). Relative
	// paths are relative to the working directory. Default "data".
	Path string `toml:"path"`

	// Sampler splits the training set over the clients: "iid" (FLTK's
	// "uniform"), "shards", "limit-labels", "q-sampler", "dirichlet",
	// "n-labels", "quantity-skew", "natural" or "strided" (FLTK v0.3.1's
	// "uniform" is "strided" with sampler_args = [1]). Default "iid".
	Sampler string `toml:"sampler"`

	// SamplerArgs are the sampler's parameters (FLTK's sampler_args
	// without the seed: the seed is job.seed). Default [].
	SamplerArgs []float64 `toml:"sampler_args"`

	// TestSet is the federator's test set: "full" (the whole official test
	// split) or "odd-half" (its odd-indexed half, as FLTK). Default "full".
	TestSet string `toml:"test_set"`

	// SeqLen is the sequence length of text data sets. Default 80; ≥ 1.
	SeqLen int `toml:"seq_len"`
}

// Train configures the model and local training on each client.
type Train struct {
	// Net is the model (FLTK's class names): see `fltk models`. Default
	// "MNIST2NN".
	Net string `toml:"net"`

	// BatchSize is the local mini-batch size. Default 10; ≥ 1.
	BatchSize int `toml:"batch_size"`

	// EvalBatchSize is the batch size used for evaluation. Default 100; ≥ 1.
	EvalBatchSize int `toml:"eval_batch_size"`

	// Optimizer is "sgd" or "adam". Default "sgd".
	Optimizer string `toml:"optimizer"`

	// LearningRate is the clients' base learning rate. Default 0.05; > 0.
	LearningRate float64 `toml:"learning_rate"`

	// Momentum is SGD's momentum. Default 0; in [0, 1).
	Momentum float64 `toml:"momentum"`

	// WeightDecay is the L2 weight decay. Default 0; ≥ 0.
	WeightDecay float64 `toml:"weight_decay"`

	// Nesterov switches SGD to Nesterov momentum. Default false.
	Nesterov bool `toml:"nesterov"`

	// AdamBeta1, AdamBeta2 and AdamEps configure the clients' Adam.
	// Defaults 0.9, 0.999, 1e-8.
	AdamBeta1 float64 `toml:"adam_beta1"`
	AdamBeta2 float64 `toml:"adam_beta2"`
	AdamEps   float64 `toml:"adam_eps"`

	// Scheduler decays the learning rate once per round a client takes
	// part in: "none", "step", "min-step" (FLTK's MinCapableStepLR),
	// "exponential" or "cosine". Default "none".
	Scheduler string `toml:"scheduler"`

	// SchedulerStepSize is the period, in rounds, of "step" and
	// "min-step", and T_max of "cosine". Default 50; ≥ 1.
	SchedulerStepSize int `toml:"scheduler_step_size"`

	// SchedulerGamma is the decay factor of "step", "min-step" and
	// "exponential". Default 0.5; in (0, 1].
	SchedulerGamma float64 `toml:"scheduler_gamma"`

	// MinLR is the floor of "min-step" and eta_min of "cosine". Default
	// 1e-10; ≥ 0.
	MinLR float64 `toml:"min_lr"`

	// ClipNorm clips the global gradient norm per step. Default 0: off.
	ClipNorm float64 `toml:"clip_norm"`

	// KeepOptimizerState keeps each client's optimizer (momentum buffers,
	// Adam moments) from one round it takes part in to the next, as FLTK's
	// long-lived clients do. Default false: a fresh optimizer every round,
	// as in McMahan et al.
	KeepOptimizerState bool `toml:"keep_optimizer_state"`
}

// Output configures where results go.
type Output struct {
	// Dir is the results directory; each experiment writes into
	// Dir/<job.name>/. Default "results".
	Dir string `toml:"dir"`

	// Checkpoint writes the final global model to model.ckpt. Default true.
	Checkpoint bool `toml:"checkpoint"`

	// CheckpointEvery is how many rounds apart a training job writes its
	// checkpoint (resume.ckpt, which fltk-launch --resume continues from);
	// it is also written after the last round. 0 means only after the last
	// round. Default 10; ≥ 0.
	CheckpointEvery int `toml:"checkpoint_every"`

	// TensorBoard writes the per-round scalars as TensorBoard event files
	// into Dir/<job.name>/tb/. Default true.
	TensorBoard bool `toml:"tensorboard"`
}

func defaultFederated() Federated {
	return Federated{
		Rounds:         5,
		EpochsPerCycle: 1,
		Strategy:       "fedavg",
		ProximalMu:     0.01,
		Eta:            0.1,
		Beta1:          0.9,
		Beta2:          0.99,
		Tau:            1e-9,
		RoundTimeout:   Duration{3600e9},
		MinWorkers:     1,
	}
}

func defaultData() Data {
	return Data{Dataset: "mnist", Path: "data", Sampler: "iid", SamplerArgs: []float64{}, TestSet: "full", SeqLen: 80}
}

func defaultTrain() Train {
	return Train{
		Net: "MNIST2NN", BatchSize: 10, EvalBatchSize: 100, Optimizer: "sgd", LearningRate: 0.05,
		AdamBeta1: 0.9, AdamBeta2: 0.999, AdamEps: 1e-8,
		Scheduler: "none", SchedulerStepSize: 50, SchedulerGamma: 0.5, MinLR: 1e-10,
	}
}

func defaultOutput() Output {
	return Output{Dir: "results", Checkpoint: true, CheckpointEvery: 10, TensorBoard: true}
}

// oneOf checks that s is one of allowed.
func (v *validator) oneOf(key, s string, allowed []string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.errorf(key, "%s is not one of %s", quote(s), strings.Join(allowed, ", "))
}

// floatRange checks lo ≤ x ≤ hi (and that x is a number).
func (v *validator) floatRange(key string, x, lo, hi float64) {
	if math.IsNaN(x) || x < lo || x > hi {
		v.errorf(key, "%g is out of range %g..%g", x, lo, hi)
	}
}

// positiveFloat checks x > 0 and finite.
func (v *validator) positiveFloat(key string, x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
		v.errorf(key, "%g must be a number greater than 0", x)
	}
}

// unitOpen checks 0 ≤ x < 1.
func (v *validator) unitOpen(key string, x float64) {
	if math.IsNaN(x) || x < 0 || x >= 1 {
		v.errorf(key, "%g must be in [0, 1)", x)
	}
}

func (f *Federated) validate(v *validator, worldSize int) {
	v.atLeast("federated.rounds", int64(f.Rounds), minRounds)
	v.atLeast("federated.clients", int64(f.Clients), 0)
	clients := f.Clients
	if clients == 0 {
		clients = worldSize - 1
	}
	if f.ClientsPerRound < 0 || (clients > 0 && f.ClientsPerRound > clients) {
		v.errorf("federated.clients_per_round", "%d is out of range 0..%d (the number of clients)", f.ClientsPerRound, clients)
	}
	v.positiveFloat("federated.epochs_per_cycle", f.EpochsPerCycle)
	v.oneOf("federated.strategy", f.Strategy, Strategies)
	v.floatRange("federated.proximal_mu", f.ProximalMu, 0, math.MaxFloat64)
	if f.Strategy == "fedprox" && f.ProximalMu <= 0 {
		v.errorf("federated.proximal_mu", "%g must be greater than 0 with strategy \"fedprox\"", f.ProximalMu)
	}
	v.positiveFloat("federated.eta", f.Eta)
	v.floatRange("federated.eta_l", f.EtaL, 0, math.MaxFloat64)
	v.unitOpen("federated.beta_1", f.Beta1)
	v.unitOpen("federated.beta_2", f.Beta2)
	v.positiveFloat("federated.tau", f.Tau)
	v.atLeast("federated.parallel", int64(f.Parallel), 0)
	v.floatRange("federated.target_accuracy", f.TargetAccuracy, 0, 1)
	v.positive("federated.round_timeout", f.RoundTimeout)
	v.intRange("federated.min_workers", int64(f.MinWorkers), 1, 1023)
}

func (d *Data) validate(v *validator) {
	v.oneOf("data.dataset", d.Dataset, Datasets)
	v.oneOf("data.sampler", d.Sampler, Samplers)
	if d.Path == "" {
		v.errorf("data.path", "must not be empty")
	}
	for i, a := range d.SamplerArgs {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			v.errorf("data.sampler_args", "element %d (%g) is not a finite number", i, a)
		}
	}
	v.oneOf("data.test_set", d.TestSet, TestSets)
	v.atLeast("data.seq_len", int64(d.SeqLen), 1)
}

func (t *Train) validate(v *validator) {
	v.oneOf("train.net", t.Net, Nets)
	v.atLeast("train.batch_size", int64(t.BatchSize), 1)
	v.atLeast("train.eval_batch_size", int64(t.EvalBatchSize), 1)
	v.oneOf("train.optimizer", t.Optimizer, Optimizers)
	v.positiveFloat("train.learning_rate", t.LearningRate)
	v.unitOpen("train.momentum", t.Momentum)
	v.floatRange("train.weight_decay", t.WeightDecay, 0, math.MaxFloat64)
	v.unitOpen("train.adam_beta1", t.AdamBeta1)
	v.unitOpen("train.adam_beta2", t.AdamBeta2)
	v.positiveFloat("train.adam_eps", t.AdamEps)
	v.oneOf("train.scheduler", t.Scheduler, Schedulers)
	v.atLeast("train.scheduler_step_size", int64(t.SchedulerStepSize), 1)
	if math.IsNaN(t.SchedulerGamma) || t.SchedulerGamma <= 0 || t.SchedulerGamma > 1 {
		v.errorf("train.scheduler_gamma", "%g must be in (0, 1]", t.SchedulerGamma)
	}
	v.floatRange("train.min_lr", t.MinLR, 0, math.MaxFloat64)
	v.floatRange("train.clip_norm", t.ClipNorm, 0, math.MaxFloat64)
}

func (o *Output) validate(v *validator) {
	if o.Dir == "" {
		v.errorf("output.dir", "must not be empty")
	}
	v.atLeast("output.checkpoint_every", int64(o.CheckpointEvery), 0)
}
