package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// Train runs the federated job of c on this rank. Rank 0 writes the
// results files into output.dir/job.name ([fed.CSV], with c as
// config.toml, and [fed.TensorBoard] unless output.tensorboard is false)
// and prints progress lines to out ([fed.Progress]). Before anything else
// rank 0 takes the folder with [fed.OpenResultsDir]: a second job on the
// same folder fails at once with a [*fed.BusyError] (exit code 1), and
// the folder holds INCOMPLETE until the job succeeds. With $FLTK_LIVE set
// to 1 ([LiveEnv]), every rank also prints live lines ([FormatLive]) for
// the launcher's status line.
func Train(ctx context.Context, comm *collective.Comm, c *configs.Config, out io.Writer) error {
	fc := FedConfig(c)
	if v, ok := collective.ViewOf(comm); ok {
		ctl, ok := v.Mux().Transport().(fed.Control)
		if !ok {
			return fmt.Errorf("job: the transport of %T has no control channel", v.Mux().Transport())
		}
		cc, err := CommConfig(c, "", nil) // each epoch sets its JobID
		if err != nil {
			return err
		}
		fc.Membership = &fed.Membership{Mux: v.Mux(), Control: ctl, Comm: cc,
			Wait: 2*c.Runtime.LivenessTimeout.Duration + 5*time.Second}
	}
	if halt := os.Getenv(HaltEnv); halt != "" {
		hook, err := haltHook(halt, comm.Rank(), out)
		if err != nil {
			return err
		}
		fc.Hook = hook
	}
	if os.Getenv(LiveEnv) == "1" {
		fc.OnPhase = func(ev fed.PhaseEvent) { fmt.Fprintln(out, FormatLive(ev)) }
	}
	if comm.Rank() != 0 {
		return fed.Run(ctx, comm, fc, nil)
	}
	rd, err := fed.OpenResultsDir(ResultsDir(c))
	if err != nil {
		return err
	}
	defer rd.Close()
	rec, closeResults, err := Results(c, out)
	if err != nil {
		return err
	}
	err = fed.Run(ctx, comm, fc, rec)
	if cerr := closeResults(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rd.Complete()
	}
	if cerr := rd.Close(); err == nil {
		err = cerr
	}
	return err
}

// ResultsDir returns the results folder of c: output.dir/job.name.
func ResultsDir(c *configs.Config) string { return filepath.Join(c.Output.Dir, c.Job.Name) }

// FedConfig maps the [federated], [data] and [train] tables of c, with
// job.seed, to the federated trainer's configuration.
func FedConfig(c *configs.Config) fed.Config {
	f, d, t := &c.Federated, &c.Data, &c.Train
	return fed.Config{
		Seed:            c.Job.Seed,
		Rounds:          f.Rounds,
		Clients:         f.Clients,
		ClientsPerRound: f.ClientsPerRound,
		EpochsPerCycle:  f.EpochsPerCycle,
		Strategy: strategy.Config{Name: f.Strategy, ProximalMu: f.ProximalMu, Eta: f.Eta, EtaL: f.EtaL,
			Beta1: f.Beta1, Beta2: f.Beta2, Tau: f.Tau},
		Parallel:       f.Parallel,
		TargetAccuracy: f.TargetAccuracy,
		MinWorkers:     f.MinWorkers,
		RoundTimeout:   f.RoundTimeout.Duration,

		Dataset:       d.Dataset,
		DataDir:       d.Path,
		TestSet:       d.TestSet,
		SeqLen:        d.SeqLen,
		Partition:     d.Sampler,
		PartitionArgs: d.SamplerArgs,

		Net:           t.Net,
		BatchSize:     t.BatchSize,
		EvalBatchSize: t.EvalBatchSize,
		Optimizer: optim.Config{Name: t.Optimizer, LR: t.LearningRate, Momentum: t.Momentum,
			WeightDecay: t.WeightDecay, Nesterov: t.Nesterov, Beta1: t.AdamBeta1, Beta2: t.AdamBeta2, Eps: t.AdamEps},
		Schedule: optim.ScheduleConfig{Name: t.Scheduler, StepSize: t.SchedulerStepSize, Gamma: t.SchedulerGamma,
			MinLR: t.MinLR, TMax: t.SchedulerStepSize, EtaMin: t.MinLR},
		ClipNorm:           t.ClipNorm,
		KeepOptimizerState: t.KeepOptimizerState,
	}
}

// Results returns the federator's recorder for c: the CSV files in
// output.dir/job.name, the TensorBoard event file in its tb/ (when
// output.tensorboard is set), then the progress lines on out. Call
// closeResults when the job is over, whether it succeeded or not: it
// closes the files still open.
func Results(c *configs.Config, out io.Writer) (rec fed.Recorder, closeResults func() error, err error) {
	effective, err := EffectiveConfig(c)
	if err != nil {
		return nil, nil, err
	}
	dir := ResultsDir(c)
	csv := fed.NewCSV(fed.CSVConfig{Dir: dir, Checkpoint: c.Output.Checkpoint, ConfigTOML: effective})
	recs := []fed.Recorder{csv}
	closers := []func() error{csv.Close}
	if c.Output.TensorBoard {
		tb := fed.NewTensorBoard(filepath.Join(dir, TensorBoardDir))
		recs = append(recs, tb)
		closers = append(closers, tb.Close)
	}
	recs = append(recs, fed.NewProgress(out, dir))
	closeResults = func() error {
		var errs []error
		for _, f := range closers {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	return fed.MultiRecorder(recs...), closeResults, nil
}

// TensorBoardDir is the subdirectory of an experiment's results that
// holds its TensorBoard event files.
const TensorBoardDir = "tb"

// EffectiveConfig renders c as the config.toml of an experiment: a
// comment line, then every key, defaults filled in.
func EffectiveConfig(c *configs.Config) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintln(&b, "# The effective configuration of this experiment (defaults filled in).")
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		return nil, fmt.Errorf("job: encode the effective config: %w", err)
	}
	return b.Bytes(), nil
}

// HaltEnv names the test-only variable "RANK:ROUND:STEP" (STEP one of the
// steps of fed.Config.Hook): rank RANK prints "fltk-test: rank RANK halted
// before STEP of round ROUND" and stops there until the job is
// interrupted or the round ends (it times out, or the world shrank
// without this rank), for tests that kill or stop a rank at a precise
// point.
const HaltEnv = "FLTK_TEST_HALT"

// haltHook returns the hook of $FLTK_TEST_HALT for rank.
func haltHook(spec string, rank int, out io.Writer) (func(context.Context, int, string), error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: $%s %q is not RANK:ROUND:STEP", ErrUsage, HaltEnv, spec)
	}
	hr, err1 := strconv.Atoi(parts[0])
	hround, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: $%s %q is not RANK:ROUND:STEP", ErrUsage, HaltEnv, spec)
	}
	step := parts[2]
	return func(ctx context.Context, round int, s string) {
		if rank != hr || round != hround || s != step {
			return
		}
		fmt.Fprintf(out, "fltk-test: rank %d halted before %s of round %d\n", rank, s, round)
		<-ctx.Done()
	}, nil
}
