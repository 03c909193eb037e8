package collective

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// muxLookahead is how many future epochs a Mux keeps early frames for: a
// rank that already built epoch e+1 may send to one that has not yet.
const muxLookahead = 8

// muxMaxEarly bounds the frames a Mux holds for epochs it has not yet
// begun; beyond it they are dropped (and counted as strangers).
const muxMaxEarly = 1 << 14

// A Mux shares one Transport between the Comms of successive epochs of a
// world that shrinks when ranks are lost (as ULFM's MPI_Comm_shrink):
// epoch 0 holds every rank of the transport; each later epoch a subset of
// them, renumbered densely in increasing transport rank. Each epoch's Comm
// runs over a [View] and carries a job tag derived from the job id and the
// epoch ([EpochJobID]), so a frame of an earlier epoch (a rank that learnt
// late of the shrink) is recognised by its tag, dropped and counted
// ([Mux.DeadFrames]): it never reaches, and never poisons, the current
// epoch's Comm. Frames of the next few epochs that arrive before this rank
// began them are held and replayed in order. Frames from a rank that is
// not in the current epoch are dropped and counted ([Mux.Strangers]).
//
// The Mux owns the transport's single Start registration; only one epoch
// is current at a time and epochs only increase.
type Mux struct {
	t   Transport
	job string
	log *slog.Logger

	dead      atomic.Int64 // frames of an ended epoch, dropped
	strangers atomic.Int64 // frames from ranks outside the current epoch, or held too long, dropped

	mu    sync.Mutex // guards the fields below; taken after the transport's own locks (World.Start delivers under them)
	cur   *View      // the current epoch (nil before the first and after End)
	last  int        // the latest epoch begun, -1 before the first
	tags  map[uint64]int
	early []muxFrame    // frames of epochs not yet begun (or before the first)
	down  map[int]error // transport ranks reported down, and why
	ended map[int]error // epochs ended with End, and why
}

type muxFrame struct {
	from  int
	tag   uint64
	frame []byte
}

// NewMux starts t's delivery and returns a Mux that hands its frames to
// the Comm of the current epoch. job is the job id the epochs' tags derive
// from (Config.JobID of the Comms, see [Mux.NewComm]); log may be nil.
func NewMux(t Transport, job string, log *slog.Logger) (*Mux, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mux{t: t, job: job, log: log, last: -1, tags: map[uint64]int{}, down: map[int]error{}, ended: map[int]error{}}
	for e := range muxLookahead {
		m.tags[JobTag(EpochJobID(job, e))] = e
	}
	if err := t.Start(m.onFrame, m.onDown); err != nil {
		return nil, fmt.Errorf("collective: start transport: %w", err)
	}
	return m, nil
}

// EpochJobID returns the job id of epoch e's Comm: job itself for epoch 0
// (so a world that never shrinks speaks as before), "job@e" after.
func EpochJobID(job string, e int) string {
	if e == 0 {
		return job
	}
	return job + "@" + strconv.Itoa(e)
}

// DeadFrames returns how many frames of ended epochs were dropped.
func (m *Mux) DeadFrames() int64 { return m.dead.Load() }

// Strangers returns how many frames from ranks outside the current epoch
// (or held for an epoch that never came) were dropped.
func (m *Mux) Strangers() int64 { return m.strangers.Load() }

// Transport returns the transport the Mux shares.
func (m *Mux) Transport() Transport { return m.t }

// Down returns the transport ranks reported down, and why.
func (m *Mux) Down() map[int]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := make(map[int]error, len(m.down))
	for r, e := range m.down {
		d[r] = e
	}
	return d
}

// NewComm begins epoch e of the ranks (transport ranks, which must include
// this one) and returns its Comm: cfg with JobID set to
// EpochJobID(job, e). e must be greater than every epoch begun before.
// Close the Comm before beginning the next epoch or when done; closing it
// does not end the epoch (see [Mux.End]).
func (m *Mux) NewComm(e int, ranks []int, cfg Config) (*Comm, error) {
	v, err := m.View(e, ranks)
	if err != nil {
		return nil, err
	}
	cfg.JobID = EpochJobID(m.job, e)
	return New(v, cfg)
}

// View returns the transport of epoch e over ranks (see [Mux.NewComm],
// which also builds the Comm). The epoch begins when the View is started.
func (m *Mux) View(e int, ranks []int) (*View, error) {
	ranks = slices.Clone(ranks)
	slices.Sort(ranks)
	ranks = slices.Compact(ranks)
	me := slices.Index(ranks, m.t.Rank())
	switch {
	case e < 0:
		return nil, fmt.Errorf("%w: epoch %d < 0", ErrInvalidConfig, e)
	case me < 0:
		return nil, fmt.Errorf("%w: epoch %d's ranks %v do not include this rank %d", ErrInvalidConfig, e, ranks, m.t.Rank())
	case ranks[0] < 0 || ranks[len(ranks)-1] >= m.t.Size():
		return nil, fmt.Errorf("%w: epoch %d's ranks %v are not in [0, %d)", ErrInvalidConfig, e, ranks, m.t.Size())
	}
	v := &View{m: m, epoch: e, ranks: ranks, me: me, tag: JobTag(EpochJobID(m.job, e)), of: map[int]int{},
		full: len(ranks) == m.t.Size()}
	for i, r := range ranks {
		v.of[r] = i
	}
	if ht, ok := m.t.(HostTransport); ok {
		ids := map[int]int{}
		for _, r := range ranks {
			id := ht.HostOf(r)
			if _, ok := ids[id]; !ok {
				ids[id] = len(ids)
			}
			v.hostOf = append(v.hostOf, ids[id])
		}
	}
	return v, nil
}

// Readmit forgets that transport rank was reported down: a new process for
// it joined, and the next epoch that holds it hears it again.
func (m *Mux) Readmit(rank int) {
	m.mu.Lock()
	delete(m.down, rank)
	m.mu.Unlock()
}

// Lobby returns a Comm for a process that joined a running world for a lost
// rank (package runtime's World.Rejoined): it has this rank and the
// transport's size, sends nothing (every call fails) and begins no epoch,
// so that the Mux holds every frame until this rank begins the epoch the
// job takes it back in ([Mux.NewComm]).
func (m *Mux) Lobby(cfg Config) (*Comm, error) {
	all := make([]int, m.t.Size())
	for r := range all {
		all[r] = r
	}
	v := &View{m: m, epoch: -1, ranks: all, me: m.t.Rank(), of: map[int]int{}, lobby: true}
	for i, r := range all {
		v.of[r] = i
	}
	cfg.JobID = EpochJobID(m.job, 0)
	return New(v, cfg)
}

// End ends epoch e: every pending and later call of its Comm fails with
// an error wrapping [ErrEpochEnded] and why, and its late frames are
// counted as dead. It does nothing if e is not the current epoch.
func (m *Mux) End(e int, why error) {
	m.mu.Lock()
	v := m.cur
	if v == nil || v.epoch != e {
		m.mu.Unlock()
		return
	}
	m.cur = nil
	m.ended[e] = why
	m.mu.Unlock()
	m.log.Info("epoch ended", "epoch", e, "why", why)
	v.onDown(-1, fmt.Errorf("%w: epoch %d: %w", ErrEpochEnded, e, why))
}

// begin makes v the current epoch, replays the frames held for it and
// reports its ranks already down.
func (m *Mux) begin(v *View, onFrame func(int, []byte), onDown func(int, error)) error {
	m.mu.Lock()
	if v.epoch <= m.last {
		m.mu.Unlock()
		return fmt.Errorf("collective: epoch %d begun after epoch %d", v.epoch, m.last)
	}
	if old := m.cur; old != nil {
		m.ended[old.epoch] = fmt.Errorf("epoch %d began", v.epoch)
	}
	v.onFrame, v.onDown = onFrame, onDown
	m.cur, m.last = v, v.epoch
	for e := v.epoch; e <= v.epoch+muxLookahead; e++ { // v.epoch too: a rank that never began epoch 0 (Lobby) did not know its tag
		m.tags[JobTag(EpochJobID(m.job, e))] = e
	}
	// Replay under the lock, so that no later frame overtakes them (as
	// World.Start does with its early frames).
	var keep []muxFrame
	for _, f := range m.early {
		e, known := m.tags[f.tag]
		switch {
		case known && e == v.epoch, !known && v.epoch == 0:
			if vr, ok := v.of[f.from]; ok {
				onFrame(vr, f.frame)
			} else {
				m.strangers.Add(1)
			}
		case known && e < v.epoch:
			m.dead.Add(1)
		default:
			keep = append(keep, f)
		}
	}
	m.early = keep
	down := make(map[int]error)
	for r, err := range m.down {
		if vr, ok := v.of[r]; ok {
			down[vr] = err
		} else if r < 0 {
			down[-1] = err
		}
	}
	m.mu.Unlock()
	m.log.Debug("epoch begun", "epoch", v.epoch, "ranks", v.ranks)
	for r, err := range down {
		onDown(r, err)
	}
	return nil
}

// tagOf returns the job tag of an fltk frame.
func tagOf(frame []byte) (uint64, bool) {
	if len(frame) < HeaderSize || frame[0] != frameMagic0 || frame[1] != frameMagic1 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(frame[8:]), true
}

func (m *Mux) onFrame(from int, frame []byte) {
	tag, ok := tagOf(frame)
	m.mu.Lock()
	v := m.cur
	e, known := m.tags[tag]
	switch {
	case v != nil && (tag == v.tag || !ok || !known):
		// The current epoch's frames, and frames no epoch claims (the
		// Comm rejects them as foreign or corrupt, as without a Mux).
		m.mu.Unlock()
		if vr, member := v.of[from]; member {
			v.onFrame(vr, frame)
		} else {
			m.strangers.Add(1)
		}
		return
	case known && e <= m.last:
		m.mu.Unlock()
		m.dead.Add(1)
		m.log.Debug("frame of an ended epoch dropped", "from", from, "epoch", e)
		return
	case len(m.early) >= muxMaxEarly:
		m.mu.Unlock()
		m.strangers.Add(1)
		return
	}
	// An epoch this rank has not begun yet (or no epoch began yet).
	m.early = append(m.early, muxFrame{from: from, tag: tag, frame: bytes.Clone(frame)})
	m.mu.Unlock()
}

func (m *Mux) onDown(rank int, err error) {
	m.mu.Lock()
	if _, ok := m.down[rank]; ok {
		m.mu.Unlock()
		return
	}
	m.down[rank] = err
	v := m.cur
	m.mu.Unlock()
	if v == nil {
		return
	}
	if rank < 0 {
		v.onDown(-1, err)
	} else if vr, ok := v.of[rank]; ok {
		v.onDown(vr, err)
	}
}

// A View is the Transport of one epoch of a [Mux]: its ranks renumbered
// 0 … len(ranks)−1 in increasing transport rank. It implements Poller,
// BarrierTransport and HostTransport when the shared transport does (the
// shared barrier and the scratch memory only for an epoch of every rank,
// since they count them all).
type View struct {
	m      *Mux
	epoch  int
	ranks  []int       // view rank → transport rank
	of     map[int]int // transport rank → view rank
	me     int
	tag    uint64
	full   bool  // every rank of the transport
	hostOf []int // view rank → dense host index, nil without HostTransport
	lobby  bool  // a Lobby: begins no epoch, sends nothing

	// Set once by Start (under m.mu), read-only after.
	onFrame func(int, []byte)
	onDown  func(int, error)
}

// Epoch returns the view's epoch.
func (v *View) Epoch() int { return v.epoch }

// Ranks returns the transport ranks of the view's ranks, by view rank.
func (v *View) Ranks() []int { return slices.Clone(v.ranks) }

// Rank implements Transport.
func (v *View) Rank() int { return v.me }

// Size implements Transport.
func (v *View) Size() int { return len(v.ranks) }

// MaxFrame implements Transport.
func (v *View) MaxFrame() int { return v.m.t.MaxFrame() }

// Send implements Transport. A fan-out in an epoch of fewer ranks than the
// transport goes to each of them, never to the ranks left out.
func (v *View) Send(ctx context.Context, to int, frame []byte) error {
	if v.lobby {
		return fmt.Errorf("%w: this rank waits to rejoin the job", ErrEpochEnded)
	}
	if to >= 0 {
		return v.m.t.Send(ctx, v.ranks[to], frame)
	}
	if v.full {
		return v.m.t.Send(ctx, All, frame)
	}
	for i, r := range v.ranks {
		if i == v.me {
			continue
		}
		if err := v.m.t.Send(ctx, r, frame); err != nil {
			return err
		}
	}
	return nil
}

// Start implements Transport: it begins the view's epoch.
func (v *View) Start(onFrame func(int, []byte), onDown func(int, error)) error {
	if v.lobby {
		return nil
	}
	return v.m.begin(v, onFrame, onDown)
}

// HostOf implements HostTransport.
func (v *View) HostOf(rank int) int {
	if v.hostOf == nil {
		return 0
	}
	return v.hostOf[rank]
}

// CanPoll implements Poller.
func (v *View) CanPoll() bool {
	p, ok := v.m.t.(Poller)
	return ok && p.CanPoll()
}

// Poll implements Poller.
func (v *View) Poll() bool {
	if p, ok := v.m.t.(Poller); ok {
		return p.Poll()
	}
	return false
}

// SharedBarrier implements BarrierTransport: only for an epoch of every
// rank.
func (v *View) SharedBarrier() bool {
	bt, ok := v.m.t.(BarrierTransport)
	return ok && v.full && bt.SharedBarrier()
}

// Barrier implements BarrierTransport.
func (v *View) Barrier(ctx context.Context) error {
	bt, ok := v.m.t.(BarrierTransport)
	if !ok || !v.full {
		return errors.New("collective: view has no shared barrier")
	}
	return bt.Barrier(ctx)
}

// ScratchBytes implements [ScratchTransport]: only for an epoch of every
// rank (its ranks are the transport's, in order).
func (v *View) ScratchBytes() int {
	st, ok := v.m.t.(ScratchTransport)
	if !ok || !v.full {
		return 0
	}
	return st.ScratchBytes()
}

// Scratch implements [ScratchTransport].
func (v *View) Scratch(ctx context.Context, write bool) ([][]byte, uint64, error) {
	st, ok := v.m.t.(ScratchTransport)
	if !ok || !v.full {
		return nil, 0, errors.New("collective: view has no scratch memory")
	}
	return st.Scratch(ctx, write)
}

// ScratchPublish implements [ScratchTransport] (after a successful Scratch).
func (v *View) ScratchPublish(p uint64) { v.m.t.(ScratchTransport).ScratchPublish(p) }

// ScratchAwait implements [ScratchTransport] (after a successful Scratch).
func (v *View) ScratchAwait(ctx context.Context, p uint64, rank int) error {
	return v.m.t.(ScratchTransport).ScratchAwait(ctx, p, rank)
}

// ScratchRelease implements [ScratchTransport] (after a successful Scratch).
func (v *View) ScratchRelease(p uint64) { v.m.t.(ScratchTransport).ScratchRelease(p) }

// FrameRejected implements [RejectListener]: the shared transport hears
// of a frame the epoch's Comm dropped, in its own rank numbering.
func (v *View) FrameRejected(from int) {
	if l, ok := v.m.t.(RejectListener); ok && from >= 0 && from < len(v.ranks) {
		l.FrameRejected(v.ranks[from])
	}
}

// Mux returns the Mux the view belongs to.
func (v *View) Mux() *Mux { return v.m }

// ViewOf returns the View c runs over, if it runs over one (a Comm made by
// [Mux.NewComm]).
func ViewOf(c *Comm) (*View, bool) {
	v, ok := c.t.(*View)
	return v, ok
}

// Logger returns the Mux's logger.
func (m *Mux) Logger() *slog.Logger { return m.log }
