package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkKernel times the micro-kernels alone on panels in L1: the
// ceiling of Sgemm.
func BenchmarkKernel(b *testing.B) {
	for _, kr := range kernels() {
		for _, kc := range []int{16, 64, 256} {
			b.Run(fmt.Sprintf("kernel=%s/kc=%d", kr.name, kc), func(b *testing.B) {
				a := make([]float32, kc*mr)
				bb := make([]float32, kc*nr)
				c := make([]float32, mr*nr)
				for b.Loop() {
					kr.tile(kc, a, bb, nr, c, nr, 1, 1, mr, nr)
				}
				b.ReportMetric(2*float64(mr*nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
