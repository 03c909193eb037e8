package collective

import "context"

// All is the destination rank that means "every other rank": the
// transport publishes the frame once and fans it out.
const All = -1

// Transport moves frames between the ranks of one world. Implementations:
// the NATS world in package runtime, and collectivetest's in-memory network.
//
// Frames from one sender to one receiver on one route (point-to-point or
// fan-out) arrive in the order they were sent.
type Transport interface {
	// Rank is this process's rank in [0, Size).
	Rank() int
	// Size is the number of ranks.
	Size() int
	// MaxFrame is the largest frame Send accepts, in bytes.
	MaxFrame() int
	// Send delivers frame to rank to, or to every other rank when to is
	// All. The caller may reuse frame once Send returns.
	Send(ctx context.Context, to int, frame []byte) error
	// Start begins delivery. onFrame is called for every received frame;
	// frame is valid only until onFrame returns (it may point into shared
	// memory), so the callee copies what it keeps. onFrame may be called
	// from several goroutines at once. onDown is called when a rank dies, disconnects or leaves after
	// all its frames were delivered; rank -1 means this rank lost the
	// transport itself.
	Start(onFrame func(from int, frame []byte), onDown func(rank int, err error)) error
}

// A Poller is a Transport that can deliver waiting frames on the caller's
// goroutine (package runtime's World, from its shared-memory queue). A
// call waiting for frames polls it for up to Config.PollFor before it
// sleeps: Poll delivers what is there (through the onFrame callback) and,
// when there was nothing, gives the core to other processes. CanPoll
// reports whether polling can deliver anything at all (package runtime:
// some rank shares memory with this one); calls do not poll when it is
// false.
type Poller interface {
	CanPoll() bool
	Poll() bool
}

// A BarrierTransport is a Transport with a barrier of its own that needs no
// frames (package runtime's, through shared memory, when every rank is on
// one host). Barrier uses it whenever SharedBarrier reports true, which
// must be fixed and the same on every rank. An error that names a rank
// that is down implements interface{ DownRank() int; Unwrap() error }
// (the rank and why it is down).
type BarrierTransport interface {
	Transport
	SharedBarrier() bool
	Barrier(ctx context.Context) error
}

// A HostTransport knows which ranks share a host. HostOf returns the host
// index of a rank in [0, H); it is fixed for the world's lifetime and the
// same on every rank (rank 0's host is 0).
type HostTransport interface {
	Transport
	HostOf(rank int) int
}

// A RejectListener is a Transport that is told which of the frames it
// delivered the Comm dropped as another job's or as replays (see
// [Rejected]): package runtime counts the frames each peer sent, to tell
// a peer that left after all its frames arrived from one that crashed,
// and a frame the peer never sent must not count. FrameRejected is called
// from within the onFrame callback, possibly with the Comm's locks held:
// it must not block or call back into the Comm.
type RejectListener interface {
	FrameRejected(from int)
}
