package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestReplayedAndForeignFramesOverNATS: a client with the job's token
// captures the data frames of one AllReduce from the job's subjects, then,
// while the ranks run the next AllReduce, publishes each of them again
// (replays) and a copy with another job's tag (foreign) on the same
// subjects. The running AllReduce and the calls after it complete with
// the right results, and the ranks count every frame they dropped.
func TestReplayedAndForeignFramesOverNATS(t *testing.T) {
	const np, job, n = 3, "rj", 3000 // 12000 bytes: 3 chunks of 4096
	srv := runtimetest.RunServer(t, nil)
	// Without shared memory every frame crosses the server.
	ws := runtimetest.RunWorld(t, srv, job, np, func(c *runtime.Config) { c.SharedMemory = false })
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 4096})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	spy, err := nats.Connect(srv.URL(), nats.Token(srv.Token()))
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	var mu sync.Mutex
	var captured []*nats.Msg
	sub, err := spy.Subscribe("fltk."+job+".>", func(m *nats.Msg) {
		// Data frames only: the point-to-point and fan-out subjects.
		rest := strings.TrimPrefix(m.Subject, "fltk."+job+".")
		if (strings.HasPrefix(rest, "p.") || strings.HasPrefix(rest, "b.")) && len(m.Data) > collective.HeaderSize {
			mu.Lock()
			captured = append(captured, m)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	allReduce(t, ctx, comms, n)
	// The spy got its copies of the call's frames (the server sends them
	// to every subscriber in turn): wait until a ping round trip after
	// them, then stop listening so that it does not capture its own.
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	frames := captured
	mu.Unlock()
	if len(frames) == 0 {
		t.Fatal("captured no data frame of the AllReduce")
	}
	// Each publish reaches one rank (p.<to>.<from>) or every rank but the
	// sender (b.<from>).
	receivers := 0
	for _, m := range frames {
		if strings.HasPrefix(m.Subject, "fltk."+job+".b.") {
			receivers += np - 1
		} else {
			receivers++
		}
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		for _, m := range frames {
			if err := spy.Publish(m.Subject, m.Data); err != nil { // a replay
				t.Error(err)
			}
			if err := spy.Publish(m.Subject, collectivetest.Retag(m.Data, "another-job")); err != nil { // a foreign frame
				t.Error(err)
			}
		}
		if err := spy.Flush(); err != nil {
			t.Error(err)
		}
	})
	allReduce(t, ctx, comms, n)
	wg.Wait()
	runtimetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		var sum collective.Rejected
		for _, c := range comms {
			r := c.Rejected()
			sum.Foreign += r.Foreign
			sum.Replayed += r.Replayed
			sum.Corrupt += r.Corrupt
		}
		if want := (collective.Rejected{Foreign: int64(receivers), Replayed: int64(receivers)}); sum != want {
			return &rejectedError{got: sum, want: want}
		}
		return nil
	})
	if err := runtimetest.OnAll(np, func(r int) error { return collective.Barrier(ctx, comms[r]) }); err != nil {
		t.Fatalf("barrier after the replays: %v", err)
	}
	allReduce(t, ctx, comms, n)
	// The dropped frames are not frames their claimed sender sent: each
	// rank's count of frames received from a peer (what a goodbye is
	// checked against) matches what that peer sent it.
	runtimetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		for r := range np {
			for p := range np {
				if p == r {
					continue
				}
				sent, _ := runtime.FrameCounts(ws[p], r)
				if _, recv := runtime.FrameCounts(ws[r], p); recv != sent {
					return fmt.Errorf("rank %d counts %d frames from rank %d, which sent it %d", r, recv, p, sent)
				}
			}
		}
		return nil
	})
	t.Logf("%d frames replayed and %d foreign frames delivered, all dropped", receivers, receivers)
}

type rejectedError struct{ got, want collective.Rejected }

func (e *rejectedError) Error() string {
	return "ranks rejected " + e.got.String() + " in all, want " + e.want.String()
}

// allReduce runs a Sum AllReduce of n elements on every rank and checks
// the result.
func allReduce(t *testing.T, ctx context.Context, comms []*collective.Comm, n int) {
	t.Helper()
	np := len(comms)
	dsts := make([][]float32, np)
	err := runtimetest.OnAll(np, func(r int) error {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r + 1 + i%5)
		}
		dsts[r] = make([]float32, n)
		return collective.AllReduce(ctx, comms[r], dsts[r], src, collective.Sum)
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, dst := range dsts {
		for i, v := range dst {
			if want := float32(np*(np+1)/2 + np*(i%5)); v != want {
				t.Fatalf("rank %d allreduce [%d] = %v, want %v", r, i, v, want)
			}
		}
	}
}
