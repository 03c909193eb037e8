//go:build amd64 && !purego

package gemm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestKernel512SmallTiles checks the AVX-512 tiles of one panel (2, 4
// and 6 rows) and of two (8, 10 and 12 rows) against the AVX2 6×16 tile,
// bit for bit, on every shape they take, with
// the sentinels around C untouched, with B packed and read in place
// (row stride ldb > nr).
func TestKernel512SmallTiles(t *testing.T) {
	if !hasAVX512 {
		t.Skip("AVX-512 absent: avx512Kernel is not used on this CPU")
	}
	const kc, ldc = 13, nr + 3
	rng := rand.New(rand.NewPCG(6, 1))
	a := randMat(rng, 1, 2*kc*mr, 2*kc*mr, 0)
	b := randMat(rng, 1, kc*nr, kc*nr, 0)
	const ldb = nr + 5
	bs := make([]float32, (kc-1)*ldb+nr) // b with row stride ldb, NaN between rows
	for i := range bs {
		bs[i] = float32(math.NaN())
	}
	for q := range kc {
		copy(bs[q*ldb:q*ldb+nr], b[q*nr:])
	}
	for _, strided := range []bool{false, true} {
		for _, alpha := range []float32{1, 2} {
			for _, beta := range []float32{0, -0.5} {
				for m := 1; m <= 2*mr; m++ {
					for n := 1; n <= nr; n++ {
						const sentinel = 777
						got := make([]float32, (2*mr+2)*ldc)
						want := make([]float32, len(got))
						for i := range got {
							got[i], want[i] = sentinel, sentinel
						}
						for i := range m {
							for j := range n {
								v := float32(i - j)
								if beta == 0 {
									v = float32(math.NaN())
								}
								got[(i+1)*ldc+1+j], want[(i+1)*ldc+1+j] = v, v
							}
						}
						name, bb, ld := "tile (6 rows)", b, nr
						if strided {
							name, bb, ld = "tile (6 rows, B in place)", bs, ldb
						}
						switch {
						case m <= mr:
							avx512Kernel.tile(kc, a[:kc*mr], bb, ld, got[ldc+1:], ldc, alpha, beta, m, n)
						case m <= mr+2:
							name = strings.Replace(name, "tile (6 rows", "tile8 (8 rows", 1)
							avx512Kernel.tile8(kc, a, bb, ld, got[ldc+1:], ldc, alpha, beta, m, n)
						default:
							name = strings.Replace(name, "tile (6 rows", "tile12 (12 rows", 1)
							avx512Kernel.tile12(kc, a, bb, ld, got[ldc+1:], ldc, alpha, beta, m, n)
						}
						tileAVX2(kc, a[:kc*mr], b, nr, want[ldc+1:], ldc, alpha, beta, min(m, mr), n)
						if m > mr {
							tileAVX2(kc, a[kc*mr:], b, nr, want[(mr+1)*ldc+1:], ldc, alpha, beta, m-mr, n)
						}
						for idx := range got {
							if math.Float32bits(got[idx]) != math.Float32bits(want[idx]) {
								t.Fatalf("%s alpha=%g beta=%g m=%d n=%d: element (%d, %d) = %g, AVX2 tiles give %g",
									name, alpha, beta, m, n, idx/ldc-1, idx%ldc-1, got[idx], want[idx])
							}
						}
					}
				}
			}
		}
	}
}
