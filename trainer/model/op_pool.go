package model

import (
	"fmt"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp is k×k max pooling with a stride and padding on every side,
// with PyTorch's semantics: padding never wins (it counts as −∞), a NaN
// in a window wins, ties go to the first maximum in row-major order, and
// the output is ⌊(H + 2·pad − k)/stride⌋ + 1 high, likewise wide. The
// forward pass records the argmax of every output in a buffer the op
// owns; the gradient op scatters dy to those positions. Output, argmax
// and gradient buffers are allocated on the first run and reused (see
// op_conv.go for why that is safe with gorgonia's tape machine).
type maxPoolOp struct {
	n, c, h, w  int // input (N, C, H, W)
	k, stride   int
	pad         int
	ho, wo      int
	needDX      bool         // differentiate with respect to x (false for the graph's input)
	dt          tensor.Dtype // tensor.Float32 or tensor.Float64
	y, dx       *tensor.Dense
	argmax      []int32 // per output: the index of its maximum in its (H, W) plane
	hwIn, hwOut int
}

// maxPool2d applies a max-pooling op to x (N, C, H, W).
func maxPool2d(x *node, k, stride, pad int, needDX bool) (*node, error) {
	s := x.Shape()
	dt := x.Dtype()
	if len(s) != 4 || k < 1 || stride < 1 || pad < 0 || 2*pad > k || (dt != tensor.Float32 && dt != tensor.Float64) {
		return nil, fmt.Errorf("%w: max pool %d/%d pad %d of %v %v", ErrGraph, k, stride, pad, dt, s)
	}
	op := &maxPoolOp{n: s[0], c: s[1], h: s[2], w: s[3], k: k, stride: stride, pad: pad, needDX: needDX, dt: dt}
	op.ho = (op.h+2*pad-k)/stride + 1
	op.wo = (op.w+2*pad-k)/stride + 1
	if op.h+2*pad < k || op.w+2*pad < k {
		return nil, fmt.Errorf("%w: max pool kernel %d larger than the padded input %v (pad %d)", ErrGraph, k, s, pad)
	}
	op.hwIn, op.hwOut = op.h*op.w, op.ho*op.wo
	return G.ApplyOp(op, x)
}

func (op *maxPoolOp) Arity() int    { return 1 }
func (op *maxPoolOp) Type() hm.Type { return fnType(1) }
func (op *maxPoolOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.c, op.ho, op.wo}, nil
}
func (op *maxPoolOp) ReturnsPtr() bool      { return false }
func (op *maxPoolOp) CallsExtern() bool     { return false }
func (op *maxPoolOp) OverwritesInput() int  { return -1 }
func (op *maxPoolOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%v %p", op, op) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolOp) String() string {
	return fmt.Sprintf("FusedMaxPool{(%d,%d,%d,%d) k%d s%d p%d}", op.n, op.c, op.h, op.w, op.k, op.stride, op.pad)
}

func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{op.needDX} }

// SymDiff returns the node of dx (nil unless needDX), computed from dy and
// the argmax of the forward pass.
func (op *maxPoolOp) SymDiff(inputs G.Nodes, output, grad *node) (G.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%w: %v got %d inputs", ErrGraph, op, len(inputs))
	}
	if !op.needDX {
		return G.Nodes{nil}, nil
	}
	dx, err := G.ApplyOp(&maxPoolGradOp{op}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx}, nil
}

// Do pools x into the op's output tensor and records the argmax.
func (op *maxPoolOp) Do(inputs ...G.Value) (G.Value, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%w: %v got %d inputs", ErrGraph, op, len(inputs))
	}
	if err := ownTensor(&op.y, op.dt, [4]int{op.n, op.c, op.ho, op.wo}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	if op.argmax == nil {
		op.argmax = make([]int32, op.n*op.c*op.hwOut)
	}
	var err error
	switch op.dt {
	case tensor.Float32:
		err = maxPoolForward(op, inputs[0], op.y.Float32s(), float32(math.Inf(-1)))
	default:
		err = maxPoolForward(op, inputs[0], op.y.Float64s(), math.Inf(-1))
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return op.y, nil
}

func maxPoolForward[T floatElem](op *maxPoolOp, xv G.Value, y []T, negInf T) error {
	x, err := valueData[T](xv, op.n*op.c*op.hwIn)
	if err != nil {
		return err
	}
	parallelFor(elemWorkers(op.n, len(x)), op.n, func(_, n int) {
		for plane := n * op.c; plane < (n+1)*op.c; plane++ {
			maxPoolPlane(op, x, y, plane, negInf)
		}
	})
	return nil
}

// maxPoolPlane pools one plane of x into y and op.argmax.
func maxPoolPlane[T floatElem](op *maxPoolOp, x, y []T, plane int, negInf T) {
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
func maxPool22[T floatElem](x, y []T, argmax []int32, ho, wo, w int) {
	for oh := range ho {
		r0 := x[2*oh*w : 2*oh*w+w]
		simd.MaxPool22Row(r0, x[(2*oh+1)*w:(2*oh+1)*w+w], y[oh*wo:(oh+1)*wo], argmax[oh*wo:(oh+1)*wo], 2*oh*w, w)
	}
}

// maxPoolGradOp computes dx (N, C, H, W) from dy: each output's gradient
// goes to the position of its maximum.
type maxPoolGradOp struct{ *maxPoolOp }

func (op *maxPoolGradOp) Type() hm.Type { return fnType(1) }
func (op *maxPoolGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.c, op.h, op.w}, nil
}
func (op *maxPoolGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%v %p", op, op.maxPoolOp) }
func (op *maxPoolGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *maxPoolGradOp) String() string        { return "Grad " + op.maxPoolOp.String() }
func (op *maxPoolGradOp) Do(inputs ...G.Value) (G.Value, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%w: %v got %d inputs", ErrGraph, op, len(inputs))
	}
	if op.argmax == nil {
		return nil, fmt.Errorf("%w: %v ran before its forward pass", ErrGraph, op)
	}
	if err := ownTensor(&op.dx, op.dt, [4]int{op.n, op.c, op.h, op.w}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	var err error
	switch op.dt {
	case tensor.Float32:
		err = maxPoolBackward(op.maxPoolOp, inputs[0], op.dx.Float32s())
	default:
		err = maxPoolBackward(op.maxPoolOp, inputs[0], op.dx.Float64s())
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return op.dx, nil
}

func maxPoolBackward[T floatElem](op *maxPoolOp, dyv G.Value, dx []T) error {
	dy, err := valueData[T](dyv, op.n*op.c*op.hwOut)
	if err != nil {
		return err
	}
	parallelFor(elemWorkers(op.n, len(dx)), op.n, func(_, n int) {
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
