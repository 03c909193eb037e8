package collective

import (
	goruntime "runtime"
	"testing"
)

// TestFrameBufSurvivesGC checks that frame buffers returned to a Comm are
// handed out again after GC cycles (which empty a sync.Pool): local
// training between collectives runs many, and fresh buffers each call
// cost zeroing and page faults.
func TestFrameBufSurvivesGC(t *testing.T) {
	c := &Comm{chunk: 64 << 10, spare: make(chan *[]byte, spareFrames)}
	var got []*[]byte
	for range spareFrames {
		got = append(got, c.frameBuf(1000))
	}
	for _, p := range got {
		if cap(*p) < HeaderSize+encodedBound(CodecZstd, c.chunk) {
			t.Fatalf("frameBuf(1000) has capacity %d, want at least one encoded chunk", cap(*p))
		}
		c.putFrame(p)
	}
	goruntime.GC()
	goruntime.GC()
	kept := map[*[]byte]bool{}
	for _, p := range got {
		kept[p] = true
	}
	for i := range spareFrames {
		if p := c.frameBuf(1000); !kept[p] {
			t.Errorf("frameBuf #%d after two GCs returned a new buffer, want one of the %d returned before", i, spareFrames)
		}
	}
	// A request larger than the spares gets a buffer that fits.
	c.putFrame(got[0])
	if p := c.frameBuf(4 << 20); cap(*p) < 4<<20 {
		t.Errorf("frameBuf(4 MiB) has capacity %d", cap(*p))
	}
}
