package runtime_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestRejoin: after rank 2 of a running world leaves, a new process for
// rank 2 (Config.Rejoin) joins it; a second process for the live rank 1 is
// still refused, naming it. Once readmitted (rank 0 only for the rank that
// rejoined), the three ranks run collectives in a new epoch of every rank,
// the survivors' shared memory with the old rank 2 unused.
func TestRejoin(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	fast := func(c *runtime.Config) { c.HeartbeatInterval, c.LivenessTimeout = 50*time.Millisecond, time.Second }
	ws := runtimetest.RunWorld(t, srv, "rejoin", 3, fast)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails the test rather than blocking it
	defer cancel()
	muxes := make([]*collective.Mux, 3)
	for r := range 2 {
		var err error
		if muxes[r], err = collective.NewMux(ws[r], "rejoin", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws[2].Close(); err != nil {
		t.Fatal(err)
	}

	dup := runtimetest.Config(srv, "rejoin", 1, 3)
	fast(&dup)
	dup.Rejoin, dup.RendezvousTimeout = true, time.Second
	if w, err := runtime.Join(ctx, dup); err == nil {
		_ = w.Close()
		t.Fatal("a second process for the live rank 1 joined")
	} else if !strings.Contains(err.Error(), "rank 1 already joined this job (from pid") || !strings.Contains(err.Error(), "is alive") {
		t.Errorf("second rank 1: %v, want a refusal naming the live process", err)
	}

	c := runtimetest.Config(srv, "rejoin", 2, 3)
	fast(&c)
	c.Rejoin = true // rank 0 may not have heard the goodbye yet
	w2, err := runtime.Join(ctx, c)
	if err != nil {
		t.Fatalf("rank 2 rejoins: %v", err)
	}
	t.Cleanup(func() { _ = w2.Close() })
	if !w2.Rejoined() || ws[0].Rejoined() {
		t.Errorf("Rejoined: new rank 2 %v, rank 0 %v; want true, false", w2.Rejoined(), ws[0].Rejoined())
	}
	if muxes[2], err = collective.NewMux(w2, "rejoin", nil); err != nil {
		t.Fatal(err)
	}
	if err := ws[0].Readmit(1); err == nil {
		t.Error("rank 0 readmitted rank 1, for which no new process joined")
	}
	for r := range 2 {
		if err := ws[r].Readmit(2); err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		muxes[r].Readmit(2)
		if _, down := ws[r].Down()[2]; down {
			t.Errorf("rank %d still counts rank 2 down", r)
		}
	}
	if err := ws[0].Readmit(2); err == nil {
		t.Error("rank 0 readmitted rank 2 twice for one new process")
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	sums := make([][]float64, 3)
	for r := range 3 {
		wg.Go(func() {
			comm, err := muxes[r].NewComm(1, []int{0, 1, 2}, collective.DefaultConfig())
			if err != nil {
				errs[r] = err
				return
			}
			defer comm.Close()
			sums[r] = make([]float64, 4)
			in := []float64{float64(r), 1, 2, 3}
			errs[r] = collective.AllReduce(ctx, comm, sums[r], in, collective.Sum)
			if errs[r] == nil {
				errs[r] = collective.Barrier(ctx, comm)
			}
		})
	}
	wg.Wait()
	for r := range 3 {
		if errs[r] != nil {
			t.Errorf("rank %d: %v", r, errs[r])
		} else if want := []float64{3, 3, 6, 9}; !slices.Equal(sums[r], want) {
			t.Errorf("rank %d: sum %v, want %v", r, sums[r], want)
		}
	}
}
