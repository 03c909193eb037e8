package collective

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A ScratchTransport is a BarrierTransport whose ranks read each other's
// memory: package runtime's World when every rank is on one host and
// mapped every other's shared-memory segment. Every rank owns two scratch
// buffers of ScratchBytes that only it writes and every rank reads.
// Broadcast, Reduce, AllReduce, Gather and AllGather of up to
// Config.SharedBytes per rank then move no frames: a rank writes its piece
// to its buffer and the others read it in place
// (bench-vs-mpi.sh: one barrier's wake-ups per piece instead of a frame's
// per receiver and hop). AllReduce, Reduce and AllGather order the writes
// before the reads with the shared barrier; Broadcast and Gather, where
// only one rank writes or only one reads, with per-rank flags
// (ScratchPublish, ScratchAwait): a reader waits for the one writer it
// needs, a writer for nobody, so a rank never waits for a rank that is
// still computing (bench-vs-mpi.sh COLD=1).
//
// ScratchBytes must be fixed and the same on every rank, and 0 whenever
// SharedBarrier is false. Scratch returns the next piece's buffers, indexed
// by rank, and its number p (piece p gets buffers p%2; the transport
// counts the calls, which every rank makes in the same order, like
// Barrier's); with write set it first waits until every rank has released
// piece p-2, the last to use them. ScratchPublish(p) says this rank's
// buffer holds piece p; ScratchAwait(ctx, p, r) waits until rank r said so;
// ScratchRelease(p), after every successful Scratch, says this rank has
// finished reading piece p, and ends the buffers' validity. Waits fail as
// Barrier's do, naming a rank that is down.
type ScratchTransport interface {
	BarrierTransport
	ScratchBytes() int
	Scratch(ctx context.Context, write bool) (bufs [][]byte, piece uint64, err error)
	ScratchPublish(piece uint64)
	ScratchAwait(ctx context.Context, piece uint64, rank int) error
	ScratchRelease(piece uint64)
}

// scratchHeader is the part of a scratch buffer before a piece's data:
// the writer's weight (WeightedMean) as float64 bits, then its call's
// length in bytes and element size, its sequence number and the piece's
// offset, which every reader checks against its own (a frame schedule's
// receiver rejects a mismatched chunk the same way): ranks that called
// with other lengths took other numbers of pieces, and a reader must not
// take a later call's piece for its own.
const scratchHeader = 64

// pieceID is what a scratch header says about the call and the piece.
type pieceID struct {
	n, es int    // the call's length in bytes, element size
	seq   uint64 // the call's sequence number
	off   int    // the piece's offset in bytes
}

// writePiece writes this rank's header and data to its buffer.
func writePiece(buf []byte, w float64, id pieceID, data []byte) {
	le := binary.LittleEndian
	le.PutUint64(buf, math.Float64bits(w))
	le.PutUint64(buf[8:], uint64(id.n))
	le.PutUint64(buf[16:], uint64(id.es))
	le.PutUint64(buf[24:], id.seq)
	le.PutUint64(buf[32:], uint64(id.off))
	copy(buf[scratchHeader:], data)
}

// scratchID reads the call and piece from a header.
func scratchID(buf []byte) pieceID {
	le := binary.LittleEndian
	return pieceID{n: int(le.Uint64(buf[8:])), es: int(le.Uint64(buf[16:])), seq: le.Uint64(buf[24:]), off: int(le.Uint64(buf[32:]))}
}

// checkScratchHeaders reports the first rank whose call differs from rank
// 0's, the same on every rank (each rank's own header is among them).
func checkScratchHeaders(bufs [][]byte) error {
	id0 := scratchID(bufs[0])
	for r, b := range bufs {
		if err := checkScratchHeader(b, r, id0, 0); err != nil {
			return err
		}
	}
	return nil
}

// checkScratchHeader reports a difference between rank r's header (buf)
// and rank me's call and piece (id).
func checkScratchHeader(buf []byte, r int, id pieceID, me int) error {
	got := scratchID(buf)
	switch {
	case got.seq != id.seq || got.off != id.off:
		return fmt.Errorf("rank %d is at call #%d byte %d, rank %d at call #%d byte %d: an earlier call's lengths differed", r, got.seq, got.off, me, id.seq, id.off)
	case got.n != id.n || got.es != id.es:
		return fmt.Errorf("rank %d called it with %d bytes of %d-byte elements, rank %d with %d of %d", r, got.n, got.es, me, id.n, id.es)
	}
	return nil
}

// scratchWeight returns the weight in a rank's header.
func scratchWeight(buf []byte) float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(buf))
}

// sharedPiece returns the transport and the largest piece, in bytes, when a
// lossless call of n bytes runs in shared memory; every rank decides the
// same (Config.SharedBytes and the transport's answers are equal on all).
func (c *Comm) sharedPiece(n int, codec Codec) (ScratchTransport, int) {
	st, ok := c.t.(ScratchTransport)
	if !ok || c.size < 2 || n == 0 || n > c.cfg.SharedBytes || codec.Lossy() || !st.SharedBarrier() {
		return nil, 0
	}
	piece := (st.ScratchBytes() - scratchHeader) &^ 7
	if piece < 64 {
		return nil, 0
	}
	return st, piece
}

// sharedCall runs one call's pieces through the transport's scratch
// buffers: each piece takes the next buffers (write: this rank writes its
// own) and calls step with them. Failures name the call as a frame
// schedule's do, and a rank that is down is a RankError.
func (c *Comm) sharedCall(ctx context.Context, st ScratchTransport, op *opState, o callOpts, n, piece int, write bool, step func(ctx context.Context, bufs [][]byte, p uint64, off, m int) error) error {
	defer c.end(op, o)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.OpTimeout)
		defer cancel()
	}
	for off := 0; off < n; off += piece {
		bufs, p, err := st.Scratch(ctx, write)
		if err == nil {
			err = step(ctx, bufs, p, off, min(piece, n-off))
			st.ScratchRelease(p)
		}
		if err != nil {
			err = downRankError(err)
			op.mu.Lock()
			op.err = err
			op.mu.Unlock()
			return fmt.Errorf("collective: %s #%d on rank %d: %w", op.kind, op.key.seq, c.rank, err)
		}
	}
	return nil
}

// downRankError turns a transport's error naming a rank that is down
// (interface{ DownRank() int; Unwrap() error }, see BarrierTransport) into
// a RankError.
func downRankError(err error) error {
	var down interface {
		DownRank() int
		Unwrap() error
	}
	if errors.As(err, &down) {
		return &RankError{Rank: down.DownRank(), Err: down.Unwrap()}
	}
	return err
}

// publish writes this rank's header and data (nil: none) to its buffer,
// waits at the barrier for every rank's, and checks that they called with
// the same length: the first half of every shared piece.
func publish(ctx context.Context, st ScratchTransport, bufs [][]byte, me int, w float64, id pieceID, data []byte) error {
	writePiece(bufs[me], w, id, data)
	if err := st.Barrier(ctx); err != nil {
		return err
	}
	return checkScratchHeaders(bufs)
}

// sharedBroadcast: the root writes each piece to its buffer and
// publishes it; every other rank waits for the root's flag, checks that it
// called with the same length and copies the piece out.
func (c *Comm) sharedBroadcast(ctx context.Context, st ScratchTransport, op *opState, o callOpts, b []byte, es, root, piece int) error {
	return c.sharedCall(ctx, st, op, o, len(b), piece, c.rank == root, func(ctx context.Context, bufs [][]byte, p uint64, off, m int) error {
		id := pieceID{n: len(b), es: es, seq: op.key.seq, off: off}
		if c.rank == root {
			writePiece(bufs[root], 1, id, b[off:off+m])
			st.ScratchPublish(p)
			op.stats.RawSent += int64(m)
			op.stats.WireSent += int64(m)
			return nil
		}
		if err := st.ScratchAwait(ctx, p, root); err != nil {
			return err
		}
		if err := checkScratchHeader(bufs[root], root, id, c.rank); err != nil {
			return err
		}
		copy(b[off:off+m], bufs[root][scratchHeader:scratchHeader+m])
		op.stats.RawRecv += int64(m)
		op.stats.WireRecv += int64(m)
		return nil
	})
}

// sharedAllReduce: every rank writes its piece (and weight) to its buffer;
// after a barrier rank j reduces block j of the piece, reading every
// rank's block j in rank order into its dst (the flat schedule's reducer
// arithmetic, so the bits are the same), and writes the result over its
// own block j (which no other rank reads); after a second barrier every
// rank copies the other blocks from their owners.
func (c *Comm) sharedAllReduce(ctx context.Context, st ScratchTransport, op *opState, o callOpts, db, sb []byte, es int, rop Op, piece int) error {
	return c.sharedReduce(ctx, st, op, o, db, sb, es, rop, -1, piece)
}

// sharedReduce is sharedAllReduce, copying the blocks out on root only
// (every rank when root is -1). A rank other than root reduces its block
// into a buffer of its own: Reduce writes dst on root only.
func (c *Comm) sharedReduce(ctx context.Context, st ScratchTransport, op *opState, o callOpts, db, sb []byte, es int, rop Op, root, piece int) error {
	var tmp []byte
	return c.sharedCall(ctx, st, op, o, len(sb), piece, true, func(ctx context.Context, bufs [][]byte, _ uint64, off, m int) error {
		mine := bufs[c.rank]
		if err := publish(ctx, st, bufs, c.rank, o.weight, pieceID{n: len(sb), es: es, seq: op.key.seq, off: off}, sb[off:off+m]); err != nil {
			return err
		}
		elems := m / es
		block := func(j int) (int, int) { return j * elems / c.size * es, (j + 1) * elems / c.size * es }
		lo, hi := block(c.rank)
		var acc []byte
		if root < 0 || c.rank == root {
			acc = db[off+lo : off+hi]
		} else {
			if cap(tmp) < hi-lo {
				tmp = make([]byte, hi-lo)
			}
			acc = tmp[:hi-lo]
		}
		var wsum float64
		for k, buf := range bufs {
			w := scratchWeight(buf)
			wsum += w
			reduceInto(acc, buf[scratchHeader+lo:scratchHeader+hi], es, rop, w, k == 0)
		}
		switch rop {
		case Mean:
			scaleInto(acc, acc, es, 1/float64(c.size))
		case WeightedMean:
			if wsum == 0 {
				return fmt.Errorf("weighted mean: the weights sum to zero")
			}
			scaleInto(acc, acc, es, 1/wsum)
		}
		copy(mine[scratchHeader+lo:scratchHeader+hi], acc)
		if err := st.Barrier(ctx); err != nil {
			return err
		}
		op.stats.RawSent += int64(m)
		op.stats.WireSent += int64(m)
		if root >= 0 && c.rank != root {
			return nil
		}
		for k, buf := range bufs {
			if k != c.rank {
				klo, khi := block(k)
				copy(db[off+klo:off+khi], buf[scratchHeader+klo:scratchHeader+khi])
			}
		}
		op.stats.RawRecv += int64(m)
		op.stats.WireRecv += int64(m)
		return nil
	})
}

// sharedGather: every rank writes its piece of src to its buffer. For
// AllGather (root -1), after the barrier every rank copies each rank's
// piece into its block of dst. For Gather the ranks other than root
// publish their piece and go on; root copies its own from src and each
// other rank's once it is published.
func (c *Comm) sharedGather(ctx context.Context, st ScratchTransport, op *opState, o callOpts, db, sb []byte, es, root, piece int) error {
	n := len(sb)
	return c.sharedCall(ctx, st, op, o, n, piece, c.rank != root, func(ctx context.Context, bufs [][]byte, p uint64, off, m int) error {
		op.stats.RawSent += int64(m)
		op.stats.WireSent += int64(m)
		id := pieceID{n: n, es: es, seq: op.key.seq, off: off}
		switch {
		case root < 0:
			if err := publish(ctx, st, bufs, c.rank, 1, id, sb[off:off+m]); err != nil {
				return err
			}
		case c.rank != root:
			writePiece(bufs[c.rank], 1, id, sb[off:off+m])
			st.ScratchPublish(p)
			return nil
		}
		for k, buf := range bufs {
			if k == c.rank {
				copy(db[k*n+off:k*n+off+m], sb[off:off+m])
				continue
			}
			if root >= 0 {
				if err := st.ScratchAwait(ctx, p, k); err != nil {
					return err
				}
				if err := checkScratchHeader(buf, k, id, c.rank); err != nil {
					return err
				}
			}
			copy(db[k*n+off:k*n+off+m], buf[scratchHeader:scratchHeader+m])
		}
		op.stats.RawRecv += int64((c.size - 1) * m)
		op.stats.WireRecv += int64((c.size - 1) * m)
		return nil
	})
}
