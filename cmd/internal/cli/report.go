package cli

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/fltk-go/fltk/report"
)

const reportUsage = `Usage: fltk report [--out DIR] RESULTS_DIR
       fltk report --compare [--out DIR] RUN_DIR RUN_DIR …

On a run's results folder (output.dir/job.name/, with metrics.csv) it prints
the summary (final and best accuracy, rounds to federated.target_accuracy,
wall time, bytes up and down) and writes PNG and SVG plots into
RESULTS_DIR/plots/. On a sweep folder (with sweep.csv) it prints the sweep's
table and plots (mean ± sd over seeds) against each grid key into
SWEEP_DIR/plots/: final accuracy, best accuracy and wall time for a sweep
of training jobs; median time and GB/s for a sweep of benchmark jobs.

With --compare it prints a row per run and overlays the runs (accuracy
against round, wall time and bytes; cumulative bytes) into ./compare/.

Flags:
`

// reportCmd is "fltk report".
func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	compare := fs.Bool("compare", false, "overlay several runs' results folders")
	out := fs.String("out", "", "folder the plots go into (default RESULTS_DIR/plots, or ./compare with --compare)")
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *compare {
		if len(pos) < 1 {
			return usagef("fltk report --compare needs one or more results folders")
		}
		return reportCompare(pos, cmp(*out, "compare"), stdout)
	}
	if len(pos) != 1 {
		return usagef("fltk report needs exactly one RESULTS_DIR argument, got %d (several runs: --compare)", len(pos))
	}
	dir := pos[0]
	outDir := cmp(*out, filepath.Join(dir, "plots"))
	if report.IsSweep(dir) && !report.IsRun(dir) {
		return reportSweep(dir, outDir, stdout)
	}
	r, err := report.LoadRun(dir)
	if err != nil {
		return err
	}
	if err := report.WriteSummary(stdout, r, report.Summarize(r)); err != nil {
		return err
	}
	files, err := report.PlotRun(r, outDir)
	if err != nil {
		return err
	}
	printPlots(stdout, outDir, files, len(r.Rounds) == 0)
	return nil
}

func printPlots(w io.Writer, dir string, files []string, noRounds bool) {
	switch {
	case len(files) == 0:
		fmt.Fprintf(w, "plots: none (no rounds)\n")
	case noRounds:
		fmt.Fprintf(w, "plots: %d files in %s (no rounds: label histogram only)\n", len(files), dir)
	default:
		fmt.Fprintf(w, "plots: %d files (PNG and SVG) in %s\n", len(files), dir)
	}
}

func reportSweep(dir, outDir string, stdout io.Writer) error {
	s, err := report.LoadSweep(dir)
	if err != nil {
		return err
	}
	if err := report.WriteSweep(stdout, s); err != nil {
		return err
	}
	if err := report.WriteAggregates(stdout, s); err != nil {
		return err
	}
	files, err := report.PlotSweep(s, outDir)
	if err != nil {
		return err
	}
	printPlots(stdout, outDir, files, false)
	return nil
}

func reportCompare(dirs []string, outDir string, stdout io.Writer) error {
	runs := make([]*report.Run, len(dirs))
	for i, d := range dirs {
		r, err := report.LoadRun(d)
		if err != nil {
			return err
		}
		runs[i] = r
	}
	labels := report.Labels(runs)
	if err := report.WriteCompare(stdout, runs, labels); err != nil {
		return err
	}
	files, err := report.PlotCompare(runs, labels, outDir)
	if err != nil {
		return err
	}
	printPlots(stdout, outDir, files, false)
	return nil
}
