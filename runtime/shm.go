//go:build linux

package runtime

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
	"time"
	"unsafe"
)

// Shared memory fast path. NATS carries every frame's notification, in
// order, but between ranks on one host a large frame's bytes go through a
// pool of slots in the sender's shared-memory segment: the sender copies the
// frame into a free slot, sets the slot's reader count and publishes a
// 24-byte pointer on the usual subject; each receiver hands the slot's bytes
// to the collective in place and decrements the count; the sender reuses a
// slot once its count is zero. This replaces two loopback TCP hops and the
// server's per-receiver copy with one copy in and one copy out.
//
// Segment layout: a 4 KiB header (magic, owner nonce, slot count, slot
// size), one 64-byte meta line per slot (reader count int32, generation
// uint32), then the slots, page aligned.

const (
	shmMagic      = "FLTKSHM1"
	shmHeader     = 4096
	shmMetaStride = 64
	shmPtrLen     = 24
	// ShmThreshold is the smallest frame sent through shared memory.
	shmThreshold = 16 << 10
)

var shmPtrMagic = [2]byte{'S', 'M'}

type shmSeg struct {
	path     string
	mem      []byte
	slots    int
	slotSize int
}

func shmDir() string { return "/dev/shm" }

// shmPath names rank's segment in job.
func shmPath(job string, rank int, nonce string) string {
	return filepath.Join(shmDir(), fmt.Sprintf("fltk-%s-r%d-%s", job, rank, nonce))
}

// createShm creates, sizes (reserving the memory, so a full tmpfs fails here
// rather than with SIGBUS later) and maps a segment.
func createShm(path, nonce string, slots, slotSize int) (*shmSeg, error) {
	size := shmHeader + slots*shmMetaStride
	size = (size + 4095) &^ 4095
	data := size
	size += slots * slotSize
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
	copy(mem, shmMagic)
	copy(mem[8:24], nonce)
	binary.LittleEndian.PutUint32(mem[24:], uint32(slots))
	binary.LittleEndian.PutUint32(mem[28:], uint32(slotSize))
	binary.LittleEndian.PutUint32(mem[32:], uint32(data))
	return &shmSeg{path: path, mem: mem, slots: slots, slotSize: slotSize}, nil
}

// openShm maps a peer's segment and checks it is the one the peer announced.
func openShm(path, nonce string) (*shmSeg, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < shmHeader {
		return nil, errors.New("segment too small")
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	slots := int(binary.LittleEndian.Uint32(mem[24:]))
	slotSize := int(binary.LittleEndian.Uint32(mem[28:]))
	data := int(binary.LittleEndian.Uint32(mem[32:]))
	if string(mem[:8]) != shmMagic || !bytes.Equal(mem[8:24], []byte(nonce)[:16]) || data+slots*slotSize > len(mem) {
		_ = syscall.Munmap(mem)
		return nil, errors.New("not the announced segment")
	}
	return &shmSeg{path: path, mem: mem, slots: slots, slotSize: slotSize}, nil
}

func (s *shmSeg) close() { _ = syscall.Munmap(s.mem) }

func (s *shmSeg) readers(slot int) *int32 {
	return (*int32)(unsafe.Pointer(&s.mem[shmHeader+slot*shmMetaStride]))
}

func (s *shmSeg) gen(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.mem[shmHeader+slot*shmMetaStride+4]))
}

func (s *shmSeg) slot(i int) []byte {
	data := int(binary.LittleEndian.Uint32(s.mem[32:]))
	off := data + i*s.slotSize
	return s.mem[off : off+s.slotSize : off+s.slotSize]
}

// shmSender owns this rank's segment.
type shmSender struct {
	seg  *shmSeg
	mu   sync.Mutex // guards next and gen: slot allocation
	next int
	gens uint32
}

// put copies frame into a free slot for readers receivers and returns the
// pointer message to publish. It waits for a slot until stop says to give up.
func (s *shmSender) put(frame []byte, readers int32, stop func() error) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.seg
	backoff := time.Microsecond
	for {
		for k := range seg.slots {
			i := (s.next + k) % seg.slots
			if atomic.LoadInt32(seg.readers(i)) != 0 {
				continue
			}
			copy(seg.slot(i), frame)
			s.gens++
			atomic.StoreUint32(seg.gen(i), s.gens)
			atomic.StoreInt32(seg.readers(i), readers)
			s.next = i + 1
			var p [shmPtrLen]byte
			p[0], p[1] = shmPtrMagic[0], shmPtrMagic[1]
			binary.LittleEndian.PutUint32(p[4:], uint32(i))
			binary.LittleEndian.PutUint32(p[8:], s.gens)
			binary.LittleEndian.PutUint32(p[12:], uint32(len(frame)))
			return p[:], nil
		}
		if err := stop(); err != nil {
			return nil, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 500*time.Microsecond)
	}
}

// isShmPtr reports whether a message is a shared-memory pointer.
func isShmPtr(b []byte) bool {
	return len(b) == shmPtrLen && b[0] == shmPtrMagic[0] && b[1] == shmPtrMagic[1]
}

// shmView resolves a pointer into seg; release must be called when the
// frame is no longer used.
func shmView(seg *shmSeg, ptr []byte) (frame []byte, release func(), err error) {
	i := int(binary.LittleEndian.Uint32(ptr[4:]))
	gen := binary.LittleEndian.Uint32(ptr[8:])
	n := int(binary.LittleEndian.Uint32(ptr[12:]))
	if i >= seg.slots || n > seg.slotSize {
		return nil, nil, fmt.Errorf("shared-memory pointer to slot %d (%d bytes) outside the segment", i, n)
	}
	if g := atomic.LoadUint32(seg.gen(i)); g != gen {
		return nil, nil, fmt.Errorf("shared-memory slot %d holds generation %d, pointer says %d", i, g, gen)
	}
	return seg.slot(i)[:n], func() { atomic.AddInt32(seg.readers(i), -1) }, nil
}

const shmSupported = true
