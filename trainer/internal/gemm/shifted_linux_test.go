package gemm

import (
	"syscall"
	"testing"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// TestSgemmShiftedGuardPages puts the base vector against inaccessible
// pages, at the start and at the end of its mapping: the windows of the
// convolution's border rows start before the base or end past it, and a
// packing routine that read a masked-off lane there would fault.
func TestSgemmShiftedGuardPages(t *testing.T) {
	page := syscall.Getpagesize()
	const c, h, w, k = 16, 14, 14, 5
	n := c * h * w
	usable := (n*4 + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, usable+2*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[page+usable:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	all := unsafe.Slice((*float32)(unsafe.Pointer(&mem[page])), usable/4)
	s, err := SameConvColumns(c, h, w, k)
	if err != nil {
		t.Fatal(err)
	}
	m, cols, rows := 32, h*w, c*k*k
	a := make([]float32, m*max(rows, cols))
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for _, kr := range kernels() {
		useKernel(t, kr)
		for _, at := range []string{"start", "end"} {
			base := all[:n]
			if at == "end" {
				base = all[len(all)-n:]
			}
			for i := range base {
				base[i] = float32(i%11) - 5
			}
			s.SetBase(base)
			for _, tB := range transposes {
				n, k := cols, rows // op(B) k×n
				if tB == blas.Trans {
					n, k = rows, cols
				}
				want := make([]float32, m*n)
				Sgemm(blas.NoTrans, tB, m, n, k, 1, a, k, materialize(s), cols, 0, want, n)
				got := make([]float32, m*n)
				SgemmShifted(blas.NoTrans, tB, m, n, k, 1, a, k, s, 0, got, n)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("kernel %s, tB=%c, base at the %s of its pages: C[%d] = %g, want %g", kr.name, tB, at, i, got[i], want[i])
					}
				}
			}
		}
	}
}
