//go:build amd64 && !purego

#include "textflag.h"

// STEP performs one rank-1 update of the 6×16 accumulator tile Y0…Y11
// (row i in Y(2i), Y(2i+1)): it loads row q of the B panel (its two
// halves at b0 and b1) into Y12, Y13 and broadcasts each of the six
// elements of column q of the packed A panel (at aoff(SI)).
#define STEP(b0, b1, aoff) \
	VMOVUPS      b0, Y12; \
	VMOVUPS      b1, Y13; \
	VBROADCASTSS aoff(SI), Y14; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VBROADCASTSS aoff+4(SI), Y15; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS aoff+8(SI), Y14; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VBROADCASTSS aoff+12(SI), Y15; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS aoff+16(SI), Y14; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VBROADCASTSS aoff+20(SI), Y15; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11

// ROW stores accumulators r0, r1 to the C row at DX and moves DX to the
// next row.
#define ROW(r0, r1) \
	VMOVUPS r0, (DX); \
	VMOVUPS r1, 32(DX); \
	ADDQ    R8, DX

// ROWBETA stores r0 + beta·C, r1 + beta·C (beta in Y13) to the C row at DX
// and moves DX to the next row.
#define ROWBETA(r0, r1) \
	VFMADD231PS (DX), Y13, r0; \
	VFMADD231PS 32(DX), Y13, r1; \
	VMOVUPS     r0, (DX); \
	VMOVUPS     r1, 32(DX); \
	ADDQ        R8, DX

// iota holds 0, 1, …, 15: the column indices of a tile, for edge masks.
DATA iota<>+0(SB)/4, $0
DATA iota<>+4(SB)/4, $1
DATA iota<>+8(SB)/4, $2
DATA iota<>+12(SB)/4, $3
DATA iota<>+16(SB)/4, $4
DATA iota<>+20(SB)/4, $5
DATA iota<>+24(SB)/4, $6
DATA iota<>+28(SB)/4, $7
DATA iota<>+32(SB)/4, $8
DATA iota<>+36(SB)/4, $9
DATA iota<>+40(SB)/4, $10
DATA iota<>+44(SB)/4, $11
DATA iota<>+48(SB)/4, $12
DATA iota<>+52(SB)/4, $13
DATA iota<>+56(SB)/4, $14
DATA iota<>+60(SB)/4, $15
GLOBL iota<>(SB), RODATA|NOPTR, $64

// EDGEROW stores the first columns of accumulators r0, r1 (+ beta·C when
// beta is not zero, BX ≠ 0) to the C row at DX under the column masks Y14,
// Y15, moves DX to the next row and leaves when R10 rows are done.
#define EDGEROW(r0, r1) \
	TESTQ       BX, BX; \
	JZ          3(PC); \
	VMASKMOVPS  (DX), Y14, Y12; \
	VFMADD231PS Y12, Y13, r0; \
	TESTQ       BX, BX; \
	JZ          3(PC); \
	VMASKMOVPS  32(DX), Y15, Y12; \
	VFMADD231PS Y12, Y13, r1; \
	VMASKMOVPS  r0, Y14, (DX); \
	VMASKMOVPS  r1, Y15, 32(DX); \
	ADDQ        R8, DX; \
	DECQ        R10; \
	JZ          edgeDone

// func sgemmKernel6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, m, n, ldb int)
//
// Row q of the B panel is at b + q·ldb: ldb is 16 for a packed panel, the
// row stride of B when the kernel reads it in place.
TEXT ·sgemmKernel6x16(SB), NOSPLIT, $0-72
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8
	MOVQ ldb+64(FP), R12
	SHLQ $2, R12             // bytes per row of B
	LEAQ (R12)(R12*2), R13   // three rows

	// Bring the six rows of C towards L1 while the products accumulate.
	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP((DI), 32(DI), 0)
	STEP((DI)(R12*1), 32(DI)(R12*1), 24)
	STEP((DI)(R12*2), 32(DI)(R12*2), 48)
	STEP((DI)(R13*1), 32(DI)(R13*1), 72)
	LEAQ (DI)(R12*4), DI
	ADDQ $96, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    done

loop1:
	STEP((DI), 32(DI), 0)
	ADDQ R12, DI
	ADDQ $24, SI
	DECQ CX
	JNZ  loop1

done:
	// Scale by alpha unless it is 1.
	MOVL alpha+40(FP), AX
	CMPL AX, $0x3f800000
	JEQ  scaled
	VBROADCASTSS alpha+40(FP), Y12
	VMULPS       Y12, Y0, Y0
	VMULPS       Y12, Y1, Y1
	VMULPS       Y12, Y2, Y2
	VMULPS       Y12, Y3, Y3
	VMULPS       Y12, Y4, Y4
	VMULPS       Y12, Y5, Y5
	VMULPS       Y12, Y6, Y6
	VMULPS       Y12, Y7, Y7
	VMULPS       Y12, Y8, Y8
	VMULPS       Y12, Y9, Y9
	VMULPS       Y12, Y10, Y10
	VMULPS       Y12, Y11, Y11

scaled:
	MOVQ m+48(FP), R10
	MOVQ n+56(FP), R11
	MOVL beta+44(FP), AX
	ANDL $0x7fffffff, AX // AX = 0 when beta = ±0
	CMPQ R10, $6
	JNE  edge
	CMPQ R11, $16
	JNE  edge

	// A full tile. beta = ±0: store without reading C.
	TESTL AX, AX
	JZ    nobeta
	VBROADCASTSS beta+44(FP), Y13
	ROWBETA(Y0, Y1)
	ROWBETA(Y2, Y3)
	ROWBETA(Y4, Y5)
	ROWBETA(Y6, Y7)
	ROWBETA(Y8, Y9)
	ROWBETA(Y10, Y11)
	VZEROUPPER
	RET

nobeta:
	ROW(Y0, Y1)
	ROW(Y2, Y3)
	ROW(Y4, Y5)
	ROW(Y6, Y7)
	ROW(Y8, Y9)
	ROW(Y10, Y11)
	VZEROUPPER
	RET

edge:
	// An edge tile: R10 = m rows of R11 = n columns. Masked loads and
	// stores touch only those columns; rows stop after m.
	MOVQ         AX, BX
	VMOVQ        R11, X12
	VPBROADCASTD X12, Y12
	VMOVDQU      iota<>+0(SB), Y13
	VPCMPGTD     Y13, Y12, Y14 // column j < n, j = 0…7
	VMOVDQU      iota<>+32(SB), Y13
	VPCMPGTD     Y13, Y12, Y15 // j = 8…15
	VBROADCASTSS beta+44(FP), Y13
	EDGEROW(Y0, Y1)
	EDGEROW(Y2, Y3)
	EDGEROW(Y4, Y5)
	EDGEROW(Y6, Y7)
	EDGEROW(Y8, Y9)
	EDGEROW(Y10, Y11)

edgeDone:
	VZEROUPPER
	RET

// Lane bits of a 16-bit mask: lanes 0–7, then 8–15.
DATA shiftBits<>+0(SB)/4, $0x1
DATA shiftBits<>+4(SB)/4, $0x2
DATA shiftBits<>+8(SB)/4, $0x4
DATA shiftBits<>+12(SB)/4, $0x8
DATA shiftBits<>+16(SB)/4, $0x10
DATA shiftBits<>+20(SB)/4, $0x20
DATA shiftBits<>+24(SB)/4, $0x40
DATA shiftBits<>+28(SB)/4, $0x80
DATA shiftBits<>+32(SB)/4, $0x100
DATA shiftBits<>+36(SB)/4, $0x200
DATA shiftBits<>+40(SB)/4, $0x400
DATA shiftBits<>+44(SB)/4, $0x800
DATA shiftBits<>+48(SB)/4, $0x1000
DATA shiftBits<>+52(SB)/4, $0x2000
DATA shiftBits<>+56(SB)/4, $0x4000
DATA shiftBits<>+60(SB)/4, $0x8000
GLOBL shiftBits<>(SB), RODATA|NOPTR, $64

// LANEMASKS turns the 16-bit mask at (R9), broadcast to every word, into
// two lane masks: Y1 for lanes 0–7, Y2 for lanes 8–15 (all ones where
// the lane's bit is set), with the lane bits in Y14 and Y15. Clobbers Y0.
#define LANEMASKS \
	VPBROADCASTW (R9), Y0; \
	VPAND        Y14, Y0, Y1; \
	VPCMPEQD     Y14, Y1, Y1; \
	VPAND        Y15, Y0, Y2; \
	VPCMPEQD     Y15, Y2, Y2

// func packShifted16(kc int, base *float32, col int, off *int32, mask *uint16, dst *float32)
//
// For q < kc: dst[16q … 16q+15] = base[off[q]+col … +15] where the bits
// of mask[q] are set, 0 elsewhere. The 16-bit mask, broadcast to every
// word, becomes two lane masks (AND with each lane's bit, compare); the
// masked loads read no masked-off lane, so a window may start before
// base or end past it.
TEXT ·packShifted16(SB), NOSPLIT, $0-48
	MOVQ       kc+0(FP), CX
	MOVQ       base+8(FP), SI
	MOVQ       col+16(FP), AX
	LEAQ       (SI)(AX*4), SI
	MOVQ       off+24(FP), R8
	MOVQ       mask+32(FP), R9
	MOVQ       dst+40(FP), DI
	VMOVDQU    shiftBits<>+0(SB), Y14
	VMOVDQU    shiftBits<>+32(SB), Y15

shiftedRow:
	MOVLQSX      (R8), AX
	LANEMASKS
	VMASKMOVPS   (SI)(AX*4), Y1, Y3
	VMASKMOVPS   32(SI)(AX*4), Y2, Y4
	VMOVUPS      Y3, (DI)
	VMOVUPS      Y4, 32(DI)
	ADDQ         $4, R8
	ADDQ         $2, R9
	ADDQ         $64, DI
	DECQ         CX
	JNZ          shiftedRow
	VZEROUPPER
	RET

// func packShiftedT16(kc int, base *float32, p0 int, off *int32, mask *uint16, stride int, dst *float32)
//
// For q < kc: dst[16q+i] = base[off[i]+p0+q] for the lanes i whose bit
// is set in mask[q·stride], 0 elsewhere: two gathers of eight lanes per
// row of the panel (lane masks made as in packShifted16), reading no
// masked-off lane.
TEXT ·packShiftedT16(SB), NOSPLIT, $0-56
	MOVQ         kc+0(FP), CX
	MOVQ         base+8(FP), SI
	MOVQ         off+24(FP), AX
	VMOVDQU      (AX), Y10
	VMOVDQU      32(AX), Y11
	VPBROADCASTD p0+16(FP), Y12
	VPADDD       Y12, Y10, Y10 // lane i: off[i] + p0
	VPADDD       Y12, Y11, Y11
	MOVL         $1, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU      shiftBits<>+0(SB), Y14
	VMOVDQU      shiftBits<>+32(SB), Y15
	MOVQ         mask+32(FP), R9
	MOVQ         stride+40(FP), R10
	SHLQ         $1, R10
	MOVQ         dst+48(FP), DI

shiftedTRow:
	LANEMASKS
	VPXOR        Y3, Y3, Y3
	VPXOR        Y4, Y4, Y4
	VGATHERDPS   Y1, (SI)(Y10*4), Y3
	VGATHERDPS   Y2, (SI)(Y11*4), Y4
	VMOVUPS      Y3, (DI)
	VMOVUPS      Y4, 32(DI)
	VPADDD       Y13, Y10, Y10
	VPADDD       Y13, Y11, Y11
	ADDQ         R10, R9
	ADDQ         $64, DI
	DECQ         CX
	JNZ          shiftedTRow
	VZEROUPPER
	RET

// func scatterAdd16(m int, t *float32, base *float32, col int, off *int32, mask *uint16)
//
// For i < m: base[off[i]+col+j] += t[16i+j] for the bits j set in mask[i]
// with masked loads and stores (VMASKMOVPS: masked-off lanes
// are neither read nor written). m > 0.
TEXT ·scatterAdd16(SB), NOSPLIT, $0-48
	MOVQ         m+0(FP), CX
	MOVQ         t+8(FP), DX
	MOVQ         base+16(FP), SI
	MOVQ         col+24(FP), AX
	LEAQ         (SI)(AX*4), SI
	MOVQ         off+32(FP), R8
	MOVQ         mask+40(FP), R9
	VMOVDQU      shiftBits<>+0(SB), Y14
	VMOVDQU      shiftBits<>+32(SB), Y15

scatterRow:
	MOVLQSX      (R8), AX
	LANEMASKS
	VMASKMOVPS   (SI)(AX*4), Y1, Y3
	VMASKMOVPS   32(SI)(AX*4), Y2, Y4
	VADDPS       (DX), Y3, Y3
	VADDPS       32(DX), Y4, Y4
	VMASKMOVPS   Y3, Y1, (SI)(AX*4)
	VMASKMOVPS   Y4, Y2, 32(SI)(AX*4)
	ADDQ         $4, R8
	ADDQ         $2, R9
	ADDQ         $64, DX
	DECQ         CX
	JNZ          scatterRow
	VZEROUPPER
	RET
