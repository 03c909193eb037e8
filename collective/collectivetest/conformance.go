package collectivetest

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/fltk-go/fltk/collective"
)

// Value is the deterministic input of rank at index i in case k: a
// multiple of 2⁻²⁰ in [-1, 1), so float32 sums of up to 16 ranks are exact
// whatever the order.
func Value(k, rank, i int) float64 {
	x := uint64(k)*0x9E3779B97F4A7C15 ^ uint64(rank)*0xBF58476D1CE4E5B9 ^ uint64(i)*0x94D049BB133111EB
	x ^= x >> 31
	x *= 0xD6E8FEDD2F0A2C35
	x ^= x >> 29
	return float64(int64(x>>43)-(1<<20)) / (1 << 20)
}

func fill[T collective.Float](dst []T, k, rank int) {
	for i := range dst {
		dst[i] = T(Value(k, rank, i))
	}
}

// Tolerance returns the largest absolute error allowed for a reduction of
// size ranks of Values (|x| < 1) spread over hosts hosts (1 or less: the
// flat schedules) sent with codec. Lossless codecs must be exact up to the
// rounding of the final division (mean); bf16 keeps 8 bits of mantissa
// (relative error ≤ 2⁻⁸ per encoding), int8 (and int8z) has an absolute
// error ≤ max|x|/254 per encoding. A sum of size inputs is below size, and
// a value is encoded at most twice on its way in the flat schedules
// (contribution, then result); the host-aware ones (lossy partials, the
// default) encode it once more per hop between hosts: hosts+1 times.
func Tolerance(codec collective.Codec, size, hosts int) float64 {
	n := float64(size)
	enc := float64(max(2, hosts+1))
	switch codec {
	case collective.CodecBF16:
		return enc * n * math.Ldexp(1, -8)
	case collective.CodecInt8, collective.CodecInt8Zstd: // int8z decodes to int8's values
		return enc * n / 254 * 1.01
	}
	return 1e-6
}

// Conformance runs every collective on c with the given element counts and
// codecs and checks each result against a naive reference computed from
// Value. Every rank of the world must call it with the same arguments.
// A healthy network delivers each frame once: a Comm that rejected a
// frame ([collective.Comm.Rejected]) during the run fails it.
func Conformance(ctx context.Context, c *collective.Comm, elems []int, codecs []collective.Codec) (err error) {
	before := c.Rejected()
	defer func() {
		if after := c.Rejected(); err == nil && after != before {
			err = fmt.Errorf("rank %d rejected frames of a healthy run: before %v, after %v", c.Rank(), before, after)
		}
	}()
	k := 0
	for _, codec := range codecs {
		for _, n := range elems {
			for _, root := range uniq(0, c.Size()-1) {
				k++
				if err := conform[float32](ctx, c, n, root, codec, k); err != nil {
					return fmt.Errorf("float32 n=%d root=%d codec=%v: %w", n, root, codec, err)
				}
			}
			k++
			if err := conform[float64](ctx, c, n, c.Size()/2, codec, k); err != nil {
				return fmt.Errorf("float64 n=%d codec=%v: %w", n, codec, err)
			}
		}
	}
	return nil
}

func uniq(a, b int) []int {
	if a == b {
		return []int{a}
	}
	return []int{a, b}
}

func conform[T collective.Float](ctx context.Context, c *collective.Comm, n, root int, codec collective.Codec, k int) error {
	rank, size := c.Rank(), c.Size()
	tol := Tolerance(codec, size, c.Hosts())
	wc := collective.WithCodec(codec)
	lossless := !codec.Lossy()
	check := func(what string, got []T, want func(i int) float64, tol float64) error {
		for i, g := range got {
			w := want(i)
			if math.Abs(float64(g)-w) > tol || math.IsNaN(float64(g)) {
				return fmt.Errorf("%s: rank %d element %d of %d = %v, want %v (tolerance %g)", what, rank, i, len(got), g, w, tol)
			}
		}
		return nil
	}
	encTol := 0.0 // a value encoded once
	if !lossless {
		encTol = Tolerance(codec, 1, 1)
	}

	// Broadcast.
	buf := make([]T, n)
	if rank == root {
		fill(buf, k, root)
	}
	if err := collective.Broadcast(ctx, c, buf, root, wc); err != nil {
		return err
	}
	if err := check("broadcast", buf, func(i int) float64 { return Value(k, root, i) }, encTol); err != nil {
		return err
	}

	// Scatter: block r of root's input goes to rank r.
	var src []T
	if rank == root {
		src = make([]T, size*n)
		fill(src, k+1, root)
	}
	dst := make([]T, n)
	if err := collective.Scatter(ctx, c, dst, src, root, wc); err != nil {
		return err
	}
	if err := check("scatter", dst, func(i int) float64 { return Value(k+1, root, rank*n+i) }, encTol); err != nil {
		return err
	}

	// Gather and AllGather.
	mine := make([]T, n)
	fill(mine, k+2, rank)
	all := make([]T, size*n)
	var gdst []T
	if rank == root {
		gdst = all
	}
	if err := collective.Gather(ctx, c, gdst, mine, root, wc); err != nil {
		return err
	}
	want := func(i int) float64 { return Value(k+2, i/max(n, 1), i%max(n, 1)) }
	if rank == root {
		if err := check("gather", all, want, encTol); err != nil {
			return err
		}
	}
	clear(all)
	if err := collective.AllGather(ctx, c, all, mine, wc); err != nil {
		return err
	}
	if err := check("allgather", all, want, encTol); err != nil {
		return err
	}

	// Reductions.
	ref := func(op collective.Op, i int) float64 {
		acc, wsum := 0.0, 0.0
		for r := range size {
			x := Value(k+3, r, i)
			switch {
			case r == 0 && (op == collective.Min || op == collective.Max):
				acc = x
			case op == collective.Min:
				acc = math.Min(acc, x)
			case op == collective.Max:
				acc = math.Max(acc, x)
			case op == collective.WeightedMean:
				acc += float64(r+1) * x
			default:
				acc += x
			}
			wsum += float64(r + 1)
		}
		switch op {
		case collective.Mean:
			return acc / float64(size)
		case collective.WeightedMean:
			return acc / wsum
		}
		return acc
	}
	in := make([]T, n)
	fill(in, k+3, rank)
	out := make([]T, n)
	if err := collective.Reduce(ctx, c, out, in, collective.Sum, root, wc); err != nil {
		return err
	}
	if rank == root {
		if err := check("reduce sum", out, func(i int) float64 { return ref(collective.Sum, i) }, tol); err != nil {
			return err
		}
	}
	for _, op := range []collective.Op{collective.Sum, collective.Mean, collective.Min, collective.Max, collective.WeightedMean} {
		clear(out)
		if err := collective.AllReduce(ctx, c, out, in, op, wc, collective.WithWeight(float64(rank+1))); err != nil {
			return err
		}
		if err := check("allreduce "+op.String(), out, func(i int) float64 { return ref(op, i) }, tol); err != nil {
			return err
		}
	}
	// In place, and every rank must hold identical bits.
	inplace := make([]T, n)
	fill(inplace, k+3, rank)
	if err := collective.AllReduce(ctx, c, inplace, inplace, collective.Sum, wc); err != nil {
		return err
	}
	if err := check("allreduce in place", inplace, func(i int) float64 { return ref(collective.Sum, i) }, tol); err != nil {
		return err
	}
	gathered := make([]T, size*n)
	if err := collective.AllGather(ctx, c, gathered, inplace); err != nil {
		return err
	}
	for r := range size {
		for i := range n {
			if gathered[r*n+i] != inplace[i] {
				return fmt.Errorf("allreduce: rank %d holds %v at %d, rank %d holds %v", r, gathered[r*n+i], i, rank, inplace[i])
			}
		}
	}

	// Point to point around the ring: odd ranks receive first.
	if size > 1 {
		next, prev := (rank+1)%size, (rank+size-1)%size
		msg := make([]T, n)
		fill(msg, k+4, rank)
		got := make([]T, n)
		send := func() error { return collective.Send(ctx, c, msg, next, wc) }
		recv := func() error { return collective.Recv(ctx, c, got, prev, wc) }
		steps := []func() error{send, recv}
		if rank%2 == 1 {
			steps = []func() error{recv, send}
		}
		for _, f := range steps {
			if err := f(); err != nil {
				return err
			}
		}
		if err := check("send/recv", got, func(i int) float64 { return Value(k+4, prev, i) }, encTol); err != nil {
			return err
		}
	}
	return collective.Barrier(ctx, c)
}

// Large is the element count of the conformance suite's largest case:
// 70000 float32s, several 64 KiB chunks and not a multiple of one; with
// -short (make test's race run) 20000, still several chunks. The race
// detector faults in fresh shadow pages for every buffer, and on a VM
// where page faults flush TLBs across CPUs that made the full sizes take
// minutes a test (TestConformanceNATS np=5 tcp=true: 2 s without it,
// 160-180 s with); make test runs the full sizes without -race.
func Large() int {
	if testing.Short() {
		return 20000
	}
	return 70000
}
