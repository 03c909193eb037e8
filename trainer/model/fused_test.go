package model

// Tests of the models on the fused ops of trainer/model/op: what the
// builder asks of them, allocations and determinism of whole steps.

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	"github.com/fltk-go/fltk/trainer/model/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestConvOpNoInputGradient checks that a convolution of the graph's input
// adds no dx node (the first layer of every model; the others do) and
// still trains its weights.
func TestConvOpNoInputGradient(t *testing.T) {
	gr := f64Graph(t, tinyConv, 2, 7, Config{})
	dx := 0
	for _, n := range gr.g.AllNodes() {
		if s := fmt.Sprint(n.Op()); strings.HasPrefix(s, "conv2d.dx{conv1:") {
			t.Errorf("graph has %s for the input convolution", s)
		} else if strings.HasPrefix(s, "conv2d.dx{") {
			dx++
		}
	}
	if dx == 0 {
		t.Error("no convolution has an input gradient")
	}
	loss64(t, gr)
	g := gr.grad(0)
	nonzero := 0
	for _, v := range g.Data().([]float64) {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Errorf("%s has an all-zero gradient", gr.names[0])
	}
}

// BenchmarkConvClients measures whole training steps (TrainStep) of one
// or two models training in parallel goroutines, with the convolutions'
// batch split over the cores (split=1) or not, in samples per second over
// all clients. Compare -cpu 2 rows: with two clients each should keep one
// core busy whether it splits or not.
func BenchmarkConvClients(b *testing.B) {
	for _, name := range []string{"FashionMNISTCNN", "MNISTCNN"} {
		for _, clients := range []int{1, 2} {
			for _, split := range []bool{true, false} {
				b.Run(fmt.Sprintf("model=%s/batch=16/clients=%d/split=%d", name, clients, map[bool]int{false: 0, true: 1}[split]), func(b *testing.B) {
					pc := parallel.DefaultConfig()
					if !split {
						pc.MinMACs = math.MaxInt
					}
					team := optest.NewTeam(b, pc) // one Team for the clients, as a job would
					models := make([]Model, clients)
					for i := range models {
						cfg := DefaultConfig()
						cfg.Batch, cfg.EvalBatch, cfg.Seed, cfg.Team = 16, 1, uint64(i+1), team
						models[i] = newModelConfig(b, name, cfg)
					}
					x, y := batchFor(models[0], 16, 1)
					for _, m := range models {
						if _, err := m.TrainStep(x, y); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					var wg sync.WaitGroup
					for _, m := range models {
						wg.Go(func() {
							for range b.N {
								if _, err := m.TrainStep(x, y); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.ReportMetric(float64(clients*b.N*16)/b.Elapsed().Seconds(), "samples/s")
				})
			}
		}
	}
}

// refConv2d is Conv2d with gorgonia's own ops (Conv2d, BroadcastAdd), as
// it was built before the fused op; the learnables are the same.
func (b *builder) refConv2d(x *node, out, k, stride, pad int) *node {
	in := x.Shape()[1]
	name := b.name("conv")
	bound := 1 / math.Sqrt(float64(in*k*k))
	w := b.param(name+".weight", []int{out, in, k, k}, uniform(bound))
	bias := b.param(name+".bias", []int{1, out, 1, 1}, uniform(bound))
	if b.err != nil {
		return nil
	}
	y, err := G.Conv2d(x, w, tensor.Shape{k, k}, []int{pad, pad}, []int{stride, stride}, []int{1, 1})
	if b.check(name, y, err) == nil {
		return nil
	}
	y, err = G.BroadcastAdd(y, bias, nil, []byte{0, 2, 3})
	return b.check(name+" bias", y, err)
}

// refMaxPool2d is MaxPool2d with gorgonia's MaxPool2D.
func (b *builder) refMaxPool2d(x *node, k, stride int) *node {
	if b.err != nil {
		return nil
	}
	y, err := G.MaxPool2D(x, tensor.Shape{k, k}, []int{0, 0}, []int{stride, stride})
	return b.check("maxpool", y, err)
}

// fmnistCNN returns FashionMNISTCNN's spec with the fused ops or with
// gorgonia's.
func fmnistCNN(fused bool) spec {
	s := spec{info: ModelInfo{Name: "FashionMNISTCNN", InputShape: []int{1, 28, 28}, Classes: 10}}
	s.build = func(b *builder, x *node, classes int) *node {
		h := x
		for _, c := range []int{16, 32} {
			if fused {
				h = b.MaxPool2d(b.ReLU(b.BatchNorm(b.Conv2d(h, c, 5, 1, 2, true))), 2, 2)
			} else {
				h = b.refMaxPool2d(b.ReLU(b.BatchNorm(b.refConv2d(h, c, 5, 1, 2))), 2, 2)
			}
		}
		return b.Linear(b.Flatten(h), classes)
	}
	return s
}

// TestConvPoolStepAllocs checks that a training step of FashionMNISTCNN
// allocates far less with the fused convolution and pooling than with
// gorgonia's ops (which allocate the columns, the products, their
// transposes, the broadcast bias and every gradient anew each step), and
// that both compute the same loss and gradients: max|a−b| / max(max|b|,
// max over all gradients / 10) ≤ 1e-4 (float32; observed ~1.5e-5 for the
// biases, ~2e-6 otherwise: the products sum in different orders).
func TestConvPoolStepAllocs(t *testing.T) {
	const batch = 4
	run := func(fused bool) (bytes float64, loss float32, grads [][]float64) {
		gr, err := buildGraph(fmnistCNN(fused), graphConfig{dt: tensor.Float32, batch: batch, classes: 10, train: true,
			rng: rand.New(rand.NewPCG(1, initStream)), ops: testOps(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.close()
		r := rand.New(rand.NewPCG(2, 2))
		for i := range gr.x.Float32s() {
			gr.x.Float32s()[i] = r.Float32()
		}
		for i := range gr.labels {
			gr.labels[i] = r.IntN(10)
		}
		step := func() {
			if err := gr.run(); err != nil {
				t.Fatal(err)
			}
		}
		step()
		var a, z goruntime.MemStats
		goruntime.ReadMemStats(&a)
		const steps = 3
		for range steps {
			step()
		}
		goruntime.ReadMemStats(&z)
		for i := range gr.params {
			grads = append(grads, optest.Floats(gr.grad(i)))
		}
		return float64(z.TotalAlloc-a.TotalAlloc) / steps, gr.lossV.Data().(float32), grads
	}
	refBytes, refLoss, refGrads := run(false)
	bytes, loss, grads := run(true)
	t.Logf("bytes per step: %.0f with gorgonia's convolution and pooling, %.0f fused", refBytes, bytes)
	// gorgonia's ops allocate ~16 KB per sample in the convolutions alone
	// (the columns: 4·(25·784 + 400·196)·4 B = 1.6 MB here, and as much
	// again in products, transposes and gradients); the fused ops nothing.
	if bytes > refBytes/2 {
		t.Errorf("a step allocates %.0f bytes, want at most half of gorgonia's ops' %.0f", bytes, refBytes)
	}
	if e := math.Abs(float64(loss-refLoss)) / math.Abs(float64(refLoss)); e > 1e-4 {
		t.Errorf("loss %v, gorgonia's ops give %v (rel err %.2g)", loss, refLoss, e)
	}
	// The error of each gradient relative to its magnitude, with a floor
	// of a tenth of the largest gradient's: the convolution biases'
	// gradients through BatchNorm are 0 up to rounding noise (~1e-6).
	var big float64
	for _, g := range refGrads {
		for _, v := range g {
			big = max(big, math.Abs(v))
		}
	}
	worst := 0.0
	for i := range grads {
		var d, m float64
		for j, v := range grads[i] {
			d = max(d, math.Abs(v-refGrads[i][j]))
			m = max(m, math.Abs(refGrads[i][j]))
		}
		if e := d / max(m, big/10); e > 1e-4 {
			t.Errorf("gradient %d: max abs err %.2g, max abs %.2g (rel err %.2g)", i, d, m, e)
		} else {
			worst = max(worst, e)
		}
	}
	t.Logf("worst gradient rel err %.2g", worst)
}

// TestConvPoolDeterministic checks that a training step's loss and
// gradients are bit for bit the same whether the ops run serially or
// split their batches over goroutines (and however many): training is
// reproducible from the seed on any machine, and two models training in
// parallel compute what they would alone. (Whether a convolution is
// batched depends on its shape only; each setting is checked on its own.)
func TestConvPoolDeterministic(t *testing.T) {
	want := map[bool][][]float64{}
	def := parallel.DefaultConfig()
	for _, m := range []struct {
		name    string
		procs   int
		minMAC  int
		batchHW int
	}{
		{"procs=1", 1, def.MinMACs, op.DefaultConfig().BatchedConvMaxHW},
		{"procs=2", 2, def.MinMACs, op.DefaultConfig().BatchedConvMaxHW},
		{"split", 2, 0, 0},
		{"batched-procs=1", 1, def.MinMACs, math.MaxInt},
		{"batched", 2, 0, math.MaxInt}, // the batched products cut over the workers
	} {
		t.Run(m.name, func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(m.procs))
			pc := def
			pc.MinMACs = m.minMAC
			c := op.Config{Team: optest.NewTeam(t, pc), BatchedConvMaxHW: m.batchHW}
			testConvPoolDeterministic(t, c, want)
		})
	}
}

func testConvPoolDeterministic(t *testing.T, c op.Config, want map[bool][][]float64) {
	{
		gr, err := buildGraph(fmnistCNN(true), graphConfig{dt: tensor.Float32, batch: 5, classes: 10, train: true,
			rng: rand.New(rand.NewPCG(3, initStream)), ops: c})
		if err != nil {
			t.Fatal(err)
		}
		defer gr.close()
		r := rand.New(rand.NewPCG(4, 4))
		for i := range gr.x.Float32s() {
			gr.x.Float32s()[i] = r.Float32()
		}
		for i := range gr.labels {
			gr.labels[i] = r.IntN(10)
		}
		if err := gr.run(); err != nil {
			t.Fatal(err)
		}
		got := [][]float64{{float64(gr.lossV.Data().(float32))}}
		for i := range gr.params {
			got = append(got, optest.Floats(gr.grad(i)))
		}
		batched := c.BatchedConvMaxHW >= 14*14 // the smallest plane of this CNN
		w, ok := want[batched]
		if !ok {
			want[batched] = got
			return
		}
		for i := range w {
			if !slices.Equal(got[i], w[i]) {
				t.Errorf("value %d (0: loss, then the gradients) differs from the serial run's (batched %v): rel err %.3g", i, batched, optest.RelErr(got[i], w[i]))
			}
		}
	}
}

// TestLinearNeedsGrad checks that the linear layer computes no gradient
// for the graph's input (MNIST2NN's first layer) but does for a hidden
// layer's: the training graph has one dx op fewer than linear layers.
func TestLinearNeedsGrad(t *testing.T) {
	gr, err := buildGraph(tinyMLP, graphConfig{dt: tensor.Float32, batch: 2, classes: 3, train: true, ops: testOps(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer gr.close()
	layers, dx := 0, 0
	for _, n := range gr.g.AllNodes() {
		switch s := fmt.Sprint(n.Op()); {
		case strings.HasPrefix(s, "linear("):
			layers++
		case strings.HasPrefix(s, "linear.dx"):
			dx++
		}
	}
	if layers != 3 || dx != 2 {
		t.Errorf("%d linear layers with %d input gradients, want 3 and 2", layers, dx)
	}
}

// TestTrainStepAllocs checks that a training step of MNIST2NN (batch 16)
// allocates under 128 KiB: its ops own their buffers. gorgonia's Mul,
// BroadcastAdd, Rectify and LogSoftMax + NLL allocated ≈ 1 MiB a step;
// what is left (≈ 23 KiB) is gonum's parallel sgemm and the tape
// machine's bookkeeping.
func TestTrainStepAllocs(t *testing.T) {
	const bound = 128 << 10
	m := newModel(t, "MNIST2NN", 16, 2, 1)
	x, y := batchFor(m, 16, 1)
	step := func() {
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
	}
	step()
	var a, b goruntime.MemStats
	const steps = 5
	goruntime.ReadMemStats(&a)
	for range steps {
		step()
	}
	goruntime.ReadMemStats(&b)
	per := float64(b.TotalAlloc-a.TotalAlloc) / steps
	t.Logf("%.0f bytes per training step", per)
	if per > bound {
		t.Errorf("a training step allocates %.0f bytes, want ≤ %d", per, bound)
	}
}

// TestEvaluateAllocs checks that evaluating FashionMNISTCNN allocates
// under 256 KiB per call once the graph has run (its buffers are
// allocated once): gorgonia's ops allocated ≈ 1 MB per sample (980 MB
// for a 1,000-image batch, 1.8 GB peak), here 50 samples.
func TestEvaluateAllocs(t *testing.T) {
	const bound = 256 << 10
	m := newModel(t, "FashionMNISTCNN", 2, 50, 1)
	x, y := batchFor(m, 50, 1)
	pred := make([]int32, 50)
	eval := func() {
		if _, err := m.Evaluate(x, y, 50, pred); err != nil {
			t.Fatal(err)
		}
	}
	eval()
	var a, b goruntime.MemStats
	goruntime.ReadMemStats(&a)
	eval()
	eval()
	goruntime.ReadMemStats(&b)
	per := float64(b.TotalAlloc-a.TotalAlloc) / 2
	t.Logf("%.0f bytes per Evaluate of 50 samples", per)
	if per > bound {
		t.Errorf("Evaluate allocates %.0f bytes, want ≤ %d", per, bound)
	}
}
