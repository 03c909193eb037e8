package collective_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// BenchmarkCollective times the collectives over in-process worlds: an
// embedded NATS server in the test process, every rank a World joined to
// it in process (shared memory between the ranks on, as on one host), one
// Comm per rank with the default configuration. An iteration starts the
// call on every rank and ends when every rank returned, so ns/op is the
// time of the slowest rank (as in fltk bench) plus the hand-off to the
// ranks' goroutines. Sizes are bytes of float32 per rank: 116136 and
// 796840 are the updates of the MNIST CNN and the Fashion-MNIST CNN.
// wire-B/op counts the frames rank 0 sent and received.
//
// Compare revisions with benchstat:
//
//	go test -run '^$' -bench BenchmarkCollective -count 6 ./collective/ > new.txt
//	benchstat old.txt new.txt
func BenchmarkCollective(b *testing.B) {
	cfg := runtime.DefaultServerConfig()
	cfg.DontListen = true
	srv := runtimetest.RunServer(b, &cfg)
	sizes := []int{4 << 10, 116136, 796840, 1 << 20, 16 << 20}
	for _, op := range []string{"bcast", "gather", "reduce", "allreduce", "barrier"} {
		b.Run("op="+op, func(b *testing.B) {
			for _, np := range []int{2, 5, 9} {
				b.Run(fmt.Sprintf("np=%d", np), func(b *testing.B) {
					// A world per op and np, closed when its
					// sub-benchmarks are done.
					ws := runtimetest.RunWorld(b, srv, fmt.Sprintf("bench-%s-%d", op, np), np, func(c *runtime.Config) {
						d := runtime.DefaultConfig()
						c.HeartbeatInterval, c.LivenessTimeout = d.HeartbeatInterval, d.LivenessTimeout
					})
					comms := runtimetest.Comms(b, ws, collective.DefaultConfig())
					for _, size := range sizes {
						if op == "barrier" {
							size = 0
						}
						b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) { benchOp(b, comms, op, size) })
						if op == "barrier" {
							break
						}
					}
				})
			}
		})
	}
}

// benchOp runs op on size bytes per rank on every rank of comms, b.Loop
// driving rank 0 and rank 0's loop starting the others'.
// It returns the number of iterations.
func benchOp(b *testing.B, comms []*collective.Comm, op string, size int) int {
	np := len(comms)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	calls := make([]func() error, np)
	for r, c := range comms {
		src := make([]float32, size/4)
		for i := range src {
			src[i] = float32(r + i%7)
		}
		var dst []float32
		switch {
		case op == "gather" && r == 0:
			dst = make([]float32, np*len(src))
		case op == "reduce" && r == 0, op == "allreduce":
			dst = make([]float32, len(src))
		}
		calls[r] = func() error {
			var err error
			switch op {
			case "bcast":
				err = collective.Broadcast(ctx, c, src, 0)
			case "gather":
				err = collective.Gather(ctx, c, dst, src, 0)
			case "reduce":
				err = collective.Reduce(ctx, c, dst, src, collective.Sum, 0)
			case "allreduce":
				err = collective.AllReduce(ctx, c, dst, src, collective.Sum)
			case "barrier":
				err = collective.Barrier(ctx, c)
			default:
				panic("unknown op " + op)
			}
			if err != nil {
				cancel() // the other ranks would wait for this one
			}
			return err
		}
	}

	// Ranks 1 … np-1 run one call per token on start and report on done.
	start := make([]chan struct{}, np)
	done := make(chan error, np)
	var wg sync.WaitGroup
	for r := 1; r < np; r++ {
		start[r] = make(chan struct{}, 1)
		wg.Go(func() {
			for range start[r] {
				done <- calls[r]()
			}
		})
	}
	defer func() {
		for r := 1; r < np; r++ {
			close(start[r])
		}
		wg.Wait()
	}()

	if size > 0 {
		b.SetBytes(int64(size))
	}
	before := comms[0].Stats()
	iters := 0
	for b.Loop() {
		for r := 1; r < np; r++ {
			start[r] <- struct{}{}
		}
		errs := []error{calls[0]()}
		for r := 1; r < np; r++ {
			errs = append(errs, <-done)
		}
		if err := errors.Join(errs...); err != nil {
			b.Fatalf("%s of %d bytes on %d ranks: %v", op, size, np, err)
		}
		iters++
	}
	after := comms[0].Stats()
	wire := (after.WireSent + after.WireRecv) - (before.WireSent + before.WireRecv)
	b.ReportMetric(float64(wire)/float64(iters), "wire-B/op")
	return iters
}

// BenchmarkHostNetwork times the collectives over collectivetest's
// in-memory network with 3 hosts of 3 ranks, host-aware (sched=hier) and
// with FlatOnly (sched=flat), and reports the most bytes any host sent to
// the others per call (max-egress-B/op): the in-memory network has no
// links to saturate, so the time says little about real hosts (that is
// scripts/bench-multihost.sh's job), but the bytes are what the links
// would carry.
func BenchmarkHostNetwork(b *testing.B) {
	layout := collectivetest.Hosts(3, 3, 3)
	for _, op := range []string{"bcast", "gather", "reduce", "allreduce"} {
		for _, sched := range []string{"hier", "flat"} {
			for _, size := range []int{116136, 4 << 20} {
				b.Run(fmt.Sprintf("op=%s/sched=%s/size=%d", op, sched, size), func(b *testing.B) {
					nw := collectivetest.NewHostNetwork(b, layout)
					cfg := collective.DefaultConfig()
					cfg.JobID, cfg.FlatOnly = "bench-hosts", sched == "flat"
					comms := nw.Comms(b, cfg)
					nw.ResetBytes()
					iters := benchOp(b, comms, op, size)
					var most int64
					for h := range nw.NumHosts() {
						most = max(most, nw.EgressBytes(h))
					}
					b.ReportMetric(float64(most)/float64(iters), "max-egress-B/op")
				})
			}
		}
	}
}
