//go:build amd64 && !purego

package gemm

import "github.com/fltk-go/fltk/trainer/internal/simd"

// sgemmKernel6x16 is the AVX2/FMA micro-kernel (kernel_amd64.s) on raw
// pointers; see [kernel] for the contract. The caller guarantees that a
// holds kc·6 elements, b kc rows of 16 with row stride ldb and c an m×n
// tile with row stride ldc.
// Edge tiles (m < 6 or n < 16) are stored with masked moves.
//
//go:noescape
func sgemmKernel6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)

// The packing routines of kernel_amd64.s; see [packer]. The transposing
// ones (packA6N, packB16T) take a multiple of 8 columns.
//
//go:noescape
func packA6N(kc8 int, a *float32, lda int, dst *float32)

//go:noescape
func packA6T(kc int, a *float32, lda int, dst *float32)

//go:noescape
func packB16N(kc int, b *float32, ldb int, dst *float32)

//go:noescape
func packB16T(kc8 int, b *float32, ldb int, dst *float32)

// packShifted16 packs a panel of a Shifted matrix (see packer) with two
// AVX masked loads per row (VMASKMOVPS: masked-off lanes read nothing, so
// rows whose window starts before base or ends past it are safe). kc > 0.
//
//go:noescape
func packShifted16(kc int, base *float32, col int, off *int32, mask *uint16, dst *float32)

// packShiftedT16 packs a panel of the transpose of a Shifted matrix (see
// packer) with two AVX2 gathers per row; masked-off lanes read nothing.
// kc > 0.
//
//go:noescape
func packShiftedT16(kc int, base *float32, p0 int, off *int32, mask *uint16, stride int, dst *float32)

// avx2Kernel is the assembly micro-kernel for CPUs with AVX2 and FMA,
// with AVX packing.
var avx2Kernel = &kernel{
	name: "avx2",
	tile: tileAVX2,
	pack: packer{a6N: packA6NAVX, a6T: packA6TAVX, b16N: packB16NAVX, b16T: packB16TAVX, shifted16: packShifted16AVX2, shiftedT16: packShiftedT16AVX2, scatter16: scatter16AVX2},
}

// The wrappers check bounds the assembly relies on and pack the last
// kc mod 8 columns of the transposing cases in Go.

func packA6NAVX(kc int, a []float32, lda int, dst []float32) {
	_ = a[(mr-1)*lda+kc-1]
	_ = dst[kc*mr-1]
	kc8 := kc &^ 7
	if kc8 > 0 {
		packA6N(kc8, &a[0], lda, &dst[0])
	}
	if kc8 < kc {
		packA6NGo(kc-kc8, a[kc8:], lda, dst[kc8*mr:])
	}
}

func packA6TAVX(kc int, a []float32, lda int, dst []float32) {
	_ = a[(kc-1)*lda+mr-1]
	_ = dst[kc*mr-1]
	packA6T(kc, &a[0], lda, &dst[0])
}

func packB16NAVX(kc int, b []float32, ldb int, dst []float32) {
	_ = b[(kc-1)*ldb+nr-1]
	_ = dst[kc*nr-1]
	packB16N(kc, &b[0], ldb, &dst[0])
}

func packB16TAVX(kc int, b []float32, ldb int, dst []float32) {
	_ = b[(nr-1)*ldb+kc-1]
	_ = dst[kc*nr-1]
	kc8 := kc &^ 7
	if kc8 > 0 {
		packB16T(kc8, &b[0], ldb, &dst[0])
	}
	if kc8 < kc {
		packB16TGo(kc-kc8, b[kc8:], ldb, dst[kc8*nr:])
	}
}

func packShifted16AVX2(kc int, base []float32, off []int32, mask []uint16, col int, dst []float32) {
	if kc == 0 {
		return
	}
	_, _, _ = off[kc-1], mask[kc-1], dst[kc*nr-1]
	packShifted16(kc, &base[0], col, &off[0], &mask[0], &dst[0])
}

func packShiftedT16AVX2(kc int, s *Shifted, p0, pan int, dst []float32) {
	if kc == 0 {
		return
	}
	off := s.offT[pan*nr : pan*nr+nr]
	mask := s.maskT[p0*s.rowPanels+pan:]
	_, _ = mask[(kc-1)*s.rowPanels], dst[kc*nr-1]
	packShiftedT16(kc, &s.base[0], p0, &off[0], &mask[0], s.rowPanels, &dst[0])
}

// scatterAdd16 adds the rows of a tile into a Shifted matrix's base (see
// packer) with masked AVX loads and stores. m > 0.
//
//go:noescape
func scatterAdd16(m int, t *float32, base *float32, col int, off *int32, mask *uint16)

func scatter16AVX2(m int, t, base []float32, off []int32, mask []uint16, col int) {
	if m == 0 {
		return
	}
	_, _, _ = t[m*nr-1], off[m-1], mask[m-1]
	scatterAdd16(m, &t[0], &base[0], col, &off[0], &mask[0])
}

func tileAVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32, m, n int) {
	_ = a[kc*mr-1]
	_ = b[(kc-1)*ldb+nr-1]
	_ = c[(m-1)*ldc+n-1]
	sgemmKernel6x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, m, n, ldb)
}

// bestKernel returns the AVX-512 kernel when the CPU has it, else the
// AVX2/FMA one when it has that, else the pure-Go one.
func bestKernel() *kernel {
	if hasAVX512 {
		return avx512Kernel
	}
	if simd.HasAVX2FMA {
		return avx2Kernel
	}
	return goKernel
}

// cpuKernels returns the assembly kernels this CPU can run, for tests.
func cpuKernels() []*kernel {
	var ks []*kernel
	if simd.HasAVX2FMA {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	return ks
}
