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
// Config.SharedBytes per rank then move no frames:
// a rank writes its piece to its buffer, the shared barrier orders the
// writes before the reads, and the others read it in place
// (bench-vs-mpi.sh: one barrier's wake-ups per piece instead of a frame's
// per receiver and hop).
//
// ScratchBytes must be fixed and the same on every rank, and 0 whenever
// SharedBarrier is false. Scratch returns the next piece's buffers (piece
// p gets buffers p%2; the transport counts the calls, which every rank
// makes in the same order, like Barrier's), indexed by rank and valid
// until release is called.
type ScratchTransport interface {
	BarrierTransport
	ScratchBytes() int
	Scratch() (bufs [][]byte, release func(), err error)
}

// scratchHeader is the part of a scratch buffer before a piece's data:
// the writer's weight (WeightedMean) as float64 bits, then its call's
// length in bytes and element size, which every rank checks against its
// own after the first barrier (a frame schedule's receiver rejects a
// mismatched chunk the same way).
const scratchHeader = 64

// putScratchHeader writes this rank's header to its buffer.
func putScratchHeader(buf []byte, w float64, n, es int) {
	le := binary.LittleEndian
	le.PutUint64(buf, math.Float64bits(w))
	le.PutUint64(buf[8:], uint64(n))
	le.PutUint64(buf[16:], uint64(es))
}

// checkScratchHeaders reports the first rank whose call differs from rank
// 0's, the same on every rank (each rank's own header is among them).
func checkScratchHeaders(bufs [][]byte) error {
	le := binary.LittleEndian
	n0, es0 := le.Uint64(bufs[0][8:]), le.Uint64(bufs[0][16:])
	for r, b := range bufs {
		if n, es := le.Uint64(b[8:]), le.Uint64(b[16:]); n != n0 || es != es0 {
			return fmt.Errorf("rank %d called it with %d bytes of %d-byte elements, rank 0 with %d of %d", r, n, es, n0, es0)
		}
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
// buffers: each piece takes the next buffers and calls step with them.
// Failures name the call as a frame schedule's do, and a rank that is down
// is a RankError.
func (c *Comm) sharedCall(ctx context.Context, st ScratchTransport, op *opState, o callOpts, n, piece int, step func(ctx context.Context, bufs [][]byte, off, m int) error) error {
	defer c.end(op, o)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.OpTimeout)
		defer cancel()
	}
	for off := 0; off < n; off += piece {
		bufs, release, err := st.Scratch()
		if err == nil {
			err = step(ctx, bufs, off, min(piece, n-off))
			release()
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
func publish(ctx context.Context, st ScratchTransport, bufs [][]byte, me int, w float64, n, es int, data []byte) error {
	putScratchHeader(bufs[me], w, n, es)
	copy(bufs[me][scratchHeader:], data)
	if err := st.Barrier(ctx); err != nil {
		return err
	}
	return checkScratchHeaders(bufs)
}

// sharedBroadcast: the root writes each piece to its buffer; after the
// barrier every other rank copies it out.
func (c *Comm) sharedBroadcast(ctx context.Context, st ScratchTransport, op *opState, o callOpts, b []byte, es, root, piece int) error {
	return c.sharedCall(ctx, st, op, o, len(b), piece, func(ctx context.Context, bufs [][]byte, off, m int) error {
		var data []byte
		if c.rank == root {
			data = b[off : off+m]
			op.stats.RawSent += int64(m)
			op.stats.WireSent += int64(m)
		}
		if err := publish(ctx, st, bufs, c.rank, 1, len(b), es, data); err != nil {
			return err
		}
		if c.rank != root {
			copy(b[off:off+m], bufs[root][scratchHeader:scratchHeader+m])
			op.stats.RawRecv += int64(m)
			op.stats.WireRecv += int64(m)
		}
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
	return c.sharedCall(ctx, st, op, o, len(sb), piece, func(ctx context.Context, bufs [][]byte, off, m int) error {
		mine := bufs[c.rank]
		if err := publish(ctx, st, bufs, c.rank, o.weight, len(sb), es, sb[off:off+m]); err != nil {
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

// sharedGather: every rank writes its piece of src to its buffer; after the
// barrier root (every rank when root is -1: AllGather) copies each rank's
// piece into its block of dst.
func (c *Comm) sharedGather(ctx context.Context, st ScratchTransport, op *opState, o callOpts, db, sb []byte, es, root, piece int) error {
	n := len(sb)
	return c.sharedCall(ctx, st, op, o, n, piece, func(ctx context.Context, bufs [][]byte, off, m int) error {
		op.stats.RawSent += int64(m)
		op.stats.WireSent += int64(m)
		if err := publish(ctx, st, bufs, c.rank, 1, n, es, sb[off:off+m]); err != nil {
			return err
		}
		if root >= 0 && c.rank != root {
			return nil
		}
		for k, buf := range bufs {
			copy(db[k*n+off:k*n+off+m], buf[scratchHeader:scratchHeader+m])
		}
		op.stats.RawRecv += int64((c.size - 1) * m)
		op.stats.WireRecv += int64((c.size - 1) * m)
		return nil
	})
}
