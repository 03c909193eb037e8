//go:build amd64 && !purego

#include "textflag.h"

// STEP12 performs one rank-1 update of the 12×16 accumulator tile Z0…Z11
// (row i in Zi): it loads row q of the B panel (at baddr) into
// Z12 and multiplies it by each of the six elements of column q of the
// first packed A panel (at aoff(SI), rows 0–5) and of the second (at
// aoff(R9), rows 6–11), broadcast from memory. Every element of C sums
// its products in k order with one fused multiply-add each, as the
// 6×16 AVX2 kernel does, so both give the same bits.
#define STEP12(baddr, aoff) \
	VMOVUPS          baddr, Z12; \
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

// func sgemmKernel12x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// a holds two consecutive packed A panels of kc·6 elements (rows 0–5,
// then rows 6–11), b one packed B panel of kc·16; C is m×n (0 < m ≤ 12,
// 0 < n ≤ 16) with row stride ldc. C = alpha·A·B + beta·C; C is not read
// when beta is ±0.
TEXT ·sgemmKernel12x16(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows
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
	STEP12((DI), 0)
	STEP12((DI)(R12*1), 24)
	STEP12((DI)(R12*2), 48)
	STEP12((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    scale

loop1:
	STEP12((DI), 0)
	ADDQ R12, DI
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

// STOREROW stores accumulator r (+ beta·C when BX ≠ 0, beta in Z13) to the
// first columns of the C row at DX under mask K1 and moves DX to the next
// row.
#define STOREROW(r) \
	TESTQ       BX, BX; \
	JZ          2(PC); \
	VFMADD231PS (DX), Z13, K1, r; \
	VMOVUPS     r, K1, (DX); \
	ADDQ        R8, DX

// func sgemmKernel12x16N(kc int, a, b, c *float32, ldc int, alpha, beta float32, n, ldb, tiles int)
//
// sgemmKernel12x16 on tiles full tiles of 12 rows, one under the other,
// with the same B panel: a holds 2·tiles consecutive packed A panels, C
// is (12·tiles)×n. One call per column of tiles instead of one per tile:
// with a short k (a weight gradient's k is the batch) the calls and the
// stores cost as much as the multiply-adds (BenchmarkSgemmLinear, TN).
// The same bits as sgemmKernel12x16, tile by tile.
TEXT ·sgemmKernel12x16N(SB), NOSPLIT, $0-72
	MOVQ         a+8(FP), SI
	MOVQ         c+24(FP), DX
	MOVQ         ldc+32(FP), R8
	SHLQ         $2, R8
	MOVQ         ldb+56(FP), R12
	SHLQ         $2, R12           // bytes per row of B (64 when packed)
	LEAQ         (R12)(R12*2), R13 // three rows
	MOVQ         kc+0(FP), AX
	LEAQ         (AX)(AX*2), AX
	SHLQ         $3, AX            // 24·kc bytes: one A panel
	MOVQ         n+48(FP), CX
	MOVL         $1, BX
	SHLL         CX, BX
	DECL         BX
	KMOVW        BX, K1            // the first n columns
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX   // BX ≠ 0 when beta is not ±0
	VBROADCASTSS beta+44(FP), Z13
	MOVL         alpha+40(FP), R10
	VBROADCASTSS alpha+40(FP), Z14
	MOVQ         tiles+64(FP), R11

sgemmKernel12x16N_tile:
	MOVQ kc+0(FP), CX
	MOVQ b+16(FP), DI
	LEAQ (SI)(AX*1), R9

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
	JLT  sgemmKernel12x16N_tail

sgemmKernel12x16N_loop4:
	STEP12((DI), 0)
	STEP12((DI)(R12*1), 24)
	STEP12((DI)(R12*2), 48)
	STEP12((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel12x16N_loop4

sgemmKernel12x16N_tail:
	TESTQ CX, CX
	JZ    sgemmKernel12x16N_scale

sgemmKernel12x16N_loop1:
	STEP12((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	ADDQ $24, R9
	DECQ CX
	JNZ  sgemmKernel12x16N_loop1

sgemmKernel12x16N_scale:
	CMPL   R10, $0x3f800000
	JEQ    sgemmKernel12x16N_store
	VMULPS Z14, Z0, Z0
	VMULPS Z14, Z1, Z1
	VMULPS Z14, Z2, Z2
	VMULPS Z14, Z3, Z3
	VMULPS Z14, Z4, Z4
	VMULPS Z14, Z5, Z5
	VMULPS Z14, Z6, Z6
	VMULPS Z14, Z7, Z7
	VMULPS Z14, Z8, Z8
	VMULPS Z14, Z9, Z9
	VMULPS Z14, Z10, Z10
	VMULPS Z14, Z11, Z11

sgemmKernel12x16N_store:
	STOREROW(Z0)
	STOREROW(Z1)
	STOREROW(Z2)
	STOREROW(Z3)
	STOREROW(Z4)
	STOREROW(Z5)
	STOREROW(Z6)
	STOREROW(Z7)
	STOREROW(Z8)
	STOREROW(Z9)
	STOREROW(Z10)
	STOREROW(Z11)

	// DX is at the next tile's first row, R9 at its first A panel.
	MOVQ R9, SI
	DECQ R11
	JNZ  sgemmKernel12x16N_tile
	VZEROUPPER
	RET

// STEP6 is STEP12 for the first A panel only (rows 0–5), STEP8 adds
// rows 6 and 7 from the second.
#define STEP6(baddr, aoff) \
	VMOVUPS          baddr, Z12; \
	VFMADD231PS.BCST aoff(SI), Z12, Z0; \
	VFMADD231PS.BCST aoff+4(SI), Z12, Z1; \
	VFMADD231PS.BCST aoff+8(SI), Z12, Z2; \
	VFMADD231PS.BCST aoff+12(SI), Z12, Z3; \
	VFMADD231PS.BCST aoff+16(SI), Z12, Z4; \
	VFMADD231PS.BCST aoff+20(SI), Z12, Z5

#define STEP8(baddr, aoff) \
	STEP6(baddr, aoff); \
	VFMADD231PS.BCST aoff(R9), Z12, Z6; \
	VFMADD231PS.BCST aoff+4(R9), Z12, Z7

// OUTROWTO is OUTROW leaving to the given label.
#define OUTROWTO(r, out) \
	TESTQ       BX, BX; \
	JZ          2(PC); \
	VFMADD231PS (DX), Z13, K1, r; \
	VMOVUPS     r, K1, (DX); \
	ADDQ        R8, DX; \
	DECQ        R10; \
	JZ          out

// func sgemmKernel6x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// sgemmKernel12x16 for one packed A panel: m ≤ 6 rows, the same bits.
TEXT ·sgemmKernel6x16Z(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5

	CMPQ CX, $4
	JLT  sgemmKernel6x16Z_tail

sgemmKernel6x16Z_loop4:
	STEP6((DI), 0)
	STEP6((DI)(R12*1), 24)
	STEP6((DI)(R12*2), 48)
	STEP6((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel6x16Z_loop4

sgemmKernel6x16Z_tail:
	TESTQ CX, CX
	JZ    sgemmKernel6x16Z_scale

sgemmKernel6x16Z_loop1:
	STEP6((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	DECQ CX
	JNZ  sgemmKernel6x16Z_loop1

sgemmKernel6x16Z_scale:
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel6x16Z_store
	VBROADCASTSS alpha+40(FP), Z12
	VMULPS       Z12, Z0, Z0
	VMULPS       Z12, Z1, Z1
	VMULPS       Z12, Z2, Z2
	VMULPS       Z12, Z3, Z3
	VMULPS       Z12, Z4, Z4
	VMULPS       Z12, Z5, Z5

sgemmKernel6x16Z_store:
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROWTO(Z0, sgemmKernel6x16Z_done)
	OUTROWTO(Z1, sgemmKernel6x16Z_done)
	OUTROWTO(Z2, sgemmKernel6x16Z_done)
	OUTROWTO(Z3, sgemmKernel6x16Z_done)
	OUTROWTO(Z4, sgemmKernel6x16Z_done)
	OUTROWTO(Z5, sgemmKernel6x16Z_done)

sgemmKernel6x16Z_done:
	VZEROUPPER
	RET

// func sgemmKernel8x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// sgemmKernel12x16 for m ≤ 8 rows (the first two of the second panel),
// the same bits; a holds two panels, as for sgemmKernel12x16.
TEXT ·sgemmKernel8x16(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows
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

	CMPQ CX, $4
	JLT  sgemmKernel8x16_tail

sgemmKernel8x16_loop4:
	STEP8((DI), 0)
	STEP8((DI)(R12*1), 24)
	STEP8((DI)(R12*2), 48)
	STEP8((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel8x16_loop4

sgemmKernel8x16_tail:
	TESTQ CX, CX
	JZ    sgemmKernel8x16_scale

sgemmKernel8x16_loop1:
	STEP8((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	ADDQ $24, R9
	DECQ CX
	JNZ  sgemmKernel8x16_loop1

sgemmKernel8x16_scale:
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel8x16_store
	VBROADCASTSS alpha+40(FP), Z12
	VMULPS       Z12, Z0, Z0
	VMULPS       Z12, Z1, Z1
	VMULPS       Z12, Z2, Z2
	VMULPS       Z12, Z3, Z3
	VMULPS       Z12, Z4, Z4
	VMULPS       Z12, Z5, Z5
	VMULPS       Z12, Z6, Z6
	VMULPS       Z12, Z7, Z7

sgemmKernel8x16_store:
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROWTO(Z0, sgemmKernel8x16_done)
	OUTROWTO(Z1, sgemmKernel8x16_done)
	OUTROWTO(Z2, sgemmKernel8x16_done)
	OUTROWTO(Z3, sgemmKernel8x16_done)
	OUTROWTO(Z4, sgemmKernel8x16_done)
	OUTROWTO(Z5, sgemmKernel8x16_done)
	OUTROWTO(Z6, sgemmKernel8x16_done)
	OUTROWTO(Z7, sgemmKernel8x16_done)

sgemmKernel8x16_done:
	VZEROUPPER
	RET

// STEP10 is STEP8 with rows 8 and 9 too; STEP4 and STEP2 are STEP6 for
// the first rows of one panel.
#define STEP10(baddr, aoff) \
	STEP8(baddr, aoff); \
	VFMADD231PS.BCST aoff+8(R9), Z12, Z8; \
	VFMADD231PS.BCST aoff+12(R9), Z12, Z9

#define STEP4(baddr, aoff) \
	VMOVUPS          baddr, Z12; \
	VFMADD231PS.BCST aoff(SI), Z12, Z0; \
	VFMADD231PS.BCST aoff+4(SI), Z12, Z1; \
	VFMADD231PS.BCST aoff+8(SI), Z12, Z2; \
	VFMADD231PS.BCST aoff+12(SI), Z12, Z3

#define STEP2(baddr, aoff) \
	VMOVUPS          baddr, Z12; \
	VFMADD231PS.BCST aoff(SI), Z12, Z0; \
	VFMADD231PS.BCST aoff+4(SI), Z12, Z1

// func sgemmKernel10x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// sgemmKernel12x16 for m ≤ 10 rows (the first four of the second panel),
// the same bits; a holds two panels, as for sgemmKernel12x16.
TEXT ·sgemmKernel10x16(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows
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

	CMPQ CX, $4
	JLT  sgemmKernel10x16_tail

sgemmKernel10x16_loop4:
	STEP10((DI), 0)
	STEP10((DI)(R12*1), 24)
	STEP10((DI)(R12*2), 48)
	STEP10((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel10x16_loop4

sgemmKernel10x16_tail:
	TESTQ CX, CX
	JZ    sgemmKernel10x16_scale

sgemmKernel10x16_loop1:
	STEP10((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	ADDQ $24, R9
	DECQ CX
	JNZ  sgemmKernel10x16_loop1

sgemmKernel10x16_scale:
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel10x16_store
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

sgemmKernel10x16_store:
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROWTO(Z0, sgemmKernel10x16_done)
	OUTROWTO(Z1, sgemmKernel10x16_done)
	OUTROWTO(Z2, sgemmKernel10x16_done)
	OUTROWTO(Z3, sgemmKernel10x16_done)
	OUTROWTO(Z4, sgemmKernel10x16_done)
	OUTROWTO(Z5, sgemmKernel10x16_done)
	OUTROWTO(Z6, sgemmKernel10x16_done)
	OUTROWTO(Z7, sgemmKernel10x16_done)
	OUTROWTO(Z8, sgemmKernel10x16_done)
	OUTROWTO(Z9, sgemmKernel10x16_done)

sgemmKernel10x16_done:
	VZEROUPPER
	RET


// func sgemmKernel4x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// sgemmKernel6x16Z for m ≤ 4 rows of one panel, the same bits.
TEXT ·sgemmKernel4x16Z(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

	CMPQ CX, $4
	JLT  sgemmKernel4x16Z_tail

sgemmKernel4x16Z_loop4:
	STEP4((DI), 0)
	STEP4((DI)(R12*1), 24)
	STEP4((DI)(R12*2), 48)
	STEP4((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel4x16Z_loop4

sgemmKernel4x16Z_tail:
	TESTQ CX, CX
	JZ    sgemmKernel4x16Z_scale

sgemmKernel4x16Z_loop1:
	STEP4((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	DECQ CX
	JNZ  sgemmKernel4x16Z_loop1

sgemmKernel4x16Z_scale:
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel4x16Z_store
	VBROADCASTSS alpha+40(FP), Z12
	VMULPS       Z12, Z0, Z0
	VMULPS       Z12, Z1, Z1
	VMULPS       Z12, Z2, Z2
	VMULPS       Z12, Z3, Z3

sgemmKernel4x16Z_store:
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROWTO(Z0, sgemmKernel4x16Z_done)
	OUTROWTO(Z1, sgemmKernel4x16Z_done)
	OUTROWTO(Z2, sgemmKernel4x16Z_done)
	OUTROWTO(Z3, sgemmKernel4x16Z_done)

sgemmKernel4x16Z_done:
	VZEROUPPER
	RET


// func sgemmKernel2x16Z(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// sgemmKernel6x16Z for m ≤ 2 rows of one panel, the same bits.
TEXT ·sgemmKernel2x16Z(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12           // bytes per row of B (64 when packed)
	LEAQ (R12)(R12*2), R13 // three rows

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

	CMPQ CX, $4
	JLT  sgemmKernel2x16Z_tail

sgemmKernel2x16Z_loop4:
	STEP2((DI), 0)
	STEP2((DI)(R12*1), 24)
	STEP2((DI)(R12*2), 48)
	STEP2((DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel2x16Z_loop4

sgemmKernel2x16Z_tail:
	TESTQ CX, CX
	JZ    sgemmKernel2x16Z_scale

sgemmKernel2x16Z_loop1:
	STEP2((DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	DECQ CX
	JNZ  sgemmKernel2x16Z_loop1

sgemmKernel2x16Z_scale:
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel2x16Z_store
	VBROADCASTSS alpha+40(FP), Z12
	VMULPS       Z12, Z0, Z0
	VMULPS       Z12, Z1, Z1

sgemmKernel2x16Z_store:
	MOVQ         n+56(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVL         beta+44(FP), BX
	ANDL         $0x7fffffff, BX
	VBROADCASTSS beta+44(FP), Z13
	MOVQ         m+48(FP), R10
	OUTROWTO(Z0, sgemmKernel2x16Z_done)
	OUTROWTO(Z1, sgemmKernel2x16Z_done)

sgemmKernel2x16Z_done:
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

// func transposeShifted16Z(base *float32, col int, off *int32, mask, next *uint16, sh int, dst *float32)
//
// Rows i < 16: base[off[i]+col … +15] under the opmask (next[i]<<16 |
// mask[i]) >> sh (zero-
// masked: masked-off lanes read nothing). dst[16j+i] = row i, element j:
// a 16×16 transpose in four rounds (32-bit and 64-bit interleaves within
// 128-bit lanes, then two rounds of lane shuffles).
#define SHIFTROW(i, z) \
	MOVLQSX   (i*4)(R8), AX; \
	MOVWLZX   (i*2)(R9), BX; \
	MOVWLZX   (i*2)(R10), DX; \
	SHLL      $16, DX; \
	ORL       DX, BX; \
	SHRL      CX, BX; \
	KMOVW     BX, K1; \
	VMOVUPS.Z (SI)(AX*4), K1, z

TEXT ·transposeShifted16Z(SB), NOSPLIT, $0-56
	MOVQ base+0(FP), SI
	MOVQ col+8(FP), AX
	LEAQ (SI)(AX*4), SI
	MOVQ off+16(FP), R8
	MOVQ mask+24(FP), R9
	MOVQ next+32(FP), R10
	MOVQ sh+40(FP), CX
	MOVQ dst+48(FP), DI
	SHIFTROW(0, Z0)
	SHIFTROW(1, Z1)
	SHIFTROW(2, Z2)
	SHIFTROW(3, Z3)
	SHIFTROW(4, Z4)
	SHIFTROW(5, Z5)
	SHIFTROW(6, Z6)
	SHIFTROW(7, Z7)
	SHIFTROW(8, Z8)
	SHIFTROW(9, Z9)
	SHIFTROW(10, Z10)
	SHIFTROW(11, Z11)
	SHIFTROW(12, Z12)
	SHIFTROW(13, Z13)
	SHIFTROW(14, Z14)
	SHIFTROW(15, Z15)

	// t[2k], t[2k+1] = 32-bit interleaves of rows 2k, 2k+1
	VUNPCKLPS Z1, Z0, Z16
	VUNPCKHPS Z1, Z0, Z17
	VUNPCKLPS Z3, Z2, Z18
	VUNPCKHPS Z3, Z2, Z19
	VUNPCKLPS Z5, Z4, Z20
	VUNPCKHPS Z5, Z4, Z21
	VUNPCKLPS Z7, Z6, Z22
	VUNPCKHPS Z7, Z6, Z23
	VUNPCKLPS Z9, Z8, Z24
	VUNPCKHPS Z9, Z8, Z25
	VUNPCKLPS Z11, Z10, Z26
	VUNPCKHPS Z11, Z10, Z27
	VUNPCKLPS Z13, Z12, Z28
	VUNPCKHPS Z13, Z12, Z29
	VUNPCKLPS Z15, Z14, Z30
	VUNPCKHPS Z15, Z14, Z31

	// u[4g+j]: within each 128-bit lane L, element 4L+j of rows 4g … 4g+3
	VUNPCKLPD Z18, Z16, Z0
	VUNPCKHPD Z18, Z16, Z1
	VUNPCKLPD Z19, Z17, Z2
	VUNPCKHPD Z19, Z17, Z3
	VUNPCKLPD Z22, Z20, Z4
	VUNPCKHPD Z22, Z20, Z5
	VUNPCKLPD Z23, Z21, Z6
	VUNPCKHPD Z23, Z21, Z7
	VUNPCKLPD Z26, Z24, Z8
	VUNPCKHPD Z26, Z24, Z9
	VUNPCKLPD Z27, Z25, Z10
	VUNPCKHPD Z27, Z25, Z11
	VUNPCKLPD Z30, Z28, Z12
	VUNPCKHPD Z30, Z28, Z13
	VUNPCKLPD Z31, Z29, Z14
	VUNPCKHPD Z31, Z29, Z15

	// lanes 0, 2 (0x88) and 1, 3 (0xdd) of groups 0|1 and 2|3
	VSHUFF32X4 $0x88, Z4, Z0, Z16
	VSHUFF32X4 $0xdd, Z4, Z0, Z20
	VSHUFF32X4 $0x88, Z12, Z8, Z24
	VSHUFF32X4 $0xdd, Z12, Z8, Z28
	VSHUFF32X4 $0x88, Z5, Z1, Z17
	VSHUFF32X4 $0xdd, Z5, Z1, Z21
	VSHUFF32X4 $0x88, Z13, Z9, Z25
	VSHUFF32X4 $0xdd, Z13, Z9, Z29
	VSHUFF32X4 $0x88, Z6, Z2, Z18
	VSHUFF32X4 $0xdd, Z6, Z2, Z22
	VSHUFF32X4 $0x88, Z14, Z10, Z26
	VSHUFF32X4 $0xdd, Z14, Z10, Z30
	VSHUFF32X4 $0x88, Z7, Z3, Z19
	VSHUFF32X4 $0xdd, Z7, Z3, Z23
	VSHUFF32X4 $0x88, Z15, Z11, Z27
	VSHUFF32X4 $0xdd, Z15, Z11, Z31

	// column c = 4L+j of the rows: lane L of every group
	VSHUFF32X4 $0x88, Z24, Z16, Z0
	VMOVUPS    Z0, 0(DI)
	VSHUFF32X4 $0xdd, Z24, Z16, Z0
	VMOVUPS    Z0, 512(DI)
	VSHUFF32X4 $0x88, Z28, Z20, Z0
	VMOVUPS    Z0, 256(DI)
	VSHUFF32X4 $0xdd, Z28, Z20, Z0
	VMOVUPS    Z0, 768(DI)
	VSHUFF32X4 $0x88, Z25, Z17, Z0
	VMOVUPS    Z0, 64(DI)
	VSHUFF32X4 $0xdd, Z25, Z17, Z0
	VMOVUPS    Z0, 576(DI)
	VSHUFF32X4 $0x88, Z29, Z21, Z0
	VMOVUPS    Z0, 320(DI)
	VSHUFF32X4 $0xdd, Z29, Z21, Z0
	VMOVUPS    Z0, 832(DI)
	VSHUFF32X4 $0x88, Z26, Z18, Z0
	VMOVUPS    Z0, 128(DI)
	VSHUFF32X4 $0xdd, Z26, Z18, Z0
	VMOVUPS    Z0, 640(DI)
	VSHUFF32X4 $0x88, Z30, Z22, Z0
	VMOVUPS    Z0, 384(DI)
	VSHUFF32X4 $0xdd, Z30, Z22, Z0
	VMOVUPS    Z0, 896(DI)
	VSHUFF32X4 $0x88, Z27, Z19, Z0
	VMOVUPS    Z0, 192(DI)
	VSHUFF32X4 $0xdd, Z27, Z19, Z0
	VMOVUPS    Z0, 704(DI)
	VSHUFF32X4 $0x88, Z31, Z23, Z0
	VMOVUPS    Z0, 448(DI)
	VSHUFF32X4 $0xdd, Z31, Z23, Z0
	VMOVUPS    Z0, 960(DI)
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

// STEP12X32 is STEP12 on two B panels side by side (columns 0–15 from
// DI, 16–31 from R13, both packed: rows of 64 bytes): each element of
// column q of the two A panels is broadcast once (Z26, Z27) and feeds
// the two panels' accumulators (Z0–Z11 and Z12–Z23). Fourteen loads per
// 24 multiply-adds instead of thirteen per 12: the 12×16 tile is bound
// by its loads, this one by its multiply-adds. Every element of C still
// sums its products in k order with one fused multiply-add each: the
// same bits.
#define STEP12X32(boff, aoff) \
	VMOVUPS boff(DI), Z24; \
	VMOVUPS boff(R13), Z25; \
	VBROADCASTSS aoff(SI), Z26; \
	VFMADD231PS Z24, Z26, Z0; \
	VFMADD231PS Z25, Z26, Z12; \
	VBROADCASTSS aoff+4(SI), Z27; \
	VFMADD231PS Z24, Z27, Z1; \
	VFMADD231PS Z25, Z27, Z13; \
	VBROADCASTSS aoff+8(SI), Z26; \
	VFMADD231PS Z24, Z26, Z2; \
	VFMADD231PS Z25, Z26, Z14; \
	VBROADCASTSS aoff+12(SI), Z27; \
	VFMADD231PS Z24, Z27, Z3; \
	VFMADD231PS Z25, Z27, Z15; \
	VBROADCASTSS aoff+16(SI), Z26; \
	VFMADD231PS Z24, Z26, Z4; \
	VFMADD231PS Z25, Z26, Z16; \
	VBROADCASTSS aoff+20(SI), Z27; \
	VFMADD231PS Z24, Z27, Z5; \
	VFMADD231PS Z25, Z27, Z17; \
	VBROADCASTSS aoff(R9), Z26; \
	VFMADD231PS Z24, Z26, Z6; \
	VFMADD231PS Z25, Z26, Z18; \
	VBROADCASTSS aoff+4(R9), Z27; \
	VFMADD231PS Z24, Z27, Z7; \
	VFMADD231PS Z25, Z27, Z19; \
	VBROADCASTSS aoff+8(R9), Z26; \
	VFMADD231PS Z24, Z26, Z8; \
	VFMADD231PS Z25, Z26, Z20; \
	VBROADCASTSS aoff+12(R9), Z27; \
	VFMADD231PS Z24, Z27, Z9; \
	VFMADD231PS Z25, Z27, Z21; \
	VBROADCASTSS aoff+16(R9), Z26; \
	VFMADD231PS Z24, Z26, Z10; \
	VFMADD231PS Z25, Z26, Z22; \
	VBROADCASTSS aoff+20(R9), Z27; \
	VFMADD231PS Z24, Z27, Z11; \
	VFMADD231PS Z25, Z27, Z23

// STOREROW32 stores accumulators r (columns 0–15, all of them) and s
// (columns 16–31, under K2) of a C row at DX, each + beta·C when BX ≠ 0
// (beta in Z29), and moves DX to the next row.
#define STOREROW32(r, s) \
	TESTQ       BX, BX; \
	JZ          3(PC); \
	VFMADD231PS (DX), Z29, r; \
	VFMADD231PS 64(DX), Z29, K2, s; \
	VMOVUPS     r, (DX); \
	VMOVUPS     s, K2, 64(DX); \
	ADDQ        R8, DX

// func sgemmKernel12x32N(kc int, a, b0, b1, c *float32, ldc int, alpha, beta float32, n1, tiles int)
//
// sgemmKernel12x16N on two packed B panels at once: b0 (C's columns
// 0–15, all of them) and b1 (columns 16 … 16+n1−1, 0 < n1 ≤ 16), tiles
// full 12-row tiles one under the other (2·tiles consecutive A panels,
// C of 12·tiles rows). The same bits as sgemmKernel12x16N on each panel.
TEXT ·sgemmKernel12x32N(SB), NOSPLIT, $0-72
	MOVQ         a+8(FP), SI
	MOVQ         c+32(FP), DX
	MOVQ         ldc+40(FP), R8
	SHLQ         $2, R8
	MOVQ         kc+0(FP), AX
	LEAQ         (AX)(AX*2), AX
	SHLQ         $3, AX            // 24·kc bytes: one A panel
	MOVQ         n1+56(FP), CX
	MOVL         $1, BX
	SHLL         CX, BX
	DECL         BX
	KMOVW        BX, K2            // the second panel's first n1 columns
	MOVL         beta+52(FP), BX
	ANDL         $0x7fffffff, BX   // BX ≠ 0 when beta is not ±0
	VBROADCASTSS beta+52(FP), Z29
	MOVL         alpha+48(FP), R10
	VBROADCASTSS alpha+48(FP), Z28
	MOVQ         tiles+64(FP), R11

sgemmKernel12x32N_tile:
	MOVQ kc+0(FP), CX
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), R13
	LEAQ (SI)(AX*1), R9

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
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

	CMPQ CX, $4
	JLT  sgemmKernel12x32N_tail

sgemmKernel12x32N_loop4:
	STEP12X32(0, 0)
	STEP12X32(64, 24)
	STEP12X32(128, 48)
	STEP12X32(192, 72)
	ADDQ $256, DI
	ADDQ $256, R13
	ADDQ $96, SI
	ADDQ $96, R9
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel12x32N_loop4

sgemmKernel12x32N_tail:
	TESTQ CX, CX
	JZ    sgemmKernel12x32N_scale

sgemmKernel12x32N_loop1:
	STEP12X32(0, 0)
	ADDQ $64, DI
	ADDQ $64, R13
	ADDQ $24, SI
	ADDQ $24, R9
	DECQ CX
	JNZ  sgemmKernel12x32N_loop1

sgemmKernel12x32N_scale:
	CMPL   R10, $0x3f800000
	JEQ    sgemmKernel12x32N_store
	VMULPS Z28, Z0, Z0
	VMULPS Z28, Z1, Z1
	VMULPS Z28, Z2, Z2
	VMULPS Z28, Z3, Z3
	VMULPS Z28, Z4, Z4
	VMULPS Z28, Z5, Z5
	VMULPS Z28, Z6, Z6
	VMULPS Z28, Z7, Z7
	VMULPS Z28, Z8, Z8
	VMULPS Z28, Z9, Z9
	VMULPS Z28, Z10, Z10
	VMULPS Z28, Z11, Z11
	VMULPS Z28, Z12, Z12
	VMULPS Z28, Z13, Z13
	VMULPS Z28, Z14, Z14
	VMULPS Z28, Z15, Z15
	VMULPS Z28, Z16, Z16
	VMULPS Z28, Z17, Z17
	VMULPS Z28, Z18, Z18
	VMULPS Z28, Z19, Z19
	VMULPS Z28, Z20, Z20
	VMULPS Z28, Z21, Z21
	VMULPS Z28, Z22, Z22
	VMULPS Z28, Z23, Z23

sgemmKernel12x32N_store:
	STOREROW32(Z0, Z12)
	STOREROW32(Z1, Z13)
	STOREROW32(Z2, Z14)
	STOREROW32(Z3, Z15)
	STOREROW32(Z4, Z16)
	STOREROW32(Z5, Z17)
	STOREROW32(Z6, Z18)
	STOREROW32(Z7, Z19)
	STOREROW32(Z8, Z20)
	STOREROW32(Z9, Z21)
	STOREROW32(Z10, Z22)
	STOREROW32(Z11, Z23)

	// DX is at the next tile's first row, R9 at its first A panel.
	MOVQ R9, SI
	DECQ R11
	JNZ  sgemmKernel12x32N_tile
	VZEROUPPER
	RET

// STEP4X32 is STEP12X32 for rows 0–3 of one A panel: eight
// accumulators (Z0–Z3 and Z4–Z7), as many as the multiply-adds'
// latency needs to keep both FMA units busy.
#define STEP4X32(boff, aoff) \
	VMOVUPS boff(DI), Z24; \
	VMOVUPS boff(R13), Z25; \
	VBROADCASTSS aoff(SI), Z26; \
	VFMADD231PS Z24, Z26, Z0; \
	VFMADD231PS Z25, Z26, Z4; \
	VBROADCASTSS aoff+4(SI), Z27; \
	VFMADD231PS Z24, Z27, Z1; \
	VFMADD231PS Z25, Z27, Z5; \
	VBROADCASTSS aoff+8(SI), Z26; \
	VFMADD231PS Z24, Z26, Z2; \
	VFMADD231PS Z25, Z26, Z6; \
	VBROADCASTSS aoff+12(SI), Z27; \
	VFMADD231PS Z24, Z27, Z3; \
	VFMADD231PS Z25, Z27, Z7

// OUTROW32TO is STOREROW32 leaving to out when R10 rows are done.
#define OUTROW32TO(r, s, out) \
	STOREROW32(r, s); \
	DECQ R10; \
	JZ   out

// func sgemmKernel4x32Z(kc int, a, b0, b1, c *float32, ldc int, alpha, beta float32, m, n1 int)
//
// sgemmKernel4x16Z on two packed B panels at once (b0: columns 0–15,
// b1: columns 16 … 16+n1−1), m ≤ 4 rows of one A panel: the rows a
// block of 64 or 256 rows leaves after its 12-row tiles. The same bits
// as sgemmKernel4x16Z on each panel.
TEXT ·sgemmKernel4x32Z(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b0+16(FP), DI
	MOVQ b1+24(FP), R13
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

	CMPQ CX, $4
	JLT  sgemmKernel4x32Z_tail

sgemmKernel4x32Z_loop4:
	STEP4X32(0, 0)
	STEP4X32(64, 24)
	STEP4X32(128, 48)
	STEP4X32(192, 72)
	ADDQ $256, DI
	ADDQ $256, R13
	ADDQ $96, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  sgemmKernel4x32Z_loop4

sgemmKernel4x32Z_tail:
	TESTQ CX, CX
	JZ    sgemmKernel4x32Z_scale

sgemmKernel4x32Z_loop1:
	STEP4X32(0, 0)
	ADDQ $64, DI
	ADDQ $64, R13
	ADDQ $24, SI
	DECQ CX
	JNZ  sgemmKernel4x32Z_loop1

sgemmKernel4x32Z_scale:
	MOVL alpha+48(FP), AX
	CMPL AX, $0x3f800000
	JEQ  sgemmKernel4x32Z_store
	VBROADCASTSS alpha+48(FP), Z28
	VMULPS Z28, Z0, Z0
	VMULPS Z28, Z1, Z1
	VMULPS Z28, Z2, Z2
	VMULPS Z28, Z3, Z3
	VMULPS Z28, Z4, Z4
	VMULPS Z28, Z5, Z5
	VMULPS Z28, Z6, Z6
	VMULPS Z28, Z7, Z7

sgemmKernel4x32Z_store:
	MOVQ         n1+64(FP), CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K2            // the second panel's first n1 columns
	MOVL         beta+52(FP), BX
	ANDL         $0x7fffffff, BX   // BX ≠ 0 when beta is not ±0
	VBROADCASTSS beta+52(FP), Z29
	MOVQ         m+56(FP), R10
	OUTROW32TO(Z0, Z4, sgemmKernel4x32Z_done)
	OUTROW32TO(Z1, Z5, sgemmKernel4x32Z_done)
	OUTROW32TO(Z2, Z6, sgemmKernel4x32Z_done)
	OUTROW32TO(Z3, Z7, sgemmKernel4x32Z_done)

sgemmKernel4x32Z_done:
	VZEROUPPER
	RET
