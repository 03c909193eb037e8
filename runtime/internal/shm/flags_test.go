//go:build linux

package shm

import (
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func getSchedAttr(t *testing.T) schedAttr {
	t.Helper()
	var attr schedAttr
	if _, _, e := syscall.RawSyscall6(unix.SYS_SCHED_GETATTR, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0, 0, 0); e != 0 {
		t.Fatalf("sched_getattr: %v", e)
	}
	return attr
}

// TestShortSlice: the waiting thread's slice becomes wakeSlice and then the
// old one again, and its nice value stays.
func TestShortSlice(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 3); err != nil {
		t.Fatal(err)
	}
	// The thread goes back to the runtime's pool; leave it as it was.
	defer func() { _ = unix.Setpriority(unix.PRIO_PROCESS, tid, 0) }()
	before := getSchedAttr(t)
	restore := shortSlice()
	during := getSchedAttr(t)
	restore()
	after := getSchedAttr(t)
	if during.nice != 3 || after.nice != 3 {
		t.Errorf("nice: %d during, %d after, want 3", during.nice, after.nice)
	}
	if time.Duration(during.runtime) != wakeSlice {
		t.Errorf("slice during the wait: %v, want %v (Linux 6.12 or later: %s)", time.Duration(during.runtime), wakeSlice, kernelRelease())
	}
	if after.runtime != before.runtime {
		t.Errorf("slice after: %v, want %v", time.Duration(after.runtime), time.Duration(before.runtime))
	}
}

func kernelRelease() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}
