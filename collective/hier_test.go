package collective_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// TestHierConformance runs the conformance suite (every collective
// against a naive reference) on host layouts; the flat layouts only check
// that the Comm falls back (TestConformanceInMemory runs them).
func TestHierConformance(t *testing.T) {
	cfg := collective.Config{JobID: "hier", ChunkBytes: 256, Window: 2, SmallBytes: 128}
	elems := []int{0, 7, 1000}
	codecs := []collective.Codec{collective.CodecNone, collective.CodecBF16, collective.CodecInt8Zstd}
	for _, lay := range hostLayouts {
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			comms := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			if got := comms[0].Hosts() > 1; got != lay.hier {
				t.Fatalf("Hosts() = %d, want hierarchical = %v", comms[0].Hosts(), lay.hier)
			}
			if !lay.hier {
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				return collectivetest.Conformance(ctx, c, elems, codecs)
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
// another order would differ. Lossless codecs run with the default
// Config, lossy ones with ExactPartials (by default their partials are
// encoded: TestHierLossyPartials).
func TestHierBitIdentical(t *testing.T) {
	for _, lay := range hostLayouts {
		if !lay.hier {
			continue // flat against flat
		}
		t.Run(lay.name, func(t *testing.T) {
			t.Parallel()
			cfg := collective.Config{JobID: "bits", ChunkBytes: 256, Window: 2, SmallBytes: 128}
			hier := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			cfg.ExactPartials = true
			exact := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			cfg.ExactPartials, cfg.FlatOnly = false, true
			flat := collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			pick := func(codec collective.Codec) []*collective.Comm {
				if codec.Lossy() {
					return exact
				}
				return hier
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			// 999: several chunks, the last short. int8z is left out: it
			// decodes to int8's values (TestInt8ZstdIsInt8Compressed).
			for _, n := range []int{0, 1, 999} {
				for _, codec := range allCodecs[:4] {
					testBits[float32](ctx, t, pick(codec), flat, n, codec)
					testBits[float64](ctx, t, pick(codec), flat, n, codec)
				}
			}
			if lay.name != "3x3" || testing.Short() { // the race run: small chunks only
				return
			}
			// With the default 1 MiB chunks, lossless chains cut their
			// streams in 64 KiB chunks (pipeChunk) and lossy ones keep
			// the Comm's chunks: 40001 elements are 3 or 5 chunks of 64 KiB.
			cfg = collective.Config{JobID: "bits-big"}
			hier = collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			cfg.ExactPartials = true
			exact = collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			cfg.ExactPartials, cfg.FlatOnly = false, true
			flat = collectivetest.NewHostNetwork(t, lay.hosts).Comms(t, cfg)
			for _, codec := range allCodecs[:4] {
				testBits[float32](ctx, t, pick(codec), flat, 40001, codec)
				testBits[float64](ctx, t, pick(codec), flat, 40001, codec)
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
		ops := allOps
		if root != size/2 {
			ops = ops[:1]
		}
		for _, op := range ops {
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

// TestHierLinkBytes measures the bytes that cross between hosts for a
// tensor of S bytes (the same layout with FlatOnly, logged, for
// comparison): a broadcast puts at most 1.1·S on each host's link, in and
// out, whatever the root; a reduce to rank 0 as much; an allreduce twice
// that; a gather at most 1.1× a host's contributions.
func TestHierLinkBytes(t *testing.T) {
	const n = 128 << 10 // float32s: S = 512 KiB, 8 chunks
	const S = 4 * n
	for _, lay := range hostLayouts[:4] {
		t.Run(lay.name, func(t *testing.T) {
			for _, flatOnly := range []bool{false, true} {
				nw := collectivetest.NewHostNetwork(t, lay.hosts)
				cfg := collective.DefaultConfig()
				cfg.JobID, cfg.FlatOnly, cfg.ChunkBytes = "bytes", flatOnly, 64<<10
				comms := nw.Comms(t, cfg)
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				src := make([]float32, n)
				for i := range src {
					src[i] = float32(i)
				}
				hosts := nw.NumHosts()
				perHost := make([]int, hosts)
				for _, h := range lay.hosts {
					perHost[h]++
				}
				for _, tt := range []struct {
					name          string
					run           func(c *collective.Comm) error
					maxOut, maxIn func(h int) float64 // in units of S
				}{
					{"broadcast root=0", func(c *collective.Comm) error {
						return collective.Broadcast(ctx, c, append([]float32(nil), src...), 0)
					}, one, one},
					{"broadcast root=last", func(c *collective.Comm) error {
						return collective.Broadcast(ctx, c, append([]float32(nil), src...), c.Size()-1)
					}, one, one},
					{"reduce root=0", func(c *collective.Comm) error {
						return collective.Reduce(ctx, c, make([]float32, n), src, collective.Sum, 0)
					}, one, one},
					{"allreduce", func(c *collective.Comm) error {
						return collective.AllReduce(ctx, c, make([]float32, n), src, collective.Sum)
					}, func(h int) float64 {
						// With ranks sharing hosts the chain runs, and with ≤ 3
						// hosts the last one hands the result to every other
						// host at once: only it sends more than its partial.
						if slices.Max(perHost) > 1 && h < hosts-1 {
							return 1
						}
						return 2
					}, two},
					{"gather root=0", func(c *collective.Comm) error {
						var dst []float32
						if c.Rank() == 0 {
							dst = make([]float32, c.Size()*n)
						}
						return collective.Gather(ctx, c, dst, src, 0)
					}, func(h int) float64 { return float64(perHost[h]) }, func(h int) float64 { return float64(len(lay.hosts) - perHost[0]) }},
				} {
					nw.ResetBytes()
					for r, err := range onAll(comms, tt.run) {
						if err != nil {
							t.Fatalf("%s: rank %d: %v", tt.name, r, err)
						}
					}
					var line string
					for h := range hosts {
						out, in := float64(nw.EgressBytes(h))/S, float64(nw.IngressBytes(h))/S
						line += fmt.Sprintf(" host %d out %.2fS in %.2fS;", h, out, in)
						if !flatOnly && (out > 1.1*tt.maxOut(h) || in > 1.1*tt.maxIn(h)) {
							t.Errorf("%s: host %d sent %.3f·S and received %.3f·S to and from other hosts, want ≤ 1.1·%g and ≤ 1.1·%g", tt.name, h, out, in, tt.maxOut(h), tt.maxIn(h))
						}
					}
					t.Logf("flat=%v %s:%s", flatOnly, tt.name, line)
				}
			}
		})
	}
}

func one(int) float64 { return 1 }
func two(int) float64 { return 2 }

// TestHierKilledRankIsNamed: a rank that never joins is killed while the
// others run a host-aware collective; every survivor returns (no hang)
// either success (it needed nothing from the dead rank) or a RankError
// naming it — also a rank that waited only for a hop that waited for it.
func TestHierKilledRankIsNamed(t *testing.T) {
	layout := collectivetest.Hosts(2, 2, 2)
	ops := []struct {
		name string
		run  func(ctx context.Context, c *collective.Comm) error
	}{
		{"broadcast", func(ctx context.Context, c *collective.Comm) error {
			return collective.Broadcast(ctx, c, make([]float32, 100000), 0)
		}},
		{"reduce", func(ctx context.Context, c *collective.Comm) error {
			return collective.Reduce(ctx, c, make([]float32, 100000), make([]float32, 100000), collective.Sum, 0)
		}},
		{"allreduce", func(ctx context.Context, c *collective.Comm) error {
			buf := make([]float32, 100000)
			return collective.AllReduce(ctx, c, buf, buf, collective.Sum)
		}},
		{"gather", func(ctx context.Context, c *collective.Comm) error {
			return collective.Gather(ctx, c, make([]float32, c.Size()*1000), make([]float32, 1000), 0)
		}},
		{"barrier", collective.Barrier},
	}
	for _, tt := range ops {
		for _, victim := range []int{1, 2, 3, 5} { // 2: a leader in the middle of the chain
			t.Run(fmt.Sprintf("%s/victim=%d", tt.name, victim), func(t *testing.T) {
				t.Parallel()
				nw := collectivetest.NewHostNetwork(t, layout)
				comms := nw.Comms(t, collective.Config{JobID: "kill", ChunkBytes: 1024, Window: 1})
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				var alive []*collective.Comm
				for r, c := range comms {
					if r != victim {
						alive = append(alive, c)
					}
				}
				done := make(chan []error)
				go func() { done <- onAll(alive, func(c *collective.Comm) error { return tt.run(ctx, c) }) }()
				nw.Kill(victim)
				failed := 0
				for i, err := range <-done {
					if err == nil {
						continue
					}
					failed++
					var re *collective.RankError
					if !errors.As(err, &re) || re.Rank != victim || !errors.Is(err, collective.ErrPeerDown) {
						t.Errorf("rank %d: %v, want success or a RankError naming rank %d", alive[i].Rank(), err, victim)
					}
				}
				if failed == 0 {
					t.Errorf("every survivor succeeded without rank %d", victim)
				}
			})
		}
	}
}

// TestHierAbortReachesUnawareRanks: only rank 2, the leader relaying a
// broadcast to rank 3, learns that rank 3 died. Every other survivor
// fails naming rank 3 all the same, from abort frames: the hosts
// downstream of rank 2 wait for data it can no longer forward, its
// upstream waits for its credit.
func TestHierAbortReachesUnawareRanks(t *testing.T) {
	nw := collectivetest.NewHostNetwork(t, collectivetest.Hosts(2, 2, 2))
	comms := nw.Comms(t, collective.Config{JobID: "abort", ChunkBytes: 1024, Window: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const victim = 3
	alive := append(append([]*collective.Comm(nil), comms[:victim]...), comms[victim+1:]...)
	done := make(chan []error)
	go func() {
		done <- onAll(alive, func(c *collective.Comm) error {
			return collective.Broadcast(ctx, c, make([]float32, 100000), 0)
		})
	}()
	nw.Kill(victim, 2)
	for i, err := range <-done {
		var re *collective.RankError
		if r := alive[i].Rank(); r != 1 && (!errors.As(err, &re) || re.Rank != victim) {
			// (Rank 1 may have got everything from the root first.)
			t.Errorf("rank %d: %v, want a RankError naming rank %d", r, err, victim)
		}
	}
}

// TestPipeChunkBytes: Config.PipeChunkBytes is the smallest chunk of a
// host-aware stream — a 1 MiB contribution goes in 16 chunks by default
// and in one when it is 1 MiB — and the result is the same.
func TestPipeChunkBytes(t *testing.T) {
	const n = 1 << 18 // float32s: 1 MiB
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(i%1000) / 7
	}
	var results [][]float32
	for _, tt := range []struct {
		pipe, frames int
	}{{0, 16}, {1 << 20, 1}} {
		nw := collectivetest.NewHostNetwork(t, collectivetest.Hosts(2, 2))
		cfg := collective.DefaultConfig()
		cfg.JobID, cfg.ChunkBytes, cfg.PipeChunkBytes = "pipe", 1<<20, tt.pipe
		comms := nw.Comms(t, cfg)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		stats := make([]collective.Stats, len(comms))
		dst := make([]float32, n)
		for r, err := range onAll(comms, func(c *collective.Comm) error {
			var d []float32
			if c.Rank() == 0 {
				d = dst
			}
			return collective.Reduce(ctx, c, d, src, collective.Sum, 0, collective.WithStats(&stats[c.Rank()]))
		}) {
			if err != nil {
				t.Fatalf("PipeChunkBytes %d: rank %d: %v", tt.pipe, r, err)
			}
		}
		// Rank 3 sends its contribution to its host's leader, rank 2.
		if got := stats[3].FramesOut; got != int64(tt.frames) {
			t.Errorf("PipeChunkBytes %d: rank 3 sent %d frames, want %d", tt.pipe, got, tt.frames)
		}
		results = append(results, dst)
	}
	if !slices.Equal(results[0], results[1]) {
		t.Error("the result depends on PipeChunkBytes")
	}
}

// TestHierCallBufsReused runs host-aware gathers and reduces one after the
// other with new data each time: a host's leader gathers its ranks' blocks
// (and a hop sums its partial) in a buffer the Comm keeps between calls,
// so each call must overwrite what the last one left there. Rank 3 leads
// host 1 and must reuse its buffer rather than allocate one per call.
func TestHierCallBufsReused(t *testing.T) {
	const n = 1000
	comms := collectivetest.NewHostNetwork(t, collectivetest.Hosts(3, 3, 3)).Comms(t, collective.Config{JobID: "bufs", ChunkBytes: 256, Window: 2, SmallBytes: 128})
	size := len(comms)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var kept *byte
	for call := range 4 {
		val := func(r, i int) float32 { return float32(r*100000 + call*1000 + i) }
		gathered, reduced := make([]float32, size*n), make([]float32, n)
		for r, err := range onAll(comms, func(c *collective.Comm) error {
			src := make([]float32, n)
			for i := range src {
				src[i] = val(c.Rank(), i)
			}
			var g, s []float32
			if c.Rank() == 0 {
				g, s = gathered, reduced
			}
			if err := collective.Gather(ctx, c, g, src, 0); err != nil {
				return err
			}
			return collective.Reduce(ctx, c, s, src, collective.Sum, 0)
		}) {
			if err != nil {
				t.Fatalf("call %d: rank %d: %v", call, r, err)
			}
		}
		for r := range size {
			for i := range n {
				if got, want := gathered[r*n+i], val(r, i); got != want {
					t.Fatalf("call %d: gathered[%d][%d] = %v, want %v", call, r, i, got, want)
				}
			}
		}
		for i := range n {
			var want float32
			for r := range size {
				want += val(r, i)
			}
			if reduced[i] != want {
				t.Fatalf("call %d: reduced[%d] = %v, want %v", call, i, reduced[i], want)
			}
		}
		bufs := collective.KeptCallBufs(comms[3])
		if len(bufs) == 0 {
			t.Fatalf("call %d: rank 3 keeps no call buffer", call)
		}
		var big []byte
		for _, b := range bufs {
			if cap(b) >= 3*n*4 {
				big = b
			}
		}
		if big == nil {
			t.Fatalf("call %d: rank 3 keeps no buffer of its host's %d gathered bytes", call, 3*n*4)
		}
		if call > 0 && &big[:1][0] != kept {
			t.Errorf("call %d: rank 3 gathered in a new buffer, not the one kept from the call before", call)
		}
		kept = &big[:1][0]
	}
}

// TestHierBarrier: on 3 hosts of 3 ranks no rank leaves the barrier before
// the last one entered, whichever is last (the root, a leader, a rank
// behind a leader), and the host-aware barrier sends one frame per arrival
// and release: rank 0 releases the 2 other leaders and its 2 ranks, each
// leader arrives once and releases its 2 ranks, every other rank arrives
// once.
func TestHierBarrier(t *testing.T) {
	comms := collectivetest.NewHostNetwork(t, collectivetest.Hosts(3, 3, 3)).Comms(t, collective.Config{JobID: "hbar"})
	wantFrames := map[int]int64{0: 4, 3: 3, 6: 3}
	for _, late := range []int{0, 3, 4, 8} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		before := make([]collective.Stats, len(comms))
		for r, c := range comms {
			before[r] = c.Stats()
		}
		var entered time.Time
		left := make([]time.Time, len(comms))
		for r, err := range onAll(comms, func(c *collective.Comm) error {
			if c.Rank() == late {
				time.Sleep(30 * time.Millisecond)
				entered = time.Now()
			}
			err := collective.Barrier(ctx, c)
			left[c.Rank()] = time.Now()
			return err
		}) {
			if err != nil {
				t.Fatalf("late %d: rank %d: %v", late, r, err)
			}
		}
		cancel()
		for r, c := range comms {
			if left[r].Before(entered) {
				t.Errorf("late %d: rank %d left the barrier %v before rank %d entered it", late, r, entered.Sub(left[r]), late)
			}
			want, ok := wantFrames[r]
			if !ok {
				want = 1
			}
			if got := c.Stats().FramesOut - before[r].FramesOut; got != want {
				t.Errorf("late %d: rank %d sent %d frames, want %d", late, r, got, want)
			}
		}
	}
}
