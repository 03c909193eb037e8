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
	switch tA {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	switch tB {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	if k < 0 {
		panic(kLT0)
	}
	aTrans := tA != blas.NoTrans
	bTrans := tB != blas.NoTrans
	if aTrans {
		if lda < max(1, m) {
			panic(badLdA)
		}
	} else if lda < max(1, k) {
		panic(badLdA)
	}
	if bTrans {
		if ldb < max(1, k) {
			panic(badLdB)
		}
	} else if ldb < max(1, n) {
		panic(badLdB)
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}
	if m == 0 || n == 0 {
		return
	}
	// The same length checks as gonum, including their behaviour for k == 0.
	if aTrans {
		if len(a) < (k-1)*lda+m {
			panic(shortA)
		}
	} else if len(a) < (m-1)*lda+k {
		panic(shortA)
	}
	if bTrans {
		if len(b) < (n-1)*ldb+k {
			panic(shortB)
		}
	} else if len(b) < (k-1)*ldb+n {
		panic(shortB)
	}
	if len(c) < (m-1)*ldc+n {
		panic(shortC)
	}

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
