package op

import (
	"fmt"
	"math"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp is k×k max pooling with a stride and padding on every side,
// with PyTorch's semantics: padding never wins (it counts as −∞), a NaN
// in a window wins, ties go to the first maximum in row-major order, and
// the output is ⌊(H + 2·pad − k)/stride⌋ + 1 high, likewise wide. The
// forward pass records the argmax of every output in a buffer the op
// owns; the gradient op scatters dy to those positions.
type maxPoolOp struct {
	base
	n, c, h, w  int // input (N, C, H, W)
	k, stride   int
	pad         int
	ho, wo      int
	needDX      bool         // differentiate with respect to x (false for the graph's input)
	dt          tensor.Dtype // tensor.Float32 or tensor.Float64
	team        *parallel.Team
	y           *tensor.Dense
	argmax      []int32 // per output: the index of its maximum in its (H, W) plane
	hwIn, hwOut int
}

// newMaxPoolOp returns the op pooling x (N, C, H, W) of dtype dt.
func newMaxPoolOp(cfg Config, dt tensor.Dtype, s tensor.Shape, k, stride, pad int, needDX bool) (*maxPoolOp, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(s) != 4 || k < 1 || stride < 1 || pad < 0 || 2*pad > k {
		return nil, buildErrorf("max pool %d/%d pad %d of %v", k, stride, pad, s)
	}
	if err := checkDtype("max pool", dt); err != nil {
		return nil, err
	}
	op := &maxPoolOp{n: s[0], c: s[1], h: s[2], w: s[3], k: k, stride: stride, pad: pad, needDX: needDX, dt: dt, team: cfg.Team}
	if op.h+2*pad < k || op.w+2*pad < k {
		return nil, buildErrorf("max pool kernel %d larger than the padded input %v (pad %d)", k, s, pad)
	}
	op.ho = (op.h+2*pad-k)/stride + 1
	op.wo = (op.w+2*pad-k)/stride + 1
	op.hwIn, op.hwOut = op.h*op.w, op.ho*op.wo
	y := tensor.Shape{op.n, op.c, op.ho, op.wo}
	op.base = newBase(fmt.Sprintf("maxpool{(%d,%d,%d,%d) k%d s%d p%d}", op.n, op.c, op.h, op.w, k, stride, pad), 1, y)
	op.y = newBuffer(dt, y...)
	op.argmax = make([]int32, y.TotalSize())
	return op, nil
}

// MaxPool2d applies k×k max pooling with the given stride and pad rows
// and columns of padding on every side (pad ≤ k/2) to x (N, C, H, W),
// with PyTorch's semantics (see maxPoolOp); needDX says whether the
// gradient with respect to x is wanted.
func MaxPool2d(cfg Config, x *G.Node, k, stride, pad int, needDX bool) (*G.Node, error) {
	op, err := newMaxPoolOp(cfg, x.Dtype(), x.Shape(), k, stride, pad, needDX)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(op, x)
}

func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{op.needDX} }

// SymDiff returns the node of dx (nil unless needDX), computed from dy and
// the argmax of the forward pass.
func (op *maxPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	if !op.needDX {
		return G.Nodes{nil}, nil
	}
	s := tensor.Shape{op.n, op.c, op.h, op.w}
	gop := &maxPoolGradOp{base: newBase("maxpool.dx"+op.name[len("maxpool"):], 1, s), pool: op, dx: newBuffer(op.dt, s...)}
	dx, err := G.ApplyOp(gop, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// Do pools x into the op's output tensor and records the argmax.
func (op *maxPoolOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = maxPoolForward(op, inputs[0], op.y.Float32s(), float32(math.Inf(-1)))
	} else {
		err = maxPoolForward(op, inputs[0], op.y.Float64s(), math.Inf(-1))
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

func maxPoolForward[T float](op *maxPoolOp, xv G.Value, y []T, negInf T) error {
	x, err := input[T](op, "x", xv, op.n*op.c*op.hwIn)
	if err != nil {
		return err
	}
	op.team.For(op.team.ElemWorkers(op.n, len(x)), op.n, func(_, n int) {
		for plane := n * op.c; plane < (n+1)*op.c; plane++ {
			maxPoolPlane(op, x, y, plane, negInf)
		}
	})
	return nil
}

// maxPoolPlane pools one plane of x into y and op.argmax.
func maxPoolPlane[T float](op *maxPoolOp, x, y []T, plane int, negInf T) {
	k, s, p, w := op.k, op.stride, op.pad, op.w
	xp := x[plane*op.hwIn : (plane+1)*op.hwIn]
	yp := y[plane*op.hwOut : (plane+1)*op.hwOut]
	ap := op.argmax[plane*op.hwOut : (plane+1)*op.hwOut]
	if k == 2 && s == 2 && p == 0 {
		maxPool22(xp, yp, ap, op.ho, op.wo, w)
		return
	}
	for oh := range op.ho {
		hs := oh*s - p
		he := min(hs+k, op.h)
		hs = max(hs, 0)
		for ow := range op.wo {
			ws := ow*s - p
			we := min(ws+k, w)
			ws = max(ws, 0)
			best, at := negInf, hs*w+ws
			for ih := hs; ih < he; ih++ {
				for iw, v := range xp[ih*w+ws : ih*w+we] {
					if v > best || v != v {
						best, at = v, ih*w+ws+iw
					}
				}
			}
			yp[oh*op.wo+ow] = best
			ap[oh*op.wo+ow] = int32(at)
		}
	}
}

// maxPool22 is the forward pass of one plane for k = stride = 2 without
// padding (every window lies inside the input).
func maxPool22[T float](x, y []T, argmax []int32, ho, wo, w int) {
	for oh := range ho {
		r0 := x[2*oh*w : 2*oh*w+w]
		simd.MaxPool22Row(r0, x[(2*oh+1)*w:(2*oh+1)*w+w], y[oh*wo:(oh+1)*wo], argmax[oh*wo:(oh+1)*wo], 2*oh*w, w)
	}
}

// maxPoolGradOp computes dx (N, C, H, W) from dy: each output's gradient
// goes to the position of its maximum, from the argmax of the forward
// pass.
type maxPoolGradOp struct {
	base
	pool *maxPoolOp
	dx   *tensor.Dense // the output
}

// Do computes dx into the op's buffer.
func (op *maxPoolGradOp) Do(inputs ...G.Value) (G.Value, error) {
	if err := op.checkInputs(inputs); err != nil {
		return nil, err
	}
	var err error
	if op.pool.dt == tensor.Float32 {
		err = maxPoolBackward(op, inputs[0], op.dx.Float32s())
	} else {
		err = maxPoolBackward(op, inputs[0], op.dx.Float64s())
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dx, op.shape), nil
}

func maxPoolBackward[T float](g *maxPoolGradOp, dyv G.Value, dx []T) error {
	op := g.pool
	dy, err := input[T](g, "dy", dyv, op.n*op.c*op.hwOut)
	if err != nil {
		return err
	}
	op.team.For(op.team.ElemWorkers(op.n, len(dx)), op.n, func(_, n int) {
		clear(dx[n*op.c*op.hwIn : (n+1)*op.c*op.hwIn])
		for plane := n * op.c; plane < (n+1)*op.c; plane++ {
			dxp := dx[plane*op.hwIn : (plane+1)*op.hwIn]
			ap := op.argmax[plane*op.hwOut : (plane+1)*op.hwOut]
			for i, g := range dy[plane*op.hwOut : (plane+1)*op.hwOut] {
				dxp[ap[i]] += g
			}
		}
	})
	return nil
}
