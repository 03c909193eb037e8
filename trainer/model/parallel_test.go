package model

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelFor runs loops of every size from 0 to 40 on 1 to 3 workers,
// from two goroutines at once (clients sharing the helpers), some after a
// pause long enough for the helpers to park: every index must run exactly
// once, with a worker number below the loop's worker count, and the loop
// must not return before all of them ran.
func TestParallelFor(t *testing.T) {
	prev := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(prev)
	var wg sync.WaitGroup
	for caller := range 2 {
		wg.Go(func() {
			for round := range 60 {
				if round%20 == 19 {
					time.Sleep(helperSpin + time.Millisecond) // helpers park
				}
				for n := range 41 {
					workers := max(1, min(1+(n+round+caller)%3, n))
					counts := make([]atomic.Int32, n)
					var bad atomic.Int32
					parallelFor(workers, n, func(wk, i int) {
						if wk < 0 || wk >= workers {
							bad.Store(int32(wk) + 100)
						}
						if i%7 == 0 {
							runtime.Gosched()
						}
						counts[i].Add(1)
					})
					if b := bad.Load(); b != 0 {
						t.Errorf("worker number %d in a loop of %d workers", b-100, workers)
						return
					}
					for i := range counts {
						if c := counts[i].Load(); c != 1 {
							t.Errorf("caller %d round %d: n=%d workers=%d: index %d ran %d times", caller, round, n, workers, i, c)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if b := busyWorkers.Load(); b != 0 {
		t.Errorf("busyWorkers = %d after all loops, want 0", b)
	}
}
