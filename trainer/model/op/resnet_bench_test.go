package op

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fltk-go/fltk/trainer/internal/parallel"
	"github.com/fltk-go/fltk/trainer/model/internal/optest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkConvPass runs one pass (forward, dW or dx) of each distinct
// convolution of CIFAR ResNet-18 at batch 10, with the default Config,
// and reports GFLOP/s of the pass (cpu-GFLOP/s: per second of the
// process's CPU time, steadier on a shared machine): where a ResNet training step spends
// its convolution time (BenchmarkTrainStep, model=Cifar10ResNet).
func BenchmarkConvPass(b *testing.B) {
	layers := []struct {
		name string
		cc   convCase
	}{
		{"stem", convCase{10, 3, 32, 32, 64, 3, 1, 1, false}},
		{"s1", convCase{10, 64, 32, 32, 64, 3, 1, 1, false}},
		{"s2.down", convCase{10, 64, 32, 32, 128, 3, 2, 1, false}},
		{"s2.sc", convCase{10, 64, 32, 32, 128, 1, 2, 0, false}},
		{"s2", convCase{10, 128, 16, 16, 128, 3, 1, 1, false}},
		{"s3.down", convCase{10, 128, 16, 16, 256, 3, 2, 1, false}},
		{"s3", convCase{10, 256, 8, 8, 256, 3, 1, 1, false}},
		{"s4.down", convCase{10, 256, 8, 8, 512, 3, 2, 1, false}},
		{"s4", convCase{10, 512, 4, 4, 512, 3, 1, 1, false}},
	}
	for _, l := range layers {
		for _, pass := range []string{"fwd", "dw", "dx"} {
			b.Run(fmt.Sprintf("layer=%s/pass=%s", l.name, pass), func(b *testing.B) {
				cc := l.cc
				r := rand.New(rand.NewPCG(1, 1))
				mk := func(shape ...int) *tensor.Dense {
					t := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
					setFloats(t, randn(r, t.Shape().TotalSize(), 0, 1))
					return t
				}
				cfg := DefaultConfig()
				cfg.Team = optest.NewTeam(b, parallel.DefaultConfig())
				op, err := newConvOp(cfg, tensor.Float32, tensor.Shape{cc.n, cc.c, cc.h, cc.w}, tensor.Shape{cc.o, cc.c, cc.k, cc.k}, cc.stride, cc.pad, cc.bias, true, "bench")
				if err != nil {
					b.Fatal(err)
				}
				x, w, dy := mk(cc.n, cc.c, cc.h, cc.w), mk(cc.o, cc.c, cc.k, cc.k), mk(cc.n, cc.o, op.ho, op.wo)
				var do func() (G.Value, error)
				switch pass {
				case "fwd":
					do = func() (G.Value, error) { return op.Do(x, w) }
				case "dw":
					gw := newConvGradWOp(op)
					do = func() (G.Value, error) { return gw.Do(x, dy) }
				case "dx":
					gx := newConvGradXOp(op)
					do = func() (G.Value, error) { return gx.Do(w, dy) }
				}
				if _, err := do(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					if _, err := do(); err != nil {
						b.Fatal(err)
					}
				}
				flops := 2 * float64(cc.n*op.perSampleMACs)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flops*float64(b.N)/float64(cpuTime()-cpu0), "cpu-GFLOP/s")
			})
		}
	}
}
