package op

import (
	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the gradient ops of the fused convolution (conv.go):
// dW and dx by matrix products per sample (or per batch, or straight from
// x and into dx on the shifted and scattered paths), db by sums.

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
		err = convGradW[float32](op, inputs, op.conv.bl32)
	} else {
		err = convGradW[float64](op, inputs, op.conv.bl64)
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
		teamGemm(op, bl, false, false, true, op.o, op.ckk, nhw, 1, dyB, nhw, colB, nhw, 0, dw, op.ckk)
		return nil
	}
	halves := min(op.n, 2)
	workers := min(op.team.Workers(op.n, op.n*op.perSampleMACs), halves)
	second := batchBuf[T](&op.dwHalf, op.o*op.ckk)
	if op.shifted() {
		convGradWShifted(op, any(x).([]float32), any(dy).([]float32), any(dw).([]float32), any(second).([]float32), halves, workers)
		if halves == 2 {
			addTo(dw, second, bl.axpy)
		}
		return nil
	}
	ensureCols[T](op, workers)
	ohw := op.o * op.hw
	op.team.For(workers, halves, func(wk, half int) {
		acc := dw
		if half == 1 {
			acc = second
		}
		// The half's first product writes acc (beta 0: no pass to clear it).
		first := half * op.n / halves
		for n := first; n < (half+1)*op.n/halves; n++ {
			var beta T = 1
			if n == first {
				beta = 0
			}
			col := convColumns(op, x, n, wk)
			// dW (O × CKK) = dy[n] (O × HW) · col (CKK × HW)ᵀ + beta·dW
			bl.gemm(false, true, op.o, op.ckk, op.hw, 1, dy[n*ohw:(n+1)*ohw], op.hw, col, op.hw, beta, acc, op.ckk)
		}
	})
	if halves == 2 {
		addTo(dw, second, bl.axpy)
	}
	return nil
}

// dwBlockBytes bounds the block of dW that convGradWShifted updates with
// every sample of a half before it moves on to the next block: the block
// stays in L2 between the samples' products, where a product over all of
// dW per sample (up to 2.4 MiB on a ResNet's 8×8 stage) read and wrote it
// from L3 or memory every sample (BenchmarkConvPass, pass=dw).
const dwBlockBytes = 256 << 10

// convGradWShifted is convGradW's shifted path: each worker sums the
// samples of its half (acc: dw for the first, second for the other)
// block of columns of dW by block of columns. Every element of dW gets
// the sums of the per-sample products over all of dW, in the same order
// (gemm.SgemmShiftedPackedAt), so the bits do not change; dy[n] is packed
// once per sample for all the blocks.
func convGradWShifted(op *convOp, x, dy, dw, second []float32, halves, workers int) {
	op.ensureXCols(workers)
	nb := max(gemm.PanelWidth, dwBlockBytes/4/op.o/gemm.PanelWidth*gemm.PanelWidth)
	ohw := op.o * op.hw
	op.team.For(workers, halves, func(wk, half int) {
		acc := dw
		if half == 1 {
			acc = second
		}
		first, end := half*op.n/halves, (half+1)*op.n/halves
		cols := op.xCols[wk]
		if nb >= op.ckk {
			// dW in one block: each product packs dy[n] block by block
			// just before its tiles (packing all of a half's dy first
			// was slower on a ResNet's first stage).
			for n := first; n < end; n++ {
				var beta float32 = 1
				if n == first {
					beta = 0
				}
				cols.SetBase(x[n*op.chw : (n+1)*op.chw])
				// dW (O × CKK) = dy[n] (O × HW) · colsᵀ (HW × CKK) + beta·dW
				gemm.SgemmShifted(blas.NoTrans, blas.Trans, op.o, op.ckk, op.hw, 1, dy[n*ohw:(n+1)*ohw], op.hw, cols, beta, acc, op.ckk)
			}
			return
		}
		// dy[n] packed for every block, in buffers lent by packedPool.
		pas := op.dwPacked[half][:0]
		for n := first; n < end; n++ {
			pa := packedPool.Get().(*gemm.PackedA)
			pa.Pack(blas.NoTrans, op.o, op.hw, dy[n*ohw:(n+1)*ohw], op.hw)
			pas = append(pas, pa)
		}
		defer func() {
			for _, pa := range pas {
				packedPool.Put(pa)
			}
			clear(pas)
			op.dwPacked[half] = pas[:0]
		}()
		for j0 := 0; j0 < op.ckk; j0 += nb {
			w := min(nb, op.ckk-j0)
			for n := first; n < end; n++ {
				// The half's first product writes acc (beta 0: no pass to clear it).
				var beta float32 = 1
				if n == first {
					beta = 0
				}
				cols.SetBase(x[n*op.chw : (n+1)*op.chw])
				// dW[:, j0:j0+w] (O × w) = dy[n] (O × HW) · colsᵀ[:, j0:j0+w] (HW × w) + beta·dW[:, j0:j0+w]
				gemm.SgemmShiftedPackedAt(blas.Trans, op.o, w, op.hw, 1, pas[n-first], cols, j0, beta, acc[j0:], op.ckk)
			}
		}
	})
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
		err = convSumChannels(op, op.db.Float32s(), inputs[0])
	} else {
		err = convSumChannels(op, op.db.Float64s(), inputs[0])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.db, op.shape), nil
}

// convSumChannels sets dst[c] to the sum of channel c of v (N, C, HW),
// the input dy of g.
func convSumChannels[T float](g *convGradBOp, dst []T, v G.Value) error {
	n, c, hw := g.conv.n, g.conv.o, g.conv.hw
	d, err := input[T](g, "dy", v, n*c*hw)
	if err != nil {
		return err
	}
	// Each plane's sum on the core that split the batch before, then the
	// channels' sums over the samples in order: the same sums on any
	// number of cores.
	part := batchBuf[T](&g.conv.sumsB, n*c)
	g.conv.team.For(g.conv.team.ElemWorkers(n, len(d)), n, func(_, i int) {
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
		err = convGradX[float32](op, inputs, op.conv.bl32)
	} else {
		err = convGradX[float64](op, inputs, op.conv.bl64)
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
	if op.transposed() {
		convGradXTransposed(op, any(w).([]float32), any(dy).([]float32), any(dx).([]float32))
		return nil
	}
	if op.scattered() {
		convGradXScattered(op, any(w).([]float32), any(dy).([]float32), any(dx).([]float32))
		return nil
	}
	if op.batched() {
		convGradXBatched(op, w, dy, dx, bl)
		return nil
	}
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	size := op.ckk * op.hw
	if !op.direct && (op.dcol == nil || op.dcolN < workers) {
		op.dcol = make([]T, workers*size)
		op.dcolN = workers
	}
	packed := op.packs(bl)
	var pa *gemm.PackedA
	if packed {
		var release func()
		pa, release = lendPacked(blas.Trans, op.ckk, op.o, any(w).([]float32), op.ckk)
		defer release()
	}
	ohw := op.o * op.hw
	op.team.For(workers, op.n, func(wk, n int) {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		dcol := dxn // a 1×1 stride-1 convolution's columns are x itself
		if !op.direct {
			dcol = op.dcol.([]T)[wk*size : (wk+1)*size]
		}
		// dcol (CKK × HW) = wᵀ (CKK × O) · dy[n] (O × HW)
		if packed {
			gemm.SgemmPacked(blas.NoTrans, op.ckk, op.hw, op.o, 1, pa, any(dy[n*ohw:(n+1)*ohw]).([]float32), op.hw, 0, any(dcol).([]float32), op.hw)
		} else {
			bl.gemm(true, false, op.ckk, op.hw, op.o, 1, w, op.ckk, dy[n*ohw:(n+1)*ohw], op.hw, 0, dcol, op.hw)
		}
		if !op.direct {
			clear(dxn)
			col2im(&op.convGeom, dcol, op.hw, dxn, bl.axpy)
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
	// wPerm[(p·C + c)·O + o] = w[o][c][p], in blocks of 16 rows of w:
	// each row read in order, each write a run of 16 (a ResNet's w, up to
	// 9 MiB, does not stay in the cache for reads strided by C·k·k).
	const blk = 16
	for o0 := 0; o0 < op.o; o0 += blk {
		o1 := min(o0+blk, op.o)
		for c := range op.c {
			for p := range kk {
				dst := op.wPerm[(p*op.c+c)*op.o+o0 : (p*op.c+c)*op.o+o1]
				src := (o0*op.c+c)*kk + p
				for j := range dst {
					dst[j] = w[src+j*op.c*kk]
				}
			}
		}
	}
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	for len(op.dxCols) < workers {
		s, err := gemm.SameConvColumnsByShift(op.c, op.h, op.w, op.k)
		if err != nil {
			panic(op.errorf("%v", err)) // scattered() admitted the geometry
		}
		op.dxCols = append(op.dxCols, s)
	}
	// wPerm is packed once for all the samples' products (packedPool).
	pa, release := lendPacked(blas.NoTrans, op.ckk, op.o, op.wPerm, op.o)
	defer release()
	ohw := op.o * op.hw
	op.team.For(workers, op.n, func(wk, n int) {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		clear(dxn)
		cols := op.dxCols[wk]
		cols.SetBase(dxn)
		// dx[n] = col2im(wPerm (CKK × O) · dy[n] (O × HW))
		gemm.SgemmScatterPacked(blas.NoTrans, op.ckk, op.hw, op.o, 1, pa, dy[n*ohw:(n+1)*ohw], op.hw, cols)
	})
}

// convGradXTransposed is convGradX's transposed path.
func convGradXTransposed(op *convOp, w, dy, dx []float32) {
	kk, okk := op.k*op.k, op.o*op.k*op.k
	if len(op.wFlip) != op.c*okk {
		op.wFlip = make([]float32, op.c*okk)
	}
	// wFlip[c][o·kk + p] = w[o][c][kk−1−p], in blocks of 16 rows of w:
	// each row read in order, each write a run of 16·kk (reading w by
	// column touched a page per element: a ResNet's w, up to 9 MiB, has
	// rows of C·kk elements).
	const blk = 16
	for o0 := 0; o0 < op.o; o0 += blk {
		o1 := min(o0+blk, op.o)
		for c := range op.c {
			dst := op.wFlip[c*okk+o0*kk : c*okk+o1*kk]
			for o := o0; o < o1; o++ {
				src := w[(o*op.c+c)*kk : (o*op.c+c+1)*kk]
				d := dst[(o-o0)*kk : (o-o0+1)*kk]
				if kk == 9 {
					d, src := d[:9:9], src[:9:9]
					d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] = src[8], src[7], src[6], src[5], src[4], src[3], src[2], src[1], src[0]
					continue
				}
				for p := range d {
					d[p] = src[kk-1-p]
				}
			}
		}
	}
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	for len(op.dyCols) < workers {
		s, err := gemm.SameConvColumns(op.o, op.h, op.w, op.k)
		if err != nil {
			panic(op.errorf("%v", err)) // transposed() admitted the geometry
		}
		op.dyCols = append(op.dyCols, s)
	}
	// wFlip is packed once for all the samples' products (packedPool).
	pa, release := lendPacked(blas.NoTrans, op.c, okk, op.wFlip, okk)
	defer release()
	ohw := op.o * op.hw
	op.team.For(workers, op.n, func(wk, n int) {
		cols := op.dyCols[wk]
		cols.SetBase(dy[n*ohw : (n+1)*ohw])
		// dx[n] (C × HW) = wFlip (C × O·k·k) · cols (O·k·k × HW)
		gemm.SgemmShiftedPacked(blas.NoTrans, op.c, op.hw, okk, 1, pa, cols, 0, dx[n*op.chw:(n+1)*op.chw], op.hw)
	})
}

// convGradXBatched is convGradX's batched path: one product for the
// batch's column gradients (into colB), then col2im per sample.
func convGradXBatched[T float](op *convOp, w, dy, dx []T, bl *blasOps[T]) {
	nhw := op.n * op.hw
	dyB := batchBuf[T](&op.outB, op.o*nhw)
	batchRows(op, dy, dyB, true)
	dcolB := batchBuf[T](&op.colB, op.ckk*nhw)
	// dcolB (CKK × N·HW) = wᵀ (CKK × O) · dyB (O × N·HW)
	teamGemm(op, bl, true, true, false, op.ckk, nhw, op.o, 1, w, op.ckk, dyB, nhw, 0, dcolB, nhw)
	workers := op.team.Workers(op.n, op.n*op.perSampleMACs)
	op.team.For(workers, op.n, func(_, n int) {
		dxn := dx[n*op.chw : (n+1)*op.chw]
		if op.direct {
			// A 1×1 stride-1 convolution's columns are x itself.
			for r := range op.ckk {
				copy(dxn[r*op.hw:(r+1)*op.hw], dcolB[r*nhw+n*op.hw:r*nhw+(n+1)*op.hw])
			}
			return
		}
		// Straight from dcolB: no per-worker column gradient to copy.
		clear(dxn)
		col2im(&op.convGeom, dcolB[n*op.hw:], nhw, dxn, bl.axpy)
	})
}
