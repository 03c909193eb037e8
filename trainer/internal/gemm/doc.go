// Package gemm implements a fast single-precision general matrix product
// (SGEMM) for row-major matrices, as a drop-in replacement for gonum's
// pure-Go Sgemm.
//
// Start from [Sgemm], which has the signature, conventions and argument
// checks of gonum's [gonum.org/v1/gonum/blas/gonum.Implementation.Sgemm],
// or from [Implementation], which is gonum's BLAS with Sgemm replaced and
// so satisfies gorgonia's BLAS interface:
//
//	gemm.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, b, k, 0, c, n)
//	G.Use(gemm.Implementation{}) // gorgonia's own matmuls
//
// # Algorithm
//
// The structure is Goto's (K. Goto and R. van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008) as
// refined by BLIS (F. Van Zee and R. van de Geijn, "BLIS: A Framework
// for Rapidly Instantiating BLAS Functionality", ACM TOMS 41(3), 2015):
// C is updated in blocks of at most mc×nc = 144×4096, with k cut into
// slices of at most kc = 256. For each slice a kc×nc block of op(B) is
// packed into panels of nr columns, and each mc×kc block of op(A) into
// panels of mr rows, so that the micro-kernel reads both operands
// contiguously whatever the transposes. The micro-kernel keeps an mr×nr
// tile of C in registers and performs kc rank-1 updates. When op(A) has
// few rows (at most 64: a fully connected layer at small batch), each
// element of B would be used only a few times after packing: the kernels
// read B's full panels in place (row stride ldb) when B is not
// transposed, and otherwise each panel is packed right before its tiles,
// while it is in L1. The sums are the same, so are the bits.
//
// On amd64 with AVX2 and FMA (detected at run time with CPUID) the
// micro-kernel is Go assembly with mr×nr = 6×16: twelve YMM accumulators,
// two loads of B and six broadcasts of A per step of k; tiles cut by the
// edges of C are stored with masked moves. The packing routines are
// assembly too (8×8 transposes for the transposing cases). With AVX-512F
// the tiles are 12×16 (two A panels, twelve ZMM accumulators, broadcasts
// embedded in the multiply-adds), with 8- and 6-row variants for the rows
// left over, all giving the AVX2 kernel's bits; under two packed B
// panels side by side, full 12-row tiles are 12×32 (each A element
// broadcast once for 24 accumulators: bound by the multiply-adds, not
// the loads) and 4-row leftovers 4×32, with the same bits. Elsewhere, with
// the purego build tag, or on CPUs without AVX2/FMA, a pure-Go kernel and
// pure-Go packing work on the same layout.
//
// # Implicit operands
//
// [SgemmShifted] multiplies by a [Shifted] matrix, which is never stored:
// each of its rows is a masked window of one vector, as the columns of a
// stride-1 "same" convolution (im2col) are windows of its input
// ([SameConvColumns]). Its panels are packed straight from the vector —
// one masked load per packed row, or for Bᵀ 16×16 blocks loaded under
// masks and transposed in registers (AVX-512; gathers with AVX2) — so
// the column matrix is neither written nor read back, with the bits of
// Sgemm on the matrix written out. [SgemmScatter] is the adjoint: it adds
// a product tile by tile into the windows of a Shifted matrix (col2im
// fused into the product).
//
// # Semantics
//
// C = alpha·op(A)·op(B) + beta·C. When beta is zero, C is not read, so NaN
// or Inf in C do not propagate. When alpha is zero or k is zero, A and B
// are not read and C is only scaled by beta. Unlike gonum, products with
// zero elements are not skipped, so NaN and Inf in A or B propagate as in
// reference BLAS and OpenBLAS.
//
// # Concurrency
//
// Sgemm is safe for concurrent use. When GOMAXPROCS > 1 (capped by
// [SetThreads]) and the product has at least about four million flops, it
// cuts the larger dimension of C into blocks of whole tiles, computes them
// on the calling goroutine and up to GOMAXPROCS-1 others, and waits for
// them before returning. Packing buffers and split state come from
// sync.Pools, so steady-state calls do not allocate.
package gemm
