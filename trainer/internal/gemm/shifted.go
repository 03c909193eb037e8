package gemm

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
)

// PanelWidth is the number of columns of B in one packed panel: the
// granularity of a [Shifted] matrix's masks.
const PanelWidth = nr

// Shifted is a matrix B (rows × cols) that is never stored: every row is a
// window of one base vector, with some entries zeroed,
//
//	B[r][j] = base[off[r] + j]   where bit j mod 16 of mask[(j/16)·rows + r] is set,
//	B[r][j] = 0                  elsewhere.
//
// It is the column matrix (im2col) of a stride-1 convolution: row r =
// (c, ki, kj) is channel c of the input shifted by (ki−pad)·W + kj−pad,
// with zeros where the kernel hangs over the image's edge. [SgemmShifted]
// packs its panels straight from the base vector (one masked load per row
// of a panel), so the column matrix is neither written nor read.
//
// A Shifted is not safe for concurrent use: SetBase changes it.
type Shifted struct {
	base       []float32
	off        []int32
	mask       []uint16 // panel-major: mask[p·rows + r] covers columns 16p … 16p+15 of row r
	rows, cols int
	need       int // the base vector's least length

	// For packing Bᵀ (panels of 16 rows): off padded with zeros to
	// whole panels of rows; the masks by column: bit i of
	// maskT[j·rowPanels + p] says whether row 16p+i is selected at
	// column j (the gathering packers); and mask with its rows padded
	// (zero masks) to whole panels: maskP[p·rowPanels·16 + r] (the
	// transposing packer).
	offT      []int32
	maskT     []uint16
	maskP     []uint16
	rowPanels int
}

// NewShifted returns the Shifted matrix of the given size with the row
// offsets off (rows of them) and masks mask (rows·⌈cols/16⌉, panel-major).
// Every entry a mask selects must lie at a non-negative index of the base
// vector, and masks select no column past cols; the base vector, given by
// SetBase, must be long enough for every selected entry.
func NewShifted(rows, cols int, off []int32, mask []uint16) (*Shifted, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("gemm: shifted matrix of %d×%d", rows, cols)
	}
	panels := (cols + nr - 1) / nr
	if len(off) != rows || len(mask) != rows*panels {
		return nil, fmt.Errorf("gemm: shifted matrix of %d×%d with %d offsets and %d masks (want %d and %d)",
			rows, cols, len(off), len(mask), rows, rows*panels)
	}
	rowPanels := (rows + nr - 1) / nr
	s := &Shifted{off: off, mask: mask, rows: rows, cols: cols,
		offT: make([]int32, rowPanels*nr), maskT: make([]uint16, cols*rowPanels),
		maskP: make([]uint16, panels*rowPanels*nr), rowPanels: rowPanels}
	copy(s.offT, off)
	for p := range panels {
		copy(s.maskP[p*rowPanels*nr:], mask[p*rows:(p+1)*rows])
	}
	for p := range panels {
		for r := range rows {
			m := mask[p*rows+r]
			for j := range nr {
				if m>>j&1 == 0 {
					continue
				}
				col := p*nr + j
				i := int(off[r]) + col
				if col >= cols || i < 0 {
					return nil, fmt.Errorf("gemm: shifted matrix entry (%d, %d) reads base[%d]", r, col, i)
				}
				s.need = max(s.need, i+1)
				s.maskT[col*rowPanels+r/nr] |= 1 << (r % nr)
			}
		}
	}
	return s, nil
}

// SetBase sets the base vector. It panics if base is shorter than the
// entries the masks select need.
func (s *Shifted) SetBase(base []float32) {
	if len(base) < s.need {
		panic(fmt.Sprintf("gemm: shifted matrix base of %d elements, need %d", len(base), s.need))
	}
	s.base = base
}

// At returns B[r][j].
func (s *Shifted) At(r, j int) float32 {
	if s.mask[(j/nr)*s.rows+r]>>(j%nr)&1 == 0 {
		return 0
	}
	return s.base[int(s.off[r])+j]
}

// Dims returns the numbers of rows and columns.
func (s *Shifted) Dims() (rows, cols int) { return s.rows, s.cols }

// pack packs the kc×nc block of s at row p0, column j0 (a multiple of
// nr) into dst, as packB does for a stored matrix.
func (s *Shifted) pack(pk *packer, dst []float32, p0, kc, j0, nc int) {
	if j0%nr != 0 {
		panic("gemm: shifted matrix packed from an unaligned column")
	}
	if s.base == nil {
		panic("gemm: shifted matrix without a base vector")
	}
	for jr := 0; jr < nc; jr += nr {
		pan := (j0 + jr) / nr
		m := s.mask[pan*s.rows+p0 : pan*s.rows+p0+kc]
		pk.shifted16(kc, s.base, s.off[p0:p0+kc], m, j0+jr, dst[jr*kc:(jr+nr)*kc])
	}
}

// packT packs the kc×nc block of Bᵀ at row p0, column j0 (a multiple of
// nr) into dst, as packB does for a stored matrix: panel r holds rows
// j0+16r … j0+16r+15 of B (columns of Bᵀ), by column of B (rows of Bᵀ).
func (s *Shifted) packT(pk *packer, dst []float32, p0, kc, j0, nc int) {
	if j0%nr != 0 {
		panic("gemm: shifted matrix packed from an unaligned row")
	}
	if s.base == nil {
		panic("gemm: shifted matrix without a base vector")
	}
	for jr := 0; jr < nc; jr += nr {
		pk.shiftedT16(kc, s, p0, (j0+jr)/nr, dst[jr*kc:(jr+nr)*kc])
	}
}

// packShiftedT16Go packs panel pan of the transpose of s (rows 16·pan …
// 16·pan+15 of s) for its columns p0 … p0+kc−1: dst[q·nr+i] =
// base[off[16·pan+i]+p0+q] where that entry is selected, else 0.
func packShiftedT16Go(kc int, s *Shifted, p0, pan int, dst []float32) {
	dst = dst[:kc*nr]
	off := s.offT[pan*nr : pan*nr+nr]
	base := s.base
	for q := range kc {
		t := dst[q*nr : q*nr+nr : q*nr+nr]
		m := s.maskT[(p0+q)*s.rowPanels+pan]
		for i := range nr {
			if m>>i&1 != 0 {
				t[i] = base[int(off[i])+p0+q]
			} else {
				t[i] = 0
			}
		}
	}
}

// packShifted16Go packs one panel of a Shifted matrix: dst[q·nr+j] =
// base[off[q]+col+j] where bit j of mask[q] is set, else 0.
func packShifted16Go(kc int, base []float32, off []int32, mask []uint16, col int, dst []float32) {
	dst = dst[:kc*nr]
	for q := range kc {
		t := dst[q*nr : q*nr+nr : q*nr+nr]
		m, i := mask[q], int(off[q])+col
		for j := range nr {
			if m>>j&1 != 0 {
				t[j] = base[i+j]
			} else {
				t[j] = 0
			}
		}
	}
}

// SgemmShifted computes C = alpha·op(A)·op(B) + beta·C as [Sgemm] does,
// for a [Shifted] matrix B (op(B) k×n: B is k×n, or n×k when tB is
// blas.Trans). Its results are those of Sgemm on B written out (the same
// packed panels, the same sums).
func SgemmShifted(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b *Shifted, beta float32, c []float32, ldc int) {
	aTrans, bTrans := checkTrans(tA), checkTrans(tB)
	checkDims(m, n, k)
	if b == nil || !bTrans && (b.rows != k || b.cols != n) || bTrans && (b.rows != n || b.cols != k) {
		panic(shortB)
	}
	checkLd(aTrans, m, k, lda, badLdA)
	checkLd(false, m, n, ldc, badLdC)
	if m == 0 || n == 0 {
		return
	}
	checkLen(aTrans, m, k, len(a), lda, shortA)
	checkLen(false, m, n, len(c), ldc, shortC)
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{
		aTrans: aTrans, bTrans: bTrans,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, shifted: b, c: c, ldc: ldc,
	}
	run(kern, &p)
}

// SameConvColumns returns the column matrix of a stride-1 "same"
// convolution with a k×k kernel (k odd, zero padding (k−1)/2) over an
// input of the given channels of h×w planes, as a Shifted matrix of
// channels·k·k rows and h·w columns:
//
//	B[(c·k + ki)·k + kj][oh·w + ow] = x[c][oh+ki−p][ow+kj−p]  (0 outside the planes),
//
// with x, of channels·h·w elements, the base vector (SetBase).
func SameConvColumns(channels, h, w, k int) (*Shifted, error) {
	return sameConvColumns(channels, h, w, k, func(c, kk int) int { return c*k*k + kk })
}

// SameConvColumnsByShift is SameConvColumns with the rows ordered by
// kernel position first: row (ki·k + kj)·channels + c. Consecutive rows
// then come from different channels, so their windows do not overlap
// when there are more channels than rows in a tile (see SgemmScatter).
func SameConvColumnsByShift(channels, h, w, k int) (*Shifted, error) {
	return sameConvColumns(channels, h, w, k, func(c, kk int) int { return kk*channels + c })
}

// sameConvColumns is SameConvColumns with row(c, ki·k + kj) the row of
// channel c and kernel position (ki, kj).
func sameConvColumns(channels, h, w, k int, row func(c, kk int) int) (*Shifted, error) {
	if channels < 1 || h < 1 || w < 1 || k < 1 || k%2 == 0 {
		return nil, fmt.Errorf("gemm: same-convolution columns of %d channels of %d×%d with a %d×%d kernel", channels, h, w, k, k)
	}
	p, hw := (k-1)/2, h*w
	if int64(channels)*int64(hw) > 1<<31-1 {
		return nil, fmt.Errorf("gemm: same-convolution columns of %d channels of %d×%d: input too large", channels, h, w)
	}
	rows, panels := channels*k*k, (hw+nr-1)/nr
	off := make([]int32, rows)
	mask := make([]uint16, rows*panels)
	for c := range channels {
		for ki := range k {
			for kj := range k {
				r := row(c, ki*k+kj)
				off[r] = int32(c*hw + (ki-p)*w + kj - p)
				for i := range hw {
					if ih, iw := i/w+ki-p, i%w+kj-p; ih >= 0 && ih < h && iw >= 0 && iw < w {
						mask[(i/nr)*rows+r] |= 1 << (i % nr)
					}
				}
			}
		}
	}
	return NewShifted(rows, hw, off, mask)
}
