package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/cmd/internal/sweep"
)

const sweepUsage = `Usage: fltk sweep [flags] SWEEP.toml

Runs a grid of federated jobs one after another, each as
"fltk-launch -np N CONFIG" would: the base config with the grid's values,
for every combination of the [grid] keys (in file order), every np and
every repeat (seeds job.seed, job.seed+1, …). Every run's config is
checked before the first starts. Results go to
<output.dir>/sweeps/NAME/: sweep.csv (one row per run) and one folder per
run (run.toml, output.log and the job's metrics.csv, clients.csv, …).

Running a sweep again skips the runs that finished ok and reruns the
others. SIGINT stops the current run (recorded as interrupted). See
docs/sweeps.md for the file's keys.

Exit codes: 0 every run ok, 1 a run failed or the sweep was interrupted,
2 usage or sweep file error (nothing ran).

Flags:
`

func sweepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "also show the jobs' output (it always goes to each run's output.log)")
	dryRun := fs.Bool("n", false, "print the runs and exit without running them")
	fs.Usage = func() {
		fmt.Fprint(stderr, sweepUsage)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("fltk sweep needs exactly one SWEEP.toml argument, got %d", len(pos))
	}
	plan, err := sweep.Load(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if *dryRun {
		for i := range plan.Runs {
			r := &plan.Runs[i]
			fmt.Fprintf(stdout, "%s\t%s\n", r.ID, plan.Describe(r))
		}
		return nil
	}
	fmt.Fprintf(stdout, "sweep %s: %d runs into %s\n", plan.Name, len(plan.Runs), plan.Dir)
	o := sweep.Options{Progress: stdout, Launch: launchRun}
	if *verbose {
		o.Output = stderr
	}
	err = plan.Run(ctx, o)
	if errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w: %w", sweep.ErrInterrupted, err)
	}
	return err
}

// launchRun runs one job of a sweep as fltk-launch -np N run.toml does,
// forwarding SIGINT and SIGTERM to its workers.
func launchRun(ctx context.Context, r *sweep.Run, configPath string, out io.Writer) error {
	sigs, stop := forwardSignals()
	defer stop()
	return describe(job.Launch(ctx, job.LaunchOptions{
		NP: r.NP, Config: r.Config, Command: workerCommand(configPath),
		Stdout: out, Stderr: out, Signals: sigs, Logger: newLogger(out),
	}))
}
