// Package fed runs federated training over a [collective.Comm]: rank 0 is
// the federator, ranks 1..N−1 are workers that host the logical clients.
// Start from [Run], which every rank calls with the same configuration.
//
// # A round
//
//  1. Every rank computes the round's selected clients itself: a pure
//     function of (Config.Seed, round), so no message is needed.
//  2. Each worker trains its selected clients from the global state it
//     holds, up to Config.Parallel at once (one graph per goroutine),
//     and folds their updates (trained − global state) into a local
//     weighted mean (weights from the strategy, e.g. sample counts for
//     FedAvg), in a fixed order. Under a lossy codec (bf16, int8) the
//     worker adds what the codec lost of its previous updates (error
//     feedback, kept per worker rank).
//  3. A weighted-mean Reduce to rank 0 turns the workers' partial means
//     into the mean update over all selected clients (the federator
//     contributes weight 0), which the federator adds to the global state;
//     a Gather brings each client's metadata (samples, steps, loss, time,
//     bytes), always uncompressed, as is the metrics AllReduce of step 5:
//     a codec applies to model payloads only. A strategy that needs every
//     update (median)
//     gets a Gather of every trained state instead of the Reduce: one
//     block per rank, as many states as the busiest worker trained this
//     round.
//  4. The federator applies the strategy (FedAvg takes the mean, FedAdam
//     takes a server Adam step towards it) and broadcasts the new global
//     state.
//  5. Every rank evaluates the new global model on its stride of the test
//     set; an AllReduce of the metrics vectors gives every rank the same
//     accuracy, so all agree on stopping at Config.TargetAccuracy.
//  6. The federator passes the round's results to its [Recorder].
//
// Logical clients are decoupled from ranks: client c lives on worker
// 1 + c mod (N−1), so McMahan's 100-client setups run on five ranks.
//
// # Lost ranks
//
// With Config.Membership a job goes on when worker ranks die, are cut
// off or miss Config.RoundTimeout: the world shrinks to the live ranks
// under a new epoch, decided by rank 0, and the round is redone with them,
// the lost ranks' clients moved to live workers. See [Membership].
//
// # Results
//
// Rank 0 hands the job's results to the [Recorder] given to [Run]: a
// [Setup] before the first round, a [RoundResult] after each round and
// the final global model at the end. [CSV] writes them as files into a
// directory: metrics.csv (one row per round), clients.csv (one row per
// client per round), classes.csv (the global model's per-class precision
// and recall each round), partition.csv (each client's sample count and
// label histogram), config.toml (the effective configuration) and
// model.ckpt (the final global model). [TensorBoard] writes the
// per-round scalars as TensorBoard event files. [Progress] prints a line
// per round; [MultiRecorder] combines recorders. The fltk command records
// into output.dir/job.name/ with all three (TensorBoard into its tb/,
// unless output.tensorboard is false).
//
// # Checkpoints
//
// With Config.Checkpoints, every Config.CheckpointEvery rounds and after
// the last round the workers send rank 0 what they keep between rounds
// (their clients' optimizer states, their error-feedback residual, their
// models' dropout generators), and rank 0 hands a [Checkpoint] — with the
// global model and the strategy's state — to its recorder if it is a
// [Checkpointer]: [CSV] and [TensorBoard] sync their files and record
// their sizes, [CheckpointWriter] writes the file ([CheckpointFile],
// format version [CheckpointVersion]). [Resume] continues a job from a
// checkpoint ([ReadCheckpoint]) as if it had never stopped; with the
// same configuration the results are the same, bit for bit.
//
// # Live view
//
// Config.OnPhase, when set, hears on every rank when a round starts,
// when each of the rank's clients has trained, and when the evaluation
// starts ([PhaseEvent]); fltk-launch turns these into its status line.
package fed
