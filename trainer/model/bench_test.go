package model

import (
	"fmt"
	"testing"

	"github.com/fltk-go/fltk/trainer/optim"
)

// BenchmarkTrainStep measures one training step — TrainStep (forward and
// backward) and a plain SGD update, as PyTorch's loop in
// scripts/bench_train_torch.py does — per model and batch size, in samples
// per second (CharLSTM:
// windows of the default 80 steps). The CIFAR ResNets and VGG take about
// a second per step at batch 10; use -benchtime 1x or 3x for them.
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range Names() {
		for _, batch := range []int{10, 16, 50} {
			b.Run(fmt.Sprintf("model=%s/batch=%d", name, batch), func(b *testing.B) {
				m := newModel(b, name, batch, 1, 1)
				x, y := batchFor(m, batch, 1)
				opt := optim.NewSGD(0.01, 0, 0, false)
				params, grads := m.Params(), m.Grads()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := m.TrainStep(x, y); err != nil {
						b.Fatal(err)
					}
					opt.Step(params, grads)
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// BenchmarkEvaluate measures Evaluate on full batches of 100.
func BenchmarkEvaluate(b *testing.B) {
	for _, name := range Names() {
		b.Run(fmt.Sprintf("model=%s/batch=100", name), func(b *testing.B) {
			m := newModel(b, name, 1, 100, 1)
			x, y := batchFor(m, 100, 1)
			pred := make([]int32, len(y))
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Evaluate(x, y, 100, pred); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
