//go:build amd64 && !purego

package gemm

import "github.com/fltk-go/fltk/trainer/internal/simd"

// sgemmKernel12x16 is the AVX-512 micro-kernel (kernel512_amd64.s) on raw
// pointers: a 12×16 tile from two consecutive packed A panels of six rows
// and one B panel, with the AVX2 kernel's packing and its summation order
// (so the same bits). Edge tiles are stored under an opmask.
//
//go:noescape
func sgemmKernel12x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

// sgemmKernel12x16N is sgemmKernel12x16 on tiles full 12-row tiles one
// under the other (2·tiles consecutive A panels, one B panel).
//
//go:noescape
func sgemmKernel12x16N(kc int, a, b, c *float32, ldc int, alpha, beta float32, n, ldb, tiles int)

// sgemmKernel12x32N is sgemmKernel12x16N on two packed B panels side by
// side (the second of n1 columns), each A element broadcast once for
// both: the 12×16 tile is bound by its loads, this one by its
// multiply-adds (BenchmarkKernel). The same bits, panel by panel.
//
//go:noescape
func sgemmKernel12x32N(kc int, a, b0, b1, c *float32, ldc int, alpha, beta float32, n1, tiles int)

// sgemmKernel4x32Z is sgemmKernel4x16Z (m ≤ 4 rows of one A panel) on
// two packed B panels side by side, the second of n1 columns: eight
// accumulators where a 4×16 tile has four, too few to cover the
// multiply-adds' latency. The same bits, panel by panel.
//
//go:noescape
func sgemmKernel4x32Z(kc int, a, b0, b1, c *float32, ldc int, alpha, beta float32, m, n1 int)

// sgemmKernel6x16Z and sgemmKernel8x16 are sgemmKernel12x16 for tiles of
// at most 6 rows (one A panel) and 8 rows (two), with its bits: the rows
// left over by 12-row tiles (M = 16: 12 + 4; M = 32: 12 + 12 + 8) in
// 512-bit registers, without computing rows that are dropped.
//
//go:noescape
func sgemmKernel6x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

//go:noescape
func sgemmKernel8x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

// sgemmKernel10x16, sgemmKernel4x16Z and sgemmKernel2x16Z are the same
// for at most 10 rows (two panels), 4 and 2 rows (one): the rows a
// fully connected layer's batch leaves in its last tile (10 = 10, 16 =
// 12 + 4, 50 = 4·12 + 2), without multiply-adds for rows that are
// dropped (BenchmarkSgemmLinear).
//
//go:noescape
func sgemmKernel10x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

//go:noescape
func sgemmKernel4x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

//go:noescape
func sgemmKernel2x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

// avx512Kernel has the 12-row AVX-512 tile for pairs of A panels, an
// 8-row one for pairs whose second panel has at most 2 rows, a 6-row one
// for single panels, and avx2Kernel's packing plus the AVX-512 packing of
// Shifted panels.
var avx512Kernel = &kernel{
	name:     "avx512",
	tile:     tileAVX512x6,
	tile8:    tileAVX512x8,
	tile12:   tileAVX512,
	tiles12:  tilesAVX512,
	tiles32:  tiles32AVX512,
	tile4x32: tile4x32AVX512,
	pack:     with512Packing(avx2Kernel.pack),
}

func tilesAVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, n, tiles int) {
	_ = a[tiles*kc*2*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(tiles*2*mr-1)*ldc+n-1]
	sgemmKernel12x16N(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, n, ldb, tiles)
}

func tiles32AVX512(kc int, a, b0, b1, c []float32, ldc int, alpha, beta float32, n1, tiles int) {
	_ = a[tiles*kc*2*mr-1]
	_ = b0[kc*nr-1]
	_ = b1[kc*nr-1]
	_ = c[(tiles*2*mr-1)*ldc+nr+n1-1]
	sgemmKernel12x32N(kc, &a[0], &b0[0], &b1[0], &c[0], ldc, alpha, beta, n1, tiles)
}

func tile4x32AVX512(kc int, a, b0, b1, c []float32, ldc int, alpha, beta float32, m, n1 int) {
	_ = a[kc*mr-1]
	_ = b0[kc*nr-1]
	_ = b1[kc*nr-1]
	_ = c[(m-1)*ldc+nr+n1-1]
	sgemmKernel4x32Z(kc, &a[0], &b0[0], &b1[0], &c[0], ldc, alpha, beta, m, n1)
}

func tileAVX512x6(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int) {
	_ = a[kc*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(m-1)*ldc+n-1]
	switch {
	case m <= 2:
		sgemmKernel2x16Z(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
	case m <= 4:
		sgemmKernel4x16Z(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
	default:
		sgemmKernel6x16Z(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
	}
}

func tileAVX512x8(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int) {
	_ = a[kc*mr+(kc-1)*mr+1] // row 7 of the second panel's last column
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(m-1)*ldc+n-1]
	sgemmKernel8x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
}

// packShifted16Z is packShifted16 with one AVX-512 zero-masked load per
// row (masked-off lanes read nothing).
//
//go:noescape
func packShifted16Z(kc int, base *float32, col int, off *int32, mask *uint16, dst *float32)

// with512Packing returns pk with the AVX-512 packing of Shifted panels.
func with512Packing(pk packer) packer {
	pk.shifted16 = packShifted16AVX512
	pk.shiftedT16 = packShiftedT16AVX512
	pk.scatter16 = scatter16AVX512
	return pk
}

// scatterAdd16Z is scatterAdd16 under AVX-512 opmasks.
//
//go:noescape
func scatterAdd16Z(m int, t *float32, base *float32, col int, off *int32, mask *uint16)

func scatter16AVX512(m int, t, base []float32, off []int32, mask []uint16, col int) {
	if m == 0 {
		return
	}
	_, _, _ = t[m*nr-1], off[m-1], mask[m-1]
	scatterAdd16Z(m, &t[0], &base[0], col, &off[0], &mask[0])
}

// transposeShifted16Z loads 16 rows of 16 elements, row i from
// base[off[i]+col …] under the opmask (next[i]<<16 | mask[i]) >> sh
// (masked-off lanes read nothing and are 0; sh < 16), and stores their
// transpose at dst: dst[16j+i] = row i's element j.
//
//go:noescape
func transposeShifted16Z(base *float32, col int, off *int32, mask, next *uint16, sh int, dst *float32)

func packShiftedT16AVX512(kc int, s *Shifted, p0, pan int, dst []float32) {
	if kc == 0 {
		return
	}
	off := s.offT[pan*nr : pan*nr+nr]
	rowsP := s.rowPanels * nr
	_ = dst[kc*nr-1]
	for q := 0; q < kc; q += nr {
		// The masks of the 16 rows for columns p0+q … p0+q+15: the ends
		// of two panels' masks when p0 is not a multiple of 16.
		col := p0 + q
		lo, sh := col/nr, col%nr
		m := s.maskP[lo*rowsP+pan*nr : lo*rowsP+pan*nr+nr]
		next := m // read, then shifted out, when sh is 0
		if sh != 0 && (lo+1)*rowsP < len(s.maskP) {
			next = s.maskP[(lo+1)*rowsP+pan*nr : (lo+1)*rowsP+pan*nr+nr]
		} else if sh != 0 {
			next = zeroMasks[:]
		}
		if kc-q >= nr {
			transposeShifted16Z(&s.base[0], col, &off[0], &m[0], &next[0], sh, &dst[q*nr])
			continue
		}
		// The last columns: transpose a whole block, keep its first rows.
		var t [nr * nr]float32
		transposeShifted16Z(&s.base[0], col, &off[0], &m[0], &next[0], sh, &t[0])
		copy(dst[q*nr:kc*nr], t[:])
	}
}

// zeroMasks selects nothing: the masks past a Shifted matrix's last column.
var zeroMasks [nr]uint16

func packShifted16AVX512(kc int, base []float32, off []int32, mask []uint16, col int, dst []float32) {
	if kc == 0 {
		return
	}
	_, _, _ = off[kc-1], mask[kc-1], dst[kc*nr-1]
	packShifted16Z(kc, &base[0], col, &off[0], &mask[0], &dst[0])
}

func tileAVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int) {
	_ = a[kc*2*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(m-1)*ldc+n-1]
	if m <= mr+4 {
		sgemmKernel10x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
		return
	}
	sgemmKernel12x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
}

// hasAVX512 is simd.HasAVX512F, here so that kernel_amd64.go's bestKernel
// can ask for it.
var hasAVX512 = simd.HasAVX512F
