package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

func (w *World) handleHeartbeat(m *nats.Msg) {
	if from, ok := w.senderOf(m.Subject); ok {
		w.lastSeen[from].Store(time.Now().UnixNano())
	}
}

type byeMsg struct {
	Sent []int64        `json:"sent"`
	Down map[int]string `json:"down,omitempty"` // ranks the leaver knew dead, and why
}

func (w *World) handleBye(m *nats.Msg) {
	from, ok := w.senderOf(m.Subject)
	if !ok {
		return
	}
	var b byeMsg
	if err := json.Unmarshal(m.Data, &b); err != nil || len(b.Sent) != w.size {
		w.reportDown(from, fmt.Errorf("%w (malformed goodbye)", ErrRankLeft))
		return
	}
	// A rank that leaves because another died passes the news on first, so
	// that collectives fail naming the rank at fault, not the messenger.
	var why []string
	for _, r := range slices.Sorted(maps.Keys(b.Down)) {
		if r >= 0 && r < w.size && r != w.rank {
			w.reportDown(r, fmt.Errorf("%w (reported by rank %d: %s)", ErrRankDead, from, b.Down[r]))
			why = append(why, fmt.Sprintf("rank %d is down: %s", r, b.Down[r]))
		}
	}
	w.mu.Lock()
	w.byeCount[from] = b.Sent[w.rank]
	if len(why) > 0 {
		// A collective still waiting for the leaver fails naming it; say
		// which rank's death made it leave.
		w.byeWhy[from] = strings.Join(why, "; ")
	}
	w.mu.Unlock()
	w.checkBye(from)
}

// checkBye reports a leaving rank once every frame it sent us arrived, so
// that no collective it completed is failed for its absence.
func (w *World) checkBye(from int) {
	w.mu.Lock()
	n, ok := w.byeCount[from]
	if !ok || w.recv[from].Load() < n {
		w.mu.Unlock()
		return
	}
	delete(w.byeCount, from)
	why := w.byeWhy[from]
	w.mu.Unlock()
	err := ErrRankLeft
	if why != "" {
		err = fmt.Errorf("%w because %s", ErrRankLeft, why)
	}
	w.reportDown(from, err)
}

// reportDown tells the transport's user, once per rank, that rank is down
// (-1: this rank's connection).
func (w *World) reportDown(rank int, err error) {
	w.mu.Lock()
	if _, ok := w.down[rank]; ok {
		w.mu.Unlock()
		return
	}
	w.down[rank] = err
	f := w.onDown
	w.mu.Unlock()
	if rank >= 0 && !errors.Is(err, ErrRankLeft) {
		w.log.Warn("rank down", LogKeyPeer, rank, "err", err)
	}
	if f != nil {
		f(rank, err)
	}
}

// Down returns the ranks known to be down and why.
func (w *World) Down() map[int]error {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[int]error, len(w.down))
	for r, e := range w.down {
		m[r] = e
	}
	return m
}

func (w *World) heartbeat() {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	subject := w.prefix + ".hb." + strconv.Itoa(w.rank)
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			_ = w.nc.Publish(subject, nil) // a failure shows up as a disconnect
		}
	}
}

func (w *World) monitor() {
	t := time.NewTicker(max(w.cfg.HeartbeatInterval/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			for r := range w.size {
				if r == w.rank {
					continue
				}
				silent := now.Sub(time.Unix(0, w.lastSeen[r].Load()))
				if silent <= w.cfg.LivenessTimeout {
					continue
				}
				w.mu.Lock()
				_, known := w.down[r]
				w.mu.Unlock()
				if !known {
					w.reportDown(r, fmt.Errorf("%w: not heard from for %v (liveness timeout %v)", ErrRankDead, silent.Round(time.Millisecond), w.cfg.LivenessTimeout))
				}
			}
		}
	}
}
