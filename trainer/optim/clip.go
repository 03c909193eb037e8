package optim

import "math"

// ClipGradNorm scales grads in place so that their global L2 norm (over
// all tensors together) is at most maxNorm, as PyTorch's
// torch.nn.utils.clip_grad_norm_: when the norm exceeds maxNorm every element
// is multiplied by maxNorm/(norm+1e-6). It returns the norm before clipping,
// accumulated in float64. With maxNorm ≤ 0, or a norm that is NaN or infinite,
// grads are left unchanged (the caller can test the returned norm).
func ClipGradNorm(grads [][]float32, maxNorm float64) float64 {
	var sum float64
	for _, g := range grads {
		var part float64 // per tensor, then summed: fewer long-chain rounding errors
		for _, x := range g {
			part += float64(x) * float64(x)
		}
		sum += part
	}
	norm := math.Sqrt(sum)
	if maxNorm <= 0 || norm <= maxNorm || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm
	}
	c := float32(maxNorm / (norm + 1e-6))
	for _, g := range grads {
		for j := range g {
			g[j] *= c
		}
	}
	return norm
}
