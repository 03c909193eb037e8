package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/fltk-go/fltk/runtime/internal/shm"
	"github.com/nats-io/nats.go"
)

// shmAnnounce is what each rank tells the others about its segment, and
// later which of theirs it mapped.
type shmAnnounce struct {
	Rank  int    `json:"rank"`
	Path  string `json:"path,omitempty"`
	Nonce string `json:"nonce,omitempty"`
	// Scratch is the size of the segment's scratch buffers.
	Scratch int   `json:"scratch,omitempty"`
	Mapped  []int `json:"mapped,omitempty"`
}

// subscribeShm subscribes to the two shared-memory exchange subjects before
// the rendezvous, so that nothing published after it can be missed.
func (w *World) subscribeShm() ([2]chan *nats.Msg, error) {
	var chs [2]chan *nats.Msg
	for i, subj := range []string{".shm.*", ".shmok.*"} {
		chs[i] = make(chan *nats.Msg, w.size+1)
		s, err := w.nc.ChanSubscribe(w.prefix+subj, chs[i])
		if err != nil {
			return chs, fmt.Errorf("runtime: subscribe: %w", err)
		}
		w.subs = append(w.subs, s)
	}
	return chs, w.nc.Flush()
}

// setupShm creates this rank's segment, maps the segments of the ranks that
// could create theirs, and learns which ranks mapped ours. Every rank takes
// part (with an empty announcement when shared memory is off), so the
// exchange costs two small all-to-all rounds after the rendezvous.
func (w *World) setupShm(ctx context.Context, me hello, chs [2]chan *nats.Msg) error {
	if w.size == 1 {
		w.setMutual(make([]bool, w.size))
		return nil
	}
	ann := shmAnnounce{Rank: w.rank}
	if w.cfg.SharedMemory && shm.Supported {
		path := shm.SegmentPath(w.cfg.JobID, w.rank, me.Nonce)
		slotSize := max(min(w.maxFrame, 1<<20+8<<10), shm.Threshold)
		seg, err := shm.Create(path, me.Nonce, 16, slotSize, w.cfg.ScratchBytes)
		if err != nil {
			w.log.Info("shared memory off", "err", err)
		} else {
			w.shm = shm.NewSender(seg)
			ann.Path, ann.Nonce, ann.Scratch = path, me.Nonce, seg.ScratchSize()
			// The files are only needed until the others mapped them.
			defer seg.Remove()
		}
	}
	exchange := func(subj string, ch chan *nats.Msg, a shmAnnounce) ([]shmAnnounce, error) {
		b, _ := json.Marshal(a)
		if err := w.nc.Publish(w.prefix+subj+strconv.Itoa(w.rank), b); err != nil {
			return nil, err
		}
		got := make([]shmAnnounce, w.size)
		for n := 0; n < w.size-1; {
			select {
			case m := <-ch:
				var x shmAnnounce
				if json.Unmarshal(m.Data, &x) != nil || x.Rank < 0 || x.Rank >= w.size {
					return nil, fmt.Errorf("%w: malformed shared-memory announcement", ErrProtocol)
				}
				got[x.Rank] = x
				n++
			case <-ctx.Done():
				return nil, w.rdvError(nil, "the shared-memory exchange did not complete within %v", w.cfg.RendezvousTimeout)
			}
		}
		return got, nil
	}
	all, err := exchange(".shm.", chs[0], ann)
	if err != nil {
		return err
	}
	all[w.rank] = ann
	w.peers = make([]*shm.Segment, w.size)
	mapped := shmAnnounce{Rank: w.rank}
	if w.cfg.SharedMemory && shm.Supported {
		for r, a := range all {
			if r == w.rank || a.Path == "" || len(a.Nonce) != 16 || w.hostOf[r] != w.hostOf[w.rank] {
				continue
			}
			seg, err := shm.Open(a.Path, a.Nonce)
			if err != nil {
				w.log.Info("cannot map a peer's shared memory; using the server", LogKeyPeer, r, "err", err)
				continue
			}
			w.peers[r] = seg
			mapped.Mapped = append(mapped.Mapped, r)
		}
	}
	oks, err := exchange(".shmok.", chs[1], mapped)
	if err != nil {
		return err
	}
	oks[w.rank] = mapped
	mutual := make([]bool, w.size)
	for r, a := range oks {
		for _, m := range a.Mapped {
			if m == w.rank && r != w.rank && w.peers[r] != nil {
				mutual[r] = true
			}
		}
	}
	w.setMutual(mutual)
	w.setupSharedBarrier(oks)
	w.setupScratch(all, oks)
	return nil
}

// sendBlocked is polled while a send waits for a free shared-memory slot:
// it gives up when ctx ends, the world closes, or a receiver is down.
func (w *World) sendBlocked(ctx context.Context, to int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-w.done:
		return ErrClosed
	default:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for r, err := range w.down {
		if r < 0 || to < 0 || r == to {
			return fmt.Errorf("%s is down: %w", rankName(r), err)
		}
	}
	return nil
}

// shmGuard counts the goroutines using the shared-memory mappings (it may
// be entered recursively) and lets unmapShm wait until none does.
type shmGuard struct {
	mu     sync.Mutex // guards users and closed
	cond   *sync.Cond
	users  int
	closed bool
}

func (g *shmGuard) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.users++
	return true
}

func (g *shmGuard) exit() {
	g.mu.Lock()
	g.users--
	if g.users == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// close refuses new users and waits for the current ones.
func (g *shmGuard) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for g.users > 0 {
		g.cond.Wait()
	}
}

// unmapShm releases the segments once no handler can use them. A send
// waiting for a free slot gives up once the world is closing (sendBlocked).
func (w *World) unmapShm() {
	w.shmUse.close()
	for _, s := range w.peers {
		if s != nil {
			s.Close()
		}
	}
	w.peers = nil
	if w.shm != nil {
		w.shm.Segment().Remove() // normally gone already
		w.shm.Segment().Close()
	}
}

// CanPoll reports whether Poll can deliver anything: whether this rank has
// a shared-memory queue that some other rank writes to.
func (w *World) CanPoll() bool { return w.shm != nil && slices.Contains(w.mutual, true) }

// Poll delivers the frames waiting in this rank's shared-memory queue
// unless the queue's goroutine is at it, and reports whether it delivered
// any; with nothing to deliver it yields the core (sched_yield) to the
// other processes. A caller waiting for a collective calls it for a short
// while before sleeping: on an oversubscribed host the frame it waits for
// then needs no doorbell wake-up of its goroutine (collective.Poller).
func (w *World) Poll() bool {
	if w.shm == nil || !w.shmUse.enter() {
		return false
	}
	defer w.shmUse.exit()
	if w.shm.Segment().Poll(func(from int, msg []byte) { w.deliver(from, msg, false) }) {
		return true
	}
	shm.Yield()
	return false
}

func rankName(r int) string {
	if r < 0 {
		return "all ranks"
	}
	return "rank " + strconv.Itoa(r)
}
