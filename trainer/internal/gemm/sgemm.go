package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Panic strings of the argument checks; they are gonum's, so callers see
// the same messages whichever implementation is in use.
const (
	badTranspose = "blas: illegal transpose"
	mLT0         = "blas: m < 0"
	nLT0         = "blas: n < 0"
	kLT0         = "blas: k < 0"
	badLdA       = "blas: bad leading dimension of A"
	badLdB       = "blas: bad leading dimension of B"
	badLdC       = "blas: bad leading dimension of C"
	shortA       = "blas: insufficient length of a"
	shortB       = "blas: insufficient length of b"
	shortC       = "blas: insufficient length of c"
)

// Implementation is gonum's pure-Go BLAS with Sgemm replaced by [Sgemm].
// It satisfies blas.Float32 and blas.Float64, and so gorgonia's BLAS
// interface: G.Use(gemm.Implementation{}).
type Implementation struct {
	gonum.Implementation
}

var _ interface {
	blas.Float32
	blas.Float64
} = Implementation{}

// Sgemm is [Sgemm].
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemm computes
//
//	C = alpha·op(A)·op(B) + beta·C
//
// for row-major matrices, where op(X) is X or Xᵀ as tA and tB say
// (blas.NoTrans, blas.Trans or blas.ConjTrans, which is Trans for real
// matrices), op(A) is m×k, op(B) is k×n and C is m×n. lda, ldb and ldc are
// the row strides. The conventions and argument checks are gonum's: Sgemm
// panics with gonum's messages on an illegal transpose, a negative
// dimension, a leading dimension that is too small, or a slice that is
// too short.
//
// When beta is zero C is not read; when alpha or k is zero A and B are not
// read.
func Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	aTrans, bTrans := checkTrans(tA), checkTrans(tB)
	checkDims(m, n, k)
	checkLd(aTrans, m, k, lda, badLdA)
	checkLd(bTrans, k, n, ldb, badLdB)
	checkLd(false, m, n, ldc, badLdC)
	if m == 0 || n == 0 {
		return
	}
	// The same length checks as gonum, including their behaviour for k == 0.
	checkLen(aTrans, m, k, len(a), lda, shortA)
	checkLen(bTrans, k, n, len(b), ldb, shortB)
	checkLen(false, m, n, len(c), ldc, shortC)

	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{
		aTrans: aTrans, bTrans: bTrans,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	run(kern, &p)
}

// checkTrans panics unless t is a transpose gonum accepts, and reports
// whether it transposes.
func checkTrans(t blas.Transpose) bool {
	switch t {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	return t != blas.NoTrans
}

// checkDims panics if a dimension is negative.
func checkDims(m, n, k int) {
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	if k < 0 {
		panic(kLT0)
	}
}

// storedShape returns the shape in memory of an operand op(X) of r×c:
// r×c, or c×r when transposed.
func storedShape(trans bool, r, c int) (rows, cols int) {
	if trans {
		return c, r
	}
	return r, c
}

// checkLd panics with msg if ld is below the stored operand's row length
// (at least 1).
func checkLd(trans bool, r, c, ld int, msg string) {
	if _, cols := storedShape(trans, r, c); ld < max(1, cols) {
		panic(msg)
	}
}

// checkLen panics with msg if a slice of n elements is too short for the
// stored operand with row stride ld.
func checkLen(trans bool, r, c, n, ld int, msg string) {
	if rows, cols := storedShape(trans, r, c); n < (rows-1)*ld+cols {
		panic(msg)
	}
}

// scaleC sets C = beta·C, without reading C when beta is zero.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	switch beta {
	case 1:
	case 0:
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
	default:
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
	}
}
