//go:build linux

package runtime

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The shared-memory barrier lives in rank 0's segment header, which every
// rank maps when all ranks are on one host: one arrival word per rank
// (the number of barriers that rank has entered) and a wake word. A rank
// stores its count; the rank that finds every count at least its own bumps
// the wake word and wakes every sleeper with one FUTEX_WAKE. One hop, no
// message, no goroutine in between.
//
// A waiter first spins, yielding its core with sched_yield between looks,
// for up to shmBarrierSpin and as long as another rank arrived within the
// last shmBarrierSpinIdle: on an oversubscribed host (5 ranks on 2 cores)
// the ranks still to arrive get the core at once, where a sleeper pays a
// wake-up per rank (measured on 2 cores, np = 5: 350 µs sleeping at once,
// 75–90 µs spinning; np = 9: 0.7–1.2 ms vs 120–160 µs), and a rank that
// arrives long before the others stops burning a core soon. Then it sleeps
// in FUTEX_WAIT on the wake word, in slices of shmBarrierSlice so that it
// notices a cancelled context, a closed world or a dead rank; after
// shmBarrierFutexFor it sleeps with time.Sleep instead, which, unlike a
// thread blocked in a system call, never holds the process's P, so a long
// wait for a slow rank does not stall the rank's other goroutines.
const (
	shmBarrierWake    = 1024 // offset of the wake word in rank 0's header
	shmBarrierArrived = 1088 // offset of rank 0's arrival word; rank r's is 4r further
	shmBarrierMaxRank = (shmHeader - shmBarrierArrived) / 4

	shmBarrierSpin     = 500 * time.Microsecond
	shmBarrierSpinIdle = 100 * time.Microsecond
	shmBarrierSlice    = time.Millisecond
	shmBarrierFutexFor = 5 * time.Millisecond
	shmBarrierMaxSleep = 2 * time.Millisecond
)

const (
	futexWait = 0
	futexWake = 1
)

func (s *shmSeg) barrierWake() *uint32 { return s.u32(shmBarrierWake) }

func (s *shmSeg) barrierArrived(r int) *uint32 { return s.u32(shmBarrierArrived + 4*r) }

// SharedBarrier reports whether Barrier runs through shared memory: every
// rank is on this host and mapped rank 0's segment. It is fixed when Join
// returns and the same on every rank, so every rank takes the same path.
func (w *World) SharedBarrier() bool { return w.barrierSeg != nil }

// setupSharedBarrier decides, from the second shared-memory exchange (oks:
// which segments each rank mapped), whether every rank can use rank 0's.
func (w *World) setupSharedBarrier(oks []shmAnnounce) {
	if !w.cfg.SharedBarrier || w.size > shmBarrierMaxRank || w.size < 2 {
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
		w.barrierSeg = w.shm.seg
	} else {
		w.barrierSeg = w.peers[0]
	}
}

// Barrier returns once every rank has called it as often as this rank has,
// through shared memory (see SharedBarrier; without it, it fails at once).
// It fails when ctx ends, naming the ranks that have not arrived, when a
// rank that has not arrived is down, naming it, or when the world closes.
func (w *World) Barrier(ctx context.Context) error {
	seg := w.barrierSeg
	if seg == nil {
		return fmt.Errorf("runtime: no shared-memory barrier: not every rank is on this host")
	}
	if !w.shmUse.enter() {
		return ErrClosed
	}
	defer w.shmUse.exit()
	n := w.barriers.Add(1)
	// Store n, never lowering a count a concurrent call of this rank set.
	mine := seg.barrierArrived(w.rank)
	for {
		old := atomic.LoadUint32(mine)
		if int32(old-n) >= 0 || atomic.CompareAndSwapUint32(mine, old, n) {
			break
		}
	}
	wake := seg.barrierWake()
	start := time.Now()
	progress, last := start, w.size
	for first := true; ; first = false {
		ticket := atomic.LoadUint32(wake)
		missing := w.barrierMissing(seg, n, nil)
		if missing == 0 {
			// The last rank to store its count sees every count on its
			// first look (and ranks storing at the same moment may too:
			// extra wake-ups are harmless); the others were woken or saw
			// it while spinning.
			if first {
				atomic.AddUint32(wake, 1)
				futex(wake, futexWake, 1<<30, nil)
			}
			return nil
		}
		if err := w.barrierAbort(ctx, seg, n); err != nil {
			return err
		}
		now := time.Now()
		if missing < last {
			progress, last = now, missing
		}
		switch waited := now.Sub(start); {
		case waited < shmBarrierSpin && now.Sub(progress) < shmBarrierSpinIdle:
			goruntime.Gosched() // other goroutines of this process first (ranks in one process, in tests)
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
		case waited < shmBarrierFutexFor:
			ts := syscall.NsecToTimespec(int64(shmBarrierSlice))
			futex(wake, futexWait, ticket, &ts)
		default:
			time.Sleep(min(waited/16, shmBarrierMaxSleep))
		}
	}
}

// barrierMissing counts the ranks that have not entered barrier n, and
// appends them to missing when it is not nil.
func (w *World) barrierMissing(seg *shmSeg, n uint32, missing *[]int) int {
	k := 0
	for r := range w.size {
		if int32(atomic.LoadUint32(seg.barrierArrived(r))-n) < 0 {
			k++
			if missing != nil {
				*missing = append(*missing, r)
			}
		}
	}
	return k
}

// barrierAbort says why waiting for barrier n should stop, if it should.
func (w *World) barrierAbort(ctx context.Context, seg *shmSeg, n uint32) error {
	select {
	case <-w.done:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		var missing []int
		w.barrierMissing(seg, n, &missing)
		return fmt.Errorf("%w (still waiting for ranks %v)", err, missing)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.down) == 0 {
		return nil
	}
	if err, ok := w.down[-1]; ok {
		return &DownError{Rank: -1, Err: err}
	}
	var missing []int
	w.barrierMissing(seg, n, &missing)
	for _, r := range missing {
		if err, ok := w.down[r]; ok {
			return &DownError{Rank: r, Err: err}
		}
	}
	return nil
}

func futex(addr *uint32, op int, val uint32, ts *syscall.Timespec) {
	// Not FUTEX_PRIVATE: the word is shared between processes. Errors
	// (EAGAIN: the word changed; ETIMEDOUT; EINTR) all mean "look again".
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}

// CanPoll reports whether Poll can deliver anything: whether this rank has
// a shared-memory queue that some other rank writes to.
func (w *World) CanPoll() bool { return w.shm != nil && slices.Contains(w.mutual, true) }

// Poll delivers the frames waiting in this rank's shared-memory queue
// unless the queue's goroutine is at it, and reports whether it delivered
// any; with nothing to deliver it yields the core (sched_yield) to the
// other processes. A caller waiting for a collective calls it for a short
// while before sleeping: on an oversubscribed host the frame it waits for
// then needs no doorbell wake-up of its goroutine (collective.Poller).
func (w *World) Poll() bool {
	if w.shm == nil || !w.shmUse.enter() {
		return false
	}
	defer w.shmUse.exit()
	if w.shm.seg.poll(func(from int, msg []byte) { w.deliver(from, msg, false) }) {
		return true
	}
	goruntime.Gosched()
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	return false
}
