//go:build !openblas

package op

import (
	G "gorgonia.org/gorgonia"

	"github.com/fltk-go/fltk/trainer/internal/gemm"
)

// The default build is pure Go: matrix products go through trainer/internal/gemm
// (an AVX2/FMA kernel in Go assembly where the CPU has it, several times
// faster than gonum's Sgemm on the models' shapes, BenchmarkConvOp; a Go
// kernel elsewhere), for the model's own
// ops and, through G.Use, gorgonia's. One goroutine per product: the ops
// split a batch over the cores themselves, and clients train in parallel.
func init() {
	gemm.SetThreads(1)
	G.Use(gemm.Implementation{})
}

// blasImpl is the BLAS behind gemm32 and gemm64.
var blasImpl gemmer = gemm.Implementation{}

// BLAS names the BLAS implementation this build uses: trainer/internal/gemm by
// default; build with -tags openblas for OpenBLAS.
const BLAS = "go"
