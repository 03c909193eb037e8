package model

import (
	"fmt"

	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the fused convolution: a gorgonia op computing
//
//	y[n] = W · im2col(x[n]) + b      (O × Ho·Wo, already NCHW)
//
// with one matrix product per sample and no transposes, and its three
// gradient ops (dW, db, dx). Every op owns its output and scratch
// buffers, reused by every run of the graph (shapes are static; see
// op_base.go), so a training step allocates next to nothing here. The batch is split over goroutines when that pays
// (workersFor, parallelFor). Stride-1 "same" convolutions in float32 with
// trainer/internal/gemm (the default build) never write their columns out: the
// products pack them straight from x (gemm.SgemmShifted, forward and dW)
// and dx is added straight from the product's tiles
// (gemm.SgemmScatter); see shifted and scattered.
//
// The backward ops read nothing the forward pass left behind: the
// convolution recomputes its columns from x.
//
// Results do not depend on how the work is split over goroutines: every
// output element is computed by one goroutine in a fixed order
// (TestConvPoolDeterministic), so training is reproducible from the seed.

// convGeom is the static geometry of a convolution.
type convGeom struct {
	n, c, h, w    int // input (N, C, H, W)
	o, k          int // output channels, kernel size (k×k)
	stride, pad   int
	ho, wo        int   // output height and width
	owLo, owHi    []int // per kernel column kj: the outputs ow in [owLo, owHi) read inside the input row
	ohLo, ohHi    []int // likewise per kernel row ki for oh and the input columns
	ckk, hw, chw  int   // C·k·k (rows of a column matrix), Ho·Wo, C·H·W
	direct        bool  // 1×1 kernel, stride 1, no padding: the columns are x[n] itself
	same          bool  // stride 1 and Wo = W: a column row is the plane shifted by a constant
	perSampleMACs int   // multiply-adds of one sample's forward product
}

func newConvGeom(xs, ws tensor.Shape, stride, pad int) (convGeom, error) {
	if len(xs) != 4 || len(ws) != 4 || ws[1] != xs[1] || ws[2] != ws[3] || ws[2] < 1 || stride < 1 || pad < 0 {
		return convGeom{}, shapeErrorf("convolution of %v with weight %v, stride %d, pad %d", xs, ws, stride, pad)
	}
	g := convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], k: ws[2], stride: stride, pad: pad}
	g.ho = (g.h+2*pad-g.k)/stride + 1
	g.wo = (g.w+2*pad-g.k)/stride + 1
	if g.h+2*pad < g.k || g.w+2*pad < g.k || g.ho < 1 || g.wo < 1 {
		return convGeom{}, shapeErrorf("convolution kernel %d larger than the padded input %v (pad %d)", g.k, xs, pad)
	}
	g.owLo, g.owHi = validRange(g.k, g.w, g.wo, stride, pad)
	g.ohLo, g.ohHi = validRange(g.k, g.h, g.ho, stride, pad)
	g.ckk, g.hw, g.chw = g.c*g.k*g.k, g.ho*g.wo, g.c*g.h*g.w
	g.direct = g.k == 1 && stride == 1 && pad == 0
	g.same = stride == 1 && g.wo == g.w
	g.perSampleMACs = g.o * g.ckk * g.hw
	return g, nil
}

// validRange returns, for every kernel offset j in [0, k), the outputs
// [lo, hi) whose input index i = out·stride − pad + j lies in [0, size).
func validRange(k, size, outs, stride, pad int) (lo, hi []int) {
	lo, hi = make([]int, k), make([]int, k)
	for j := range k {
		l := 0
		if pad > j {
			l = (pad - j + stride - 1) / stride
		}
		h := 0
		if last := size - 1 + pad - j; last >= 0 {
			h = last/stride + 1
		}
		l = min(l, outs)
		h = max(min(h, outs), l)
		lo[j], hi[j] = l, h
	}
	return lo, hi
}

// im2col writes the columns of one sample x (C, H, W) into col (C·k·k ×
// Ho·Wo): col[(c·k + ki)·k + kj][oh·Wo + ow] = x[c][oh·s − p + ki][ow·s −
// p + kj], zero outside the input.
func im2col[T float](g *convGeom, x, col []T) {
	k, s, p, hw, wo := g.k, g.stride, g.pad, g.hw, g.wo
	r := 0
	for c := range g.c {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range k {
			ohLo, ohHi := g.ohLo[ki], g.ohHi[ki]
			for kj := range k {
				row := col[r*hw : (r+1)*hw]
				r++
				if g.same {
					// One copy of the whole shifted plane, then zeros over
					// the columns that wrapped around from the next row.
					a, e, off := g.sameBlock(ki, kj)
					if a >= e {
						clear(row)
						continue
					}
					clear(row[:a])
					clear(row[e:])
					copy(row[a:e], xc[a+off:e+off])
					for oh := ohLo; oh < ohHi-1; oh++ {
						zeroShort(row[oh*wo+g.owHi[kj] : (oh+1)*wo+g.owLo[kj]])
					}
					continue
				}
				clear(row[:ohLo*wo])
				clear(row[ohHi*wo:])
				lo, hi := g.owLo[kj], g.owHi[kj]
				for oh := ohLo; oh < ohHi; oh++ {
					ih := oh*s - p + ki
					src := xc[ih*g.w : (ih+1)*g.w]
					dst := row[oh*wo : (oh+1)*wo]
					zeroShort(dst[:lo])
					zeroShort(dst[hi:])
					if s == 1 {
						copy(dst[lo:hi], src[lo-p+kj:])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow] = src[ow*s-p+kj]
					}
				}
			}
		}
	}
}

// zeroShort zeroes a few elements (the padding of one output row) with
// plain stores: clear would call memclr, whose call costs more than the
// 2–4 stores at every row of every column row.
func zeroShort[T float](s []T) {
	for j := 0; j < len(s); j++ {
		s[j] = 0
	}
}

// col2im adds the columns col (C·k·k × Ho·Wo) of one sample into dx (C,
// H, W): the adjoint of im2col. It may zero the entries of col that
// belong to the padding (col is scratch).
func col2im[T float](g *convGeom, col, dx []T, axpy func(n int, alpha T, x []T, incX int, y []T, incY int)) {
	k, s, p, hw, wo := g.k, g.stride, g.pad, g.hw, g.wo
	r := 0
	for c := range g.c {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range k {
			ohLo, ohHi := g.ohLo[ki], g.ohHi[ki]
			for kj := range k {
				row := col[r*hw : (r+1)*hw]
				r++
				lo, hi := g.owLo[kj], g.owHi[kj]
				if g.same {
					// Drop the padding columns' gradients, then one add of
					// the whole shifted plane.
					a, e, off := g.sameBlock(ki, kj)
					if a >= e {
						continue
					}
					for oh := ohLo; oh < ohHi-1; oh++ {
						zeroShort(row[oh*wo+hi : (oh+1)*wo+lo])
					}
					addTo(xc[a+off:e+off], row[a:e], axpy)
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					ih := oh*s - p + ki
					dst := xc[ih*g.w : (ih+1)*g.w]
					src := row[oh*wo : (oh+1)*wo]
					if s == 1 {
						addTo(dst[lo-p+kj:lo-p+kj+hi-lo], src[lo:hi], axpy)
						continue
					}
					for ow := lo; ow < hi; ow++ {
						dst[ow*s-p+kj] += src[ow]
					}
				}
			}
		}
	}
}

// addTo sets dst += src: the AVX2 kernel for float32, axpy otherwise
// (the same sums: each element adds one value).
func addTo[T float](dst, src []T, axpy func(n int, alpha T, x []T, incX int, y []T, incY int)) {
	if d, ok := any(dst).([]float32); ok {
		simd.Add(d, any(src).([]float32))
		return
	}
	axpy(len(src), 1, src, 1, dst, 1)
}

// sameBlock returns, for a "same" convolution (stride 1, Wo = W), the
// range [a, e) of a column row (c, ki, kj) whose entries lie inside the
// input, rows wrapped, and the offset from a column index to its input
// index within the channel's plane (constant, as Wo = W).
func (g *convGeom) sameBlock(ki, kj int) (a, e, off int) {
	ohLo, ohHi, lo, hi := g.ohLo[ki], g.ohHi[ki], g.owLo[kj], g.owHi[kj]
	if ohLo >= ohHi || lo >= hi {
		return 0, 0, 0
	}
	return ohLo*g.wo + lo, (ohHi-1)*g.wo + hi, (ki-g.pad)*g.w + kj - g.pad
}

// convOp is the forward convolution: inputs x (N, C, H, W), w (O, C, k,
// k) and, with bias, b (1, O, 1, 1); output (N, O, Ho, Wo).
type convOp struct {
	base
	convGeom
	bias   bool
	needDX bool         // differentiate with respect to x (false for the graph's input)
	dt     tensor.Dtype // tensor.Float32 or tensor.Float64

	y       *tensor.Dense // the output
	cols    any           // []float32 or []float64: one sample's columns per worker
	workers int           // worker buffers in cols

	dcol  any // per worker: one sample's column gradient
	dcolN int // worker buffers in dcol

	// The batched path (see batched): the batch's columns (CKK × N·HW),
	// and an (O × N·HW) buffer for the output or dy; allocated on first use.
	colB, outB any

	sumsB  any // the bias gradient's per-sample sums (N·O)
	dwHalf any // the weight gradient of the second half of the batch (O·CKK)

	// xCols holds per worker the columns of x[n] as a gemm.Shifted
	// matrix: the forward product's and dW's on the shifted path (see
	// shifted). dxCols holds per worker the columns of dx[n], rows by
	// kernel position (gemm.SameConvColumnsByShift), and wPerm the
	// weights as CKK × O with rows in that order: dx's on the scattered
	// path (see scattered).
	xCols, dxCols []*gemm.Shifted
	wPerm         []float32
}

// shiftedConv says whether the float32 ops take the shifted path where
// the geometry allows: true when the build's BLAS is trainer/internal/gemm (not
// OpenBLAS, which multiplies stored matrices only).
var shiftedConv bool

// shifted reports whether the op computes its forward product and dW
// with gemm.SgemmShifted, which packs the columns of a stride-1 "same"
// convolution (k = 2·pad + 1 > 1) straight from the input instead of
// writing them out with im2col and reading them back: one pass over the
// columns instead of three (im2col's writes, packing's reads and
// writes). The results are bit-identical to im2col's (the same packed
// panels; TestShiftedConvMatchesIm2col). Measured on FashionMNIST-CNN,
// batch 16 (alternated runs, medians): one thread 3,043 → 3,441, two
// threads 3,933 → 4,158 samples/s (forward and dW together).
//
// dx could be the same kind of product: the "same" convolution of dy
// with the flipped weights (C × O·k·k), no column gradient and no
// col2im. It measured no faster on FashionMNIST-CNN's conv2 (twice the
// columns to pack: O·k·k = 800 rows against C·k·k = 400, and a product
// of only C = 16 rows) and 5× slower with one input channel; dx instead
// adds the column gradient's tiles straight into dx (see scattered).
func (op *convOp) shifted() bool {
	return shiftedConv && op.dt == tensor.Float32 && op.stride == 1 && op.k > 1 && op.k == 2*op.pad+1 && !op.batched()
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
	return op.shifted() && op.c >= scatterMinChannels
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

// batchedMaxHW is the largest output plane (Ho·Wo) for which the op puts
// the whole batch's columns side by side and runs one product per pass
// instead of one per sample. On small planes (a ResNet's last stages: 512
// channels on 2×2 to 4×4) a per-sample product packs the whole weight
// matrix for a handful of columns and rewrites all of dW every sample.
// Measured (batch 10, one thread, per-sample → batched): FashionMNISTResNet
// 60 → 156–162 samples/s; at 8×8 (Cifar10CNN's last stage) batching was
// 5 % slower, hence 7×7.
var batchedMaxHW = 49

// batched reports whether the op takes the batched path.
func (op *convOp) batched() bool { return op.n > 1 && op.hw <= batchedMaxHW }

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
	ensureCols[T](op, 1)
	nhw := op.n * op.hw
	for n := range op.n {
		col := convColumns(op, x, n, 0)
		for r := range op.ckk {
			copy(colB[r*nhw+n*op.hw:r*nhw+(n+1)*op.hw], col[r*op.hw:(r+1)*op.hw])
		}
	}
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
func newConvOp(dt tensor.Dtype, x, w tensor.Shape, stride, pad int, bias, needDX bool, layer string) (*convOp, error) {
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
	return &convOp{base: newBase(name, arity, y), convGeom: g, bias: bias, needDX: needDX, dt: dt, y: newBuffer(dt, y...)}, nil
}

// conv2d applies a fused convolution op to x and w (and b when not nil).
func conv2d(x, w, b *node, stride, pad int, needDX bool, layer string) (*node, error) {
	if w.Dtype() != x.Dtype() {
		return nil, shapeErrorf("convolution of %v by %v values", x.Dtype(), w.Dtype())
	}
	op, err := newConvOp(x.Dtype(), x.Shape(), w.Shape(), stride, pad, b != nil, needDX, layer)
	if err != nil {
		return nil, err
	}
	if b != nil {
		if !b.Shape().Eq(tensor.Shape{1, op.o, 1, 1}) || b.Dtype() != op.dt {
			return nil, shapeErrorf("convolution bias %v of %v, want (1, %d, 1, 1) of %v", b.Shape(), b.Dtype(), op.o, op.dt)
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
func (op *convOp) SymDiff(inputs G.Nodes, output, grad *node) (G.Nodes, error) {
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
		err = convForward[float32](op, inputs, &blas32)
	} else {
		err = convForward[float64](op, inputs, &blas64)
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
// do not (keeping them measured 10–40 % slower, OpenBLAS and pure Go).
func convColumns[T float](op *convOp, x []T, n, wk int) []T {
	xn := x[n*op.chw : (n+1)*op.chw]
	if op.direct {
		return xn
	}
	size := op.ckk * op.hw
	col := op.cols.([]T)[wk*size : (wk+1)*size]
	im2col(&op.convGeom, xn, col)
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
		bl.gemm(false, false, op.o, nhw, op.ckk, 1, w, op.ckk, colB, nhw, beta, yB, nhw)
		batchRows(op, y, yB, false)
		return nil
	}
	workers := workersFor(op.n, op.n*op.perSampleMACs)
	ensureCols[T](op, workers)
	ohw := op.o * op.hw
	parallelFor(workers, op.n, func(wk, n int) {
		col := convColumns(op, x, n, wk)
		yn := y[n*ohw : (n+1)*ohw]
		beta := fillBias(yn, b, op.hw)
		// y[n] (O × HW) = w (O × CKK) · col (CKK × HW) + beta·y[n]
		bl.gemm(false, false, op.o, op.hw, op.ckk, 1, w, op.ckk, col, op.hw, beta, yn, op.hw)
	})
	return nil
}

// convForwardShifted is convForward's shifted path.
func convForwardShifted(op *convOp, x, w, b, y []float32) {
	workers := workersFor(op.n, op.n*op.perSampleMACs)
	op.ensureXCols(workers)
	ohw := op.o * op.hw
	parallelFor(workers, op.n, func(wk, n int) {
		cols := op.xCols[wk]
		cols.SetBase(x[n*op.chw : (n+1)*op.chw])
		yn := y[n*ohw : (n+1)*ohw]
		beta := fillBias(yn, b, op.hw)
		// y[n] (O × HW) = w (O × CKK) · cols (CKK × HW) + beta·y[n]
		gemm.SgemmShifted(blas.NoTrans, blas.NoTrans, op.o, op.hw, op.ckk, 1, w, op.ckk, cols, beta, yn, op.hw)
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

// convGradWOp computes dW (O, C, k, k) = Σ_n dy[n] · col[n]ᵀ from x and dy.
type convGradWOp struct {
	base
	conv *convOp
	dw   *tensor.Dense // the output
}

// newConvGradWOp returns the weight gradient op of conv.
func newConvGradWOp(conv *convOp) *convGradWOp {
	s := tensor.Shape{conv.o, conv.c, conv.k, conv.k}
	return &convGradWOp{base: newBase("conv2d.dW"+conv.name[len("conv2d"):], 2, s), conv: conv, dw: newBuffer(conv.dt, s...)}
}

// Do computes dW into the op's buffer.
func (op *convGradWOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	var err error
	if op.conv.dt == tensor.Float32 {
		err = convGradW[float32](op, inputs, &blas32)
	} else {
		err = convGradW[float64](op, inputs, &blas64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dw, op.shape), nil
}

func convGradW[T float](g *convGradWOp, inputs []G.Value, bl *blasOps[T]) error {
	op := g.conv
	x, err := input[T](g, "x", inputs[0], op.n*op.chw)
	if err != nil {
		return err
	}
	dy, err := input[T](g, "dy", inputs[1], op.n*op.o*op.hw)
	if err != nil {
		return err
	}
	// The samples are cut into two fixed halves, each summed in order into
	// its own dW (the second half into op.dwHalf), then dW = first + second:
	// a worker takes one half (the samples it owns in the ops around this
	// one), or both at GOMAXPROCS 1. The products' shapes and the order of
	// every sum, and so the results, do not depend on the number of
	// workers or on their timing (reproducible training: with OpenBLAS a
	// product's rounding depends on its shape), and each sample's columns
	// are computed once. (Splitting dW's rows instead made both workers
	// recompute every sample's columns: im2col took twice the CPU time on
	// two cores.)
	dw := data[T](g.dw)
	if op.batched() {
		nhw := op.n * op.hw
		colB := batchBuf[T](&op.colB, op.ckk*nhw)
		batchColumns(op, x, colB)
		dyB := batchBuf[T](&op.outB, op.o*nhw)
		batchRows(op, dy, dyB, true)
		// dW (O × CKK) = dyB (O × N·HW) · colB (CKK × N·HW)ᵀ
		bl.gemm(false, true, op.o, op.ckk, nhw, 1, dyB, nhw, colB, nhw, 0, dw, op.ckk)
		return nil
	}
	halves := min(op.n, 2)
	workers := min(workersFor(op.n, op.n*op.perSampleMACs), halves)
	shifted := op.shifted()
	if shifted {
		op.ensureXCols(workers)
	} else {
		ensureCols[T](op, workers)
	}
	second := batchBuf[T](&op.dwHalf, op.o*op.ckk)
	ohw := op.o * op.hw
	parallelFor(workers, halves, func(wk, half int) {
		acc := dw
		if half == 1 {
			acc = second
		}
		clear(acc)
		for n := half * op.n / halves; n < (half+1)*op.n/halves; n++ {
			if shifted {
				cols := op.xCols[wk]
				cols.SetBase(any(x[n*op.chw : (n+1)*op.chw]).([]float32))
				// dW (O × CKK) += dy[n] (O × HW) · colsᵀ (HW × CKK)
				gemm.SgemmShifted(blas.NoTrans, blas.Trans, op.o, op.ckk, op.hw, 1, any(dy[n*ohw:(n+1)*ohw]).([]float32), op.hw, cols, 1, any(acc).([]float32), op.ckk)
				continue
			}
			col := convColumns(op, x, n, wk)
			// dW (O × CKK) += dy[n] (O × HW) · col (CKK × HW)ᵀ
			bl.gemm(false, true, op.o, op.ckk, op.hw, 1, dy[n*ohw:(n+1)*ohw], op.hw, col, op.hw, 1, acc, op.ckk)
		}
	})
	if halves == 2 {
		addTo(dw, second, bl.axpy)
	}
	return nil
}

// convGradBOp computes db (1, O, 1, 1) = Σ over n, h, w of dy.
type convGradBOp struct {
	base
	conv *convOp
	db   *tensor.Dense // the output
}

// newConvGradBOp returns the bias gradient op of conv.
func newConvGradBOp(conv *convOp) *convGradBOp {
	s := tensor.Shape{1, conv.o, 1, 1}
	return &convGradBOp{base: newBase("conv2d.db"+conv.name[len("conv2d"):], 1, s), conv: conv, db: newBuffer(conv.dt, s...)}
}

// Do sums dy into the op's buffer.
func (op *convGradBOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	c := op.conv
	var err error
	if c.dt == tensor.Float32 {
		err = convSumChannels(op, op.db.Float32s(), inputs[0], c.n, c.o, c.hw, &c.sumsB)
	} else {
		err = convSumChannels(op, op.db.Float64s(), inputs[0], c.n, c.o, c.hw, &c.sumsB)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.db, op.shape), nil
}

// convSumChannels sets dst[c] to the sum of channel c of v (N, C, HW),
// the input dy of op.
func convSumChannels[T float](op fmt.Stringer, dst []T, v G.Value, n, c, hw int, scratch *any) error {
	d, err := input[T](op, "dy", v, n*c*hw)
	if err != nil {
		return err
	}
	// Each plane's sum on the core that split the batch before, then the
	// channels' sums over the samples in order: the same sums on any
	// number of cores.
	part := batchBuf[T](scratch, n*c)
	parallelFor(elemWorkers(n, len(d)), n, func(_, i int) {
		for ch := range c {
			plane := d[(i*c+ch)*hw : (i*c+ch+1)*hw]
			if p32, ok := any(plane).([]float32); ok {
				part[i*c+ch] = T(simd.Sum(p32))
				continue
			}
			var s T
			for _, x := range plane {
				s += x
			}
			part[i*c+ch] = s
		}
	})
	for ch := range c {
		var acc T
		for i := range n {
			acc += part[i*c+ch]
		}
		dst[ch] = acc
	}
	return nil
}

// convGradXOp computes dx (N, C, H, W) = col2im(wᵀ · dy[n]) from w and dy.
type convGradXOp struct {
	base
	conv *convOp
	dx   *tensor.Dense // the output
}

// newConvGradXOp returns the input gradient op of conv.
func newConvGradXOp(conv *convOp) *convGradXOp {
	s := tensor.Shape{conv.n, conv.c, conv.h, conv.w}
	return &convGradXOp{base: newBase("conv2d.dx"+conv.name[len("conv2d"):], 2, s), conv: conv, dx: newBuffer(conv.dt, s...)}
}

// Do computes dx into the op's buffer.
func (op *convGradXOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	var err error
	if op.conv.dt == tensor.Float32 {
		err = convGradX[float32](op, inputs, &blas32)
	} else {
		err = convGradX[float64](op, inputs, &blas64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dx, op.shape), nil
}

func convGradX[T float](g *convGradXOp, inputs []G.Value, bl *blasOps[T]) error {
	op := g.conv
	w, err := input[T](g, "w", inputs[0], op.o*op.ckk)
	if err != nil {
		return err
	}
	dy, err := input[T](g, "dy", inputs[1], op.n*op.o*op.hw)
	if err != nil {
		return err
	}
	dx := data[T](g.dx)
	if op.scattered() {
		convGradXScattered(op, any(w).([]float32), any(dy).([]float32), any(dx).([]float32))
		return nil
	}
	if op.batched() {
		convGradXBatched(op, w, dy, dx, bl)
		return nil
	}
	workers := workersFor(op.n, op.n*op.perSampleMACs)
	size := op.ckk * op.hw
	if !op.direct && (op.dcol == nil || op.dcolN < workers) {
		op.dcol = make([]T, workers*size)
		op.dcolN = workers
	}
	ohw := op.o * op.hw
	parallelFor(workers, op.n, func(wk, n int) {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		dcol := dxn // a 1×1 stride-1 convolution's columns are x itself
		if !op.direct {
			dcol = op.dcol.([]T)[wk*size : (wk+1)*size]
		}
		// dcol (CKK × HW) = wᵀ (CKK × O) · dy[n] (O × HW)
		bl.gemm(true, false, op.ckk, op.hw, op.o, 1, w, op.ckk, dy[n*ohw:(n+1)*ohw], op.hw, 0, dcol, op.hw)
		if !op.direct {
			clear(dxn)
			col2im(&op.convGeom, dcol, dxn, bl.axpy)
		}
	})
	return nil
}

// convGradXScattered is convGradX's scattered path.
func convGradXScattered(op *convOp, w, dy, dx []float32) {
	kk := op.k * op.k
	if len(op.wPerm) != op.ckk*op.o {
		op.wPerm = make([]float32, op.ckk*op.o)
	}
	// wPerm[(p·C + c)·O + o] = w[o][c][p], written in order (w, 4·C·k·k
	// bytes, stays in the cache for the strided reads).
	i := 0
	for p := range kk {
		for c := range op.c {
			for o := range op.o {
				op.wPerm[i] = w[(o*op.c+c)*kk+p]
				i++
			}
		}
	}
	workers := workersFor(op.n, op.n*op.perSampleMACs)
	for len(op.dxCols) < workers {
		s, err := gemm.SameConvColumnsByShift(op.c, op.h, op.w, op.k)
		if err != nil {
			panic(op.errorf("%v", err)) // scattered() admitted the geometry
		}
		op.dxCols = append(op.dxCols, s)
	}
	ohw := op.o * op.hw
	parallelFor(workers, op.n, func(wk, n int) {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		clear(dxn)
		cols := op.dxCols[wk]
		cols.SetBase(dxn)
		// dx[n] = col2im(wPerm (CKK × O) · dy[n] (O × HW))
		gemm.SgemmScatter(blas.NoTrans, blas.NoTrans, op.ckk, op.hw, op.o, 1, op.wPerm, op.o, dy[n*ohw:(n+1)*ohw], op.hw, cols)
	})
}

// convGradXBatched is convGradX's batched path: one product for the
// batch's column gradients (into colB), then col2im per sample.
func convGradXBatched[T float](op *convOp, w, dy, dx []T, bl *blasOps[T]) {
	nhw, size := op.n*op.hw, op.ckk*op.hw
	dyB := batchBuf[T](&op.outB, op.o*nhw)
	batchRows(op, dy, dyB, true)
	dcolB := batchBuf[T](&op.colB, op.ckk*nhw)
	// dcolB (CKK × N·HW) = wᵀ (CKK × O) · dyB (O × N·HW)
	bl.gemm(true, false, op.ckk, nhw, op.o, 1, w, op.ckk, dyB, nhw, 0, dcolB, nhw)
	if !op.direct && (op.dcol == nil || op.dcolN < 1) {
		op.dcol = make([]T, size)
		op.dcolN = 1
	}
	for n := range op.n {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		dcol := dxn // a 1×1 stride-1 convolution's columns are x itself
		if !op.direct {
			dcol = op.dcol.([]T)[:size]
		}
		for r := range op.ckk {
			copy(dcol[r*op.hw:(r+1)*op.hw], dcolB[r*nhw+n*op.hw:r*nhw+(n+1)*op.hw])
		}
		if !op.direct {
			clear(dxn)
			col2im(&op.convGeom, dcol, dxn, bl.axpy)
		}
	}
}

// gemmFunc is a row-major matrix product c = alpha·op(a)·op(b) + beta·c
// (op transposes when tA or tB is set), m×n result, inner dimension k.
type gemmFunc[T float] func(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// blasOps are the matrix products of one element type.
type blasOps[T float] struct {
	gemm gemmFunc[T]
	axpy func(n int, alpha T, x []T, incX int, y []T, incY int) // y += alpha·x, gonum's assembly
}

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

var (
	blas32 = blasOps[float32]{
		gemm: func(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
			gemm32(blasTrans(tA), blasTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
	}
	blas64 = blasOps[float64]{
		gemm: func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
			gemm64(blasTrans(tA), blasTrans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		},
	}
)

func init() {
	// The ops call gemm32 and gemm64, unless the build's BLAS is gonum's:
	// its Sgemm and Dgemm split any product of four or more 64×64 blocks
	// over goroutines, one per block, even at GOMAXPROCS 1, which on the
	// ops' per-sample products costs 1.3–2× the CPU time of the same
	// kernels run serially, and 900–7,000 allocations per layer and step
	// (BenchmarkConvOp, gemm=gonum). With gonum the ops run its assembly kernels
	// (Saxpy, Sdot) on one goroutine and split the batch over the cores
	// themselves (workersFor).
	_, shiftedConv = blasImpl.(gemm.Implementation)
	impl := gonum.Implementation{}
	blas32.axpy, blas64.axpy = impl.Saxpy, impl.Daxpy
	if _, ok := blasImpl.(gonum.Implementation); ok {
		blas32.gemm = serialGemm(impl.Saxpy, impl.Sdot)
		blas64.gemm = serialGemm(impl.Daxpy, impl.Ddot)
	}
}

// serialGemm returns a single-threaded product built from the level-1
// routines axpy and dot (gonum's assembly kernels). The loops keep a row
// of c in the first-level cache while a row of the other operand streams
// by (blocking for the second-level cache measured no faster). Like
// gonum's kernels it skips zero elements of a, so 0·Inf and 0·NaN in b
// contribute nothing. Transposing both operands is not supported (the ops
// never do).
func serialGemm[T float](axpy func(n int, alpha T, x []T, incX int, y []T, incY int), dot func(n int, x []T, incX int, y []T, incY int) T) gemmFunc[T] {
	return func(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			switch beta {
			case 0:
				clear(row)
			case 1:
			default:
				for j := range row {
					row[j] *= beta
				}
			}
		}
		if k == 0 || alpha == 0 {
			return
		}
		switch {
		case !tA && !tB: // c[i,:] += Σ_l alpha·a[i,l]·b[l,:]
			for i := range m {
				row := c[i*ldc : i*ldc+n]
				for l, v := range a[i*lda : i*lda+k] {
					if v != 0 {
						axpy(n, alpha*v, b[l*ldb:l*ldb+n], 1, row, 1)
					}
				}
			}
		case tA && !tB: // c[i,:] += Σ_l alpha·a[l,i]·b[l,:]
			for i := range m {
				row := c[i*ldc : i*ldc+n]
				for l := range k {
					if v := a[l*lda+i]; v != 0 {
						axpy(n, alpha*v, b[l*ldb:l*ldb+n], 1, row, 1)
					}
				}
			}
		case !tA && tB: // c[i,j] += alpha·a[i,:]·b[j,:]
			for i := range m {
				ar := a[i*lda : i*lda+k]
				row := c[i*ldc : i*ldc+n]
				for j := range row {
					row[j] += alpha * dot(k, ar, 1, b[j*ldb:j*ldb+k], 1)
				}
			}
		default:
			panic("model: serialGemm: both operands transposed")
		}
	}
}
