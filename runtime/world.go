package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects, under the job's prefix "fltk.<job>":
//
//	p.<to>.<from>   point-to-point frames
//	b.<from>        fan-out frames (every rank subscribes to b.*)
//	hb.<from>       heartbeats
//	bye.<from>      a rank leaving, with how many frames it sent to each rank
//	rdv.hello       rendezvous requests, answered by rank 0
//	rdv.root        rank 0 claims (detects a second rank 0)
//	rdv.ready       rank 0's verdict: the roster, or why the job aborted
//
// Two jobs on one server therefore never see each other's messages.

// World is this process's membership in a job: its rank, the world size,
// and a connection to the job's NATS server. It implements
// collective.Transport.
type World struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	prefix   string
	rank     int
	size     int
	maxFrame int

	sent     []atomic.Int64 // frames sent to each rank (a fan-out counts for every rank)
	recv     []atomic.Int64 // frames received from each rank
	lastSeen []atomic.Int64 // unix nanoseconds each rank was last heard from

	mu       sync.Mutex // guards the fields below
	onFrame  func(int, []byte)
	onDown   func(int, error)
	early    []earlyFrame   // frames received before Start
	down     map[int]error  // ranks reported down
	byeCount map[int]int64  // frames a leaving rank sent us, until all arrived
	byeWhy   map[int]string // why a leaving rank left: the ranks it knew down
	closing  bool

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	subs      []*nats.Subscription

	// Shared memory (nil when off): shm is this rank's segment, peers[r]
	// rank r's segment mapped here, mutual[r] whether r and this rank mapped
	// each other's (then every frame between them skips the server).
	shm       *shmSender
	mutual    []bool
	shmUse    shmGuard // counts users of the mappings; unmapShm waits for them
	peers     []*shmSeg
	shmFrames atomic.Int64 // frames sent through shared memory

	// barrierSeg is rank 0's segment when every rank mapped it (see
	// SharedBarrier); barriers counts the calls of Barrier.
	barrierSeg *shmSeg
	barriers   atomic.Uint32
}

// SharedMemoryFrames returns how many frames this rank sent through shared
// memory.
func (w *World) SharedMemoryFrames() int64 { return w.shmFrames.Load() }

type earlyFrame struct {
	from int
	b    []byte
}

// Join connects to the job's NATS server and waits until all WorldSize
// ranks have arrived. It fails with a *RendezvousError naming the missing
// ranks when cfg.RendezvousTimeout passes, and when two processes claim
// one rank or the ranks disagree on the world size.
func Join(ctx context.Context, cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.RendezvousTimeout)
	defer cancel()
	w := &World{
		cfg: cfg, log: cfg.Logger.With(LogKeyRank, cfg.Rank, LogKeyJob, cfg.JobID),
		prefix: "fltk." + cfg.JobID, rank: cfg.Rank, size: cfg.WorldSize,
		sent: make([]atomic.Int64, cfg.WorldSize), recv: make([]atomic.Int64, cfg.WorldSize),
		lastSeen: make([]atomic.Int64, cfg.WorldSize),
		down:     make(map[int]error), byeCount: make(map[int]int64), byeWhy: make(map[int]string), done: make(chan struct{}),
	}
	nc, err := w.connect(ctx)
	if err != nil {
		return nil, err
	}
	w.nc = nc
	w.maxFrame = int(nc.MaxPayload())
	if err := w.subscribe(); err != nil {
		nc.Close()
		return nil, err
	}
	me := newHello(w.rank, w.size)
	shmAnn, err := w.subscribeShm()
	if err == nil {
		err = w.rendezvous(ctx, me)
	}
	if err == nil {
		err = w.setupShm(ctx, me, shmAnn)
	}
	if err != nil {
		nc.Close()
		w.unmapShm()
		return nil, err
	}
	now := time.Now().UnixNano()
	for r := range w.lastSeen {
		w.lastSeen[r].Store(now)
	}
	w.wg.Go(w.heartbeat)
	w.wg.Go(w.monitor)
	if w.shm != nil {
		w.wg.Go(func() { w.shm.seg.consume(w.done, func(from int, msg []byte) { w.deliver(from, msg, false) }) })
	}
	w.log.Info("joined world", LogKeySize, w.size)
	return w, nil
}

func (w *World) connect(ctx context.Context) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(fmt.Sprintf("fltk job %s rank %d", w.cfg.JobID, w.rank)),
		nats.NoEcho(),
		nats.NoReconnect(),
		nats.Timeout(2 * time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				err = errors.New("connection closed")
			}
			w.lost(err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			w.lost(err)
		}),
	}
	if w.cfg.Token != "" {
		opts = append(opts, nats.Token(w.cfg.Token))
	}
	url := w.cfg.URL
	if url == "" {
		opts = append(opts, nats.InProcessServer(w.cfg.Server.ns))
		url = "in-process"
	}
	backoff := 50 * time.Millisecond
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "Authorization") {
			return nil, fmt.Errorf("runtime: rank %d: NATS server at %s rejected the token: %w", w.rank, url, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: rank %d could not connect to %s within %v: %w", ErrUnreachable, w.rank, url, w.cfg.RendezvousTimeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// lost reports the connection or a subscription broke: every pending
// collective fails.
func (w *World) lost(err error) {
	w.mu.Lock()
	closing := w.closing
	w.mu.Unlock()
	if !closing {
		w.reportDown(-1, fmt.Errorf("%w: %w", ErrDisconnected, err))
	}
}

func (w *World) subscribe() error {
	sub := func(subject string, h nats.MsgHandler) error {
		s, err := w.nc.Subscribe(subject, h)
		if err != nil {
			return fmt.Errorf("runtime: subscribe %s: %w", subject, err)
		}
		// Collectives bound what is in flight with credits; never drop.
		if err := s.SetPendingLimits(-1, -1); err != nil {
			return fmt.Errorf("runtime: subscribe %s: %w", subject, err)
		}
		w.subs = append(w.subs, s)
		return nil
	}
	me := strconv.Itoa(w.rank)
	for _, s := range []struct {
		subject string
		h       nats.MsgHandler
	}{
		{w.prefix + ".p." + me + ".*", w.handleData},
		{w.prefix + ".b.*", w.handleData},
		{w.prefix + ".hb.*", w.handleHeartbeat},
		{w.prefix + ".bye.*", w.handleBye},
	} {
		if err := sub(s.subject, s.h); err != nil {
			return err
		}
	}
	return nil
}

// senderOf parses the last token of a subject as a rank.
func (w *World) senderOf(subject string) (int, bool) {
	i := strings.LastIndexByte(subject, '.')
	r, err := strconv.Atoi(subject[i+1:])
	return r, err == nil && r >= 0 && r < w.size && r != w.rank
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
	if isShmPtr(msg) {
		if !w.shmUse.enter() {
			return // closing: the mappings are going away
		}
		defer w.shmUse.exit()
		if w.peers == nil || w.peers[from] == nil {
			w.reportDown(from, fmt.Errorf("%w: sent a shared-memory pointer, but its segment is not mapped here", ErrProtocol))
			return
		}
		var err error
		if frame, release, err = shmView(w.peers[from], msg); err != nil {
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

// Rank implements collective.Transport.
func (w *World) Rank() int { return w.rank }

// Size implements collective.Transport.
func (w *World) Size() int { return w.size }

// JobID returns the job id.
func (w *World) JobID() string { return w.cfg.JobID }

// MaxFrame implements collective.Transport: the server's max_payload.
func (w *World) MaxFrame() int { return w.maxFrame }

// Send implements collective.Transport. Frames to ranks sharing memory
// with this one go through their shared-memory queues (large frames through
// a slot, with a pointer in the queue); the others through the server.
func (w *World) Send(ctx context.Context, to int, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.shm == nil {
		return w.publish(to, frame)
	}
	var viaShm, viaNATS []int
	for r := range w.size {
		if r == w.rank || (to >= 0 && r != to) {
			continue
		}
		if w.mutual[r] {
			viaShm = append(viaShm, r)
		} else {
			viaNATS = append(viaNATS, r)
		}
	}
	if len(viaShm) == 0 || len(frame) > w.shm.seg.slotSize {
		return w.publish(to, frame)
	}
	// A guard, not a read lock: a delivery holding it may send credit,
	// and a recursive read lock deadlocks behind a waiting writer.
	if !w.shmUse.enter() {
		return ErrClosed
	}
	defer w.shmUse.exit()
	msg := frame
	if len(frame) > shmThreshold {
		var err error
		msg, err = w.shm.put(frame, int32(len(viaShm)), func() error { return w.sendBlocked(ctx, to) })
		if err != nil {
			return fmt.Errorf("runtime: shared-memory send to %s: %w", rankName(to), err)
		}
	}
	w.shmFrames.Add(1)
	for _, r := range viaShm {
		if err := w.peers[r].enqueue(w.rank, msg); err != nil {
			if !errors.Is(err, errQueueFull) {
				return fmt.Errorf("runtime: shared-memory send to rank %d: %w", r, err)
			}
			if err := w.publish(r, msg); err != nil {
				return err
			}
			continue
		}
		w.sent[r].Add(1)
	}
	for _, r := range viaNATS {
		if err := w.publish(r, frame); err != nil {
			return err
		}
	}
	return nil
}

// publish sends msg through the server to rank to, or to every other rank.
func (w *World) publish(to int, msg []byte) error {
	var subject string
	if to < 0 {
		subject = w.prefix + ".b." + strconv.Itoa(w.rank)
		for r := range w.sent {
			w.sent[r].Add(1)
		}
	} else {
		subject = w.prefix + ".p." + strconv.Itoa(to) + "." + strconv.Itoa(w.rank)
		w.sent[to].Add(1)
	}
	if err := w.nc.Publish(subject, msg); err != nil {
		return fmt.Errorf("runtime: publish %s: %w", subject, err)
	}
	return nil
}

// Start implements collective.Transport. Frames that arrived since Join are
// delivered first; ranks already down are reported at once.
func (w *World) Start(onFrame func(int, []byte), onDown func(int, error)) error {
	w.mu.Lock()
	if w.onFrame != nil {
		w.mu.Unlock()
		return errors.New("runtime: transport already started")
	}
	for _, f := range w.early {
		onFrame(f.from, f.b)
	}
	w.early = nil
	w.onFrame, w.onDown = onFrame, onDown
	down := make(map[int]error, len(w.down))
	for r, e := range w.down {
		down[r] = e
	}
	w.mu.Unlock()
	for r, e := range down {
		onDown(r, e)
	}
	for r := range w.size {
		if r != w.rank {
			w.checkBye(r)
		}
	}
	return nil
}

// Close leaves the world: it tells the other ranks how many frames it sent
// each (so they can tell a clean exit from a crash), stops the heartbeat and
// closes the connection. It is idempotent.
func (w *World) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.stop()
		sent := make([]int64, w.size)
		for r := range sent {
			sent[r] = w.sent[r].Load()
		}
		bye := byeMsg{Sent: sent, Down: map[int]string{}}
		w.mu.Lock()
		for r, e := range w.down {
			if r >= 0 && !errors.Is(e, ErrRankLeft) {
				bye.Down[r] = e.Error()
			}
		}
		w.mu.Unlock()
		b, _ := json.Marshal(bye)
		_ = w.nc.Publish(w.prefix+".bye."+strconv.Itoa(w.rank), b)
		err = w.nc.FlushTimeout(5 * time.Second)
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		w.nc.Close()
		w.unmapShm()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			err = fmt.Errorf("runtime: flush on close: %w", err)
		} else {
			err = nil
		}
	})
	return err
}

// stop ends the world's goroutines and waits for them.
func (w *World) stop() {
	close(w.done)
	if w.shm != nil {
		w.shm.seg.wake() // the queue consumer sleeps on its doorbell
	}
	w.wg.Wait()
}

// WaitOthers blocks until every other rank has left or is down, or ctx
// ends. A rank that hosts the job's server calls it before shutting the
// server down.
func (w *World) WaitOthers(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := len(w.down)
		_, self := w.down[-1]
		w.mu.Unlock()
		if self || n >= w.size-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
