//go:build !amd64 || purego

package gemm

// bestKernel returns the pure-Go kernel: this build has no assembly one.
func bestKernel() *kernel { return goKernel }

// cpuKernels returns the assembly kernels this CPU can run: none here.
func cpuKernels() []*kernel { return nil }
