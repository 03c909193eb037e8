package shm

import "errors"

// Threshold is the smallest frame sent through a slot; smaller ones are
// copied into the queue cell itself.
const Threshold = 16 << 10

// Errors.
var (
	// ErrQueueFull means the receiver's queue has no free cell right now.
	ErrQueueFull = errors.New("shared-memory queue full")
	// ErrUnsupported is returned by Create and Open where shared memory is
	// not implemented.
	ErrUnsupported = errors.New("shared memory is not supported on this platform")
)
