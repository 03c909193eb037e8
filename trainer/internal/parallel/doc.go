// Package parallel runs the parallel loops of fltk's fused ops
// (trainer/model/op): a loop over n pieces of work (samples, channels,
// chunks of a tensor) split over the cores, on the goroutines of a
// [Team] that stay between loops, so that a loop costs a few atomic
// operations instead of starting goroutines. Start from [New] with a
// [Config]; the owner of the Team closes it.
//
// # Usage
//
//	team, err := parallel.New(parallel.DefaultConfig())
//	if err != nil { ... }
//	defer team.Close()
//	workers := team.Workers(n, n*macsPerSample) // 1 for small work
//	team.For(workers, n, func(wk, i int) {
//		// sample i, with worker wk's scratch buffers
//	})
//
// # Sharing the cores
//
// A loop splits its work only over the cores (GOMAXPROCS) that no other
// loop is busy on: every Team counts the workers of its running loops in
// one count shared by the process, so two clients training side by side
// in one process — with one Team between them or one each — split their
// batches over about one core each instead of crowding each other's.
// Sharing one Team between the models of a job saves goroutines (one
// helper per core instead of per model); it is safe, as a helper runs
// the loops posted to it one after another.
//
// # Goroutines
//
// A Team starts its helpers on first use, one per core a loop asks for
// beyond the caller's own. Between loops a helper spins for
// [Config.Spin] (as OpenMP's threads do between parallel regions: waking
// a parked goroutine costs more than the serial work between two loops
// of a training step) and then parks, holding no thread. [Team.Close]
// stops the helpers and waits for them; loops run after Close run on
// the calling goroutine alone.
//
// # Determinism
//
// For decides which worker runs which index by timing (a worker that
// runs out of work takes the others' remaining indices), so results are
// reproducible only if f's result for index i does not depend on the
// worker: the ops give every output element to one index and keep
// per-worker scratch buffers, so their results are the same on any number
// of cores.
package parallel
