package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convCase is one convolution geometry of the comparison tests.
type convCase struct {
	n, c, h, w, o, k, stride, pad int
	bias                          bool
}

func (cc convCase) String() string {
	return fmt.Sprintf("x=%dx%dx%dx%d/o=%d/k=%d/s=%d/p=%d/bias=%t", cc.n, cc.c, cc.h, cc.w, cc.o, cc.k, cc.stride, cc.pad, cc.bias)
}

var convCases = []convCase{
	{1, 1, 5, 5, 1, 1, 1, 0, true},    // 1×1: the columns are x itself
	{2, 3, 7, 6, 4, 3, 1, 1, true},    // odd sizes, "same" padding
	{3, 2, 9, 8, 5, 3, 2, 0, false},   // stride 2, no padding
	{2, 3, 11, 9, 2, 5, 2, 2, true},   // 5×5 stride 2
	{1, 2, 9, 9, 3, 7, 2, 3, true},    // the ResNet stem's 7×7/2 pad 3
	{2, 1, 6, 7, 3, 5, 1, 3, false},   // pad 3 > k/2: whole padding rows
	{3, 4, 6, 6, 2, 1, 2, 0, false},   // 1×1 stride 2 (a shortcut)
	{3, 4, 5, 7, 2, 3, 3, 1, true},    // stride 3
	{2, 2, 3, 4, 3, 5, 1, 1, true},    // kernel as large as the padded input
	{4, 5, 12, 10, 6, 3, 1, 1, true},  // enough work to split the batch
	{2, 3, 6, 5, 2, 5, 1, 2, true},    // "same" 5×5: whole shifted planes
	{1, 2, 2, 3, 2, 7, 1, 3, true},    // "same" 7×7 on 2×3: kernel rows entirely in the padding
	{2, 12, 9, 8, 3, 3, 1, 1, true},   // 12 channels: dx scattered (float32)
	{2, 13, 5, 11, 2, 5, 1, 2, false}, // 13 channels, 5×5
}

// opTestGraph is a compiled graph computing y = f(inputs) and the cost
// Σ y⊙r for fixed random r, with the gradients of every input.
type opTestGraph struct {
	vm  G.VM
	ins []*node
	y   *node
	yV  G.Value
}

// newOpTestGraph builds f over inputs of the given shapes (values from
// vals) and its gradients.
func newOpTestGraph(t *testing.T, dt tensor.Dtype, shapes [][]int, vals [][]float64, r []float64, f func(ins []*node) (*node, error)) *opTestGraph {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	g := G.NewGraph()
	og := &opTestGraph{}
	for i, s := range shapes {
		v := tensor.New(tensor.Of(dt), tensor.WithShape(s...))
		setTestValues(v, vals[i])
		og.ins = append(og.ins, G.NewTensor(g, dt, len(s), G.WithShape(s...), G.WithName(fmt.Sprintf("in%d", i)),
			G.WithValue(v), G.WithGrad(tensor.New(tensor.Of(dt), tensor.WithShape(s...)))))
	}
	y, err := f(og.ins)
	if err != nil {
		t.Fatal(err)
	}
	og.y = y
	G.Read(y, &og.yV)
	rt := tensor.New(tensor.Of(dt), tensor.WithShape(y.Shape()...))
	setTestValues(rt, r)
	rn := G.NewTensor(g, dt, y.Dims(), G.WithShape(y.Shape()...), G.WithName("r"), G.WithValue(rt))
	prod, err := G.HadamardProd(y, rn)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := G.Sum(prod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(cost, og.ins...); err != nil {
		t.Fatal(err)
	}
	og.vm = newTapeMachine(g, G.BindDualValues(og.ins...))
	t.Cleanup(func() { _ = og.vm.Close() })
	return og
}

// set writes the values of input i.
func (og *opTestGraph) set(i int, vals []float64) {
	setTestValues(og.ins[i].Value().(tensor.Tensor), vals)
}

// run zeroes the gradients, runs the graph and returns the output and the
// inputs' gradients.
func (og *opTestGraph) run(t *testing.T) (y []float64, grads [][]float64) {
	t.Helper()
	for _, n := range og.ins {
		g, _ := n.Grad()
		g.(tensor.Tensor).Zero()
	}
	if err := og.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	og.vm.Reset()
	for _, n := range og.ins {
		g, _ := n.Grad()
		grads = append(grads, testValues(g))
	}
	return testValues(og.yV), grads
}

func setTestValues(t tensor.Tensor, vals []float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i, v := range vals {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, vals)
	}
}

func testValues(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	}
	return nil
}

// maxRelErr returns max|a−b| / max(max|b|, 1e-300): the error of a
// relative to the magnitude of the reference b.
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		if math.IsNaN(a[i]) != math.IsNaN(b[i]) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(a[i]-b[i]))
		m = max(m, math.Abs(b[i]))
	}
	return d / max(m, 1e-300)
}

func normals(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// opModes runs f under the op's execution modes: GOMAXPROCS 1 (serial
// products), GOMAXPROCS 2 with small work unsplit (the build's BLAS),
// GOMAXPROCS 2 with every batch split over two goroutines and no
// convolution batched, and every convolution batched (one product for the
// batch's columns). f gets the mode's op configuration.
func opModes(t *testing.T, f func(t *testing.T, oc opConfig)) {
	def := parallel.DefaultConfig()
	for _, m := range []struct {
		name    string
		procs   int
		minMAC  int
		batchHW int
	}{
		{"procs=1", 1, def.MinMACs, defaultBatchedConvMaxHW},
		{"procs=2", 2, def.MinMACs, defaultBatchedConvMaxHW},
		{"split", 2, 0, 0},
		{"batched", 2, 0, math.MaxInt},
	} {
		t.Run(m.name, func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(m.procs))
			pc := def
			pc.MinMACs = m.minMAC
			f(t, opConfig{team: newTeam(t, pc), batchedConvMaxHW: m.batchHW})
		})
	}
}

// TestConvOp compares the fused convolution's output and gradients (x, w,
// bias) with gorgonia's Conv2d followed by BroadcastAdd, on the same
// random inputs, twice in a row with new inputs (the op reuses its
// buffers), with the columns kept from the forward pass and recomputed.
// Error measure max|a−b| / max|b| per tensor. float64: ≤ 1e-9 (observed
// ≤ 1e-15; both sum the same products in different orders). float32:
// ≤ 2e-5 (observed ≤ 1e-6; sums of up to C·k·k·N·Ho·Wo float32 products
// in different orders, each rounding ~6e-8 relative).
func TestConvOp(t *testing.T) {
	opModes(t, func(t *testing.T, oc opConfig) {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-9
			if dt == tensor.Float32 {
				tol = 2e-5
			}
			worst := 0.0
			for _, cc := range convCases {
				t.Run(fmt.Sprintf("%v/%v", dt, cc), func(t *testing.T) {
					worst = max(worst, testConvCase(t, oc, dt, cc, tol))
				})
			}
			t.Logf("%v: worst rel err %.2g", dt, worst)
		}
	})
}

// testConvCase compares the ops on one case and returns the worst error.
func testConvCase(t *testing.T, oc opConfig, dt tensor.Dtype, cc convCase, tol float64) (worst float64) {
	r := rand.New(rand.NewPCG(uint64(cc.n*1000+cc.k*10+cc.stride), 3))
	shapes := [][]int{{cc.n, cc.c, cc.h, cc.w}, {cc.o, cc.c, cc.k, cc.k}}
	if cc.bias {
		shapes = append(shapes, []int{1, cc.o, 1, 1})
	}
	vals := make([][]float64, len(shapes))
	for i, s := range shapes {
		vals[i] = normals(r, tensor.Shape(s).TotalSize())
	}
	ho, wo := (cc.h+2*cc.pad-cc.k)/cc.stride+1, (cc.w+2*cc.pad-cc.k)/cc.stride+1
	weights := normals(r, cc.n*cc.o*ho*wo)

	ref := newOpTestGraph(t, dt, shapes, vals, weights, func(ins []*node) (*node, error) {
		y, err := G.Conv2d(ins[0], ins[1], tensor.Shape{cc.k, cc.k}, []int{cc.pad, cc.pad}, []int{cc.stride, cc.stride}, []int{1, 1})
		if err != nil || !cc.bias {
			return y, err
		}
		return G.BroadcastAdd(y, ins[2], nil, []byte{0, 2, 3})
	})
	fused := newOpTestGraph(t, dt, shapes, vals, weights, func(ins []*node) (*node, error) {
		var b *node
		if cc.bias {
			b = ins[2]
		}
		return conv2d(oc, ins[0], ins[1], b, cc.stride, cc.pad, true, "conv")
	})
	names := []string{"dx", "dw", "db"}
	for run := range 2 {
		if run == 1 { // new inputs: nothing may be left from the first run
			for i, s := range shapes {
				vals[i] = normals(r, tensor.Shape(s).TotalSize())
				ref.set(i, vals[i])
				fused.set(i, vals[i])
			}
		}
		wantY, wantG := ref.run(t)
		gotY, gotG := fused.run(t)
		if e := maxRelErr(gotY, wantY); e > tol {
			t.Errorf("run %d: y rel err %.3g > %.3g", run, e, tol)
		} else {
			worst = max(worst, e)
		}
		for i := range wantG {
			if e := maxRelErr(gotG[i], wantG[i]); e > tol {
				t.Errorf("run %d: %s rel err %.3g > %.3g", run, names[i], e, tol)
			} else {
				worst = max(worst, e)
			}
		}
	}
	return worst
}

// TestConvOpNoInputGradient checks that a convolution of the graph's input
// adds no dx node (the first layer of every model) and still trains its
// weights.
func TestConvOpNoInputGradient(t *testing.T) {
	gr := f64Graph(t, tinyConv, 2, 7, Config{})
	for _, n := range gr.g.AllNodes() {
		if op, ok := n.Op().(*convGradXOp); ok && op.conv.c == tinyConv.info.InputShape[0] {
			t.Errorf("graph has %v for the input convolution", op)
		}
	}
	loss64(t, gr)
	g := gr.grad(0)
	nonzero := 0
	for _, v := range g.Data().([]float64) {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Errorf("%s has an all-zero gradient", gr.names[0])
	}
}

// TestConvOpBadShapes checks that impossible convolutions fail at build
// time.
func TestConvOpBadShapes(t *testing.T) {
	buildMu.Lock()
	defer buildMu.Unlock()
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 2, 4, 4), G.WithName("x"))
	for _, tt := range []struct {
		name        string
		w           []int
		stride, pad int
	}{
		{"channels", []int{3, 3, 3, 3}, 1, 0},
		{"kernel too large", []int{3, 2, 5, 5}, 1, 0},
		{"non-square kernel", []int{3, 2, 3, 2}, 1, 0},
		{"stride 0", []int{3, 2, 3, 3}, 0, 0},
		{"negative pad", []int{3, 2, 3, 3}, 1, -1},
	} {
		w := G.NewTensor(g, tensor.Float32, 4, G.WithShape(tt.w...), G.WithName("w"+tt.name))
		if _, err := conv2d(testOps(t), x, w, nil, tt.stride, tt.pad, true, "c"); err == nil {
			t.Errorf("%s: conv2d of %v by %v succeeded", tt.name, x.Shape(), tt.w)
		}
	}
}

// TestIm2colAdjoint checks ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for random x
// and c: col2im is the transpose of im2col, which the input gradient
// relies on.
func TestIm2colAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, cc := range convCases {
		g, err := newConvGeom(tensor.Shape{1, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad)
		if err != nil {
			t.Fatal(err)
		}
		x, c := normals(r, g.chw), normals(r, g.ckk*g.hw)
		col, dx := make([]float64, len(c)), make([]float64, len(x))
		im2col(&g, x, col)
		var a, b float64
		for i := range c {
			a += col[i] * c[i]
		}
		col2im(&g, c, dx, blas64.axpy)
		for i := range x {
			b += x[i] * dx[i]
		}
		if math.Abs(a-b) > 1e-12*max(math.Abs(a), 1) {
			t.Errorf("%v: ⟨im2col x, c⟩ = %v, ⟨x, col2im c⟩ = %v", cc, a, b)
		}
	}
}

// BenchmarkConvOp runs the forward, weight-gradient and input-gradient
// ops of the CNNs' convolutions (float32) directly, without a graph, in
// the op's variants: split=0 never splits the batch, gemm=gonum calls gonum's Sgemm (which
// splits products over goroutines itself) instead of the build's product
// (serialGemm in the pure-Go build). cpu-ms/op is the process's CPU time
// per op (less noisy than the wall time on a shared machine). Run it with
// GOMAXPROCS=1 in the environment when -cpu starts with 1: the testing
// package runs the first -count of a sub-benchmark at the initial
// GOMAXPROCS.
func BenchmarkConvOp(b *testing.B) {
	layers := []struct {
		name string
		cc   convCase
	}{
		{"MNISTCNN.conv1", convCase{0, 1, 28, 28, 32, 5, 1, 2, true}},
		{"MNISTCNN.conv2", convCase{0, 32, 14, 14, 64, 5, 1, 2, true}},
		{"FashionMNISTCNN.conv1", convCase{0, 1, 28, 28, 16, 5, 1, 2, true}},
		{"FashionMNISTCNN.conv2", convCase{0, 16, 14, 14, 32, 5, 1, 2, true}},
	}
	for _, l := range layers {
		for _, batch := range []int{16, 50} {
			for _, v := range []struct {
				split bool
				gemm  string
			}{{true, "build"}, {false, "build"}, {false, "gonum"}} {
				name := fmt.Sprintf("layer=%s/batch=%d/split=%d/gemm=%s", l.name, batch, b2i(v.split), v.gemm)
				b.Run(name, func(b *testing.B) {
					cc := l.cc
					cc.n = batch
					bl := &blas32
					if v.gemm == "gonum" {
						bl = &blasOps[float32]{
							gemm: func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
								gonum.Implementation{}.Sgemm(blasTrans(tA), blasTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
							},
							axpy: blas32.axpy,
						}
					}
					benchConv(b, cc, v.split, bl)
				})
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func benchConv(b *testing.B, cc convCase, split bool, bl *blasOps[float32]) {
	r := rand.New(rand.NewPCG(1, 1))
	mk := func(shape ...int) *tensor.Dense {
		t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
		setTestValues(t, normals(r, t.Shape().TotalSize()))
		return t
	}
	pc := parallel.DefaultConfig()
	if !split {
		pc.MinMACs = math.MaxInt
	}
	oc := opConfig{team: newTeam(b, pc), batchedConvMaxHW: defaultBatchedConvMaxHW}
	op, err := newConvOp(oc, tensor.Float32, tensor.Shape{cc.n, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad, cc.bias, true, "bench")
	if err != nil {
		b.Fatal(err)
	}
	op.bl32 = bl
	x, w, bias, dy := mk(cc.n, cc.c, cc.h, cc.w), mk(cc.o, cc.c, cc.k, cc.k), mk(1, cc.o, 1, 1), mk(cc.n, cc.o, op.ho, op.wo)
	ins := []G.Value{x, w}
	if cc.bias {
		ins = append(ins, bias)
	}
	gw, gx := newConvGradWOp(op), newConvGradXOp(op)
	step := func() {
		if _, err := op.Do(ins...); err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Do(x, dy); err != nil {
			b.Fatal(err)
		}
		if _, err := gx.Do(w, dy); err != nil {
			b.Fatal(err)
		}
	}
	step()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N), "cpu-ms/op")
}

// cpuTime returns the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkConvClients measures whole training steps (TrainStep) of one
// or two models training in parallel goroutines, with the convolutions'
// batch split over the cores (split=1) or not, in samples per second over
// all clients. Compare -cpu 2 rows: with two clients each should keep one
// core busy whether it splits or not.
func BenchmarkConvClients(b *testing.B) {
	for _, name := range []string{"FashionMNISTCNN", "MNISTCNN"} {
		for _, clients := range []int{1, 2} {
			for _, split := range []bool{true, false} {
				b.Run(fmt.Sprintf("model=%s/batch=16/clients=%d/split=%d", name, clients, b2i(split)), func(b *testing.B) {
					pc := parallel.DefaultConfig()
					if !split {
						pc.MinMACs = math.MaxInt
					}
					team := newTeam(b, pc) // one Team for the clients, as a job would
					models := make([]Model, clients)
					for i := range models {
						cfg := DefaultConfig()
						cfg.Batch, cfg.EvalBatch, cfg.Seed, cfg.Team = 16, 1, uint64(i+1), team
						models[i] = newModelConfig(b, name, cfg)
					}
					x, y := batchFor(models[0], 16, 1)
					for _, m := range models {
						if _, err := m.TrainStep(x, y); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					var wg sync.WaitGroup
					for _, m := range models {
						wg.Go(func() {
							for range b.N {
								if _, err := m.TrainStep(x, y); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.ReportMetric(float64(clients*b.N*16)/b.Elapsed().Seconds(), "samples/s")
				})
			}
		}
	}
}

// TestConvPoolOpAllocs checks that the ops reuse their buffers: after the
// first run, a forward and backward pass of a convolution and a max pool
// allocates only the closures and goroutines of the batch split (a few
// per op), not the columns, outputs or gradients.
func TestConvPoolOpAllocs(t *testing.T) {
	opModes(t, func(t *testing.T, oc opConfig) {
		r := rand.New(rand.NewPCG(1, 1))
		mk := func(shape ...int) *tensor.Dense {
			v := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
			setTestValues(v, normals(r, v.Shape().TotalSize()))
			return v
		}
		cc := convCase{4, 3, 12, 12, 8, 5, 1, 2, true}
		conv, err := newConvOp(oc, tensor.Float32, tensor.Shape{cc.n, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad, true, true, "allocs")
		if err != nil {
			t.Fatal(err)
		}
		pool, err := newMaxPoolOp(oc, tensor.Float32, tensor.Shape{cc.n, cc.o, conv.ho, conv.wo}, 2, 2, 0, true)
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

// refConv2d is Conv2d with gorgonia's own ops (Conv2d, BroadcastAdd), as
// it was built before the fused op; the learnables are the same.
func (b *builder) refConv2d(x *node, out, k, stride, pad int) *node {
	in := x.Shape()[1]
	name := b.name("conv")
	bound := 1 / math.Sqrt(float64(in*k*k))
	w := b.param(name+".weight", []int{out, in, k, k}, uniform(bound))
	bias := b.param(name+".bias", []int{1, out, 1, 1}, uniform(bound))
	if b.err != nil {
		return nil
	}
	y, err := G.Conv2d(x, w, tensor.Shape{k, k}, []int{pad, pad}, []int{stride, stride}, []int{1, 1})
	if b.check(name, y, err) == nil {
		return nil
	}
	y, err = G.BroadcastAdd(y, bias, nil, []byte{0, 2, 3})
	return b.check(name+" bias", y, err)
}

// refMaxPool2d is MaxPool2d with gorgonia's MaxPool2D.
func (b *builder) refMaxPool2d(x *node, k, stride int) *node {
	if b.err != nil {
		return nil
	}
	y, err := G.MaxPool2D(x, tensor.Shape{k, k}, []int{0, 0}, []int{stride, stride})
	return b.check("maxpool", y, err)
}

// fmnistCNN returns FashionMNISTCNN's spec with the fused ops or with
// gorgonia's.
func fmnistCNN(fused bool) spec {
	s := spec{info: ModelInfo{Name: "FashionMNISTCNN", InputShape: []int{1, 28, 28}, Classes: 10}}
	s.build = func(b *builder, x *node, classes int) *node {
		h := x
		for _, c := range []int{16, 32} {
			if fused {
				h = b.MaxPool2d(b.ReLU(b.BatchNorm(b.Conv2d(h, c, 5, 1, 2, true))), 2, 2)
			} else {
				h = b.refMaxPool2d(b.ReLU(b.BatchNorm(b.refConv2d(h, c, 5, 1, 2))), 2, 2)
			}
		}
		return b.Linear(b.Flatten(h), classes)
	}
	return s
}

// TestConvPoolStepAllocs checks that a training step of FashionMNISTCNN
// allocates far less with the fused convolution and pooling than with
// gorgonia's ops (which allocate the columns, the products, their
// transposes, the broadcast bias and every gradient anew each step), and
// that both compute the same loss and gradients: max|a−b| / max(max|b|,
// max over all gradients / 10) ≤ 1e-4 (float32; observed ~1.5e-5 for the
// biases, ~2e-6 otherwise: the products sum in different orders).
func TestConvPoolStepAllocs(t *testing.T) {
	const batch = 4
	run := func(fused bool) (bytes float64, loss float32, grads [][]float64) {
		gr, err := buildGraph(fmnistCNN(fused), graphConfig{dt: tensor.Float32, batch: batch, classes: 10, train: true,
			rng: rand.New(rand.NewPCG(1, initStream)), ops: testOps(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.close()
		r := rand.New(rand.NewPCG(2, 2))
		for i := range gr.x.Float32s() {
			gr.x.Float32s()[i] = r.Float32()
		}
		for i := range gr.labels {
			gr.labels[i] = r.IntN(10)
		}
		step := func() {
			if err := gr.run(); err != nil {
				t.Fatal(err)
			}
		}
		step()
		var a, z goruntime.MemStats
		goruntime.ReadMemStats(&a)
		const steps = 3
		for range steps {
			step()
		}
		goruntime.ReadMemStats(&z)
		for i := range gr.params {
			grads = append(grads, testValues(gr.grad(i)))
		}
		return float64(z.TotalAlloc-a.TotalAlloc) / steps, gr.lossV.Data().(float32), grads
	}
	refBytes, refLoss, refGrads := run(false)
	bytes, loss, grads := run(true)
	t.Logf("bytes per step: %.0f with gorgonia's convolution and pooling, %.0f fused", refBytes, bytes)
	// gorgonia's ops allocate ~16 KB per sample in the convolutions alone
	// (the columns: 4·(25·784 + 400·196)·4 B = 1.6 MB here, and as much
	// again in products, transposes and gradients); the fused ops nothing.
	if bytes > refBytes/2 {
		t.Errorf("a step allocates %.0f bytes, want at most half of gorgonia's ops' %.0f", bytes, refBytes)
	}
	if e := math.Abs(float64(loss-refLoss)) / math.Abs(float64(refLoss)); e > 1e-4 {
		t.Errorf("loss %v, gorgonia's ops give %v (rel err %.2g)", loss, refLoss, e)
	}
	// The error of each gradient relative to its magnitude, with a floor
	// of a tenth of the largest gradient's: the convolution biases'
	// gradients through BatchNorm are 0 up to rounding noise (~1e-6).
	var big float64
	for _, g := range refGrads {
		for _, v := range g {
			big = max(big, math.Abs(v))
		}
	}
	worst := 0.0
	for i := range grads {
		var d, m float64
		for j, v := range grads[i] {
			d = max(d, math.Abs(v-refGrads[i][j]))
			m = max(m, math.Abs(refGrads[i][j]))
		}
		if e := d / max(m, big/10); e > 1e-4 {
			t.Errorf("gradient %d: max abs err %.2g, max abs %.2g (rel err %.2g)", i, d, m, e)
		} else {
			worst = max(worst, e)
		}
	}
	t.Logf("worst gradient rel err %.2g", worst)
}

// TestConvPoolDeterministic checks that a training step's loss and
// gradients are bit for bit the same whether the ops run serially or
// split their batches over goroutines (and however many): training is
// reproducible from the seed on any machine, and two models training in
// parallel compute what they would alone. (Whether a convolution is
// batched depends on its shape only; each setting is checked on its own.)
func TestConvPoolDeterministic(t *testing.T) {
	want := map[bool][][]float64{}
	opModes(t, func(t *testing.T, oc opConfig) {
		gr, err := buildGraph(fmnistCNN(true), graphConfig{dt: tensor.Float32, batch: 5, classes: 10, train: true,
			rng: rand.New(rand.NewPCG(3, initStream)), ops: oc})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.close()
		r := rand.New(rand.NewPCG(4, 4))
		for i := range gr.x.Float32s() {
			gr.x.Float32s()[i] = r.Float32()
		}
		for i := range gr.labels {
			gr.labels[i] = r.IntN(10)
		}
		if err := gr.run(); err != nil {
			t.Fatal(err)
		}
		got := [][]float64{{float64(gr.lossV.Data().(float32))}}
		for i := range gr.params {
			got = append(got, testValues(gr.grad(i)))
		}
		batched := oc.batchedConvMaxHW >= 14*14 // the smallest plane of this CNN
		w, ok := want[batched]
		if !ok {
			want[batched] = got
			return
		}
		for i := range w {
			if !slices.Equal(got[i], w[i]) {
				t.Errorf("value %d (0: loss, then the gradients) differs from the serial run's (batched %v): rel err %.3g", i, batched, maxRelErr(got[i], w[i]))
			}
		}
	})
}

// TestShiftedConvMatchesIm2col checks that the shifted path (the columns
// packed straight from x by gemm.SgemmShifted) gives the bits of im2col
// followed by gemm.Sgemm, forward and dW, on one and two cores, with and without
// bias, on the "same" geometries of convCases that are not batched and
// the models' layers.
func TestShiftedConvMatchesIm2col(t *testing.T) {
	cases := []convCase{
		{16, 1, 28, 28, 16, 5, 1, 2, true},  // FashionMNIST-CNN conv1
		{16, 16, 14, 14, 32, 5, 1, 2, true}, // conv2
		{4, 3, 10, 10, 8, 3, 1, 1, false},   // the CIFAR models' 3×3
	}
	for _, cc := range convCases {
		if cc.stride == 1 && cc.k > 1 && cc.k == 2*cc.pad+1 && (cc.n == 1 || cc.h*cc.w > defaultBatchedConvMaxHW) {
			cases = append(cases, cc) // a "same" convolution not batched
		}
	}
	// The im2col path with gemm.Sgemm (the shifted path's kernel) in
	// any build.
	bl := &blasOps[float32]{
		gemm: func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			gemm.Sgemm(blasTrans(tA), blasTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
		axpy: blas32.axpy,
	}
	oc := testOps(t)
	for _, procs := range []int{1, 2} {
		prevProcs := goruntime.GOMAXPROCS(procs)
		for _, cc := range cases {
			r := rand.New(rand.NewPCG(uint64(cc.c), uint64(cc.k)))
			mk := func(shape ...int) *tensor.Dense {
				d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
				setTestValues(d, normals(r, d.Shape().TotalSize()))
				return d
			}
			x, w, b := mk(cc.n, cc.c, cc.h, cc.w), mk(cc.o, cc.c, cc.k, cc.k), mk(1, cc.o, 1, 1)
			dy := mk(cc.n, cc.o, cc.h, cc.w)
			var ys, dws [2][]float32
			var dxs [2][]float64
			for i, shifted := range []bool{false, true} {
				op, err := newConvOp(oc, tensor.Float32, x.Shape(), w.Shape(), cc.stride, cc.pad, cc.bias, false, "conv")
				if err != nil {
					t.Fatal(err)
				}
				op.canShift, op.bl32 = shifted, bl
				if op.shifted() != shifted || shifted && op.batched() {
					t.Fatalf("%v: shifted() = %t with canShift %t", cc, op.shifted(), shifted)
				}
				ins := []G.Value{x, w}
				if cc.bias {
					ins = append(ins, b)
				}
				y, err := op.Do(ins...)
				if err != nil {
					t.Fatal(err)
				}
				dw, err := newConvGradWOp(op).Do(x, dy)
				if err != nil {
					t.Fatal(err)
				}
				dx, err := newConvGradXOp(op).Do(w, dy)
				if err != nil {
					t.Fatal(err)
				}
				if op.scattered() != (shifted && cc.c >= scatterMinChannels) {
					t.Fatalf("%v: scattered() = %t", cc, op.scattered())
				}
				ys[i] = slices.Clone(y.Data().([]float32))
				dws[i] = slices.Clone(dw.Data().([]float32))
				dxs[i] = testValues(dx)
			}
			// dx: col2im's sums in another order.
			if e := maxRelErr(dxs[1], dxs[0]); e > 1e-6 {
				t.Errorf("procs %d, %v: dx rel err %.3g between the paths", procs, cc, e)
			}
			for i := range ys[0] {
				if math.Float32bits(ys[0][i]) != math.Float32bits(ys[1][i]) {
					t.Fatalf("procs %d, %v: y[%d] = %g shifted, %g by im2col", procs, cc, i, ys[1][i], ys[0][i])
				}
			}
			for i := range dws[0] {
				if math.Float32bits(dws[0][i]) != math.Float32bits(dws[1][i]) {
					t.Fatalf("procs %d, %v: dW[%d] = %g shifted, %g by im2col", procs, cc, i, dws[1][i], dws[0][i])
				}
			}
		}
		goruntime.GOMAXPROCS(prevProcs)
	}
}
