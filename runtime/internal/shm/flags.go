//go:build linux

package shm

import (
	"sync/atomic"
	"syscall"
	"time"
)

// Each segment's header holds two piece counts of its owner's, for the
// collectives that run through the scratch buffers without a barrier
// (package collective's flag schedules): Published, the number of pieces
// whose data the owner has written to its scratch buffer, and Released,
// the number of pieces whose buffers (every rank's) it has finished
// reading. Each has a count of the ranks asleep on it beside it, so that
// the owner makes the FUTEX_WAKE system call only when someone sleeps. A
// reader of the owner's piece p waits until Published > p; the owner, before
// writing its buffer for piece p (buffer p%2), waits until every other
// rank's Released ≥ p-1: nobody still reads piece p-2 there.
const (
	flagPublished = 512 // each word on its own cache line
	flagReleased  = 640
	flagSleepers  = 64 // a word's sleeper count is this much further
)

// Publish records that the owner's buffer holds pieces [0, n).
func (s *Segment) Publish(n uint32) { s.setFlag(flagPublished, n) }

// Release records that the owner has finished reading pieces [0, n).
func (s *Segment) Release(n uint32) { s.setFlag(flagReleased, n) }

// AwaitPublished returns once the owner published n pieces (see Publish).
// Between looks it calls abort; an error from abort ends the wait.
func (s *Segment) AwaitPublished(n uint32, abort func() error) error {
	return s.awaitFlag(flagPublished, n, abort)
}

// AwaitReleased returns once the owner released n pieces (see Release).
func (s *Segment) AwaitReleased(n uint32, abort func() error) error {
	return s.awaitFlag(flagReleased, n, abort)
}

// setFlag stores n in the word at off, then wakes its sleepers if there
// are any. Both sides' accesses are sequentially consistent, so a sleeper
// either sees n before it sleeps or is counted here.
func (s *Segment) setFlag(off int, n uint32) {
	word := s.u32(off)
	atomic.StoreUint32(word, n)
	if atomic.LoadUint32(s.u32(off+flagSleepers)) != 0 {
		futex(word, futexWake, 1<<30, nil)
	}
}

// awaitFlag waits until the word at off reaches n (counts wrap), as a
// barrier waits: yielding, then in FUTEX_WAIT slices, then sleeping (see
// Barrier for why).
func (s *Segment) awaitFlag(off int, n uint32, abort func() error) error {
	word := s.u32(off)
	reached := func() bool { return int32(atomic.LoadUint32(word)-n) >= 0 }
	if reached() {
		return nil
	}
	sleepers := s.u32(off + flagSleepers)
	start := time.Now()
	for !reached() {
		if err := abort(); err != nil {
			return err
		}
		switch waited := time.Since(start); {
		case waited < barrierSpin:
			Yield()
		case waited < barrierFutexFor:
			atomic.AddUint32(sleepers, 1)
			if v := atomic.LoadUint32(word); int32(v-n) < 0 {
				ts := syscall.NsecToTimespec(int64(barrierSlice))
				futex(word, futexWait, v, &ts)
			}
			atomic.AddUint32(sleepers, ^uint32(0))
		default:
			time.Sleep(min(waited/16, barrierMaxSleep))
		}
	}
	return nil
}
