//go:build amd64 && !purego

package simd

//go:noescape
func maxPool22AVX2(n int, r0, r1, y *float32, idx *int32, base, w int32)

// maxPool22Rows8 does MaxPool22Row's outputs with AVX2 when the CPU has
// it and returns how many it did (all or none).
func maxPool22Rows8(r0, r1, y []float32, idx []int32, base, w int) int {
	n := len(y)
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = r0[2*n-1]
	_ = r1[2*n-1]
	_ = idx[n-1]
	maxPool22AVX2(n, &r0[0], &r1[0], &y[0], &idx[0], int32(base), int32(w))
	return n
}
