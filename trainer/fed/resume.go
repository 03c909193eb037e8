package fed

import (
	"context"
	"fmt"
	"slices"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// Resume continues the federated job of cfg from checkpoint ck, as if
// it had never stopped after round ck.Round: every rank calls it instead
// of [Run], with the same cfg, rank 0 with the checkpoint (see
// [ReadCheckpoint]) and its recorder, the other ranks with nil for both.
// Rank 0 restores the global model and the strategy's state and hands
// each worker its state (optimizer states, error-feedback residual,
// dropout generators) before the first round; the recorder's Start gets
// Setup.Resumed = ck.Round, its Round calls continue with round
// ck.Round+1. A checkpoint that does not fit the job (another net,
// another number of clients) is an error wrapping [ErrCheckpoint] on rank
// 0; the other ranks then fail too.
func Resume(ctx context.Context, comm *collective.Comm, cfg Config, rec Recorder, ck *Checkpoint) error {
	return start(ctx, comm, cfg, rec, true, ck)
}

// restore, when the job resumes, restores the checkpoint's state on
// every rank and returns the first round to run and whether the job was
// already done; else it returns 1, false.
func (j *job) restore(ctx context.Context) (first int, done bool, err error) {
	if !j.resume {
		return 1, false, nil
	}
	ctx, cancel := j.roundCtx(ctx)
	defer cancel()
	header := make([]float64, 3) // block words, round, done
	var blobs [][]byte
	var ferr error
	if j.rank == 0 {
		if blobs, ferr = j.restoreFederator(); ferr == nil {
			header[1] = float64(j.ck.Round)
			if j.ck.Done || j.ck.Round >= j.cfg.Rounds {
				header[2] = 1
			}
		}
	}
	blob, err := scatterBlobs(ctx, j.comm, header, blobs)
	if ferr != nil {
		return 0, false, ferr
	}
	if err != nil {
		return 0, false, err
	}
	round := int(header[1])
	if j.rank != 0 {
		if err := j.restoreWorker(blob); err != nil {
			return 0, false, fmt.Errorf("fed: resume: rank %d: %w", j.rank, err)
		}
	}
	// Each client's scheduler epoch is recounted from the seed when it
	// trains (schedEpoch).
	return round + 1, header[2] == 1, nil
}

// restoreFederator checks the checkpoint against the job, restores the
// global state and the strategy's, and returns each rank's blob.
func (j *job) restoreFederator() ([][]byte, error) {
	ck := j.ck
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCheckpoint, fmt.Sprintf(format, args...))
	}
	switch {
	case ck == nil:
		return nil, fmt.Errorf("fed: resume: rank 0 has no checkpoint")
	case ck.Net != j.models[0].Name():
		return nil, bad("it holds a %s, the job trains a %s", ck.Net, j.models[0].Name())
	case len(ck.Global) != len(j.global):
		return nil, bad("its model state has %d values, the job's %s has %d", len(ck.Global), ck.Net, len(j.global))
	case !slices.Equal(ck.Buffers, j.info.Buffers):
		return nil, bad("its buffer ranges %v differ from the model's %v", ck.Buffers, j.info.Buffers)
	case ck.Optimizers != nil && len(ck.Optimizers) != j.clients:
		return nil, bad("it holds the optimizers of %d clients, the job has %d", len(ck.Optimizers), j.clients)
	}
	for r, res := range ck.Residuals {
		if res != nil && len(res) != len(j.global) {
			return nil, bad("rank %d's residual has %d values, the model %d", r, len(res), len(j.global))
		}
	}
	copy(j.global, ck.Global)
	if st, ok := j.strat.(strategy.Stateful); ok {
		st.Reset()
		if ck.Strategy == j.strat.Name() && ck.StrategyState != nil {
			if err := st.UnmarshalState(ck.StrategyState); err != nil {
				return nil, bad("strategy %s: %v", ck.Strategy, err)
			}
		}
	}
	blobs := make([][]byte, j.size)
	for r := 1; r < j.size; r++ {
		var hosted []int
		for c := range j.clients {
			if j.workerOf(c) == r {
				hosted = append(hosted, c)
			}
		}
		blobs[r] = ck.rankBlob(r, hosted, j.size)
	}
	blobs[0] = []byte{}
	return blobs, nil
}

// restoreWorker applies this worker's blob (marshalRank's format): its
// models' dropout generators, its residual and its clients' optimizers.
func (j *job) restoreWorker(blob []byte) error {
	d := dec{b: blob}
	for i, n := 0, d.count(8); i < n; i++ {
		st := d.bytes()
		if d.err != nil || st == nil || i >= len(j.models) {
			continue // a rank with other parallel models: the rest start afresh
		}
		if rs, ok := j.models[i].(model.RNGState); ok {
			if err := rs.UnmarshalRNG(st); err != nil {
				return err
			}
		}
	}
	j.residual = d.f32s()
	if j.residual != nil && len(j.residual) != len(j.global) {
		return fmt.Errorf("residual of %d values for a state of %d", len(j.residual), len(j.global))
	}
	for n := d.count(12); n > 0 && d.err == nil; n-- {
		c, st := int(d.u32()), d.bytes()
		if d.err != nil {
			break
		}
		if c >= j.clients || j.workerOf(c) != j.rank || st == nil {
			return fmt.Errorf("optimizer state of client %d, not hosted here", c)
		}
		if !j.cfg.KeepOptimizerState {
			continue
		}
		oc := j.cfg.Optimizer
		oc.LR = clientLR(j.strat, oc.LR)
		opt, err := optim.New(oc)
		if err != nil {
			return err
		}
		s, ok := opt.(optim.Stateful)
		if !ok {
			return fmt.Errorf("the %s optimizer cannot restore a state", oc.Name)
		}
		if err := s.UnmarshalState(st); err != nil {
			return fmt.Errorf("client %d: %w", c, err)
		}
		j.opts[c] = opt
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

// resumed returns the rounds done before this run: the checkpoint's
// round on rank 0 of a resumed job, else 0.
func (j *job) resumed() int {
	if j.ck == nil {
		return 0
	}
	return j.ck.Round
}
