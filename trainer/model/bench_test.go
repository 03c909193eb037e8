package model

import (
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
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
				warmUp(b, m, x, y, opt)
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

// BenchmarkTrainStepClients trains one model per GOMAXPROCS side by side,
// each on its own goroutine with its own data — clients training in
// parallel, as fed does with federated.parallel graphs (and as the seed's
// experiment does with one client process per core) — and reports the
// samples per second of all of them together. The ops' batch splitting
// sees the other clients' busy workers and stays on one core each.
func BenchmarkTrainStepClients(b *testing.B) {
	for _, name := range Names() {
		for _, batch := range []int{10, 16, 50} {
			b.Run(fmt.Sprintf("model=%s/batch=%d", name, batch), func(b *testing.B) {
				p := goruntime.GOMAXPROCS(0)
				type client struct {
					m    Model
					x    []float32
					y    []int32
					opt  *optim.SGD
					errs error
				}
				cs := make([]*client, p)
				for i := range cs {
					m := newModel(b, name, batch, 1, uint64(i+1))
					x, y := batchFor(m, batch, uint64(i+1))
					cs[i] = &client{m: m, x: x, y: y, opt: optim.NewSGD(0.01, 0, 0, false)}
					warmUp(b, m, x, y, cs[i].opt)
				}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, c := range cs {
					wg.Go(func() {
						params, grads := c.m.Params(), c.m.Grads()
						for next.Add(1) <= int64(b.N) {
							if _, err := c.m.TrainStep(c.x, c.y); err != nil {
								c.errs = err
								return
							}
							c.opt.Step(params, grads)
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				for _, c := range cs {
					if c.errs != nil {
						b.Fatal(c.errs)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// warmUp runs the three untimed steps scripts/bench_train_torch.py gives
// PyTorch: at -benchtime 2s a CIFAR model's timed steps were otherwise
// 2-3 cold ones (fresh buffers faulting in), half the warm rate
// (bench-train.sh, Cifar10ResNet at one thread).
func warmUp(b *testing.B, m Model, x []float32, y []int32, opt *optim.SGD) {
	b.Helper()
	params, grads := m.Params(), m.Grads()
	for range 3 {
		if _, err := m.TrainStep(x, y); err != nil {
			b.Fatal(err)
		}
		opt.Step(params, grads)
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
