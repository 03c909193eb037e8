package collective

import "slices"

// The hierarchical schedules, used when the Comm knows which ranks share a
// host (Comm.hosts). Between ranks on one host bytes are nearly free
// (shared memory); between hosts they cross a link, which is the resource
// these schedules spare. Each host has a leader (the root on the root's
// host, else its first rank) that alone talks to other hosts. Every
// schedule is pipelined chunk by chunk: a hop forwards chunk i as soon as
// it has it (relay, reducer.isFinal), while chunk i+1 is still on its way.
//
// Reductions run as a chain through the hosts in host order (= rank
// order, as hosts' ranks are contiguous), each contribution is encoded
// exactly as the flat schedule would encode it, and relays forward the
// bytes they received. Partial and final results between hosts travel
// under partialCodec: with a lossless codec (none, zstd), or a lossy one
// and Config.ExactPartials, results are bit-identical to the flat
// schedules'. With a lossy codec and without ExactPartials (the default)
// every hop quantises the partial once more: results are deterministic
// (the same inputs give the same bits, whatever the arrival order) and
// within the codec's error per hop of the flat schedule's, not its bits.

// partialCodec is the codec of partial and final results between hosts:
// the call's, but raw for a lossy codec under Config.ExactPartials (so the
// chain computes the flat schedule's bits).
func (c *Comm) partialCodec(call Codec) Codec {
	if call.Lossy() && c.cfg.ExactPartials {
		return CodecNone
	}
	return call
}

// lossyPartials reports whether a call under codec encodes its partial
// results with a lossy codec.
func (c *Comm) lossyPartials(codec Codec) bool { return c.partialCodec(codec).Lossy() }

// pipeChunk returns the chunk size of a host-aware call's streams over n
// bytes: small enough for a chain of hops to pipeline (16 chunks), but
// not below Config.PipeChunkBytes nor above the Comm's chunk. When a lossy codec's values
// depend on how a stream is cut (an int8 scale per chunk) it is the
// Comm's chunk, as the flat schedule cuts it.
func (c *Comm) pipeChunk(n int, lossy bool) int {
	if lossy {
		return c.chunk
	}
	return min(c.chunk, max((n/16+7)&^7, c.cfg.PipeChunkBytes))
}

// chainBroadcast returns the streams of a pipelined broadcast of b (of
// phase phase) from src, which must be its host's leader (as given by
// leaderOf), through the hosts in the given order (order[0] is src's host):
// src sends each chunk once to the next host's leader and to the ranks of
// its host; every leader forwards the payloads it received (relay) to the
// next host's leader and to its own ranks. Each link between consecutive
// hosts of order carries b once. ready gates src's chunks (nil: all ready).
// Chunks are of pc bytes.
func (c *Comm) chainBroadcast(phase uint8, b []byte, src int, order []int, leaderOf func(h int) int, ready func(int) bool, pc int) ([]*inStream, []*outStream) {
	l := c.hosts
	me := l.of[c.rank]
	leader := leaderOf(me)
	if c.rank != leader {
		return []*inStream{{from: leader, phase: phase, region: b}}, nil
	}
	pos := slices.Index(order, me)
	var dests []int
	if pos+1 < len(order) {
		dests = append(dests, leaderOf(order[pos+1]))
	}
	dests = append(dests, l.locals(me, leader)...)
	n := nchunksOf(len(b), pc)
	if c.rank == src {
		if len(dests) == 0 {
			return nil, nil
		}
		return nil, []*outStream{{dests: dests, phase: phase, data: b, nchunks: n, peers: dests, ready: ready, chunk: pc}}
	}
	in := &inStream{from: leaderOf(order[pos-1]), phase: phase, region: b}
	if len(dests) == 0 {
		return []*inStream{in}, nil
	}
	in.relay = newRelay(n, pc)
	return []*inStream{in}, []*outStream{{dests: dests, phase: phase, data: b, nchunks: n, peers: dests, relay: in.relay, ready: in.relay.has, chunk: pc}}
}

// starBroadcast returns the streams of a broadcast of b (of phase phase)
// from src, its host's leader, straight to every other host's leader and
// to its own ranks; every other leader relays the payloads it received to
// its ranks. One hop between hosts instead of a chain's H−1, for H−1
// copies on src's link (see resultFan). ready gates src's chunks (nil: all
// ready). Chunks are of pc bytes.
func (c *Comm) starBroadcast(phase uint8, b []byte, src int, leaderOf func(h int) int, ready func(int) bool, pc int) ([]*inStream, []*outStream) {
	l := c.hosts
	me := l.of[c.rank]
	leader := leaderOf(me)
	if c.rank != leader {
		return []*inStream{{from: leader, phase: phase, region: b}}, nil
	}
	n := nchunksOf(len(b), pc)
	locals := l.locals(me, leader)
	if c.rank == src {
		var dests []int
		for h := range l.n {
			if h != me {
				dests = append(dests, leaderOf(h))
			}
		}
		dests = append(dests, locals...)
		return nil, []*outStream{{dests: dests, phase: phase, data: b, nchunks: n, peers: dests, ready: ready, chunk: pc}}
	}
	in := &inStream{from: src, phase: phase, region: b}
	if len(locals) == 0 {
		return []*inStream{in}, nil
	}
	in.relay = newRelay(n, pc)
	return []*inStream{in}, []*outStream{{dests: locals, phase: phase, data: b, nchunks: n, peers: locals, relay: in.relay, ready: in.relay.has, chunk: pc}}
}

// resultFan reports whether an allreduce hands its result from the last
// host to every other host at once (starBroadcast) rather than back along
// the chain: with 3 hosts the last host's link then carries 2 copies out,
// as the middle host's does in the chain (its partial and the result),
// and the result arrives one hop sooner (bench-multihost.sh allreduce);
// with more hosts the last link would carry more than the chain's 2.
func (l *hostLayout) resultFan() bool { return l.n <= 3 }

// hierBroadcast: a chain from the root's host through the others in
// host order (wrapping around). Every host receives the tensor once and,
// but for the last, sends it once: no link (and no host's NIC) carries it
// twice, where a root sending to every host would put (H−1)·S on its own.
func (c *Comm) hierBroadcast(b []byte, root int, codec Codec) ([]*inStream, []*outStream) {
	l := c.hosts
	order := make([]int, l.n)
	for i := range order {
		order[i] = (l.of[root] + i) % l.n
	}
	return c.chainBroadcast(0, b, root, order, func(h int) int { return l.leader(h, root) }, nil, c.pipeChunk(len(b), codec.Lossy()))
}

// hierBarrier: every rank arrives at its host's leader (rank 0 on rank
// 0's host); each leader, once its ranks arrived, arrives at rank 0; rank
// 0, once its ranks and every leader arrived, releases them, and each
// leader then releases its ranks. One arrival and one release cross each
// other host's link, where the flat barrier sends both for every rank of
// that host (bench-multihost.sh OPS=barrier). Releases go point to point,
// so over the direct links between hosts where the transport has them,
// not through the servers.
func (c *Comm) hierBarrier() ([]*inStream, []*outStream) {
	l := c.hosts
	me := l.of[c.rank]
	leader := l.leader(me, 0)
	if c.rank != leader {
		return []*inStream{{from: leader, phase: 1}}, []*outStream{{to: leader, block: uint16(c.rank), nchunks: 1, peers: []int{leader}}}
	}
	locals := l.locals(me, leader)
	var arrive []*inStream
	for _, r := range locals {
		arrive = append(arrive, &inStream{from: r, block: uint16(r)})
	}
	release := locals
	if c.rank == 0 {
		release = nil
		for h := range l.n {
			if h != me {
				ld := l.leader(h, 0)
				arrive = append(arrive, &inStream{from: ld, block: uint16(ld)})
				release = append(release, ld)
			}
		}
		release = append(release, locals...)
	}
	arrived := func(int) bool { // with op.mu held, as every ready
		for _, s := range arrive {
			if !s.done {
				return false
			}
		}
		return true
	}
	in := arrive
	var out []*outStream
	releaseReady := arrived
	if c.rank != 0 {
		fromRoot := &inStream{from: 0, phase: 1}
		in = append(in, fromRoot)
		out = append(out, &outStream{to: 0, block: uint16(c.rank), nchunks: 1, peers: []int{0}, ready: arrived})
		releaseReady = func(int) bool { return fromRoot.done }
	}
	if len(release) > 0 {
		out = append(out, &outStream{to: All, dests: release, phase: 1, nchunks: 1, peers: release, ready: releaseReady})
	}
	return in, out
}

// hierGather: the ranks of the root's host send to the root; those of
// another host send to their leader (shared memory, uncompressed), which
// sends the host's blocks — contiguous in dst — to the root as one
// stream (phase 1, block = host) under the call's codec, each chunk as soon
// as the blocks it covers are in. For lossless codecs only (the caller
// falls back to the flat gather for a lossy one, whose values depend on
// how the stream is cut into chunks).
func (c *Comm) hierGather(op *opState, dst, src []byte, root int) ([]*inStream, []*outStream) {
	l := c.hosts
	nb := len(src)
	me := l.of[c.rank]
	leader := l.leader(me, root)
	if c.rank != leader {
		pc := c.pipeChunk(nb, false)
		return nil, []*outStream{{to: leader, block: uint16(c.rank), data: src, nchunks: nchunksOf(nb, pc), peers: []int{leader}, ownCodec: true, chunk: pc}}
	}
	if c.rank == root {
		var in []*inStream
		for r := l.lo[me]; r < l.hi[me]; r++ {
			if r != root {
				in = append(in, &inStream{from: r, block: uint16(r), region: dst[r*nb : (r+1)*nb]})
			}
		}
		for h := range l.n {
			if h != me {
				in = append(in, &inStream{from: l.leader(h, root), phase: 1, block: uint16(h), region: dst[l.lo[h]*nb : l.hi[h]*nb]})
			}
		}
		copy(dst[root*nb:], src)
		return in, nil
	}
	lo := l.lo[me]
	buf := op.buf((l.hi[me] - lo) * nb)
	copy(buf[(c.rank-lo)*nb:], src)
	var in []*inStream
	for r := lo; r < l.hi[me]; r++ {
		if r != c.rank {
			in = append(in, &inStream{from: r, block: uint16(r), region: buf[(r-lo)*nb : (r-lo+1)*nb]})
		}
	}
	pc := c.pipeChunk(len(buf), false)
	ready := func(ci int) bool {
		clo, chi := ci*pc, min(len(buf), (ci+1)*pc)
		for _, s := range in {
			blo := (s.from - lo) * nb
			if !s.done && (nb == 0 || blo < chi && clo < blo+nb) {
				return false
			}
		}
		return true
	}
	out := &outStream{to: root, phase: 1, block: uint16(me), data: buf, nchunks: nchunksOf(len(buf), pc), peers: []int{root}, ready: ready, chunk: pc}
	return in, []*outStream{out}
}

// hierReduce: a chain through the hosts in host order. The leader of host
// 0 reduces its host's contributions in rank order and streams the
// partial result, chunk by chunk, to host 1's leader, which continues with
// its own ranks ((p ∘ x₃) ∘ x₄) …; the last leader divides (Mean,
// WeightedMean, with the weights summed in rank order along the chain) and
// sends the result to the root (phase 1) unless it is the root. Every
// contribution but the root's is encoded under the call's codec, as the
// flat schedule sends it to the root; partials and the result travel
// under partialCodec, cut, as every stream of a lossy call, at the Comm's
// chunk (each hop's reducer agrees on the bounds of the int8 scales).
// Each link between consecutive hosts carries S (encoded) once, plus S
// from the last host to the root's.
func (c *Comm) hierReduce(op *opState, dst, src []byte, es int, rop Op, root int, o callOpts) ([]*inStream, []*outStream, []*reducer, error) {
	l := c.hosts
	me := l.of[c.rank]
	leader := l.leader(me, root)
	local := CodecNone
	if o.codec.Lossy() {
		local = o.codec // as the flat schedule encodes it
	}
	pc := c.pipeChunk(len(src), o.codec.Lossy())
	if c.rank != leader {
		return nil, []*outStream{{to: leader, data: src, nchunks: nchunksOf(len(src), pc), peers: []int{leader}, codec: local, ownCodec: true, chunk: pc}}, nil, nil
	}
	own := src
	if c.rank != root && o.codec.Lossy() {
		own = op.clone(src)
		if err := c.roundTrip(own, o.codec, es); err != nil {
			return nil, nil, nil, err
		}
	}
	acc := dst
	if c.rank != root {
		acc = op.buf(len(src))
	}
	last := me == l.n-1
	in, out, red := c.chainReduce(acc, own, es, rop, o, func(h int) int { return l.leader(h, root) }, last, pc)
	switch {
	case last && c.rank != root:
		out = append(out, &outStream{to: root, phase: 1, data: acc, nchunks: nchunksOf(len(acc), pc), peers: []int{root}, ready: red.isFinal,
			codec: c.partialCodec(o.codec), ownCodec: true, chunk: pc})
	case !last && c.rank == root:
		// dst holds this host's partial until the result overwrites it:
		// result chunk i exists only after partial chunk i was sent.
		in = append(in, &inStream{from: l.leader(l.n-1, root), phase: 1, region: dst})
	}
	return in, out, []*reducer{red}, nil
}

// chainReduce returns the phase-0 streams of a leader's hop in a chain
// reduction into acc: the previous host's partial (if any), then its
// host's ranks in rank order; the partial goes on to the next host's
// leader, under partialCodec, once its chunk is final, unless this is the
// last host (which finalizes). The partial's weight (the sum of the
// weights before it) travels in the frame header, exact under any codec.
func (c *Comm) chainReduce(acc, own []byte, es int, rop Op, o callOpts, leaderOf func(int) int, last bool, pc int) ([]*inStream, []*outStream, *reducer) {
	l := c.hosts
	me := l.of[c.rank]
	var order []int
	partial := -1
	if me > 0 {
		partial = leaderOf(me - 1)
		order = append(order, partial)
	}
	for r := l.lo[me]; r < l.hi[me]; r++ {
		order = append(order, r)
	}
	red := newChainReducer(c, acc, own, es, rop, o.weight, order, partial, last, pc)
	var in []*inStream
	for _, r := range order {
		if r != c.rank {
			in = append(in, &inStream{from: r, region: acc, red: red})
		}
	}
	var out []*outStream
	if !last {
		next := leaderOf(me + 1)
		out = append(out, &outStream{to: next, data: acc, nchunks: nchunksOf(len(acc), pc), peers: []int{next}, ready: red.isFinal,
			codec: c.partialCodec(o.codec), ownCodec: true, weight: red.weightSum, chunk: pc})
	}
	return in, out, red
}

// hierAllReduce (above Config.SmallBytes): the chain reduction of
// hierReduce ending on the last host's leader, then a broadcast of the
// result (phase 1): with at most 3 hosts from the last leader to every
// other leader at once (resultFan), else back along the chain in reverse
// host order; each leader also hands it to its host's ranks. No host's
// link carries more than 2S either way. With a lossy codec every rank
// contributes its vector with the blocks of the other ranks passed
// through the codec (the flat reduce-scatter sends block j to rank j
// encoded and keeps its own raw). Under Config.ExactPartials results are
// the flat schedule's bits: partials travel raw and the last leader
// passes each block of the result through the codec (the flat allgather
// sends it encoded) before a lossless broadcast. Otherwise partials travel
// under the codec and the last leader broadcasts the result under it,
// keeping what the others decode (roundTrip), so every rank still ends
// with the same bits. All streams are cut at the same pipeChunk, on every
// rank, so the reducers agree on the bounds of the int8 scales.
func (c *Comm) hierAllReduce(op *opState, dst, src []byte, es int, rop Op, o callOpts) ([]*inStream, []*outStream, []*reducer, error) {
	l := c.hosts
	me := l.of[c.rank]
	leader := l.lo[me]
	leaderOf := func(h int) int { return l.lo[h] }
	lossy := o.codec.Lossy()
	exact := lossy && !c.lossyPartials(o.codec) // the flat schedule's bits
	n := len(src) / es
	block := func(j int) (int, int) { return j * n / c.size * es, (j + 1) * n / c.size * es }
	own := src
	if lossy {
		own = op.clone(src)
		for j := range c.size {
			if j != c.rank {
				lo, hi := block(j)
				if err := c.roundTrip(own[lo:hi], o.codec, es); err != nil {
					return nil, nil, nil, err
				}
			}
		}
	}
	order := make([]int, l.n) // the broadcast: from the last host back to host 0
	for i := range order {
		order[i] = l.n - 1 - i
	}
	last := me == l.n-1
	pc := c.pipeChunk(len(src), false) // as AllReduce chose the schedule
	bcast := func(ready func(int) bool) ([]*inStream, []*outStream) {
		if l.resultFan() {
			return c.starBroadcast(1, dst, leaderOf(l.n-1), leaderOf, ready, pc)
		}
		return c.chainBroadcast(1, dst, leaderOf(l.n-1), order, leaderOf, ready, pc)
	}
	if c.rank != leader {
		in, _ := bcast(nil)
		return in, []*outStream{{to: leader, data: own, nchunks: nchunksOf(len(own), pc), peers: []int{leader}, ownCodec: true, chunk: pc}}, nil, nil
	}
	// The partial lives in dst until the result overwrites it: result
	// chunk i exists only after partial chunk i was sent on.
	in, out, red := c.chainReduce(dst, own, es, rop, o, leaderOf, last, pc)
	var ready func(int) bool
	if last {
		ready = red.isFinal
		if exact {
			coded := false
			ready = func(int) bool { // called with op.mu held
				if red.nfinal < red.nchunks {
					return false
				}
				if !coded {
					for j := range c.size {
						lo, hi := block(j)
						if err := c.roundTrip(dst[lo:hi], o.codec, es); err != nil {
							if op.err == nil {
								op.err = err
							}
							op.signal()
							return false
						}
					}
					coded = true
				}
				return true
			}
		}
	}
	bin, bout := bcast(ready)
	for _, s := range bout {
		s.codec, s.ownCodec = c.partialCodec(o.codec), true
		s.roundTrip = last && s.codec.Lossy() // the source keeps what the others decode
	}
	return append(in, bin...), append(out, bout...), []*reducer{red}, nil
}
