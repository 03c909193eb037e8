package collective

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrClosed is returned by calls on a Comm after Close.
	ErrClosed = errors.New("collective: comm closed")
	// ErrEpochEnded is wrapped by the errors of the calls of a Comm whose
	// epoch [Mux.End] ended: the world is being shrunk.
	ErrEpochEnded = errors.New("collective: epoch ended")
	// ErrBadFrame is wrapped by *FrameError: a corrupt, truncated, foreign
	// or inconsistent frame was received.
	ErrBadFrame = errors.New("collective: bad frame")
	// ErrMismatch means the ranks disagree about a collective: a different
	// operation, root, length or element type for the same sequence number.
	ErrMismatch = errors.New("collective: ranks disagree")
	// ErrPeerDown is wrapped by *RankError when a rank died, disconnected
	// or left while a collective still needed it.
	ErrPeerDown = errors.New("collective: peer down")
	// ErrCodec means a chunk could not be encoded or decoded.
	ErrCodec = errors.New("collective: codec")
	// ErrUnknownCodec names a codec this build does not know.
	ErrUnknownCodec = errors.New("collective: unknown codec")
	// ErrInvalidConfig is wrapped by Config.Validate errors.
	ErrInvalidConfig = errors.New("collective: invalid config")
)

// RankError reports a collective that failed because of one rank.
type RankError struct {
	Rank int   // the rank at fault; -1 means the transport itself (every rank)
	Err  error // why, e.g. "no heartbeat for 5s"
}

func (e *RankError) Error() string {
	if e.Rank < 0 {
		return fmt.Sprintf("collective: transport down: %v", e.Err)
	}
	return fmt.Sprintf("collective: rank %d is down: %v", e.Rank, e.Err)
}

// Unwrap returns both ErrPeerDown and the cause.
func (e *RankError) Unwrap() []error { return []error{ErrPeerDown, e.Err} }
