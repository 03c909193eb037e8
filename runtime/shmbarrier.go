package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/fltk-go/fltk/runtime/internal/shm"
)

// SharedBarrier reports whether Barrier runs through shared memory: every
// rank is on this host and mapped rank 0's segment. It is fixed when Join
// returns and the same on every rank, so every rank takes the same path,
// until a rank is readmitted ([World.Readmit]): its new process did not map
// rank 0's segment, so every rank that readmits it stops using the shared
// barrier (a job readmits before the next epoch's collectives).
func (w *World) SharedBarrier() bool { return w.barrierSeg != nil && !w.readmitted.Load() }

// setupSharedBarrier decides, from the second shared-memory exchange (oks:
// which segments each rank mapped), whether every rank can use rank 0's.
func (w *World) setupSharedBarrier(oks []shmAnnounce) {
	if !w.cfg.SharedBarrier || w.size > shm.BarrierMaxRanks || w.size < 2 {
		return
	}
	for r := 1; r < w.size; r++ {
		if r == w.rank {
			if w.peers[0] == nil {
				return
			}
			continue
		}
		if !slices.Contains(oks[r].Mapped, 0) {
			return
		}
	}
	if w.rank == 0 {
		if w.shm == nil {
			return
		}
		w.barrierSeg = w.shm.Segment()
	} else {
		w.barrierSeg = w.peers[0]
	}
}

// Barrier returns once every rank has called it as often as this rank has,
// through shared memory (see SharedBarrier; without it, it fails at once).
// It fails when ctx ends, naming the ranks that have not arrived, when a
// rank that has not arrived is down, naming it, or when the world closes.
// The waiting itself (spinning, then a futex, then sleeping) is
// shm.Segment.Barrier's.
func (w *World) Barrier(ctx context.Context) error {
	if !shm.Supported {
		return shm.ErrUnsupported
	}
	seg := w.barrierSeg
	if seg == nil {
		return fmt.Errorf("runtime: no shared-memory barrier: not every rank is on this host")
	}
	if !w.shmUse.enter() {
		return ErrClosed
	}
	defer w.shmUse.exit()
	n := w.barriers.Add(1)
	return seg.Barrier(w.rank, w.size, n, func() error { return w.barrierAbort(ctx, seg, n) })
}

// barrierAbort says why waiting for barrier n should stop, if it should.
func (w *World) barrierAbort(ctx context.Context, seg *shm.Segment, n uint32) error {
	select {
	case <-w.done:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w (still waiting for ranks %v)", err, seg.BarrierMissing(w.size, n))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.down) == 0 {
		return nil
	}
	if err, ok := w.down[-1]; ok {
		return &DownError{Rank: -1, Err: err}
	}
	for _, r := range seg.BarrierMissing(w.size, n) {
		if err, ok := w.down[r]; ok {
			return &DownError{Rank: r, Err: err}
		}
	}
	return nil
}
