// Package shm is the Linux shared-memory transport between ranks on one
// host: segments in /dev/shm, a bounded multi-producer queue per receiver
// with a FIFO doorbell, a pool of slots for large frames, and a barrier on
// futex words. It knows nothing of ranks' liveness or of NATS; package
// runtime's World decides who maps whose segment, routes frames through it
// and guards the mappings while they are in use.
//
// Start from [Create] (this rank's segment) and [Open] (a peer's).
//
// # Usage
//
//	own, err := shm.Create(shm.SegmentPath(job, rank, nonce), nonce, 16, slotSize, scratch)
//	peer, err := shm.Open(path, nonce) // a peer's segment, as it announced it
//	err = peer.Enqueue(rank, frame)    // small frames, and pointers to slots
//	go own.Consume(done, deliver)      // the receiver's side
//
// # Slots
//
// A large frame's bytes go through a pool of slots in the sender's segment
// ([Sender.Put]): the sender copies the frame into a free slot and sets the
// slot's reader count; each receiver hands the slot's bytes to the
// collective in place ([View]) and decrements the count; the sender reuses
// a slot once its count is zero. This replaces two loopback TCP hops and
// the server's per-receiver copy with one copy in and one copy out.
//
// # Queue
//
// Small frames and the pointers travel through each receiver's inbound
// queue, which lives in the receiver's segment and is written by the peers
// that mapped it: a bounded multi-producer queue of fixed cells (Vyukov's
// algorithm: a cell's sequence number says whose turn it is) with a doorbell
// (a FIFO), so a receiver sleeps in the kernel and is woken by the producer
// directly — no server hop, no socket. [Segment.Enqueue] never blocks: a
// full queue returns [ErrQueueFull] and the caller sends another way.
//
// # Layout
//
// A 4 KiB header (magic, owner nonce, slot count, slot size, offsets; rank
// 0's also holds the barrier words), one 64-byte meta line per slot (reader
// count int32, generation uint32), the slots, page aligned; then the queue:
// a 4 KiB header (tail, head, doorbell and sleeping flag on their own cache
// lines) and Cells cells of Threshold+64 bytes (sequence uint64, length
// uint32, sender uint32, then the frame).
//
// # Barrier
//
// When every rank maps rank 0's segment, its header holds one arrival word
// per rank and a wake word ([Segment.BarrierArrive], [Segment.BarrierWait]):
// the last rank to arrive wakes the others with one FUTEX_WAKE.
//
// # Race detector
//
// The race detector does not see synchronization through memory mapped with
// mmap; race builds annotate every hand-off of a cell or slot on a token on
// the Go heap (race.go).
//
// On other platforms [Supported] is false, [Create] and [Open] fail with
// [ErrUnsupported], and every frame goes through the server.
package shm
