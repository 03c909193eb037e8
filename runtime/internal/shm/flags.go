//go:build linux

package shm

import (
	goruntime "runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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

	flagYields = 2
	wakeSlice  = 100 * time.Microsecond // the shortest sched_runtime Linux takes
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

// awaitFlag waits until the word at off reaches n (counts wrap): yielding
// flagYields times (the writer, on an oversubscribed host, may be waiting
// for this core), then in FUTEX_WAIT slices, then sleeping (see Barrier
// for why). Unlike Barrier it does not spin on yields: under EEVDF every
// sched_yield pushes the caller's deadline back a slice, so a reader that
// yielded while its writer worked stayed queued for milliseconds behind
// ranks that had gone back to computing (bench-vs-mpi.sh COLD=1). While it
// sleeps it asks for the kernel's shortest slice, so that its wake-up
// preempts them.
func (s *Segment) awaitFlag(off int, n uint32, abort func() error) error {
	word := s.u32(off)
	reached := func() bool { return int32(atomic.LoadUint32(word)-n) >= 0 }
	if reached() {
		return nil
	}
	sleepers := s.u32(off + flagSleepers)
	start := time.Now()
	yields := 0
	for !reached() {
		if err := abort(); err != nil {
			return err
		}
		switch waited := time.Since(start); {
		case yields < flagYields:
			yields++
			Yield()
		case waited < barrierFutexFor:
			atomic.AddUint32(sleepers, 1)
			if v := atomic.LoadUint32(word); int32(v-n) < 0 {
				ts := syscall.NsecToTimespec(int64(barrierSlice))
				goruntime.LockOSThread() // the slice is the thread's
				restore := shortSlice()
				futex(word, futexWait, v, &ts)
				restore()
				goruntime.UnlockOSThread()
			}
			atomic.AddUint32(sleepers, ^uint32(0))
		default:
			time.Sleep(min(waited/16, barrierMaxSleep))
		}
	}
	return nil
}

// shortSlice asks for a time slice of wakeSlice for the calling thread
// through sched_setattr's sched_runtime, which Linux 6.12 and later take
// as the slice of a SCHED_OTHER task, keeping its policy and nice value,
// and returns what puts the old slice back. Elsewhere it does nothing.
func shortSlice() (restore func()) {
	var attr schedAttr
	if _, _, e := syscall.RawSyscall6(unix.SYS_SCHED_GETATTR, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0, 0, 0); e != 0 || attr.policy != unix.SCHED_NORMAL {
		return func() {}
	}
	old := attr.runtime
	attr.size, attr.runtime = uint32(unsafe.Sizeof(attr)), uint64(wakeSlice)
	if _, _, e := syscall.RawSyscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&attr)), 0); e != 0 {
		return func() {}
	}
	return func() {
		attr.runtime = old
		_, _, _ = syscall.RawSyscall(unix.SYS_SCHED_SETATTR, 0, uintptr(unsafe.Pointer(&attr)), 0)
	}
}

// schedAttr is Linux's struct sched_attr (without the utilization clamps,
// which sched_setattr leaves alone unless asked).
type schedAttr struct {
	size                      uint32
	policy                    uint32
	flags                     uint64
	nice                      int32
	priority                  uint32
	runtime, deadline, period uint64
}
