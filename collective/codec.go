package collective

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// Codec says how a chunk's elements are encoded on the wire. Each frame
// names its codec, so a receiver decodes whatever the sender chose.
type Codec uint8

const (
	// CodecNone sends the raw little-endian elements.
	CodecNone Codec = iota
	// CodecZstd byte-shuffles the elements (all first bytes, then all second
	// bytes, ...) and compresses them with zstd. Lossless.
	CodecZstd
	// CodecBF16 sends each element as a bfloat16 (the top 16 bits of its
	// float32, rounded to nearest even). Lossy: relative error ≤ 2^-8.
	CodecBF16
	// CodecInt8 sends a float32 scale (max |x| / 127) and one signed byte per
	// element. Lossy: absolute error ≤ max|x|/254 per chunk. Values must be
	// finite.
	CodecInt8
	// CodecInt8Zstd quantises exactly as CodecInt8 (same scale, same decoded
	// values), then compresses the signed bytes with zstd: the float32 scale,
	// then a zstd frame of one byte per element. Lossy, as CodecInt8; pays
	// when most values are small against the chunk's largest (updates).
	CodecInt8Zstd
	numCodecs
)

var codecNames = [...]string{"none", "zstd", "bf16", "int8", "int8z"}

func (c Codec) String() string {
	if c.valid() {
		return codecNames[c]
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

func (c Codec) valid() bool { return c < numCodecs }

// Lossy reports whether the codec changes values.
func (c Codec) Lossy() bool { return c == CodecBF16 || c == CodecInt8 || c == CodecInt8Zstd }

// ParseCodec returns the codec with the given name: none, zstd, bf16, int8
// or int8z.
func ParseCodec(name string) (Codec, error) {
	for i, n := range codecNames {
		if n == name {
			return Codec(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q is not one of %s", ErrUnknownCodec, name, strings.Join(codecNames[:], ", "))
}

// codecs holds the state the codecs need; it is safe for concurrent use.
type codecs struct {
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	scratch sync.Pool // *[]byte, for shuffling
}

func newCodecs(level int, maxChunk int) (*codecs, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(level)), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("collective: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(uint64(maxChunk)+1<<16))
	if err != nil {
		return nil, fmt.Errorf("collective: zstd decoder: %w", err)
	}
	return &codecs{enc: enc, dec: dec}, nil
}

func (cs *codecs) close() { cs.dec.Close() }

func (cs *codecs) buf(n int) *[]byte {
	if p, ok := cs.scratch.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n)
	return &b
}

// encodedBound returns an upper bound of the encoded size of n raw bytes
// (whole elements of 4 or 8 bytes). Comm sizes its chunks so that
// CodecZstd's bound fits a frame; every other codec's bound must not exceed
// it for n ≥ 8.
func encodedBound(c Codec, n int) int {
	switch c {
	case CodecZstd:
		return zstdBound(n)
	case CodecInt8:
		return 4 + n
	case CodecInt8Zstd:
		return 4 + zstdBound(n/4) // at most n/4 int8s: elements are ≥ 4 bytes
	}
	return n
}

// zstdBound bounds zstd's output for n input bytes (incompressible input
// is stored in raw blocks: a 3-byte header per 128 KiB block plus the frame
// header and checksum).
func zstdBound(n int) int { return n + n/255 + 64 }

// encode appends the encoding of raw (elements of elemSize bytes) to dst.
func (cs *codecs) encode(dst []byte, c Codec, raw []byte, elemSize int) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, raw...), nil
	case CodecZstd:
		p := cs.buf(len(raw))
		shuffle(*p, raw, elemSize)
		dst = cs.enc.EncodeAll(*p, dst)
		cs.scratch.Put(p)
		return dst, nil
	case CodecBF16:
		n := len(raw) / elemSize
		start := len(dst)
		dst = append(dst, make([]byte, 2*n)...)
		out := dst[start:]
		if elemSize == 4 {
			for i, x := range asF32(raw) {
				binary.LittleEndian.PutUint16(out[2*i:], toBF16(x))
			}
		} else {
			for i, x := range asF64(raw) {
				binary.LittleEndian.PutUint16(out[2*i:], toBF16(float32(x)))
			}
		}
		return dst, nil
	case CodecInt8:
		return appendInt8(dst, raw, elemSize)
	case CodecInt8Zstd:
		p := cs.buf(4 + len(raw)/elemSize)
		q, err := appendInt8((*p)[:0], raw, elemSize)
		if err == nil {
			dst = append(dst, q[:4]...) // the scale, then the compressed bytes
			dst = cs.enc.EncodeAll(q[4:], dst)
		}
		*p = q
		cs.scratch.Put(p)
		return dst, err
	}
	return nil, fmt.Errorf("%w: %v", ErrUnknownCodec, c)
}

// appendInt8 appends CodecInt8's encoding of raw to dst: a float32 scale
// (max|x|/127) and one signed byte per element.
func appendInt8(dst, raw []byte, elemSize int) ([]byte, error) {
	n := len(raw) / elemSize
	var maxAbs float64
	if elemSize == 4 {
		for _, x := range asF32(raw) {
			maxAbs = max(maxAbs, math.Abs(float64(x)))
		}
	} else {
		for _, x := range asF64(raw) {
			maxAbs = max(maxAbs, math.Abs(x))
		}
	}
	if math.IsNaN(maxAbs) || math.IsInf(maxAbs, 0) || maxAbs > math.MaxFloat32 {
		return nil, fmt.Errorf("%w: int8 codec needs finite float32-range values", ErrCodec)
	}
	scale := float32(maxAbs / 127)
	inv := float64(0)
	if scale > 0 {
		inv = 1 / float64(scale)
	}
	start := len(dst)
	dst = append(dst, make([]byte, 4+n)...)
	out := dst[start:]
	binary.LittleEndian.PutUint32(out, math.Float32bits(scale))
	q := out[4:]
	if elemSize == 4 {
		for i, x := range asF32(raw) {
			q[i] = byte(quant8(float64(x) * inv))
		}
	} else {
		for i, x := range asF64(raw) {
			q[i] = byte(quant8(x * inv))
		}
	}
	return dst, nil
}

// dequant8 writes the elements of q times scale to dst.
func dequant8(dst []byte, scale float32, q []byte, elemSize int) {
	if elemSize == 4 {
		out := asF32(dst)
		for i := range out {
			out[i] = float32(int8(q[i])) * scale
		}
	} else {
		out := asF64(dst)
		for i := range out {
			out[i] = float64(int8(q[i])) * float64(scale)
		}
	}
}

// decode decodes payload into dst, which has exactly the raw length.
func (cs *codecs) decode(dst []byte, c Codec, payload []byte, elemSize int) error {
	n := len(dst) / elemSize
	switch c {
	case CodecNone:
		if len(payload) != len(dst) {
			return fmt.Errorf("%w: raw chunk of %d bytes, expected %d", ErrCodec, len(payload), len(dst))
		}
		copy(dst, payload)
		return nil
	case CodecZstd:
		p := cs.buf(0)
		out, err := cs.dec.DecodeAll(payload, (*p)[:0])
		if err == nil && len(out) != len(dst) {
			err = fmt.Errorf("decoded %d bytes, expected %d", len(out), len(dst))
		}
		if err == nil {
			unshuffle(dst, out, elemSize)
		}
		*p = out
		cs.scratch.Put(p)
		if err != nil {
			return fmt.Errorf("%w: zstd: %w", ErrCodec, err)
		}
		return nil
	case CodecBF16:
		if len(payload) != 2*n {
			return fmt.Errorf("%w: bf16 chunk of %d bytes, expected %d", ErrCodec, len(payload), 2*n)
		}
		if elemSize == 4 {
			out := asF32(dst)
			for i := range out {
				out[i] = fromBF16(binary.LittleEndian.Uint16(payload[2*i:]))
			}
		} else {
			out := asF64(dst)
			for i := range out {
				out[i] = float64(fromBF16(binary.LittleEndian.Uint16(payload[2*i:])))
			}
		}
		return nil
	case CodecInt8:
		if len(payload) != 4+n {
			return fmt.Errorf("%w: int8 chunk of %d bytes, expected %d", ErrCodec, len(payload), 4+n)
		}
		dequant8(dst, math.Float32frombits(binary.LittleEndian.Uint32(payload)), payload[4:], elemSize)
		return nil
	case CodecInt8Zstd:
		if len(payload) < 4 {
			return fmt.Errorf("%w: int8z chunk of %d bytes, shorter than its scale", ErrCodec, len(payload))
		}
		p := cs.buf(0)
		q, err := cs.dec.DecodeAll(payload[4:], (*p)[:0])
		if err == nil && len(q) != n {
			err = fmt.Errorf("decoded %d bytes, expected %d", len(q), n)
		}
		if err == nil {
			dequant8(dst, math.Float32frombits(binary.LittleEndian.Uint32(payload)), q, elemSize)
		}
		*p = q
		cs.scratch.Put(p)
		if err != nil {
			return fmt.Errorf("%w: int8z: %w", ErrCodec, err)
		}
		return nil
	}
	return fmt.Errorf("%w: %v", ErrUnknownCodec, c)
}

func quant8(v float64) int8 {
	r := math.RoundToEven(v)
	return int8(max(-127, min(127, r)))
}

func toBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it a NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1 // round to nearest even
	return uint16(b >> 16)
}

func fromBF16(v uint16) float32 { return math.Float32frombits(uint32(v) << 16) }

// shuffle writes the bytes of src grouped by position within the element.
func shuffle(dst, src []byte, elemSize int) {
	n := len(src) / elemSize
	for k := range elemSize {
		d := dst[k*n : (k+1)*n]
		for i := range d {
			d[i] = src[i*elemSize+k]
		}
	}
}

func unshuffle(dst, src []byte, elemSize int) {
	n := len(src) / elemSize
	for k := range elemSize {
		s := src[k*n : (k+1)*n]
		for i, v := range s {
			dst[i*elemSize+k] = v
		}
	}
}

// asF32 views b as float32s. b's length must be a multiple of 4; the
// platform must be little endian (checked in init).
func asF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func asF64(b []byte) []float64 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), len(b)/8)
}

// asBytes views a float slice as its bytes.
func asBytes[T Float](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

func init() {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) != 1 {
		panic("collective: big-endian platforms are not supported")
	}
}
