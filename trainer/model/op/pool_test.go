package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestMaxPoolOp compares the max-pooling op's output and input gradient
// with gorgonia's MaxPool2D on random inputs (no ties), twice in a row
// with new inputs. Both pick the same elements, so the results must be
// equal up to the summation order of overlapping windows' gradients:
// max|a−b| / max|b| ≤ 1e-12 (float64), 1e-6 (float32).
func TestMaxPoolOp(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		tol := 1e-12
		if dt == tensor.Float32 {
			tol = 1e-6
		}
		for _, tt := range []struct{ n, c, h, w, k, stride, pad int }{
			{2, 3, 8, 8, 2, 2, 0},   // the CNNs' pool
			{1, 2, 7, 9, 2, 2, 0},   // odd sizes drop the last row and column
			{2, 2, 7, 7, 3, 2, 1},   // FashionMNISTResNet's stem pool
			{1, 2, 9, 6, 3, 1, 1},   // overlapping windows
			{3, 1, 9, 7, 2, 1, 0},   // stride 1
			{1, 1, 5, 5, 3, 3, 0},   // stride = k
			{2, 2, 11, 10, 5, 2, 2}, // 5×5 pad 2
			{1, 3, 7, 7, 1, 1, 0},   // the identity
			{1, 2, 7, 8, 2, 2, 1},   // pad 1 with k 2: windows of one row or column
		} {
			t.Run(fmt.Sprintf("%v/x=%dx%dx%dx%d/k=%d/s=%d/p=%d", dt, tt.n, tt.c, tt.h, tt.w, tt.k, tt.stride, tt.pad), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(tt.h*100+tt.k), 4))
				shapes := [][]int{{tt.n, tt.c, tt.h, tt.w}}
				vals := [][]float64{randn(r, tt.n*tt.c*tt.h*tt.w, 0, 1)}
				ho, wo := (tt.h+2*tt.pad-tt.k)/tt.stride+1, (tt.w+2*tt.pad-tt.k)/tt.stride+1
				weights := randn(r, tt.n*tt.c*ho*wo, 0, 1)
				ref := newOpGraph(t, dt, shapes, weights, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
					return G.MaxPool2D(ins[0], tensor.Shape{tt.k, tt.k}, []int{tt.pad, tt.pad}, []int{tt.stride, tt.stride})
				})
				fused := newOpGraph(t, dt, shapes, weights, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
					return MaxPool2d(testConfig(t), ins[0], tt.k, tt.stride, tt.pad, true)
				})
				ref.setAll(vals)
				fused.setAll(vals)
				for run := range 2 {
					if run == 1 {
						vals[0] = randn(r, len(vals[0]), 0, 1)
						ref.set(0, vals[0])
						fused.set(0, vals[0])
					}
					wantY, wantG := ref.results()
					gotY, gotG := fused.results()
					if e := optest.RelErr(gotY, wantY); e > tol {
						t.Errorf("run %d: y rel err %.3g > %.3g", run, e, tol)
					}
					if e := optest.RelErr(gotG[0], wantG[0]); e > tol {
						t.Errorf("run %d: dx rel err %.3g > %.3g", run, e, tol)
					}
				}
			})
		}
	}
}

// TestMaxPoolOpSemantics checks PyTorch's semantics on hand-made planes:
// padding never wins (all-negative inputs), a NaN wins its windows, ties
// go to the first maximum, and a window of −∞ still routes its gradient
// to an element of the window.
func TestMaxPoolOpSemantics(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, tt := range []struct {
		name                 string
		h, w, k, stride, pad int
		x                    []float64
		wantY                []float64
		wantDX               []float64 // for dy = 1, 2, 3, ...
	}{
		{
			name: "negative with padding", h: 3, w: 3, k: 3, stride: 2, pad: 1,
			x:      []float64{-5, -4, -9, -3, -8, -7, -6, -2, -1},
			wantY:  []float64{-3, -4, -2, -1},
			wantDX: []float64{0, 2, 0, 1, 0, 0, 0, 3, 4},
		},
		{
			name: "NaN wins", h: 2, w: 4, k: 2, stride: 2, pad: 0,
			x:      []float64{1, nan, 3, 4, 5, 6, 7, 8},
			wantY:  []float64{nan, 8},
			wantDX: []float64{0, 1, 0, 0, 0, 0, 0, 2},
		},
		{
			name: "ties go first", h: 2, w: 3, k: 2, stride: 1, pad: 0,
			x:      []float64{7, 7, 7, 7, 7, 7},
			wantY:  []float64{7, 7},
			wantDX: []float64{1, 2, 0, 0, 0, 0},
		},
		{
			name: "ties go first, 2×2/2", h: 2, w: 4, k: 2, stride: 2, pad: 0,
			x:      []float64{3, 3, 3, 3, 3, 3, 3, 3},
			wantY:  []float64{3, 3},
			wantDX: []float64{1, 0, 2, 0, 0, 0, 0, 0},
		},
		{
			name: "minus infinity", h: 2, w: 2, k: 3, stride: 1, pad: 1,
			x:      []float64{-inf, -inf, -inf, -inf},
			wantY:  []float64{-inf, -inf, -inf, -inf},
			wantDX: []float64{10, 0, 0, 0}, // every window starts at (0, 0)
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dy := make([]float64, len(tt.wantY))
			for i := range dy {
				dy[i] = float64(i + 1)
			}
			shapes := [][]int{{1, 1, tt.h, tt.w}}
			g := newOpGraph(t, tensor.Float64, shapes, dy, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
				return MaxPool2d(testConfig(t), ins[0], tt.k, tt.stride, tt.pad, true)
			})
			g.set(0, tt.x)
			y, grads := g.results()
			if !slices.EqualFunc(y, tt.wantY, sameFloat) {
				t.Errorf("y = %v, want %v", y, tt.wantY)
			}
			if !slices.Equal(grads[0], tt.wantDX) {
				t.Errorf("dx = %v, want %v", grads[0], tt.wantDX)
			}
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestMaxPoolOpBadShapes checks that impossible poolings fail at build
// time.
func TestMaxPoolOpBadShapes(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 2, 4, 4), G.WithName("x"))
	v := G.NewVector(g, tensor.Float32, G.WithShape(4), G.WithName("v"))
	for _, tt := range []struct {
		name           string
		x              *G.Node
		k, stride, pad int
	}{
		{"3-d", v, 2, 2, 0},
		{"kernel too large", x, 5, 1, 0},
		{"pad > k/2", x, 2, 2, 2},
		{"stride 0", x, 2, 0, 0},
	} {
		if _, err := MaxPool2d(testConfig(t), tt.x, tt.k, tt.stride, tt.pad, true); err == nil {
			t.Errorf("%s: maxPool2d of %v succeeded", tt.name, tt.x.Shape())
		}
	}
}

// TestOwnedOutputShape checks that an op's output gets its shape back
// when a downstream gorgonia Reshape changed it in place (reshapeOp's
// UnsafeDo, used when the input is not read afterwards).
func TestOwnedOutputShape(t *testing.T) {
	op, err := newMaxPoolOp(testConfig(t), tensor.Float64, tensor.Shape{2, 3, 4, 4}, 2, 2, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(2, 3, 4, 4), tensor.WithBacking(randn(rand.New(rand.NewPCG(1, 1)), 96, 0, 1)))
	y, err := op.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float64(nil), y.Data().([]float64)...)
	if err := y.(tensor.Tensor).Reshape(2, 12); err != nil { // what a Flatten may do
		t.Fatal(err)
	}
	y2, err := op.Do(x)
	if err != nil {
		t.Fatal(err)
	}
	if y2 != y || !y2.Shape().Eq(tensor.Shape{2, 3, 2, 2}) || !slices.Equal(y2.Data().([]float64), want) {
		t.Errorf("second run: %p %v %v, want %p (2, 3, 2, 2) %v", y2, y2.Shape(), y2.Data(), y, want)
	}
}

// TestReLUMaxPoolOrder checks that ReLU after MaxPool2d gives the bits of
// MaxPool2d after ReLU, values and input gradients, on inputs full of
// negatives, zeros and ties, for 2×2/2 and the ResNet stem's overlapping
// 3×3/2 pad 1: the models' ReLUMaxPool2dPad pools first.
func TestReLUMaxPoolOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		for _, pc := range []struct{ k, stride, pad, h, w int }{{2, 2, 0, 8, 6}, {3, 2, 1, 9, 8}} {
			shape := []int{3, 2, pc.h, pc.w}
			ho, wo := (pc.h+2*pc.pad-pc.k)/pc.stride+1, (pc.w+2*pc.pad-pc.k)/pc.stride+1
			weights := randn(r, 3*2*ho*wo, 0, 1)
			graph := func(pooledFirst bool) *opGraph {
				return newOpGraph(t, dt, [][]int{shape}, weights, func(_ *G.ExprGraph, ins []*G.Node) (*G.Node, error) {
					cfg := testConfig(t)
					// x·1: an op's output, as in the models (the pool of
					// a graph input computes no dx).
					one := G.NewConstant(1.0)
					if dt == tensor.Float32 {
						one = G.NewConstant(float32(1))
					}
					x, err := G.Mul(ins[0], one)
					if err != nil {
						return nil, err
					}
					if pooledFirst {
						if x, err = MaxPool2d(cfg, x, pc.k, pc.stride, pc.pad, true); err != nil {
							return nil, err
						}
						return ReLU(cfg, x)
					}
					if x, err = ReLU(cfg, x); err != nil {
						return nil, err
					}
					return MaxPool2d(cfg, x, pc.k, pc.stride, pc.pad, true)
				})
			}
			fused, ref := graph(true), graph(false)
			for trial := range 4 {
				x := make([]float64, shapeSize(shape))
				for i := range x {
					x[i] = float64(r.IntN(5) - 3) // −3 … 1: mostly ≤ 0, many ties
					if trial%2 == 1 {
						x[i] *= 0.25
					}
				}
				fused.set(0, x)
				ref.set(0, x)
				gotY, gotG := fused.results()
				wantY, wantG := ref.results()
				for i := range wantY {
					if math.Float64bits(gotY[i]) != math.Float64bits(wantY[i]) {
						t.Fatalf("%v %+v trial %d: y[%d] = %v, ReLU then pool %v", dt, pc, trial, i, gotY[i], wantY[i])
					}
				}
				for i := range wantG[0] {
					if math.Float64bits(gotG[0][i]) != math.Float64bits(wantG[0][i]) {
						t.Fatalf("%v %+v trial %d: dx[%d] = %v, ReLU then pool %v", dt, pc, trial, i, gotG[0][i], wantG[0][i])
					}
				}
			}
		}
	}
}
