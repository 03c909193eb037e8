// Package sweep implements "fltk sweep": a grid of jobs (federated
// training, or benchmark jobs with job.task = "bench") run one after
// another, each as fltk-launch would run it, with one summary row per run
// in sweep.csv.
//
// Start from [Load], which reads and validates a sweep file into a
// [Plan] (every run's full configuration, checked by the strict config
// decoder before anything runs), then [Plan.Run] with a [Launcher].
//
// # Files
//
// A plan named NAME keeps its results under <output.dir>/sweeps/NAME/
// (output.dir of the base config): sweep.csv, and one folder per run
// holding run.toml (the run's overrides, then the full config its workers
// read), output.log (the job's output) and the job's own files
// (metrics.csv, clients.csv, config.toml, model.ckpt; bench.csv for a
// benchmark job).
//
// # Resuming
//
// A run is finished when its sweep.csv row says "ok", its results file
// (metrics.csv or bench.csv) exists and its run.toml is the one the plan would write. Running the
// plan again skips finished runs and reruns the others.
package sweep
