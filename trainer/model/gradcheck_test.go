package model

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Tiny networks exercising every layer helper, for float64 gradient checks.
var (
	tinyMLP = spec{
		info: ModelInfo{Name: "tinyMLP", InputShape: []int{1, 4, 4}, Classes: 3},
		build: func(b *builder, x *node, classes int) *node {
			h := b.Flatten(b.AvgPool2d(x, 2)) // (N, 4)
			h = b.ReLU(b.Linear(h, 5))
			h = b.Dropout(h, 0.4)
			h = b.ReLU(b.Linear(h, 5))
			return b.Linear(h, classes)
		},
	}
	tinyConv = spec{
		info: ModelInfo{Name: "tinyConv", InputShape: []int{2, 8, 8}, Classes: 3},
		build: func(b *builder, x *node, classes int) *node {
			h := b.MaxPool2d(b.ReLU(b.BatchNorm(b.Conv2d(x, 3, 3, 1, 1, true))), 2, 2) // (N, 3, 4, 4)
			h = b.BasicBlock(h, 4, 2)                                                  // (N, 4, 2, 2), shortcut conv
			h = b.BasicBlock(h, 4, 1)                                                  // identity shortcut
			h = b.BatchNorm(b.Linear(b.GlobalAvgPool(h), 6))                           // BatchNorm1d
			return b.Linear(b.ReLU(h), classes)
		},
	}
)

// f64Graph builds the float64 training graph of s with batch samples, fills
// random inputs, labels and dropout masks, and returns the graph.
func f64Graph(t *testing.T, s spec, batch int, seed uint64) *graph {
	t.Helper()
	gr, err := buildGraph(s, graphConfig{
		dt: tensor.Float64, batch: batch, classes: s.info.Classes, train: true,
		rng: rand.New(rand.NewPCG(seed, initStream)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gr.close)
	r := rand.New(rand.NewPCG(seed, 1))
	for i, x := range gr.x.Float64s() {
		gr.x.Float64s()[i] = x + r.NormFloat64()
	}
	oh := gr.onehot.Float64s()
	for i := range batch {
		oh[i*s.info.Classes+r.IntN(s.info.Classes)] = 1
	}
	gr.fillMasks(r) // fixed masks: dropout is then a fixed linear map
	return gr
}

// loss64 runs the graph with zeroed gradients and returns the loss.
func loss64(t *testing.T, gr *graph) float64 {
	t.Helper()
	for _, p := range gr.params {
		g, _ := p.Grad()
		g.(tensor.Tensor).Zero()
	}
	if err := gr.run(); err != nil {
		t.Fatal(err)
	}
	return gr.lossV.Data().(float64)
}

// TestGradients compares the analytic gradients of every learnable with
// central differences in float64. Error measure |a−n| / max(|a|+|n|, 1e-4)
// ≤ 1e-5; observed worst: 6e-8 (tinyMLP), 6e-7 (tinyConv). With h = 1e-6
// the truncation error is O(h²) and the rounding error ≈ 1e-16/h = 1e-10
// in absolute terms; the 1e-4 floor keeps that noise from failing
// gradients that are (near) zero, such as a convolution bias followed by
// BatchNorm (exactly 0). A wrong gradient (a missing term, a wrong factor)
// is off by more than 1e-2.
func TestGradients(t *testing.T) {
	const h, tol = 1e-6, 1e-5
	for _, tt := range []struct {
		s     spec
		batch int
	}{{tinyMLP, 4}, {tinyConv, 3}} {
		t.Run(tt.s.info.Name, func(t *testing.T) {
			gr := f64Graph(t, tt.s, tt.batch, 5)
			loss64(t, gr)
			analytic := make([][]float64, len(gr.params))
			for i, p := range gr.params {
				g, _ := p.Grad()
				analytic[i] = append([]float64(nil), g.Data().([]float64)...)
			}
			worst, checked := 0.0, 0
			for i, p := range gr.params {
				w := p.Value().Data().([]float64)
				for j := range w {
					orig := w[j]
					w[j] = orig + h
					up := loss64(t, gr)
					w[j] = orig - h
					down := loss64(t, gr)
					w[j] = orig
					num := (up - down) / (2 * h)
					a := analytic[i][j]
					rel := math.Abs(a-num) / math.Max(math.Abs(a)+math.Abs(num), 1e-4)
					if rel > tol {
						t.Errorf("%s[%d]: analytic %.10g, numeric %.10g (rel err %.2g)", gr.names[i], j, a, num, rel)
					}
					worst = max(worst, rel)
					checked++
				}
			}
			t.Logf("%d learnables, %d values, worst rel err %.2g", len(gr.params), checked, worst)
		})
	}
}

// TestDropoutMasks checks the training graph's masks (0 with probability
// p, else 1/(1-p)) and that the evaluation graph has none.
func TestDropoutMasks(t *testing.T) {
	gr, err := buildGraph(tinyMLP, graphConfig{dt: tensor.Float32, batch: 500, classes: 3, train: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.close()
	if len(gr.masks) != 1 {
		t.Fatalf("%d dropout masks, want 1", len(gr.masks))
	}
	gr.fillMasks(rand.New(rand.NewPCG(1, 2)))
	zeros := 0
	d := gr.masks[0].t.Float32s()
	for _, v := range d {
		switch v {
		case 0:
			zeros++
		case float32(1 / 0.6):
		default:
			t.Fatalf("mask value %v, want 0 or %v", v, 1/0.6)
		}
	}
	// 2500 Bernoulli(0.4) draws: σ ≈ 0.0098, so ±0.05 is 5σ.
	if frac := float64(zeros) / float64(len(d)); math.Abs(frac-0.4) > 0.05 {
		t.Errorf("dropped fraction %v, want ≈ 0.4", frac)
	}
	ev, err := buildGraph(tinyMLP, graphConfig{dt: tensor.Float32, batch: 2, classes: 3, shared: gr.paramData()})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.close()
	if len(ev.masks) != 0 {
		t.Errorf("evaluation graph has %d dropout masks, want 0", len(ev.masks))
	}
}

// TestResNet18Count builds kuangliu's ResNet-18 (FLTK's Cifar10ResNet) from
// the layer helpers without compiling it: 11,173,962 parameters as
// measured with PyTorch (fltk-v0.3.1 §1.8).
func TestResNet18Count(t *testing.T) {
	buildMu.Lock()
	defer buildMu.Unlock()
	b := &builder{g: G.NewGraph(), dt: tensor.Float32, batch: 1}
	x, _ := b.input("x", 1, 3, 32, 32)
	h := b.ReLU(b.BatchNorm(b.Conv2d(x, 64, 3, 1, 1, false)))
	for i, c := range []int{64, 128, 256, 512} {
		stride := 2
		if i == 0 {
			stride = 1
		}
		h = b.BasicBlock(b.BasicBlock(h, c, stride), c, 1)
	}
	logits := b.Linear(b.Flatten(b.AvgPool2d(h, 4)), 10)
	if b.err != nil {
		t.Fatal(b.err)
	}
	n := 0
	for _, p := range b.params {
		n += p.Shape().TotalSize()
	}
	if n != 11173962 || len(b.bns) != 20 || logits.Shape()[1] != 10 {
		t.Errorf("ResNet-18: %d parameters, %d BatchNorms, logits %v; want 11173962, 20, (1, 10)", n, len(b.bns), logits.Shape())
	}
}
