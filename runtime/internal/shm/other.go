//go:build !linux

package shm

import goruntime "runtime"

// Shared memory is implemented for Linux only; elsewhere every frame goes
// through the NATS server, Create and Open fail, and nothing else is
// reached.

// Supported reports whether this platform has the shared-memory transport.
const Supported = false

// BarrierMaxRanks is 0: there is no shared-memory barrier.
const BarrierMaxRanks = 0

// Segment is a shared-memory segment; there are none on this platform.
type Segment struct{}

// Sender allocates the slots of a segment.
type Sender struct{ seg *Segment }

// SegmentPath returns "".
func SegmentPath(string, int, string) string { return "" }

// Create fails with ErrUnsupported.
func Create(string, string, int, int, int) (*Segment, error) { return nil, ErrUnsupported }

// Open fails with ErrUnsupported.
func Open(string, string) (*Segment, error) { return nil, ErrUnsupported }

// IsPointer is always false.
func IsPointer([]byte) bool { return false }

// View fails with ErrUnsupported.
func View(*Segment, []byte) ([]byte, func(), error) { return nil, nil, ErrUnsupported }

// Yield yields to the process's other goroutines.
func Yield() { goruntime.Gosched() }

// NewSender returns a sender of seg.
func NewSender(seg *Segment) *Sender { return &Sender{seg: seg} }

// Segment returns the sender's segment.
func (s *Sender) Segment() *Segment { return s.seg }

// Put fails with ErrUnsupported.
func (s *Sender) Put([]byte, int32, func() error) ([]byte, error) { return nil, ErrUnsupported }

// Close does nothing.
func (s *Segment) Close() {}

// Remove does nothing.
func (s *Segment) Remove() {}

// SlotSize returns 0.
func (s *Segment) SlotSize() int { return 0 }

// ScratchSize is always 0 here.
func (s *Segment) ScratchSize() int { return 0 }

// Scratch is never called here.
func (s *Segment) Scratch(int) []byte { return nil }

// Enqueue fails with ErrUnsupported.
func (s *Segment) Enqueue(int, []byte) error { return ErrUnsupported }

// Consume returns at once.
func (s *Segment) Consume(<-chan struct{}, func(int, []byte)) {}

// Poll delivers nothing.
func (s *Segment) Poll(func(int, []byte)) bool { return false }

// Wake does nothing.
func (s *Segment) Wake() {}

// Barrier fails with ErrUnsupported.
func (s *Segment) Barrier(int, int, uint32, func() error) error { return ErrUnsupported }

// BarrierMissing returns nil.
func (s *Segment) BarrierMissing(int, uint32) []int { return nil }

// Publish does nothing.
func (s *Segment) Publish(uint32) {}

// Release does nothing.
func (s *Segment) Release(uint32) {}

// AwaitPublished fails with ErrUnsupported.
func (s *Segment) AwaitPublished(uint32, func() error) error { return ErrUnsupported }

// AwaitReleased fails with ErrUnsupported.
func (s *Segment) AwaitReleased(uint32, func() error) error { return ErrUnsupported }
