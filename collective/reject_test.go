package collective_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// waitRejected polls c.Rejected until it is want (deliveries are
// asynchronous), failing after total.
func waitRejected(t *testing.T, c *collective.Comm, want collective.Rejected) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.Rejected()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rank %d rejected %v, want %v", c.Rank(), got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// allReduceChecked runs a Sum AllReduce of n elements on every rank
// (rank r contributes r+1+i%5 at i) and checks the result.
func allReduceChecked(t *testing.T, ctx context.Context, comms []*collective.Comm, n int) {
	t.Helper()
	np := len(comms)
	dsts := make([][]float32, np)
	errs := onAll(comms, func(c *collective.Comm) error {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(c.Rank() + 1 + i%5)
		}
		dsts[c.Rank()] = make([]float32, n)
		return collective.AllReduce(ctx, c, dsts[c.Rank()], src, collective.Sum)
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d allreduce: %v", r, err)
		}
	}
	for r, dst := range dsts {
		for i, v := range dst {
			if want := float32(np*(np+1)/2 + np*(i%5)); v != want {
				t.Fatalf("rank %d allreduce [%d] = %v, want %v", r, i, v, want)
			}
		}
	}
}

// TestForeignJobFrameIsRejected: frames of job A delivered to the Comms
// of job B (as if the jobs shared subjects) while B runs collectives are
// dropped and counted as foreign; B's results are right and its Comms
// keep working. The large broadcast's payloads are verified after the
// copy for this job's frames: a foreign one is checked whole first.
func TestForeignJobFrameIsRejected(t *testing.T) {
	a := collectivetest.NewNetwork(t, 2)
	b := collectivetest.NewNetwork(t, 2)
	ca := a.Comms(t, collective.Config{JobID: "job-a", ChunkBytes: 1 << 20})
	cb := b.Comms(t, collective.Config{JobID: "job-b", ChunkBytes: 256})
	var leaked [2]atomic.Int64
	a.SetFilter(func(from, to int, f []byte) []byte {
		b.Inject(from, to, f) // a copy into job B
		leaked[to].Add(1)
		return f
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, n := range []int{3, 100000} {
			buf := make([]float32, n)
			errs := onAll(ca, func(c *collective.Comm) error { return collective.Broadcast(ctx, c, buf, 0) })
			if errs[0] != nil || errs[1] != nil {
				t.Errorf("job A broadcast of %d: %v", n, errs)
			}
		}
		errs := onAll(ca, func(c *collective.Comm) error { return collective.Barrier(ctx, c) })
		if errs[0] != nil || errs[1] != nil {
			t.Errorf("job A barrier: %v", errs)
		}
	})
	allReduceChecked(t, ctx, cb, 1000)
	wg.Wait()
	for r, c := range cb {
		waitRejected(t, c, collective.Rejected{Foreign: leaked[r].Load()})
	}
	allReduceChecked(t, ctx, cb, 1000)
}

// TestReplayedFramesAreDropped: every frame of a multi-chunk AllReduce
// delivered twice (a duplicate chunk of a running call, which a reduction
// would otherwise add twice), then the captured frames of a finished call
// delivered again while the next call runs: the results are right, the
// Comms are not poisoned, and each copy is counted as replayed.
func TestReplayedFramesAreDropped(t *testing.T) {
	for _, codec := range []collective.Codec{collective.CodecNone, collective.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			const np = 3
			nw := collectivetest.NewNetwork(t, np)
			comms := nw.Comms(t, collective.Config{JobID: "replay", ChunkBytes: 256, Window: 4, Codec: codec})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()

			var mu sync.Mutex
			type frame struct {
				from, to int
				b        []byte
			}
			var captured []frame
			dup := true
			var copies [np]int64
			nw.SetFilter(func(from, to int, b []byte) []byte {
				if len(b) <= collective.HeaderSize { // credits: not replayed here
					return b
				}
				mu.Lock()
				defer mu.Unlock()
				captured = append(captured, frame{from, to, append([]byte(nil), b...)})
				if dup {
					nw.Inject(from, to, b)
					copies[to]++
				}
				return b
			})
			allReduceChecked(t, ctx, comms, 1000) // every chunk twice
			mu.Lock()
			dup = false
			old := captured
			captured = nil
			mu.Unlock()
			for r, c := range comms {
				waitRejected(t, c, collective.Rejected{Replayed: copies[r]})
			}

			// Replays of the finished call, during the next one.
			var wg sync.WaitGroup
			wg.Go(func() {
				for _, f := range old {
					nw.Inject(f.from, f.to, f.b)
				}
			})
			allReduceChecked(t, ctx, comms, 1000)
			wg.Wait()
			for _, f := range old {
				copies[f.to]++
			}
			for r, c := range comms {
				waitRejected(t, c, collective.Rejected{Replayed: copies[r]})
			}
			errs := onAll(comms, func(c *collective.Comm) error { return collective.Barrier(ctx, c) })
			for r, err := range errs {
				if err != nil {
					t.Errorf("rank %d barrier after the replays: %v", r, err)
				}
			}
			if t.Failed() {
				return
			}
			fmt.Fprintf(t.Output(), "replayed per rank: %v\n", copies)
		})
	}
}
