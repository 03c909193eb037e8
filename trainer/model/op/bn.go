package op

import (
	"fmt"
	"math"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnOp is batch normalisation (Ioffe & Szegedy 2015) over axis 1 of a
// 4-d (N, C, H, W) or 2-d (N, C) input, with the scale γ and shift β
// (shaped (1, C, 1, 1) or (1, C)) fused in: y = γ·x̂ + β. It replaces
// gorgonia's BatchNormOp, which starts a goroutine per channel, clones its
// output every run and applies γ and β through Repeat-based broadcasts.
//
// In training mode x̂ = (x − μ)/√(σ² + ε) with the batch mean μ and biased
// variance σ² of every channel over (N, H, W), and the running statistics
// are updated as PyTorch does: r ← (1 − m)·r + m·s with momentum m, the
// unbiased batch variance for the running variance. The backward pass
// (bnParamGradOp, bnInputGradOp) uses the x̂ and 1/√(σ² + ε) the forward
// pass kept:
//
//	dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/√(σ² + ε) · (dy − dβ/n − x̂·dγ/n)
//
// with n = N·H·W. In evaluation mode the running statistics take the
// place of the batch's and are not changed; the op has no gradient then.
// Statistics and sums are computed in float64 and stored in the graph's
// dtype. Per channel everything is sequential: no goroutines.
type bnOp struct {
	base
	dt                tensor.Dtype
	team              *parallel.Team
	train             bool
	momentum, epsilon float64
	shape             tensor.Shape // of x
	pShape            tensor.Shape // of γ and β
	n, c, inner       int          // samples, channels, values per sample and channel

	y                *tensor.Dense // the output
	runMean, runVar  *tensor.Dense // running statistics (C), the model's buffers
	xhat             *tensor.Dense // training: x̂ of the last forward pass, never returned
	invStd           []float64     // training: 1/√(σ² + ε) of the last forward pass
	mean, scale, acc []float64     // forward scratch (C)
	sumDy, sumDyXhat []float64     // backward: Σ dy and Σ dy·x̂ per channel
	partial          []float64     // training: two sums per sample and channel (N·C·2)
}

// BatchNorm applies batch normalisation over axis 1 of x, (N, C, H, W)
// or (N, C), with the scale gamma and the shift beta, (1, C, 1, 1) or (1,
// C), one op (see bnOp): in training (train) with the batch's statistics,
// moving the running statistics towards them by momentum, else with the
// running statistics; eps is ε. mean and variance are the running
// statistics, (C) tensors (initially 0 and 1) that the op reads and in
// training writes in place: the model's buffers.
func BatchNorm(cfg Config, x, gamma, beta *G.Node, train bool, momentum, eps float64) (y *G.Node, mean, variance *tensor.Dense, err error) {
	op, err := newBNOp(cfg, x.Dtype(), x.Shape(), train, momentum, eps)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, p := range []*G.Node{gamma, beta} {
		if !p.Shape().Eq(op.pShape) || p.Dtype() != op.dt {
			return nil, nil, nil, buildErrorf("%s: γ or β %v of %v, want %v of %v", op.name, p.Shape(), p.Dtype(), op.pShape, op.dt)
		}
	}
	if y, err = G.ApplyOp(op, x, gamma, beta); err != nil {
		return nil, nil, nil, err
	}
	return y, op.runMean, op.runVar, nil
}

// newBNOp returns a batch normalisation op for inputs of shape x and dtype
// dt, running statistics 0 and 1.
func newBNOp(cfg Config, dt tensor.Dtype, x tensor.Shape, train bool, momentum, eps float64) (*bnOp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var pShape tensor.Shape
	switch x.Dims() {
	case 2:
		pShape = tensor.Shape{1, x[1]}
	case 4:
		pShape = tensor.Shape{1, x[1], 1, 1}
	default:
		return nil, buildErrorf("BatchNorm needs a 2-d or 4-d input, got %v", x)
	}
	if err := checkDtype("BatchNorm", dt); err != nil {
		return nil, err
	}
	mode := "eval"
	if train {
		mode = "train"
	}
	c := x[1]
	op := &bnOp{
		base: newBase(fmt.Sprintf("batchnorm%v(%s, ε %g)", x, mode, eps), 3, x),
		dt:   dt, team: cfg.Team, train: train, momentum: momentum, epsilon: eps,
		shape: x.Clone(), pShape: pShape,
		n: x[0], c: c, inner: x.TotalSize() / (x[0] * c),
		y:       newBuffer(dt, x...),
		runMean: newBuffer(dt, c),
		runVar:  newBuffer(dt, c),
		mean:    make([]float64, c),
		scale:   make([]float64, c),
		acc:     make([]float64, c),
	}
	if err := op.runVar.Memset(one(dt)); err != nil {
		return nil, buildErrorf("BatchNorm: %v", err)
	}
	if train {
		op.xhat = newBuffer(dt, x...)
		op.invStd = make([]float64, c)
		op.sumDy = make([]float64, c)
		op.sumDyXhat = make([]float64, c)
		op.partial = make([]float64, 2*x[0]*c)
	}
	return op, nil
}

// one returns 1 as a value of dt (float32 or float64).
func one(dt tensor.Dtype) any {
	if dt == tensor.Float64 {
		return 1.0
	}
	return float32(1)
}

// Do normalises x (inputs x, γ, β) into the op's buffer.
func (op *bnOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = bnForward[float32](op, in[0], in[1], in[2])
	} else {
		err = bnForward[float64](op, in[0], in[1], in[2])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

func bnForward[T float](op *bnOp, xv, gv, bv G.Value) error {
	x, err := input[T](op, "x", xv, op.shape.TotalSize())
	if err != nil {
		return err
	}
	gamma, err := input[T](op, "γ", gv, op.c)
	if err != nil {
		return err
	}
	beta, err := input[T](op, "β", bv, op.c)
	if err != nil {
		return err
	}
	y := data[T](op.y)
	rm, rv := data[T](op.runMean), data[T](op.runVar)
	if !op.train {
		if x32, ok := any(x).([]float32); ok && op.inner > 1 {
			// y = (x − r)·(1/√(r² + ε))·γ + β, sample by sample.
			y32, is := any(y).([]float32), op.scale
			for c := range is {
				is[c] = 1 / math.Sqrt(float64(rv[c])+op.epsilon)
			}
			op.team.For(op.team.ElemWorkers(op.n, len(x32)), op.n, func(_, n int) {
				for c := range op.c {
					off := (n*op.c + c) * op.inner
					simd.Normalize(y32[off:off+op.inner], nil, x32[off:off+op.inner], float32(rm[c]), float32(is[c]), float32(gamma[c]), float32(beta[c]))
				}
			})
			return nil
		}
		// y = x·a + b with a = γ/√(r² + ε), b = β − r·a.
		a, b := op.scale, op.mean
		for c := range a {
			a[c] = float64(gamma[c]) / math.Sqrt(float64(rv[c])+op.epsilon)
			b[c] = float64(beta[c]) - float64(rm[c])*a[c]
		}
		bnAffine(op, x, y, a, b)
		return nil
	}
	if x32, ok := any(x).([]float32); ok && op.inner > 1 {
		bnTrain32(op, x32, data[float32](op.xhat), any(y).([]float32), any(gamma).([]float32), any(beta).([]float32), any(rm).([]float32), any(rv).([]float32))
		return nil
	}
	// Batch mean and biased variance (two passes), per channel.
	n := float64(op.n * op.inner)
	bnChannelSums(op, x, op.mean)
	for c := range op.mean {
		op.mean[c] /= n
	}
	if op.inner == 1 {
		clear(op.acc)
		for r := 0; r < len(x); r += op.c {
			for c, v := range x[r : r+op.c] {
				d := float64(v) - op.mean[c]
				op.acc[c] += d * d
			}
		}
	} else {
		clear(op.acc)
		for off, i := 0, 0; off < len(x); off, i = off+op.inner, i+1 {
			c := i % op.c
			op.acc[c] += sumSqDev(x[off:off+op.inner], op.mean[c])
		}
	}
	bnRunningStats(op, rm, rv)
	// x̂ and y = γ·x̂ + β in one pass.
	xhat := data[T](op.xhat)
	if op.inner == 1 {
		for r := 0; r < len(x); r += op.c {
			for c, v := range x[r : r+op.c] {
				h := (float64(v) - op.mean[c]) * op.invStd[c]
				xhat[r+c] = T(h)
				y[r+c] = T(float64(gamma[c])*h + float64(beta[c]))
			}
		}
		return nil
	}
	for off, i := 0, 0; off < len(x); off, i = off+op.inner, i+1 {
		c := i % op.c
		mu, is, g, b := op.mean[c], op.invStd[c], float64(gamma[c]), float64(beta[c])
		xs, hs, ys := x[off:off+op.inner], xhat[off:off+op.inner], y[off:off+op.inner]
		for j, v := range xs {
			h := (float64(v) - mu) * is
			hs[j] = T(h)
			ys[j] = T(g*h + b)
		}
	}
	return nil
}

// bnTrain32 is bnForward's training pass for float32 planes (inner > 1)
// on the simd kernels, sample by sample (over the cores when large, as
// the convolutions before split the batch, so each core reads the planes
// it wrote): one pass for Σx and Σx² per plane (in float64, so the
// variance E[x²] − mean² keeps ~15 digits for any realistic ratio of mean
// to spread), the channels' sums over the samples in order, then x̂ and y.
// The sums do not depend on the number of cores.
func bnTrain32(op *bnOp, x, xhat, y, gamma, beta, rm, rv []float32) {
	bnSumDots(op, x, x, op.mean, op.acc)
	n := float64(op.n * op.inner)
	for c := range op.c {
		mean := op.mean[c] / n
		op.mean[c] = mean
		// Σ(x − mean)² = Σx² − n·mean², never below 0.
		op.acc[c] = max(0, op.acc[c]-n*mean*mean)
		bnChannelStats(op, c, rm, rv)
	}
	op.team.For(op.team.ElemWorkers(op.n, len(x)), op.n, func(_, n int) {
		for c := range op.c {
			off := (n*op.c + c) * op.inner
			simd.Normalize(y[off:off+op.inner], xhat[off:off+op.inner], x[off:off+op.inner],
				float32(op.mean[c]), float32(op.invStd[c]), gamma[c], beta[c])
		}
	})
}

// bnSumDots sets sa[c] = Σ a and sab[c] = Σ a·b over channel c's planes
// of a and b (float32, inner > 1): each plane's sums on the core that
// holds its sample (over the cores when large), then each channel's over
// the samples in order, so the sums do not depend on the number of cores.
func bnSumDots(op *bnOp, a, b []float32, sa, sab []float64) {
	part := op.partial
	op.team.For(op.team.ElemWorkers(op.n, len(a)), op.n, func(_, n int) {
		for c := range op.c {
			off := (n*op.c + c) * op.inner
			part[2*(n*op.c+c)], part[2*(n*op.c+c)+1] = simd.SumDot(a[off:off+op.inner], b[off:off+op.inner])
		}
	})
	clear(sa)
	clear(sab)
	for c := range op.c {
		for n := range op.n {
			sa[c] += part[2*(n*op.c+c)]
			sab[c] += part[2*(n*op.c+c)+1]
		}
	}
}

// bnRunningStats sets 1/σ per channel from op.mean and op.acc (the sums
// of squared deviations) and moves the running statistics towards the
// batch's.
func bnRunningStats[T float](op *bnOp, rm, rv []T) {
	for c := range op.acc {
		bnChannelStats(op, c, rm, rv)
	}
}

// bnChannelStats is bnRunningStats for channel c.
func bnChannelStats[T float](op *bnOp, c int, rm, rv []T) {
	n := float64(op.n * op.inner)
	m := op.momentum
	ss := op.acc[c]
	v := ss / n
	op.invStd[c] = 1 / math.Sqrt(v+op.epsilon)
	unbiased := v // n = 1: no unbiased estimate (PyTorch refuses); keep the biased one
	if n > 1 {
		unbiased = ss / (n - 1)
	}
	rm[c] = T((1-m)*float64(rm[c]) + m*op.mean[c])
	rv[c] = T((1-m)*float64(rv[c]) + m*unbiased)
}

// bnChannelSums sets sum[c] to the sum of channel c's values of x.
func bnChannelSums[T float](op *bnOp, x []T, sum []float64) {
	clear(sum)
	if op.inner == 1 {
		for r := 0; r < len(x); r += op.c {
			for c, v := range x[r : r+op.c] {
				sum[c] += float64(v)
			}
		}
		return
	}
	for off, i := 0, 0; off < len(x); off, i = off+op.inner, i+1 {
		sum[i%op.c] += sum64(x[off : off+op.inner])
	}
}

// sumSqDev returns Σ (x − mu)² in float64.
func sumSqDev[T float](x []T, mu float64) float64 {
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := float64(x[i])-mu, float64(x[i+1])-mu
		s0 += d0 * d0
		s1 += d1 * d1
	}
	if i < len(x) {
		d := float64(x[i]) - mu
		s0 += d * d
	}
	return s0 + s1
}

// bnAffine sets y = x·a[c] + b[c] per channel c.
func bnAffine[T float](op *bnOp, x, y []T, a, b []float64) {
	if op.inner == 1 {
		for r := 0; r < len(x); r += op.c {
			for c, v := range x[r : r+op.c] {
				y[r+c] = T(float64(v)*a[c] + b[c])
			}
		}
		return
	}
	for off, i := 0, 0; off < len(x); off, i = off+op.inner, i+1 {
		c := i % op.c
		ac, bc := a[c], b[c]
		xs, ys := x[off:off+op.inner], y[off:off+op.inner]
		for j, v := range xs {
			ys[j] = T(float64(v)*ac + bc)
		}
	}
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

// SymDiff returns the gradients of x, γ and β: dγ = bnParamGradOp(dy)
// also sums dy for dβ = bnParamGradOp(dy, dγ), and dx =
// bnInputGradOp(γ, dy, dγ, dβ) uses both sums; taking dγ and dβ as inputs
// orders the three ops.
func (op *bnOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	if !op.train {
		return nil, buildErrorf("%s: no gradient in evaluation mode", op.name)
	}
	dg, err := G.ApplyOp(newBNParamGradOp(op, false), grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(newBNParamGradOp(op, true), grad, dg)
	if err != nil {
		return nil, err
	}
	dop := &bnInputGradOp{
		base: newBase(fmt.Sprintf("batchnorm.dx%v", op.shape), 4, op.shape),
		bn:   op, dx: newBuffer(op.dt, op.shape...), k: make([]float64, op.c), m1: make([]float64, op.c), m2: make([]float64, op.c),
	}
	dx, err := G.ApplyOp(dop, inputs[1], grad, dg, db)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dg, db}, nil
}

// bnParamGradOp is the gradient of γ (inputs dy; it computes Σ dy and
// Σ dy·x̂ for the other two) or of β (inputs dy, dγ; it copies Σ dy).
type bnParamGradOp struct {
	base
	bn   *bnOp
	beta bool
	out  *tensor.Dense // the output, shaped like γ
}

// newBNParamGradOp returns the gradient op of γ, or with beta of β.
func newBNParamGradOp(bn *bnOp, beta bool) *bnParamGradOp {
	name, arity := "batchnorm.dγ", 1
	if beta {
		name, arity = "batchnorm.dβ", 2
	}
	b := newBase(name, arity, bn.pShape)
	b.typ = fnType(arity, bn.shape.Dims())
	return &bnParamGradOp{base: b, bn: bn, beta: beta, out: newBuffer(bn.dt, bn.pShape...)}
}

// Do computes dγ (and the sums) or dβ into the op's buffer.
func (op *bnParamGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	src := op.bn.sumDyXhat
	if op.beta {
		src = op.bn.sumDy
	} else {
		var err error
		if op.bn.dt == tensor.Float32 {
			err = bnSums[float32](op, in[0])
		} else {
			err = bnSums[float64](op, in[0])
		}
		if err != nil {
			return nil, err
		}
	}
	if op.bn.dt == tensor.Float32 {
		storeFloats(op.out.Float32s(), src)
	} else {
		copy(op.out.Float64s(), src)
	}
	return asShape(op.out, op.bn.pShape), nil
}

// storeFloats sets dst[i] = src[i].
func storeFloats[T float](dst []T, src []float64) {
	for i, v := range src[:len(dst)] {
		dst[i] = T(v)
	}
}

// bnSums sets the per-channel Σ dy and Σ dy·x̂ of g's BatchNorm.
func bnSums[T float](g *bnParamGradOp, dyv G.Value) error {
	op := g.bn
	dy, err := input[T](g, "dy", dyv, op.shape.TotalSize())
	if err != nil {
		return err
	}
	xhat := data[T](op.xhat)
	s, sh := op.sumDy, op.sumDyXhat
	clear(s)
	clear(sh)
	if op.inner == 1 {
		for r := 0; r < len(dy); r += op.c {
			hs := xhat[r : r+op.c]
			for c, v := range dy[r : r+op.c] {
				s[c] += float64(v)
				sh[c] += float64(v) * float64(hs[c])
			}
		}
		return nil
	}
	if dy32, ok := any(dy).([]float32); ok {
		h32 := any(xhat).([]float32)
		bnSumDots(op, dy32, h32, s, sh)
		return nil
	}
	for off, i := 0, 0; off < len(dy); off, i = off+op.inner, i+1 {
		c := i % op.c
		var a, b float64
		hs := xhat[off : off+op.inner]
		for j, v := range dy[off : off+op.inner] {
			a += float64(v)
			b += float64(v) * float64(hs[j])
		}
		s[c] += a
		sh[c] += b
	}
	return nil
}

// bnInputGradOp is the gradient of a training bnOp's input x; its inputs
// are γ, dy, dγ and dβ (the last two only order it after the sums).
type bnInputGradOp struct {
	base
	bn        *bnOp
	dx        *tensor.Dense // the output
	k, m1, m2 []float64     // scratch (C): γ/σ, Σdy/n, Σdy·x̂/n
}

// Do computes dx into the op's buffer.
func (op *bnInputGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.bn.dt == tensor.Float32 {
		err = bnInputGrad[float32](op, in[0], in[1])
	} else {
		err = bnInputGrad[float64](op, in[0], in[1])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dx, op.bn.shape), nil
}

func bnInputGrad[T float](op *bnInputGradOp, gv, dyv G.Value) error {
	bn := op.bn
	gamma, err := input[T](op, "γ", gv, bn.c)
	if err != nil {
		return err
	}
	dy, err := input[T](op, "dy", dyv, bn.shape.TotalSize())
	if err != nil {
		return err
	}
	// dx = k·(dy − m1 − x̂·m2), k = γ/σ, m1 = Σdy/n, m2 = Σdy·x̂/n.
	n := float64(bn.n * bn.inner)
	k, m1, m2 := op.k, op.m1, op.m2
	for c := range k {
		k[c] = float64(gamma[c]) * bn.invStd[c]
		m1[c] = bn.sumDy[c] / n
		m2[c] = bn.sumDyXhat[c] / n
	}
	xhat, dx := data[T](bn.xhat), data[T](op.dx)
	if bn.inner == 1 {
		for r := 0; r < len(dy); r += bn.c {
			hs := xhat[r : r+bn.c]
			for c, v := range dy[r : r+bn.c] {
				dx[r+c] = T(k[c] * (float64(v) - m1[c] - float64(hs[c])*m2[c]))
			}
		}
		return nil
	}
	if dy32, ok := any(dy).([]float32); ok {
		h32, dx32 := any(xhat).([]float32), any(dx).([]float32)
		bn.team.For(bn.team.ElemWorkers(bn.n, len(dy)), bn.n, func(_, n int) {
			for c := range bn.c {
				off := (n*bn.c + c) * bn.inner
				simd.BNInputGrad(dx32[off:off+bn.inner], dy32[off:off+bn.inner], h32[off:off+bn.inner],
					float32(k[c]), float32(m1[c]), float32(m2[c]))
			}
		})
		return nil
	}
	for off, i := 0, 0; off < len(dy); off, i = off+bn.inner, i+1 {
		c := i % bn.c
		kc, a, b := k[c], m1[c], m2[c]
		hs, ds := xhat[off:off+bn.inner], dx[off:off+bn.inner]
		for j, v := range dy[off : off+bn.inner] {
			ds[j] = T(kc * (float64(v) - a - float64(hs[j])*b))
		}
	}
	return nil
}
