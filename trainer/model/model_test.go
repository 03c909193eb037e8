package model

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	"github.com/fltk-go/fltk/trainer/model/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestRegistry builds every registered model (the graphs, no step) and
// checks its facts. TestBuildCounts checks the same counts more cheaply,
// with other class counts too.
func TestRegistry(t *testing.T) {
	tests := []struct {
		name       string
		params     int
		bufferLen  int
		classes    int
		inputShape []int // Info's; nil: the model's is {SeqLen}
	}{
		// McMahan et al. 2017 §3 quote 199,210 and 1,663,370; FLTK's counts
		// were measured with PyTorch 1.13 (fltk-v0.3.1 §1.8).
		{"MNIST2NN", 199210, 0, 10, []int{1, 28, 28}},
		{"MNISTCNN", 1663370, 0, 10, []int{1, 28, 28}},
		{"FashionMNISTCNN", 29034, 2 * (16 + 32), 10, []int{1, 28, 28}},
		{"Cifar10CNN", 551466, 2 * 2 * (32 + 64 + 128), 10, []int{3, 32, 32}},
		{"Cifar10ResNet", 11173962, 9600, 10, []int{3, 32, 32}},
		{"Cifar100ResNet", 11220132, 9600, 100, []int{3, 32, 32}},
		{"Cifar100VGG", 34015396, 8448, 100, []int{3, 32, 32}},
		{"FashionMNISTResNet", 11177482, 6912, 10, []int{1, 28, 28}},
		{"CharLSTM", 81104, 0, 80, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Info(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Params != tt.params || info.BufferLen != tt.bufferLen || !slices.Equal(info.InputShape, tt.inputShape) || info.Classes != tt.classes {
				t.Errorf("Info = %+v, want params %d, buffers %d, input %v, %d classes", info, tt.params, tt.bufferLen, tt.inputShape, tt.classes)
			}
			m := newModel(t, tt.name, 2, 2, 1)
			if m.Name() != tt.name || m.NumParams() != tt.params || m.StateLen() != tt.params+tt.bufferLen {
				t.Errorf("%s: NumParams %d StateLen %d, want %d and %d", m.Name(), m.NumParams(), m.StateLen(), tt.params, tt.params+tt.bufferLen)
			}
			wantShape := tt.inputShape
			if wantShape == nil {
				wantShape = []int{DefaultSeqLen}
			}
			if !slices.Equal(m.InputShape(), wantShape) || m.Config().Classes != tt.classes {
				t.Errorf("InputShape %v, Classes %d; want %v, %d", m.InputShape(), m.Config().Classes, wantShape, tt.classes)
			}
			params, grads := m.Params(), m.Grads()
			if len(params) != len(grads) {
				t.Fatalf("%d params, %d grads", len(params), len(grads))
			}
			total := 0
			for i := range params {
				if len(params[i]) != len(grads[i]) {
					t.Errorf("param %d has %d values, its gradient %d", i, len(params[i]), len(grads[i]))
				}
				total += len(params[i])
			}
			if total != tt.params {
				t.Errorf("Params hold %d values, want %d", total, tt.params)
			}
			// The buffers tile [NumParams, StateLen) in order.
			next := m.NumParams()
			for _, r := range m.Buffers() {
				if r[0] != next || r[1] <= r[0] {
					t.Fatalf("Buffers %v do not tile [%d, %d)", m.Buffers(), m.NumParams(), m.StateLen())
				}
				next = r[1]
			}
			if next != m.StateLen() {
				t.Errorf("Buffers %v end at %d, want %d", m.Buffers(), next, m.StateLen())
			}
		})
	}
	if got, want := Names(), []string{"CharLSTM", "Cifar100ResNet", "Cifar100VGG", "Cifar10CNN", "Cifar10ResNet",
		"FashionMNISTCNN", "FashionMNISTResNet", "MNIST2NN", "MNISTCNN"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v", got)
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := New("LeNet", DefaultConfig())
	if !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "MNIST2NN") {
		t.Errorf("New(LeNet) error %v, want ErrUnknownModel listing the names", err)
	}
	if _, err := Info("LeNet"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("Info(LeNet) error %v, want ErrUnknownModel", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    Config
		wantErr bool
	}{
		{"zero fills defaults", Config{}, Config{Batch: 10, EvalBatch: 100}, false},
		{"default", DefaultConfig(), DefaultConfig(), false},
		{"explicit", Config{Batch: 3, EvalBatch: 7, Seed: 9, Classes: 2}, Config{Batch: 3, EvalBatch: 7, Seed: 9, Classes: 2}, false},
		{"negative batch", Config{Batch: -1}, Config{}, true},
		{"negative eval batch", Config{EvalBatch: -5}, Config{}, true},
		{"one class", Config{Classes: 1}, Config{}, true},
		{"negative classes", Config{Classes: -3}, Config{}, true},
		{"sequence sizes", Config{SeqLen: 5, Hidden: 8, Embed: 3}, Config{Batch: 10, EvalBatch: 100, SeqLen: 5, Hidden: 8, Embed: 3}, false},
		{"negative seq len", Config{SeqLen: -1}, Config{}, true},
		{"negative hidden", Config{Hidden: -8}, Config{}, true},
		{"negative embed", Config{Embed: -2}, Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.Validate()
			if tt.wantErr {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("Validate(%+v) = %v, want ErrConfig", tt.cfg, err)
				}
				return
			}
			if err != nil || c != tt.want {
				t.Errorf("Validate(%+v) = %v, config %+v; want nil, %+v", tt.cfg, err, c, tt.want)
			}
		})
	}
	if _, err := New("MNIST2NN", Config{Batch: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a bad config: %v, want ErrConfig", err)
	}
}

func TestClassesOverride(t *testing.T) {
	cfg := Config{Batch: 2, EvalBatch: 2, Classes: 5}
	m, err := New("MNIST2NN", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if want := 199210 - 5*200 - 5; m.NumParams() != want || m.Config().Classes != 5 {
		t.Errorf("5 classes: NumParams %d, Classes %d; want %d, 5", m.NumParams(), m.Config().Classes, want)
	}
	x, _ := randomBatch(2, 784, 5, 1)
	if _, err := m.TrainStep(x, []int32{4, 5}); !errors.Is(err, ErrBadInput) {
		t.Errorf("label 5 of 5 classes: %v, want ErrBadInput", err)
	}
	if _, err := m.TrainStep(x, []int32{4, 0}); err != nil {
		t.Errorf("labels 4, 0 of 5 classes: %v", err)
	}
}

// TestInit checks the determinism of the initialisation and PyTorch's
// bounds: U(±1/√fan_in) for weights and biases, γ = 1, β = 0, running
// mean 0 and variance 1.
func TestInit(t *testing.T) {
	for _, name := range []string{"MNIST2NN", "FashionMNISTCNN"} {
		t.Run(name, func(t *testing.T) {
			a := newModel(t, name, 2, 2, 7).State(nil)
			b := newModel(t, name, 2, 2, 7).State(nil)
			c := newModel(t, name, 2, 2, 8).State(nil)
			if !equalBits(a, b) {
				t.Error("same seed, different initial states")
			}
			if equalBits(a, c) {
				t.Error("seeds 7 and 8 give the same initial state")
			}
		})
	}
	m := newModel(t, "FashionMNISTCNN", 2, 2, 3)
	p := m.Params()
	// Learnables: conv1 weight (16,1,5,5), bias, bn γ, β, conv2 weight, bias, bn γ, β, fc weight, bias.
	bounds := []float64{1 / 5.0, 1 / 5.0, -1, 0, 1 / 20.0, 1 / 20.0, -1, 0, 1 / math.Sqrt(1568), 1 / math.Sqrt(1568)}
	if len(p) != len(bounds) {
		t.Fatalf("%d learnables, want %d", len(p), len(bounds))
	}
	for i, bound := range bounds {
		lo, hi := slices.Min(p[i]), slices.Max(p[i])
		switch bound {
		case -1: // γ
			if lo != 1 || hi != 1 {
				t.Errorf("γ %d in [%v, %v], want 1", i, lo, hi)
			}
		case 0: // β
			if lo != 0 || hi != 0 {
				t.Errorf("β %d in [%v, %v], want 0", i, lo, hi)
			}
		default:
			// The extremes of ≥ 16 uniform draws lie within the bound and,
			// with overwhelming probability, beyond half of it.
			if float64(hi) > bound || float64(lo) < -bound || float64(hi) < bound/2 || float64(lo) > -bound/2 {
				t.Errorf("learnable %d in [%v, %v], want within and near ±%v", i, lo, hi, bound)
			}
		}
	}
	s := m.State(nil)
	for k, r := range m.Buffers() {
		want := float32(k % 2) // mean 0, variance 1
		for _, v := range s[r[0]:r[1]] {
			if v != want {
				t.Fatalf("buffer %d %v holds %v, want %v", k, r, v, want)
			}
		}
	}
}

// TestStateRoundTrip loads model A's state into B (another seed): the
// states are then identical bit for bit and so are the evaluations. The
// CIFAR ResNets and VGG are left out for time (a step takes about a second
// at 32×32); FashionMNISTResNet covers the BatchNorm-heavy residual nets.
// CharLSTM runs with windows of 10 (its default width).
func TestStateRoundTrip(t *testing.T) {
	for _, name := range []string{"MNIST2NN", "MNISTCNN", "FashionMNISTCNN", "Cifar10CNN", "FashionMNISTResNet", "CharLSTM"} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Batch: 2, EvalBatch: 4, Seed: 1, SeqLen: 10}
			a := newModelConfig(t, name, cfg)
			cfg.Seed = 2
			b := newModelConfig(t, name, cfg)
			x, y := batchFor(a, 4, 5)
			lps := len(y) / 4
			if _, err := a.TrainStep(x[:2*sampleLen(a)], y[:2*lps]); err != nil { // moves the BatchNorm statistics
				t.Fatal(err)
			}
			sa := a.State(nil)
			if err := b.LoadState(sa); err != nil {
				t.Fatal(err)
			}
			if sb := b.State(make([]float32, 3)); !equalBits(sa, sb) {
				t.Fatal("state differs after LoadState")
			}
			pa, pb := make([]int32, len(y)), make([]int32, len(y))
			la, err := a.Evaluate(x, y, 4, pa)
			if err != nil {
				t.Fatal(err)
			}
			lb, err := b.Evaluate(x, y, 4, pb)
			if err != nil {
				t.Fatal(err)
			}
			if la != lb || !slices.Equal(pa, pb) || la <= 0 {
				t.Errorf("Evaluate: A %v %v, B %v %v; want equal and positive", la, pa, lb, pb)
			}
		})
	}
}

// TestBatchNormStats trains a few steps so the running statistics move,
// saves the state, loads it into a fresh model and compares evaluations;
// without the buffers the evaluation differs.
func TestBatchNormStats(t *testing.T) {
	const name = "FashionMNISTCNN"
	a := newModel(t, name, 8, 8, 1)
	sl := sampleLen(a)
	x, y := randomBatch(8, sl, 10, 11)
	for step := range 3 {
		if _, err := a.TrainStep(x, y); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		sgd(a, 0.05)
	}
	st := a.State(nil)
	for k, r := range a.Buffers() {
		init := float32(k % 2)
		moved := false
		for _, v := range st[r[0]:r[1]] {
			moved = moved || v != init
		}
		if !moved {
			t.Errorf("buffer %d still at its initial value %v after 3 steps", k, init)
		}
	}
	pa := make([]int32, 8)
	la, err := a.Evaluate(x, y, 8, pa)
	if err != nil {
		t.Fatal(err)
	}

	b := newModel(t, name, 8, 8, 2)
	fresh := b.State(nil)
	if err := b.LoadState(st); err != nil {
		t.Fatal(err)
	}
	pb := make([]int32, 8)
	lb, err := b.Evaluate(x, y, 8, pb)
	if err != nil {
		t.Fatal(err)
	}
	if la != lb || !slices.Equal(pa, pb) {
		t.Errorf("after LoadState: loss %v preds %v, want %v %v", lb, pb, la, pa)
	}

	// The learnables of a with b's fresh buffers (mean 0, variance 1).
	mixed := slices.Clone(st)
	copy(mixed[b.NumParams():], fresh[b.NumParams():])
	if err := b.LoadState(mixed); err != nil {
		t.Fatal(err)
	}
	lm, err := b.Evaluate(x, y, 8, pb)
	if err != nil {
		t.Fatal(err)
	}
	if lm == la {
		t.Errorf("evaluation ignores the BatchNorm buffers: loss %v with and without them", lm)
	}
}

// TestEvalGraph checks that the evaluation graph sees the training graph's
// weights at once (they share arrays) and evaluates samples independently
// of the rest of the batch (BatchNorm in inference mode, zero padding).
func TestEvalGraph(t *testing.T) {
	t.Run("shared weights", func(t *testing.T) {
		m := newModel(t, "MNIST2NN", 10, 10, 4)
		x, y := randomBatch(10, 784, 10, 4)
		pred := make([]int32, 10)
		for step := range 3 {
			loss, err := m.TrainStep(x, y)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := m.Evaluate(x, y, 10, pred)
			if err != nil {
				t.Fatal(err)
			}
			// Same weights, same samples, two graphs: the mean loss agrees
			// to float32 rounding.
			if math.Abs(sum/10-loss) > 1e-5*loss {
				t.Errorf("step %d: Evaluate mean loss %v, TrainStep loss %v", step, sum/10, loss)
			}
			sgd(m, 0.1)
		}
	})
	t.Run("padding", func(t *testing.T) {
		m := newModel(t, "FashionMNISTCNN", 4, 6, 4)
		sl := sampleLen(m)
		x, y := randomBatch(6, sl, 10, 6)
		for range 2 {
			if _, err := m.TrainStep(x[:4*sl], y[:4]); err != nil {
				t.Fatal(err)
			}
			sgd(m, 0.05)
		}
		pred := make([]int32, 6)
		all, err := m.Evaluate(x, y, 6, pred)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		one := make([]int32, 1)
		for i := range 6 {
			l, err := m.Evaluate(x[i*sl:(i+1)*sl], y[i:i+1], 1, one)
			if err != nil {
				t.Fatal(err)
			}
			if one[0] != pred[i] {
				t.Errorf("sample %d alone predicted %d, in the batch %d", i, one[0], pred[i])
			}
			sum += l
		}
		if math.Abs(sum-all) > 1e-5*all {
			t.Errorf("per-sample losses sum to %v, the batch gives %v", sum, all)
		}
	})
}

// TestStepsLeaveWeights checks that TrainStep and Evaluate do not write
// the learnables, and that gradients are fresh, not accumulated.
func TestStepsLeaveWeights(t *testing.T) {
	for _, name := range []string{"MNIST2NN", "FashionMNISTCNN"} {
		t.Run(name, func(t *testing.T) {
			m := newModel(t, name, 4, 4, 9)
			x, y := randomBatch(4, sampleLen(m), 10, 9)
			early := m.Grads() // taken before the first step, as trainer.Train does
			before := m.State(nil)[:m.NumParams()]
			if _, err := m.TrainStep(x, y); err != nil {
				t.Fatal(err)
			}
			g1 := slices.Concat(m.Grads()...)
			if !equalBits(slices.Concat(early...), g1) {
				t.Error("gradient arrays taken before the first TrainStep do not hold its gradients")
			}
			if _, err := m.Evaluate(x, y, 4, make([]int32, 4)); err != nil {
				t.Fatal(err)
			}
			if _, err := m.TrainStep(x, y); err != nil {
				t.Fatal(err)
			}
			g2 := slices.Concat(m.Grads()...)
			if after := m.State(nil)[:m.NumParams()]; !equalBits(before, after) {
				t.Error("TrainStep or Evaluate changed the learnables")
			}
			if !equalBits(g1, g2) {
				t.Error("second TrainStep on the same batch gave other gradients (accumulated?)")
			}
			var norm float64
			for _, g := range g1 {
				norm += float64(g) * float64(g)
			}
			if !(norm > 0) {
				t.Errorf("gradient norm² %v, want > 0", norm)
			}
			// LoadState writes into the arrays Params handed out.
			p := m.Params()
			if err := m.LoadState(make([]float32, m.StateLen())); err != nil {
				t.Fatal(err)
			}
			if slices.Max(p[0]) != 0 || slices.Min(p[0]) != 0 {
				t.Error("LoadState did not write into the Params arrays")
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	m := newModel(t, "MNIST2NN", 2, 3, 1)
	x, y := randomBatch(3, 784, 10, 1)
	pred := make([]int32, 3)
	tests := []struct {
		name string
		run  func() error
	}{
		{"train short x", func() error { _, err := m.TrainStep(x[:783], y[:2]); return err }},
		{"train long x", func() error { _, err := m.TrainStep(x, y[:2]); return err }},
		{"train short y", func() error { _, err := m.TrainStep(x[:2*784], y[:1]); return err }},
		{"train label -1", func() error { _, err := m.TrainStep(x[:2*784], []int32{0, -1}); return err }},
		{"train label 10", func() error { _, err := m.TrainStep(x[:2*784], []int32{10, 0}); return err }},
		{"eval n > EvalBatch", func() error { _, err := m.Evaluate(x, y, 4, make([]int32, 4)); return err }},
		{"eval n < 0", func() error { _, err := m.Evaluate(x, y, -1, pred); return err }},
		{"eval short x", func() error { _, err := m.Evaluate(x[:2*784], y, 3, pred); return err }},
		{"eval short y", func() error { _, err := m.Evaluate(x, y[:2], 3, pred); return err }},
		{"eval short pred", func() error { _, err := m.Evaluate(x, y, 3, pred[:2]); return err }},
		{"eval label 10", func() error { _, err := m.Evaluate(x, []int32{1, 10, 1}, 3, pred); return err }},
		{"load short state", func() error { return m.LoadState(make([]float32, m.StateLen()-1)) }},
		{"load long state", func() error { return m.LoadState(make([]float32, m.StateLen()+1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v, want ErrBadInput", err)
			}
		})
	}
	// Labels past n are not read; n = 0 is a no-op.
	if _, err := m.Evaluate(x, []int32{1, 2, 99}, 2, pred); err != nil {
		t.Errorf("Evaluate ignoring y[2]: %v", err)
	}
	if l, err := m.Evaluate(nil, nil, 0, nil); l != 0 || err != nil {
		t.Errorf("Evaluate of 0 samples = %v, %v; want 0, nil", l, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.TrainStep(x[:2*784], y[:2]); !errors.Is(err, ErrClosed) {
		t.Errorf("TrainStep after Close: %v, want ErrClosed", err)
	}
	if _, err := m.Evaluate(x, y, 3, pred); !errors.Is(err, ErrClosed) {
		t.Errorf("Evaluate after Close: %v, want ErrClosed", err)
	}
	if err := m.LoadState(make([]float32, m.StateLen())); !errors.Is(err, ErrClosed) {
		t.Errorf("LoadState after Close: %v, want ErrClosed", err)
	}
}

// TestConcurrentModels trains models in parallel goroutines (run it with
// -race) and checks they match the same models trained one after another.
func TestConcurrentModels(t *testing.T) {
	names := []string{"MNIST2NN", "MNIST2NN", "FashionMNISTCNN"}
	run := func(name string, seed uint64) ([]float32, error) {
		cfg := Config{Batch: 4, EvalBatch: 4, Seed: seed}
		m, err := New(name, cfg)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		x, y := randomBatch(4, sampleLen(m), 10, seed)
		var out []float32
		for range 2 {
			loss, err := m.TrainStep(x, y)
			if err != nil {
				return nil, err
			}
			sgd(m, 0.05)
			out = append(out, float32(loss))
		}
		l, err := m.Evaluate(x, y, 4, make([]int32, 4))
		return append(out, float32(l)), err
	}
	want := make([][]float32, len(names))
	for i, name := range names {
		var err error
		if want[i], err = run(name, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][]float32, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { got[i], errs[i] = run(name, uint64(i)) })
	}
	wg.Wait()
	for i := range names {
		if errs[i] != nil {
			t.Errorf("%s: %v", names[i], errs[i])
		} else if !equalBits(got[i], want[i]) {
			t.Errorf("%s concurrently: losses %v, sequentially %v", names[i], got[i], want[i])
		}
	}
}

// TestGraphsCollected checks that a dropped model's graphs are garbage
// collected, closed or not: gorgonia's tape machine carries a finalizer
// inside a reference cycle, which Go never collects unless it is cleared.
func TestGraphsCollected(t *testing.T) {
	// build builds, runs and drops a model and returns weak pointers to
	// its graphs.
	build := func(t *testing.T, name string, closeIt bool) []weak.Pointer[G.ExprGraph] {
		m, err := New(name, Config{Batch: 2, EvalBatch: 2, SeqLen: 3, Hidden: 4})
		if err != nil {
			t.Fatal(err)
		}
		x, y := batchFor(m, 2, 1)
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Evaluate(x, y, 2, make([]int32, len(y))); err != nil {
			t.Fatal(err)
		}
		n := m.(*net)
		if closeIt {
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return []weak.Pointer[G.ExprGraph]{weak.Make(n.train.g), weak.Make(n.eval.g)}
	}
	for _, name := range []string{"MNIST2NN", "FashionMNISTCNN", "CharLSTM"} {
		for _, closed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/close=%v", name, closed), func(t *testing.T) {
				ptrs := build(t, name, closed)
				runtime.GC()
				for i, p := range ptrs {
					if p.Value() != nil {
						t.Errorf("graph %d (0 training, 1 evaluation) still reachable", i)
					}
				}
			})
		}
	}
}

// TestCoresDoNotChangeResults trains FashionMNISTCNN (convolutions,
// BatchNorm, ReLU and pooling all large enough to split) and MNISTCNN for
// three steps and evaluates, at GOMAXPROCS 1 and 2 with every op split
// (a Team with MinMACs and MinElems 0): the losses, predictions,
// weights and BatchNorm statistics must be bit-identical — the ops split
// their work so that every sum keeps its order. A split that summed
// channels or samples in another order fails here.
func TestCoresDoNotChangeResults(t *testing.T) {
	for _, name := range []string{"FashionMNISTCNN", "MNISTCNN"} {
		run := func(procs int) []float32 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			pc := parallel.DefaultConfig()
			pc.MinMACs, pc.MinElems = 0, 0
			cfg := DefaultConfig()
			cfg.Batch, cfg.EvalBatch, cfg.Seed, cfg.Team = 8, 8, 3, optest.NewTeam(t, pc)
			m := newModelConfig(t, name, cfg)
			x, y := randomBatch(8, sampleLen(m), 10, 5)
			var out []float32
			for range 3 {
				loss, err := m.TrainStep(x, y)
				if err != nil {
					t.Fatal(err)
				}
				sgd(m, 0.05)
				out = append(out, float32(loss))
			}
			pred := make([]int32, 8)
			l, err := m.Evaluate(x, y, 8, pred)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, float32(l))
			for _, p := range pred {
				out = append(out, float32(p))
			}
			return append(out, m.State(nil)...)
		}
		one, two := run(1), run(2)
		if !equalBits(one, two) {
			diff := 0
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(two[i]) {
					diff++
				}
			}
			t.Errorf("%s: %d of %d values (losses %v vs %v, then predictions, weights, statistics) differ between 1 and 2 cores",
				name, diff, len(one), one[:4], two[:4])
		}
	}
}

// TestGradientsDoNotAccumulate runs the same training step twice without
// changing the weights: the gradients must come out the same, not summed
// (they are copied from the gradient nodes after each run, not added to
// dual values), for a model on gorgonia's own ops as well as on ours.
func TestGradientsDoNotAccumulate(t *testing.T) {
	for _, name := range []string{"FashionMNISTCNN", "MNIST2NN", "CharLSTM"} {
		m := newModel(t, name, 4, 4, 2)
		x, y := batchFor(m, 4, 3)
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
		var first []float32
		for _, g := range m.Grads() {
			first = append(first, g...)
		}
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
		var second []float32
		nonzero := 0
		for _, g := range m.Grads() {
			second = append(second, g...)
		}
		for _, v := range second {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero == 0 || !equalBits(first, second) {
			t.Errorf("%s: two steps on the same weights and batch gave different gradients (%d nonzero)", name, nonzero)
		}
	}
}

// TestOpErrorWrappedOnce checks the error convention of the ops: an op
// that fails while the graph runs returns its own error, and the graph
// wraps it once with ErrGraph (the message says "graph error" once) — a
// label out of range in the loss op and an input the convolution rejects
// (a view of a larger tensor, bound to the graph's input).
func TestOpErrorWrappedOnce(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spoil func(t *testing.T, gr *graph)
		want  string
	}{
		{"loss label", func(t *testing.T, gr *graph) { gr.labels[1] = 3 }, "label 3 of row 1"},
		{"conv input", func(t *testing.T, gr *graph) {
			s := gr.x.Shape()
			big := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(append([]int{2 * s[0]}, s[1:]...)...))
			view, err := big.Slice(G.S(0, s[0]))
			if err != nil {
				t.Fatal(err)
			}
			if err := G.Let(gr.g.ByName("x")[0], view); err != nil {
				t.Fatal(err)
			}
		}, "x is a strided view"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gr, err := buildGraph(tinyConv, graphConfig{dt: tensor.Float32, batch: 2, classes: 3, train: true, ops: testOps(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer gr.close()
			if err := gr.run(); err != nil {
				t.Fatalf("unspoilt graph: %v", err)
			}
			tt.spoil(t, gr)
			err = gr.run()
			if err == nil {
				t.Fatal("the spoilt graph ran")
			}
			if !errors.Is(err, ErrGraph) || strings.Count(err.Error(), "graph error") != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want ErrGraph, %q once and %q", err, "graph error", tt.want)
			}
		})
	}
}

// TestModelStopsItsTeam checks that a model without Config.Team stops
// the helpers of the Team it made: when it is closed, and when it is
// dropped unclosed and collected. A shared Team outlives the models.
func TestModelStopsItsTeam(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	// drained polls until no more helpers run than before (models
	// dropped by earlier tests may stop theirs meanwhile), collecting
	// garbage between looks.
	drained := func(before int, what string) {
		deadline := time.Now().Add(20 * time.Second)
		for parallel.Helpers() > before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d helpers left, %d before", what, parallel.Helpers(), before)
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}
	train := func(cfg Config) Model {
		m, err := New("FashionMNISTCNN", cfg)
		if err != nil {
			t.Fatal(err)
		}
		x, y := batchFor(m, cfg.Batch, 1)
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cfg := DefaultConfig()
	cfg.Batch = 16
	before := parallel.Helpers()
	m := train(cfg)
	if parallel.Helpers() == before {
		t.Fatal("a training step at GOMAXPROCS 2 started no helper")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	drained(before, "after Close")

	func() { train(cfg) }() // dropped unclosed
	drained(before, "after dropping the model")

	cfg.Team = optest.NewTeam(t, parallel.DefaultConfig())
	for range 2 {
		if err := train(cfg).Close(); err != nil {
			t.Fatal(err)
		}
	}
	if parallel.Helpers() == before {
		t.Error("closing models stopped the helpers of the Team they share")
	}
	if err := cfg.Team.Close(); err != nil {
		t.Fatal(err)
	}
	drained(before, "after closing the shared Team")
}

// TestTapeRunner checks that every graph runs its tape on the calling
// goroutine (tapeRunner found gorgonia's program) and that doing so gives
// the bits of RunAll: the loss, the gradients and the evaluation.
func TestTapeRunner(t *testing.T) {
	for _, name := range []string{"MNIST2NN", "FashionMNISTCNN", "CharLSTM"} {
		t.Run(name, func(t *testing.T) {
			results := make([][]float32, 2)
			for i, fast := range []bool{true, false} {
				m := newModel(t, name, 4, 4, 2)
				n := m.(*net)
				for _, gr := range []*graph{n.train, n.eval} {
					if gr.runTape == nil {
						t.Fatalf("%s: no tape runner: gorgonia's tape machine is not what tapeRunner expects", name)
					}
					if !fast {
						gr.runTape = nil
					}
				}
				x, y := batchFor(m, 4, 3)
				loss, err := m.TrainStep(x, y)
				if err != nil {
					t.Fatal(err)
				}
				r := []float32{float32(loss)}
				for _, g := range m.Grads() {
					r = append(r, g...)
				}
				pred := make([]int32, len(y))
				sum, err := m.Evaluate(x, y, 4, pred)
				if err != nil {
					t.Fatal(err)
				}
				r = append(r, float32(sum))
				for _, p := range pred {
					r = append(r, float32(p))
				}
				results[i] = r
			}
			if !equalBits(results[0], results[1]) {
				t.Errorf("%s: the tape runner and RunAll gave different results", name)
			}
		})
	}
}

// TestGradsInPlace checks that the gradients of the models' learnables
// are the gradient ops' own buffers (gradArray), none copied after a run,
// for the layers that have such ops.
func TestGradsInPlace(t *testing.T) {
	for _, name := range []string{"MNIST2NN", "MNISTCNN", "FashionMNISTCNN"} {
		m := newModel(t, name, 2, 2, 1)
		tr := m.(*net).train
		for i, g := range tr.gradsN {
			out := op.Output(g.Op())
			if out == nil {
				t.Errorf("%s: the gradient of %s comes from %v, not an op with a buffer of its own", name, tr.names[i], g.Op())
				continue
			}
			d, _ := out.Data().([]float32)
			if a, _ := tr.grads[i].([]float32); len(a) == 0 || len(d) != len(a) || &a[0] != &d[0] {
				t.Errorf("%s: the gradient array of %s is not its op's buffer", name, tr.names[i])
			}
		}
	}
}
