package collective

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Frame layout (little endian), HeaderSize bytes followed by the payload:
//
//	off size field
//	  0    2 magic 'F','K'
//	  2    1 version
//	  3    1 kind (frameData, frameCredit)
//	  4    1 op (the collective that sent it)
//	  5    1 codec
//	  6    1 element size in bytes (4 or 8)
//	  7    1 phase (multi-phase collectives: 0, 1, ...)
//	  8    8 job tag (hash of the job id)
//	 16    8 sequence number of the collective (or of the point-to-point pair)
//	 24    2 source rank
//	 26    2 block (which region of the destination buffer the chunk belongs to)
//	 28    4 chunk index within the stream
//	 32    4 number of chunks in the stream
//	 36    4 raw (decoded) length of the chunk in bytes
//	 40    8 byte offset of the chunk within its block
//	 48    8 weight (float64; weighted mean)
//	 56    4 payload length in bytes
//	 60    4 CRC-32C of bytes [0, 60) and of the payload
//
// A credit frame carries, in the chunk field, how many chunks of the stream
// (phase, receiver → sender) the receiver has consumed, and no payload. An
// abort frame tells a rank that the sender's part of the call failed
// because the rank in the chunk field is down (a hop of a hierarchical
// schedule that can no longer forward); it has no payload.
const (
	// HeaderSize is the size of a frame header in bytes.
	HeaderSize = 64

	frameMagic0  = 'F'
	frameMagic1  = 'K'
	frameVersion = 1

	frameData   = 1
	frameCredit = 2
	frameAbort  = 3
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// header is the decoded form of a frame header.
type header struct {
	kind     uint8
	op       opKind
	codec    Codec
	elemSize uint8
	phase    uint8
	job      uint64
	seq      uint64
	src      uint16
	block    uint16
	chunk    uint32
	nchunks  uint32
	rawLen   uint32
	offset   uint64
	weight   float64
	payload  uint32

	// A large raw (CodecNone) payload is verified after it was copied to its
	// destination, where it is hot in cache, instead of before: crcHead is
	// the CRC state after the header, crcWant the frame's checksum. A
	// mismatch then fails the call (and the Comm), so a corrupt payload can
	// never be returned as a result.
	verifyLater      bool
	crcHead, crcWant uint32
}

// deferCRCBytes is the smallest raw payload verified after the copy.
const deferCRCBytes = 64 << 10

// verifyPayload checks the deferred checksum of a frame over p, the payload
// or a copy of it.
func (h *header) verifyPayload(from int, p []byte) error {
	if !h.verifyLater {
		return nil
	}
	if got := crc32.Update(h.crcHead, crcTable, p); got != h.crcWant {
		return &FrameError{From: from, Seq: h.seq, Reason: fmt.Sprintf("checksum mismatch (got %#08x, header says %#08x)", got, h.crcWant)}
	}
	h.verifyLater = false
	return nil
}

// putHeader writes h into b[:HeaderSize] and the checksum over the header
// and payload.
func putHeader(b []byte, h *header, payload []byte) {
	_ = b[HeaderSize-1]
	b[0], b[1], b[2] = frameMagic0, frameMagic1, frameVersion
	b[3], b[4], b[5], b[6], b[7] = h.kind, uint8(h.op), uint8(h.codec), h.elemSize, h.phase
	le := binary.LittleEndian
	le.PutUint64(b[8:], h.job)
	le.PutUint64(b[16:], h.seq)
	le.PutUint16(b[24:], h.src)
	le.PutUint16(b[26:], h.block)
	le.PutUint32(b[28:], h.chunk)
	le.PutUint32(b[32:], h.nchunks)
	le.PutUint32(b[36:], h.rawLen)
	le.PutUint64(b[40:], h.offset)
	le.PutUint64(b[48:], math.Float64bits(h.weight))
	le.PutUint32(b[56:], uint32(len(payload)))
	crc := crc32.Update(crc32.Checksum(b[:60], crcTable), crcTable, payload)
	le.PutUint32(b[60:], crc)
}

// FrameError describes a frame that could not be accepted: corrupt,
// truncated, from another job, or inconsistent with the collective it
// claims to belong to.
type FrameError struct {
	From   int    // rank the transport received it from, -1 if unknown
	Seq    uint64 // sequence number from the header, when it could be read
	Reason string

	foreign bool // a whole, valid frame of another job: dropped, not fatal
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("collective: bad frame from rank %d (seq %d): %s", e.From, e.Seq, e.Reason)
}

// Unwrap returns ErrBadFrame.
func (e *FrameError) Unwrap() error { return ErrBadFrame }

// decodeFrame parses and verifies a frame. It never panics; any problem is
// returned as a *FrameError. The returned payload aliases b.
func decodeFrame(b []byte, job uint64, from int) (header, []byte, error) {
	var h header
	bad := func(format string, args ...any) (header, []byte, error) {
		return h, nil, &FrameError{From: from, Seq: h.seq, Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < HeaderSize {
		return bad("truncated: %d bytes, header needs %d", len(b), HeaderSize)
	}
	if b[0] != frameMagic0 || b[1] != frameMagic1 {
		return bad("not an fltk frame (magic %#x %#x)", b[0], b[1])
	}
	if b[2] != frameVersion {
		return bad("frame version %d, this build speaks %d", b[2], frameVersion)
	}
	le := binary.LittleEndian
	h.kind, h.op, h.codec, h.elemSize, h.phase = b[3], opKind(b[4]), Codec(b[5]), b[6], b[7]
	h.job = le.Uint64(b[8:])
	h.seq = le.Uint64(b[16:])
	h.src = le.Uint16(b[24:])
	h.block = le.Uint16(b[26:])
	h.chunk = le.Uint32(b[28:])
	h.nchunks = le.Uint32(b[32:])
	h.rawLen = le.Uint32(b[36:])
	h.offset = le.Uint64(b[40:])
	h.weight = math.Float64frombits(le.Uint64(b[48:]))
	h.payload = le.Uint32(b[56:])
	if int64(h.payload) != int64(len(b)-HeaderSize) {
		return bad("truncated: header says %d payload bytes, frame has %d", h.payload, len(b)-HeaderSize)
	}
	payload := b[HeaderSize:]
	want := le.Uint32(b[60:])
	head := crc32.Checksum(b[:60], crcTable)
	if h.kind == frameData && h.codec == CodecNone && len(payload) >= deferCRCBytes {
		h.verifyLater, h.crcHead, h.crcWant = true, head, want
	} else if got := crc32.Update(head, crcTable, payload); got != want {
		return bad("checksum mismatch (got %#08x, header says %#08x)", got, want)
	}
	if h.job != job {
		if h.verifyLater {
			// Only a whole frame is another job's; a flipped bit in the
			// tag of this job's frame is corruption.
			if got := crc32.Update(head, crcTable, payload); got != want {
				return bad("checksum mismatch (got %#08x, header says %#08x)", got, want)
			}
		}
		h2, p, err := bad("foreign frame: job tag %#016x, this job is %#016x", h.job, job)
		err.(*FrameError).foreign = true
		return h2, p, err
	}
	if from >= 0 && int(h.src) != from {
		return bad("source rank %d in header, delivered from rank %d", h.src, from)
	}
	switch h.kind {
	case frameData:
		if h.elemSize != 4 && h.elemSize != 8 {
			return bad("element size %d", h.elemSize)
		}
		if !h.codec.valid() {
			return bad("unknown codec %d", h.codec)
		}
		if h.nchunks == 0 || h.chunk >= h.nchunks {
			return bad("chunk %d of %d", h.chunk, h.nchunks)
		}
		if h.rawLen%uint32(h.elemSize) != 0 || h.offset%uint64(h.elemSize) != 0 {
			return bad("chunk of %d bytes at offset %d is not a whole number of %d-byte elements", h.rawLen, h.offset, h.elemSize)
		}
	case frameCredit, frameAbort:
		if h.payload != 0 {
			return bad("credit or abort frame with %d payload bytes", h.payload)
		}
	default:
		return bad("unknown frame kind %d", h.kind)
	}
	if !h.op.valid() {
		return bad("unknown collective %d", h.op)
	}
	return h, payload, nil
}

// JobTag returns the 64-bit tag frames carry for the job id (FNV-1a).
func JobTag(jobID string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(jobID); i++ {
		h ^= uint64(jobID[i])
		h *= prime64
	}
	return h
}
