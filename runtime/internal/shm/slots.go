//go:build linux

package shm

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Sender owns this rank's segment and allocates its slots.
type Sender struct {
	seg  *Segment
	mu   sync.Mutex // guards next and gens: slot allocation
	next int
	gens uint32
}

// NewSender returns the sender of the segment seg, which this rank created.
func NewSender(seg *Segment) *Sender { return &Sender{seg: seg} }

// Segment returns the sender's segment.
func (s *Sender) Segment() *Segment { return s.seg }

// Put copies frame into a free slot for readers receivers and returns the
// pointer message to publish. It waits for a slot until stop says to give up.
func (s *Sender) Put(frame []byte, readers int32, stop func() error) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.seg
	backoff := time.Microsecond
	for {
		for k := range seg.slots {
			i := (s.next + k) % seg.slots
			if atomic.LoadInt32(seg.readers(i)) != 0 {
				continue
			}
			seg.raceAcquireSlot(i) // every reader is done with it
			copy(seg.slot(i), frame)
			seg.raceReleaseSlot(i)
			s.gens++
			atomic.StoreUint32(seg.gen(i), s.gens)
			atomic.StoreInt32(seg.readers(i), readers)
			s.next = i + 1
			var p [ptrLen]byte
			p[0], p[1] = ptrMagic[0], ptrMagic[1]
			binary.LittleEndian.PutUint32(p[4:], uint32(i))
			binary.LittleEndian.PutUint32(p[8:], s.gens)
			binary.LittleEndian.PutUint32(p[12:], uint32(len(frame)))
			return p[:], nil
		}
		if err := stop(); err != nil {
			return nil, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 500*time.Microsecond)
	}
}

// IsPointer reports whether a message is a shared-memory pointer.
func IsPointer(b []byte) bool {
	return len(b) == ptrLen && b[0] == ptrMagic[0] && b[1] == ptrMagic[1]
}

// View resolves a pointer into seg; release must be called when the
// frame is no longer used.
func View(seg *Segment, ptr []byte) (frame []byte, release func(), err error) {
	i := int(binary.LittleEndian.Uint32(ptr[4:]))
	gen := binary.LittleEndian.Uint32(ptr[8:])
	n := int(binary.LittleEndian.Uint32(ptr[12:]))
	if i >= seg.slots || n > seg.slotSize {
		return nil, nil, fmt.Errorf("shared-memory pointer to slot %d (%d bytes) outside the segment", i, n)
	}
	if g := atomic.LoadUint32(seg.gen(i)); g != gen {
		return nil, nil, fmt.Errorf("shared-memory slot %d holds generation %d, pointer says %d", i, g, gen)
	}
	seg.raceAcquireSlot(i)
	return seg.slot(i)[:n], func() {
		seg.raceReleaseSlot(i)
		atomic.AddInt32(seg.readers(i), -1)
	}, nil
}
