package collective

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// Comm runs collectives over a Transport. Every rank of the world creates
// one with New and calls the same collectives in the same order (as in
// MPI); calls are numbered per Comm, so frames of different calls never
// mix, even when calls overlap in time.
type Comm struct {
	t          Transport
	cfg        Config
	rank, size int
	job        uint64
	chunk      int // effective chunk size in bytes
	cs         *codecs
	log        *slog.Logger
	hosts      *hostLayout // nil: the flat (single-host) schedules

	frames sync.Pool    // *[]byte frame buffers
	spare  chan *[]byte // up to spareFrames frame buffers kept across GC cycles (see putFrame)
	bufs   callBufs     // call-lifetime buffers kept between calls (see callBufs)

	mu      sync.Mutex // guards the fields below
	ops     map[opKey]*opState
	seq     uint64   // last collective sequence number issued
	sendSeq []uint64 // point-to-point sequence numbers, per peer
	recvSeq []uint64
	down    map[int]error      // ranks known to be down, and why
	failed  map[opKey]struct{} // calls that ended with an error: their late frames are dropped
	fatal   error              // set when the transport or the frame stream broke: every call fails
	closed  bool
	stats   Stats
	// recent remembers the last recentCalls calls that finished
	// successfully (recentKeys is their ring, recentNext its oldest).
	recent     map[opKey]doneCall
	recentKeys []opKey
	recentNext int

	rejected rejectCounters // frames dropped (atomics: no lock)
}

// opKey identifies a call: collectives have peer -1 and the world sequence
// number; point-to-point transfers have the other rank and the pair's
// sequence number.
type opKey struct {
	peer int
	seq  uint64
}

// New returns a Comm over t and starts the transport's delivery.
func New(t Transport, cfg Config) (*Comm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	chunk := cfg.ChunkBytes
	for chunk > 64 && HeaderSize+encodedBound(CodecZstd, chunk) > t.MaxFrame() {
		chunk = (chunk / 2) &^ 7
	}
	if HeaderSize+encodedBound(CodecZstd, chunk) > t.MaxFrame() {
		return nil, fmt.Errorf("%w: transport MaxFrame %d is too small", ErrInvalidConfig, t.MaxFrame())
	}
	cs, err := newCodecs(cfg.ZstdLevel, chunk)
	if err != nil {
		return nil, err
	}
	n := t.Size()
	c := &Comm{
		t: t, cfg: cfg, rank: t.Rank(), size: n, job: JobTag(cfg.JobID), chunk: chunk, cs: cs, log: cfg.Logger,
		ops: make(map[opKey]*opState), sendSeq: make([]uint64, n), recvSeq: make([]uint64, n), down: make(map[int]error),
		failed: make(map[opKey]struct{}), recent: make(map[opKey]doneCall), spare: make(chan *[]byte, spareFrames),
	}
	if !cfg.FlatOnly {
		var why string
		if c.hosts, why = newHostLayout(t); c.hosts == nil {
			c.log.Debug("flat schedules", "why", why)
		}
	}
	if err := t.Start(c.onFrame, c.onDown); err != nil {
		cs.close()
		return nil, fmt.Errorf("collective: start transport: %w", err)
	}
	return c, nil
}

// Rank returns this rank.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.size }

// Hosts returns the number of hosts the hierarchical schedules use, or 1
// when the Comm uses the flat (single-host) schedules.
func (c *Comm) Hosts() int {
	if c.hosts == nil {
		return 1
	}
	return c.hosts.n
}

// ChunkBytes returns the effective chunk size in bytes.
func (c *Comm) ChunkBytes() int { return c.chunk }

// Codec returns the Comm's default codec (Config.Codec).
func (c *Comm) Codec() Codec { return c.cfg.Codec }

// Stats returns the bytes moved by all calls so far.
func (c *Comm) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close fails pending calls with ErrClosed and releases the codecs. It does
// not close the transport.
func (c *Comm) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ops := c.allOps()
	c.mu.Unlock()
	for _, op := range ops {
		op.fail(ErrClosed)
	}
	// Calls this rank never made (their frames came first) would keep
	// their frames for as long as the Comm is referenced: a federated
	// job keeps the Comm of every epoch it went through (scripts/soak.sh).
	c.mu.Lock()
	clear(c.ops)
	c.mu.Unlock()
	c.bufs.drop()
	c.cs.close()
	return nil
}

// allOps returns the registered ops. c.mu must be held.
func (c *Comm) allOps() []*opState {
	ops := make([]*opState, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	return ops
}

// onDown records that rank is down and fails every call that still needs it.
func (c *Comm) onDown(rank int, err error) {
	rerr := &RankError{Rank: rank, Err: err}
	c.mu.Lock()
	if rank < 0 {
		if c.fatal == nil {
			c.fatal = rerr
		}
	} else if _, ok := c.down[rank]; !ok {
		c.down[rank] = err
	}
	ops := c.allOps()
	c.mu.Unlock()
	c.log.Debug("peer down", "rank", rank, "err", err)
	for _, op := range ops {
		if rank < 0 || op.needs(rank) {
			op.fail(rerr)
		}
	}
}

// poison makes every pending and future call fail with err.
func (c *Comm) poison(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	ops := c.allOps()
	c.mu.Unlock()
	c.log.Debug("comm poisoned", "err", err)
	for _, op := range ops {
		op.fail(err)
	}
}

// onFrame is the transport's delivery callback.
func (c *Comm) onFrame(from int, frame []byte) {
	h, payload, err := decodeFrame(frame, c.job, from)
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) && fe.foreign {
			// Another job's frame on this job's subjects: it cannot
			// belong to any call here, and it says nothing about them.
			c.rejected.foreign.Add(1)
			c.rejectedFrom(from)
			c.log.Debug("foreign frame dropped", "from", from, "err", err)
			return
		}
		c.rejected.countCorrupt(err)
		c.poison(err)
		return
	}
	key := opKey{peer: -1, seq: h.seq}
	if h.op == kindSend {
		key.peer = int(h.src)
		if h.kind == frameCredit { // a credit answers this rank's send
			key.peer += c.size
		}
	}
	c.mu.Lock()
	op := c.ops[key]
	if op == nil {
		if h.kind == frameCredit || c.closed {
			// Credits for a finished stream are never needed (see
			// needCredit). A replayed credit is dropped here, or taken
			// as the larger of two counts by a running call: harmless,
			// so not counted.
			c.mu.Unlock()
			return
		}
		if c.finished(key) {
			if _, ok := c.failed[key]; ok || h.kind == frameAbort {
				// A peer that did not yet know why this call failed here
				// (a rank it still thinks alive died) sent its part late:
				// not a disagreement, and nothing waits for it. Nor does
				// anything wait for an abort of a call that ended here.
				c.mu.Unlock()
				c.log.Debug("late frame of a failed call dropped", "from", from, "seq", h.seq)
				return
			}
			if c.replayOf(key, &h) {
				// A copy of a frame this call already took: whoever sent
				// it again, the call's result stands.
				c.mu.Unlock()
				c.rejected.replayed.Add(1)
				c.rejectedFrom(from)
				c.log.Debug("replayed frame of a finished call dropped", "from", from, "seq", h.seq)
				return
			}
			c.mu.Unlock()
			c.poison(fmt.Errorf("%w: rank %d sent %s data for call #%d, which this rank already finished as another call", ErrMismatch, from, h.op, h.seq))
			return
		}
		op = newOpState(c, key)
		c.ops[key] = op
	}
	c.mu.Unlock()
	op.deliver(from, &h, payload, frame)
}

// finished reports whether the call key was begun here and is over. c.mu
// must be held.
func (c *Comm) finished(key opKey) bool {
	if key.peer < 0 {
		return key.seq <= c.seq
	}
	return key.peer < c.size && key.seq <= c.recvSeq[key.peer]
}

// begin registers a new call of the given kind and returns its state.
// peer is -1 for collectives; for point-to-point it is the other rank and
// send says which direction.
func (c *Comm) begin(kind opKind, peer int, send bool, elemSize int, opts []CallOption) (*opState, callOpts, error) {
	o := callOpts{codec: c.cfg.Codec, weight: 1}
	for _, f := range opts {
		f(&o)
	}
	if !o.codec.valid() {
		return nil, o, fmt.Errorf("%w: %v", ErrUnknownCodec, o.codec)
	}
	op, err := c.register(kind, peer, send, elemSize)
	if err == nil && o.onStart != nil {
		o.onStart()
	}
	return op, o, err
}

// register assigns the call its sequence number and its state.
func (c *Comm) register(kind opKind, peer int, send bool, elemSize int) (*opState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, ErrClosed
	case c.fatal != nil:
		return nil, c.fatal
	}
	key := opKey{peer: peer}
	// A rank already down fails the call in activate only if the call still
	// needs it: a rank that finished and left may have sent all its frames
	// for this call before this rank began it.
	if peer < 0 {
		c.seq++
		key.seq = c.seq
	} else {
		if send {
			c.sendSeq[peer]++
			key.seq = c.sendSeq[peer]
			key.peer = peer + c.size // sends and receives with one peer are distinct calls
		} else {
			c.recvSeq[peer]++
			key.seq = c.recvSeq[peer]
		}
	}
	op := c.ops[key]
	if op == nil {
		op = newOpState(c, key)
		c.ops[key] = op
	}
	op.kind = kind
	op.elemSize = elemSize
	return op, nil
}

// end unregisters op and accounts its bytes.
func (c *Comm) end(op *opState, o callOpts) {
	c.mu.Lock()
	delete(c.ops, op.key)
	op.mu.Lock()
	st := op.stats
	if op.grace != nil {
		op.grace.Stop()
	}
	if op.err != nil {
		// Kept for the life of the Comm: one small entry per failed call.
		c.failed[op.key] = struct{}{}
	} else {
		c.rememberDone(op)
		for _, b := range op.bufs {
			c.bufs.put(b)
		}
	}
	op.bufs = nil
	op.mu.Unlock()
	st.Calls = 1
	c.stats.add(st)
	c.mu.Unlock()
	if o.stats != nil {
		*o.stats = st
	}
}

// run executes a registered call: it replays buffered frames, sends the
// out streams, and waits until every in stream is complete.
func (c *Comm) run(ctx context.Context, op *opState, o callOpts) error {
	defer c.end(op, o)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.OpTimeout)
		defer cancel()
	}
	err := c.sendAll(ctx, op, o)
	if err == nil {
		err = op.wait(ctx)
	}
	if err != nil {
		op.fail(err) // so end remembers the call failed, whatever failed it
		var re *RankError
		if (c.hosts != nil || op.aborts) && errors.As(err, &re) && re.Rank >= 0 {
			c.sendAborts(op, re.Rank)
		}
		var wait []int
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			wait = op.waitingFor()
			return fmt.Errorf("collective: %s #%d on rank %d: %w (still waiting for ranks %v)", op.kind, op.key.seq, c.rank, err, wait)
		}
		return fmt.Errorf("collective: %s #%d on rank %d: %w", op.kind, op.key.seq, c.rank, err)
	}
	return nil
}

// sendAll sends every out stream of op, interleaving their chunks and
// respecting each stream's credit window.
func (c *Comm) sendAll(ctx context.Context, op *opState, o callOpts) error {
	for {
		progressed, pending := false, false
		for _, s := range op.out {
			op.mu.Lock()
			if op.err != nil {
				err := op.err
				op.mu.Unlock()
				return err
			}
			if s.next >= s.nchunks {
				op.mu.Unlock()
				continue
			}
			pending = true
			ok := op.canSendLocked(s, c.cfg.Window)
			op.mu.Unlock()
			if !ok {
				continue
			}
			if err := c.sendChunk(ctx, op, s, o); err != nil {
				op.fail(err)
				return err
			}
			progressed = true
		}
		if !pending {
			return nil
		}
		if !progressed {
			// Blocked on credit: from a rank already known down (before
			// the stream needed its credit, so onDown did not fail us)?
			if err := c.checkDown(op); err != nil {
				op.fail(err)
				return err
			}
			select {
			case <-op.notify:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// checkDown returns a RankError if op needs a rank known to be down.
func (c *Comm) checkDown(op *opState) error {
	c.mu.Lock()
	if len(c.down) == 0 {
		c.mu.Unlock()
		return nil
	}
	down := make(map[int]error, len(c.down))
	for r, e := range c.down {
		down[r] = e
	}
	c.mu.Unlock()
	for r, e := range down {
		if op.needs(r) {
			return &RankError{Rank: r, Err: e}
		}
	}
	return nil
}

// sendChunk encodes chunk s.next of s (or takes the payload its relay
// kept) and sends it to its destination(s).
func (c *Comm) sendChunk(ctx context.Context, op *opState, s *outStream, o callOpts) error {
	ci := s.next
	step := c.chunk
	if s.chunk > 0 {
		step = s.chunk
	}
	lo := ci * step
	hi := min(len(s.data), lo+step)
	raw := s.data[lo:hi]
	codec, weight := o.codec, o.weight
	if s.ownCodec {
		codec = s.codec
	}
	var part relayPart
	if s.weight != nil || s.relay != nil {
		op.mu.Lock()
		if s.weight != nil {
			weight = s.weight()
		}
		if s.relay != nil {
			part = s.relay.parts[ci]
		}
		op.mu.Unlock()
	}
	var p *[]byte
	var buf []byte
	if s.relay != nil {
		codec = part.codec
		p = c.frameBuf(HeaderSize + len(part.payload))
		buf = append((*p)[:HeaderSize], part.payload...)
	} else {
		p = c.frameBuf(HeaderSize + encodedBound(codec, len(raw)))
		var err error
		if buf, err = c.cs.encode((*p)[:HeaderSize], codec, raw, op.elemSize); err != nil {
			c.putFrame(p)
			return err
		}
	}
	h := header{
		kind: frameData, op: op.kind, codec: codec, elemSize: uint8(op.elemSize), phase: s.phase,
		job: c.job, seq: op.key.seq, src: uint16(c.rank), block: s.block,
		chunk: uint32(ci), nchunks: uint32(s.nchunks), rawLen: uint32(len(raw)), offset: uint64(lo), weight: weight,
	}
	putHeader(buf, &h, buf[HeaderSize:])
	if codec.Lossy() && s.roundTrip {
		// Keep what this rank holds identical to what the others decode.
		if err := c.cs.decode(raw, codec, buf[HeaderSize:], op.elemSize); err != nil {
			c.putFrame(p)
			return err
		}
	}
	var err error
	sends := 1
	if s.dests != nil {
		sends = len(s.dests)
		for _, to := range s.dests {
			if err = c.t.Send(ctx, to, buf); err != nil {
				err = fmt.Errorf("send chunk %d to %s: %w", ci, rankName(to), err)
				break
			}
		}
	} else if err = c.t.Send(ctx, s.to, buf); err != nil {
		err = fmt.Errorf("send chunk %d to %s: %w", ci, rankName(s.to), err)
	}
	*p = buf
	c.putFrame(p)
	if err != nil {
		return err
	}
	op.mu.Lock()
	if s.relay != nil {
		if part.pooled {
			c.release(part.payload)
		}
		s.relay.parts[ci] = relayPart{}
	}
	s.next++
	op.stats.RawSent += int64(sends * len(raw))
	op.stats.WireSent += int64(sends * len(buf))
	op.stats.FramesOut += int64(sends)
	op.mu.Unlock()
	return nil
}

// sendAborts tells the ranks that still wait for the failed call op —
// for data of its out streams, or to grant credit to the senders of its
// in streams — that it failed because rank dead is down. In a
// hierarchical schedule a rank may wait for a hop that waits for dead
// (and a sender for a hop's credit): without the abort it would wait for
// its deadline; with it, it fails at once, naming dead. So does a rank of
// the flat AllReduce through a root (rootAllReduce). (The other flat
// schedules do not send aborts: there, a rank waits only for ranks whose
// death it is told of itself.)
func (c *Comm) sendAborts(op *opState, dead int) {
	if op.kind == kindSend {
		return // point to point: the peer is the dead rank
	}
	op.mu.Lock()
	var to []int
	for _, s := range op.out {
		if s.next >= s.nchunks {
			continue
		}
		switch {
		case s.dests != nil:
			to = append(to, s.dests...)
		case s.to == All:
			to = append(to, c.others()...)
		default:
			to = append(to, s.to)
		}
	}
	for _, s := range op.in {
		if !s.done {
			to = append(to, s.from)
		}
	}
	op.mu.Unlock()
	slices.Sort(to)
	to = slices.Compact(to)
	var b [HeaderSize]byte
	h := header{kind: frameAbort, op: op.kind, job: c.job, seq: op.key.seq, src: uint16(c.rank), chunk: uint32(dead)}
	putHeader(b[:], &h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
	defer cancel()
	for _, r := range to {
		c.mu.Lock()
		_, down := c.down[r]
		c.mu.Unlock()
		if r == dead || r == c.rank || down {
			continue
		}
		if err := c.t.Send(ctx, r, b[:]); err != nil {
			c.log.Debug("abort not sent", "to", r, "err", err)
		}
	}
}

// holdCopy copies a payload that must outlive its delivery (a reduction
// contribution that is not yet its turn) into a pooled buffer: allocating
// them made garbage at the rate of the data and GC stole the CPU.
func (c *Comm) holdCopy(p []byte) []byte {
	b := c.frameBuf(len(p))
	return append((*b)[:0], p...)
}

// release returns a buffer from holdCopy to the pool.
func (c *Comm) release(b []byte) {
	c.putFrame(&b)
}

// spareFrames is how many frame buffers a Comm keeps outside its
// sync.Pool. A pool is emptied by two GC cycles, and local training between
// the collectives of a round runs many: every call then allocated fresh
// chunk-sized buffers (zeroed, and on fresh pages slow to fault in on a
// paravirtualised guest), which doubled a 797 KB allreduce at np 5 when GC
// ran between calls. The spares cost spareFrames chunk-sized buffers per
// rank once used.
const spareFrames = 4

// putFrame returns a frame buffer: to the spares if there is room, else to
// the pool. Once the spares are full (after the first calls) buffers
// cycle through the pool, which returns the most recently used, cache-hot
// one; the spares wait for a GC to empty it. (Taking spares first, in
// FIFO order, handed out the coldest buffer: broadcasts of 2.2 MB at np 5
// took 1.4–1.7× longer.)
func (c *Comm) putFrame(p *[]byte) {
	select {
	case c.spare <- p:
	default:
		c.frames.Put(p)
	}
}

// frameBuf returns a buffer of capacity at least n: a pooled one, a spare,
// or a new one of at least one encoded chunk.
func (c *Comm) frameBuf(n int) *[]byte {
	if p, ok := c.frames.Get().(*[]byte); ok {
		if cap(*p) >= n {
			return p
		}
		c.putFrame(p)
	}
	select {
	case p := <-c.spare:
		if cap(*p) >= n {
			return p
		}
		c.frames.Put(p)
	default:
	}
	b := make([]byte, 0, max(n, HeaderSize+encodedBound(CodecZstd, c.chunk)))
	return &b
}

// keptCallBufs is how many call buffers a Comm keeps between calls: a
// lossy reduce hop needs two (its encoded contribution and its partial).
const keptCallBufs = 2

// callBufs keeps the buffers of calls that need one beyond their
// arguments (a host leader's gathered blocks, a hop's partial sums).
// Allocated per call, each put fresh pages under the call, faulted in on
// first touch: on a paravirtualised guest that delayed a host's leader by
// milliseconds per MiB, the time of the call on a fast link
// (scripts/bench-multihost.sh, gather). A Comm keeps the largest ones
// until Close; they cost at most keptCallBufs times the largest buffer a
// call needed.
type callBufs struct {
	mu   sync.Mutex
	bufs [][]byte
}

// get returns a buffer of n bytes with unspecified contents: the smallest
// kept one that is large enough, or a new one.
func (cb *callBufs) get(n int) []byte {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	best := -1
	for i, b := range cb.bufs {
		if cap(b) >= n && (best < 0 || cap(b) < cap(cb.bufs[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]byte, n)
	}
	b := cb.bufs[best]
	cb.bufs = slices.Delete(cb.bufs, best, best+1)
	return b[:n]
}

// put keeps b for later calls if there is room, or in place of a smaller
// one. The caller must no longer use b: a call returns its buffer only
// when it succeeded (a failed call's streams may still hold it).
func (cb *callBufs) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.bufs) < keptCallBufs {
		cb.bufs = append(cb.bufs, b)
		return
	}
	small := 0
	for i := range cb.bufs {
		if cap(cb.bufs[i]) < cap(cb.bufs[small]) {
			small = i
		}
	}
	if cap(cb.bufs[small]) < cap(b) {
		cb.bufs[small] = b
	}
}

// drop lets the kept buffers go.
func (cb *callBufs) drop() {
	cb.mu.Lock()
	cb.bufs = nil
	cb.mu.Unlock()
}

// sendCredit tells rank to that this rank consumed n chunks of the stream
// phase of op.
func (c *Comm) sendCredit(op *opState, to int, phase uint8, n uint32) {
	var b [HeaderSize]byte
	h := header{kind: frameCredit, op: op.kind, phase: phase, job: c.job, seq: op.key.seq, src: uint16(c.rank), chunk: n}
	putHeader(b[:], &h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.OpTimeout)
	defer cancel()
	if err := c.t.Send(ctx, to, b[:]); err != nil {
		op.fail(fmt.Errorf("send credit to rank %d: %w", to, err))
	}
}

// nchunks returns the number of chunks a stream of n bytes is cut into; an
// empty stream still sends one (empty) chunk, so every rank hears from
// every peer it expects.
func (c *Comm) nchunks(n int) int { return nchunksOf(n, c.chunk) }

// nchunksOf returns the number of chunks of the given size a stream of n
// bytes is cut into (at least one).
func nchunksOf(n, chunk int) int { return max(1, (n+chunk-1)/chunk) }

func rankName(r int) string {
	if r == All {
		return "all ranks"
	}
	return fmt.Sprintf("rank %d", r)
}

// others returns every rank but this one.
func (c *Comm) others() []int {
	rs := make([]int, 0, c.size-1)
	for r := range c.size {
		if r != c.rank {
			rs = append(rs, r)
		}
	}
	return slices.Clip(rs)
}
