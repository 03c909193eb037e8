package op

import (
	"github.com/fltk-go/fltk/trainer/internal/gemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// This file holds the matrix products of the ops: the build's BLAS
// (blas_go.go, blas_openblas.go) behind gemm32 and gemm64, and the
// products the convolutions call (blas32, blas64), which bypass gonum's
// goroutine-splitting Sgemm.

// gemm32 is the single-precision matrix product the model's own ops use:
// c = alpha·op(a)·op(b) + beta·c, row-major, with gonum's Sgemm
// signature. It is the BLAS of this build (see blasImpl): gonum's pure Go
// one by default, OpenBLAS with the openblas build tag.
func gemm32(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blasImpl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm64 is gemm32 in double precision (float64 graphs of gradient checks).
func gemm64(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	blasImpl.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmer is the part of a BLAS implementation the ops need.
type gemmer interface {
	Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
}

var _ gemmer = gonum.Implementation{}

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
	// ops' per-sample products costs more CPU time than the same kernels
	// run serially, and hundreds of allocations per layer and step
	// (BenchmarkConvOp, gemm=gonum). With gonum the ops run its assembly kernels
	// (Saxpy, Sdot) on one goroutine and split the batch over the cores
	// themselves (parallel.Team.Workers).
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
// by (blocking for the second-level cache was no faster). Like
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
			panic("op: serialGemm: both operands transposed")
		}
	}
}
