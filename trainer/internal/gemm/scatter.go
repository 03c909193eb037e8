package gemm

import "gonum.org/v1/gonum/blas"

// SgemmScatter adds the product alpha·op(A)·op(B) (m×n) into the base
// vector of the Shifted matrix d (m rows, n columns), entry by entry:
//
//	base[off[i] + j] += alpha·(op(A)·op(B))[i][j]   for every entry (i, j) d's masks select,
//
// and leaves the rest of the product unused. It is the adjoint of
// packing from d: with d the columns of a convolution's input, it is
// the column gradient's col2im, without writing the column gradient
// out. Entries that land on one element of the base vector add up, in
// an order fixed by the shapes (tile by tile: columns in blocks of 16,
// then rows). Op(A) and op(B) are as in [Sgemm]; the product is
// computed on the calling goroutine (its tiles may add into the same
// elements).
//
// Rows of one tile (up to 12 consecutive rows) whose windows overlap
// are correct but slow: each reads what the one before has just
// written. [SameConvColumnsByShift] keeps them apart.
func SgemmScatter(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, d *Shifted) {
	aTrans, bTrans := checkTrans(tA), checkTrans(tB)
	checkDims(m, n, k)
	if d == nil || d.rows != m || d.cols != n {
		panic(shortC)
	}
	checkLd(aTrans, m, k, lda, badLdA)
	checkLd(bTrans, k, n, ldb, badLdB)
	if m == 0 || n == 0 || k == 0 || alpha == 0 {
		return
	}
	checkLen(aTrans, m, k, len(a), lda, shortA)
	checkLen(bTrans, k, n, len(b), ldb, shortB)
	if d.base == nil {
		panic("gemm: shifted matrix without a base vector")
	}
	p := problem{
		aTrans: aTrans, bTrans: bTrans,
		m: m, n: n, k: k,
		alpha: alpha, beta: 1,
		a: a, lda: lda, b: b, ldb: ldb,
		scatter: d,
	}
	serial(kern, &p)
}

// macroScatter is macro for a product scattered into p.scatter (the
// packed block of A in wa): each
// tile is computed into ws.tile, then added into the base vector.
// Block (ic, jc) of C is at rows ic…, columns jc… of the Shifted matrix.
func macroScatter(kr *kernel, ws *workspace, wa []float32, p *problem, ic, jc, mc, nc, kc int) {
	d := p.scatter
	ws.tile = ensure(ws.tile, 2*mr*nr)
	for jr := 0; jr < nc; jr += nr {
		n := min(nr, nc-jr)
		b := ws.b[jr*kc : (jr+nr)*kc]
		masks := d.mask[(jc+jr)/nr*d.rows:]
		for ir := 0; ir < mc; {
			m := min(mr, mc-ir)
			if kr.tile12 != nil && mc-ir > mr {
				m = min(2*mr, mc-ir)
				a := wa[ir*kc : (ir+2*mr)*kc]
				if m <= mr+2 && kr.tile8 != nil {
					kr.tile8(kc, a, b, nr, ws.tile, nr, p.alpha, 0, m, n)
				} else {
					kr.tile12(kc, a, b, nr, ws.tile, nr, p.alpha, 0, m, n)
				}
			} else {
				kr.tile(kc, wa[ir*kc:(ir+mr)*kc], b, nr, ws.tile, nr, p.alpha, 0, m, n)
			}
			r := ic + ir
			kr.pack.scatter16(m, ws.tile, d.base, d.off[r:r+m], masks[r:r+m], jc+jr)
			ir += m
		}
	}
}

// scatter16Go adds the rows of a tile into a Shifted matrix's base
// vector: base[off[i]+col+j] += t[i·nr+j] for i < m and the bits j set in
// mask[i].
func scatter16Go(m int, t, base []float32, off []int32, mask []uint16, col int) {
	for i := range m {
		row := t[i*nr : i*nr+nr : i*nr+nr]
		sel, o := mask[i], int(off[i])+col
		for j := range nr {
			if sel>>j&1 != 0 {
				base[o+j] += row[j]
			}
		}
	}
}
