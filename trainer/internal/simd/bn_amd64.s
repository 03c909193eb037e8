//go:build amd64 && !purego

#include "textflag.h"

// func sumDotAVX2(n int, a, b *float32, acc *[16]float64)
//
// n is a positive multiple of 8. acc[j] = Σ a[i] and acc[8+j] = Σ a[i]·b[i]
// over i ≡ j (mod 8), each lane summed in element order.
TEXT ·sumDotAVX2(SB), NOSPLIT, $0-32
	MOVQ   n+0(FP), CX
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DX
	MOVQ   acc+24(FP), DI
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

sumDotLoop:
	VCVTPS2PD   (SI), Y4
	VCVTPS2PD   16(SI), Y5
	VCVTPS2PD   (DX), Y6
	VCVTPS2PD   16(DX), Y7
	VADDPD      Y4, Y0, Y0
	VADDPD      Y5, Y1, Y1
	VFMADD231PD Y6, Y4, Y2
	VFMADD231PD Y7, Y5, Y3
	ADDQ        $32, SI
	ADDQ        $32, DX
	SUBQ        $8, CX
	JNZ         sumDotLoop

	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func normalizeAVX2(n int, y, h, x *float32, mu, is, gamma, beta float32)
//
// n is a positive multiple of 8. h[i] = (x[i] − mu)·is (h may be nil) and
// y[i] = h[i]·gamma + beta, without fused multiply-adds.
TEXT ·normalizeAVX2(SB), NOSPLIT, $0-48
	MOVQ         n+0(FP), CX
	MOVQ         y+8(FP), DI
	MOVQ         h+16(FP), R8
	MOVQ         x+24(FP), SI
	VBROADCASTSS mu+32(FP), Y12
	VBROADCASTSS is+36(FP), Y13
	VBROADCASTSS gamma+40(FP), Y14
	VBROADCASTSS beta+44(FP), Y15
	TESTQ        R8, R8
	JZ           normalizeNoH

normalizeLoop:
	VMOVUPS (SI), Y0
	VSUBPS  Y12, Y0, Y0
	VMULPS  Y13, Y0, Y0
	VMOVUPS Y0, (R8)
	VMULPS  Y14, Y0, Y1
	VADDPS  Y15, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     normalizeLoop
	VZEROUPPER
	RET

normalizeNoH:
	VMOVUPS (SI), Y0
	VSUBPS  Y12, Y0, Y0
	VMULPS  Y13, Y0, Y0
	VMULPS  Y14, Y0, Y1
	VADDPS  Y15, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     normalizeNoH
	VZEROUPPER
	RET

// func bnInputGradAVX2(n int, dx, dy, h *float32, k, m1, m2 float32)
//
// n is a positive multiple of 8. dx[i] = ((dy[i] − m1) − h[i]·m2)·k,
// without fused multiply-adds.
TEXT ·bnInputGradAVX2(SB), NOSPLIT, $0-44
	MOVQ         n+0(FP), CX
	MOVQ         dx+8(FP), DI
	MOVQ         dy+16(FP), SI
	MOVQ         h+24(FP), DX
	VBROADCASTSS k+32(FP), Y13
	VBROADCASTSS m1+36(FP), Y14
	VBROADCASTSS m2+40(FP), Y15

bnInputGradLoop:
	VMOVUPS (SI), Y0
	VMOVUPS (DX), Y1
	VSUBPS  Y14, Y0, Y0
	VMULPS  Y15, Y1, Y1
	VSUBPS  Y1, Y0, Y0
	VMULPS  Y13, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     bnInputGradLoop
	VZEROUPPER
	RET

// func reluAVX2(n int, y, x *float32)
//
// n is a positive multiple of 8. y[i] = max(x[i], 0) as Go's max: VMAXPS
// returns its second source (x) when either is NaN, and adding +0 turns
// −0 into +0.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ   n+0(FP), CX
	MOVQ   y+8(FP), DI
	MOVQ   x+16(FP), SI
	VXORPS Y15, Y15, Y15

reluLoop:
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y15, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     reluLoop
	VZEROUPPER
	RET

// func reluMaskAVX2(n int, dx, y, dy *float32)
//
// n is a positive multiple of 8. dx[i] = dy[i] where the bits of y[i]
// are not all zero, else +0.
TEXT ·reluMaskAVX2(SB), NOSPLIT, $0-32
	MOVQ   n+0(FP), CX
	MOVQ   dx+8(FP), DI
	MOVQ   y+16(FP), SI
	MOVQ   dy+24(FP), DX
	VPXOR  Y15, Y15, Y15

reluMaskLoop:
	VMOVDQU  (SI), Y0
	VPCMPEQD Y15, Y0, Y0
	VPANDN   (DX), Y0, Y0
	VMOVDQU  Y0, (DI)
	ADDQ     $32, SI
	ADDQ     $32, DX
	ADDQ     $32, DI
	SUBQ     $8, CX
	JNZ      reluMaskLoop
	VZEROUPPER
	RET

// func sgdStepAVX2(n int, p, grad *float32, rate float32)
//
// n is a positive multiple of 8. p[i] -= rate·g[i], without fused
// multiply-adds.
TEXT ·sgdStepAVX2(SB), NOSPLIT, $0-28
	MOVQ         n+0(FP), CX
	MOVQ         p+8(FP), DI
	MOVQ         grad+16(FP), SI
	VBROADCASTSS rate+24(FP), Y15

sgdStepLoop:
	VMULPS  (SI), Y15, Y0
	VMOVUPS (DI), Y1
	VSUBPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sgdStepLoop
	VZEROUPPER
	RET

// func sgdMomentumAVX2(n int, p, b, grad *float32, rate, m float32)
//
// n is a positive multiple of 8. b[i] = m·b[i] + g[i]; p[i] -= rate·b[i],
// without fused multiply-adds.
TEXT ·sgdMomentumAVX2(SB), NOSPLIT, $0-40
	MOVQ         n+0(FP), CX
	MOVQ         p+8(FP), DI
	MOVQ         b+16(FP), DX
	MOVQ         grad+24(FP), SI
	VBROADCASTSS rate+32(FP), Y15
	VBROADCASTSS m+36(FP), Y14

sgdMomentumLoop:
	VMULPS  (DX), Y14, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DX)
	VMULPS  Y0, Y15, Y0
	VMOVUPS (DI), Y1
	VSUBPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sgdMomentumLoop
	VZEROUPPER
	RET

// func addAVX2(n int, dst, src *float32)
//
// n is a positive multiple of 8. dst[i] += src[i].
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ n+0(FP), CX
	MOVQ dst+8(FP), DI
	MOVQ src+16(FP), SI

addLoop:
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     addLoop
	VZEROUPPER
	RET

// func sumAVX2(n int, x *float32, lanes *[8]float32)
//
// n is a positive multiple of 8. lanes[j] = Σ x[i] over i ≡ j (mod 8), in
// order.
TEXT ·sumAVX2(SB), NOSPLIT, $0-24
	MOVQ   n+0(FP), CX
	MOVQ   x+8(FP), SI
	MOVQ   lanes+16(FP), DI
	VXORPS Y0, Y0, Y0

sumLoop:
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JNZ    sumLoop
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func fillAVX2(n int, dst *float32, v float32)
//
// n is a positive multiple of 8. dst[i] = v for i < n.
TEXT ·fillAVX2(SB), NOSPLIT, $0-20
	MOVQ         n+0(FP), CX
	MOVQ         dst+8(FP), DI
	VBROADCASTSS v+16(FP), Y0

fillLoop:
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     fillLoop
	VZEROUPPER
	RET
