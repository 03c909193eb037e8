package runtime

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

func (w *World) handleHeartbeat(m *nats.Msg) {
	from, ok := w.senderOf(m.Subject)
	if !ok {
		return
	}
	w.heard(from, time.Now().UnixNano())
	if len(m.Data) != 8 {
		return
	}
	sent := int64(binary.BigEndian.Uint64(m.Data))
	storeMax(&w.beatSent[from], sent)
	if hosts := w.hostIdx.Load(); hosts != nil {
		storeMax(&w.hostBeat[(*hosts)[from]], sent)
	}
}

// heard records that something of rank from arrived at now.
func (w *World) heard(from int, now int64) {
	w.lastSeen[from].Store(now)
	if hosts := w.hostIdx.Load(); hosts != nil {
		w.hostHeard[(*hosts)[from]].Store(now)
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
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
	// A rank already reported down (dead, or excluded from a shrunk world:
	// a process that was stopped and resumed thinks everyone else dead)
	// does not speak for the others.
	w.mu.Lock()
	_, gone := w.down[from]
	w.mu.Unlock()
	if gone {
		b.Down = nil
	}
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
		case now := <-t.C:
			// The send time lets receivers tell a dead rank from one whose
			// heartbeats queue behind bulk data on a link (see monitor).
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(now.UnixNano()))
			_ = w.nc.Publish(subject, b[:]) // a failure shows up as a disconnect
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
				if silent <= w.cfg.LivenessTimeout || w.queuedBehind(r, now) {
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

// queuedBehind reports whether rank r, silent on this rank's clock, is
// only late: everything from a host crosses the same routes and
// connections, so when a saturated link queues its heartbeats behind bulk
// data (a 64 MiB allreduce at 100 Mbit/s: scripts/bench-multihost.sh),
// they arrive late for all of the host's ranks alike. r counts as alive
// while its host was heard from within the liveness timeout and r's
// latest heartbeat was sent, on its host's clock, within the timeout of
// the latest of any rank of its host. A crashed rank falls behind its
// host's other ranks; a host whose link is down goes silent as a whole.
func (w *World) queuedBehind(r int, now time.Time) bool {
	hosts := w.hostIdx.Load()
	if hosts == nil {
		return false
	}
	h := (*hosts)[r]
	sent := w.beatSent[r].Load()
	if sent == 0 || now.Sub(time.Unix(0, w.hostHeard[h].Load())) > w.cfg.LivenessTimeout {
		return false
	}
	return time.Duration(w.hostBeat[h].Load()-sent) <= w.cfg.LivenessTimeout
}
