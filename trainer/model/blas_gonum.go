//go:build !openblas

package model

import "gonum.org/v1/gonum/blas/gonum"

// blasImpl is the BLAS behind gemm32 and gemm64.
var blasImpl gemmer = gonum.Implementation{}

// BLAS names the BLAS implementation this build uses: gonum's pure Go
// one by default; build with -tags openblas for OpenBLAS.
const BLAS = "gonum"
