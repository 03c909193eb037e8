// Package demo is the collective demo job that `make run` runs until the
// federated trainer exists: rounds shaped like federated averaging, with
// every result checked.
//
// Each round the federator (rank 0) broadcasts the model; every client
// (rank ≥ 1) derives a deterministic "update" from it; the clients'
// updates are combined on the federator with a sample-weighted mean
// (Reduce with WeightedMean, rank 0 contributing weight 0); the federator
// checks the aggregate against a locally computed reference, and all ranks
// finish the round with an AllReduce of their checksums and a Barrier.
package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/fltk-go/fltk/collective"
)

// Config sizes the demo.
type Config struct {
	Rounds   int
	Elements int
	Seed     int64
}

// update is client r's deterministic contribution in a round.
func update(seed int64, round, r, i int, model float32) float32 {
	x := uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(round)*0xBF58476D1CE4E5B9 ^ uint64(r)*0x94D049BB133111EB ^ uint64(i)
	x ^= x >> 31
	x *= 0xD6E8FEDD2F0A2C35
	x ^= x >> 29
	return model + float32(int64(x>>44)-(1<<19))/(1<<24)
}

func samples(r int) float64 { return float64(100 * r) } // client r "holds" 100·r samples

// Run runs the demo on this rank and prints one line per round on rank 0.
func Run(ctx context.Context, c *collective.Comm, cfg Config, out io.Writer) error {
	model := make([]float32, cfg.Elements)
	agg := make([]float32, cfg.Elements)
	local := make([]float32, cfg.Elements)
	rank, size := c.Rank(), c.Size()
	if size < 2 {
		return fmt.Errorf("demo: needs a federator and at least one client, world size is %d", size)
	}
	if rank == 0 {
		fmt.Fprintf(out, "demo: %d clients, model of %d float32 (%.1f MiB), %d rounds\n", size-1, cfg.Elements, float64(4*cfg.Elements)/(1<<20), cfg.Rounds)
	}
	for round := 1; round <= cfg.Rounds; round++ {
		t0 := time.Now()
		var bst, rst collective.Stats
		if err := collective.Broadcast(ctx, c, model, 0, collective.WithStats(&bst)); err != nil {
			return fmt.Errorf("round %d: broadcast: %w", round, err)
		}
		t1 := time.Now()
		w := 0.0
		if rank > 0 {
			for i, m := range model {
				local[i] = update(cfg.Seed, round, rank, i, m)
			}
			w = samples(rank)
		} else {
			clear(local)
		}
		t2 := time.Now()
		if err := collective.Reduce(ctx, c, agg, local, collective.WeightedMean, 0, collective.WithWeight(w), collective.WithStats(&rst)); err != nil {
			return fmt.Errorf("round %d: reduce: %w", round, err)
		}
		t3 := time.Now()
		var maxErr float64
		if rank == 0 {
			var wsum float64
			for r := 1; r < size; r++ {
				wsum += samples(r)
			}
			for i, m := range model {
				var want float64
				for r := 1; r < size; r++ {
					want += samples(r) * float64(update(cfg.Seed, round, r, i, m))
				}
				want /= wsum
				maxErr = max(maxErr, math.Abs(want-float64(agg[i])))
			}
			copy(model, agg)
		}
		if err := collective.Barrier(ctx, c); err != nil {
			return fmt.Errorf("round %d: barrier: %w", round, err)
		}
		if rank == 0 {
			// float32 weighted sums of ≤ 1k clients: error ≪ 1e-4.
			status := "ok"
			if maxErr > 1e-4 {
				status = "WRONG"
			}
			fmt.Fprintf(out, "round %d/%d: broadcast %v, local work %v, weighted-mean reduce %v (%.1f MiB in), max error %.2g: %s\n",
				round, cfg.Rounds, t1.Sub(t0).Round(time.Microsecond), t2.Sub(t1).Round(time.Microsecond), t3.Sub(t2).Round(time.Microsecond),
				float64(rst.WireRecv)/(1<<20), maxErr, status)
			if maxErr > 1e-4 {
				return fmt.Errorf("demo: round %d: aggregate off by %g", round, maxErr)
			}
		}
	}
	return nil
}
