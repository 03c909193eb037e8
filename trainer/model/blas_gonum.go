//go:build !openblas

package model

// BLAS names the BLAS implementation this build uses: gonum's pure Go
// one by default; build with -tags openblas for OpenBLAS.
const BLAS = "gonum"
