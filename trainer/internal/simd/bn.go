package simd

import "math"

// Element-wise kernels of BatchNorm and ReLU on float32, AVX2 where the CPU
// has it. Each has a pure-Go version that gives bit-identical results: the
// same float32 operations in the same order (explicit conversions keep the
// compiler from fusing a multiply and an add), and sums kept in eight
// float64 lanes, element i in lane i mod 8, combined in a fixed order.

// SumDot returns Σ a[i] and Σ a[i]·b[i] over i < len(a), accumulated in
// float64 (each product of two float32 is exact in float64). b needs
// len(a) elements; SumDot(x, x) gives Σx and Σx².
func SumDot(a, b []float32) (sa, sab float64) {
	var acc [16]float64 // lanes of Σa, then lanes of Σa·b
	b = b[:len(a)]
	done := sumDot8(a, b, &acc)
	for i := done; i < len(a); i++ {
		v := float64(a[i])
		acc[i%8] += v
		acc[8+i%8] += v * float64(b[i])
	}
	return combine8(acc[:8]), combine8(acc[8:])
}

// combine8 adds eight lanes pairwise, in the order the assembly leaves them.
func combine8(l []float64) float64 {
	return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

// Normalize sets h[i] = (x[i] − mu)·is and y[i] = h[i]·g + b for
// i < len(x); h may be nil (then only y is written). y and h need
// len(x) elements.
func Normalize(y, h, x []float32, mu, is, g, b float32) {
	y = y[:len(x)]
	if h != nil {
		h = h[:len(x)]
	}
	done := normalize8(y, h, x, mu, is, g, b)
	for i := done; i < len(x); i++ {
		v := float32(x[i]-mu) * is
		if h != nil {
			h[i] = v
		}
		y[i] = float32(v*g) + b
	}
}

// BNInputGrad sets dx[i] = ((dy[i] − m1) − h[i]·m2)·k for i < len(dy):
// BatchNorm's input gradient, k = γ/σ, m1 = mean of dy, m2 = mean of
// dy·x̂, h = x̂. dx and h need len(dy) elements.
func BNInputGrad(dx, dy, h []float32, k, m1, m2 float32) {
	dx = dx[:len(dy)]
	h = h[:len(dy)]
	done := bnInputGrad8(dx, dy, h, k, m1, m2)
	for i := done; i < len(dy); i++ {
		dx[i] = (float32(dy[i]-m1) - float32(h[i]*m2)) * k
	}
}

// ReLU sets y[i] = max(x[i], 0) for i < len(x), as Go's max does: a NaN
// stays NaN and −0 becomes +0. y needs len(x) elements.
func ReLU(y, x []float32) {
	y = y[:len(x)]
	done := relu8(y, x)
	for i := done; i < len(x); i++ {
		y[i] = max(x[i], 0)
	}
}

// ReLUMask sets dx[i] = dy[i] where the bits of y[i] are not zero (y is
// a ReLU output: positive or NaN), else +0, for i < len(y). dx and dy
// need len(y) elements.
func ReLUMask(dx, y, dy []float32) {
	dx = dx[:len(y)]
	dy = dy[:len(y)]
	done := reluMask8(dx, y, dy)
	for i := done; i < len(y); i++ {
		if math.Float32bits(y[i]) == 0 {
			dx[i] = 0
		} else {
			dx[i] = dy[i]
		}
	}
}

// Add sets dst[i] += src[i] for i < len(dst). src needs len(dst) elements.
func Add(dst, src []float32) {
	src = src[:len(dst)]
	done := add8(dst, src)
	for i := done; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// Fill sets every element of dst to v.
func Fill(dst []float32, v float32) {
	done := fill8(dst, v)
	for i := done; i < len(dst); i++ {
		dst[i] = v
	}
}

// Sum returns the sum of x in float32, kept in eight lanes (element i in
// lane i mod 8, each summed in order) combined in a fixed order.
func Sum(x []float32) float32 {
	var l [8]float32
	done := sum8(x, &l)
	for i := done; i < len(x); i++ {
		l[i%8] += x[i]
	}
	return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}
