package collective

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func testFrame(payload []byte) []byte {
	h := header{kind: frameData, op: kindBroadcast, codec: CodecNone, elemSize: 4, job: JobTag("j"), seq: 7, src: 1,
		chunk: 0, nchunks: 1, rawLen: uint32(len(payload)), weight: 1}
	b := make([]byte, HeaderSize+len(payload))
	copy(b[HeaderSize:], payload)
	putHeader(b, &h, b[HeaderSize:])
	return b
}

func TestDecodeFrameRejects(t *testing.T) {
	good := testFrame([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if _, _, err := decodeFrame(good, JobTag("j"), 1); err != nil {
		t.Fatalf("valid frame: %v", err)
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	tests := []struct {
		name  string
		frame []byte
		job   string
		from  int
		want  string
	}{
		{"empty", nil, "j", 1, "truncated: 0 bytes"},
		{"short header", good[:20], "j", 1, "truncated: 20 bytes"},
		{"truncated payload", good[:len(good)-3], "j", 1, "truncated: header says 8 payload bytes, frame has 5"},
		{"bad magic", flip(0), "j", 1, "not an fltk frame"},
		{"bad version", flip(2), "j", 1, "frame version"},
		{"payload bit flip", flip(HeaderSize + 2), "j", 1, "checksum mismatch"},
		{"header bit flip", flip(17), "j", 1, "checksum mismatch"},
		{"foreign job", good, "other", 1, "foreign frame"},
		{"wrong sender", good, "j", 2, "source rank 1 in header, delivered from rank 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeFrame(tt.frame, JobTag(tt.job), tt.from)
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decodeFrame: %v, want ErrBadFrame containing %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(testFrame(nil), 1)
	f.Add(testFrame([]byte{0, 0, 128, 63, 0, 0, 0, 64}), 1)
	f.Add([]byte("FK\x01garbage"), 0)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		h, payload, err := decodeFrame(b, JobTag("j"), from)
		if err != nil {
			return
		}
		if len(payload) != int(h.payload) || h.job != JobTag("j") {
			t.Fatalf("accepted inconsistent frame %+v", h)
		}
		// Whatever decodes must also decode through the codecs without panicking.
		if h.kind == frameData && h.rawLen <= 1<<20 {
			cs, _ := newCodecs(1, 1<<20)
			_ = cs.decode(make([]byte, h.rawLen), h.codec, payload, int(h.elemSize))
		}
	})
}

func TestCodecRoundTrip(t *testing.T) {
	cs, err := newCodecs(1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, 1001)
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * 3
	}
	raw := asBytes(src)
	for _, tt := range []struct {
		c   Codec
		tol float64 // max |error| for |x| ≤ 3
	}{
		{CodecNone, 0},
		{CodecZstd, 0},
		{CodecBF16, 3 * math.Ldexp(1, -8)}, // 8-bit mantissa: relative 2^-9, rounded up
		{CodecInt8, 3.0 / 254 * 1.001},     // half a step of max|x|/127
		{CodecInt8Zstd, 3.0 / 254 * 1.001}, // int8's values
	} {
		t.Run(tt.c.String(), func(t *testing.T) {
			enc, err := cs.encode(nil, tt.c, raw, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > encodedBound(tt.c, len(raw)) {
				t.Errorf("encoded %d bytes > bound %d", len(enc), encodedBound(tt.c, len(raw)))
			}
			out := make([]float32, len(src))
			if err := cs.decode(asBytes(out), tt.c, enc, 4); err != nil {
				t.Fatal(err)
			}
			for i := range src {
				if d := math.Abs(float64(out[i] - src[i])); d > tt.tol {
					t.Fatalf("element %d: %v → %v (error %g > %g)", i, src[i], out[i], d, tt.tol)
				}
			}
			if err := cs.decode(asBytes(out[:10]), tt.c, enc, 4); err == nil {
				t.Error("decoding into a buffer of the wrong size succeeded")
			}
		})
	}
	if _, err := cs.encode(nil, CodecInt8, asBytes([]float32{1, float32(math.Inf(1))}), 4); !errors.Is(err, ErrCodec) {
		t.Errorf("int8 of +Inf: %v, want ErrCodec", err)
	}
}

// TestInt8ZstdIsInt8Compressed: int8z decodes to exactly int8's values,
// for float32 and float64, and is smaller than int8 when most values are
// small against the largest (as in model updates).
func TestInt8ZstdIsInt8Compressed(t *testing.T) {
	cs, err := newCodecs(1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ParseCodec("int8z"); err != nil || c != CodecInt8Zstd || !c.Lossy() || c.String() != "int8z" {
		t.Fatalf("ParseCodec(int8z) = %v, %v (lossy %v)", c, err, c.Lossy())
	}
	src := make([]float64, 20000)
	for i := range src {
		src[i] = math.Sin(float64(i)*0.37) * 0.01 // small, against one outlier
	}
	src[123] = -2
	f32 := make([]float32, len(src))
	for i, x := range src {
		f32[i] = float32(x)
	}
	for _, tt := range []struct {
		name     string
		raw      []byte
		elemSize int
	}{{"float32", asBytes(f32), 4}, {"float64", asBytes(src), 8}, {"empty", nil, 4}, {"one", asBytes(f32[:1]), 4}} {
		t.Run(tt.name, func(t *testing.T) {
			i8, err := cs.encode(nil, CodecInt8, tt.raw, tt.elemSize)
			if err != nil {
				t.Fatal(err)
			}
			iz, err := cs.encode(nil, CodecInt8Zstd, tt.raw, tt.elemSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(iz) > encodedBound(CodecInt8Zstd, len(tt.raw)) {
				t.Errorf("int8z encoded %d bytes > bound %d", len(iz), encodedBound(CodecInt8Zstd, len(tt.raw)))
			}
			want := make([]byte, len(tt.raw))
			got := make([]byte, len(tt.raw))
			if err := cs.decode(want, CodecInt8, i8, tt.elemSize); err != nil {
				t.Fatal(err)
			}
			if err := cs.decode(got, CodecInt8Zstd, iz, tt.elemSize); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("int8z decodes to other values than int8")
			}
			if len(tt.raw) > 1000 && 2*len(iz) > len(i8) {
				t.Errorf("int8z %d bytes, int8 %d: want int8z at most half", len(iz), len(i8))
			}
		})
	}
	if _, err := cs.encode(nil, CodecInt8Zstd, asBytes([]float32{1, float32(math.NaN())}), 4); !errors.Is(err, ErrCodec) {
		t.Errorf("int8z of NaN: %v, want ErrCodec", err)
	}
}

// TestInt8ZstdRejectsCorrupt: truncated or altered int8z payloads are
// ErrCodec errors, never a panic or a wrong length.
func TestInt8ZstdRejectsCorrupt(t *testing.T) {
	cs, err := newCodecs(1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, 5000)
	for i := range src {
		src[i] = float32(i%13) - 6
	}
	enc, err := cs.encode(nil, CodecInt8Zstd, asBytes(src), 4)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(enc)
	bad[6] ^= 0xff // in the zstd frame header
	for _, tt := range []struct {
		name    string
		payload []byte
		elems   int
	}{
		{"no scale", enc[:3], len(src)},
		{"scale only", enc[:4], len(src)},
		{"truncated", enc[:len(enc)-5], len(src)},
		{"corrupt", bad, len(src)},
		{"too few elements", enc, len(src) - 1},
		{"too many elements", enc, len(src) + 1},
		{"garbage", []byte("scalgarbage that is no zstd frame"), len(src)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := cs.decode(make([]byte, 4*tt.elems), CodecInt8Zstd, tt.payload, 4); !errors.Is(err, ErrCodec) {
				t.Errorf("decode: %v, want ErrCodec", err)
			}
		})
	}
}

// TestEncodedBoundsFitZstds: Comm sizes chunks by CodecZstd's bound, so no
// codec may need more for a chunk of whole elements.
func TestEncodedBoundsFitZstds(t *testing.T) {
	for n := 8; n <= 1<<22; n = n*2 + 8 {
		for c := range numCodecs {
			if b := encodedBound(c, n); b > encodedBound(CodecZstd, n) {
				t.Errorf("%v: bound %d for %d bytes > zstd's %d", c, b, n, encodedBound(CodecZstd, n))
			}
		}
	}
}

func TestNeedCredit(t *testing.T) {
	// A sender may send chunk i once credit ≥ i−window+1: every stream must
	// get exactly the credit it needs to finish, and no credit after that.
	for _, n := range []uint32{1, 2, 3, 4, 5, 9, 64, 65} {
		for _, w := range []int{1, 2, 3, 4, 8} {
			granted := uint32(0)
			for got := uint32(1); got <= n; got++ {
				if needCredit(got, n, w) {
					if got > n-uint32(min(int(n), w)) {
						t.Fatalf("n=%d w=%d: credit at %d after the sender finished", n, w, got)
					}
					granted = got
				}
				// The sender's next chunk is got+w-1 at the latest… it must be sendable.
			}
			if n > uint32(w) && granted+uint32(w) < n {
				t.Errorf("n=%d w=%d: last credit %d lets the sender reach only chunk %d", n, w, granted, granted+uint32(w))
			}
		}
	}
}
