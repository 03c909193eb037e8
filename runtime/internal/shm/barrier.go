//go:build linux

package shm

import (
	goruntime "runtime"
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
// for up to barrierSpin and as long as another rank arrived within the
// last barrierSpinIdle: on an oversubscribed host (5 ranks on 2 cores)
// the ranks still to arrive get the core at once, where a sleeper pays a
// wake-up per rank (BenchmarkCollective/op=barrier), and a rank that
// arrives long before the others stops burning a core soon. Then it sleeps
// in FUTEX_WAIT on the wake word, in slices of barrierSlice so that it
// notices a cancelled context, a closed world or a dead rank; after
// barrierFutexFor it sleeps with time.Sleep instead, which, unlike a
// thread blocked in a system call, never holds the process's P, so a long
// wait for a slow rank does not stall the rank's other goroutines.
const (
	barrierWake    = 1024 // offset of the wake word in rank 0's header
	barrierArrived = 1088 // offset of rank 0's arrival word; rank r's is 4r further
	// BarrierMaxRanks is the largest world whose barrier fits rank 0's
	// header.
	BarrierMaxRanks = (header - barrierArrived) / 4

	barrierSpin     = 500 * time.Microsecond
	barrierSpinIdle = 100 * time.Microsecond
	barrierSlice    = time.Millisecond
	barrierFutexFor = 5 * time.Millisecond
	barrierMaxSleep = 2 * time.Millisecond
)

const (
	futexWait = 0
	futexWake = 1
)

func (s *Segment) barrierWake() *uint32 { return s.u32(barrierWake) }

func (s *Segment) barrierArrived(r int) *uint32 { return s.u32(barrierArrived + 4*r) }

// Barrier enters barrier n (the number of barriers rank has entered,
// counting this one) on s, rank 0's segment, and returns once every rank
// in [0, size) has entered it. Between looks it calls abort; an error from
// abort ends the wait and is returned.
func (s *Segment) Barrier(rank, size int, n uint32, abort func() error) error {
	// Store n, never lowering a count a concurrent call of this rank set.
	mine := s.barrierArrived(rank)
	for {
		old := atomic.LoadUint32(mine)
		if int32(old-n) >= 0 || atomic.CompareAndSwapUint32(mine, old, n) {
			break
		}
	}
	wake := s.barrierWake()
	start := time.Now()
	progress, last := start, size
	for first := true; ; first = false {
		ticket := atomic.LoadUint32(wake)
		missing := s.barrierMissing(size, n, nil)
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
		if err := abort(); err != nil {
			return err
		}
		now := time.Now()
		if missing < last {
			progress, last = now, missing
		}
		switch waited := now.Sub(start); {
		case waited < barrierSpin && now.Sub(progress) < barrierSpinIdle:
			Yield()
		case waited < barrierFutexFor:
			ts := syscall.NsecToTimespec(int64(barrierSlice))
			futex(wake, futexWait, ticket, &ts)
		default:
			time.Sleep(min(waited/16, barrierMaxSleep))
		}
	}
}

// BarrierMissing returns the ranks in [0, size) that have not entered
// barrier n.
func (s *Segment) BarrierMissing(size int, n uint32) []int {
	var missing []int
	s.barrierMissing(size, n, &missing)
	return missing
}

// barrierMissing counts the ranks that have not entered barrier n, and
// appends them to missing when it is not nil.
func (s *Segment) barrierMissing(size int, n uint32, missing *[]int) int {
	k := 0
	for r := range size {
		if int32(atomic.LoadUint32(s.barrierArrived(r))-n) < 0 {
			k++
			if missing != nil {
				*missing = append(*missing, r)
			}
		}
	}
	return k
}

func futex(addr *uint32, op int, val uint32, ts *syscall.Timespec) {
	// Not FUTEX_PRIVATE: the word is shared between processes. Errors
	// (EAGAIN: the word changed; ETIMEDOUT; EINTR) all mean "look again".
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}

// Yield gives the core to the process's other goroutines first (ranks in
// one process, in tests), then to other processes (sched_yield).
func Yield() {
	goruntime.Gosched()
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
