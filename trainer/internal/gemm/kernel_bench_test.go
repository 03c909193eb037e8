package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkKernel times the micro-kernels alone on panels in L1: the
// ceiling of Sgemm. With AVX-512 it also times the full 12-row tiles on
// one B panel (tiles12) and on two (tiles32).
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
			if kr.tiles32 == nil {
				continue
			}
			// The 12-row tiles on one and on two B panels.
			b.Run(fmt.Sprintf("kernel=%s-12x16/kc=%d", kr.name, kc), func(b *testing.B) {
				a := make([]float32, kc*2*mr)
				bb := make([]float32, kc*nr)
				c := make([]float32, 2*mr*nr)
				for b.Loop() {
					kr.tiles12(kc, a, bb, nr, c, nr, 1, 1, nr, 1)
				}
				b.ReportMetric(2*float64(2*mr*nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("kernel=%s-12x32/kc=%d", kr.name, kc), func(b *testing.B) {
				a := make([]float32, kc*2*mr)
				b0, b1 := make([]float32, kc*nr), make([]float32, kc*nr)
				c := make([]float32, 2*mr*2*nr)
				for b.Loop() {
					kr.tiles32(kc, a, b0, b1, c, 2*nr, 1, 1, nr, 1)
				}
				b.ReportMetric(2*float64(2*mr*2*nr*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
