package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/nats-io/nats.go"
)

func inProcessServer(t *testing.T) *runtime.Server {
	cfg := runtime.DefaultServerConfig()
	cfg.DontListen = true
	return runtimetest.RunServer(t, &cfg)
}

// TestConformanceNATS runs every collective, size and codec over a real
// embedded nats-server, in process (np 1, 2, 3, 9) and over loopback TCP
// (np 5).
func TestConformanceNATS(t *testing.T) {
	elems := []int{0, 1, 7, 1000, collectivetest.Large()}
	codecs := []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd}
	if testing.Short() { // the race run: a lossless, a compressed and a lossy path
		codecs = []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecInt8Zstd}
	}
	for _, tc := range []struct {
		np       int
		tcp, shm bool
	}{{1, false, false}, {2, false, true}, {3, false, false}, {5, true, false}, {5, true, true}, {9, false, true}} {
		t.Run(fmt.Sprintf("np=%d/tcp=%v/shm=%v", tc.np, tc.tcp, tc.shm), func(t *testing.T) {
			srv := runtimetest.RunServer(t, nil)
			if !tc.tcp {
				srv = inProcessServer(t)
			}
			ws := runtimetest.RunWorld(t, srv, "conf", tc.np, func(c *runtime.Config) { c.SharedMemory = tc.shm })
			comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			if err := runtimetest.OnAll(tc.np, func(r int) error {
				return collectivetest.Conformance(ctx, comms[r], elems, codecs)
			}); err != nil {
				t.Fatal(err)
			}
			// Large frames took the shared-memory path exactly when it was on.
			if n := ws[0].SharedMemoryFrames(); (n > 0) != (tc.shm && tc.np > 1) {
				t.Errorf("rank 0 sent %d frames through shared memory with shm=%v", n, tc.shm)
			}
		})
	}
}

// TestConformancePolling runs the conformance suite over shared memory
// with the waiting caller never polling its queue (every frame through
// the doorbell goroutine) and polling for long (most frames delivered on
// the caller's goroutine, racing the doorbell goroutine for the queue).
func TestConformancePolling(t *testing.T) {
	for _, poll := range []time.Duration{-1, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			const np = 5
			ws := runtimetest.RunWorld(t, inProcessServer(t), "poll", np, nil)
			comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096, PollFor: poll})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			if err := runtimetest.OnAll(np, func(r int) error {
				return collectivetest.Conformance(ctx, comms[r], []int{0, 7, 1000, collectivetest.Large()}, []collective.Codec{collective.CodecNone})
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTwoJobsOneServer runs two jobs with the same rank numbers on one
// server at once; neither sees the other's frames.
func TestTwoJobsOneServer(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	const np = 3
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for j, job := range []string{"job-a", "job-b"} {
		wg.Go(func() {
			ws := runtimetest.RunWorld(t, srv, job, np, nil)
			comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 4096})
			errs[j] = runtimetest.OnAll(np, func(r int) error {
				return collectivetest.Conformance(t.Context(), comms[r], []int{0, 5, 3000}, []collective.Codec{collective.CodecNone})
			})
		})
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			t.Errorf("job %d: %v", j, err)
		}
	}
}

func TestRendezvousTimeoutNamesMissingRanks(t *testing.T) {
	srv := inProcessServer(t)
	const np = 5
	var wg sync.WaitGroup
	errs := make([]error, np)
	for _, r := range []int{0, 1, 3} { // 2 and 4 never come
		wg.Go(func() {
			c := runtimetest.Config(srv, "late", r, np)
			c.RendezvousTimeout = 700 * time.Millisecond
			w, err := runtime.Join(t.Context(), c)
			if err == nil {
				_ = w.Close()
			}
			errs[r] = err
		})
	}
	wg.Wait()
	for _, r := range []int{0, 1, 3} {
		var re *runtime.RendezvousError
		if !errors.As(errs[r], &re) {
			t.Fatalf("rank %d: got %v, want a RendezvousError", r, errs[r])
		}
		if !strings.Contains(errs[r].Error(), "ranks [2 4] never arrived") {
			t.Errorf("rank %d: error %q does not name ranks [2 4]", r, errs[r])
		}
	}
}

func TestRendezvousRejects(t *testing.T) {
	tests := []struct {
		name  string
		ranks []int // rank of each process
		sizes []int // world size each process believes
		want  string
	}{
		{"duplicate rank", []int{0, 1, 1}, []int{3, 3, 3}, "rank 1 is claimed twice: by pid"},
		{"world size mismatch", []int{0, 1, 2}, []int{3, 3, 4}, "world size mismatch: rank 2"},
		{"duplicate root", []int{0, 0}, []int{2, 2}, "rank 0 is claimed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := inProcessServer(t)
			errs := make([]error, len(tt.ranks))
			var wg sync.WaitGroup
			for i, r := range tt.ranks {
				if r == 0 && i > 0 {
					// A second root once the first answers claims.
					runtimetest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
						if !srv.NATS().GlobalAccount().SubscriptionInterest("fltk.rej.rdv.root") {
							return errors.New("the first rank 0 does not answer claims yet")
						}
						return nil
					})
				}
				wg.Go(func() {
					c := runtimetest.Config(srv, "rej", r, tt.sizes[i])
					c.RendezvousTimeout = 3 * time.Second
					w, err := runtime.Join(t.Context(), c)
					if err == nil {
						_ = w.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			found := false
			for i, err := range errs {
				if err != nil && strings.Contains(err.Error(), tt.want) {
					found = true
				}
				if err == nil {
					t.Errorf("process %d (rank %d) joined, want an error", i, tt.ranks[i])
				}
			}
			if !found {
				t.Errorf("no error contains %q: %v", tt.want, errs)
			}
		})
	}
}

func TestTokenRequired(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	if _, err := nats.Connect(srv.URL()); err == nil {
		t.Fatal("connected without the token")
	}
	if _, err := nats.Connect(srv.URL(), nats.Token("wrong")); err == nil {
		t.Fatal("connected with a wrong token")
	}
	c := runtimetest.Config(srv, "tok", 0, 1)
	c.Token = "wrong"
	_, err := runtime.Join(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), "rejected the token") {
		t.Fatalf("Join with a wrong token: %v, want a token error", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	c := runtime.DefaultConfig()
	c.URL = "nats://127.0.0.1:1" // nothing listens on port 1
	c.RendezvousTimeout = 500 * time.Millisecond
	_, err := runtime.Join(t.Context(), c)
	if !errors.Is(err, runtime.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("got %v, want ErrUnreachable naming the address", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*runtime.Config)
		want   string
	}{
		{"rank out of range", func(c *runtime.Config) { c.Rank, c.WorldSize = 5, 5 }, "rank 5 out of range [0, 5)"},
		{"negative rank", func(c *runtime.Config) { c.Rank = -1 }, "rank -1 out of range"},
		{"zero world", func(c *runtime.Config) { c.WorldSize = 0 }, "world size 0"},
		{"bad job id", func(c *runtime.Config) { c.JobID = "a.b" }, `job id "a.b"`},
		{"liveness", func(c *runtime.Config) { c.LivenessTimeout = 100 * time.Millisecond }, "liveness timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runtime.DefaultConfig()
			c.URL = "nats://127.0.0.1:4222"
			tt.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, runtime.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestDeadRankFailsPendingCollectives cuts one rank's connection in the
// middle of a large allreduce: every other rank fails within the liveness
// bound with an error naming it, waiting for frames or, through the
// scratch buffers, in the shared barrier.
func TestDeadRankFailsPendingCollectives(t *testing.T) {
	for _, c := range []struct {
		op     string
		shared int
	}{
		{"allreduce", -1}, {"allreduce", 0}, // frames; the shared barrier
		{"bcast", 0},  // waiting for the dead root's flag
		{"gather", 0}, // root waiting for the dead rank's flag
	} {
		t.Run(fmt.Sprintf("op=%s/shared_bytes=%d", c.op, c.shared), func(t *testing.T) { deadRankFailsPending(t, c.op, c.shared) })
	}
}

// deadRankFailsPending: op with the victim as the broadcast's root and
// rank 0 as the gather's, which only root waits for: there the others
// may return before the death.
func deadRankFailsPending(t *testing.T, op string, sharedBytes int) {
	srv := runtimetest.RunServer(t, nil)
	const np, victim = 4, 2
	ws := runtimetest.RunWorld(t, srv, "dead", np, func(c *runtime.Config) { c.LivenessTimeout = time.Second })
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, Window: 2, SharedBytes: sharedBytes})
	// Buffers made and touched before: fresh megabytes under the race
	// detector page in shadow memory slowly enough here to starve the
	// heartbeats of a 1 s liveness timeout. 16 chunks, more than the window.
	bufs := make([][]float32, np)
	for r := range bufs {
		bufs[r] = make([]float32, 1<<18)
		for i := range bufs[r] {
			bufs[r][i] = 1
		}
	}
	// Warm up, so the collective below is the second call.
	if err := runtimetest.OnAll(np, func(r int) error { return collective.Barrier(t.Context(), comms[r]) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := make([]error, np)
	var started atomic.Int32
	var wg sync.WaitGroup
	for r := range np {
		if r == victim {
			continue // the victim never takes part: it dies instead
		}
		wg.Go(func() {
			onStart := collective.OnStart(func() { started.Add(1) })
			switch op {
			case "allreduce":
				errs[r] = collective.AllReduce(t.Context(), comms[r], bufs[r], bufs[r], collective.Sum, onStart)
			case "bcast":
				errs[r] = collective.Broadcast(t.Context(), comms[r], bufs[r], victim, onStart)
			case "gather":
				var dst []float32
				if r == 0 {
					dst = make([]float32, np*len(bufs[r]))
				}
				errs[r] = collective.Gather(t.Context(), comms[r], dst, bufs[r], 0, onStart)
			}
		})
	}
	runtimetest.CheckFor(t, 30*time.Second, time.Millisecond, func() error {
		if n := started.Load(); n < np-1 {
			return fmt.Errorf("%d of %d ranks began the %s", n, np-1, op)
		}
		return nil
	})
	runtime.Crash(ws[victim])
	wg.Wait()
	elapsed := time.Since(start)
	for r, err := range errs {
		if r == victim || (op == "gather" && r != 0 && err == nil) {
			continue
		}
		var re *collective.RankError
		if !errors.As(err, &re) || re.Rank != victim || !errors.Is(err, runtime.ErrRankDead) {
			t.Errorf("rank %d: got %v, want RankError for rank %d (dead)", r, err, victim)
		}
	}
	// Liveness timeout 1s, checked every 25ms; allow for a loaded machine.
	if bound := 10 * time.Second; elapsed > bound {
		t.Errorf("failure took %v, liveness bound is 1s", elapsed)
	}
	// Later calls fail at once, naming the rank.
	err := collective.Barrier(t.Context(), comms[0])
	if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("rank %d is down", victim)) {
		t.Errorf("barrier after the death: %v", err)
	}
}

// TestCleanExitIsNotFailure: ranks that finish and close do not fail a
// rank still finishing the same collective.
func TestCleanExitIsNotFailure(t *testing.T) {
	srv := inProcessServer(t)
	const np = 3
	ws := runtimetest.RunWorld(t, srv, "bye", np, nil)
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 4096})
	err := runtimetest.OnAll(np, func(r int) error {
		buf := make([]float32, 100000)
		if r == 0 {
			for i := range buf {
				buf[i] = float32(i)
			}
		}
		if err := collective.Broadcast(t.Context(), comms[r], buf, 0); err != nil {
			return err
		}
		if buf[99999] != 99999 {
			return fmt.Errorf("broadcast got %v", buf[99999])
		}
		if r != 0 {
			return ws[r].Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := ws[0].WaitOthers(ctx); err != nil {
		t.Fatalf("rank 0 did not see the others leave: %v", err)
	}
	for r, e := range ws[0].Down() {
		if !errors.Is(e, runtime.ErrRankLeft) {
			t.Errorf("rank %d: %v, want ErrRankLeft", r, e)
		}
	}
}

// TestGatherLarge gathers 8 × 16 MiB (64 MiB with -tags integration… see
// the bench) into one root over TCP: credits keep every connection below
// max_pending.
func TestGatherLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB; run without -short")
	}
	cfg := runtime.DefaultServerConfig()
	cfg.MaxPending = 64 << 20 // the NATS default: credits must keep us below it
	srv := runtimetest.RunServer(t, &cfg)
	const np, n = 9, 4 << 20 // 16 MiB of float32 per rank
	ws := runtimetest.RunWorld(t, srv, "gather", np, nil)
	comms := runtimetest.Comms(t, ws, collective.Config{})
	err := runtimetest.OnAll(np, func(r int) error {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(r*n + i)
		}
		var dst []float32
		if r == 0 {
			dst = make([]float32, np*n)
		}
		if err := collective.Gather(t.Context(), comms[r], dst, src, 0); err != nil {
			return err
		}
		for i, v := range dst {
			if v != float32(i) {
				return fmt.Errorf("dst[%d] = %v", i, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSharedMemoryMixedWorld: a rank without shared memory talks to the
// others through the server while they use shared memory among
// themselves; the segment files are gone once the world is up.
func TestSharedMemoryMixedWorld(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	const np = 4
	ws := runtimetest.RunWorld(t, srv, "mixed", np, func(c *runtime.Config) { c.SharedMemory = c.Rank != 1 })
	if left, _ := filepath.Glob("/dev/shm/fltk-mixed-*"); len(left) > 0 {
		t.Errorf("segment files left after setup: %v", left)
	}
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 1024})
	if err := runtimetest.OnAll(np, func(r int) error {
		return collectivetest.Conformance(t.Context(), comms[r], []int{0, 3, 5000, 100000}, []collective.Codec{collective.CodecNone})
	}); err != nil {
		t.Fatal(err)
	}
	// Only ranks with shared memory poll while they wait.
	if !ws[0].CanPoll() || ws[1].CanPoll() {
		t.Errorf("CanPoll: rank 0 %v (want true), rank 1 %v (want false)", ws[0].CanPoll(), ws[1].CanPoll())
	}
	if ws[0].SharedMemoryFrames() == 0 || ws[1].SharedMemoryFrames() != 0 {
		t.Errorf("shared-memory frames: rank 0 %d (want > 0), rank 1 %d (want 0)", ws[0].SharedMemoryFrames(), ws[1].SharedMemoryFrames())
	}
}

// TestLeaverNamesTheDeadRank: a rank that leaves after seeing another die
// says so in its goodbye, so a collective that only waited for the leaver
// still names the dead rank.
func TestLeaverNamesTheDeadRank(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	const np, victim = 3, 2
	ws := runtimetest.RunWorld(t, srv, "leaver", np, func(c *runtime.Config) {
		c.LivenessTimeout = time.Second
		if c.Rank == 1 {
			c.LivenessTimeout = time.Minute // rank 1 learns of the death only from rank 0
		}
	})
	comms := runtimetest.Comms(t, ws, collective.DefaultConfig())
	errc := make(chan error, 1)
	go func() {
		buf := make([]float32, 16)
		errc <- collective.Recv(t.Context(), comms[1], buf, 0) // rank 0 never sends
	}()
	runtime.Crash(ws[victim])
	// Rank 0 leaves once its liveness timeout has passed.
	runtimetest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if _, ok := ws[0].Down()[victim]; !ok {
			return fmt.Errorf("rank 0 does not know rank %d is down", victim)
		}
		return nil
	})
	_ = comms[0].Close()
	_ = ws[0].Close()
	select {
	case err := <-errc:
		if !errors.Is(err, runtime.ErrRankLeft) || !strings.Contains(err.Error(), fmt.Sprintf("rank %d is down", victim)) {
			t.Errorf("rank 1: %v, want rank 0 left because rank %d is down", err, victim)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rank 1's receive did not fail after rank 0 left")
	}
}
