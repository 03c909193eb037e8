//go:build amd64 && !purego

#include "textflag.h"

// STEP12 performs one rank-1 update of the 12×16 accumulator tile Z0…Z11
// (row i in Zi): it loads row q of the packed B panel (at boff(DI)) into
// Z12 and multiplies it by each of the six elements of column q of the
// first packed A panel (at aoff(SI), rows 0–5) and of the second (at
// aoff(R9), rows 6–11), broadcast from memory. Every element of C sums
// its products in k order with one fused multiply-add each, as the
// 6×16 AVX2 kernel does, so both give the same bits.
#define STEP12(boff, aoff) \
	VMOVUPS          boff(DI), Z12; \
	VFMADD231PS.BCST aoff(SI), Z12, Z0; \
	VFMADD231PS.BCST aoff+4(SI), Z12, Z1; \
	VFMADD231PS.BCST aoff+8(SI), Z12, Z2; \
	VFMADD231PS.BCST aoff+12(SI), Z12, Z3; \
	VFMADD231PS.BCST aoff+16(SI), Z12, Z4; \
	VFMADD231PS.BCST aoff+20(SI), Z12, Z5; \
	VFMADD231PS.BCST aoff(R9), Z12, Z6; \
	VFMADD231PS.BCST aoff+4(R9), Z12, Z7; \
	VFMADD231PS.BCST aoff+8(R9), Z12, Z8; \
	VFMADD231PS.BCST aoff+12(R9), Z12, Z9; \
	VFMADD231PS.BCST aoff+16(R9), Z12, Z10; \
	VFMADD231PS.BCST aoff+20(R9), Z12, Z11

// OUTROW stores accumulator r (+ beta·C when BX ≠ 0, beta in Z13) to the
// first columns of the C row at DX under mask K1, moves DX to the next row
// and leaves when R10 rows are done.
#define OUTROW(r) \
	TESTQ       BX, BX; \
	JZ          2(PC); \
	VFMADD231PS (DX), Z13, K1, r; \
	VMOVUPS     r, K1, (DX); \
	ADDQ        R8, DX; \
	DECQ        R10; \
	JZ          done

// func sgemmKernel12x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n int)
//
// a holds two consecutive packed A panels of kc·6 elements (rows 0–5,
// then rows 6–11), b one packed B panel of kc·16; C is m×n (0 < m ≤ 12,
// 0 < n ≤ 16) with row stride ldc. C = alpha·A·B + beta·C; C is not read
// when beta is ±0.
TEXT ·sgemmKernel12x16(SB), NOSPLIT, $0-64
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	LEAQ (CX)(CX*2), R9
	SHLQ $3, R9 // 24·kc bytes: one A panel
	ADDQ SI, R9

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP12(0, 0)
	STEP12(64, 24)
	STEP12(128, 48)
	STEP12(192, 72)
	ADDQ $256, DI
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    scale

loop1:
	STEP12(0, 0)
	ADDQ $64, DI
	ADDQ $24, SI
	ADDQ $24, R9
	DECQ CX
	JNZ  loop1

scale:
	// Scale by alpha unless it is 1.
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  store
	VBROADCASTSS alpha+40(FP), Z12
	VMULPS       Z12, Z0, Z0
	VMULPS       Z12, Z1, Z1
	VMULPS       Z12, Z2, Z2
	VMULPS       Z12, Z3, Z3
	VMULPS       Z12, Z4, Z4
	VMULPS       Z12, Z5, Z5
	VMULPS       Z12, Z6, Z6
	VMULPS       Z12, Z7, Z7
	VMULPS       Z12, Z8, Z8
	VMULPS       Z12, Z9, Z9
	VMULPS       Z12, Z10, Z10
	VMULPS       Z12, Z11, Z11

store:
	// K1 = the first n columns; BX ≠ 0 when beta is not ±0.
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROW(Z0)
	OUTROW(Z1)
	OUTROW(Z2)
	OUTROW(Z3)
	OUTROW(Z4)
	OUTROW(Z5)
	OUTROW(Z6)
	OUTROW(Z7)
	OUTROW(Z8)
	OUTROW(Z9)
	OUTROW(Z10)
	OUTROW(Z11)

done:
	VZEROUPPER
	RET

// func packShifted16Z(kc int, base *float32, col int, off *int32, mask *uint16, dst *float32)
//
// For q < kc: dst[16q … 16q+15] = base[off[q]+col … +15] where the bits
// of mask[q] are set, 0 elsewhere. The zero-masked load reads no masked-
// off lane, so a window may start before base or end past it.
TEXT ·packShifted16Z(SB), NOSPLIT, $0-48
	MOVQ      kc+0(FP), CX
	MOVQ      base+8(FP), SI
	MOVQ      col+16(FP), AX
	LEAQ      (SI)(AX*4), SI
	MOVQ      off+24(FP), R8
	MOVQ      mask+32(FP), R9
	MOVQ      dst+40(FP), DI

shiftedRow:
	MOVLQSX   (R8), AX
	MOVWLZX   (R9), BX
	KMOVW     BX, K1
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VMOVUPS   Z0, (DI)
	ADDQ      $4, R8
	ADDQ      $2, R9
	ADDQ      $64, DI
	DECQ      CX
	JNZ       shiftedRow
	VZEROUPPER
	RET

// func packShiftedT16Z(kc int, base *float32, p0 int, off *int32, mask *uint16, stride int, dst *float32)
//
// For q < kc: dst[16q+i] = base[off[i]+p0+q] for the lanes i whose bit
// is set in mask[q·stride], 0 elsewhere: one gather per row of the
// panel, reading no masked-off lane.
TEXT ·packShiftedT16Z(SB), NOSPLIT, $0-56
	MOVQ         kc+0(FP), CX
	MOVQ         base+8(FP), SI
	MOVQ         off+24(FP), AX
	VMOVDQU32    (AX), Z1
	VPBROADCASTD p0+16(FP), Z2
	VPADDD       Z2, Z1, Z1 // lane i: off[i] + p0
	MOVL         $1, AX
	VPBROADCASTD AX, Z3
	MOVQ         mask+32(FP), R9
	MOVQ         stride+40(FP), R10
	SHLQ         $1, R10
	MOVQ         dst+48(FP), DI

shiftedTRow:
	MOVWLZX    (R9), BX
	KMOVW      BX, K1
	VPXORD     Z0, Z0, Z0
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMOVUPS    Z0, (DI)
	VPADDD     Z3, Z1, Z1
	ADDQ       R10, R9
	ADDQ       $64, DI
	DECQ       CX
	JNZ        shiftedTRow
	VZEROUPPER
	RET

// func scatterAdd16Z(m int, t *float32, base *float32, col int, off *int32, mask *uint16)
//
// For i < m: base[off[i]+col+j] += t[16i+j] for the bits j set in mask[i]
// under an opmask (masked-off lanes are neither read nor
// written). m > 0.
TEXT ·scatterAdd16Z(SB), NOSPLIT, $0-48
	MOVQ    m+0(FP), CX
	MOVQ    t+8(FP), DX
	MOVQ    base+16(FP), SI
	MOVQ    col+24(FP), AX
	LEAQ    (SI)(AX*4), SI
	MOVQ    off+32(FP), R8
	MOVQ    mask+40(FP), R9

scatterRow:
	MOVLQSX   (R8), AX
	MOVWLZX   (R9), BX
	KMOVW     BX, K1
	VMOVUPS.Z (SI)(AX*4), K1, Z0
	VADDPS    (DX), Z0, Z0
	VMOVUPS   Z0, K1, (SI)(AX*4)
	ADDQ      $4, R8
	ADDQ      $2, R9
	ADDQ      $64, DX
	DECQ      CX
	JNZ       scatterRow
	VZEROUPPER
	RET
