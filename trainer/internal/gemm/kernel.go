package gemm

// kernel is a micro-kernel. tile computes the top-left m×n part
// (0 < m ≤ mr, 0 < n ≤ nr) of the mr×nr tile
//
//	C = alpha·A·B + beta·C
//
// where A is a packed panel of kc·mr elements (column q at a[q·mr:]), B
// a panel of kc rows of nr elements, row q at b[q·ldb:] (ldb = nr when
// packed; B's own row stride when read in place), and C starts at c[0]
// with row stride ldc. Elements of C outside the m×n part are neither read
// nor written, and when beta is zero C is not read at all.
//
// tile12, when not nil, does the same for a 2·mr×nr tile (0 < m ≤ 2·mr)
// from two consecutive packed A panels (a holds 2·kc·mr elements), with
// the same results as two calls of tile; tile8, when not nil, likewise
// for mr < m ≤ mr+2 (it reads two rows of the second panel). tiles12,
// when not nil, computes tiles full 2·mr×nr tiles one under the other
// (2·tiles consecutive A panels, C of 2·mr·tiles rows, 0 < n ≤ nr), with
// the results of tiles calls of tile12.
//
// tiles32, when not nil, does what tiles12 does on two packed B panels
// side by side: b0 (all nr columns) and b1 (its first n1), C of
// 2·mr·tiles rows by nr+n1 columns, with the results of tiles12 on each;
// tile4x32 likewise for m ≤ 4 rows of one A panel, with the results of
// tile.
//
// pack holds the packing routines that go with the kernel.
type kernel struct {
	name     string
	tile     tileFunc
	tile8    tileFunc
	tile12   tileFunc
	tiles12  func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, n, tiles int)
	tiles32  func(kc int, a, b0, b1, c []float32, ldc int, alpha, beta float32, n1, tiles int)
	tile4x32 func(kc int, a, b0, b1, c []float32, ldc int, alpha, beta float32, m, n1 int)
	pack     packer
}

// tileFunc is a micro-kernel's tile routine; see [kernel].
type tileFunc func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int)

// goKernel is the portable micro-kernel, in pure Go.
var goKernel = &kernel{name: "go", tile: tileGo, pack: goPacker}

// kern is the micro-kernel Sgemm uses: the fastest this CPU supports.
// Tests set it to goKernel to exercise the fallback.
var kern = bestKernel()

// tileGo is the pure-Go micro-kernel. It sweeps the mr×nr tile in 2×4
// blocks whose eight accumulators stay in registers: the Go compiler does
// not vectorise, and wider blocks spill on amd64 (2×4 and 3×2 measured
// best; BenchmarkKernel/kernel=go).
// Eight independent sums also cover the latency of fused multiply-adds on
// arm64. The packed panels are in L1, so reading them once per block is
// cheap.
func tileGo(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int) {
	if m < mr || n < nr {
		// An edge tile: compute all of it, then merge the part inside C.
		var t [mr * nr]float32
		tileGo(kc, a, b, ldb, t[:], nr, 1, 0, mr, nr)
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			for j, v := range t[i*nr : i*nr+n] {
				if beta == 0 {
					row[j] = alpha * v
				} else {
					row[j] = alpha*v + beta*row[j]
				}
			}
		}
		return
	}
	a = a[:kc*mr]
	b = b[:(kc-1)*ldb+nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03 float32
			var c10, c11, c12, c13 float32
			ai, bj := i, j
			for range kc {
				aa := a[ai : ai+2 : ai+2]
				bb := b[bj : bj+4 : bj+4]
				a0, a1 := aa[0], aa[1]
				b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
				ai += mr
				bj += ldb
			}
			store4(c[i*ldc+j:i*ldc+j+4], alpha, beta, c00, c01, c02, c03)
			store4(c[(i+1)*ldc+j:(i+1)*ldc+j+4], alpha, beta, c10, c11, c12, c13)
		}
	}
}

// store4 sets r = alpha·(v0, v1, v2, v3) + beta·r, without reading r when
// beta is zero.
func store4(r []float32, alpha, beta, v0, v1, v2, v3 float32) {
	r = r[:4]
	if beta == 0 {
		r[0], r[1], r[2], r[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	r[0] = alpha*v0 + beta*r[0]
	r[1] = alpha*v1 + beta*r[1]
	r[2] = alpha*v2 + beta*r[2]
	r[3] = alpha*v3 + beta*r[3]
}
