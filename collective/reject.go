package collective

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Rejected counts the frames a Comm received and dropped without letting
// them touch a call's result ([Comm.Rejected]). Counters only grow.
type Rejected struct {
	// Foreign frames carry another job's tag (two jobs on one subject
	// space, a misrouted or forged publish). They are dropped; the calls
	// of this job go on.
	Foreign int64

	// Replayed frames repeat one this rank already took: a data frame of a
	// call that finished here, or a second copy of a chunk of a running
	// call. They are dropped; the call goes on. (A replayed credit is
	// harmless — credits are cumulative counts — and is not counted.)
	Replayed int64

	// Corrupt frames could not be decoded: a bad checksum, a truncated
	// frame, an impossible header, a payload the codec rejects. Nothing
	// resends a chunk, so a corrupt frame still fails the Comm (every call
	// then fails with a *FrameError); it is counted as well.
	Corrupt int64
}

// Total returns the number of rejected frames.
func (r Rejected) Total() int64 { return r.Foreign + r.Replayed + r.Corrupt }

// String returns "foreign F, replayed R, corrupt C".
func (r Rejected) String() string {
	return fmt.Sprintf("foreign %d, replayed %d, corrupt %d", r.Foreign, r.Replayed, r.Corrupt)
}

// rejectCounters are a Comm's [Rejected] counters: atomics, so that they
// can be counted under either lock (Comm.mu or opState.mu) or none.
type rejectCounters struct {
	foreign, replayed, corrupt atomic.Int64
}

func (rc *rejectCounters) load() Rejected {
	return Rejected{Foreign: rc.foreign.Load(), Replayed: rc.replayed.Load(), Corrupt: rc.corrupt.Load()}
}

// countCorrupt counts err if it is a *FrameError (a frame that could not
// be decoded or verified).
func (rc *rejectCounters) countCorrupt(err error) {
	var fe *FrameError
	if errors.As(err, &fe) {
		rc.corrupt.Add(1)
	}
}

// rejectedFrom tells a transport that is a [RejectListener] that the
// frame it delivered from rank from was dropped as foreign or replayed.
func (c *Comm) rejectedFrom(from int) {
	if l, ok := c.t.(RejectListener); ok {
		l.FrameRejected(from)
	}
}

// Rejected returns the frames this Comm dropped so far: foreign, replayed
// and corrupt ones. A job logs them when it ends ([Rejected.Total] > 0).
func (c *Comm) Rejected() Rejected { return c.rejected.load() }

// recentCalls is how many finished calls a Comm remembers (their kind and
// in streams), to tell a replayed frame of one (dropped) from a frame of
// a rank that disagrees about it (ErrMismatch).
const recentCalls = 256

// doneCall is what a Comm remembers of a call that finished successfully.
type doneCall struct {
	kind    opKind
	streams []streamBlock // the in streams, all complete
}

type streamBlock struct {
	phase uint8
	from  int
	block uint16
}

// rememberDone records op, which finished successfully, in the ring of
// recent calls. c.mu and op.mu must be held.
func (c *Comm) rememberDone(op *opState) {
	d := doneCall{kind: op.kind, streams: make([]streamBlock, 0, len(op.in))}
	for k, s := range op.in {
		d.streams = append(d.streams, streamBlock{phase: k.phase, from: k.peer, block: s.block})
	}
	if len(c.recentKeys) == recentCalls {
		delete(c.recent, c.recentKeys[c.recentNext])
		c.recentKeys[c.recentNext] = op.key
		c.recentNext = (c.recentNext + 1) % recentCalls
	} else {
		c.recentKeys = append(c.recentKeys, op.key)
	}
	c.recent[op.key] = d
}

// replayOf reports whether h, a data frame for the finished call key that
// did not fail here, repeats one the call took: the call's kind and one of
// its in streams. A call older than the last recentCalls is not
// remembered; a frame of it is taken for a replay (a rank that disagreed
// about it would have failed a call since). c.mu must be held.
func (c *Comm) replayOf(key opKey, h *header) bool {
	d, ok := c.recent[key]
	if !ok {
		return true
	}
	if h.op != d.kind {
		return false
	}
	for _, s := range d.streams {
		if s.phase == h.phase && s.from == int(h.src) && s.block == h.block {
			return true
		}
	}
	return false
}
