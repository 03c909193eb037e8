package simd

// SGD update kernels on float32, AVX2 where the CPU has it, with the same
// float32 operations in the same order as their Go loops (no fused
// multiply-adds), so the results are the same bits.

// SGDStep sets p[i] -= lr·g[i] for i < len(p). g needs len(p) elements.
func SGDStep(p, g []float32, lr float32) {
	g = g[:len(p)]
	done := sgdStep8(p, g, lr)
	for i := done; i < len(p); i++ {
		p[i] -= float32(lr * g[i])
	}
}

// SGDMomentum sets b[i] = m·b[i] + g[i] and then p[i] -= lr·b[i] for
// i < len(p): PyTorch's SGD with momentum, no dampening or weight decay.
// b and g need len(p) elements.
func SGDMomentum(p, b, g []float32, lr, m float32) {
	b = b[:len(p)]
	g = g[:len(p)]
	done := sgdMomentum8(p, b, g, lr, m)
	for i := done; i < len(p); i++ {
		b[i] = float32(m*b[i]) + g[i]
		p[i] -= float32(lr * b[i])
	}
}
