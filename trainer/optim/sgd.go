package optim

import "github.com/fltk-go/fltk/trainer/internal/simd"

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay, with exactly PyTorch's torch.optim.SGD
// semantics at dampening 0:
//
//	g = grad + weightDecay·p
//	buf = g                      (first step)
//	buf = momentum·buf + g       (later steps)
//	g = g + momentum·buf         (Nesterov) or g = buf
//	p = p − lr·g
//
// Arithmetic is float32, as PyTorch's on float32 tensors. An SGD is not
// safe for concurrent use.
type SGD struct {
	lr, momentum, weightDecay float64
	nesterov                  bool
	buf                       [][]float32 // momentum buffers; nil before the first Step
}

// NewSGD returns an SGD optimizer. Arguments are not checked; use [New]
// for validation.
func NewSGD(lr, momentum, weightDecay float64, nesterov bool) *SGD {
	return &SGD{lr: lr, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov}
}

// LR returns the learning rate.
func (s *SGD) LR() float64 { return s.lr }

// SetLR sets the learning rate.
func (s *SGD) SetLR(lr float64) { s.lr = lr }

// Reset drops the momentum buffers: the next Step is a first step.
func (s *SGD) Reset() { s.buf = nil }

// Step applies one SGD update in place. It panics if params and grads
// differ in shape, or differ from the momentum buffers' shapes.
func (s *SGD) Step(params, grads [][]float32) {
	checkShapes(params, grads)
	lr, wd := float32(s.lr), float32(s.weightDecay)
	if s.momentum == 0 {
		for i, p := range params {
			g := grads[i][:len(p)]
			if wd == 0 {
				simd.SGDStep(p, g, lr)
				continue
			}
			for j := range p {
				p[j] -= lr * (g[j] + wd*p[j])
			}
		}
		return
	}
	first := s.buf == nil
	s.buf = state(s.buf, params)
	m := float32(s.momentum)
	for i, p := range params {
		g, b := grads[i][:len(p)], s.buf[i][:len(p)]
		switch {
		case first:
			for j := range p {
				d := g[j]
				if wd != 0 {
					d += wd * p[j]
				}
				b[j] = d
				if s.nesterov {
					d += m * d
				}
				p[j] -= lr * d
			}
		case s.nesterov && wd == 0:
			for j := range p {
				d := g[j]
				b[j] = m*b[j] + d
				p[j] -= lr * (d + m*b[j])
			}
		case s.nesterov:
			for j := range p {
				d := g[j] + wd*p[j]
				b[j] = m*b[j] + d
				p[j] -= lr * (d + m*b[j])
			}
		case wd == 0:
			simd.SGDMomentum(p, b, g, lr, m)
		default:
			for j := range p {
				b[j] = m*b[j] + (g[j] + wd*p[j])
				p[j] -= lr * b[j]
			}
		}
	}
}
