package trainer

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fltk-go/fltk/trainer/data"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
)

// fakeModel is a model.Model whose gradients are set by a function, so
// that what Train adds to them (the proximal term) can be checked exactly.
type fakeModel struct {
	model.Model // unused methods panic
	params      [][]float32
	grads       [][]float32
	grad        func(x []float32) float32 // gradient of every parameter
	batches     [][]float32
	loss        float64
}

func (f *fakeModel) Params() [][]float32 { return f.params }
func (f *fakeModel) Grads() [][]float32  { return f.grads }
func (f *fakeModel) NumParams() int {
	n := 0
	for _, p := range f.params {
		n += len(p)
	}
	return n
}
func (f *fakeModel) TrainStep(x []float32, y []int32) (float64, error) {
	f.batches = append(f.batches, slices.Clone(x))
	for _, g := range f.grads {
		for i := range g {
			g[i] = f.grad(x)
		}
	}
	return f.loss, nil
}

// evalModel predicts the sample's first value as its class.
type evalModel struct{ model.Model }

func (evalModel) Evaluate(x []float32, y []int32, n int, pred []int32) (float64, error) {
	var loss float64
	for i := 0; i < n; i++ {
		pred[i] = int32(x[i])
		if pred[i] != y[i] {
			loss++
		}
	}
	return loss, nil
}

// idSet has n one-value samples whose value is their index.
func idSet(n int) *data.Set {
	s := &data.Set{Name: "ids", Shape: []int{1}, LabelsPerSample: 1, Classes: 3}
	for i := 0; i < n; i++ {
		s.X = append(s.X, float32(i))
		s.Y = append(s.Y, int32(i%3))
	}
	return s
}

func TestTrainStepsAndSampleOrder(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		epochs float64
		batch  int
		steps  int
	}{
		{"one epoch", 20, 1, 5, 4},
		{"partial last batch", 22, 1, 5, 5},
		{"half epoch", 20, 0.5, 5, 2},
		{"fractional", 20, 1.75, 10, 4},
		{"batch above data", 3, 1, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeModel{params: [][]float32{{0}}, grads: [][]float32{{0}}, grad: func([]float32) float32 { return 0 }, loss: 1}
			set := idSet(tt.n)
			idx := make([]int, tt.n)
			for i := range idx {
				idx[i] = i
			}
			res, err := Train(context.Background(), m, optim.NewSGD(0.1, 0, 0, false), set, idx, LocalConfig{Epochs: tt.epochs, Batch: tt.batch, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != tt.steps || len(m.batches) != tt.steps || res.Samples != tt.steps*tt.batch {
				t.Fatalf("steps %d (model saw %d), samples %d; want %d steps", res.Steps, len(m.batches), res.Samples, tt.steps)
			}
			// Each full epoch visits every sample exactly once.
			var seen []float32
			for _, b := range m.batches {
				seen = append(seen, b...)
			}
			for e := 0; (e+1)*tt.n <= len(seen); e++ {
				ep := slices.Clone(seen[e*tt.n : (e+1)*tt.n])
				slices.Sort(ep)
				for i, v := range ep {
					if v != float32(i) {
						t.Fatalf("epoch %d is not a permutation of the samples: %v", e, ep)
					}
				}
			}
			// The same seed gives the same order.
			m2 := &fakeModel{params: [][]float32{{0}}, grads: [][]float32{{0}}, grad: m.grad, loss: 1}
			if _, err := Train(context.Background(), m2, optim.NewSGD(0.1, 0, 0, false), set, idx, LocalConfig{Epochs: tt.epochs, Batch: tt.batch, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(m.batches, m2.batches, slices.Equal) {
				t.Error("same seed, different sample order")
			}
		})
	}
}

// TestProximalTerm checks FedProx's gradient term μ(w − w_global) on top
// of the model's own gradient, through one SGD step.
func TestProximalTerm(t *testing.T) {
	m := &fakeModel{
		params: [][]float32{{1, 2}, {-3}},
		grads:  [][]float32{{0, 0}, {0}},
		grad:   func([]float32) float32 { return 0.5 },
	}
	global := []float32{0, 4, -3, 99} // the last value is a buffer
	const lr, mu = 0.1, 0.2
	_, err := Train(context.Background(), m, optim.NewSGD(lr, 0, 0, false), idSet(1), []int{0},
		LocalConfig{Epochs: 1, Batch: 1, ProximalMu: mu, Global: global})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1 - lr*(0.5+mu*(1-0)), 2 - lr*(0.5+mu*(2-4)), -3 - lr*(0.5+mu*0)}
	got := []float32{m.params[0][0], m.params[0][1], m.params[1][0]}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("param %d = %v, want %v", i, got[i], want[i])
		}
	}
	_, err = Train(context.Background(), m, optim.NewSGD(lr, 0, 0, false), idSet(1), []int{0},
		LocalConfig{Epochs: 1, Batch: 1, ProximalMu: mu, Global: global[:2]})
	if err == nil {
		t.Error("a global state shorter than the parameters was accepted")
	}
}

func TestTrainErrors(t *testing.T) {
	m := &fakeModel{params: [][]float32{{0}}, grads: [][]float32{{0}}, grad: func([]float32) float32 { return 0 }, loss: math.NaN()}
	opt := optim.NewSGD(0.1, 0, 0, false)
	if _, err := Train(context.Background(), m, opt, idSet(4), nil, LocalConfig{Epochs: 1, Batch: 2}); !errors.Is(err, ErrNoData) {
		t.Errorf("no samples: err = %v", err)
	}
	if _, err := Train(context.Background(), m, opt, idSet(4), []int{0, 1}, LocalConfig{Epochs: 1, Batch: 2}); !errors.Is(err, ErrDiverged) {
		t.Errorf("NaN loss: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.loss = 1
	if _, err := Train(ctx, m, opt, idSet(4), []int{0, 1}, LocalConfig{Epochs: 1, Batch: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestEvaluateMetrics(t *testing.T) {
	// Seven samples whose value is the prediction evalModel makes.
	set := &data.Set{Shape: []int{1}, LabelsPerSample: 1, Classes: 3}
	preds := []float32{0, 1, 2, 0, 0, 1, 2}
	labels := []int32{0, 1, 2, 1, 0, 1, 0}
	set.X, set.Y = preds, labels
	idx := []int{0, 1, 2, 3, 4, 5, 6}
	met, err := Evaluate(context.Background(), evalModel{}, set, idx, 3) // batches of 3, 3, 1
	if err != nil {
		t.Fatal(err)
	}
	// Confusion (true × pred): class 0: pred 0,0,2; class 1: 1,0,1; class 2: 2.
	if met.N != 7 || met.Correct != 5 || met.LossSum != 2 {
		t.Fatalf("N %d correct %d loss %g", met.N, met.Correct, met.LossSum)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !near(met.Accuracy(), 5.0/7) || !near(met.Loss(), 2.0/7) {
		t.Errorf("accuracy %g loss %g", met.Accuracy(), met.Loss())
	}
	wantP := []float64{2.0 / 3, 1, 1.0 / 2} // predicted 0: 3 (2 right); 1: 2 (2 right); 2: 2 (1 right)
	wantR := []float64{2.0 / 3, 2.0 / 3, 1}
	for c := 0; c < 3; c++ {
		if !near(met.Precision(c), wantP[c]) || !near(met.Recall(c), wantR[c]) {
			t.Errorf("class %d: precision %g recall %g, want %g %g", c, met.Precision(c), met.Recall(c), wantP[c], wantR[c])
		}
	}
	back, err := MetricsFromVector(3, met.Vector())
	if err != nil || back.N != met.N || back.Correct != met.Correct || !slices.Equal(back.Confusion, met.Confusion) {
		t.Errorf("vector round trip: %+v, %v", back, err)
	}
	half := NewMetrics(3)
	half.Add(met)
	half.Add(met)
	if half.N != 14 || half.Correct != 10 || half.Accuracy() != met.Accuracy() {
		t.Errorf("Add: %+v", half)
	}
	if _, err := MetricsFromVector(4, met.Vector()); err == nil {
		t.Error("a vector of the wrong length was accepted")
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.ckpt")
	want := Checkpoint{Net: "MNIST2NN", Round: 7, Buffers: [][2]int{{3, 5}}, State: []float32{1, -2, 3.5, 0, float32(math.Inf(1))}}
	if err := WriteCheckpoint(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Net != want.Net || got.Round != 7 || !slices.Equal(got.Buffers, want.Buffers) || !slices.Equal(got.State, want.State) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	raw, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated", raw[:len(raw)-6]},
		{"flipped bit", func() []byte { b := slices.Clone(raw); b[20] ^= 1; return b }()},
		{"not a checkpoint", []byte("hello world, this is text")},
		{"empty", nil},
	} {
		q := filepath.Join(dir, tc.name)
		if err := os.WriteFile(q, tc.b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCheckpoint(q); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: err = %v, want ErrCheckpoint", tc.name, err)
		}
	}
}
