package simd

// MaxPool22Row computes one output row of a 2×2, stride-2 max pool: for
// k < len(y), y[k] is the largest of r0[2k], r0[2k+1], r1[2k], r1[2k+1]
// (in that order the first of equal values; a NaN wins) and idx[k] its
// position, base+2k(+1) for r0 and base+w+2k(+1) for r1 (r1 is the input
// row w elements after r0, which starts at base). r0 and r1 need 2·len(y)
// elements, idx len(y).
// float32 rows run on AVX2 where the CPU has it.
func MaxPool22Row[T ~float32 | ~float64](r0, r1, y []T, idx []int32, base, w int) {
	done := 0
	if r32, ok := any(r0).([]float32); ok {
		done = maxPool22Rows8(r32, any(r1).([]float32), any(y).([]float32), idx, base, w)
	}
	maxPool22RowGo(r0, r1, y, idx, base, w, done)
}

// maxPool22RowGo computes the outputs from `from` on.
func maxPool22RowGo[T ~float32 | ~float64](r0, r1, y []T, idx []int32, base, w, from int) {
	for k := from; k < len(y); k++ {
		i := 2 * k
		best, at := r0[i], i
		if v := r0[i+1]; v > best || v != v {
			best, at = v, i+1
		}
		if v := r1[i]; v > best || v != v {
			best, at = v, w+i
		}
		if v := r1[i+1]; v > best || v != v {
			best, at = v, w+i+1
		}
		y[k] = best
		idx[k] = int32(base + at)
	}
}
