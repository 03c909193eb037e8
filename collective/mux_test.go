package collective_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// muxComms returns a Mux per rank of nw and the Comms of epoch e over
// ranks (transport ranks), built concurrently in the order given by
// order (later ranks may receive frames of the epoch before they begin it).
func muxComms(t *testing.T, muxes []*collective.Mux, e int, ranks []int) map[int]*collective.Comm {
	t.Helper()
	cs := map[int]*collective.Comm{}
	for _, r := range ranks {
		c, err := muxes[r].NewComm(e, ranks, collective.Config{JobID: "ignored", OpTimeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("rank %d epoch %d: %v", r, e, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cs[r] = c
	}
	return cs
}

func newMuxes(t *testing.T, nw *collectivetest.Network, n int) []*collective.Mux {
	t.Helper()
	ms := make([]*collective.Mux, n)
	for r := range n {
		m, err := collective.NewMux(nw.Transport(r), "job", nil)
		if err != nil {
			t.Fatal(err)
		}
		ms[r] = m
	}
	return ms
}

// allReduceOn runs a sum allreduce of each rank's value (its transport
// rank + 1) on every Comm of cs and checks the sum.
func allReduceOn(ctx context.Context, cs map[int]*collective.Comm) error {
	want := 0.0
	for r := range cs {
		want += float64(r + 1)
	}
	errs := make(chan error, len(cs))
	for r, c := range cs {
		go func() {
			buf := []float64{float64(r + 1), float64(r + 1)}
			if err := collective.AllReduce(ctx, c, buf, buf, collective.Sum); err != nil {
				errs <- fmt.Errorf("rank %d: %w", r, err)
				return
			}
			if buf[0] != want || buf[1] != want {
				errs <- fmt.Errorf("rank %d: allreduce got %v, want %v", r, buf, want)
				return
			}
			errs <- nil
		}()
	}
	var all []error
	for range cs {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// TestMuxShrink: a world of 4 loses rank 2; the survivors' calls fail
// naming it, then epoch 1 over {0, 1, 3} computes right results; a frame
// that a survivor still sends on its epoch-0 Comm is dropped and counted
// on the receiver, which goes on working.
func TestMuxShrink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nw := collectivetest.NewNetwork(t, 4)
	ms := newMuxes(t, nw, 4)
	e0 := muxComms(t, ms, 0, []int{0, 1, 2, 3})
	if err := allReduceOn(ctx, e0); err != nil {
		t.Fatalf("epoch 0: %v", err)
	}
	nw.Kill(2)
	delete(e0, 2)
	err := allReduceOn(ctx, e0)
	var re *collective.RankError
	if !errors.As(err, &re) || re.Rank != 2 {
		t.Fatalf("epoch 0 after rank 2 died: %v, want a RankError naming rank 2", err)
	}
	e1 := muxComms(t, ms, 1, []int{0, 1, 3})
	if got := e1[3].Rank(); got != 2 || e1[3].Size() != 3 {
		t.Errorf("rank 3 in epoch 1 is rank %d of %d, want 2 of 3", got, e1[3].Size())
	}
	if err := allReduceOn(ctx, e1); err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
	// Rank 3 sends on its old Comm (as a rank that learnt late of the
	// shrink): rank 0 drops it and counts it.
	if err := collective.Send(ctx, e0[3], []float32{1, 2, 3}, 0); err != nil {
		t.Fatalf("send on the ended epoch: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ms[0].DeadFrames() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("rank 0 counted no frame of the ended epoch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := allReduceOn(ctx, e1); err != nil {
		t.Fatalf("epoch 1 after a frame of epoch 0: %v", err)
	}
	// Ending epoch 1 fails its calls at once.
	ms[0].End(1, errors.New("test"))
	if err := collective.Barrier(ctx, e1[0]); !errors.Is(err, collective.ErrEpochEnded) {
		t.Errorf("barrier after End: %v, want ErrEpochEnded", err)
	}
}

// TestMuxEarlyFrames: a rank that begins an epoch late still gets the
// frames sent to it before, in order; a rank left out of the epoch never
// gets them.
func TestMuxEarlyFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nw := collectivetest.NewNetwork(t, 3)
	ms := newMuxes(t, nw, 3)
	muxComms(t, ms, 0, []int{0, 1, 2})
	c0, err := ms[0].NewComm(1, []int{0, 2}, collective.Config{OpTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	src := make([]float32, 100000) // several chunks
	for i := range src {
		src[i] = float32(i)
	}
	var sent atomic.Int64
	nw.SetFilter(func(from, to int, frame []byte) []byte {
		if to == 2 {
			sent.Add(1)
		}
		return frame
	})
	done := make(chan error, 1)
	go func() { done <- collective.Broadcast(ctx, c0, src, 0) }()
	for sent.Load() == 0 { // frames of epoch 1 reach rank 2 before it begins it
		if ctx.Err() != nil {
			t.Fatal("rank 0 sent nothing")
		}
		time.Sleep(time.Millisecond)
	}
	c2, err := ms[2].NewComm(1, []int{0, 2}, collective.Config{OpTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	dst := make([]float32, len(src))
	if err := collective.Broadcast(ctx, c2, dst, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range dst {
		if dst[i] != src[i] {
			t.Fatalf("dst[%d] = %v, want %v", i, dst[i], src[i])
		}
	}
	if _, err := ms[1].NewComm(1, []int{0, 2}, collective.Config{}); err == nil {
		t.Error("rank 1 built a Comm of an epoch it is not in")
	}
	if _, err := ms[2].NewComm(1, []int{0, 2}, collective.Config{}); err == nil {
		t.Error("rank 2 began epoch 1 twice")
	}
}

// TestMuxHosts: an epoch's Comm sees the hosts of its ranks, numbered
// densely (a host whose ranks were all lost disappears), and its
// host-aware schedules compute right results.
func TestMuxHosts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nw := collectivetest.NewHostNetwork(t, collectivetest.Hosts(2, 2, 2))
	ms := newMuxes(t, nw, 6)
	e0 := muxComms(t, ms, 0, []int{0, 1, 2, 3, 4, 5})
	if got := e0[0].Hosts(); got != 3 {
		t.Errorf("epoch 0: %d hosts, want 3", got)
	}
	nw.Kill(2)
	nw.Kill(3)
	e1 := muxComms(t, ms, 1, []int{0, 1, 4, 5})
	for r, c := range e1 {
		if got := c.Hosts(); got != 2 {
			t.Errorf("epoch 1, rank %d: %d hosts, want 2", r, got)
		}
	}
	if err := allReduceOn(ctx, e1); err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
	// Large enough for the chain schedules (above SmallBytes).
	errs := make(chan error, len(e1))
	for r, c := range e1 {
		go func() {
			buf := make([]float32, 1<<16)
			for i := range buf {
				buf[i] = float32(r + 1)
			}
			err := collective.AllReduce(ctx, c, buf, buf, collective.Sum)
			if err == nil && buf[len(buf)-1] != 1+2+5+6 {
				err = fmt.Errorf("rank %d: got %v, want %v", r, buf[len(buf)-1], 1+2+5+6)
			}
			errs <- err
		}()
	}
	for range e1 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
