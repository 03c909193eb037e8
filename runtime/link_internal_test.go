package runtime

import (
	"bytes"
	"net"
	"testing"
)

// writesConn records each Write that reaches the network.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (w *writesConn) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestBatchConn: before batching starts (the TLS handshake, the greeting)
// every write goes out at once; then small writes wait for flush or for
// linkBatchBytes, a large one goes out whole, and nothing is lost or
// reordered.
func TestBatchConn(t *testing.T) {
	raw := &writesConn{}
	b := &batchConn{Conn: raw}
	var want []byte
	write := func(n int, fill byte) {
		p := bytes.Repeat([]byte{fill}, n)
		want = append(want, p...)
		if got, err := b.Write(p); err != nil || got != n {
			t.Fatalf("Write(%d bytes) = %d, %v", n, got, err)
		}
	}
	write(100, 'h')
	if len(raw.writes) != 1 {
		t.Fatalf("before batching: %d writes reached the network, want 1", len(raw.writes))
	}
	b.startBatching()
	for i := range 3 {
		write(16<<10, byte('a'+i))
	}
	if len(raw.writes) != 1 {
		t.Fatalf("batching: 3 records of 16 KiB made %d writes before flush, want none", len(raw.writes)-1)
	}
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 2 || len(raw.writes[1]) != 3*16<<10 {
		t.Fatalf("flush: %d writes, want the 3 records in one", len(raw.writes)-1)
	}
	for range linkBatchBytes / (16 << 10) {
		write(16<<10, 'f')
	}
	write(1, 'x') // over linkBatchBytes: what waited goes first
	if len(raw.writes) != 3 || len(raw.writes[2]) != linkBatchBytes {
		t.Fatalf("a full batch: %d writes (last %d bytes), want one of %d", len(raw.writes)-2, len(raw.writes[len(raw.writes)-1]), linkBatchBytes)
	}
	write(linkBatchBytes+5, 'L') // the waiting byte, then this one whole
	if err := b.flush(); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(raw.writes, nil); !bytes.Equal(got, want) {
		t.Fatalf("the network got %d bytes, not the %d written in order", len(got), len(want))
	}
}
