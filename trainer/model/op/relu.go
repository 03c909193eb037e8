package op

import (
	"fmt"
	"math"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/internal/simd"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reluOp is max(x, 0) into the op's buffer; its gradient (reluGradOp,
// inputs y and dy) is dy where y > 0 and 0 elsewhere (also at 0, as in
// PyTorch). gorgonia's Rectify allocates a mask and a product every run
// and computes a gradient for the mask too.
type reluOp struct {
	base
	dt   tensor.Dtype
	team *parallel.Team
	y    *tensor.Dense
}

// ReLU applies max(x, 0) to x, one op (see reluOp).
func ReLU(cfg Config, x *G.Node) (*G.Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dt, s := x.Dtype(), x.Shape()
	if err := checkDtype("relu", dt); err != nil {
		return nil, err
	}
	return G.ApplyOp(&reluOp{base: newBase(fmt.Sprintf("relu%v", s), 1, s), dt: dt, team: cfg.Team, y: newBuffer(dt, s...)}, x)
}

// Do computes max(x, 0).
func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.dt == tensor.Float32 {
		err = reluForward[float32](op, in[0])
	} else {
		err = reluForward[float64](op, in[0])
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.y, op.shape), nil
}

func reluForward[T float](op *reluOp, xv G.Value) error {
	y := data[T](op.y)
	x, err := input[T](op, "x", xv, len(y))
	if err != nil {
		return err
	}
	if y32, ok := any(y).([]float32); ok {
		x32 := any(x).([]float32)
		op.team.Pieces(len(y32), func(lo, hi int) { simd.ReLU(y32[lo:hi], x32[lo:hi]) })
		return nil
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff returns reluGradOp(y, dy).
func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if err := op.checkNodes(inputs); err != nil {
		return nil, err
	}
	gop := &reluGradOp{base: newBase(fmt.Sprintf("relu.dx%v", op.shape), 2, op.shape), relu: op, dx: newBuffer(op.dt, op.shape...)}
	d, err := G.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// reluGradOp is the gradient of a reluOp's input.
type reluGradOp struct {
	base
	relu *reluOp
	dx   *tensor.Dense
}

// Do computes dy·[y > 0].
func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	if err := op.checkInputs(in); err != nil {
		return nil, err
	}
	var err error
	if op.relu.dt == tensor.Float32 {
		err = reluBackward(op, in[0], in[1], simd.ReLUMask)
	} else {
		err = reluBackward(op, in[0], in[1], reluMask64)
	}
	if err != nil {
		return nil, err
	}
	return asShape(op.dx, op.relu.shape), nil
}

func reluBackward[T float](op *reluGradOp, yv, dyv G.Value, mask func(dx, y, dy []T)) error {
	dx := data[T](op.dx)
	y, err := input[T](op, "y", yv, len(dx))
	if err != nil {
		return err
	}
	dy, err := input[T](op, "dy", dyv, len(dx))
	if err != nil {
		return err
	}
	op.relu.team.Pieces(len(dx), func(lo, hi int) { mask(dx[lo:hi], y[lo:hi], dy[lo:hi]) })
	return nil
}

// reluMask64 sets dx = dy where y > 0, else 0, without branches (the
// signs of y are random: a branch mispredicts half the time). y ≥ 0 is
// the output of max(x, 0), so y > 0 exactly when its bits are not 0
// (simd.ReLUMask does float32 the same way).
func reluMask64(dx, y, dy []float64) {
	dy = dy[:len(y)]
	dx = dx[:len(y)]
	for i, v := range y {
		b := math.Float64bits(v)
		m := uint64(int64(b|-b) >> 63)
		dx[i] = math.Float64frombits(math.Float64bits(dy[i]) & m)
	}
}
