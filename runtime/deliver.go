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

// deliver hands a frame, or a shared-memory pointer to one, to the
// transport's user. owned says whether msg may be kept after the call.
func (w *World) deliver(from int, msg []byte, owned bool) {
	w.lastSeen[from].Store(time.Now().UnixNano())
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
