// Package report reads the results folders that fltk writes and turns
// them into summaries, tables and plots (PNG and SVG, drawn with
// gonum.org/v1/plot). It backs "fltk report". Start from [LoadRun] for a
// run's folder (output.dir/job.name/) or [LoadSweep] for a sweep's folder
// (output.dir/sweeps/NAME/); everything after loading is a pure function
// of the parsed results.
//
// # A run
//
//	r, err := report.LoadRun("results/mnist-fedavg")
//	if err != nil { … }                // ErrNoResults, or a *ParseError naming file and line
//	s := report.Summarize(r)           // final and best accuracy, rounds to target, totals
//	report.WriteSummary(os.Stdout, r, s)
//	files, err := report.PlotRun(r, "results/mnist-fedavg/plots")
//
// metrics.csv is required; clients.csv, classes.csv, partition.csv and
// config.toml (for federated.target_accuracy) are read when present. A
// run of zero rounds (a metrics.csv with only its header, or empty) loads
// and summarizes without error.
//
// # Several runs
//
// [PlotCompare] overlays runs (accuracy against round, wall time and
// bytes moved; cumulative bytes) and [WriteCompare] prints a row per run.
//
// # A sweep
//
// sweep.csv has the columns run,dir, one column per grid key (named by
// its dotted config key), then the columns of its [SweepKind]:
// seed,np,final_accuracy,best_accuracy,rounds_to_target,wall_seconds,
// bytes_up,bytes_down,status for training jobs ([TrainSweep]), or
// seed,np,median_us,min_us,gbps,wall_seconds,status for benchmark jobs
// ([BenchSweep]). [SweepKind.Columns] is their one definition; fltk
// sweep writes its header from it. [LoadSweep] tells the kind from the
// header. [Sweep.Aggregate] gives a metric's mean and standard deviation
// over seeds against one axis (a grid key, or np when it varies; see
// [Sweep.Axes]), a series per combination of the other axes (averaged
// over them when there are more than [MaxSeries]); [PlotSweep] draws the
// kind's metrics ([SweepKind.Metrics]) for every axis, [WriteSweep]
// prints the table and [WriteAggregates] the means.
//
// # Time per round
//
// metrics.csv splits a round into train_seconds, comm_seconds and
// eval_seconds; the rest (round_seconds minus those, [Round.AggSeconds])
// is the federator's aggregation, drawn as its own part.
package report
