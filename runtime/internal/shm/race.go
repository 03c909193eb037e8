//go:build linux && race

package shm

import (
	goruntime "runtime"
	"sync"
	"unsafe"
)

// The race detector does not see synchronization through memory mapped
// with mmap (it tracks the Go heap only), so the atomics that order the
// shared-memory queue and slots are invisible to it. In race builds every
// cell and slot gets a token on the Go heap, shared by all worlds of the
// process mapping the same segment, and the hand-offs are annotated on it.

type raceTokens struct {
	cells [Cells]uint64
	slots []uint64
}

var raceTokenMap sync.Map // segment path → *raceTokens

func (s *Segment) tokens() *raceTokens {
	if t, ok := raceTokenMap.Load(s.path); ok {
		return t.(*raceTokens)
	}
	t, _ := raceTokenMap.LoadOrStore(s.path, &raceTokens{slots: make([]uint64, s.slots)})
	return t.(*raceTokens)
}

func (s *Segment) raceReleaseCell(i int) {
	goruntime.RaceReleaseMerge(unsafe.Pointer(&s.tokens().cells[i]))
}

func (s *Segment) raceAcquireCell(i int) {
	goruntime.RaceAcquire(unsafe.Pointer(&s.tokens().cells[i]))
}

func (s *Segment) raceReleaseSlot(i int) {
	goruntime.RaceReleaseMerge(unsafe.Pointer(&s.tokens().slots[i]))
}

func (s *Segment) raceAcquireSlot(i int) {
	goruntime.RaceAcquire(unsafe.Pointer(&s.tokens().slots[i]))
}
