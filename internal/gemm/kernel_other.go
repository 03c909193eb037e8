//go:build !amd64 || purego

package gemm

// bestKernel returns the pure-Go kernel: this build has no assembly one.
func bestKernel() *kernel { return goKernel }
