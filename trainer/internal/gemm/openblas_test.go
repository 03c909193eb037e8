//go:build openblas

package gemm

import "gonum.org/v1/netlib/blas/netlib"

// With the openblas build tag the benchmarks also time OpenBLAS through
// gonum's netlib (cgo):
//
//	CGO_LDFLAGS=-lopenblas OPENBLAS_NUM_THREADS=1 go test -tags openblas -run '^$' -bench Sgemm -cpu 1
//	CGO_LDFLAGS=-lopenblas OPENBLAS_NUM_THREADS=2 go test -tags openblas -run '^$' -bench Sgemm -cpu 2
//
// OpenBLAS keeps its own threads, so its thread count comes from
// OPENBLAS_NUM_THREADS, not -cpu.
func init() {
	benchImpls = append(benchImpls, benchImpl{name: "openblas", sgemm: netlib.Implementation{}.Sgemm})
}
