//go:build amd64 && !purego

package simd

// HasAVX2FMA reports whether the CPU has AVX2 and FMA and the OS saves the
// YMM registers: the assembly of this package and of internal/gemm runs
// only then.
var HasAVX2FMA = hasAVX2FMA()

var hasAVX2 = HasAVX2FMA

// HasAVX512F reports whether the CPU has AVX-512F (with AVX2 and FMA) and
// the OS saves the opmask and ZMM registers: internal/gemm then uses its
// 512-bit micro-kernel.
var HasAVX512F = HasAVX2FMA && hasAVX512F()

// Pause executes n (> 0) PAUSE instructions, the spin-wait hint: a
// spinning thread then leaves the core's execution resources to the other
// hardware thread (on recent Intel cores one PAUSE waits ~140 cycles).
//
//go:noescape
func Pause(n int)

// cpuid executes CPUID with EAX = eaxArg and ECX = ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns extended control register 0 (XCR0).
func xgetbv() (eax, edx uint32)

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the OS saves the
// YMM registers, by the same CPUID and XGETBV tests as golang.org/x/sys/cpu.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fma     = 1 << 12
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 { // XMM and YMM state enabled
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}

// hasAVX512F is the AVX-512 Foundation test of golang.org/x/sys/cpu:
// CPUID.7.0:EBX bit 16, and XCR0 enabling the opmask, ZMM_Hi256 and
// Hi16_ZMM states (bits 5–7) besides XMM and YMM.
func hasAVX512F() bool {
	if maxID, _, _, _ := cpuid(0, 0); maxID < 7 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx512f = 1 << 16
	return ebx7&avx512f != 0
}
