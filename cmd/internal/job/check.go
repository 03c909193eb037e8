package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/fed"
	"github.com/fltk-go/fltk/trainer/partition"
)

// CheckWorld reports whether c can run with np ranks: np in
// 1..[configs.MaxWorldSize] and c valid with job.world_size = np (so
// federated.clients_per_round is checked against the clients np ranks
// host). It sets c.Job.WorldSize to np: c is then the effective config of
// the job. Every error names the flag or key and wraps [ErrUsage] (exit 2).
func CheckWorld(c *configs.Config, np int) error {
	if np < 1 || np > configs.MaxWorldSize {
		return fmt.Errorf("%w: -np must be in 1..%d, got %d", ErrUsage, configs.MaxWorldSize, np)
	}
	c.Job.WorldSize = np
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: with -np %d: %w", ErrUsage, np, err)
	}
	return nil
}

// CheckTrain reports, before any process starts, what would make the
// fltk ranks of c (with c.Job.WorldSize ranks, see [CheckWorld]) fail on
// their configuration: for a training job, that it has a worker (-np ≥
// 2), that train.net takes the samples of data.dataset ([fed.CheckNet])
// and that data.sampler_args fit data.sampler
// ([partition.Config.Validate]), the checks the ranks repeat. If
// resultsHere, rank 0 runs on this machine in this working directory:
// output.dir must be writable here. If dataHere, every rank does: the
// files of data.dataset under data.path must be readable here
// ([data.Check]). Every error names the flag or key and wraps [ErrUsage]
// (exit 2).
func CheckTrain(c *configs.Config, resultsHere, dataHere bool) error {
	if c.Job.Task != "train" {
		return nil
	}
	np := c.Job.WorldSize
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }
	if np < 2 {
		bad("-np", fmt.Errorf("a training job needs the federator (rank 0) and at least one worker: -np must be ≥ 2, got %d", np))
	}
	if err := fed.CheckNet(c.Train.Net, c.Data.Dataset, c.Data.SeqLen); err != nil {
		bad("train.net", err)
	}
	pc := partition.Config{Scheme: c.Data.Sampler, Args: c.Data.SamplerArgs}
	if err := pc.Validate(); err != nil {
		bad("data.sampler_args", err)
	}
	if resultsHere {
		if err := checkWritable(filepath.Join(c.Output.Dir, c.Job.Name)); err != nil {
			bad("output.dir", err)
		}
	}
	if dataHere {
		if err := data.Check(c.Data.Dataset, c.Data.Path); err != nil {
			bad("data.path", err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrUsage, errors.Join(errs...))
	}
	return nil
}

// CheckData reports, for a training job, whether the files of
// data.dataset are in data.path and readable on this machine
// ([data.Check]): a rank checks it before it joins the world, so that
// missing data fails at once with a usage error (exit 2) naming the path
// and how to get the files, not after the rendezvous. Other tasks read
// no data.
func CheckData(c *configs.Config) error {
	if c.Job.Task != "train" {
		return nil
	}
	if err := data.Check(c.Data.Dataset, c.Data.Path); err != nil {
		return fmt.Errorf("%w: data.path: %w", ErrUsage, err)
	}
	return nil
}

// CheckJobID reports whether id is a valid job id (the -job flag).
func CheckJobID(id string) error {
	if !runtime.ValidJobID(id) {
		return fmt.Errorf("%w: -job %q must be 1-64 characters of A-Z a-z 0-9 _ -", ErrUsage, id)
	}
	return nil
}

// checkWritable reports whether the directory dir exists and is writable,
// or could be created: its nearest existing ancestor must be a directory
// in which a directory can be made (tried, then removed).
func checkWritable(dir string) error {
	p := dir
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return err
		}
		p = parent
	}
	tmp, err := os.MkdirTemp(p, ".fltk-check-")
	if err != nil {
		return fmt.Errorf("cannot write the results under %s: %w", dir, err)
	}
	return os.Remove(tmp)
}
