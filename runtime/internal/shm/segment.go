//go:build linux

package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Supported reports whether this platform has the shared-memory transport.
const Supported = true

const (
	magic      = "FLTKSHM1"
	header     = 4096
	metaStride = 64
	ptrLen     = 24
	cellHdr    = 64
	cellSize   = cellHdr + Threshold
	// Cells is the number of cells of a queue: Enqueue fails with
	// ErrQueueFull once that many messages wait.
	Cells = 128
)

var ptrMagic = [2]byte{'S', 'M'}

// Segment is one rank's segment, mapped by its owner (Create) or by a
// peer (Open).
type Segment struct {
	path     string
	mem      []byte
	slots    int
	slotSize int
	data     int // offset of slot 0
	queue    int // offset of the queue header
	scratch  int // size of each of the two scratch buffers (0: none)
	scrOff   int // offset of scratch buffer 0

	// The doorbell is a FIFO next to the segment: the owner reads it
	// through Go's poller (a sleeping consumer holds no P and no thread),
	// producers write a byte with a raw non-blocking write. (A futex would
	// keep the consumer's P in the syscall until sysmon retakes it: with
	// GOMAXPROCS=1 that stalled every other goroutine for up to 10 ms.)
	bell   *os.File // owner: read end
	bellFd int      // peer: write end, -1 if none

	// cmu makes the queue's consumers take turns: the Consume goroutine
	// and callers polling while they wait for a collective (World.Poll).
	cmu sync.Mutex
}

func dir() string { return "/dev/shm" }

// SegmentPath names rank's segment in job.
func SegmentPath(job string, rank int, nonce string) string {
	return filepath.Join(dir(), fmt.Sprintf("fltk-%s-r%d-%s", job, rank, nonce))
}

// Create creates, sizes (reserving the memory, so a full tmpfs fails here
// rather than with SIGBUS later) and maps a segment with slots slots of
// slotSize bytes and two scratch buffers of scratch bytes (none when
// scratch ≤ 0; see Scratch).
func Create(path, nonce string, slots, slotSize, scratch int) (*Segment, error) {
	data := (header + slots*metaStride + 4095) &^ 4095
	queue := (data + slots*slotSize + 4095) &^ 4095
	scratch = (max(scratch, 0) + 63) &^ 63
	scrOff := (queue + header + Cells*cellSize + 4095) &^ 4095
	size := scrOff + 2*scratch
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("reserve %d bytes: %w", size, err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	// Fault every page in now, writing: a slot's first frames otherwise
	// paid a page fault per 4 KiB, 10× a 1 MiB broadcast's warm time
	// (fltk bench -np 3 -sizes 1MiB -ops bcast, one repeat per slot).
	clear(mem)
	copy(mem, magic)
	copy(mem[8:24], nonce)
	le := binary.LittleEndian
	le.PutUint32(mem[24:], uint32(slots))
	le.PutUint32(mem[28:], uint32(slotSize))
	le.PutUint32(mem[32:], uint32(data))
	le.PutUint32(mem[36:], uint32(queue))
	le.PutUint32(mem[40:], uint32(scratch))
	le.PutUint32(mem[44:], uint32(scrOff))
	s := &Segment{path: path, mem: mem, slots: slots, slotSize: slotSize, data: data, queue: queue, scratch: scratch, scrOff: scrOff, bellFd: -1}
	for i := range Cells {
		atomic.StoreUint64(s.cellSeq(i), uint64(i))
	}
	if err := syscall.Mkfifo(path+".bell", 0o600); err != nil {
		s.Close()
		os.Remove(path)
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	// O_RDWR: never blocks on open, and keeps the FIFO open for writers.
	fd, err := syscall.Open(path+".bell", syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		s.Close()
		os.Remove(path)
		os.Remove(path + ".bell")
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	s.bell = os.NewFile(uintptr(fd), path+".bell")
	return s, nil
}

// Remove unlinks the segment's files; the mappings and open FIFO stay.
func (s *Segment) Remove() {
	os.Remove(s.path)
	os.Remove(s.path + ".bell")
}

// Open maps a peer's segment and checks it is the one the peer announced.
func Open(path, nonce string) (*Segment, error) {
	if len(nonce) < 16 {
		return nil, errors.New("bad nonce")
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < header {
		return nil, errors.New("segment too small")
	}
	// MAP_POPULATE: map the peer's (written) pages now, not one fault per
	// 4 KiB of the first frames read from each slot.
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	// MAP_POPULATE fills this process's page tables, but on a
	// paravirtualised guest with shadow paging (PVM, the VMs this was
	// measured on) the first access of each page from each process still
	// takes a fault in the hypervisor, invisible to the guest's fault
	// counters: the first 16 uses of a 797 KB frame (one per slot) took
	// 5–10 ms instead of 0.5 (fltk bench --np 5 --sizes 796840). Reading
	// every page once here moves that cost to Join.
	touch(mem)
	le := binary.LittleEndian
	s := &Segment{path: path, mem: mem, slots: int(le.Uint32(mem[24:])), slotSize: int(le.Uint32(mem[28:])),
		data: int(le.Uint32(mem[32:])), queue: int(le.Uint32(mem[36:])),
		scratch: int(le.Uint32(mem[40:])), scrOff: int(le.Uint32(mem[44:])), bellFd: -1}
	if string(mem[:8]) != magic || !bytes.Equal(mem[8:24], []byte(nonce)[:16]) ||
		s.data+s.slots*s.slotSize > s.queue || s.queue+header+Cells*cellSize > len(mem) ||
		(s.scratch > 0 && (s.scrOff < s.queue+header+Cells*cellSize || s.scrOff+2*s.scratch > len(mem))) {
		_ = syscall.Munmap(mem)
		return nil, errors.New("not the announced segment")
	}
	fd, err := syscall.Open(path+".bell", syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = syscall.Munmap(mem)
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	s.bellFd = fd
	return s, nil
}

// Close unmaps the segment and closes its doorbell. Nothing may use the
// segment afterwards.
func (s *Segment) Close() {
	_ = syscall.Munmap(s.mem)
	if s.bell != nil {
		s.bell.Close()
	}
	if s.bellFd >= 0 {
		_ = syscall.Close(s.bellFd)
	}
}

// SlotSize returns the size of a slot: the largest frame Sender.Put takes.
func (s *Segment) SlotSize() int { return s.slotSize }

// ScratchSize returns the size of each of the segment's two scratch
// buffers (0: it has none).
func (s *Segment) ScratchSize() int { return s.scratch }

// Scratch returns scratch buffer i (0 or 1): memory that only its owner
// writes and every rank mapping the segment may read, with no protocol of
// its own (the collectives order the writes and reads with the barrier).
func (s *Segment) Scratch(i int) []byte {
	off := s.scrOff + (i&1)*s.scratch
	return s.mem[off : off+s.scratch : off+s.scratch]
}

func (s *Segment) readers(slot int) *int32 {
	return (*int32)(unsafe.Pointer(&s.mem[header+slot*metaStride]))
}

func (s *Segment) gen(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.mem[header+slot*metaStride+4]))
}

func (s *Segment) slot(i int) []byte {
	off := s.data + i*s.slotSize
	return s.mem[off : off+s.slotSize : off+s.slotSize]
}

func (s *Segment) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *Segment) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }

// touchSink keeps touch's loads from being optimised away.
var touchSink atomic.Uint32

// touch reads one byte of every page of mem, so the pages are mapped for
// this process in every layer of page tables before the first frame.
func touch(mem []byte) {
	var x byte
	for i := 0; i < len(mem); i += 4096 {
		x += mem[i]
	}
	touchSink.Add(uint32(x))
}
