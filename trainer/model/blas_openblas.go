//go:build openblas

package model

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// With the openblas build tag, gorgonia's matrix products go through
// OpenBLAS (cgo; Debian's libopenblas-dev) instead of gonum's pure-Go
// BLAS. Build with
//
//	CGO_LDFLAGS=-lopenblas go build -tags openblas ./...
//
// or `make build-openblas`.
func init() { G.Use(netlib.Implementation{}) }

// blasImpl is the BLAS behind gemm32 and gemm64.
var blasImpl gemmer = netlib.Implementation{}

// BLAS names the BLAS implementation this build uses.
const BLAS = "openblas"
