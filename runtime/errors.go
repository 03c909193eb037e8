package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by Config.Validate and ConfigFromEnv errors.
	ErrInvalidConfig = errors.New("runtime: invalid config")
	// ErrUnreachable means the NATS server could not be reached before the
	// rendezvous deadline.
	ErrUnreachable = errors.New("runtime: NATS server unreachable")
	// ErrRendezvous means the ranks did not assemble into a world: a
	// timeout, a rank claimed twice, or a world-size mismatch.
	ErrRendezvous = errors.New("runtime: rendezvous failed")
	// ErrRankDead is reported for a rank whose heartbeats stopped.
	ErrRankDead = errors.New("runtime: rank dead")
	// ErrRankLeft is reported for a rank that closed its world.
	ErrRankLeft = errors.New("runtime: rank left")
	// ErrDisconnected means this rank lost its NATS connection.
	ErrDisconnected = errors.New("runtime: disconnected from NATS")
	// ErrProtocol means a rank broke the wire protocol (e.g. a bad
	// shared-memory pointer).
	ErrProtocol = errors.New("runtime: protocol error")
	// ErrClosed is returned by a World after Close.
	ErrClosed = errors.New("runtime: world closed")
	// ErrRankExcluded is wrapped by the error a rank left out of a shrunk
	// world is reported down with ([World.Exclude]).
	ErrRankExcluded = errors.New("runtime: rank excluded from the world")
)

// RendezvousError details a failed rendezvous.
type RendezvousError struct {
	Job     string
	Missing []int  // ranks that never arrived, if that was the cause
	Reason  string // human-readable cause
}

func (e *RendezvousError) Error() string {
	return fmt.Sprintf("runtime: rendezvous of job %q failed: %s", e.Job, e.Reason)
}

// Unwrap returns ErrRendezvous.
func (e *RendezvousError) Unwrap() error { return ErrRendezvous }

// DownError is returned by World.Barrier when a rank it waits for is down.
type DownError struct {
	Rank int   // the rank that is down; -1 means this rank's connection
	Err  error // why, wrapping ErrRankDead, ErrRankLeft or ErrDisconnected
}

func (e *DownError) Error() string {
	if e.Rank < 0 {
		return fmt.Sprintf("runtime: this rank's connection is down: %v", e.Err)
	}
	return fmt.Sprintf("runtime: rank %d is down: %v", e.Rank, e.Err)
}

// Unwrap returns the cause.
func (e *DownError) Unwrap() error { return e.Err }

// DownRank returns the rank that is down (package collective turns it into
// its RankError).
func (e *DownError) DownRank() int { return e.Rank }
