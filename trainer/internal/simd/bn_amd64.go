//go:build amd64 && !purego

package simd

//go:noescape
func sumDotAVX2(n int, a, b *float32, acc *[16]float64)

//go:noescape
func normalizeAVX2(n int, y, h, x *float32, mu, is, gamma, beta float32)

//go:noescape
func bnInputGradAVX2(n int, dx, dy, h *float32, k, m1, m2 float32)

//go:noescape
func reluAVX2(n int, y, x *float32)

//go:noescape
func reluMaskAVX2(n int, dx, y, dy *float32)

// The …8 functions do the first len &^ 7 elements with AVX2 when the CPU
// has it and return how many they did; the callers do the rest in Go.
// Lengths are checked by the callers.

// avx2Len returns how many of n elements the AVX2 kernels take: n &^ 7,
// or 0 without AVX2.
func avx2Len(n int) int {
	if !hasAVX2 {
		return 0
	}
	return n &^ 7
}

func sumDot8(a, b []float32, acc *[16]float64) int {
	n := avx2Len(len(a))
	if n > 0 {
		sumDotAVX2(n, &a[0], &b[0], acc)
	}
	return n
}

func normalize8(y, h, x []float32, mu, is, g, b float32) int {
	n := avx2Len(len(x))
	if n > 0 {
		var hp *float32
		if h != nil {
			hp = &h[0]
		}
		normalizeAVX2(n, &y[0], hp, &x[0], mu, is, g, b)
	}
	return n
}

func bnInputGrad8(dx, dy, h []float32, k, m1, m2 float32) int {
	n := avx2Len(len(dy))
	if n > 0 {
		bnInputGradAVX2(n, &dx[0], &dy[0], &h[0], k, m1, m2)
	}
	return n
}

func relu8(y, x []float32) int {
	n := avx2Len(len(x))
	if n > 0 {
		reluAVX2(n, &y[0], &x[0])
	}
	return n
}

func reluMask8(dx, y, dy []float32) int {
	n := avx2Len(len(y))
	if n > 0 {
		reluMaskAVX2(n, &dx[0], &y[0], &dy[0])
	}
	return n
}

//go:noescape
func sgdStepAVX2(n int, p, grad *float32, rate float32)

//go:noescape
func sgdMomentumAVX2(n int, p, b, grad *float32, rate, m float32)

func sgdStep8(p, g []float32, lr float32) int {
	n := avx2Len(len(p))
	if n > 0 {
		sgdStepAVX2(n, &p[0], &g[0], lr)
	}
	return n
}

func sgdMomentum8(p, b, g []float32, lr, m float32) int {
	n := avx2Len(len(p))
	if n > 0 {
		sgdMomentumAVX2(n, &p[0], &b[0], &g[0], lr, m)
	}
	return n
}

//go:noescape
func addAVX2(n int, dst, src *float32)

//go:noescape
func sumAVX2(n int, x *float32, lanes *[8]float32)

//go:noescape
func fillAVX2(n int, dst *float32, v float32)

func fill8(dst []float32, v float32) int {
	n := avx2Len(len(dst))
	if n > 0 {
		fillAVX2(n, &dst[0], v)
	}
	return n
}

func add8(dst, src []float32) int {
	n := avx2Len(len(dst))
	if n > 0 {
		addAVX2(n, &dst[0], &src[0])
	}
	return n
}

func sum8(x []float32, lanes *[8]float32) int {
	n := avx2Len(len(x))
	if n > 0 {
		sumAVX2(n, &x[0], lanes)
	}
	return n
}
