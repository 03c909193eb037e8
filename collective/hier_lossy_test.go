package collective_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

var lossyCodecs = []collective.Codec{collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd}

// codecStep is the largest error of one encoding of a value, relative to
// the largest magnitude in its chunk: half a bf16 ulp (2⁻⁸ of the value
// itself, at most the chunk's largest) or half an int8 step (max|x|/254).
func codecStep(codec collective.Codec) float64 {
	if codec == collective.CodecBF16 {
		return math.Ldexp(1, -8)
	}
	return 1.0 / 254
}

// lossyInputs returns size vectors of n values whose magnitude changes by
// 2³ every seg elements (0 … 2⁹): a partial decoded with another chunk's
// scale is off by far more than the codec's error.
func lossyInputs[T collective.Float](size, n, seg int, seed uint64) [][]T {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	xs := make([][]T, size)
	for r := range xs {
		xs[r] = make([]T, n)
		for i := range xs[r] {
			xs[r][i] = T((rng.Float64()*2 - 1) * math.Ldexp(1, 3*((i/seg)%4)))
		}
	}
	return xs
}

// lossyBound returns, per element, the exact result of a reduction (in
// float64) and the largest error allowed with lossy partials: every
// contribution encoded once (≤ step·w_r·max|x_r|), and the partial sum
// encoded once per hop between hosts and once more for the result (H
// encodings in all, ≤ step·max Σ w_r|x_r| each, with 10% for the error
// the partial already carries), plus float rounding. Maxima are over the
// chunk(s) that can hold the element: ± one chunk of ce elements.
func lossyBound[T collective.Float](xs [][]T, op collective.Op, hosts int, step float64, ce int) (exact, bound []float64) {
	n := len(xs[0])
	exact, bound = make([]float64, n), make([]float64, n)
	w := func(r int) float64 {
		if op == collective.WeightedMean {
			return float64(r + 1)
		}
		return 1
	}
	div := 1.0
	switch op {
	case collective.Mean:
		div = float64(len(xs))
	case collective.WeightedMean:
		div = 0
		for r := range xs {
			div += w(r)
		}
	}
	for i := range n {
		lo, hi := max(0, i-ce+1), min(n, i+ce)
		var contrib, partial float64
		for r, x := range xs {
			exact[i] += w(r) * float64(x[i])
			var m float64
			for j := lo; j < hi; j++ {
				m = max(m, math.Abs(float64(x[j])))
			}
			contrib += w(r) * m
		}
		for j := lo; j < hi; j++ {
			var s float64
			for r, x := range xs {
				s += w(r) * math.Abs(float64(x[j]))
			}
			partial = max(partial, s)
		}
		exact[i] /= div
		bound[i] = (step*(contrib+1.1*float64(hosts)*partial) + 1e-5*partial) / div
	}
	return exact, bound
}

// TestHierLossyPartials: by default a lossy codec encodes the partial
// sums between hosts too. Reduce (Sum, Mean, WeightedMean; roots on the
// first, a middle and the last host) and AllReduce must stay within
// lossyBound of the exact sum, give the same bits when run again with
// frames delivered in another order (and, for AllReduce, on every rank),
// and differ from the ExactPartials result (the partials were encoded).
func TestHierLossyPartials(t *testing.T) {
	ops := []collective.Op{collective.Sum, collective.Mean, collective.WeightedMean}
	for _, lay := range hostLayouts[:3] {
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			cfg := collective.Config{JobID: "lossy", ChunkBytes: 256, Window: 2, SmallBytes: 128}
			nw := collectivetest.NewHostNetwork(t, lay.hosts)
			comms := nw.Comms(t, cfg)
			cfg.ExactPartials = true
			exact := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			if comms[0].Hosts() != nw.NumHosts() {
				t.Fatalf("Hosts() = %d, want %d", comms[0].Hosts(), nw.NumHosts())
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			for _, codec := range lossyCodecs {
				for _, op := range ops {
					testLossy[float32](ctx, t, nw, comms, exact, codec, op)
					testLossy[float64](ctx, t, nw, comms, exact, codec, op)
				}
			}
		})
	}
}

func testLossy[T collective.Float](ctx context.Context, t *testing.T, nw *collectivetest.Network, comms, exact []*collective.Comm, codec collective.Codec, op collective.Op) {
	t.Helper()
	size, hosts := len(comms), comms[0].Hosts()
	es := int(unsafe.Sizeof(T(0)))
	ce := comms[0].ChunkBytes() / es // elements per chunk (every stream here)
	const n = 999                    // 16 to 32 chunks, the last short
	xs := lossyInputs[T](size, n, 4*ce, uint64(codec)<<8|uint64(op))
	want, bound := lossyBound(xs, op, hosts, codecStep(codec), ce)
	wc, ww := collective.WithCodec(codec), func(c *collective.Comm) collective.CallOption {
		return collective.WithWeight(float64(c.Rank() + 1))
	}
	type call struct {
		name string
		root int // -1: AllReduce, the result on every rank
	}
	calls := []call{{"allreduce", -1}}
	for _, root := range []int{0, size / 2, size - 1} {
		calls = append(calls, call{fmt.Sprintf("reduce root=%d", root), root})
	}
	for _, cl := range calls {
		what := fmt.Sprintf("%T codec=%v %v %s", T(0), codec, op, cl.name)
		run := func(comms []*collective.Comm) [][]T {
			outs := make([][]T, size)
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				outs[c.Rank()] = make([]T, n)
				if cl.root < 0 {
					return collective.AllReduce(ctx, c, outs[c.Rank()], xs[c.Rank()], op, wc, ww(c))
				}
				return collective.Reduce(ctx, c, outs[c.Rank()], xs[c.Rank()], op, cl.root, wc, ww(c))
			}) {
				if err != nil {
					t.Fatalf("%s: rank %d: %v", what, r, err)
				}
			}
			if cl.root >= 0 {
				return outs[cl.root : cl.root+1]
			}
			return outs
		}
		got := run(comms)
		nw.SetFilter(shuffleDelivery(uint64(len(cl.name))))
		again := run(comms)
		nw.SetFilter(nil)
		ref := run(exact)
		differ := false
		for k := range got {
			for i, g := range got[k] {
				if e := math.Abs(float64(g) - want[i]); !(e <= bound[i]) {
					t.Fatalf("%s: element %d = %v, exact %v: error %.3g > bound %.3g", what, i, g, want[i], e, bound[i])
				}
				if math.Float64bits(float64(g)) != math.Float64bits(float64(again[k][i])) {
					t.Fatalf("%s: element %d = %v, %v in a run with another delivery order", what, i, g, again[k][i])
				}
				if math.Float64bits(float64(g)) != math.Float64bits(float64(got[0][i])) {
					t.Fatalf("%s: element %d = %v on rank %d, %v on rank 0", what, i, g, k, got[0][i])
				}
				differ = differ || g != ref[k][i]
			}
		}
		if !differ {
			t.Errorf("%s: every element equals the ExactPartials result: were the partials encoded?", what)
		}
	}
}

// shuffleDelivery returns a filter that holds back some frames for a few
// microseconds, so that frames arrive in another order than unfiltered.
func shuffleDelivery(seed uint64) collectivetest.Filter {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 7))
	return func(from, to int, frame []byte) []byte {
		mu.Lock()
		d := time.Duration(rng.IntN(4)) * 20 * time.Microsecond
		mu.Unlock()
		time.Sleep(d)
		return frame
	}
}

// TestHierLossyPartialLinkBytes: for an update-like tensor (Gaussian,
// 1 MiB of float32) under int8z, the busiest link between two hosts, and
// all links together, carry at most 0.35× the bytes they carry with
// ExactPartials (raw float32 partials), in a Reduce and an AllReduce.
func TestHierLossyPartialLinkBytes(t *testing.T) {
	const n = 256 << 10
	for _, lay := range []struct {
		name  string
		hosts []int
	}{{"3x3", collectivetest.Hosts(3, 3, 3)}, {"1+4+2", collectivetest.Hosts(1, 4, 2)}} {
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 2))
			xs := make([][]float32, len(lay.hosts))
			for r := range xs {
				xs[r] = make([]float32, n)
				for i := range xs[r] {
					xs[r][i] = float32(rng.NormFloat64() * 1e-3)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			type load struct{ busiest, total int64 }
			measure := func(exactPartials bool, run func(c *collective.Comm) error) load {
				nw := collectivetest.NewHostNetwork(t, lay.hosts)
				cfg := collective.DefaultConfig()
				cfg.JobID, cfg.ChunkBytes, cfg.Codec, cfg.ExactPartials = "lossy-bytes", 64<<10, collective.CodecInt8Zstd, exactPartials
				comms := nw.Comms(t, cfg)
				for r, err := range onAll(comms, run) {
					if err != nil {
						t.Fatalf("rank %d: %v", r, err)
					}
				}
				var l load
				for a := range nw.NumHosts() {
					for b := range nw.NumHosts() {
						l.busiest = max(l.busiest, nw.LinkBytes(a, b))
						l.total += nw.LinkBytes(a, b)
					}
				}
				return l
			}
			for _, tt := range []struct {
				name string
				run  func(c *collective.Comm) error
			}{
				{"reduce root=0", func(c *collective.Comm) error {
					return collective.Reduce(ctx, c, make([]float32, n), xs[c.Rank()], collective.Sum, 0)
				}},
				{"allreduce", func(c *collective.Comm) error {
					return collective.AllReduce(ctx, c, make([]float32, n), xs[c.Rank()], collective.Mean)
				}},
			} {
				lossy, exact := measure(false, tt.run), measure(true, tt.run)
				t.Logf("%s: busiest link %d B (exact partials %d B, %.3f×), all links %d B (%d B, %.3f×)", tt.name,
					lossy.busiest, exact.busiest, float64(lossy.busiest)/float64(exact.busiest),
					lossy.total, exact.total, float64(lossy.total)/float64(exact.total))
				if float64(lossy.busiest) > 0.35*float64(exact.busiest) || float64(lossy.total) > 0.35*float64(exact.total) {
					t.Errorf("%s: links carry %d B (busiest) and %d B (all) with lossy partials, want ≤ 0.35× the %d B and %d B with ExactPartials",
						tt.name, lossy.busiest, lossy.total, exact.busiest, exact.total)
				}
			}
		})
	}
}
