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

// Shared memory fast path, between ranks on one host. A large frame's
// bytes go through a pool of slots in the sender's segment: the sender
// copies the frame into a free slot and sets the slot's reader count; each
// receiver hands the slot's bytes to the collective in place and decrements
// the count; the sender reuses a slot once its count is zero. This replaces
// two loopback TCP hops and the server's per-receiver copy with one copy in
// and one copy out.
//
// Small frames and the pointers travel through each receiver's inbound
// queue, which lives in the receiver's segment and is written by the peers
// that mapped it: a bounded multi-producer queue of fixed cells (Vyukov's
// algorithm: a cell's sequence number says whose turn it is) with a doorbell
// (a FIFO), so a receiver sleeps in the kernel and is woken by the producer
// directly — no server hop, no socket.
//
// Segment layout: a 4 KiB header (magic, owner nonce, slot count, slot
// size, offsets), one 64-byte meta line per slot (reader count int32,
// generation uint32), the slots, page aligned; then the queue: a 4 KiB
// header (tail, head, doorbell and sleeping flag on their own cache lines)
// and shmCells cells of shmCellSize bytes (sequence uint64, length uint32,
// sender uint32, then the frame).

const (
	shmMagic      = "FLTKSHM1"
	shmHeader     = 4096
	shmMetaStride = 64
	shmPtrLen     = 24
	// shmThreshold is the smallest frame sent through a slot; smaller ones
	// are copied into the queue cell itself.
	shmThreshold = 16 << 10
	shmCellHdr   = 64
	shmCellSize  = shmCellHdr + shmThreshold
	shmCells     = 128
)

var shmPtrMagic = [2]byte{'S', 'M'}

type shmSeg struct {
	path     string
	mem      []byte
	slots    int
	slotSize int
	data     int // offset of slot 0
	queue    int // offset of the queue header

	// The doorbell is a FIFO next to the segment: the owner reads it
	// through Go's poller (a sleeping consumer holds no P and no thread),
	// producers write a byte with a raw non-blocking write. (A futex would
	// keep the consumer's P in the syscall until sysmon retakes it: with
	// GOMAXPROCS=1 that stalled every other goroutine for up to 10 ms.)
	bell   *os.File // owner: read end
	bellFd int      // peer: write end, -1 if none

	// cmu makes the queue's consumers take turns: the consume goroutine
	// and callers polling while they wait for a collective (World.Poll).
	cmu sync.Mutex
}

func shmDir() string { return "/dev/shm" }

// shmPath names rank's segment in job.
func shmPath(job string, rank int, nonce string) string {
	return filepath.Join(shmDir(), fmt.Sprintf("fltk-%s-r%d-%s", job, rank, nonce))
}

// createShm creates, sizes (reserving the memory, so a full tmpfs fails here
// rather than with SIGBUS later) and maps a segment.
func createShm(path, nonce string, slots, slotSize int) (*shmSeg, error) {
	data := (shmHeader + slots*shmMetaStride + 4095) &^ 4095
	queue := (data + slots*slotSize + 4095) &^ 4095
	size := queue + shmHeader + shmCells*shmCellSize
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
	le := binary.LittleEndian
	le.PutUint32(mem[24:], uint32(slots))
	le.PutUint32(mem[28:], uint32(slotSize))
	le.PutUint32(mem[32:], uint32(data))
	le.PutUint32(mem[36:], uint32(queue))
	s := &shmSeg{path: path, mem: mem, slots: slots, slotSize: slotSize, data: data, queue: queue, bellFd: -1}
	for i := range shmCells {
		atomic.StoreUint64(s.cellSeq(i), uint64(i))
	}
	if err := syscall.Mkfifo(path+".bell", 0o600); err != nil {
		s.close()
		os.Remove(path)
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	// O_RDWR: never blocks on open, and keeps the FIFO open for writers.
	fd, err := syscall.Open(path+".bell", syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		s.close()
		os.Remove(path)
		os.Remove(path + ".bell")
		return nil, fmt.Errorf("doorbell: %w", err)
	}
	s.bell = os.NewFile(uintptr(fd), path+".bell")
	return s, nil
}

// remove unlinks the segment's files; the mappings and open FIFO stay.
func (s *shmSeg) remove() {
	os.Remove(s.path)
	os.Remove(s.path + ".bell")
}

// openShm maps a peer's segment and checks it is the one the peer announced.
func openShm(path, nonce string) (*shmSeg, error) {
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
	if st.Size() < shmHeader {
		return nil, errors.New("segment too small")
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	s := &shmSeg{path: path, mem: mem, slots: int(le.Uint32(mem[24:])), slotSize: int(le.Uint32(mem[28:])),
		data: int(le.Uint32(mem[32:])), queue: int(le.Uint32(mem[36:])), bellFd: -1}
	if string(mem[:8]) != shmMagic || !bytes.Equal(mem[8:24], []byte(nonce)[:16]) ||
		s.data+s.slots*s.slotSize > s.queue || s.queue+shmHeader+shmCells*shmCellSize > len(mem) {
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

func (s *shmSeg) close() {
	_ = syscall.Munmap(s.mem)
	if s.bell != nil {
		s.bell.Close()
	}
	if s.bellFd >= 0 {
		_ = syscall.Close(s.bellFd)
	}
}

func (s *shmSeg) readers(slot int) *int32 {
	return (*int32)(unsafe.Pointer(&s.mem[shmHeader+slot*shmMetaStride]))
}

func (s *shmSeg) gen(slot int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.mem[shmHeader+slot*shmMetaStride+4]))
}

func (s *shmSeg) slot(i int) []byte {
	off := s.data + i*s.slotSize
	return s.mem[off : off+s.slotSize : off+s.slotSize]
}

func (s *shmSeg) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *shmSeg) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }

// The queue header: tail (next ticket for producers), head (consumer),
// doorbell and sleeping flag, each on its own cache line.
func (s *shmSeg) qTail() *uint64     { return s.u64(s.queue) }
func (s *shmSeg) qHead() *uint64     { return s.u64(s.queue + 64) }
func (s *shmSeg) qSleeping() *uint32 { return s.u32(s.queue + 192) }

func (s *shmSeg) cell(i int) []byte {
	off := s.queue + shmHeader + i*shmCellSize
	return s.mem[off : off+shmCellSize : off+shmCellSize]
}

func (s *shmSeg) cellSeq(i int) *uint64 {
	return s.u64(s.queue + shmHeader + i*shmCellSize)
}

// errQueueFull means the receiver's queue has no free cell right now.
var errQueueFull = errors.New("shared-memory queue full")

// enqueue appends msg (a frame of at most shmThreshold bytes or a pointer)
// from rank from to the queue of s, the receiver's segment, and rings its
// doorbell. It never blocks: when the queue is full it returns
// errQueueFull and the caller sends through the server instead (frames of
// one stream may then arrive out of order, which the collectives accept).
// So a receiver that sends credit from its delivery callback can never
// deadlock with another doing the same.
func (s *shmSeg) enqueue(from int, msg []byte) error {
	if len(msg) > shmThreshold {
		return fmt.Errorf("message of %d bytes does not fit a queue cell", len(msg))
	}
	for {
		t := atomic.LoadUint64(s.qTail())
		i := int(t % shmCells)
		seq := atomic.LoadUint64(s.cellSeq(i))
		switch {
		case seq == t:
			if !atomic.CompareAndSwapUint64(s.qTail(), t, t+1) {
				continue
			}
			s.raceAcquireCell(i) // the consumer is done with the cell
			c := s.cell(i)
			binary.LittleEndian.PutUint32(c[8:], uint32(len(msg)))
			binary.LittleEndian.PutUint32(c[12:], uint32(from))
			copy(c[shmCellHdr:], msg)
			s.raceReleaseCell(i)
			atomic.StoreUint64(s.cellSeq(i), t+1)
			if atomic.LoadUint32(s.qSleeping()) != 0 {
				s.ring()
			}
			return nil
		case seq < t:
			return errQueueFull
		}
		// Another producer took cell i; look again.
	}
}

// consume delivers the queue's messages in order to deliver (the message
// is valid only during the call), sleeping on the doorbell when the queue
// is empty, until done is closed.
func (s *shmSeg) consume(done <-chan struct{}, deliver func(from int, msg []byte)) {
	var buf [256]byte
	for {
		s.cmu.Lock()
		s.drain(deliver)
		s.cmu.Unlock()
		select {
		case <-done:
			return
		default:
		}
		// Look again once producers see the flag (and under cmu, so that
		// no poller is half way through the queue): a message put in
		// before it is seen here, one put in after it rings.
		atomic.StoreUint32(s.qSleeping(), 1)
		s.cmu.Lock()
		h := atomic.LoadUint64(s.qHead())
		empty := atomic.LoadUint64(s.cellSeq(int(h%shmCells))) != h+1
		s.cmu.Unlock()
		if empty {
			// Sleep until a producer rings (or 100 ms pass, to check done).
			_ = s.bell.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = s.bell.Read(buf[:])
		}
		atomic.StoreUint32(s.qSleeping(), 0)
	}
}

// drain delivers the messages in the queue, in order, and reports whether
// there were any. s.cmu must be held.
func (s *shmSeg) drain(deliver func(from int, msg []byte)) bool {
	h := atomic.LoadUint64(s.qHead())
	got := false
	for {
		i := int(h % shmCells)
		if atomic.LoadUint64(s.cellSeq(i)) != h+1 {
			return got
		}
		s.raceAcquireCell(i)
		c := s.cell(i)
		n := int(binary.LittleEndian.Uint32(c[8:]))
		from := int(binary.LittleEndian.Uint32(c[12:]))
		deliver(from, c[shmCellHdr:shmCellHdr+min(n, shmThreshold)])
		s.raceReleaseCell(i)
		atomic.StoreUint64(s.cellSeq(i), h+shmCells)
		h++
		atomic.StoreUint64(s.qHead(), h)
		got = true
	}
}

// poll delivers what the queue holds unless another consumer is at it.
func (s *shmSeg) poll(deliver func(from int, msg []byte)) bool {
	if !s.cmu.TryLock() {
		return false
	}
	defer s.cmu.Unlock()
	return s.drain(deliver)
}

// ring wakes the consumer of this (peer's) segment.
func (s *shmSeg) ring() {
	// A full pipe (EAGAIN) means a wake-up is pending already.
	_, _ = syscall.Write(s.bellFd, []byte{1})
}

// wake wakes this rank's own consumer (to stop it).
func (s *shmSeg) wake() {
	if s.bell != nil {
		_ = s.bell.SetReadDeadline(time.Now())
	}
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
			seg.raceAcquireSlot(i) // every reader is done with it
			copy(seg.slot(i), frame)
			seg.raceReleaseSlot(i)
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
	seg.raceAcquireSlot(i)
	return seg.slot(i)[:n], func() {
		seg.raceReleaseSlot(i)
		atomic.AddInt32(seg.readers(i), -1)
	}, nil
}

const shmSupported = true
