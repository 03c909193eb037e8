//go:build amd64 && !purego

#include "textflag.h"

// TRANSPOSE8 transposes the 8×8 block in Y0…Y7 (row i in Yi) using Y8…Y15
// and leaves column j in Y(8+j).
#define TRANSPOSE8 \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y15; \
	VSHUFPS   $0x44, Y10, Y8, Y0; \
	VSHUFPS   $0xEE, Y10, Y8, Y1; \
	VSHUFPS   $0x44, Y11, Y9, Y2; \
	VSHUFPS   $0xEE, Y11, Y9, Y3; \
	VSHUFPS   $0x44, Y14, Y12, Y4; \
	VSHUFPS   $0xEE, Y14, Y12, Y5; \
	VSHUFPS   $0x44, Y15, Y13, Y6; \
	VSHUFPS   $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15

// func packA6N(kc8 int, a *float32, lda int, dst *float32)
//
// packA6N packs kc8 (a multiple of 8) columns of the six rows at a (row
// stride lda elements) into dst column by column: dst[q·6+i] = a[i·lda+q].
TEXT ·packA6N(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (SI)(R8*2), R9 // row 2
	ADDQ R8, R9         // row 3
	SHRQ $3, CX
	JZ   a6nDone

a6nLoop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (R9), Y3
	VMOVUPS (R9)(R8*1), Y4
	VMOVUPS (R9)(R8*2), Y5
	// Rows 0-3: interleave to columns of four (low lane q, high lane q+4).
	VUNPCKLPS Y1, Y0, Y8  // r0[0] r1[0] r0[1] r1[1] | 4, 5
	VUNPCKHPS Y1, Y0, Y9  // 2, 3 | 6, 7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VSHUFPS   $0x44, Y10, Y8, Y0 // rows 0-3 of col 0 | col 4
	VSHUFPS   $0xEE, Y10, Y8, Y1 // col 1 | col 5
	VSHUFPS   $0x44, Y11, Y9, Y2 // col 2 | col 6
	VSHUFPS   $0xEE, Y11, Y9, Y3 // col 3 | col 7
	// Rows 4-5: pairs.
	VUNPCKLPS Y5, Y4, Y12 // r4[0] r5[0] r4[1] r5[1] | 4, 5
	VUNPCKHPS Y5, Y4, Y13 // 2, 3 | 6, 7
	VEXTRACTF128 $1, Y12, X14
	VEXTRACTF128 $1, Y13, X15

	VMOVUPS X0, 0(DI)
	VMOVLPS X12, 16(DI)
	VMOVUPS X1, 24(DI)
	VMOVHPS X12, 40(DI)
	VMOVUPS X2, 48(DI)
	VMOVLPS X13, 64(DI)
	VMOVUPS X3, 72(DI)
	VMOVHPS X13, 88(DI)
	VEXTRACTF128 $1, Y0, 96(DI)
	VMOVLPS X14, 112(DI)
	VEXTRACTF128 $1, Y1, 120(DI)
	VMOVHPS X14, 136(DI)
	VEXTRACTF128 $1, Y2, 144(DI)
	VMOVLPS X15, 160(DI)
	VEXTRACTF128 $1, Y3, 168(DI)
	VMOVHPS X15, 184(DI)

	ADDQ $32, SI
	ADDQ $32, R9
	ADDQ $192, DI
	DECQ CX
	JNZ  a6nLoop

a6nDone:
	VZEROUPPER
	RET

// func packB16T(kc8 int, b *float32, ldb int, dst *float32)
//
// packB16T packs kc8 (a multiple of 8) columns of the sixteen rows at b
// (row stride ldb elements) into dst column by column:
// dst[q·16+j] = b[j·ldb+q].
TEXT ·packB16T(SB), NOSPLIT, $0-32
	MOVQ kc8+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9  // 3 rows
	LEAQ (SI)(R8*4), R10 // row 4
	LEAQ (R10)(R8*4), R11 // row 8
	LEAQ (R11)(R8*4), R12 // row 12
	SHRQ $3, CX
	JZ   b16tDone

b16tLoop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R10), Y4
	VMOVUPS (R10)(R8*1), Y5
	VMOVUPS (R10)(R8*2), Y6
	VMOVUPS (R10)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 0(DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)

	VMOVUPS (R11), Y0
	VMOVUPS (R11)(R8*1), Y1
	VMOVUPS (R11)(R8*2), Y2
	VMOVUPS (R11)(R9*1), Y3
	VMOVUPS (R12), Y4
	VMOVUPS (R12)(R8*1), Y5
	VMOVUPS (R12)(R8*2), Y6
	VMOVUPS (R12)(R9*1), Y7
	TRANSPOSE8
	VMOVUPS Y8, 32(DI)
	VMOVUPS Y9, 96(DI)
	VMOVUPS Y10, 160(DI)
	VMOVUPS Y11, 224(DI)
	VMOVUPS Y12, 288(DI)
	VMOVUPS Y13, 352(DI)
	VMOVUPS Y14, 416(DI)
	VMOVUPS Y15, 480(DI)

	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $512, DI
	DECQ CX
	JNZ  b16tLoop

b16tDone:
	VZEROUPPER
	RET

// func packB16N(kc int, b *float32, ldb int, dst *float32)
//
// packB16N copies kc rows of sixteen elements at b (row stride ldb) to dst
// contiguously: dst[q·16+j] = b[q·ldb+j].
TEXT ·packB16N(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	TESTQ CX, CX
	JZ    b16nDone

b16nLoop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     b16nLoop

b16nDone:
	VZEROUPPER
	RET

// func packA6T(kc int, a *float32, lda int, dst *float32)
//
// packA6T copies kc rows of six elements at a (row stride lda) to dst
// contiguously: dst[q·6+i] = a[q·lda+i].
TEXT ·packA6T(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	TESTQ CX, CX
	JZ    a6tDone

a6tLoop:
	MOVUPS (SI), X0
	MOVQ   16(SI), X1
	MOVUPS X0, (DI)
	MOVQ   X1, 16(DI)
	ADDQ   R8, SI
	ADDQ   $24, DI
	DECQ   CX
	JNZ    a6tLoop

a6tDone:
	RET
