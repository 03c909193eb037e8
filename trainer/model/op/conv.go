package op

import (
	"fmt"
	"sync"

	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the fused convolution: a gorgonia op computing
//
//	y[n] = W · im2col(x[n]) + b      (O × Ho·Wo, already NCHW)
//
// with one matrix product per sample and no transposes; its three
// gradient ops (dW, db, dx) are in conv_grad.go, the geometry, im2col
// and col2im in im2col.go, the matrix products in blas.go. Every op
// owns its output and scratch buffers, reused by every run of the graph
// (shapes are static; see base.go), so a training step allocates next
// to nothing here. The batch is split over goroutines when that pays
// (parallel.Team: Workers, For). Stride-1 "same" convolutions in float32 with
// trainer/internal/gemm (the default build) never write their columns
// out: the products pack them straight from x (gemm.SgemmShifted, forward
// and dW); dx is the same kind of product on dy with the flipped weights
// when the layer has no more outputs than inputs, else added straight
// from the product's tiles (gemm.SgemmScatter); see shifted, transposed
// and scattered.
//
// The backward ops read nothing the forward pass left behind: the
// convolution recomputes its columns from x.
//
// Results do not depend on how the work is split over goroutines: every
// output element is computed by one goroutine in a fixed order
// (TestConvPoolDeterministic), so training is reproducible from the seed.

// convOp is the forward convolution: inputs x (N, C, H, W), w (O, C, k,
// k) and, with bias, b (1, O, 1, 1); output (N, O, Ho, Wo).
type convOp struct {
	base
	convGeom
	bias   bool
	needDX bool         // differentiate with respect to x (false for the graph's input)
	dt     tensor.Dtype // tensor.Float32 or tensor.Float64

	team       *parallel.Team
	batchMaxHW int               // Config.BatchedConvMaxHW
	canShift   bool              // shiftedConv (tests compare the paths)
	bl32       *blasOps[float32] // &blas32 (a benchmark compares gonum's)
	bl64       *blasOps[float64] // &blas64

	y       *tensor.Dense // the output
	cols    any           // []float32 or []float64: one sample's columns per worker
	workers int           // worker buffers in cols

	dcol  any // per worker: one sample's column gradient
	dcolN int // worker buffers in dcol

	// The batched path (see batched): the batch's columns (CKK × N·HW),
	// and an (O × N·HW) buffer for the output or dy; allocated on first use.
	colB, outB any

	sumsB    any                // the bias gradient's per-sample sums (N·O)
	dwHalf   any                // the weight gradient of the second half of the batch (O·CKK)
	dwPacked [2][]*gemm.PackedA // per half, its samples' dy packed (convGradWShifted)

	// xCols holds per worker the columns of x[n] as a gemm.Shifted
	// matrix: the forward product's and dW's on the shifted path (see
	// shifted). dxCols holds per worker the columns of dx[n], rows by
	// kernel position (gemm.SameConvColumnsByShift), and wPerm the
	// weights as CKK × O with rows in that order: dx's on the scattered
	// path (see scattered).
	xCols, dxCols []*gemm.Shifted
	wPerm         []float32

	// dyCols holds per worker the columns of dy[n] and wFlip the
	// flipped weights (C × O·k·k): dx's on the transposed path (see
	// transposed).
	dyCols []*gemm.Shifted
	wFlip  []float32
}

// shiftedConv says whether the float32 ops take the shifted path where
// the geometry allows: true when the build's BLAS is trainer/internal/gemm (not
// OpenBLAS, which multiplies stored matrices only). Set once, at init;
// a convOp copies it into canShift.
var shiftedConv bool

// shifted reports whether the op computes its forward product and dW
// with gemm.SgemmShifted, which packs the columns of a stride-1 "same"
// convolution (k = 2·pad + 1 > 1) straight from the input instead of
// writing them out with im2col and reading them back: one pass over the
// columns instead of three (im2col's writes, packing's reads and
// writes). The results are bit-identical to im2col's (the same packed
// panels; TestShiftedConvMatchesIm2col), and faster on
// FashionMNIST-CNN's layers (BenchmarkTrainStep, BenchmarkConvOp).
//
// dx could be the same kind of product: the "same" convolution of dy
// with the flipped weights (C × O·k·k), no column gradient and no
// col2im. It was no faster on FashionMNIST-CNN's conv2 (twice the
// columns to pack: O·k·k rows against C·k·k, and a product of only C
// rows) and much slower with one input channel; dx instead adds the
// column gradient's tiles straight into dx (see scattered).
func (op *convOp) shifted() bool {
	return op.canShift && op.dt == tensor.Float32 && op.stride == 1 && op.k > 1 && op.k == 2*op.pad+1 && !op.batched()
}

// scatterMinChannels is the fewest input channels for which dx takes the
// scattered path: a tile of the product has up to 12 rows, which must
// come from different channels (rows of one channel overlap in dx).
const scatterMinChannels = 12

// scattered reports whether the op computes dx with gemm.SgemmScatter:
// the column gradient wᵀ·dy[n] is added straight into dx[n] tile by
// tile (col2im fused into the product), instead of being written out
// and added by col2im. Its sums are in another order than col2im's.
func (op *convOp) scattered() bool {
	return op.shifted() && op.c >= scatterMinChannels && !op.transposed()
}

// transposed reports whether the op computes dx as the forward pass
// computes y: dx[n] is the "same" convolution of dy[n] by the weights
// flipped in space with input and output channels swapped, a product
// of C × O·k·k by O·k·k × HW columns packed straight from dy
// (gemm.SgemmShiftedPacked). With as many input channels as outputs (a
// ResNet's 3×3 layers) the product has the forward's shape, runs as
// fast (BenchmarkConvPass, pass=fwd against pass=dx), and writes dx
// once, where the scattered product clears dx and adds into it tile by
// tile. With fewer input channels it has fewer rows than the scattered
// product and more columns to pack per flop (FashionMNIST-CNN's conv2,
// 16 → 32 channels, was no faster). Its sums are in another order than
// col2im's.
func (op *convOp) transposed() bool {
	return op.shifted() && op.c >= scatterMinChannels && op.o <= op.c
}

// ensureXCols makes the column matrices of the given workers.
func (op *convOp) ensureXCols(workers int) {
	for len(op.xCols) < workers {
		s, err := gemm.SameConvColumns(op.c, op.h, op.w, op.k)
		if err != nil {
			panic(op.errorf("%v", err)) // shifted() admitted the geometry
		}
		op.xCols = append(op.xCols, s)
	}
}

// batched reports whether the op takes the batched path: its output
// plane (Ho·Wo) is at most Config.BatchedConvMaxHW. The op then
// puts the whole batch's columns side by side and runs one product per
// pass instead of one per sample: on small planes (a ResNet's last
// stages: 512 channels on 2×2 to 4×4) a per-sample product packs the
// whole weight matrix for a handful of columns and rewrites all of dW
// every sample.
func (op *convOp) batched() bool { return op.n > 1 && op.hw <= op.batchMaxHW }

// batchBuf returns *buf as a []T of n values, allocating it on first use.
func batchBuf[T float](buf *any, n int) []T {
	if b, ok := (*buf).([]T); ok && len(b) == n {
		return b
	}
	b := make([]T, n)
	*buf = b
	return b
}

// batchColumns puts every sample's columns side by side into colB (CKK ×
// N·HW: sample n's are columns n·HW … n·HW+HW−1).
func batchColumns[T float](op *convOp, x, colB []T) {
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	nhw := op.n * op.hw
	op.team.For(workers, op.n, func(_, n int) {
		xn := x[n*op.chw : (n+1)*op.chw]
		if op.direct {
			for r := range op.ckk {
				copy(colB[r*nhw+n*op.hw:r*nhw+(n+1)*op.hw], xn[r*op.hw:(r+1)*op.hw])
			}
			return
		}
		// Straight into colB: no per-worker columns to copy.
		im2col(&op.convGeom, xn, colB[n*op.hw:], nhw)
	})
}

// batchRows converts between the (N, O, HW) layout of y and dy and the
// (O, N·HW) layout of the batched products: toBatch copies nchw into b,
// else b into nchw.
func batchRows[T float](op *convOp, nchw, b []T, toBatch bool) {
	nhw, ohw := op.n*op.hw, op.o*op.hw
	for n := range op.n {
		for o := range op.o {
			s := nchw[n*ohw+o*op.hw : n*ohw+(o+1)*op.hw]
			d := b[o*nhw+n*op.hw : o*nhw+(n+1)*op.hw]
			if toBatch {
				copy(d, s)
			} else {
				copy(s, d)
			}
		}
	}
}

// newConvOp returns the op for x and w of dtype dt with the given stride
// and zero padding, plus a bias if bias is set; needDX says whether the
// gradient with respect to x is wanted. layer names the layer in String.
func newConvOp(cfg Config, dt tensor.Dtype, x, w tensor.Shape, stride, pad int, bias, needDX bool, layer string) (*convOp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g, err := newConvGeom(x, w, stride, pad)
	if err != nil {
		return nil, err
	}
	if err := checkDtype("convolution", dt); err != nil {
		return nil, err
	}
	arity := 2
	if bias {
		arity = 3
	}
	y := tensor.Shape{g.n, g.o, g.ho, g.wo}
	name := fmt.Sprintf("conv2d{%s: (%d,%d,%d,%d)→%d k%d s%d p%d bias %t}", layer, g.n, g.c, g.h, g.w, g.o, g.k, stride, pad, bias)
	return &convOp{
		base: newBase(name, arity, y), convGeom: g, bias: bias, needDX: needDX, dt: dt,
		team: cfg.Team, batchMaxHW: cfg.BatchedConvMaxHW, canShift: shiftedConv, bl32: &blas32, bl64: &blas64,
		y: newBuffer(dt, y...),
	}, nil
}

// Conv2d applies a k×k convolution of x (N, C, H, W) by w (O, C, k, k)
// with the given stride and zero padding on every side, plus b (1, O, 1,
// 1) when b is not nil: one op, whose output is (N, O, Ho, Wo) with Ho =
// ⌊(H + 2·pad − k)/stride⌋ + 1, likewise Wo. needDX says whether the
// gradient with respect to x is wanted (not for the graph's input);
// layer names the layer in the op's String.
func Conv2d(cfg Config, x, w, b *G.Node, stride, pad int, needDX bool, layer string) (*G.Node, error) {
	if w.Dtype() != x.Dtype() {
		return nil, buildErrorf("convolution of %v by %v values", x.Dtype(), w.Dtype())
	}
	op, err := newConvOp(cfg, x.Dtype(), x.Shape(), w.Shape(), stride, pad, b != nil, needDX, layer)
	if err != nil {
		return nil, err
	}
	if b != nil {
		if !b.Shape().Eq(tensor.Shape{1, op.o, 1, 1}) || b.Dtype() != op.dt {
			return nil, buildErrorf("convolution bias %v of %v, want (1, %d, 1, 1) of %v", b.Shape(), b.Dtype(), op.o, op.dt)
		}
		return G.ApplyOp(op, x, w, b)
	}
	return G.ApplyOp(op, x, w)
}

// DiffWRT: x (when needDX), w and the bias.
func (op *convOp) DiffWRT(inputs int) []bool {
	d := []bool{op.needDX, true, true}
	return d[:inputs]
}

// SymDiff returns the nodes of dx (nil unless needDX), dW and db. dW reads
// the columns kept by the forward pass (or recomputes them from x).
func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	x, w := inputs[0], inputs[1]
	ret := make(G.Nodes, len(inputs))
	var err error
	if op.needDX {
		if ret[0], err = G.ApplyOp(newConvGradXOp(op), w, grad); err != nil {
			return nil, err
		}
	}
	if ret[1], err = G.ApplyOp(newConvGradWOp(op), x, grad); err != nil {
		return nil, err
	}
	if op.bias {
		if ret[2], err = G.ApplyOp(newConvGradBOp(op), grad); err != nil {
			return nil, err
		}
	}
	return ret, nil
}

// Do computes the convolution into the op's output tensor.
func (op *convOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = convForward[float32](op, inputs, op.bl32)
	} else {
		err = convForward[float64](op, inputs, op.bl64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

// convColumns returns the columns of sample n, computed into the buffer
// of worker wk (x[n] itself for a 1×1 stride-1 convolution). The
// backward pass recomputes them rather than keeping the batch's from the
// forward pass: one sample's columns stay in the cache, while the batch's
// do not (keeping them was slower, OpenBLAS and pure Go;
// BenchmarkConvOp).
func convColumns[T float](op *convOp, x []T, n, wk int) []T {
	xn := x[n*op.chw : (n+1)*op.chw]
	if op.direct {
		return xn
	}
	size := op.ckk * op.hw
	col := op.cols.([]T)[wk*size : (wk+1)*size]
	im2col(&op.convGeom, xn, col, op.hw)
	return col
}

// ensureCols allocates the column buffers for the given workers.
func ensureCols[T float](op *convOp, workers int) {
	if !op.direct && (op.cols == nil || op.workers < workers) {
		op.cols = make([]T, workers*op.ckk*op.hw)
		op.workers = workers
	}
}

func convForward[T float](op *convOp, inputs []G.Value, bl *blasOps[T]) error {
	x, err := input[T](op, "x", inputs[0], op.n*op.chw)
	if err != nil {
		return err
	}
	w, err := input[T](op, "w", inputs[1], op.o*op.ckk)
	if err != nil {
		return err
	}
	var b []T
	if op.bias {
		if b, err = input[T](op, "bias", inputs[2], op.o); err != nil {
			return err
		}
	}
	y := data[T](op.y)
	if op.shifted() {
		convForwardShifted(op, any(x).([]float32), any(w).([]float32), any(b).([]float32), any(y).([]float32))
		return nil
	}
	if op.batched() {
		nhw := op.n * op.hw
		colB := batchBuf[T](&op.colB, op.ckk*nhw)
		batchColumns(op, x, colB)
		yB := batchBuf[T](&op.outB, op.o*nhw)
		beta := fillBias(yB, b, nhw)
		// yB (O × N·HW) = w (O × CKK) · colB (CKK × N·HW) + beta·yB
		teamGemm(op, bl, true, false, false, op.o, nhw, op.ckk, 1, w, op.ckk, colB, nhw, beta, yB, nhw)
		batchRows(op, y, yB, false)
		return nil
	}
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	ensureCols[T](op, workers)
	packed := op.packs(bl)
	var pa *gemm.PackedA
	if packed {
		var release func()
		pa, release = lendPacked(blas.NoTrans, op.o, op.ckk, any(w).([]float32), op.ckk)
		defer release()
	}
	ohw := op.o * op.hw
	op.team.For(workers, op.n, func(wk, n int) {
		col := convColumns(op, x, n, wk)
		yn := y[n*ohw : (n+1)*ohw]
		beta := fillBias(yn, b, op.hw)
		// y[n] (O × HW) = w (O × CKK) · col (CKK × HW) + beta·y[n]
		if packed {
			gemm.SgemmPacked(blas.NoTrans, op.o, op.hw, op.ckk, 1, pa, any(col).([]float32), op.hw, float32(beta), any(yn).([]float32), op.hw)
			return
		}
		bl.gemm(false, false, op.o, op.hw, op.ckk, 1, w, op.ckk, col, op.hw, beta, yn, op.hw)
	})
	return nil
}

// convForwardShifted is convForward's shifted path.
func convForwardShifted(op *convOp, x, w, b, y []float32) {
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	op.ensureXCols(workers)
	// w is packed once for all the samples' products.
	pa, release := lendPacked(blas.NoTrans, op.o, op.ckk, w, op.ckk)
	defer release()
	ohw := op.o * op.hw
	op.team.For(workers, op.n, func(wk, n int) {
		cols := op.xCols[wk]
		cols.SetBase(x[n*op.chw : (n+1)*op.chw])
		yn := y[n*ohw : (n+1)*ohw]
		beta := fillBias(yn, b, op.hw)
		// y[n] (O × HW) = w (O × CKK) · cols (CKK × HW) + beta·y[n]
		gemm.SgemmShiftedPacked(blas.NoTrans, op.o, op.hw, op.ckk, 1, pa, cols, beta, yn, op.hw)
	})
}

// fillBias sets row o of y (rows of hw elements) to b[o] for every o <
// len(b), and returns the beta that adds a product to it: 1, or 0 (y
// untouched) without a bias.
func fillBias[T float](y, b []T, hw int) (beta T) {
	if b == nil {
		return 0
	}
	for o, v := range b {
		row := y[o*hw : (o+1)*hw]
		if r, ok := any(row).([]float32); ok {
			simd.Fill(r, float32(v))
			continue
		}
		for i := range row {
			row[i] = v
		}
	}
	return 1
}

// packedPool lends the convolutions their weights packed for one pass
// (gemm.PackedA): a graph's ops run one after another, so a few buffers
// of the largest layer's size serve them all, where one per op would
// double the model's memory.
var packedPool = sync.Pool{New: func() any { return new(gemm.PackedA) }}

// lendPacked returns a PackedA from packedPool holding op(a) (m×k, lda)
// packed, and the function that gives it back once the pass is done.
func lendPacked(trans blas.Transpose, m, k int, a []float32, lda int) (*gemm.PackedA, func()) {
	pa := packedPool.Get().(*gemm.PackedA)
	pa.Pack(trans, m, k, a, lda)
	return pa, func() { packedPool.Put(pa) }
}

// packs reports whether the per-sample products with bl may take the
// weights packed once per pass (gemm.PackedA): bl is the build's float32
// product and that is trainer/internal/gemm, whose packed products give
// the same bits.
func (op *convOp) packs(bl any) bool {
	return op.canShift && bl == any(op.bl32) && op.bl32 == &blas32
}

// teamGemm computes c = alpha·op(a)·op(b) + beta·c (m×n) as bl.gemm
// does, cut into pieces of rows of c (rows) or of columns run by the
// team's workers: a batched convolution's one product per pass,
// which bl.gemm runs on one core (gemm.SetThreads(1)). Only
// trainer/internal/gemm's products are cut: their bits do not depend on
// the piece (each element's sum has the same terms in the same order),
// while OpenBLAS rounds by shape and would make the results depend on
// the number of workers.
func teamGemm[T float](op *convOp, bl *blasOps[T], rows, tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	unit, units := 16, (n+15)/16 // whole panels of columns
	if rows {
		unit, units = 12, (m+11)/12 // whole 12-row tiles
	}
	pieces := 1
	if op.canShift {
		pieces = op.team.Workers(units, m*n*k)
	}
	if pieces <= 1 {
		bl.gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	op.team.For(pieces, pieces, func(_, i int) {
		lo, hi := i*units/pieces*unit, (i+1)*units/pieces*unit
		if rows {
			hi = min(hi, m)
			var sa []T
			if tA {
				sa = a[lo:]
			} else {
				sa = a[lo*lda:]
			}
			bl.gemm(tA, tB, hi-lo, n, k, alpha, sa, lda, b, ldb, beta, c[lo*ldc:], ldc)
			return
		}
		hi = min(hi, n)
		var sb []T
		if tB {
			sb = b[lo*ldb:]
		} else {
			sb = b[lo:]
		}
		bl.gemm(tA, tB, m, hi-lo, k, alpha, a, lda, sb, ldb, beta, c[lo:], ldc)
	})
}
