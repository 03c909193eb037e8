package gemm

import "gonum.org/v1/gonum/blas"

// PackedA is op(A) packed once for several products by the same A: a
// convolution's weights, multiplied by one sample's columns after
// another. Packing A costs one pass over it per product; with few
// columns per sample (a ResNet's 8×8 and 16×16 planes) that pass is a
// large part of the product (BenchmarkConvPass in trainer/model/op).
// The products read the same packed panels as [Sgemm] and give the same
// bits.
//
// A PackedA is read-only once packed: products on several goroutines may
// share it. Pack it again when A changes.
type PackedA struct {
	m, k   int
	kc, mc int       // the blocking serial uses for m×k
	data   []float32 // the blocks, by k then m: block (pc, ic) at pc·roundup(m, mr) + ic·kcCur
	stage  []float32
}

// Pack packs op(A) (m×k; A is m×k, or k×m when tA is blas.Trans, with
// row stride lda) into pa, reusing its storage.
func (pa *PackedA) Pack(tA blas.Transpose, m, k int, a []float32, lda int) {
	aTrans := checkTrans(tA)
	checkDims(m, 0, k)
	checkLd(aTrans, m, k, lda, badLdA)
	if m > 0 && k > 0 {
		checkLen(aTrans, m, k, len(a), lda, shortA)
	}
	pa.m, pa.k = m, k
	pa.kc = blocks(k, kcBlock, 1)
	pa.mc = blocks(m, mcBlock, mr)
	mPad := (m + mr - 1) / mr * mr
	pa.data = ensure(pa.data, mPad*k)
	pa.stage = ensure(pa.stage, mr*pa.kc)
	p := problem{aTrans: aTrans, m: m, k: k, a: a, lda: lda}
	for pc := 0; pc < k; pc += pa.kc {
		kcCur := min(pa.kc, k-pc)
		for ic := 0; ic < m; ic += pa.mc {
			mcCur := min(pa.mc, m-ic)
			packA(&kern.pack, pa.block(pc, ic, kcCur), pa.stage, &p, ic, mcCur, pc, kcCur)
		}
	}
}

// block returns the packed block of rows ic…, columns pc… (kc of them).
func (pa *PackedA) block(pc, ic, kc int) []float32 {
	mPad := (pa.m + mr - 1) / mr * mr
	return pa.data[pc*mPad+ic*kc:]
}

// Dims returns the rows and columns of op(A).
func (pa *PackedA) Dims() (m, k int) { return pa.m, pa.k }

// checkPacked panics unless pa holds an m×k op(A).
func checkPacked(pa *PackedA, m, k int) {
	if pa == nil || pa.m != m || pa.k != k || pa.data == nil && m*k > 0 {
		panic(shortA)
	}
}

// SgemmShiftedPacked is [SgemmShifted] with op(A) packed in pa (m×k).
func SgemmShiftedPacked(tB blas.Transpose, m, n, k int, alpha float32, pa *PackedA, b *Shifted, beta float32, c []float32, ldc int) {
	if bTrans := checkTrans(tB); b == nil || !bTrans && b.cols != n || bTrans && b.rows != n {
		panic(shortB)
	}
	SgemmShiftedPackedAt(tB, m, n, k, alpha, pa, b, 0, beta, c, ldc)
}

// SgemmShiftedPackedAt is [SgemmShiftedPacked] on the n columns of op(B)
// from column j0 (a multiple of [PanelWidth]) on: C (m×n) = alpha·op(A)·
// op(B)[:, j0:j0+n] + beta·C. Every element of C gets the sums it gets
// from the product on all the columns, so a caller may cut C into blocks
// of columns and run a sequence of products block by block (keeping the
// block in the cache) without changing a bit.
func SgemmShiftedPackedAt(tB blas.Transpose, m, n, k int, alpha float32, pa *PackedA, b *Shifted, j0 int, beta float32, c []float32, ldc int) {
	bTrans := checkTrans(tB)
	checkDims(m, n, k)
	checkPacked(pa, m, k)
	if j0 < 0 || j0%nr != 0 {
		panic("gemm: shifted matrix packed from an unaligned column")
	}
	if b == nil || !bTrans && (b.rows != k || b.cols < j0+n) || bTrans && (b.rows < j0+n || b.cols != k) {
		panic(shortB)
	}
	checkLd(false, m, n, ldc, badLdC)
	if m == 0 || n == 0 {
		return
	}
	checkLen(false, m, n, len(c), ldc, shortC)
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{
		bTrans: bTrans,
		m:      m, n: n, k: k,
		alpha: alpha, beta: beta,
		packed: pa, shifted: b, bCol: j0, c: c, ldc: ldc,
	}
	run(kern, &p)
}

// SgemmScatterPacked is [SgemmScatter] with op(A) packed in pa (m×k).
func SgemmScatterPacked(tB blas.Transpose, m, n, k int, alpha float32, pa *PackedA, b []float32, ldb int, d *Shifted) {
	bTrans := checkTrans(tB)
	checkDims(m, n, k)
	checkPacked(pa, m, k)
	if d == nil || d.rows != m || d.cols != n {
		panic(shortC)
	}
	checkLd(bTrans, k, n, ldb, badLdB)
	if m == 0 || n == 0 || k == 0 || alpha == 0 {
		return
	}
	checkLen(bTrans, k, n, len(b), ldb, shortB)
	if d.base == nil {
		panic("gemm: shifted matrix without a base vector")
	}
	p := problem{
		bTrans: bTrans,
		m:      m, n: n, k: k,
		alpha: alpha, beta: 1,
		packed: pa, b: b, ldb: ldb,
		scatter: d,
	}
	serial(kern, &p)
}

// SgemmPacked is [Sgemm] with op(A) packed in pa (m×k).
func SgemmPacked(tB blas.Transpose, m, n, k int, alpha float32, pa *PackedA, b []float32, ldb int, beta float32, c []float32, ldc int) {
	bTrans := checkTrans(tB)
	checkDims(m, n, k)
	checkPacked(pa, m, k)
	checkLd(bTrans, k, n, ldb, badLdB)
	checkLd(false, m, n, ldc, badLdC)
	if m == 0 || n == 0 {
		return
	}
	checkLen(bTrans, k, n, len(b), ldb, shortB)
	checkLen(false, m, n, len(c), ldc, shortC)
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{
		bTrans: bTrans,
		m:      m, n: n, k: k,
		alpha: alpha, beta: beta,
		packed: pa, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	run(kern, &p)
}
