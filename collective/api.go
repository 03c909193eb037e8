package collective

import (
	"context"
	"fmt"
	"unsafe"
)

func elemSize[T Float]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

func (c *Comm) checkRank(name string, r int) {
	if r < 0 || r >= c.size {
		panic(fmt.Sprintf("collective: %s rank %d out of range [0, %d)", name, r, c.size))
	}
}

// Send sends src to rank to; the peer must call Recv with a buffer of the
// same length. Sends to one peer are matched with its receives in order.
// It returns once src may be reused (the data is in flight or delivered).
// It panics if to is out of range or is this rank.
func Send[T Float](ctx context.Context, c *Comm, src []T, to int, opts ...CallOption) error {
	c.checkRank("Send", to)
	if to == c.rank {
		panic("collective: Send to self")
	}
	op, o, err := c.begin(kindSend, to, true, elemSize[T](), opts)
	if err != nil {
		return err
	}
	b := asBytes(src)
	op.activate(nil, []*outStream{{to: to, data: b, nchunks: c.nchunks(len(b)), peers: []int{to}}})
	return c.run(ctx, op, o)
}

// Recv receives into dst what rank from sent with Send.
// It panics if from is out of range or is this rank.
func Recv[T Float](ctx context.Context, c *Comm, dst []T, from int, opts ...CallOption) error {
	c.checkRank("Recv", from)
	if from == c.rank {
		panic("collective: Recv from self")
	}
	op, o, err := c.begin(kindSend, from, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	op.activate([]*inStream{{from: from, region: asBytes(dst)}}, nil)
	return c.run(ctx, op, o)
}

// Broadcast copies buf on root into buf on every rank. The root publishes
// each chunk once and the transport fans it out; across hosts, a chain
// through the hosts' leaders (see the package doc, "Hosts").
func Broadcast[T Float](ctx context.Context, c *Comm, buf []T, root int, opts ...CallOption) error {
	c.checkRank("Broadcast root", root)
	op, o, err := c.begin(kindBroadcast, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	b := asBytes(buf)
	if st, piece := c.sharedPiece(len(b), o.codec); st != nil {
		return c.sharedBroadcast(ctx, st, op, o, b, elemSize[T](), root, piece)
	}
	if c.hosts != nil && len(b) > c.cfg.SmallBytes {
		op.activate(c.hierBroadcast(b, root, o.codec))
	} else if c.rank == root {
		op.activate(nil, c.fanOut(0, 0, b))
	} else {
		op.activate([]*inStream{{from: root, region: b}}, nil)
	}
	return c.run(ctx, op, o)
}

// fanOut returns the stream that publishes data to every other rank.
func (c *Comm) fanOut(phase uint8, block uint16, data []byte) []*outStream {
	if c.size == 1 {
		return nil
	}
	return []*outStream{{to: All, phase: phase, block: block, data: data, nchunks: c.nchunks(len(data)), peers: c.others()}}
}

// Scatter sends block r of src (Size blocks of len(dst)) on root to dst on
// rank r. src is read on root only. It panics if len(src) != Size·len(dst)
// on root.
func Scatter[T Float](ctx context.Context, c *Comm, dst, src []T, root int, opts ...CallOption) error {
	c.checkRank("Scatter root", root)
	n := len(dst)
	if c.rank == root && len(src) != c.size*n {
		panic(fmt.Sprintf("collective: Scatter src has %d elements, want %d×%d", len(src), c.size, n))
	}
	op, o, err := c.begin(kindScatter, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	if c.rank != root {
		op.activate([]*inStream{{from: root, block: uint16(c.rank), region: asBytes(dst)}}, nil)
		return c.run(ctx, op, o)
	}
	var out []*outStream
	for _, r := range c.others() {
		b := asBytes(src[r*n : (r+1)*n])
		out = append(out, &outStream{to: r, block: uint16(r), data: b, nchunks: c.nchunks(len(b)), peers: []int{r}})
	}
	copy(dst, src[root*n:(root+1)*n])
	op.activate(nil, out)
	return c.run(ctx, op, o)
}

// Gather collects src of every rank r into block r of dst on root (Size
// blocks of len(src)). dst is written on root only. It panics if
// len(dst) != Size·len(src) on root.
func Gather[T Float](ctx context.Context, c *Comm, dst, src []T, root int, opts ...CallOption) error {
	c.checkRank("Gather root", root)
	n := len(src)
	if c.rank == root && len(dst) != c.size*n {
		panic(fmt.Sprintf("collective: Gather dst has %d elements, want %d×%d", len(dst), c.size, n))
	}
	op, o, err := c.begin(kindGather, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	if st, piece := c.sharedPiece(len(src)*elemSize[T](), o.codec); st != nil {
		return c.sharedGather(ctx, st, op, o, asBytes(dst), asBytes(src), elemSize[T](), root, piece)
	}
	if c.hosts != nil && !o.codec.Lossy() {
		in, out := c.hierGather(op, asBytes(dst), asBytes(src), root)
		op.activate(in, out)
		return c.run(ctx, op, o)
	}
	if c.rank != root {
		b := asBytes(src)
		op.activate(nil, []*outStream{{to: root, block: uint16(c.rank), data: b, nchunks: c.nchunks(len(b)), peers: []int{root}}})
		return c.run(ctx, op, o)
	}
	var in []*inStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, block: uint16(r), region: asBytes(dst[r*n : (r+1)*n])})
	}
	copy(dst[root*n:(root+1)*n], src)
	op.activate(in, nil)
	return c.run(ctx, op, o)
}

// AllGather collects src of every rank r into block r of dst on every rank.
// It panics if len(dst) != Size·len(src).
func AllGather[T Float](ctx context.Context, c *Comm, dst, src []T, opts ...CallOption) error {
	n := len(src)
	if len(dst) != c.size*n {
		panic(fmt.Sprintf("collective: AllGather dst has %d elements, want %d×%d", len(dst), c.size, n))
	}
	op, o, err := c.begin(kindAllGather, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	if st, piece := c.sharedPiece(len(src)*elemSize[T](), o.codec); st != nil {
		return c.sharedGather(ctx, st, op, o, asBytes(dst), asBytes(src), elemSize[T](), -1, piece)
	}
	var in []*inStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, block: uint16(r), region: asBytes(dst[r*n : (r+1)*n])})
	}
	copy(dst[c.rank*n:(c.rank+1)*n], src)
	op.activate(in, c.fanOut(0, uint16(c.rank), asBytes(src)))
	return c.run(ctx, op, o)
}

// Barrier returns once every rank has entered it.
func Barrier(ctx context.Context, c *Comm) error {
	op, o, err := c.begin(kindBarrier, -1, false, 4, nil)
	if err != nil {
		return err
	}
	if bt, ok := c.t.(BarrierTransport); ok && bt.SharedBarrier() {
		return c.sharedBarrier(ctx, bt, op, o)
	}
	if c.hosts != nil {
		in, out := c.hierBarrier()
		op.activate(in, out)
		return c.run(ctx, op, o)
	}
	if c.rank != 0 {
		// Arrive at rank 0 (phase 0), wait for its release (phase 1).
		op.activate([]*inStream{{from: 0, phase: 1}}, []*outStream{{to: 0, block: uint16(c.rank), nchunks: 1, peers: []int{0}}})
		return c.run(ctx, op, o)
	}
	var in []*inStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, block: uint16(r)})
	}
	release := c.fanOut(1, 0, nil)
	if len(release) > 0 {
		release[0].ready = func(int) bool { return op.incomplete == 0 }
	}
	op.activate(in, release)
	return c.run(ctx, op, o)
}

// sharedBarrier runs the registered barrier op on the transport's own
// barrier (it keeps the call's sequence number, so the calls after it
// still match across ranks).
func (c *Comm) sharedBarrier(ctx context.Context, bt BarrierTransport, op *opState, o callOpts) error {
	defer c.end(op, o)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.OpTimeout)
		defer cancel()
	}
	err := bt.Barrier(ctx)
	if err == nil {
		return nil
	}
	err = downRankError(err)
	return fmt.Errorf("collective: %s #%d on rank %d: %w", op.kind, op.key.seq, c.rank, err)
}

// Reduce combines src of every rank with op into dst on root; dst is
// written on root only and may alias src. Contributions are applied in rank
// order, so the result is deterministic. It panics if len(dst) != len(src)
// on root.
func Reduce[T Float](ctx context.Context, c *Comm, dst, src []T, rop Op, root int, opts ...CallOption) error {
	c.checkRank("Reduce root", root)
	if c.rank == root && len(dst) != len(src) {
		panic(fmt.Sprintf("collective: Reduce dst has %d elements, src %d", len(dst), len(src)))
	}
	op, o, err := c.begin(kindReduce, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	es := elemSize[T]()
	if st, piece := c.sharedPiece(len(src)*es, o.codec); st != nil {
		return c.sharedReduce(ctx, st, op, o, asBytes(dst), asBytes(src), es, rop, root, piece)
	}
	if c.hosts != nil && len(src)*es > c.cfg.SmallBytes {
		in, out, reds, err := c.hierReduce(op, asBytes(dst), asBytes(src), es, rop, root, o)
		if err != nil {
			c.abandon(op, o, err)
			return fmt.Errorf("collective: %s #%d on rank %d: %w", op.kind, op.key.seq, c.rank, err)
		}
		op.activate(in, out, reds...)
		return c.run(ctx, op, o)
	}
	if c.rank != root {
		b := asBytes(src)
		op.activate(nil, []*outStream{{to: root, data: b, nchunks: c.nchunks(len(b)), peers: []int{root}}})
		return c.run(ctx, op, o)
	}
	acc := asBytes(dst)
	red := newReducer(c, acc, asBytes(src), es, rop, o.weight)
	var in []*inStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, region: acc, red: red})
	}
	op.activate(in, nil, red)
	return c.run(ctx, op, o)
}

// AllReduce combines src of every rank with op into dst on every rank; dst
// may alias src. Every rank ends with bit-identical results.
//
// Up to Config.SmallBytes, every rank fans out its input and reduces all of
// them locally (one round). Above, the vector is cut into Size blocks: each
// rank sends block j to rank j (reduce-scatter), rank j reduces it in rank
// order and fans the result out to all (allgather), chunk by chunk as soon
// as each chunk is reduced. It panics if len(dst) != len(src).
func AllReduce[T Float](ctx context.Context, c *Comm, dst, src []T, rop Op, opts ...CallOption) error {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("collective: AllReduce dst has %d elements, src %d", len(dst), len(src)))
	}
	op, o, err := c.begin(kindAllReduce, -1, false, elemSize[T](), opts)
	if err != nil {
		return err
	}
	es := elemSize[T]()
	sb, db := asBytes(src), asBytes(dst)
	if st, piece := c.sharedPiece(len(sb), o.codec); st != nil {
		return c.sharedAllReduce(ctx, st, op, o, db, sb, es, rop, piece)
	}
	if c.size == 1 || len(sb) <= c.cfg.SmallBytes {
		own := sb
		if o.codec.Lossy() && c.size > 1 {
			// Reduce what the others will decode, so all ranks agree.
			own = make([]byte, len(sb))
			copy(own, sb)
			if err := c.roundTrip(own, o.codec, es); err != nil {
				return c.abandon(op, o, err)
			}
		}
		red := newReducer(c, db, own, es, rop, o.weight)
		var in []*inStream
		for _, r := range c.others() {
			in = append(in, &inStream{from: r, region: db, red: red})
		}
		op.activate(in, c.fanOut(0, 0, red.own), red)
		return c.run(ctx, op, o)
	}
	if c.hosts != nil && c.hosts.chainAllReduce(nchunksOf(len(sb), c.pipeChunk(len(sb), false))) {
		in, out, reds, err := c.hierAllReduce(op, db, sb, es, rop, o)
		if err != nil {
			c.abandon(op, o, err)
			return fmt.Errorf("collective: %s #%d on rank %d: %w", op.kind, op.key.seq, c.rank, err)
		}
		op.activate(in, out, reds...)
		return c.run(ctx, op, o)
	}
	if c.hosts == nil && !o.codec.Lossy() && len(sb) <= c.cfg.RootBytes {
		in, out, red := c.rootAllReduce(op, db, sb, es, rop, o)
		if red == nil {
			op.activate(in, out)
		} else {
			op.activate(in, out, red)
		}
		return c.run(ctx, op, o)
	}
	n := len(src)
	block := func(j int) (int, int) { return j * n / c.size * es, (j + 1) * n / c.size * es }
	lo, hi := block(c.rank)
	red := newReducer(c, db[lo:hi], sb[lo:hi], es, rop, o.weight)
	var in []*inStream
	var out []*outStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, phase: 0, block: uint16(c.rank), region: db[lo:hi], red: red})
		jlo, jhi := block(r)
		in = append(in, &inStream{from: r, phase: 1, block: uint16(r), region: db[jlo:jhi]})
		out = append(out, &outStream{to: r, phase: 0, block: uint16(r), data: sb[jlo:jhi], nchunks: c.nchunks(jhi - jlo), peers: []int{r}})
	}
	ag := c.fanOut(1, uint16(c.rank), db[lo:hi])
	ag[0].ready = red.isFinal
	ag[0].roundTrip = true
	op.activate(in, append(out, ag...), red)
	return c.run(ctx, op, o)
}

// rootAllReduce is the schedule of a flat AllReduce of at most
// Config.RootBytes under a lossless codec: every rank sends its input to
// one root (phase 0), which reduces them in rank order and fans the result
// out chunk by chunk (phase 1). Each rank wakes once per round instead of
// Size-1 times per round of reduce-scatter + allgather
// (bench-vs-mpi.sh, allreduce of 116 KB and 797 KB). The root rotates with
// the call's sequence number, so no rank does every reduction. A rank
// waits only for the root, so the root tells the others when a rank it
// waits for is down (op.aborts): every rank names the dead rank.
func (c *Comm) rootAllReduce(op *opState, db, sb []byte, es int, rop Op, o callOpts) ([]*inStream, []*outStream, *reducer) {
	root := int(op.key.seq % uint64(c.size))
	op.aborts = true
	if c.rank != root {
		return []*inStream{{from: root, phase: 1, region: db}},
			[]*outStream{{to: root, data: sb, nchunks: c.nchunks(len(sb)), peers: []int{root}}},
			nil
	}
	red := newReducer(c, db, sb, es, rop, o.weight)
	var in []*inStream
	for _, r := range c.others() {
		in = append(in, &inStream{from: r, region: db, red: red})
	}
	out := c.fanOut(1, 0, db)
	out[0].ready = red.isFinal
	return in, out, red
}

// Decoded replaces x by what a receiver decodes from x sent by c under
// codec: as Broadcast, Gather or a rank's Reduce contribution sends it,
// chunk by chunk (an int8 scale is per chunk). A lossless codec leaves x
// unchanged. Error feedback uses it to keep what a lossy codec loses.
func Decoded[T Float](c *Comm, x []T, codec Codec) error {
	if !codec.valid() {
		return fmt.Errorf("%w: %v", ErrUnknownCodec, codec)
	}
	if !codec.Lossy() {
		return nil
	}
	if err := c.roundTrip(asBytes(x), codec, elemSize[T]()); err != nil {
		return fmt.Errorf("collective: decode %d elements under %v: %w", len(x), codec, err)
	}
	return nil
}

// roundTrip replaces b by what a receiver decodes from it under codec.
func (c *Comm) roundTrip(b []byte, codec Codec, es int) error {
	if codec == CodecInt8Zstd {
		// int8z decodes to int8's values (TestInt8ZstdIsInt8Compressed):
		// its zstd pass would cost time and change nothing here.
		codec = CodecInt8
	}
	for lo := 0; lo < len(b); lo += c.chunk {
		chunk := b[lo:min(len(b), lo+c.chunk)]
		enc, err := c.cs.encode(nil, codec, chunk, es)
		if err != nil {
			return err
		}
		if err := c.cs.decode(chunk, codec, enc, es); err != nil {
			return err
		}
	}
	return nil
}

// abandon ends a registered call that failed before it ran (its schedule
// could not be built) and returns err.
func (c *Comm) abandon(op *opState, o callOpts, err error) error {
	op.fail(err)
	c.end(op, o)
	return err
}
