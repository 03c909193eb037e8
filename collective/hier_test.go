package collective_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// hostLayouts are the worlds the host-aware schedules are tested on; the
// non-contiguous one must fall back to the flat schedules.
var hostLayouts = []struct {
	name  string
	hosts []int
	hier  bool
}{
	{"2x2", collectivetest.Hosts(2, 2), true},
	{"3x3", collectivetest.Hosts(3, 3, 3), true},
	{"1+4+2", collectivetest.Hosts(1, 4, 2), true},
	{"1x3", collectivetest.Hosts(1, 1, 1), true},
	{"interleaved", []int{0, 1, 0, 1}, false},
	{"one host", collectivetest.Hosts(4), false},
}

func TestHierConformance(t *testing.T) {
	cfg := collective.Config{JobID: "hier", ChunkBytes: 256, Window: 2, SmallBytes: 128}
	elems := []int{0, 1, 7, 97, 1000}
	for _, lay := range hostLayouts {
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			comms := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			if got := comms[0].Hosts() > 1; got != lay.hier {
				t.Fatalf("Hosts() = %d, want hierarchical = %v", comms[0].Hosts(), lay.hier)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				return collectivetest.Conformance(ctx, c, elems, allCodecs)
			}) {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

// TestHierBitIdentical runs every host-aware collective on a host network
// and the same call on the same layout with FlatOnly, and requires the
// same bits on every rank; for lossless codecs also the bits of a
// reference computed in rank order. The inputs span 2⁻¹⁰ … 2¹⁰, so a sum in
// another order would differ.
func TestHierBitIdentical(t *testing.T) {
	for _, lay := range hostLayouts {
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			cfg := collective.Config{JobID: "bits", ChunkBytes: 256, Window: 2, SmallBytes: 128}
			hier := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			cfg.FlatOnly = true
			flat := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			for _, n := range []int{0, 1, 7, 97, 1000} {
				for _, codec := range allCodecs {
					testBits[float32](ctx, t, hier, flat, n, codec)
					testBits[float64](ctx, t, hier, flat, n, codec)
				}
			}
		})
	}
}

func inputs[T collective.Float](size, n int, seed uint64) [][]T {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	xs := make([][]T, size)
	for r := range xs {
		xs[r] = make([]T, n)
		for i := range xs[r] {
			xs[r][i] = T((rng.Float64()*2 - 1) * math.Ldexp(1, rng.IntN(21)-10))
		}
	}
	return xs
}

// refReduce reduces xs in rank order as the flat schedule does.
func refReduce[T collective.Float](xs [][]T, op collective.Op) []T {
	acc := make([]T, len(xs[0]))
	var wsum float64
	for r, x := range xs {
		w := float64(r + 1)
		wsum += w
		for i, v := range x {
			switch {
			case op == collective.WeightedMean && r == 0:
				acc[i] = T(w) * v
			case op == collective.WeightedMean:
				acc[i] += T(w) * v
			case r == 0:
				acc[i] = v
			case op == collective.Min:
				acc[i] = min(acc[i], v)
			case op == collective.Max:
				acc[i] = max(acc[i], v)
			default:
				acc[i] += v
			}
		}
	}
	switch op {
	case collective.Mean:
		s := T(1 / float64(len(xs)))
		for i := range acc {
			acc[i] *= s
		}
	case collective.WeightedMean:
		s := T(1 / wsum)
		for i := range acc {
			acc[i] *= s
		}
	}
	return acc
}

var allOps = []collective.Op{collective.Sum, collective.Mean, collective.Min, collective.Max, collective.WeightedMean}

func testBits[T collective.Float](ctx context.Context, t *testing.T, hier, flat []*collective.Comm, n int, codec collective.Codec) {
	t.Helper()
	size := len(hier)
	xs := inputs[T](size, n, uint64(codec)+1)
	wc := collective.WithCodec(codec)
	type call struct {
		name string
		root int // -1: the result is on every rank
		out  int // elements of the result
		run  func(c *collective.Comm, dst []T) error
		ref  []T // nil: no reference (lossy codec)
	}
	var calls []call
	for _, root := range []int{0, size / 2, size - 1} {
		calls = append(calls,
			call{fmt.Sprintf("broadcast root=%d", root), -1, n, func(c *collective.Comm, dst []T) error {
				if c.Rank() == root {
					copy(dst, xs[root])
				}
				return collective.Broadcast(ctx, c, dst, root, wc)
			}, nil},
			call{fmt.Sprintf("gather root=%d", root), root, size * n, func(c *collective.Comm, dst []T) error {
				return collective.Gather(ctx, c, dst, xs[c.Rank()], root, wc)
			}, nil})
		for _, op := range allOps {
			calls = append(calls, call{fmt.Sprintf("reduce %v root=%d", op, root), root, n, func(c *collective.Comm, dst []T) error {
				return collective.Reduce(ctx, c, dst, xs[c.Rank()], op, root, wc, collective.WithWeight(float64(c.Rank()+1)))
			}, refReduce(xs, op)})
		}
	}
	for _, op := range allOps {
		calls = append(calls, call{fmt.Sprintf("allreduce %v", op), -1, n, func(c *collective.Comm, dst []T) error {
			return collective.AllReduce(ctx, c, dst, xs[c.Rank()], op, wc, collective.WithWeight(float64(c.Rank()+1)))
		}, refReduce(xs, op)})
	}
	for _, cl := range calls {
		if codec.Lossy() {
			cl.ref = nil
		}
		results := func(comms []*collective.Comm) [][]T {
			outs := make([][]T, size)
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				if cl.root >= 0 && c.Rank() != cl.root {
					return cl.run(c, nil)
				}
				outs[c.Rank()] = make([]T, cl.out)
				return cl.run(c, outs[c.Rank()])
			}) {
				if err != nil {
					t.Fatalf("%T n=%d codec=%v %s: rank %d: %v", T(0), n, codec, cl.name, r, err)
				}
			}
			return outs
		}
		got, want := results(hier), results(flat)
		for r := range size {
			for i := range got[r] {
				g, w := float64(got[r][i]), float64(want[r][i])
				if math.Float64bits(g) != math.Float64bits(w) {
					t.Fatalf("%T n=%d codec=%v %s: rank %d element %d: host-aware %v, flat %v", T(0), n, codec, cl.name, r, i, g, w)
				}
				if cl.ref != nil && got[r][i] != cl.ref[i] {
					t.Fatalf("%T n=%d codec=%v %s: rank %d element %d: %v, rank-order reference %v", T(0), n, codec, cl.name, r, i, g, cl.ref[i])
				}
			}
		}
	}
}
