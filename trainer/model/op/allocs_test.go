package op

import (
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestOpAllocs checks that the ops allocate next to nothing per run: a
// forward and backward run of a graph around each op allocates under 8
// KiB (the tape machine's own bookkeeping; observed 0.7–2.7 KiB), where
// the gorgonia ops they replace allocate outputs and temporaries every
// run (observed 13 KiB for LogSoftMax + NLL, 31 KiB for BroadcastAdd,
// 39 KiB for Mul + BroadcastAdd, 107–590 KiB for BatchNorm and 320 KiB for
// Rectify at these sizes). The test also checks that gorgonia's ops exceed
// the bound, so that it would fail for them.
func TestOpAllocs(t *testing.T) {
	const bound = 8 << 10
	dt := tensor.Float32
	r := rand.New(rand.NewPCG(7, 8))
	type opPair struct {
		name   string
		shapes [][]int
		ours   func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)
		ref    func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)
	}
	bn := func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		op, err := newBNOp(testConfig(t), dt, in[0].Shape(), true, testMomentum, testEpsilon)
		if err != nil {
			return nil, err
		}
		return G.ApplyOp(op, in...)
	}
	refBN := func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		y, _, _, _, err := G.BatchNorm(in[0], in[1], in[2], testMomentum, testEpsilon)
		return y, err
	}
	labels := make([]int, 16)
	for _, p := range []opPair{
		{"BatchNorm4d", [][]int{{8, 16, 14, 14}, {1, 16, 1, 1}, {1, 16, 1, 1}}, bn, refBN},
		{"BatchNorm2d", [][]int{{16, 200}, {1, 200}, {1, 200}}, bn, refBN},
		{"bias", [][]int{{16, 200}, {1, 200}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				op, err := newBiasOp(dt, in[0].Shape(), in[1].Shape())
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(op, in...)
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return G.BroadcastAdd(in[0], in[1], nil, []byte{0})
			}},
		{"linear", [][]int{{16, 100}, {100, 50}, {1, 50}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				op, err := newLinearOp(dt, in[0].Shape(), in[1].Shape(), in[2].Shape(), true)
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(op, in...)
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				y, err := G.Mul(in[0], in[1])
				if err != nil {
					return nil, err
				}
				return G.BroadcastAdd(y, in[2], nil, []byte{0})
			}},
		{"relu", [][]int{{8, 16, 14, 14}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return ReLU(testConfig(t), in[0])
			},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return G.Rectify(in[0]) }},
		{"loss", [][]int{{16, 10}},
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return G.ApplyOp(newLossOp(dt, 16, 10), in[0]) },
			func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) { return refLoss(g, dt, in[0], labels) }},
	} {
		t.Run(p.name, func(t *testing.T) {
			var w []float64
			if p.name == "linear" {
				w = randn(r, 16*50, 0, 1)
			} else {
				w = randn(r, shapeSize(p.shapes[0]), 0, 1)
			}
			ours := newOpGraph(t, dt, p.shapes, w, p.ours)
			ref := newOpGraph(t, dt, p.shapes, w, p.ref)
			for i, s := range p.shapes {
				x := randn(r, shapeSize(s), 1, 1)
				ours.set(i, x)
				ref.set(i, x)
			}
			got, old := ours.bytesPerRun(5), ref.bytesPerRun(5)
			t.Logf("%.0f bytes per run, gorgonia's op %.0f", got, old)
			if got > bound {
				t.Errorf("%.0f bytes allocated per run, want ≤ %d", got, bound)
			}
			if old <= bound {
				t.Errorf("gorgonia's op allocates only %.0f bytes per run: the bound %d does not tell them apart", old, bound)
			}
		})
	}
}

// TestConvPoolOpAllocs checks that the ops reuse their buffers: after the
// first run, a forward and backward pass of a convolution and a max pool
// allocates only the closures and goroutines of the batch split (a few
// per op), not the columns, outputs or gradients.
func TestConvPoolOpAllocs(t *testing.T) {
	opModes(t, func(t *testing.T, cfg Config) {
		r := rand.New(rand.NewPCG(1, 1))
		mk := func(shape ...int) *tensor.Dense {
			v := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
			setFloats(v, randn(r, v.Shape().TotalSize(), 0, 1))
			return v
		}
		cc := convCase{4, 3, 12, 12, 8, 5, 1, 2, true}
		conv, err := newConvOp(cfg, tensor.Float32, tensor.Shape{cc.n, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad, true, true, "allocs")
		if err != nil {
			t.Fatal(err)
		}
		pool, err := newMaxPoolOp(cfg, tensor.Float32, tensor.Shape{cc.n, cc.o, conv.ho, conv.wo}, 2, 2, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		x, w, b := mk(cc.n, cc.c, cc.h, cc.w), mk(cc.o, cc.c, cc.k, cc.k), mk(1, cc.o, 1, 1)
		dp := mk(cc.n, cc.o, pool.ho, pool.wo)
		gw, gb, gx := newConvGradWOp(conv), newConvGradBOp(conv), newConvGradXOp(conv)
		gp := &maxPoolGradOp{base: newBase("maxpool.dx", 1, tensor.Shape{cc.n, cc.o, conv.ho, conv.wo}), pool: pool, dx: newBuffer(tensor.Float32, cc.n, cc.o, conv.ho, conv.wo)}
		step := func() {
			y, err := conv.Do(x, w, b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Do(y); err != nil {
				t.Fatal(err)
			}
			dy, err := gp.Do(dp)
			if err != nil {
				t.Fatal(err)
			}
			for _, do := range []func() (G.Value, error){
				func() (G.Value, error) { return gw.Do(x, dy) },
				func() (G.Value, error) { return gb.Do(dy) },
				func() (G.Value, error) { return gx.Do(w, dy) },
			} {
				if _, err := do(); err != nil {
					t.Fatal(err)
				}
			}
		}
		step()
		// Not testing.AllocsPerRun: it sets GOMAXPROCS to 1. The fewest
		// over three rounds: a buffer that a worker grows the first time
		// it actually runs beside another (gemm's second workspace, a
		// worker's columns) is allocated once, in whichever pass the
		// helper first takes an index — not the steady state.
		const runs = 10
		allocs, bytes := math.Inf(1), math.Inf(1)
		for range 3 {
			var a, z goruntime.MemStats
			goruntime.ReadMemStats(&a)
			for range runs {
				step()
			}
			goruntime.ReadMemStats(&z)
			allocs = min(allocs, float64(z.Mallocs-a.Mallocs)/runs)
			bytes = min(bytes, float64(z.TotalAlloc-a.TotalAlloc)/runs)
		}
		// Per pass: 3 convolution ops allocate their split's closures
		// (≤ 5 each with two workers); the columns alone would be
		// 4·75·144·4 B = 173 KB.
		if allocs > 30 || bytes > 8192 {
			t.Errorf("a forward and backward pass allocates %v times, %.0f bytes; want ≤ 30 and ≤ 8 KiB", allocs, bytes)
		}
		t.Logf("%v allocations, %.0f bytes per pass", allocs, bytes)
	})
}
