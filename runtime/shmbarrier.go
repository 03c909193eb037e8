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
	missing := func() []int { return seg.BarrierMissing(w.size, n) }
	return w.waitAbort(ctx, missing, func() string { return fmt.Sprintf("ranks %v", missing()) })
}

// waitAbort says why a wait for the ranks awaited returns should stop, if
// it should: the world closed, ctx ended (the error names what, which
// describes them), or this rank or one of them is down. awaited is called
// only when some rank is down.
func (w *World) waitAbort(ctx context.Context, awaited func() []int, what func() string) error {
	select {
	case <-w.done:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w (still waiting for %s)", err, what())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.down) == 0 {
		return nil
	}
	if err, ok := w.down[-1]; ok {
		return &DownError{Rank: -1, Err: err}
	}
	for _, r := range awaited() {
		if err, ok := w.down[r]; ok {
			return &DownError{Rank: r, Err: err}
		}
	}
	return nil
}

// setupScratch decides, from the shared-memory exchanges (all: what each
// rank announced, oks: which segments each rank mapped), whether the
// collectives can run in shared memory (see Scratch): the shared barrier
// is on and every rank mapped every other's segment, whose scratch buffers
// all have one size. Every rank decides the same from the same messages.
func (w *World) setupScratch(all, oks []shmAnnounce) {
	if w.barrierSeg == nil || w.shm == nil || all[0].Scratch <= 0 {
		return
	}
	segs := make([]*shm.Segment, w.size)
	for r := range w.size {
		if all[r].Scratch != all[0].Scratch || len(oks[r].Mapped) != w.size-1 {
			return
		}
		if r == w.rank {
			segs[r] = w.shm.Segment()
		} else if segs[r] = w.peers[r]; segs[r] == nil {
			return
		}
	}
	w.scratchSize = all[0].Scratch
	for i := range w.scratchBufs {
		w.scratchBufs[i] = make([][]byte, w.size)
		for r, s := range segs {
			w.scratchBufs[i][r] = s.Scratch(i)
		}
	}
}

// ScratchBytes returns the size of each rank's two scratch buffers when
// the collectives can run in shared memory (see Scratch), else 0. Like
// SharedBarrier it is fixed when Join returns and the same on every rank,
// until a rank is readmitted.
func (w *World) ScratchBytes() int {
	if !w.SharedBarrier() {
		return 0
	}
	return w.scratchSize
}

// Scratch returns the next piece's scratch buffers of every rank, indexed
// by rank, when ScratchBytes is not 0: this rank's to write, the others'
// to read (the slice is shared: do not modify it), and the piece's number.
// The p-th call returns buffers p%2; every rank makes the same calls in
// the same order, as with Barrier. When write is true (this rank will
// write its buffer) it first waits until every other rank has released
// piece p-2, the last to use these buffers; it fails as Barrier does,
// naming a rank that is down. The buffers stay mapped until
// ScratchRelease(p), which must follow every successful call. Nothing
// else orders the accesses: the caller uses Barrier, or ScratchPublish
// and ScratchAwait (package collective's shared schedules).
func (w *World) Scratch(ctx context.Context, write bool) (bufs [][]byte, piece uint64, err error) {
	if w.ScratchBytes() == 0 {
		return nil, 0, fmt.Errorf("runtime: no shared scratch memory: not every rank mapped every other's segment")
	}
	if !w.shmUse.enter() {
		return nil, 0, ErrClosed
	}
	p := w.pieces.Add(1) - 1
	if write && p >= 2 {
		for r := range w.size {
			if r == w.rank {
				continue
			}
			if err := w.scratchSeg(r).AwaitReleased(uint32(p-1), w.scratchAbort(ctx, r, "release piece", p-2)); err != nil {
				w.shmUse.exit()
				return nil, 0, err
			}
		}
	}
	return w.scratchBufs[p&1], p, nil
}

// ScratchPublish tells the other ranks that this rank's buffer holds
// piece p.
func (w *World) ScratchPublish(p uint64) { w.shm.Segment().Publish(uint32(p + 1)) }

// ScratchAwait returns once rank has published piece p (ScratchPublish).
// It fails when ctx ends, when rank is down, naming it, or when the world
// closes.
func (w *World) ScratchAwait(ctx context.Context, p uint64, rank int) error {
	return w.scratchSeg(rank).AwaitPublished(uint32(p+1), w.scratchAbort(ctx, rank, "publish piece", p))
}

// ScratchRelease tells the other ranks that this rank has finished
// reading piece p's buffers, and ends Scratch's use of the mappings.
func (w *World) ScratchRelease(p uint64) {
	w.shm.Segment().Release(uint32(p + 1))
	w.shmUse.exit()
}

// scratchSeg returns rank r's segment (the scratch buffers are on only
// when every rank mapped every other's).
func (w *World) scratchSeg(r int) *shm.Segment {
	if r == w.rank {
		return w.shm.Segment()
	}
	return w.peers[r]
}

// scratchAbort says why waiting for rank r to do what (piece p) should
// stop, if it should.
func (w *World) scratchAbort(ctx context.Context, r int, what string, p uint64) func() error {
	return func() error {
		return w.waitAbort(ctx, func() []int { return []int{r} }, func() string { return fmt.Sprintf("rank %d to %s %d", r, what, p) })
	}
}
