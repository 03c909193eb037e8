package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

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
	// tinyPreAct has FashionMNISTResNet's stem (padded max pool) and both
	// kinds of pre-activation block.
	tinyPreAct = spec{
		info: ModelInfo{Name: "tinyPreAct", InputShape: []int{1, 10, 10}, Classes: 3},
		build: func(b *builder, x *node, classes int) *node {
			h := b.MaxPool2dPad(b.ReLU(b.BatchNorm(b.Conv2d(x, 2, 3, 2, 1, true))), 3, 2, 1) // (N, 2, 3, 3)
			h = b.PreActBlock(h, 3, 2, true)                                                 // (N, 3, 2, 2), shortcut conv
			h = b.PreActBlock(h, 3, 1, false)                                                // identity shortcut
			return b.Linear(b.GlobalAvgPool(h), classes)
		},
	}
	// tinyLSTM is CharLSTM with a vocabulary of 7, run with tinyLSTMConfig.
	tinyLSTM       = func() spec { s := charLSTM; s.info.Classes = 7; return s }()
	tinyLSTMConfig = Config{SeqLen: 4, Hidden: 3, Embed: 2}
)

// f64Graph builds the float64 training graph of s with batch samples (cfg
// gives a token model's sizes), fills random inputs, labels and dropout
// masks, and returns the graph.
func f64Graph(t *testing.T, s spec, batch int, seed uint64, cfg Config) *graph {
	t.Helper()
	k := s.info.Classes
	gr, err := buildGraph(s, graphConfig{
		dt: tensor.Float64, batch: batch, classes: k, train: true,
		rng: rand.New(rand.NewPCG(seed, initStream)), cfg: cfg, ops: testOps(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gr.close)
	r := rand.New(rand.NewPCG(seed, 1))
	if gr.tokens {
		for i := range gr.x.Ints() {
			gr.x.Ints()[i] = r.IntN(k)
		}
	} else {
		for i, x := range gr.x.Float64s() {
			gr.x.Float64s()[i] = x + r.NormFloat64()
		}
	}
	for i := range gr.labels {
		gr.labels[i] = r.IntN(k)
	}
	gr.fillMasks(r) // fixed masks: dropout is then a fixed linear map
	return gr
}

// grad returns the gradient of learnable i of gr from the last run as a
// tensor of its shape.
func (gr *graph) grad(i int) *tensor.Dense {
	return tensor.New(tensor.WithShape(gr.params[i].Shape().Clone()...), tensor.WithBacking(gr.grads[i]))
}

// loss64 runs the graph and returns the loss (gr.grad holds the
// gradients).
func loss64(t *testing.T, gr *graph) float64 {
	t.Helper()
	if err := gr.run(); err != nil {
		t.Fatal(err)
	}
	return gr.lossV.Data().(float64)
}

// TestGradients compares the analytic gradients of every learnable with
// central differences in float64. Error measure |a−n| / max(|a|+|n|, 1e-4)
// ≤ 1e-5; observed worst: 6e-8 (tinyMLP), 6e-7 (tinyConv), 6e-7
// (tinyPreAct), 2.4e-6 (tinyLSTM: T 4, H 3, E 2, V 7). With h = 1e-6 the
// truncation error is O(h²) and the rounding error ≈ 1e-16·loss/h ≈
// 1e-10..4e-10 in absolute terms; the 1e-4 floor keeps that noise from
// failing gradients that are (near) zero, such as a convolution bias
// followed by BatchNorm (exactly 0) or the LSTM's recurrent weights
// (|g| ≈ 1e-6, where the noise gives the 2.4e-6). A wrong gradient (a
// missing term, a wrong factor) is off by more than 1e-2.
func TestGradients(t *testing.T) {
	const h, tol = 1e-6, 1e-5
	for _, tt := range []struct {
		s     spec
		batch int
		cfg   Config
	}{
		{tinyMLP, 4, Config{}},
		{tinyConv, 3, Config{}},
		{tinyPreAct, 3, Config{}},
		{tinyLSTM, 3, tinyLSTMConfig},
		{tinyLSTM, 1, Config{SeqLen: 3, Hidden: 1, Embed: 2}}, // axes sliced to length 1
	} {
		t.Run(fmt.Sprintf("%s/batch=%d", tt.s.info.Name, tt.batch), func(t *testing.T) {
			gr := f64Graph(t, tt.s, tt.batch, 5, tt.cfg)
			loss64(t, gr)
			analytic := make([][]float64, len(gr.params))
			for i := range gr.params {
				analytic[i] = append([]float64(nil), gr.grad(i).Float64s()...)
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
	gr, err := buildGraph(tinyMLP, graphConfig{dt: tensor.Float32, batch: 500, classes: 3, train: true, ops: testOps(t)})
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
	ev, err := buildGraph(tinyMLP, graphConfig{dt: tensor.Float32, batch: 2, classes: 3, shared: gr.paramData(), ops: testOps(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.close()
	if len(ev.masks) != 0 {
		t.Errorf("evaluation graph has %d dropout masks, want 0", len(ev.masks))
	}
}

// TestBuildCounts builds every registered network through the real
// builder code without compiling or initialising it (cheap even for the
// 34M-parameter VGG) and checks the learnables and BatchNorm buffers
// against the counts PyTorch gives for FLTK's nets (fltk-v0.3.1 §1.8) and
// the counts written out by hand for the others.
func TestBuildCounts(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		params    int
		bufferLen int
	}{
		{"MNIST2NN", Config{}, 199210, 0},
		{"MNISTCNN", Config{}, 1663370, 0},
		{"FashionMNISTCNN", Config{}, 29034, 96},
		{"Cifar10CNN", Config{}, 551466, 896},
		{"Cifar10ResNet", Config{}, 11173962, 9600},
		{"Cifar100ResNet", Config{}, 11220132, 9600},
		{"Cifar100VGG", Config{}, 34015396, 8448},
		{"Cifar100VGG", Config{Classes: 20}, 34015396 - 80*4096 - 80, 8448}, // CIFAR-100 coarse labels
		{"FashionMNISTResNet", Config{}, 11177482, 6912},
		// V·E + E·4H + H·4H + 4H + H·V + V:
		{"CharLSTM", Config{}, 80*8 + 8*512 + 128*512 + 512 + 128*80 + 80, 0},
		{"CharLSTM", Config{Classes: 12, SeqLen: 5, Hidden: 8, Embed: 8}, 96 + 256 + 256 + 32 + 96 + 12, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/classes=%d", tt.name, tt.cfg.Classes), func(t *testing.T) {
			s, err := lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tt.cfg
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cfg.resolve(s)
			buildMu.Lock()
			_, b, logits, err := construct(s, graphConfig{dt: tensor.Float32, batch: 1, classes: cfg.Classes, cfg: cfg, ops: testOps(t)})
			buildMu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			params, bufs := 0, 0
			for _, p := range b.params {
				params += p.Shape().TotalSize()
			}
			for _, st := range b.bns {
				bufs += st.mean.Shape().TotalSize() + st.variance.Shape().TotalSize()
			}
			rows := 1
			if s.tokens {
				rows = cfg.SeqLen
			}
			if params != tt.params || bufs != tt.bufferLen || !slices.Equal(logits.Shape(), []int{rows, cfg.Classes}) {
				t.Errorf("%d parameters, %d buffer values, logits %v; want %d, %d, (%d, %d)",
					params, bufs, logits.Shape(), tt.params, tt.bufferLen, rows, cfg.Classes)
			}
			if tt.cfg.Classes == 0 && tt.cfg.Hidden == 0 && (s.info.Params != tt.params || s.info.BufferLen != tt.bufferLen) {
				t.Errorf("Info: %d parameters, %d buffer values; want %d, %d", s.info.Params, s.info.BufferLen, tt.params, tt.bufferLen)
			}
		})
	}
}
