package gemm

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemmFunc is the signature of every Sgemm under comparison.
type sgemmFunc func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// benchImpl is an implementation under comparison.
type benchImpl struct {
	name  string
	sgemm sgemmFunc
	setup func(testing.TB) // optional, run before timing
}

// benchImpls lists the implementations the benchmarks compare; the
// openblas build tag adds OpenBLAS (openblas_test.go).
var benchImpls = []benchImpl{
	{name: "gonum", sgemm: gonum.Implementation{}.Sgemm},
	{name: "ours", sgemm: Sgemm},
	{name: "ours-go", sgemm: Sgemm, setup: func(tb testing.TB) { useKernel(tb, goKernel) }},
}

// benchShape is a product from the models: T or N for each operand, then
// m×n×k.
type benchShape struct {
	tA, tB  blas.Transpose
	m, n, k int
}

func (s benchShape) String() string {
	return fmt.Sprintf("%c%c.%dx%dx%d", s.tA, s.tB, s.m, s.n, s.k)
}

func nn(m, n, k int) benchShape { return benchShape{blas.NoTrans, blas.NoTrans, m, n, k} }
func nt(m, n, k int) benchShape { return benchShape{blas.NoTrans, blas.Trans, m, n, k} }
func tn(m, n, k int) benchShape { return benchShape{blas.Trans, blas.NoTrans, m, n, k} }

// benchShapes are the products of the models. Convolution as gemm is
// W (O×C·k·k) · col (C·k·k×Ho·Wo); its backward products are
// dW = dY·colᵀ (NT) and dcol = Wᵀ·dY (TN). Fully connected layers are
// X (batch×in) · Wᵀ, with backward dX = dY·W and dW = dYᵀ·X.
var benchShapes = []benchShape{
	// FashionMNIST-CNN conv1 (1→16, 5×5, 28×28) and conv2 (16→32, 5×5, 14×14).
	nn(16, 784, 25), nt(16, 25, 784), tn(25, 784, 16),
	nn(32, 196, 400), nt(32, 400, 196), tn(400, 196, 32),
	// McMahan CNN conv2 (32→64, 5×5, 14×14); the same over a batch of 16.
	nn(64, 196, 800), nn(64, 3136, 800),
	// VGG/ResNet (CIFAR) 3×3 convolutions at 32², 8² and 4².
	nn(64, 1024, 576), nn(256, 64, 2304), nn(512, 16, 4608),
	nt(512, 4608, 16), tn(4608, 16, 512),
	// Fully connected: 2NN (784→200), FashionMNIST-CNN head (1568→10),
	// a 4096-wide layer; forward and backward.
	nt(10, 200, 784), nt(50, 200, 784), nn(50, 784, 200), tn(200, 784, 50),
	nt(16, 10, 1568), nt(16, 4096, 4096), tn(4096, 4096, 16),
	// Square.
	nn(256, 256, 256), nn(512, 512, 512), nn(1024, 1024, 1024),
}

// benchOperands returns random operands for s, with minimal strides.
func benchOperands(s benchShape) (a []float32, lda int, b []float32, ldb int, c []float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	ar, ac := stored(s.tA, s.m, s.k)
	br, bc := stored(s.tB, s.k, s.n)
	return randMat(rng, ar, ac, ac, 0), ac, randMat(rng, br, bc, bc, 0), bc, make([]float32, s.m*s.n)
}

// runSgemm times f on s and reports GFLOP/s.
func runSgemm(b *testing.B, f sgemmFunc, s benchShape) {
	a, lda, bb, ldb, c := benchOperands(s)
	for b.Loop() {
		f(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm compares the implementations on the models' shapes. Run
// with -cpu 1,2; GOMAXPROCS bounds our threads and gonum's.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, impl := range benchImpls {
			b.Run(fmt.Sprintf("shape=%v/impl=%s", s, impl.name), func(b *testing.B) {
				if impl.setup != nil {
					impl.setup(b)
				}
				runSgemm(b, impl.sgemm, s)
			})
		}
	}
}

// BenchmarkBlocking tunes kcBlock and mcBlock on large products.
func BenchmarkBlocking(b *testing.B) {
	for _, s := range []benchShape{nn(512, 512, 512), nn(64, 3136, 800), nt(16, 4096, 4096)} {
		for _, kc := range []int{128, 256, 384, 512} {
			for _, mc := range []int{72, 144, 288} {
				b.Run(fmt.Sprintf("shape=%v/kc=%d/mc=%d", s, kc, mc), func(b *testing.B) {
					useBlocking(b, kc, mc, ncBlock)
					runSgemm(b, Sgemm, s)
				})
			}
		}
	}
}

// BenchmarkParallelThreshold times small products with the parallel split
// off (split=no) and forced (split=yes); run with -cpu 2 and set parFlops
// where split=yes starts to win.
func BenchmarkParallelThreshold(b *testing.B) {
	for _, s := range []benchShape{
		nn(8, 16, 64), nn(16, 16, 64), nn(16, 32, 64), nn(16, 32, 128), nn(32, 32, 128),
		nn(32, 64, 128), nn(64, 64, 128), nn(64, 64, 256), nt(10, 200, 784),
		nn(32, 196, 400), nn(128, 128, 256), nt(50, 200, 784), nn(64, 196, 800),
		nn(256, 256, 256), nn(64, 3136, 800),
	} {
		for _, split := range []bool{false, true} {
			name := map[bool]string{false: "no", true: "yes"}[split]
			b.Run(fmt.Sprintf("shape=%v/flops=%d/split=%s", s, 2*s.m*s.n*s.k, name), func(b *testing.B) {
				old := parFlops
				if split {
					parFlops = 0
				} else {
					parFlops = 1 << 62
				}
				b.Cleanup(func() { parFlops = old })
				runSgemm(b, Sgemm, s)
			})
		}
	}
}

// BenchmarkSgemmTiny compares the implementations on products too small
// for packing to pay, where fixed costs dominate.
func BenchmarkSgemmTiny(b *testing.B) {
	for _, s := range []benchShape{nn(4, 4, 4), nn(8, 8, 8), nn(16, 16, 16), nn(1, 200, 784), nt(1, 10, 200), nn(10, 10, 10)} {
		for _, impl := range benchImpls {
			b.Run(fmt.Sprintf("shape=%v/impl=%s", s, impl.name), func(b *testing.B) {
				if impl.setup != nil {
					impl.setup(b)
				}
				runSgemm(b, impl.sgemm, s)
			})
		}
	}
}

// BenchmarkSgemmShifted times products with the columns of FashionMNIST-
// CNN's conv2 (16 channels of 14×14, 5×5): packed from the input
// (SgemmShifted, SgemmScatter) against Sgemm on the columns written out
// (im2col done once, outside the timing: the written-out side is
// flattered). fwd: y = W·cols; dW: dy·colsᵀ; dx: Wᵀ·dy scattered. Every
// assembly kernel this CPU runs (avx2 packs dW's panels with gathers,
// avx512 with 16×16 transposes).
func BenchmarkSgemmShifted(b *testing.B) {
	for _, kr := range cpuKernels() {
		b.Run("kernel="+kr.name, func(b *testing.B) {
			useKernel(b, kr)
			benchShifted(b)
		})
	}
}

func benchShifted(b *testing.B) {
	const c, h, w, k, o = 16, 14, 14, 5, 32
	s, err := SameConvColumns(c, h, w, k)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randMat(rng, 1, c*h*w, c*h*w, 0)
	s.SetBase(x)
	cols := materialize(s)
	rows, hw := c*k*k, h*w
	wt := randMat(rng, o, rows, rows, 0)
	dy := randMat(rng, o, hw, hw, 0)
	out := make([]float32, max(o*hw, o*rows))
	flops := func(b *testing.B) {
		b.ReportMetric(2*float64(o*rows*hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	b.Run("fwd/shifted", func(b *testing.B) {
		for b.Loop() {
			SgemmShifted(blas.NoTrans, blas.NoTrans, o, hw, rows, 1, wt, rows, s, 0, out, hw)
		}
		flops(b)
	})
	b.Run("fwd/stored", func(b *testing.B) {
		for b.Loop() {
			Sgemm(blas.NoTrans, blas.NoTrans, o, hw, rows, 1, wt, rows, cols, hw, 0, out, hw)
		}
		flops(b)
	})
	b.Run("dW/shifted", func(b *testing.B) {
		for b.Loop() {
			SgemmShifted(blas.NoTrans, blas.Trans, o, rows, hw, 1, dy, hw, s, 0, out, rows)
		}
		flops(b)
	})
	b.Run("dW/stored", func(b *testing.B) {
		for b.Loop() {
			Sgemm(blas.NoTrans, blas.Trans, o, rows, hw, 1, dy, hw, cols, hw, 0, out, rows)
		}
		flops(b)
	})
	d, err := SameConvColumnsByShift(c, h, w, k)
	if err != nil {
		b.Fatal(err)
	}
	dx := make([]float32, c*h*w)
	d.SetBase(dx)
	wp := randMat(rng, rows, o, o, 0)
	b.Run("dx/scattered", func(b *testing.B) {
		for b.Loop() {
			SgemmScatter(blas.NoTrans, blas.NoTrans, rows, hw, o, 1, wp, o, dy, hw, d)
		}
		flops(b)
	})
	b.Run("dx/stored", func(b *testing.B) {
		for b.Loop() {
			Sgemm(blas.NoTrans, blas.NoTrans, rows, hw, o, 1, wp, o, dy, hw, 0, cols, hw)
		}
		flops(b)
	})
}

// BenchmarkSgemmLinear times the three products of a fully connected
// layer as trainer/model/op's Linear calls them (W stored in×out): the
// forward y = x·W (NN, m = batch), the weight gradient dW = xᵀ·dy (TN,
// k = batch) and the input gradient dx = dy·Wᵀ (NT), for the MNIST 2NN's
// layers and the MNIST CNN's head at the batches of BenchmarkTrainStep.
// Small m is where packing W costs as much as the product: impl=ours-packed
// packs B whatever m (directMaxM 0), for tuning directMaxM (add batches
// with -batches).
func BenchmarkSgemmLinear(b *testing.B) {
	layers := [][2]int{{784, 200}, {200, 200}, {200, 10}, {3136, 512}, {512, 10}}
	impls := append([]benchImpl{{name: "ours-packed", sgemm: Sgemm, setup: func(tb testing.TB) { useDirect(tb, 0) }}}, benchImpls...)
	for _, batch := range linearBatches() {
		for _, l := range layers {
			in, out := l[0], l[1]
			for _, s := range []benchShape{nn(batch, out, in), tn(in, out, batch), nt(batch, in, out)} {
				for _, impl := range impls {
					if impl.name == "gonum" || impl.name == "ours-go" {
						continue
					}
					b.Run(fmt.Sprintf("shape=%v/impl=%s", s, impl.name), func(b *testing.B) {
						if impl.setup != nil {
							impl.setup(b)
						}
						runSgemm(b, impl.sgemm, s)
					})
				}
			}
		}
	}
}

var batchesFlag = flag.String("batches", "10,16,50", "BenchmarkSgemmLinear: comma-separated batch sizes")

// linearBatches returns the batches of -batches.
func linearBatches() []int {
	var bs []int
	for _, f := range strings.Split(*batchesFlag, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			bs = append(bs, v)
		}
	}
	return bs
}
