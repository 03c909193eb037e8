package model

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
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
// gorgonia's generic version of the same graph (lstmGorgonia, kept for the
// tests) has about 20 nodes per step, each allocating its output.
type lstmOp struct {
	ownedOutput
	dt                   tensor.Dtype
	steps, n, in, hidden int
	needDX               bool
	y                    *tensor.Dense // the output (N·T, H)
	a                    *tensor.Dense // (T·N, 4H): pre-activations, then the gates
	c, tc, h             *tensor.Dense // (T·N, H): cells, tanh of the cells, outputs
	outputShape          tensor.Shape
}

func newLSTMOp(dt tensor.Dtype, xs, wx, wh, b tensor.Shape, steps int, needDX bool) (*lstmOp, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("model: LSTM: dtype %v not supported", dt)
	}
	if xs.Dims() != 2 || wx.Dims() != 2 || wh.Dims() != 2 || b.Dims() != 2 || steps < 1 || xs[0]%steps != 0 {
		return nil, fmt.Errorf("model: LSTM of %d steps: input %v, Wx %v, Wh %v", steps, xs, wx, wh)
	}
	n, in, h := xs[0]/steps, xs[1], wh[0]
	if !wx.Eq(tensor.Shape{in, 4 * h}) || !wh.Eq(tensor.Shape{h, 4 * h}) || !b.Eq(tensor.Shape{1, 4 * h}) {
		return nil, fmt.Errorf("model: LSTM: input %v, Wx %v, Wh %v, bias %v do not fit", xs, wx, wh, b)
	}
	rows := steps * n
	return &lstmOp{
		dt: dt, steps: steps, n: n, in: in, hidden: h, needDX: needDX,
		y: newBuffer(dt, rows, h), a: newBuffer(dt, rows, 4*h),
		c: newBuffer(dt, rows, h), tc: newBuffer(dt, rows, h), h: newBuffer(dt, rows, h),
		outputShape: tensor.Shape{rows, h},
	}, nil
}

func (op *lstmOp) Arity() int { return 4 }
func (op *lstmOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t, t, t, t)
}
func (op *lstmOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.outputShape.Clone(), nil }
func (op *lstmOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "fltk.lstm(%d,%d,%d,%d)@%p", op.steps, op.n, op.in, op.hidden, op)
}
func (op *lstmOp) Hashcode() uint32 { return opHashcode(op) }
func (op *lstmOp) String() string {
	return fmt.Sprintf("fltk.lstm(T %d, N %d, %d→%d)", op.steps, op.n, op.in, op.hidden)
}

// Do runs the LSTM over every step into the op's buffers.
func (op *lstmOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 4 {
		return nil, fmt.Errorf("model: LSTM: %d inputs, want 4", len(in))
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
	return asShape(op.y, op.outputShape), nil
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func lstmForward[T float32 | float64](op *lstmOp, in []G.Value, gemm linearGemm[T]) error {
	T4, H, N := 4*op.hidden, op.hidden, op.n
	rows := op.steps * N
	xs, err := floatsOf[T](in[0], rows*op.in, "LSTM input")
	if err != nil {
		return err
	}
	wx, err := floatsOf[T](in[1], op.in*T4, "LSTM Wx")
	if err != nil {
		return err
	}
	wh, err := floatsOf[T](in[2], H*T4, "LSTM Wh")
	if err != nil {
		return err
	}
	b, err := floatsOf[T](in[3], T4, "LSTM bias")
	if err != nil {
		return err
	}
	a, c, tc, h, y := sliceOf[T](op.a), sliceOf[T](op.c), sliceOf[T](op.tc), sliceOf[T](op.h), sliceOf[T](op.y)
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
	if len(inputs) != 4 {
		return nil, fmt.Errorf("model: LSTM: %d inputs, want 4", len(inputs))
	}
	H4, rows := 4*op.hidden, op.steps*op.n
	gop := &lstmGradOp{lstm: op, dz: newBuffer(op.dt, rows, H4), shape: tensor.Shape{rows, H4}}
	gop.dhNext = newBuffer(op.dt, op.n, op.hidden)
	gop.dcNext = newBuffer(op.dt, op.n, op.hidden)
	dz, err := G.ApplyOp(gop, inputs[2], grad)
	if err != nil {
		return nil, err
	}
	// dZ is the gradient of a linear layer xs·Wx + b of T·N rows.
	lin := &linearOp{dt: op.dt, n: rows, in: op.in, out: H4}
	dwx, err := G.ApplyOp(&linearGradOp{lin: lin, out: newBuffer(op.dt, op.in, H4), shape: tensor.Shape{op.in, H4}}, inputs[0], dz)
	if err != nil {
		return nil, err
	}
	bias := &biasOp{dt: op.dt, xShape: tensor.Shape{rows, H4}, bShape: tensor.Shape{1, H4}, c: H4, inner: 1}
	db, err := G.ApplyOp(newBiasGradOp(bias), dz)
	if err != nil {
		return nil, err
	}
	dwh, err := G.ApplyOp(&lstmWhGradOp{lstm: op, dwh: newBuffer(op.dt, op.hidden, H4)}, dz)
	if err != nil {
		return nil, err
	}
	var dxs *G.Node
	if op.needDX {
		g := &linearGradOp{lin: lin, dx: true, out: newBuffer(op.dt, rows, op.in), shape: tensor.Shape{rows, op.in}}
		if dxs, err = G.ApplyOp(g, inputs[1], dz); err != nil {
			return nil, err
		}
	}
	return G.Nodes{dxs, dwx, dwh, db}, nil
}

// lstmGradOp backpropagates dy (N·T, H) through the steps of its lstmOp
// (inputs Wh, dy) into dZ (T·N, 4H), the gradient of the pre-activations.
type lstmGradOp struct {
	ownedOutput
	lstm           *lstmOp
	dz             *tensor.Dense // the output
	dhNext, dcNext *tensor.Dense // (N, H): gradients flowing into step t from t+1
	shape          tensor.Shape
}

func (op *lstmGradOp) Arity() int { return 2 }
func (op *lstmGradOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t, t)
}
func (op *lstmGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }
func (op *lstmGradOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "fltk.lstmgrad@%p", op) }
func (op *lstmGradOp) Hashcode() uint32                               { return opHashcode(op) }
func (op *lstmGradOp) String() string                                 { return fmt.Sprintf("fltk.lstm.dZ%v", op.shape) }

// Do computes dZ into the op's buffer.
func (op *lstmGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("model: LSTM gradient: %d inputs, want 2", len(in))
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

func lstmBackward[T float32 | float64](op *lstmGradOp, whv, dyv G.Value, gemm linearGemm[T]) error {
	l := op.lstm
	H, H4, N, steps := l.hidden, 4*l.hidden, l.n, l.steps
	wh, err := floatsOf[T](whv, H*H4, "LSTM gradient Wh")
	if err != nil {
		return err
	}
	dy, err := floatsOf[T](dyv, steps*N*H, "LSTM gradient")
	if err != nil {
		return err
	}
	a, c, tc := sliceOf[T](l.a), sliceOf[T](l.c), sliceOf[T](l.tc)
	dz, dhNext, dcNext := sliceOf[T](op.dz), sliceOf[T](op.dhNext), sliceOf[T](op.dcNext)
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
	ownedOutput
	lstm *lstmOp
	dwh  *tensor.Dense
}

func (op *lstmWhGradOp) Arity() int { return 1 }
func (op *lstmWhGradOp) Type() hm.Type {
	t := tensorType(2)
	return hm.NewFnType(t, t)
}
func (op *lstmWhGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.lstm.hidden, 4 * op.lstm.hidden}, nil
}
func (op *lstmWhGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "fltk.lstmwhgrad@%p", op) }
func (op *lstmWhGradOp) Hashcode() uint32      { return opHashcode(op) }
func (op *lstmWhGradOp) String() string        { return "fltk.lstm.dWh" }

// Do computes dWh into the op's buffer.
func (op *lstmWhGradOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("model: LSTM Wh gradient: %d inputs, want 1", len(in))
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
	return asShape(op.dwh, tensor.Shape{op.lstm.hidden, 4 * op.lstm.hidden}), nil
}

func lstmWhBackward[T float32 | float64](op *lstmWhGradOp, dzv G.Value, gemm linearGemm[T]) error {
	l := op.lstm
	H, H4, N := l.hidden, 4*l.hidden, l.n
	dz, err := floatsOf[T](dzv, l.steps*N*H4, "LSTM Wh gradient")
	if err != nil {
		return err
	}
	dwh := sliceOf[T](op.dwh)
	if l.steps == 1 {
		clear(dwh)
		return nil
	}
	h := sliceOf[T](l.h)
	gemm(blas.Trans, blas.NoTrans, H, H4, (l.steps-1)*N, 1, h[:(l.steps-1)*N*H], H, dz[N*H4:], H4, 0, dwh, H4)
	return nil
}
