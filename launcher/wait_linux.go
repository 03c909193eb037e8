//go:build linux

package launcher

import (
	"syscall"
	"unsafe"
)

// pPID is P_PID of waitid(2).
const pPID = 1

// waitExited blocks until the process pid has exited, without reaping it,
// and reports whether it could. While the exited process is not reaped its
// pid, and so its process group id, cannot be reused.
func waitExited(pid int) bool {
	// siginfo_t is 128 bytes on every Linux architecture.
	var info [128]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		default:
			return false
		}
	}
}
