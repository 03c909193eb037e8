//go:build !amd64 || purego

package simd

// HasAVX2FMA is false where this package has no assembly.
const HasAVX2FMA = false

func maxPool22Rows8([]float32, []float32, []float32, []int32, int, int) int { return 0 }
