//go:build linux

package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestSharedBarrier: with every rank on one host the barrier runs in
// shared memory, and no rank leaves barrier i before every rank entered
// it, whatever the order of arrival. Collectives before and after it still
// match (the barrier keeps its sequence number).
func TestSharedBarrier(t *testing.T) {
	srv := inProcessServer(t)
	const np, rounds = 5, 200
	ws := runtimetest.RunWorld(t, srv, "shbar", np, nil)
	for r, w := range ws {
		if !w.SharedBarrier() {
			t.Fatalf("rank %d: SharedBarrier() = false with every rank in one process", r)
		}
	}
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	var entered [rounds]atomic.Int32
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := runtimetest.OnAll(np, func(r int) error {
		rng := rand.New(rand.NewPCG(uint64(r), 1))
		for i := range rounds {
			if rng.IntN(4) == 0 {
				// Part of the scenario, not a synchronisation: ranks
				// arrive in a random order.
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
			}
			entered[i].Add(1)
			if err := collective.Barrier(ctx, comms[r]); err != nil {
				return err
			}
			if n := entered[i].Load(); n != np {
				cancel() // the others would wait for this rank
				return fmt.Errorf("rank %d left barrier %d when %d of %d ranks had entered it", r, i, n, np)
			}
			if i%50 == 0 {
				v := []float64{float64(r)}
				if err := collective.AllReduce(ctx, comms[r], v, v, collective.Sum); err != nil {
					return err
				}
				if v[0] != np*(np-1)/2 {
					return fmt.Errorf("allreduce after barrier %d: %v", i, v[0])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedBarrierOff: the barrier goes through messages when it is
// turned off, and on every rank when one rank has no shared memory.
func TestSharedBarrierOff(t *testing.T) {
	srv := inProcessServer(t)
	for name, mutate := range map[string]func(*runtime.Config){
		"shared_barrier=false": func(c *runtime.Config) { c.SharedBarrier = false },
		"rank 2 without shm":   func(c *runtime.Config) { c.SharedMemory = c.Rank != 2 },
	} {
		t.Run(name, func(t *testing.T) {
			const np = 3
			ws := runtimetest.RunWorld(t, srv, "shbaroff"+fmt.Sprint(len(name)), np, mutate)
			for r, w := range ws {
				if w.SharedBarrier() {
					t.Errorf("rank %d: SharedBarrier() = true", r)
				}
			}
			comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
			if err := runtimetest.OnAll(np, func(r int) error { return collective.Barrier(t.Context(), comms[r]) }); err != nil {
				t.Fatal(err)
			}
			if err := ws[0].Barrier(t.Context()); err == nil {
				t.Error("World.Barrier without a shared barrier succeeded")
			}
		})
	}
}

// TestSharedBarrierNamesMissingRanks: a barrier that times out names the
// ranks that never arrived.
func TestSharedBarrierNamesMissingRanks(t *testing.T) {
	srv := inProcessServer(t)
	const np = 4
	ws := runtimetest.RunWorld(t, srv, "shbarmiss", np, nil)
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	err := runtimetest.OnAll(np, func(r int) error {
		if r == 1 || r == 3 {
			return nil
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		err := collective.Barrier(ctx, comms[r])
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(fmt.Sprint(err), "still waiting for ranks [1 3]") {
			return fmt.Errorf("rank %d: %v, want a deadline naming ranks [1 3]", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedBarrierDeadRank: a rank that dies before arriving fails the
// barrier on every other rank with an error naming it, within the
// liveness bound; a closed world ends its own wait at once.
func TestSharedBarrierDeadRank(t *testing.T) {
	srv := inProcessServer(t)
	const np, victim = 4, 3
	ws := runtimetest.RunWorld(t, srv, "shbardead", np, func(c *runtime.Config) { c.LivenessTimeout = time.Second })
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	runtime.Crash(ws[victim])
	start := time.Now()
	err := runtimetest.OnAll(np-1, func(r int) error {
		err := collective.Barrier(t.Context(), comms[r])
		var re *collective.RankError
		if !errors.As(err, &re) || re.Rank != victim || !errors.Is(err, runtime.ErrRankDead) {
			return fmt.Errorf("rank %d: %v, want RankError for rank %d (dead)", r, err, victim)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("failure took %v, liveness bound is 1s", elapsed)
	}

	errc := make(chan error, 1)
	calls := runtime.BarrierCalls(ws[0])
	go func() { errc <- ws[0].Barrier(t.Context()) }()
	runtimetest.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if runtime.BarrierCalls(ws[0]) == calls {
			return errors.New("rank 0 has not entered the barrier")
		}
		return nil
	})
	_ = comms[0].Close()
	_ = ws[0].Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("barrier succeeded on a closed world")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("barrier did not end when its world closed")
	}
}
