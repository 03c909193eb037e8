package collective

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// streamKey names one stream of a call: its phase and the other rank.
type streamKey struct {
	phase uint8
	peer  int
}

// inStream is data this rank expects from one peer in one phase.
type inStream struct {
	from   int
	phase  uint8
	block  uint16
	region []byte   // where the chunks go (the accumulator when red != nil)
	red    *reducer // non-nil: chunks are reduced into region, not copied
	relay  *relay   // non-nil: keep each chunk's payload for an out stream to forward

	nchunks uint32
	step    uint64 // raw bytes of every chunk but the last
	got     uint32
	bytes   int
	seen    []uint64 // bitset of chunk indexes received
	done    bool
}

// outStream is data this rank sends in one phase to one rank or to All,
// or, when dests is set, to each of several ranks (each chunk encoded once).
type outStream struct {
	to        int
	dests     []int // non-nil: point-to-point to each of these instead of to
	phase     uint8
	block     uint16
	data      []byte
	nchunks   int
	next      int              // next chunk to send
	peers     []int            // ranks whose credit gates the stream
	ready     func(c int) bool // nil: every chunk is ready; called with op.mu held
	roundTrip bool             // lossy codec: replace data by what receivers decode
	codec     Codec            // with ownCodec: the codec of this stream, not the call's
	ownCodec  bool
	weight    func() float64 // nil: the call's weight; called with op.mu held
	relay     *relay         // non-nil: forward the payloads an in stream kept
	chunk     int            // bytes per chunk; 0: the Comm's
}

// relay holds the payloads of an in stream, chunk by chunk, until an out
// stream has forwarded them: a hop of a hierarchical schedule passes on
// exactly the bytes it received, so every rank decodes the same payload
// (a lossy codec is applied once, by the origin) and nothing is re-encoded.
type relay struct {
	parts []relayPart // per chunk
	chunk int         // bytes per chunk
}

type relayPart struct {
	codec   Codec
	payload []byte // a held copy, or (CodecNone) the decoded region itself
	pooled  bool
	ok      bool
}

func newRelay(nchunks, chunk int) *relay {
	return &relay{parts: make([]relayPart, nchunks), chunk: chunk}
}

// has reports whether chunk ci arrived. op.mu must be held.
func (rl *relay) has(ci int) bool { return rl.parts[ci].ok }

// opState is one call in flight. Frames for it may arrive before this rank
// begins the call; they are buffered until activate.
type opState struct {
	c        *Comm
	key      opKey
	notify   chan struct{} // capacity 1: something changed
	kind     opKind        // set by begin (0 while only buffered frames exist)
	elemSize int           // set by begin
	aborts   bool          // set before activate: on failure naming a dead rank, tell the peers (sendAborts), and take theirs as suspicions

	mu         sync.Mutex // guards the fields below
	active     bool
	buffered   []bufFrame
	in         map[streamKey]*inStream
	incomplete int // in streams not yet done
	out        []*outStream
	credit     map[streamKey]uint32 // chunks consumed, as reported by each peer
	err        error
	stats      Stats
	// suspect is the rank an abort of an op with aborts named (-1: none),
	// and suspectBy the rank that sent it; the call then needs suspect, so
	// this rank's own report of its death fails the call with its own
	// reason (checkSuspect).
	suspect, suspectBy int
	suspectChecked     bool
	grace              *time.Timer // fails the call with the abort's reason if no report comes
	bufs               [][]byte    // from buf: back to the Comm's kept buffers if the call succeeds
}

type bufFrame struct {
	from    int
	h       header
	payload []byte
	size    int
}

func newOpState(c *Comm, key opKey) *opState {
	return &opState{c: c, key: key, notify: make(chan struct{}, 1), credit: make(map[streamKey]uint32), suspect: -1}
}

// buf returns a buffer of n bytes, with unspecified contents, for the
// call's own use; the call's goroutine only, before activate.
func (op *opState) buf(n int) []byte {
	b := op.c.bufs.get(n)
	op.bufs = append(op.bufs, b)
	return b
}

// clone returns a copy of b in a buffer from buf.
func (op *opState) clone(b []byte) []byte {
	own := op.buf(len(b))
	copy(own, b)
	return own
}

func (op *opState) signal() {
	select {
	case op.notify <- struct{}{}:
	default:
	}
}

// fail ends the call with err (the first error wins).
func (op *opState) fail(err error) {
	op.mu.Lock()
	if op.err == nil {
		op.err = err
	}
	op.mu.Unlock()
	op.signal()
}

// activate installs the call's streams, replays buffered frames and checks
// for peers that went down before the streams were visible.
// Reducers in reds apply what they can (this rank's own contribution)
// right away.
func (op *opState) activate(in []*inStream, out []*outStream, reds ...*reducer) {
	op.mu.Lock()
	op.in = make(map[streamKey]*inStream, len(in))
	for _, s := range in {
		op.in[streamKey{s.phase, s.from}] = s
	}
	op.incomplete = len(in)
	op.out = out
	op.active = true
	var first error
	var credits []creditMsg
	for _, f := range op.buffered {
		if _, err := op.handleLocked(f.from, &f.h, f.payload, f.size, &credits); err != nil && first == nil {
			first = err
			op.c.rejected.countCorrupt(err)
		}
		op.c.release(f.payload) // handleLocked copies what it keeps
	}
	op.buffered = nil
	for _, r := range reds {
		r.advanceAll()
	}
	op.mu.Unlock()
	op.sendCredits(credits)
	if first != nil {
		op.c.poison(first)
	}
	c := op.c
	c.mu.Lock()
	fatal := c.fatal
	down := make(map[int]error, len(c.down))
	for r, e := range c.down {
		down[r] = e
	}
	c.mu.Unlock()
	if fatal != nil {
		op.fail(fatal)
	}
	for r, e := range down {
		if op.needs(r) {
			op.fail(&RankError{Rank: r, Err: e})
		}
	}
	op.checkSuspect()
	op.signal()
}

// abortGrace is how long a call that a peer's abort told of a dead rank
// waits for this rank's own report of that death (which carries the
// reason, e.g. runtime.ErrRankDead) before it fails with the abort's.
// Every rank watches the liveness of every other, so the report normally
// follows within a liveness check.
const abortGrace = 2 * time.Second

// checkSuspect handles an abort that named a rank: if this rank already
// knows the rank is down, the call fails with that reason at once; if not,
// it needs the rank (onDown fails it) and fails after abortGrace anyway.
func (op *opState) checkSuspect() {
	op.mu.Lock()
	d, by := op.suspect, op.suspectBy
	if d < 0 || op.suspectChecked || op.err != nil {
		op.mu.Unlock()
		return
	}
	op.suspectChecked = true
	op.mu.Unlock()
	c := op.c
	c.mu.Lock()
	e, known := c.down[d]
	c.mu.Unlock()
	if known {
		op.fail(&RankError{Rank: d, Err: e})
		return
	}
	rerr := &RankError{Rank: d, Err: fmt.Errorf("down, as rank %d reported", by)}
	op.mu.Lock()
	op.grace = time.AfterFunc(abortGrace, func() { op.fail(rerr) })
	op.mu.Unlock()
}

type creditMsg struct {
	to    int
	phase uint8
	n     uint32
}

func (op *opState) sendCredits(cs []creditMsg) {
	for _, m := range cs {
		op.c.sendCredit(op, m.to, m.phase, m.n)
	}
}

// deliver hands a received frame to the call.
func (op *opState) deliver(from int, h *header, payload []byte, frame []byte) {
	op.mu.Lock()
	if op.err != nil {
		op.mu.Unlock()
		return
	}
	if !op.active {
		// The transport owns frame only during onFrame: keep a copy.
		op.buffered = append(op.buffered, bufFrame{from: from, h: *h, payload: op.c.holdCopy(payload), size: len(frame)})
		op.mu.Unlock()
		return
	}
	var credits []creditMsg
	wake, err := op.handleLocked(from, h, payload, len(frame), &credits)
	op.mu.Unlock()
	op.checkSuspect()
	op.sendCredits(credits)
	if err != nil {
		op.c.rejected.countCorrupt(err)
		op.c.poison(err)
	}
	if wake {
		op.signal()
	}
}

func (op *opState) mismatch(from int, format string, args ...any) error {
	return fmt.Errorf("%w: %s #%d: rank %d: %s", ErrMismatch, op.kind, op.key.seq, from, fmt.Sprintf(format, args...))
}

// handleLocked processes one frame and reports whether the caller's
// goroutine must be woken: a credit arrived, a stream completed or a
// reduced chunk became ready. Waking it for every chunk would cost a
// context switch per chunk. op.mu must be held.
func (op *opState) handleLocked(from int, h *header, payload []byte, size int, credits *[]creditMsg) (bool, error) {
	if h.op != op.kind {
		return false, op.mismatch(from, "sent %s, this rank called %s", h.op, op.kind)
	}
	if h.kind == frameAbort {
		// The sender's part of this call failed because a rank it waited
		// for is down: this rank would wait for it in vain.
		if op.aborts {
			if op.suspect < 0 {
				op.suspect, op.suspectBy = int(h.chunk), from
			}
			return true, nil
		}
		if op.err == nil {
			op.err = &RankError{Rank: int(h.chunk), Err: fmt.Errorf("down, as rank %d reported", from)}
		}
		return true, nil
	}
	if h.kind == frameCredit {
		k := streamKey{h.phase, from}
		op.credit[k] = max(op.credit[k], h.chunk)
		return true, nil
	}
	if int(h.elemSize) != op.elemSize {
		return false, op.mismatch(from, "sent %d-byte elements, this rank uses %d-byte elements", h.elemSize, op.elemSize)
	}
	s := op.in[streamKey{h.phase, from}]
	if s == nil {
		return false, op.mismatch(from, "sent data this rank does not expect (phase %d, block %d); do the ranks agree on the root?", h.phase, h.block)
	}
	if h.block == s.block && s.duplicate(h) {
		// A second copy of a chunk this stream already took (a replay):
		// dropped, so that it can neither overwrite nor reduce twice.
		op.c.rejected.replayed.Add(1)
		op.c.rejectedFrom(from)
		return false, nil
	}
	if s.done || h.block != s.block {
		return false, op.mismatch(from, "sent block %d chunk %d, expected block %d", h.block, h.chunk, s.block)
	}
	if err := s.checkLayout(h); err != nil {
		return false, op.mismatch(from, "%v", err)
	}
	end := h.offset + uint64(h.rawLen)
	if end > uint64(len(s.region)) {
		return false, op.mismatch(from, "sent %d bytes at offset %d, but this rank expects %d bytes in all (do the buffer lengths agree?)", h.rawLen, h.offset, len(s.region))
	}
	wake := false
	if s.red != nil {
		if err := h.verifyPayload(from, payload); err != nil {
			return false, err
		}
		before := s.red.nfinal
		if err := s.red.add(from, h, payload); err != nil {
			return false, op.mismatch(from, "%v", err)
		}
		wake = s.red.nfinal != before
	} else {
		dst := s.region[h.offset:end]
		if err := op.c.cs.decode(dst, h.codec, payload, op.elemSize); err != nil {
			return false, &FrameError{From: from, Seq: h.seq, Reason: err.Error()}
		}
		if err := h.verifyPayload(from, dst); err != nil {
			return false, err
		}
		if s.relay != nil {
			if err := s.keep(op.c, h, payload, dst); err != nil {
				return false, op.mismatch(from, "%v", err)
			}
			wake = true // the forwarding out stream may go on
		}
	}
	s.got++
	s.bytes += int(h.rawLen)
	op.stats.RawRecv += int64(h.rawLen)
	op.stats.WireRecv += int64(size)
	op.stats.FramesIn++
	if needCredit(s.got, s.nchunks, op.c.cfg.Window) {
		*credits = append(*credits, creditMsg{to: from, phase: s.phase, n: s.got})
	}
	if s.got == s.nchunks {
		if s.bytes != len(s.region) {
			return false, op.mismatch(from, "sent %d bytes, this rank expects %d (do the buffer lengths agree?)", s.bytes, len(s.region))
		}
		s.done = true
		op.incomplete--
		wake = true
	}
	return wake, nil
}

// keep stores the payload of a chunk for the relay. dst is the chunk's
// decoded region.
func (s *inStream) keep(c *Comm, h *header, payload, dst []byte) error {
	ci := int(h.chunk)
	if int(h.nchunks) != len(s.relay.parts) || h.offset != uint64(ci*s.relay.chunk) {
		return fmt.Errorf("chunk %d of %d at offset %d, this rank cuts the stream in %d chunks of %d bytes (chunk_bytes must be equal on all ranks)", ci, h.nchunks, h.offset, len(s.relay.parts), s.relay.chunk)
	}
	p := relayPart{codec: h.codec, payload: dst, ok: true}
	if h.codec != CodecNone {
		p.payload, p.pooled = c.holdCopy(payload), true
	}
	s.relay.parts[ci] = p
	return nil
}

// duplicate reports whether chunk h of the stream was received already
// (with the same chunk count). op.mu must be held.
func (s *inStream) duplicate(h *header) bool {
	if s.nchunks == 0 || h.nchunks != s.nchunks || h.chunk >= s.nchunks {
		return false
	}
	return s.seen[h.chunk/64]&(uint64(1)<<(h.chunk%64)) != 0
}

// checkLayout verifies that the chunks of a stream tile it exactly once.
func (s *inStream) checkLayout(h *header) error {
	if s.nchunks == 0 {
		s.nchunks = h.nchunks
		s.seen = make([]uint64, (h.nchunks+63)/64)
	} else if h.nchunks != s.nchunks {
		return fmt.Errorf("chunk %d says %d chunks, earlier chunks said %d", h.chunk, h.nchunks, s.nchunks)
	}
	word, bit := h.chunk/64, uint64(1)<<(h.chunk%64)
	if s.seen[word]&bit != 0 {
		return fmt.Errorf("chunk %d received twice", h.chunk)
	}
	s.seen[word] |= bit
	var step uint64
	switch {
	case h.chunk+1 < h.nchunks:
		step = uint64(h.rawLen)
		if step == 0 || h.offset != uint64(h.chunk)*step {
			return fmt.Errorf("chunk %d of %d bytes at offset %d does not tile the buffer", h.chunk, h.rawLen, h.offset)
		}
	case h.nchunks > 1:
		if h.offset%uint64(h.nchunks-1) != 0 || h.rawLen == 0 {
			return fmt.Errorf("last chunk of %d bytes at offset %d does not tile the buffer", h.rawLen, h.offset)
		}
		step = h.offset / uint64(h.nchunks-1)
		if uint64(h.rawLen) > step {
			return fmt.Errorf("last chunk of %d bytes is larger than the others (%d)", h.rawLen, step)
		}
	}
	if step != 0 {
		if s.step != 0 && s.step != step {
			return fmt.Errorf("chunks of %d and %d bytes in one stream", s.step, step)
		}
		s.step = step
	}
	return nil
}

// needCredit reports whether a receiver that has consumed got of n chunks
// must grant credit. The sender may send chunk i once the receiver reported
// at least i-window+1 consumed, so credit stops once got reaches n-window:
// no credit ever arrives for a stream its sender has finished.
func needCredit(got, n uint32, window int) bool {
	w := uint32(window)
	if n <= w || got > n-w {
		return false
	}
	every := max(1, w/2)
	return got%every == 0 || got == n-w
}

// canSendLocked reports whether the next chunk of s may be sent now.
// op.mu must be held.
func (op *opState) canSendLocked(s *outStream, window int) bool {
	if s.ready != nil && !s.ready(s.next) {
		return false
	}
	for _, p := range s.peers {
		if uint32(s.next) >= op.credit[streamKey{s.phase, p}]+uint32(window) {
			return false
		}
	}
	return true
}

// wait blocks until every in stream is complete or the call failed.
func (op *opState) wait(ctx context.Context) error {
	poller, _ := op.c.t.(Poller)
	if poller != nil && !poller.CanPoll() {
		poller = nil
	}
	var pollEnd time.Time
	for {
		op.mu.Lock()
		err, left := op.err, op.incomplete
		op.mu.Unlock()
		if err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
		if poller != nil && op.c.cfg.PollFor > 0 {
			now := time.Now()
			if pollEnd.IsZero() {
				pollEnd = now.Add(op.c.cfg.PollFor)
			}
			if now.Before(pollEnd) && ctx.Err() == nil {
				poller.Poll()
				continue
			}
		}
		select {
		case <-op.notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// needs reports whether the call still waits for rank: data from it, or
// credit from it.
func (op *opState) needs(rank int) bool {
	op.mu.Lock()
	defer op.mu.Unlock()
	if rank == op.suspect && op.incomplete > 0 {
		return true
	}
	for _, s := range op.in {
		if s.from == rank && !s.done {
			return true
		}
	}
	// An out stream needs rank only while it is blocked on rank's credit: a
	// receiver that finished and left may well have got every chunk before
	// this rank counted the last one as sent.
	w := uint32(op.c.cfg.Window)
	for _, s := range op.out {
		if s.next < s.nchunks && slices.Contains(s.peers, rank) && uint32(s.next) >= op.credit[streamKey{s.phase, rank}]+w {
			return true
		}
	}
	return false
}

// waitingFor lists the ranks the call still waits for.
func (op *opState) waitingFor() []int {
	var rs []int
	for r := range op.c.size {
		if op.needs(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// reducer combines the contributions of ranks to one region, chunk by
// chunk, always in a fixed order (rank order), so the result does not
// depend on arrival order and is bit-identical run to run.
//
// A hop of a hierarchical reduction starts from a partial result (another
// host's leader's, the reduction of every rank before this host's) and
// continues with its host's ranks: ((p ∘ x₃) ∘ x₄) ∘ x₅ is, bit for bit,
// what the flat schedule computes as ((((x₀ ∘ x₁) ∘ x₂) ∘ x₃) ∘ x₄) ∘ x₅.
type reducer struct {
	c        *Comm
	acc      []byte
	own      []byte // this rank's contribution (never aliases acc)
	op       Op
	es       int
	nchunks  int
	chunk    int          // bytes per chunk
	order    []int        // ranks whose contributions apply, in this order
	slot     []int        // rank → index in order, or -1
	partial  int          // the rank (order[0]) whose contribution is a partial result, or -1
	finalize bool         // divide once complete (Mean, WeightedMean)
	next     []int        // per chunk: the index in order of the next contribution
	pend     [][]pendPart // per chunk, per slot
	weights  []float64    // per slot; a partial's is the sum of the weights before it
	final    []bool
	nfinal   int
	scratch  []byte
}

type pendPart struct {
	payload []byte
	codec   Codec
	ok      bool
	pooled  bool // payload is a held copy from Comm.holdCopy
}

// newReducer returns the flat schedule's reducer: every rank's
// contribution in rank order, then the division.
func newReducer(c *Comm, acc, own []byte, es int, op Op, w float64) *reducer {
	order := make([]int, c.size)
	for r := range order {
		order[r] = r
	}
	return newChainReducer(c, acc, own, es, op, w, order, -1, true, c.chunk)
}

// newChainReducer returns a reducer applying the contributions of order
// (which contains this rank when own is used); partial, when not -1, is
// order[0] and sends a partial result, copied as is. Streams are cut in
// chunks of chunk bytes.
func newChainReducer(c *Comm, acc, own []byte, es int, op Op, w float64, order []int, partial int, finalize bool, chunk int) *reducer {
	if overlaps(acc, own) {
		own = slices.Clone(own)
	}
	n := nchunksOf(len(acc), chunk)
	r := &reducer{
		c: c, acc: acc, own: own, op: op, es: es, nchunks: n, chunk: chunk, order: order, slot: make([]int, c.size), partial: partial, finalize: finalize,
		next: make([]int, n), pend: make([][]pendPart, n), weights: make([]float64, len(order)), final: make([]bool, n),
	}
	for i := range r.slot {
		r.slot[i] = -1
	}
	for i, k := range order {
		r.slot[k] = i
	}
	if i := r.slot[c.rank]; i >= 0 {
		r.weights[i] = w
	}
	return r
}

func (r *reducer) bounds(ci int) (int, int) {
	lo := ci * r.chunk
	return lo, min(len(r.acc), lo+r.chunk)
}

func (r *reducer) add(from int, h *header, payload []byte) error {
	ci := int(h.chunk)
	lo, hi := r.bounds(ci)
	if int(h.nchunks) != r.nchunks || h.offset != uint64(lo) || int(h.rawLen) != hi-lo {
		return fmt.Errorf("chunk %d is %d bytes at offset %d, this rank cuts it as %d bytes at %d (chunk_bytes must be equal on all ranks)", ci, h.rawLen, h.offset, hi-lo, lo)
	}
	i := r.slot[from]
	if i < 0 {
		return fmt.Errorf("rank %d sent a contribution this rank does not reduce", from)
	}
	if r.pend[ci] == nil {
		r.pend[ci] = make([]pendPart, len(r.order))
	}
	r.pend[ci][i] = pendPart{payload: payload, codec: h.codec, ok: true}
	r.weights[i] = h.weight
	err := r.advance(ci)
	if p := &r.pend[ci][i]; p.ok {
		// Not its turn yet: keep a copy, the transport owns payload only
		// during onFrame.
		p.payload = r.c.holdCopy(payload)
		p.pooled = true
	}
	return err
}

func (r *reducer) advanceAll() {
	for ci := range r.nchunks {
		_ = r.advance(ci)
	}
}

// advance applies every contribution to chunk ci that is next in order.
func (r *reducer) advance(ci int) error {
	lo, hi := r.bounds(ci)
	region := r.acc[lo:hi]
	for r.next[ci] < len(r.order) {
		i := r.next[ci]
		k := r.order[i]
		var contrib []byte
		w := r.weights[i]
		switch {
		case k == r.c.rank:
			contrib = r.own[lo:hi]
		case r.pend[ci] != nil && r.pend[ci][i].ok:
			p := r.pend[ci][i]
			if p.codec == CodecNone {
				contrib = p.payload
				if len(contrib) != hi-lo {
					return fmt.Errorf("raw chunk of %d bytes, expected %d", len(contrib), hi-lo)
				}
			} else {
				if cap(r.scratch) < hi-lo {
					r.scratch = make([]byte, r.chunk)
				}
				contrib = r.scratch[:hi-lo]
				if err := r.c.cs.decode(contrib, p.codec, p.payload, r.es); err != nil {
					return err
				}
			}
			if p.pooled {
				defer r.c.release(p.payload) // after it was reduced below
			}
			r.pend[ci][i] = pendPart{}
		default:
			return nil
		}
		if k == r.partial {
			reduceInto(region, contrib, r.es, Sum, 1, true) // a copy
		} else {
			reduceInto(region, contrib, r.es, r.op, w, i == 0)
		}
		r.next[ci]++
	}
	if r.final[ci] {
		return nil
	}
	switch {
	case !r.finalize:
	case r.op == Mean:
		scaleInto(region, region, r.es, 1/float64(r.c.size))
	case r.op == WeightedMean:
		sum := r.weightSum()
		if sum == 0 {
			return fmt.Errorf("weighted mean: the weights sum to zero")
		}
		scaleInto(region, region, r.es, 1/sum)
	}
	r.final[ci] = true
	r.nfinal++
	return nil
}

// weightSum adds the weights in order (as the flat schedule adds every
// rank's), so a chain's running sums end with the same bits.
func (r *reducer) weightSum() float64 {
	var sum float64
	for _, w := range r.weights {
		sum += w
	}
	return sum
}

func (r *reducer) isFinal(ci int) bool { return r.final[ci] }

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	a0, b0 := uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&b[0]))
	return a0 < b0+uintptr(len(b)) && b0 < a0+uintptr(len(a))
}
