package job

import (
	"bytes"
	"context"
	"crypto/sha256"
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
// config.toml, and [fed.TensorBoard] unless output.tensorboard is false),
// the job's checkpoint every output.checkpoint_every rounds and after the
// last one ([fed.CheckpointWriter], resume.ckpt), and prints progress
// lines to out ([fed.Progress]). Before anything else rank 0 takes the
// folder with [fed.OpenResultsDir]: a second job on the same folder fails
// at once with a [*fed.BusyError] (exit code 1), and the folder holds
// INCOMPLETE until the job succeeds. With $FLTK_LIVE set to 1
// ([LiveEnv]), every rank also prints live lines ([FormatLive]) for the
// launcher's status line.
func Train(ctx context.Context, comm *collective.Comm, c *configs.Config, out io.Writer) error {
	return TrainResume(ctx, comm, c, out, nil)
}

// Resume says where a resumed job's results are.
type Resume struct {
	// Dir is the results folder of the run to resume (rank 0's; the
	// other ranks do not read it).
	Dir string
	// Force resumes even if the config differs from the one the
	// checkpoint was taken with.
	Force bool
}

// TrainResume is [Train], continuing the run whose results are in
// r.Dir from its checkpoint when r is not nil (every rank must agree).
// Rank 0 takes the folder with [fed.ResumeResultsDir] (it must hold
// INCOMPLETE), reads its checkpoint ([CheckResume]), cuts the per-round
// files back to the checkpoint's round and appends to them.
func TrainResume(ctx context.Context, comm *collective.Comm, c *configs.Config, out io.Writer, r *Resume) error {
	fc := FedConfig(c)
	fc.Checkpoints, fc.CheckpointEvery = true, c.Output.CheckpointEvery
	if v, ok := collective.ViewOf(comm); ok {
		ctl, ok := v.Mux().Transport().(fed.Control)
		if !ok {
			return fmt.Errorf("job: the transport of %T has no control channel", v.Mux().Transport())
		}
		cc, err := CommConfig(c, "", nil) // each epoch sets its JobID
		if err != nil {
			return err
		}
		rj, _ := v.Mux().Transport().(interface{ Rejoined() bool })
		fc.Membership = &fed.Membership{Mux: v.Mux(), Control: ctl, Comm: cc,
			Wait:   2*c.Runtime.LivenessTimeout.Duration + 5*time.Second,
			Rejoin: rj != nil && rj.Rejoined()}
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
		if r != nil {
			return fed.Resume(ctx, comm, fc, nil, nil)
		}
		return fed.Run(ctx, comm, fc, nil)
	}
	dir := ResultsDir(c)
	var (
		rd  *fed.ResultsDir
		ck  *fed.Checkpoint
		err error
	)
	if r != nil {
		dir = r.Dir
		if rd, err = fed.ResumeResultsDir(dir); err != nil {
			return err
		}
		defer rd.Close()
		if ck, err = CheckResume(c, dir, r.Force); err != nil {
			return err
		}
	} else {
		if rd, err = fed.OpenResultsDir(dir); err != nil {
			return err
		}
		defer rd.Close()
	}
	rec, closeResults, err := results(c, out, dir, ck)
	if err != nil {
		return err
	}
	if r != nil {
		err = fed.Resume(ctx, comm, fc, rec, ck)
	} else {
		err = fed.Run(ctx, comm, fc, rec)
	}
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

// ErrConfigChanged is wrapped by the error of [CheckResume] when the
// config differs from the one the checkpoint was taken with (exit 2).
var ErrConfigChanged = errors.New("the config changed since the checkpoint")

// CheckResume reads the checkpoint of the run whose results are in dir
// and checks that c, the config it resumes with, is the config the
// checkpoint was taken with (the SHA-256 of its effective config,
// [ConfigHash]); unless force, a changed config is an error wrapping
// [ErrConfigChanged] and [ErrUsage]. A missing checkpoint wraps
// [ErrUsage]; a corrupt one [fed.ErrCheckpoint], naming the file.
func CheckResume(c *configs.Config, dir string, force bool) (*fed.Checkpoint, error) {
	path := filepath.Join(dir, fed.CheckpointFile)
	ck, err := fed.ReadCheckpoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no checkpoint %s: the run stopped before its first checkpoint (output.checkpoint_every); start it again instead",
			ErrUsage, dir, fed.CheckpointFile)
	}
	if err != nil {
		return nil, err
	}
	hash, err := ConfigHash(c)
	if err != nil {
		return nil, err
	}
	if hash != ck.ConfigHash && !force {
		return nil, fmt.Errorf("%w: %w: %s was taken with another config than %s (edited?): restore it, or resume anyway with --force (results may then differ from an uninterrupted run)",
			ErrUsage, ErrConfigChanged, path, filepath.Join(dir, "config.toml"))
	}
	return ck, nil
}

// ConfigHash returns the SHA-256 of c's effective config
// ([EffectiveConfig]), which checkpoints record.
func ConfigHash(c *configs.Config) ([32]byte, error) {
	b, err := EffectiveConfig(c)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
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
// output.tensorboard is set), the checkpoint writer, then the progress
// lines on out. Call closeResults when the job is over, whether it
// succeeded or not: it closes the files still open.
func Results(c *configs.Config, out io.Writer) (rec fed.Recorder, closeResults func() error, err error) {
	return results(c, out, ResultsDir(c), nil)
}

// results is [Results] into dir, continuing the files of checkpoint ck
// when it is not nil.
func results(c *configs.Config, out io.Writer, dir string, ck *fed.Checkpoint) (rec fed.Recorder, closeResults func() error, err error) {
	effective, err := EffectiveConfig(c)
	if err != nil {
		return nil, nil, err
	}
	csv := fed.NewCSV(fed.CSVConfig{Dir: dir, Checkpoint: c.Output.Checkpoint, ConfigTOML: effective, Resume: ck})
	recs := []fed.Recorder{csv}
	closers := []func() error{csv.Close}
	if c.Output.TensorBoard {
		tb := fed.NewTensorBoard(filepath.Join(dir, TensorBoardDir))
		if ck != nil {
			tb = fed.NewResumedTensorBoard(filepath.Join(dir, TensorBoardDir), ck)
		}
		recs = append(recs, tb)
		closers = append(closers, tb.Close)
	}
	// After the files: they record their sizes in the checkpoint first.
	recs = append(recs, fed.NewCheckpointWriter(filepath.Join(dir, fed.CheckpointFile), sha256.Sum256(effective)))
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
