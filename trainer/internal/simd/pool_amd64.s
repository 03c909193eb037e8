//go:build amd64 && !purego

#include "textflag.h"

// Positions of the outputs of one block of 8 after VSHUFPS $0x88 of two
// rows of 8: lanes hold outputs 0 1 4 5 | 2 3 6 7, each at input column 2k.
DATA poolCols<>+0(SB)/4, $0
DATA poolCols<>+4(SB)/4, $2
DATA poolCols<>+8(SB)/4, $8
DATA poolCols<>+12(SB)/4, $10
DATA poolCols<>+16(SB)/4, $4
DATA poolCols<>+20(SB)/4, $6
DATA poolCols<>+24(SB)/4, $12
DATA poolCols<>+28(SB)/4, $14
GLOBL poolCols<>(SB), RODATA|NOPTR, $32

// poolMask<>+4·(8−j) holds a mask of the first j of 8 lanes.
DATA poolMask<>+0(SB)/8, $-1
DATA poolMask<>+8(SB)/8, $-1
DATA poolMask<>+16(SB)/8, $-1
DATA poolMask<>+24(SB)/8, $-1
DATA poolMask<>+32(SB)/8, $0
DATA poolMask<>+40(SB)/8, $0
DATA poolMask<>+48(SB)/8, $0
DATA poolMask<>+56(SB)/8, $0
GLOBL poolMask<>(SB), RODATA|NOPTR, $64

// BETTER sets mask M to "V > BEST or V is NaN" and takes V and its
// index IX where M is set.
#define BETTER(V, IX, BEST, AT, M, T) \
	VCMPPS    $0x1E, BEST, V, M; \
	VCMPPS    $0x03, V, V, T; \
	VORPS     T, M, M; \
	VBLENDVPS M, V, BEST, BEST; \
	VBLENDVPS M, IX, AT, AT

// POOL8 pools the 16 inputs of r0 in Y0, Y1 and of r1 in Y2, Y3 into 8
// outputs in Y4 (values) and Y8 (indices), in output order.
#define POOL8 \
	VSHUFPS $0x88, Y1, Y0, Y4; \
	VSHUFPS $0xDD, Y1, Y0, Y5; \
	VSHUFPS $0x88, Y3, Y2, Y6; \
	VSHUFPS $0xDD, Y3, Y2, Y7; \
	VMOVDQU Y12, Y8; \
	VPADDD  Y14, Y12, Y9; \
	BETTER(Y5, Y9, Y4, Y8, Y10, Y11); \
	VPADDD  Y13, Y12, Y9; \
	BETTER(Y6, Y9, Y4, Y8, Y10, Y11); \
	VPADDD  Y14, Y9, Y9; \
	BETTER(Y7, Y9, Y4, Y8, Y10, Y11); \
	VPERMPD $0xD8, Y4, Y4; \
	VPERMQ  $0xD8, Y8, Y8

// func maxPool22AVX2(n int, r0, r1, y *float32, idx *int32, base, w int32)
//
// For k < n: y[k] = max of r0[2k], r0[2k+1], r1[2k], r1[2k+1] (the
// first of equal values; a NaN wins) and idx[k] = its position, base +
// 2k (+1) in r0, base + w + 2k (+1) in r1.
TEXT ·maxPool22AVX2(SB), NOSPLIT, $0-48
	MOVQ n+0(FP), CX
	MOVQ r0+8(FP), SI
	MOVQ r1+16(FP), DX
	MOVQ y+24(FP), DI
	MOVQ idx+32(FP), R8
	MOVL base+40(FP), AX
	MOVL w+44(FP), BX
	TESTQ CX, CX
	JZ   done

	VMOVD        AX, X12
	VPBROADCASTD X12, Y12                 // base
	VPADDD       poolCols<>(SB), Y12, Y12 // index of each output's r0[2k]
	VMOVD        BX, X13
	VPBROADCASTD X13, Y13                 // w
	MOVL         $1, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14                 // 1
	MOVL         $16, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15                 // 16: the next block's columns

	CMPQ CX, $8
	JLT  tail

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS 32(DX), Y3
	POOL8
	VMOVUPS Y4, (DI)
	VMOVDQU Y8, (R8)
	VPADDD  Y15, Y12, Y12
	ADDQ    $64, SI
	ADDQ    $64, DX
	ADDQ    $32, DI
	ADDQ    $32, R8
	SUBQ    $8, CX
	CMPQ    CX, $8
	JGE     loop
	TESTQ   CX, CX
	JZ      end

tail:
	// m = CX < 8 outputs from 2m inputs per row: masked loads (masked-off
	// lanes never fault) and masked stores.
	LEAQ       poolMask<>(SB), R9
	MOVQ       CX, AX
	SHLQ       $1, AX            // 2m inputs
	MOVQ       $8, BX
	CMPQ       AX, BX
	CMOVQGT    BX, AX            // first min(2m, 8) lanes
	NEGQ       AX
	VMOVDQU    32(R9)(AX*4), Y10
	VMASKMOVPS (SI), Y10, Y0
	VMASKMOVPS (DX), Y10, Y2
	MOVQ       CX, AX
	SHLQ       $1, AX
	SUBQ       $8, AX            // 2m − 8 lanes of the second half, if any
	XORQ       BX, BX
	CMPQ       AX, BX
	CMOVQLT    BX, AX
	NEGQ       AX
	VMOVDQU    32(R9)(AX*4), Y11
	VMASKMOVPS 32(SI), Y11, Y1
	VMASKMOVPS 32(DX), Y11, Y3
	POOL8
	MOVQ       CX, AX
	NEGQ       AX
	VMOVDQU    32(R9)(AX*4), Y10
	VMASKMOVPS Y4, Y10, (DI)
	VPMASKMOVD Y8, Y10, (R8)

end:
	VZEROUPPER

done:
	RET
