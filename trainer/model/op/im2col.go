package op

import (
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"gorgonia.org/tensor"
)

// This file holds the geometry of a convolution and the column matrices
// of its products: im2col, which writes a sample's k×k patches as the
// columns of a matrix, and col2im, its adjoint, which adds a column
// gradient back into the input gradient.

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

	// src, when not nil, gives im2col's source of every column entry:
	// src[(ki·k + kj)·Ho·Wo + j] is the index within a channel's plane
	// of the input read at kernel position (ki, kj) by output j, or −1
	// in the padding (see gather).
	src []int32
}

// gatherMaxHW is the largest output plane for which im2col of a "same"
// convolution reads its rows through the table src instead of copying
// shifted planes: on a ResNet's 4×4 stage a row is 16 elements, and the
// copy's calls (clear, copy, a zeroing per output row) cost more than
// the elements (BenchmarkConvPass, layer=s4).
const gatherMaxHW = 64

// gather reports whether im2col reads the rows through the table src:
// every strided convolution, and "same" ones on small planes.
func (g *convGeom) gather() bool { return !g.direct && (!g.same || g.hw <= gatherMaxHW) }

func newConvGeom(xs, ws tensor.Shape, stride, pad int) (convGeom, error) {
	if len(xs) != 4 || len(ws) != 4 || ws[1] != xs[1] || ws[2] != ws[3] || ws[2] < 1 || stride < 1 || pad < 0 {
		return convGeom{}, buildErrorf("convolution of %v with weight %v, stride %d, pad %d", xs, ws, stride, pad)
	}
	g := convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], k: ws[2], stride: stride, pad: pad}
	g.ho = (g.h+2*pad-g.k)/stride + 1
	g.wo = (g.w+2*pad-g.k)/stride + 1
	if g.h+2*pad < g.k || g.w+2*pad < g.k || g.ho < 1 || g.wo < 1 {
		return convGeom{}, buildErrorf("convolution kernel %d larger than the padded input %v (pad %d)", g.k, xs, pad)
	}
	g.owLo, g.owHi = validRange(g.k, g.w, g.wo, stride, pad)
	g.ohLo, g.ohHi = validRange(g.k, g.h, g.ho, stride, pad)
	g.ckk, g.hw, g.chw = g.c*g.k*g.k, g.ho*g.wo, g.c*g.h*g.w
	g.direct = g.k == 1 && stride == 1 && pad == 0
	g.same = stride == 1 && g.wo == g.w
	g.perSampleMACs = g.o * g.ckk * g.hw
	if g.gather() {
		if int64(g.k)*int64(g.k)*int64(g.hw) > 1<<28 || int64(g.h)*int64(g.w) > 1<<31-1 {
			return convGeom{}, buildErrorf("convolution of %v with weight %v: too large", xs, ws)
		}
		g.src = make([]int32, g.k*g.k*g.hw)
		for ki := range g.k {
			for kj := range g.k {
				t := g.src[(ki*g.k+kj)*g.hw : (ki*g.k+kj+1)*g.hw]
				for oh := range g.ho {
					for ow := range g.wo {
						ih, iw := oh*stride-pad+ki, ow*stride-pad+kj
						t[oh*g.wo+ow] = -1
						if ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
							t[oh*g.wo+ow] = int32(ih*g.w + iw)
						}
					}
				}
			}
		}
	}
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
// Ho·Wo, row r at col[r·ld:], ld ≥ Ho·Wo): col[(c·k + ki)·k + kj][oh·Wo +
// ow] = x[c][oh·s − p + ki][ow·s − p + kj], zero outside the input.
func im2col[T float](g *convGeom, x, col []T, ld int) {
	if g.src != nil {
		im2colGather(g, x, col, ld)
		return
	}
	k, s, p, hw, wo := g.k, g.stride, g.pad, g.hw, g.wo
	r := 0
	for c := range g.c {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range k {
			ohLo, ohHi := g.ohLo[ki], g.ohHi[ki]
			for kj := range k {
				row := col[r*ld : r*ld+hw]
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

// im2colGather is im2col through the table g.src: one pass over each
// row, whatever the stride and the plane's size.
func im2colGather[T float](g *convGeom, x, col []T, ld int) {
	kk, hw, plane := g.k*g.k, g.hw, g.h*g.w
	for c := range g.c {
		xc := x[c*plane : (c+1)*plane]
		for p := range kk {
			r := c*kk + p
			row := col[r*ld : r*ld+hw]
			src := g.src[p*hw : (p+1)*hw]
			for j, i := range src {
				if i >= 0 {
					row[j] = xc[i]
				} else {
					row[j] = 0
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

// col2im adds the columns col (C·k·k × Ho·Wo, row r at col[r·ld:]) of
// one sample into dx (C, H, W): the adjoint of im2col. It may zero the
// entries of col that belong to the padding (col is scratch). Every
// element of dx gets its terms in the order of the rows, on either path.
func col2im[T float](g *convGeom, col []T, ld int, dx []T, axpy func(n int, alpha T, x []T, incX int, y []T, incY int)) {
	if g.src != nil {
		col2imScatter(g, col, ld, dx)
		return
	}
	k, s, p, hw, wo := g.k, g.stride, g.pad, g.hw, g.wo
	r := 0
	for c := range g.c {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range k {
			ohLo, ohHi := g.ohLo[ki], g.ohHi[ki]
			for kj := range k {
				row := col[r*ld : r*ld+hw]
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

// col2imScatter is col2im through the table g.src, im2colGather's
// adjoint.
func col2imScatter[T float](g *convGeom, col []T, ld int, dx []T) {
	kk, hw, plane := g.k*g.k, g.hw, g.h*g.w
	for c := range g.c {
		xc := dx[c*plane : (c+1)*plane]
		for p := range kk {
			r := c*kk + p
			row := col[r*ld : r*ld+hw]
			src := g.src[p*hw : (p+1)*hw]
			for j, i := range src {
				if i >= 0 {
					xc[i] += row[j]
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
