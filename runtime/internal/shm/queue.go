//go:build linux

package shm

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
)

// The queue header: tail (next ticket for producers), head (consumer),
// doorbell and sleeping flag, each on its own cache line.
func (s *Segment) qTail() *uint64     { return s.u64(s.queue) }
func (s *Segment) qHead() *uint64     { return s.u64(s.queue + 64) }
func (s *Segment) qSleeping() *uint32 { return s.u32(s.queue + 192) }

func (s *Segment) cell(i int) []byte {
	off := s.queue + header + i*cellSize
	return s.mem[off : off+cellSize : off+cellSize]
}

func (s *Segment) cellSeq(i int) *uint64 {
	return s.u64(s.queue + header + i*cellSize)
}

// Enqueue appends msg (a frame of at most Threshold bytes or a pointer)
// from rank from to the queue of s, the receiver's segment, and rings its
// doorbell. It never blocks: when the queue is full it returns
// ErrQueueFull and the caller sends through the server instead (frames of
// one stream may then arrive out of order, which the collectives accept).
// So a receiver that sends credit from its delivery callback can never
// deadlock with another doing the same.
func (s *Segment) Enqueue(from int, msg []byte) error {
	if len(msg) > Threshold {
		return fmt.Errorf("message of %d bytes does not fit a queue cell", len(msg))
	}
	for {
		t := atomic.LoadUint64(s.qTail())
		i := int(t % Cells)
		seq := atomic.LoadUint64(s.cellSeq(i))
		switch {
		case seq == t:
			if !atomic.CompareAndSwapUint64(s.qTail(), t, t+1) {
				continue
			}
			s.raceAcquireCell(i) // the consumer is done with the cell
			c := s.cell(i)
			binary.LittleEndian.PutUint32(c[8:], uint32(len(msg)))
			binary.LittleEndian.PutUint32(c[12:], uint32(from))
			copy(c[cellHdr:], msg)
			s.raceReleaseCell(i)
			atomic.StoreUint64(s.cellSeq(i), t+1)
			if atomic.LoadUint32(s.qSleeping()) != 0 {
				s.ring()
			}
			return nil
		case seq < t:
			return ErrQueueFull
		}
		// Another producer took cell i; look again.
	}
}

// Consume delivers the queue's messages in order to deliver (the message
// is valid only during the call), sleeping on the doorbell when the queue
// is empty, until done is closed. Only the segment's owner consumes.
func (s *Segment) Consume(done <-chan struct{}, deliver func(from int, msg []byte)) {
	var buf [256]byte
	for {
		s.cmu.Lock()
		s.drain(deliver)
		s.cmu.Unlock()
		select {
		case <-done:
			return
		default:
		}
		// Look again once producers see the flag (and under cmu, so that
		// no poller is half way through the queue): a message put in
		// before it is seen here, one put in after it rings.
		atomic.StoreUint32(s.qSleeping(), 1)
		s.cmu.Lock()
		h := atomic.LoadUint64(s.qHead())
		empty := atomic.LoadUint64(s.cellSeq(int(h%Cells))) != h+1
		s.cmu.Unlock()
		if empty {
			// Sleep until a producer rings (or 100 ms pass, to check done).
			_ = s.bell.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = s.bell.Read(buf[:])
		}
		atomic.StoreUint32(s.qSleeping(), 0)
	}
}

// drain delivers the messages in the queue, in order, and reports whether
// there were any. s.cmu must be held.
func (s *Segment) drain(deliver func(from int, msg []byte)) bool {
	h := atomic.LoadUint64(s.qHead())
	got := false
	for {
		i := int(h % Cells)
		if atomic.LoadUint64(s.cellSeq(i)) != h+1 {
			return got
		}
		s.raceAcquireCell(i)
		c := s.cell(i)
		n := int(binary.LittleEndian.Uint32(c[8:]))
		from := int(binary.LittleEndian.Uint32(c[12:]))
		deliver(from, c[cellHdr:cellHdr+min(n, Threshold)])
		s.raceReleaseCell(i)
		atomic.StoreUint64(s.cellSeq(i), h+Cells)
		h++
		atomic.StoreUint64(s.qHead(), h)
		got = true
	}
}

// Poll delivers what the queue holds unless another consumer is at it,
// and reports whether it delivered anything.
func (s *Segment) Poll(deliver func(from int, msg []byte)) bool {
	if !s.cmu.TryLock() {
		return false
	}
	defer s.cmu.Unlock()
	return s.drain(deliver)
}

// ring wakes the consumer of this (peer's) segment.
func (s *Segment) ring() {
	// A full pipe (EAGAIN) means a wake-up is pending already.
	_, _ = syscall.Write(s.bellFd, []byte{1})
}

// Wake wakes this rank's own consumer (to stop it).
func (s *Segment) Wake() {
	if s.bell != nil {
		_ = s.bell.SetReadDeadline(time.Now())
	}
}
