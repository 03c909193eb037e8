// Package simd holds fltk's small vector kernels outside matrix products
// (those are in trainer/internal/gemm): AVX2 assembly on amd64 CPUs that
// have it, with pure-Go versions that give identical results everywhere
// else, and the CPU feature test both packages use.
package simd
