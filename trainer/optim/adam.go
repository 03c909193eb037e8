package optim

import "math"

// Adam is Kingma and Ba's Adam with PyTorch's torch.optim.Adam semantics
// (amsgrad off): L2 weight decay added to the gradient, bias-corrected
// moments, eps added after the bias-corrected square root:
//
//	g = grad + weightDecay·p
//	m = lerp(m, g, 1−β1);  v = β2·v + (1−β2)·g²
//	p = p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
//
// Arithmetic is float32 except the per-step scalars. An Adam is not safe
// for concurrent use.
type Adam struct {
	lr, beta1, beta2, eps, weightDecay float64
	t                                  int         // steps taken
	m, v                               [][]float32 // moments; nil before the first Step
}

// NewAdam returns an Adam optimizer. Arguments are not checked; use [New]
// for validation and defaults.
func NewAdam(lr, beta1, beta2, eps, weightDecay float64) *Adam {
	return &Adam{lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay}
}

// LR returns the learning rate.
func (a *Adam) LR() float64 { return a.lr }

// SetLR sets the learning rate.
func (a *Adam) SetLR(lr float64) { a.lr = lr }

// Reset drops the moments and the step count.
func (a *Adam) Reset() { a.m, a.v, a.t = nil, nil, 0 }

// Step applies one Adam update in place. It panics if params and grads
// differ in shape, or differ from the moments' shapes.
func (a *Adam) Step(params, grads [][]float32) {
	checkShapes(params, grads)
	a.m = state(a.m, params)
	a.v = state(a.v, params)
	a.t++
	bc1 := 1 - math.Pow(a.beta1, float64(a.t))
	bc2 := 1 - math.Pow(a.beta2, float64(a.t))
	step := float32(a.lr / bc1)
	sq := float32(math.Sqrt(bc2))
	wd, eps := float32(a.weightDecay), float32(a.eps)
	w1 := float32(1 - a.beta1)
	b2, w2 := float32(a.beta2), float32(1-a.beta2)
	low := w1 < 0.5 // torch.lerp's two formulas
	for i, p := range params {
		g, m, v := grads[i][:len(p)], a.m[i][:len(p)], a.v[i][:len(p)]
		if wd == 0 && low { // the common case, without branches
			for j := range p {
				d := g[j]
				m[j] += w1 * (d - m[j])
				v[j] = b2*v[j] + w2*d*d
				den := float32(math.Sqrt(float64(v[j])))/sq + eps
				p[j] -= step * (m[j] / den)
			}
			continue
		}
		for j := range p {
			d := g[j]
			if wd != 0 {
				d += wd * p[j]
			}
			if low {
				m[j] += w1 * (d - m[j])
			} else {
				m[j] = d - (d-m[j])*(1-w1)
			}
			v[j] = b2*v[j] + w2*d*d
			den := float32(math.Sqrt(float64(v[j])))/sq + eps
			p[j] -= step * (m[j] / den)
		}
	}
}
