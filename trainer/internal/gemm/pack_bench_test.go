package gemm

import (
	"fmt"
	"testing"
)

// BenchmarkPack times the packing of one kc×nc block of op(B) and one
// mc×kc block of op(A), in elements per nanosecond.
func BenchmarkPack(b *testing.B) {
	const kc, nc, mc = 256, 96, 48 // in L2
	for _, kr := range kernels() {
		for _, trans := range []bool{false, true} {
			b.Run(fmt.Sprintf("kernel=%s/op=B/trans=%v", kr.name, trans), func(b *testing.B) {
				p := &problem{bTrans: trans, b: make([]float32, kc*nc), ldb: nc}
				if trans {
					p.ldb = kc
				}
				dst, stage := make([]float32, kc*nc), make([]float32, kc*nr)
				for b.Loop() {
					packB(&kr.pack, dst, stage, p, 0, kc, 0, nc)
				}
				b.ReportMetric(float64(kc*nc)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "elem/ns")
			})
			b.Run(fmt.Sprintf("kernel=%s/op=A/trans=%v", kr.name, trans), func(b *testing.B) {
				p := &problem{aTrans: trans, a: make([]float32, kc*mc), lda: kc}
				if trans {
					p.lda = mc
				}
				dst, stage := make([]float32, kc*mc), make([]float32, kc*nr)
				for b.Loop() {
					packA(&kr.pack, dst, stage, p, 0, mc, 0, kc)
				}
				b.ReportMetric(float64(kc*mc)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "elem/ns")
			})
		}
	}
}
