package gemm

// packer holds the routines that pack full panels; an architecture may
// replace the pure-Go ones with assembly.
type packer struct {
	// a6N packs a full panel of op(A) = A: dst[q·mr+i] = a[i·lda+q]
	// for i < mr, q < kc.
	a6N func(kc int, a []float32, lda int, dst []float32)
	// a6T packs a full panel of op(A) = Aᵀ: dst[q·mr+i] = a[q·lda+i].
	a6T func(kc int, a []float32, lda int, dst []float32)
	// b16N packs a full panel of op(B) = B: dst[q·nr+j] = b[q·ldb+j]
	// for j < nr, q < kc.
	b16N func(kc int, b []float32, ldb int, dst []float32)
	// b16T packs a full panel of op(B) = Bᵀ: dst[q·nr+j] = b[j·ldb+q].
	b16T func(kc int, b []float32, ldb int, dst []float32)
	// shifted16 packs a full panel of a Shifted matrix: dst[q·nr+j] =
	// base[off[q]+col+j] where bit j of mask[q] is set, else 0; the
	// selected entries lie inside base (NewShifted checked).
	shifted16 func(kc int, base []float32, off []int32, mask []uint16, col int, dst []float32)
	// shiftedT16 packs panel pan (rows 16·pan … 16·pan+15 of s) of
	// the transpose of a Shifted matrix s, for its columns p0 … p0+kc−1
	// (see packShiftedT16Go).
	shiftedT16 func(kc int, s *Shifted, p0, pan int, dst []float32)
	// scatter16 adds the m rows of a tile t (row stride nr) into a
	// Shifted matrix's base: base[off[i]+col+j] += t[i·nr+j] for the bits
	// j set in mask[i]. (The masks select no column past the matrix's, so
	// the columns of an edge tile past its width are never read.)
	scatter16 func(m int, t, base []float32, off []int32, mask []uint16, col int)
}

// goPacker packs in pure Go.
var goPacker = packer{a6N: packA6NGo, a6T: packA6TGo, b16N: packB16NGo, b16T: packB16TGo, shifted16: packShifted16Go, shiftedT16: packShiftedT16Go, scatter16: scatter16Go}

// packA packs the mc×kc block of op(A) at row i0, column p0 into dst as
// ceil(mc/mr) panels of kc·mr elements: panel r holds rows r·mr … r·mr+mr-1,
// column by column (element (i, q) of the panel at q·mr+i).
//
// The rows of the last panel past mc hold unspecified finite or non-finite
// values: they only reach rows of an edge tile that macro discards. This
// lets edge panels go through the full-panel routines, from a staging copy
// (stage, at least mr·kc elements) or by reading past the block where the
// slice allows it.
func packA(pk *packer, dst, stage []float32, p *problem, i0, mc, p0, kc int) {
	a, lda := p.a, p.lda
	for ir := 0; ir < mc; ir += mr {
		d := dst[ir*kc : (ir+mr)*kc]
		m := min(mr, mc-ir)
		if p.aTrans {
			// Column q of the panel is contiguous in a: a[(p0+q)·lda + i0+ir …].
			off := p0*lda + i0 + ir
			if m == mr {
				pk.a6T(kc, a[off:], lda, d)
				continue
			}
			// Read mr elements per column while they are inside a.
			safe := safeRows(len(a)-off, lda, mr, kc)
			if safe > 0 {
				pk.a6T(safe, a[off:], lda, d)
			}
			for q := safe; q < kc; q++ {
				copy(d[q*mr:q*mr+m], a[off+q*lda:off+q*lda+m])
			}
			continue
		}
		// Row i of the panel is contiguous in a: a[(i0+ir+i)·lda + p0 …].
		off := (i0+ir)*lda + p0
		if m == mr {
			pk.a6N(kc, a[off:], lda, d)
			continue
		}
		st := stage[:mr*kc]
		for i := range m {
			copy(st[i*kc:i*kc+kc], a[off+i*lda:off+i*lda+kc])
		}
		pk.a6N(kc, st, kc, d)
	}
}

// packB packs the kc×nc block of op(B) at row p0, column j0 into dst as
// ceil(nc/nr) panels of kc·nr elements: panel r holds columns r·nr …
// r·nr+nr-1, row by row (element (q, j) of the panel at q·nr+j). As in
// packA, the columns of the last panel past nc are unspecified, and stage
// holds at least nr·kc elements.
func packB(pk *packer, dst, stage []float32, p *problem, p0, kc, j0, nc int) {
	if p.shifted != nil {
		if p.bTrans {
			p.shifted.packT(pk, dst, p0, kc, p.bCol+j0, nc)
		} else {
			p.shifted.pack(pk, dst, p0, kc, p.bCol+j0, nc)
		}
		return
	}
	b, ldb := p.b, p.ldb
	for jr := 0; jr < nc; jr += nr {
		d := dst[jr*kc : (jr+nr)*kc]
		n := min(nr, nc-jr)
		if !p.bTrans {
			// Row q of the panel is contiguous in b: b[(p0+q)·ldb + j0+jr …].
			off := p0*ldb + j0 + jr
			if n == nr {
				pk.b16N(kc, b[off:], ldb, d)
				continue
			}
			// Read nr elements per row while they are inside b.
			safe := safeRows(len(b)-off, ldb, nr, kc)
			if safe > 0 {
				pk.b16N(safe, b[off:], ldb, d)
			}
			for q := safe; q < kc; q++ {
				copy(d[q*nr:q*nr+n], b[off+q*ldb:off+q*ldb+n])
			}
			continue
		}
		// Column j of the panel is contiguous in b: b[(j0+jr+j)·ldb + p0 …].
		off := (j0+jr)*ldb + p0
		if n == nr {
			pk.b16T(kc, b[off:], ldb, d)
			continue
		}
		st := stage[:nr*kc]
		for j := range n {
			copy(st[j*kc:j*kc+kc], b[off+j*ldb:off+j*ldb+kc])
		}
		pk.b16T(kc, st, kc, d)
	}
}

// safeRows returns how many of the first kc rows of stride ld hold w
// elements inside a slice of length n.
func safeRows(n, ld, w, kc int) int {
	if n < w {
		return 0
	}
	return min(kc, (n-w)/ld+1)
}

func packA6NGo(kc int, a []float32, lda int, dst []float32) {
	r0 := a[:kc]
	r1 := a[lda : lda+kc]
	r2 := a[2*lda : 2*lda+kc]
	r3 := a[3*lda : 3*lda+kc]
	r4 := a[4*lda : 4*lda+kc]
	r5 := a[5*lda : 5*lda+kc]
	dst = dst[:kc*mr]
	for q := range kc {
		t := dst[q*mr : q*mr+mr : q*mr+mr]
		t[0], t[1], t[2], t[3], t[4], t[5] = r0[q], r1[q], r2[q], r3[q], r4[q], r5[q]
	}
}

func packA6TGo(kc int, a []float32, lda int, dst []float32) {
	// Element by element: an array copy here compiles to a memmove call.
	dst = dst[:kc*mr]
	for q := range kc {
		s := a[q*lda : q*lda+mr : q*lda+mr]
		t := dst[q*mr : q*mr+mr : q*mr+mr]
		t[0], t[1], t[2], t[3], t[4], t[5] = s[0], s[1], s[2], s[3], s[4], s[5]
	}
}

func packB16NGo(kc int, b []float32, ldb int, dst []float32) {
	dst = dst[:kc*nr]
	for q := range kc {
		s := b[q*ldb : q*ldb+nr : q*ldb+nr]
		t := dst[q*nr : q*nr+nr : q*nr+nr]
		t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15] = s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]
	}
}

func packB16TGo(kc int, b []float32, ldb int, dst []float32) {
	dst = dst[:kc*nr]
	for j := 0; j < nr; j += 4 {
		c0 := b[j*ldb : j*ldb+kc]
		c1 := b[(j+1)*ldb : (j+1)*ldb+kc]
		c2 := b[(j+2)*ldb : (j+2)*ldb+kc]
		c3 := b[(j+3)*ldb : (j+3)*ldb+kc]
		for q := range kc {
			t := dst[q*nr+j : q*nr+j+4 : q*nr+j+4]
			t[0], t[1], t[2], t[3] = c0[q], c1[q], c2[q], c3[q]
		}
	}
}
