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

// TestCallBufs checks the kept call buffers: the smallest that fits is
// handed out again, at most keptCallBufs are kept, a larger one replaces
// the smallest, and Close lets them go.
func TestCallBufs(t *testing.T) {
	var cb callBufs
	first := func(b []byte) *byte { return &b[:1][0] }
	a, b := cb.get(100), cb.get(300)
	if len(a) != 100 || len(b) != 300 {
		t.Fatalf("get(100), get(300) have lengths %d, %d", len(a), len(b))
	}
	cb.put(a)
	cb.put(b)
	if got := cb.get(50); first(got) != first(a) || len(got) != 50 {
		t.Errorf("get(50) did not return the smallest kept buffer that fits (len %d, cap %d)", len(got), cap(got))
	}
	cb.put(a)
	if got := cb.get(200); first(got) != first(b) {
		t.Errorf("get(200) did not return the kept 300-byte buffer (cap %d)", cap(got))
	}
	cb.put(b)
	big := cb.get(1000) // none fits: a new one
	if first(big) == first(a) || first(big) == first(b) {
		t.Fatal("get(1000) returned a kept buffer too small for it")
	}
	cb.put(big) // full: replaces a (the smallest)
	if len(cb.bufs) != keptCallBufs {
		t.Fatalf("%d buffers kept, want %d", len(cb.bufs), keptCallBufs)
	}
	for _, k := range cb.bufs {
		if first(k) == first(a) {
			t.Errorf("the smallest buffer was kept over a larger one")
		}
	}
	cb.put(make([]byte, 10)) // smaller than every kept one: not kept
	for _, k := range cb.bufs {
		if cap(k) == 10 {
			t.Errorf("a buffer smaller than every kept one replaced one")
		}
	}
	cb.drop()
	if len(cb.bufs) != 0 {
		t.Errorf("%d buffers kept after drop", len(cb.bufs))
	}
}
