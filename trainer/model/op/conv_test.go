package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"syscall"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
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
	{2, 12, 6, 5, 20, 3, 1, 1, false}, // 20 outputs: dx's permuted weights in a block of 16 and a partial one
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
	opModes(t, func(t *testing.T, cfg Config) {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-9
			if dt == tensor.Float32 {
				tol = 2e-5
			}
			worst := 0.0
			for _, cc := range convCases {
				t.Run(fmt.Sprintf("%v/%v", dt, cc), func(t *testing.T) {
					worst = max(worst, testConvCase(t, cfg, dt, cc, tol))
				})
			}
			t.Logf("%v: worst rel err %.2g", dt, worst)
		}
	})
}

// testConvCase compares the ops on one case and returns the worst error.
func testConvCase(t *testing.T, cfg Config, dt tensor.Dtype, cc convCase, tol float64) (worst float64) {
	r := rand.New(rand.NewPCG(uint64(cc.n*1000+cc.k*10+cc.stride), 3))
	shapes := [][]int{{cc.n, cc.c, cc.h, cc.w}, {cc.o, cc.c, cc.k, cc.k}}
	if cc.bias {
		shapes = append(shapes, []int{1, cc.o, 1, 1})
	}
	vals := make([][]float64, len(shapes))
	for i, s := range shapes {
		vals[i] = randn(r, tensor.Shape(s).TotalSize(), 0, 1)
	}
	ho, wo := (cc.h+2*cc.pad-cc.k)/cc.stride+1, (cc.w+2*cc.pad-cc.k)/cc.stride+1
	weights := randn(r, cc.n*cc.o*ho*wo, 0, 1)

	ref := newOpGraph(t, dt, shapes, weights, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
		y, err := G.Conv2d(ins[0], ins[1], tensor.Shape{cc.k, cc.k}, []int{cc.pad, cc.pad}, []int{cc.stride, cc.stride}, []int{1, 1})
		if err != nil || !cc.bias {
			return y, err
		}
		return G.BroadcastAdd(y, ins[2], nil, []byte{0, 2, 3})
	})
	fused := newOpGraph(t, dt, shapes, weights, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
		var b *G.Node
		if cc.bias {
			b = ins[2]
		}
		return Conv2d(cfg, ins[0], ins[1], b, cc.stride, cc.pad, true, "conv")
	})
	ref.setAll(vals)
	fused.setAll(vals)
	names := []string{"dx", "dw", "db"}
	for run := range 2 {
		if run == 1 { // new inputs: nothing may be left from the first run
			for i, s := range shapes {
				vals[i] = randn(r, tensor.Shape(s).TotalSize(), 0, 1)
				ref.set(i, vals[i])
				fused.set(i, vals[i])
			}
		}
		wantY, wantG := ref.results()
		gotY, gotG := fused.results()
		if e := optest.RelErr(gotY, wantY); e > tol {
			t.Errorf("run %d: y rel err %.3g > %.3g", run, e, tol)
		} else {
			worst = max(worst, e)
		}
		for i := range wantG {
			if e := optest.RelErr(gotG[i], wantG[i]); e > tol {
				t.Errorf("run %d: %s rel err %.3g > %.3g", run, names[i], e, tol)
			} else {
				worst = max(worst, e)
			}
		}
	}
	return worst
}

// TestConvOpBadShapes checks that impossible convolutions fail at build
// time.
func TestConvOpBadShapes(t *testing.T) {
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
		if _, err := Conv2d(testConfig(t), x, w, nil, tt.stride, tt.pad, true, "c"); err == nil {
			t.Errorf("%s: conv2d of %v by %v succeeded", tt.name, x.Shape(), tt.w)
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
		setFloats(t, randn(r, t.Shape().TotalSize(), 0, 1))
		return t
	}
	pc := parallel.DefaultConfig()
	if !split {
		pc.MinMACs = math.MaxInt
	}
	cfg := DefaultConfig()
	cfg.Team = optest.NewTeam(b, pc)
	op, err := newConvOp(cfg, tensor.Float32, tensor.Shape{cc.n, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad, cc.bias, true, "bench")
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
		{3, 64, 8, 8, 128, 3, 1, 1, false},  // dW in blocks of columns (dwBlockBytes)
	}
	for _, cc := range convCases {
		if cc.stride == 1 && cc.k > 1 && cc.k == 2*cc.pad+1 && (cc.n == 1 || cc.h*cc.w > DefaultConfig().BatchedConvMaxHW) {
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
	cfg := testConfig(t)
	for _, procs := range []int{1, 2} {
		prevProcs := goruntime.GOMAXPROCS(procs)
		for _, cc := range cases {
			r := rand.New(rand.NewPCG(uint64(cc.c), uint64(cc.k)))
			mk := func(shape ...int) *tensor.Dense {
				d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
				setFloats(d, randn(r, d.Shape().TotalSize(), 0, 1))
				return d
			}
			x, w, b := mk(cc.n, cc.c, cc.h, cc.w), mk(cc.o, cc.c, cc.k, cc.k), mk(1, cc.o, 1, 1)
			dy := mk(cc.n, cc.o, cc.h, cc.w)
			var ys, dws [2][]float32
			var dxs [2][]float64
			for i, shifted := range []bool{false, true} {
				op, err := newConvOp(cfg, tensor.Float32, x.Shape(), w.Shape(), cc.stride, cc.pad, cc.bias, false, "conv")
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
				if op.scattered() != (shifted && cc.c >= scatterMinChannels && cc.o > cc.c) || op.transposed() != (shifted && cc.c >= scatterMinChannels && cc.o <= cc.c) {
					t.Fatalf("%v: scattered() = %t", cc, op.scattered())
				}
				ys[i] = slices.Clone(y.Data().([]float32))
				dws[i] = slices.Clone(dw.Data().([]float32))
				dxs[i] = optest.Floats(dx)
			}
			// dx: col2im's sums in another order.
			if e := optest.RelErr(dxs[1], dxs[0]); e > 1e-6 {
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
