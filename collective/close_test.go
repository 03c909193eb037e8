package collective_test

import (
	"context"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// TestCloseDropsHeldFrames: frames of a call a rank never makes (a world
// that moved on to a new epoch) stay with its Comm until Close, which
// lets them go, so an old epoch's Comm kept by its owner holds nothing.
func TestCloseDropsHeldFrames(t *testing.T) {
	nw := collectivetest.NewNetwork(t, 2)
	cs := nw.Comms(t, collective.Config{JobID: "close"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Rank 1 broadcasts; rank 0 never takes part.
	if err := collective.Broadcast(ctx, cs[1], make([]float32, 1000), 1); err != nil {
		t.Fatal(err)
	}
	for collective.PendingCalls(cs[0]) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("rank 0 never held the broadcast's frames")
		case <-time.After(time.Millisecond):
		}
	}
	if err := cs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if n := collective.PendingCalls(cs[0]); n != 0 {
		t.Errorf("after Close rank 0 keeps %d calls, want 0", n)
	}
}
