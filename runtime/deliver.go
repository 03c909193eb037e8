package runtime

import (
	"bytes"
	"fmt"
	"time"

	"github.com/fltk-go/fltk/runtime/internal/shm"
	"github.com/nats-io/nats.go"
)

type earlyFrame struct {
	from int
	b    []byte
}

func (w *World) handleData(m *nats.Msg) {
	if from, ok := w.senderOf(m.Subject); ok {
		w.deliver(from, m.Data, true)
	}
}

// handleRemote receives h.<from>: a fan-out meant for the ranks that do not
// share memory with from. A rank that does got the frame through shared
// memory and drops it (it unsubscribes from h.<from> once it knows, but
// frames may already be on their way). Until setupShm decided which ranks
// share memory, the frames wait in w.remoteEarly; setMutual delivers them
// before any later frame (it holds remoteMu until mutualSet is true).
func (w *World) handleRemote(m *nats.Msg) {
	from, ok := w.senderOf(m.Subject)
	if !ok {
		return
	}
	if !w.mutualSet.Load() {
		w.remoteMu.Lock()
		if !w.mutualSet.Load() {
			w.remoteEarly = append(w.remoteEarly, earlyFrame{from, m.Data})
			w.remoteMu.Unlock()
			return
		}
		w.remoteMu.Unlock()
	}
	if !w.shares(from) {
		w.deliver(from, m.Data, true)
	}
}

// shares reports whether this rank and r exchange frames through shared
// memory (mutual, and r not readmitted since).
func (w *World) shares(r int) bool { return w.mutual[r] && !w.cut[r].Load() }

// setMutual records which ranks share memory with this one, delivers the
// h.* frames that arrived before it was known, and unsubscribes from the
// h.<r> of the ranks r that share memory with this one.
func (w *World) setMutual(mutual []bool) {
	w.remoteMu.Lock()
	w.mutual = mutual
	for _, f := range w.remoteEarly {
		if !mutual[f.from] {
			w.deliver(f.from, f.b, true)
		}
	}
	w.remoteEarly = nil
	w.mutualSet.Store(true)
	w.remoteMu.Unlock()
	dropped := false
	for r, s := range w.remoteSubs {
		if mutual[r] && s != nil {
			_ = s.Unsubscribe() // a failure shows up as a disconnect
			dropped = true
		}
	}
	if dropped {
		_ = w.nc.Flush() // the server stops copying them before Join returns
	}
}

// deliver hands a frame, or a shared-memory pointer to one, to the
// transport's user. owned says whether msg may be kept after the call.
func (w *World) deliver(from int, msg []byte, owned bool) {
	w.heard(from, time.Now().UnixNano())
	frame, release := msg, func() {}
	if shm.IsPointer(msg) {
		if !w.shmUse.enter() {
			return // closing: the mappings are going away
		}
		defer w.shmUse.exit()
		if w.peers == nil || w.peers[from] == nil {
			w.reportDown(from, fmt.Errorf("%w: sent a shared-memory pointer, but its segment is not mapped here", ErrProtocol))
			return
		}
		var err error
		if frame, release, err = shm.View(w.peers[from], msg); err != nil {
			w.reportDown(from, fmt.Errorf("%w: %w", ErrProtocol, err))
			return
		}
		owned = false
	}
	w.mu.Lock()
	f := w.onFrame
	if f == nil {
		if !owned {
			frame = bytes.Clone(frame)
		}
		w.early = append(w.early, earlyFrame{from, frame})
		w.recv[from].Add(1)
		w.mu.Unlock()
		release()
		return
	}
	w.mu.Unlock()
	f(from, frame)
	release()
	w.recv[from].Add(1)
	w.checkBye(from)
}

// FrameRejected implements collective.RejectListener: the frame just
// delivered from rank from was dropped as another job's or as a replay,
// so it is not one from sent: it must not count towards the frames a
// leaving rank announced (checkBye), or a replay could make a rank that
// said goodbye look gone before its last frames arrived. It is called
// inside onFrame; deliver counts the frame after onFrame returns (or
// counted it already, for a frame queued before Start), so the count
// ends where it was.
func (w *World) FrameRejected(from int) {
	if from >= 0 && from < len(w.recv) {
		w.recv[from].Add(-1)
	}
}
