package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestControlSubjects: a control message published after SubscribeControl
// returned reaches the subscriber.
func TestControlSubjects(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "ctl", 2, nil)
	got := make(chan string, 4)
	stop, err := ws[1].SubscribeControl("x", func(b []byte) { got <- string(b) })
	if err != nil {
		t.Fatal(err)
	}
	if err := ws[0].PublishControl("x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Errorf("got %q, want hello", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no control message")
	}
	stop()
}

// TestMuxShrinkOverNATS: three ranks over a NATS server; rank 2 is left
// out of epoch 1. A frame it still sends on its epoch-0 Comm is dropped
// and counted on rank 0 (dead epoch), and epoch 1 keeps working; its
// frames never reach epoch 1's Comm.
func TestMuxShrinkOverNATS(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "shrink", 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms := make([]*collective.Mux, 3)
	e0 := make([]*collective.Comm, 3)
	for r, w := range ws {
		m, err := collective.NewMux(w, w.JobID(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ms[r] = m
		if e0[r], err = m.NewComm(0, []int{0, 1, 2}, collective.Config{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e0[r].Close() })
	}
	sum := func(cs []*collective.Comm) error {
		return runtimetest.OnAll(len(cs), func(r int) error {
			buf := []float32{1}
			if err := collective.AllReduce(ctx, cs[r], buf, buf, collective.Sum); err != nil {
				return err
			}
			if buf[0] != float32(len(cs)) {
				return fmt.Errorf("sum %v, want %d", buf[0], len(cs))
			}
			return nil
		})
	}
	if err := sum(e0); err != nil {
		t.Fatalf("epoch 0: %v", err)
	}
	var e1 []*collective.Comm
	for r := range 2 {
		ws[r].Exclude(2, "left out of epoch 1")
		c, err := ms[r].NewComm(1, []int{0, 1}, collective.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		e1 = append(e1, c)
	}
	if _, ok := ws[0].Down()[2]; !ok || !errors.Is(ws[0].Down()[2], runtime.ErrRankExcluded) {
		t.Errorf("rank 2 on rank 0: %v, want excluded", ws[0].Down()[2])
	}
	if err := collective.Send(ctx, e0[2], []float32{1, 2, 3}, 0); err != nil {
		t.Fatalf("send on the ended epoch: %v", err)
	}
	runtimetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := ms[0].DeadFrames(); n == 0 {
			return errors.New("rank 0 counted no frame of epoch 0")
		}
		return nil
	})
	if err := sum(e1); err != nil {
		t.Fatalf("epoch 1 after a frame of epoch 0: %v", err)
	}
	// The shared-memory barrier counts every rank of the world: an epoch
	// of fewer ranks synchronises through messages.
	if v, _ := collective.ViewOf(e0[0]); v.SharedBarrier() != ws[0].SharedBarrier() || !ws[0].SharedBarrier() {
		t.Errorf("epoch 0 of every rank: shared barrier %v, the World's %v, want both true", v.SharedBarrier(), ws[0].SharedBarrier())
	}
	if v, _ := collective.ViewOf(e1[0]); v.SharedBarrier() {
		t.Error("epoch 1 of 2 ranks uses the shared-memory barrier")
	}
	if err := runtimetest.OnAll(2, func(r int) error { return collective.Barrier(ctx, e1[r]) }); err != nil {
		t.Fatalf("barrier in epoch 1: %v", err)
	}
}
