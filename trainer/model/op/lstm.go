package op

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lstmOp is a whole one-layer LSTM unrolled over T steps in one op.
// Inputs: xs (T·N, in), time-major (rows t·N … t·N+N−1 are step t), Wx
// (in, 4H), Wh (H, 4H), b (1, 4H). Output: (N·T, H), sample-major (row
// n·T+t is h_t of sample n). Gates in the order input, forget, cell,
// output:
//
//	z_t = x_t·Wx + b + h_{t−1}·Wh
//	i = σ(z[0:H]), f = σ(z[H:2H]), g = tanh(z[2H:3H]), o = σ(z[3H:4H])
//	c_t = f·c_{t−1} + i·g,  h_t = o·tanh(c_t),  h_{−1} = c_{−1} = 0
//
// All steps' input products are one gemm; each step adds one N×H by H×4H
// product and the gates. The op keeps the gate activations, the cells and
// their tanh for the backward pass: lstmGradOp (inputs Wh, dy) runs
// backpropagation through time into dZ (T·N, 4H), the gradient of the
// pre-activations, from which the parameter gradients are products:
// dWx = xsᵀ·dZ and dxs = dZ·Wxᵀ (linearGradOp), db = Σ rows of dZ
// (biasGradOp), dWh = Σ_t h_{t−1}ᵀ·dZ_t (lstmWhGradOp, one product of the
// stacked h_0 … h_{T−2} with dZ's rows from step 1 on).
//
// gorgonia's generic version of the same graph (lstmGorgonia in the
// tests) has about 20 nodes per step, each allocating its output.
type lstmOp struct {
	base
	dt                   tensor.Dtype
	steps, n, in, hidden int
	needDX               bool
	y                    *tensor.Dense // the output (N·T, H)
	a                    *tensor.Dense // (T·N, 4H): pre-activations, then the gates
	c, tc, h             *tensor.Dense // (T·N, H): cells, tanh of the cells, outputs
}

// LSTM applies a one-layer LSTM unrolled over steps to xs (steps·N, in),
// time-major, with the weights wx (in, 4H) and wh (H, 4H) and the bias b
// (1, 4H), one op (see lstmOp); its output is (N·steps, H),
// sample-major. needDX says whether the gradient with respect to xs is
// wanted.
func LSTM(xs, wx, wh, b *G.Node, steps int, needDX bool) (*G.Node, error) {
	for _, n := range []*G.Node{wx, wh, b} {
		if n.Dtype() != xs.Dtype() {
			return nil, buildErrorf("LSTM of %v values with %v weights", xs.Dtype(), n.Dtype())
		}
	}
	op, err := newLSTMOp(xs.Dtype(), xs.Shape(), wx.Shape(), wh.Shape(), b.Shape(), steps, needDX)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(op, xs, wx, wh, b)
}

// newLSTMOp returns the LSTM op of the given shapes.
func newLSTMOp(dt tensor.Dtype, xs, wx, wh, b tensor.Shape, steps int, needDX bool) (*lstmOp, error) {
	if err := checkDtype("LSTM", dt); err != nil {
		return nil, err
	}
	if xs.Dims() != 2 || wx.Dims() != 2 || wh.Dims() != 2 || b.Dims() != 2 || steps < 1 || xs[0]%steps != 0 {
		return nil, buildErrorf("LSTM of %d steps: input %v, Wx %v, Wh %v", steps, xs, wx, wh)
	}
	n, in, h := xs[0]/steps, xs[1], wh[0]
	if !wx.Eq(tensor.Shape{in, 4 * h}) || !wh.Eq(tensor.Shape{h, 4 * h}) || !b.Eq(tensor.Shape{1, 4 * h}) {
		return nil, buildErrorf("LSTM: input %v, Wx %v, Wh %v, bias %v do not fit", xs, wx, wh, b)
	}
	rows := steps * n
	return &lstmOp{
		base: newBase(fmt.Sprintf("lstm(T %d, N %d, %d→%d)", steps, n, in, h), 4, tensor.Shape{rows, h}),
		dt:   dt, steps: steps, n: n, in: in, hidden: h, needDX: needDX,
		y: newBuffer(dt, rows, h), a: newBuffer(dt, rows, 4*h),
		c: newBuffer(dt, rows, h), tc: newBuffer(dt, rows, h), h: newBuffer(dt, rows, h),
	}, nil
}

// Do runs the LSTM over every step into the op's buffers.
func (op *lstmOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = lstmForward(op, in, gemm32)
	} else {
		err = lstmForward(op, in, gemm64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func lstmForward[T float](op *lstmOp, in []G.Value, gemm linearGemm[T]) error {
	T4, H, N := 4*op.hidden, op.hidden, op.n
	rows := op.steps * N
	xs, err := input[T](op, "x", in[0], rows*op.in)
	if err != nil {
		return err
	}
	wx, err := input[T](op, "Wx", in[1], op.in*T4)
	if err != nil {
		return err
	}
	wh, err := input[T](op, "Wh", in[2], H*T4)
	if err != nil {
		return err
	}
	b, err := input[T](op, "bias", in[3], T4)
	if err != nil {
		return err
	}
	a, c, tc, h, y := data[T](op.a), data[T](op.c), data[T](op.tc), data[T](op.h), data[T](op.y)
	for r := range rows {
		copy(a[r*T4:(r+1)*T4], b)
	}
	gemm(blas.NoTrans, blas.NoTrans, rows, T4, op.in, 1, xs, op.in, wx, T4, 1, a, T4)
	for t := range op.steps {
		at := a[t*N*T4 : (t+1)*N*T4]
		if t > 0 {
			gemm(blas.NoTrans, blas.NoTrans, N, T4, H, 1, h[(t-1)*N*H:t*N*H], H, wh, T4, 1, at, T4)
		}
		for n := range N {
			z := at[n*T4 : (n+1)*T4]
			r := (t*N + n) * H
			ct, tct, ht := c[r:r+H], tc[r:r+H], h[r:r+H]
			yt := y[(n*op.steps+t)*H : (n*op.steps+t+1)*H]
			var cp []T
			if t > 0 {
				cp = c[r-N*H : r-N*H+H]
			}
			for j := range H {
				i, f := T(sigmoid(float64(z[j]))), T(sigmoid(float64(z[H+j])))
				g, o := T(math.Tanh(float64(z[2*H+j]))), T(sigmoid(float64(z[3*H+j])))
				z[j], z[H+j], z[2*H+j], z[3*H+j] = i, f, g, o
				cv := i * g
				if cp != nil {
					cv += f * cp[j]
				}
				tcv := T(math.Tanh(float64(cv)))
				ct[j], tct[j] = cv, tcv
				ht[j] = o * tcv
				yt[j] = ht[j]
			}
		}
	}
	return nil
}

func (op *lstmOp) DiffWRT(int) []bool { return []bool{op.needDX, true, true, true} }

// SymDiff returns dxs (nil without needDX), dWx, dWh and db.
func (op *lstmOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	H4, rows := 4*op.hidden, op.steps*op.n
	s := tensor.Shape{rows, H4}
	gop := &lstmGradOp{
		base: newBase(fmt.Sprintf("lstm.dZ%v", s), 2, s), lstm: op, dz: newBuffer(op.dt, s...),
		dhNext: newBuffer(op.dt, op.n, op.hidden), dcNext: newBuffer(op.dt, op.n, op.hidden),
	}
	dz, err := G.ApplyOp(gop, inputs[2], grad)
	if err != nil {
		return nil, err
	}
	// dZ is the gradient of a linear layer xs·Wx + b of T·N rows.
	lin := linearShapes(op.dt, rows, op.in, H4)
	dwx, err := G.ApplyOp(newLinearGradOp(lin, false), inputs[0], dz)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(newBiasGradOp(biasShapes(op.dt, s, tensor.Shape{1, H4})), dz)
	if err != nil {
		return nil, err
	}
	ws := tensor.Shape{op.hidden, H4}
	wop := &lstmWhGradOp{base: newBase("lstm.dWh", 1, ws), lstm: op, dwh: newBuffer(op.dt, ws...)}
	wop.typ = fnType(1, 2)
	dwh, err := G.ApplyOp(wop, dz)
	if err != nil {
		return nil, err
	}
	var dxs *G.Node
	if op.needDX {
		if dxs, err = G.ApplyOp(newLinearGradOp(lin, true), inputs[1], dz); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dxs, dwx, dwh, db}, nil
}

// lstmGradOp backpropagates dy (N·T, H) through the steps of its lstmOp
// (inputs Wh, dy) into dZ (T·N, 4H), the gradient of the pre-activations.
type lstmGradOp struct {
	base
	lstm           *lstmOp
	dz             *tensor.Dense // the output
	dhNext, dcNext *tensor.Dense // (N, H): gradients flowing into step t from t+1
}

// Do computes dZ into the op's buffer.
func (op *lstmGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.lstm.dt == tensor.Float32 {
		err = lstmBackward(op, in[0], in[1], gemm32)
	} else {
		err = lstmBackward(op, in[0], in[1], gemm64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dz, op.shape), nil
}

func lstmBackward[T float](op *lstmGradOp, whv, dyv G.Value, gemm linearGemm[T]) error {
	l := op.lstm
	H, H4, N, steps := l.hidden, 4*l.hidden, l.n, l.steps
	wh, err := input[T](op, "Wh", whv, H*H4)
	if err != nil {
		return err
	}
	dy, err := input[T](op, "dy", dyv, steps*N*H)
	if err != nil {
		return err
	}
	a, c, tc := data[T](l.a), data[T](l.c), data[T](l.tc)
	dz, dhNext, dcNext := data[T](op.dz), data[T](op.dhNext), data[T](op.dcNext)
	clear(dhNext)
	clear(dcNext)
	for t := steps - 1; t >= 0; t-- {
		for n := range N {
			r := (t*N + n) * H
			g4 := a[(t*N+n)*H4 : (t*N+n+1)*H4]
			d4 := dz[(t*N+n)*H4 : (t*N+n+1)*H4]
			dyt := dy[(n*steps+t)*H : (n*steps+t+1)*H]
			dhn, dcn := dhNext[n*H:(n+1)*H], dcNext[n*H:(n+1)*H]
			tct := tc[r : r+H]
			var cp []T
			if t > 0 {
				cp = c[r-N*H : r-N*H+H]
			}
			for j := range H {
				i, f, g, o := g4[j], g4[H+j], g4[2*H+j], g4[3*H+j]
				dh := dyt[j] + dhn[j]
				tcv := tct[j]
				dc := dh*o*(1-tcv*tcv) + dcn[j]
				var df T
				if cp != nil {
					df = dc * cp[j]
				}
				dcn[j] = dc * f
				d4[j] = dc * g * i * (1 - i)
				d4[H+j] = df * f * (1 - f)
				d4[2*H+j] = dc * i * (1 - g*g)
				d4[3*H+j] = dh * tcv * o * (1 - o)
			}
		}
		if t > 0 {
			gemm(blas.NoTrans, blas.Trans, N, H, H4, 1, dz[t*N*H4:(t+1)*N*H4], H4, wh, H4, 0, dhNext, H)
		}
	}
	return nil
}

// lstmWhGradOp is dWh = Σ_{t ≥ 1} h_{t−1}ᵀ·dZ_t (input dZ), from the
// outputs its lstmOp kept.
type lstmWhGradOp struct {
	base
	lstm *lstmOp
	dwh  *tensor.Dense
}

// Do computes dWh into the op's buffer.
func (op *lstmWhGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.lstm.dt == tensor.Float32 {
		err = lstmWhBackward(op, in[0], gemm32)
	} else {
		err = lstmWhBackward(op, in[0], gemm64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dwh, op.shape), nil
}

func lstmWhBackward[T float](op *lstmWhGradOp, dzv G.Value, gemm linearGemm[T]) error {
	l := op.lstm
	H, H4, N := l.hidden, 4*l.hidden, l.n
	dz, err := input[T](op, "dZ", dzv, l.steps*N*H4)
	if err != nil {
		return err
	}
	dwh := data[T](op.dwh)
	if l.steps == 1 {
		clear(dwh)
		return nil
	}
	h := data[T](l.h)
	gemm(blas.Trans, blas.NoTrans, H, H4, (l.steps-1)*N, 1, h[:(l.steps-1)*N*H], H, dz[N*H4:], H4, 0, dwh, H4)
	return nil
}
