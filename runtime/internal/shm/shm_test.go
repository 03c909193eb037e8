//go:build linux

package shm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func testSeg(t *testing.T) (*Segment, *Segment) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seg")
	nonce := "0123456789abcdef"
	own, err := Create(path, nonce, 4, 64<<10, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := Open(path, nonce)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); own.Remove(); own.Close() })
	return own, peer
}

func TestShmOpenChecksNonce(t *testing.T) {
	own, _ := testSeg(t)
	if _, err := Open(own.path, "fedcba9876543210"); err == nil {
		t.Fatal("opened a segment with the wrong nonce")
	}
}

// TestShmQueueOrderAndFull: messages from several producers arrive
// complete and in each producer's order, while the queue's goroutine and a
// poller take turns consuming; a full queue says so instead of blocking.
func TestShmQueueOrderAndFull(t *testing.T) {
	own, peer := testSeg(t)
	const producers, each = 3, 2000
	got := make([][]int, producers)
	var mu sync.Mutex // guards got
	done := make(chan struct{})
	deliver := func(from int, msg []byte) {
		var k int
		if _, err := fmt.Sscanf(string(msg), "msg %d", &k); err != nil {
			t.Errorf("bad message %q", msg)
		}
		mu.Lock()
		got[from] = append(got[from], k)
		mu.Unlock()
	}
	// The queue's goroutine and a poller (a caller waiting for a
	// collective, World.Poll) take turns at the queue.
	var consumer sync.WaitGroup
	consumer.Go(func() { own.Consume(done, deliver) })
	consumer.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			own.Poll(deliver)
			// Part of the scenario: the poller comes back at random
			// moments, racing the consumer for the queue.
			time.Sleep(time.Duration(rand.IntN(20)) * time.Microsecond)
		}
	})
	// Stop the consumers before the segment is unmapped, also when the
	// test fails early.
	stopConsumers := sync.OnceFunc(func() {
		close(done)
		own.Wake()
		consumer.Wait()
	})
	t.Cleanup(stopConsumers)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for k := 0; k < each; {
				err := peer.Enqueue(p, []byte(fmt.Sprintf("msg %d", k)))
				if errors.Is(err, ErrQueueFull) {
					time.Sleep(10 * time.Microsecond) // back off, as a sender falling back to the server would
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				k++
			}
		})
	}
	wg.Wait()
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		n := 0
		mu.Lock()
		for p := range producers {
			n += len(got[p])
		}
		mu.Unlock()
		if n != producers*each {
			return fmt.Errorf("%d of %d messages delivered", n, producers*each)
		}
		return nil
	})
	stopConsumers()
	for p := range producers {
		if len(got[p]) != each {
			t.Fatalf("producer %d: %d messages, want %d", p, len(got[p]), each)
		}
		for k, v := range got[p] {
			if v != k {
				t.Fatalf("producer %d: message %d is %d (out of order)", p, k, v)
			}
		}
	}

	// With no consumer, the queue fills after Cells messages.
	for i := range Cells {
		if err := peer.Enqueue(0, []byte{byte(i)}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := peer.Enqueue(0, []byte("one too many")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("enqueue on a full queue: %v, want ErrQueueFull", err)
	}
}

func TestShmSlots(t *testing.T) {
	own, peer := testSeg(t)
	s := NewSender(own)
	frame := bytes.Repeat([]byte{7}, 40000)
	var ptrs [][]byte
	for range own.slots {
		p, err := s.Put(frame, 1, func() error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		ptrs = append(ptrs, p)
	}
	// Every slot is taken: put waits until stop gives up.
	stop := errors.New("receiver down")
	if _, err := s.Put(frame, 1, func() error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("put with no free slot: %v, want the stop error", err)
	}
	view, release, err := View(peer, ptrs[0])
	if err != nil || !bytes.Equal(view, frame) {
		t.Fatalf("view: %v (equal %v)", err, bytes.Equal(view, frame))
	}
	release()
	if _, err := s.Put(frame, 1, func() error { return nil }); err != nil {
		t.Fatalf("put after a release: %v", err)
	}
	// The first pointer now names a reused slot: its generation is stale.
	if _, _, err := View(peer, ptrs[0]); err == nil {
		t.Fatal("a stale pointer resolved")
	}
}

// checkFor calls f every every until it returns nil, and fails the test
// with f's last error when total has passed (runtimetest.CheckFor, which
// this package cannot import).
func checkFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no success within %v: %v", total, err)
		}
		time.Sleep(every)
	}
}
