package collective_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// onAll runs f on every rank concurrently and returns the errors by rank.
func onAll(comms []*collective.Comm, f func(c *collective.Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = f(c) })
	}
	wg.Wait()
	return errs
}

var allCodecs = []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd}

func TestConformanceInMemory(t *testing.T) {
	// Chunks of 256 bytes make every size but the smallest span several
	// chunks, and 97 and 1000 elements are not multiples of the chunk.
	// RootBytes -1 runs the lossless AllReduce through reduce-scatter +
	// allgather, as larger tensors take it; the default through a root.
	// (Lossy codecs take reduce-scatter either way.)
	elems := []int{0, 1, 7, 97, 1000}
	lossless := []collective.Codec{collective.CodecNone, collective.CodecZstd}
	for _, tt := range []struct {
		np        int
		rootBytes int
		codecs    []collective.Codec
	}{{1, 0, allCodecs}, {2, 0, allCodecs}, {3, 0, allCodecs}, {5, 0, allCodecs}, {9, 0, allCodecs}, {5, -1, lossless}, {9, -1, lossless}} {
		t.Run(fmt.Sprintf("np=%d/root_bytes=%d", tt.np, tt.rootBytes), func(t *testing.T) {
			t.Parallel()
			cfg := collective.Config{JobID: "mem", ChunkBytes: 256, Window: 2, SmallBytes: 128, RootBytes: tt.rootBytes}
			comms := collectivetest.NewNetwork(t, tt.np).Comms(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for r, err := range onAll(comms, func(c *collective.Comm) error {
				return collectivetest.Conformance(ctx, c, elems, tt.codecs)
			}) {
				if err != nil {
					t.Errorf("rank %d: %v", r, err)
				}
			}
		})
	}
}

func TestKilledRankIsNamed(t *testing.T) {
	for _, hosts := range [][]int{collectivetest.Hosts(4), collectivetest.Hosts(2, 2)} {
		t.Run(fmt.Sprintf("hosts=%v", hosts), func(t *testing.T) { testKilledRankIsNamed(t, hosts) })
	}
}

func testKilledRankIsNamed(t *testing.T, hosts []int) {
	nw := collectivetest.NewHostNetwork(t, hosts)
	comms := nw.Comms(t, collective.Config{JobID: "kill", ChunkBytes: 1024, Window: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// Rank 3 never joins the allreduce; kill it while the others wait.
	done := allReduceWithout(ctx, comms[:3])
	nw.Kill(3)
	for r, err := range <-done {
		var re *collective.RankError
		if !errors.As(err, &re) || re.Rank != 3 || !errors.Is(err, collective.ErrPeerDown) {
			t.Errorf("rank %d: %v, want RankError naming rank 3", r, err)
		}
	}
}

// TestRootAllReduceBitIdentical runs every collective with the AllReduce
// through a root (the default up to RootBytes) and through reduce-scatter
// + allgather (RootBytes -1) and requires the same bits on every rank, and
// for lossless codecs the bits of a reference reduced in rank order.
func TestRootAllReduceBitIdentical(t *testing.T) {
	for _, np := range []int{2, 5} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			t.Parallel()
			cfg := collective.Config{JobID: "root", ChunkBytes: 256, Window: 2, SmallBytes: 128}
			root := collectivetest.NewNetwork(t, np).Comms(t, cfg)
			cfg.RootBytes = -1
			scatter := collectivetest.NewNetwork(t, np).Comms(t, cfg)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for _, n := range []int{1, 999} {
				for _, codec := range allCodecs[:4] {
					testBits[float32](ctx, t, root, scatter, n, codec)
					testBits[float64](ctx, t, root, scatter, n, codec)
				}
			}
		})
	}
}

// allReduceWithout starts a 100000-element AllReduce on comms (the ranks
// left out never join it) and returns their errors when all have ended.
func allReduceWithout(ctx context.Context, comms []*collective.Comm) <-chan []error {
	done := make(chan []error, 1)
	go func() {
		done <- onAll(comms, func(c *collective.Comm) error {
			buf := make([]float32, 100000)
			return collective.AllReduce(ctx, c, buf, buf, collective.Sum)
		})
	}()
	return done
}

// TestAbortTakesTheLocalReason: an AllReduce through a root waits only
// for the root, which tells the others when a rank it waits for is down.
// A rank that learns of the death itself fails with its own reason (here
// ErrKilled); one that never does fails after a grace period, naming the
// rank as the root reported it.
func TestAbortTakesTheLocalReason(t *testing.T) {
	nw := collectivetest.NewNetwork(t, 4)
	comms := nw.Comms(t, collective.Config{JobID: "abort", ChunkBytes: 1024, Window: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := allReduceWithout(ctx, comms[:3])
	// The root rotates with the call's sequence number: rank 1 for the
	// first call. Only it and rank 0 are told that rank 3 is down.
	nw.Kill(3, 1, 0)
	errs := <-done
	for r, err := range errs {
		var re *collective.RankError
		if !errors.As(err, &re) || re.Rank != 3 || !errors.Is(err, collective.ErrPeerDown) {
			t.Errorf("rank %d: %v, want a RankError naming rank 3", r, err)
		}
		if told := r < 2; told != errors.Is(err, collectivetest.ErrKilled) {
			t.Errorf("rank %d: %v, want ErrKilled: %v", r, err, told)
		}
	}
	if err := errs[2]; !strings.Contains(err.Error(), "as rank 1 reported") {
		t.Errorf("rank 2: %v, want the root's report", err)
	}
}

// TestLateFrameOfFailedCallIsDropped: rank 0 learns that rank 2 died
// before rank 1 does, so its gather fails at once while rank 1 still sends
// its part. That late frame belongs to a call that failed here: it must
// not poison the Comm as a disagreement, and the next call between the
// survivors must work (and one needing rank 2 name it).
func TestLateFrameOfFailedCallIsDropped(t *testing.T) {
	nw := collectivetest.NewNetwork(t, 3)
	comms := nw.Comms(t, collective.Config{JobID: "late"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nw.Kill(2, 0) // only rank 0 knows yet
	var re *collective.RankError
	err := collective.Gather(ctx, comms[0], make([]float32, 3*4), make([]float32, 4), 0)
	if !errors.As(err, &re) || re.Rank != 2 {
		t.Fatalf("rank 0 gather: %v, want a RankError naming rank 2", err)
	}
	if err := collective.Gather(ctx, comms[1], nil, []float32{1, 2, 3, 4}, 0); err != nil {
		t.Fatalf("rank 1 gather (sends its part, waits for nothing): %v", err)
	}
	// Point-to-point frames from rank 1 arrive after its gather frame, so
	// the late frame has been handled once the receive completes.
	got := make([]float32, 2)
	var wg sync.WaitGroup
	wg.Go(func() { err = collective.Recv(ctx, comms[0], got, 1) })
	if err := collective.Send(ctx, comms[1], []float32{5, 6}, 0); err != nil {
		t.Fatalf("rank 1 send: %v", err)
	}
	wg.Wait()
	if err != nil || got[0] != 5 || got[1] != 6 {
		t.Fatalf("rank 0 recv after the late frame: %v %v, want [5 6] and no error", got, err)
	}
	nw.ReportDown(2, 1)
	errs := onAll(comms[:2], func(c *collective.Comm) error {
		return collective.AllReduce(ctx, c, make([]float32, 4), make([]float32, 4), collective.Sum)
	})
	for r, err := range errs {
		if !errors.As(err, &re) || re.Rank != 2 {
			t.Errorf("rank %d allreduce: %v, want a RankError naming rank 2", r, err)
		}
	}
}

func TestForeignAndCorruptFramesFail(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tamper func(b []byte) []byte
		want   string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "truncated"},
		{"bit flip", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "checksum mismatch"},
	} {
		for _, n := range []int{10, 100000} { // 100000: a payload verified after the copy
			t.Run(fmt.Sprintf("%s/n=%d", tt.name, n), func(t *testing.T) {
				testCorruptFrame(t, n, tt.tamper, tt.want)
			})
		}
	}
}

func testCorruptFrame(t *testing.T, n int, tamper func([]byte) []byte, want string) {
	nw := collectivetest.NewNetwork(t, 2)
	comms := nw.Comms(t, collective.Config{JobID: "bad", ChunkBytes: 1 << 20})
	nw.SetFilter(func(from, to int, b []byte) []byte {
		if from == 0 && len(b) > collective.HeaderSize {
			return tamper(b)
		}
		return b
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	errs := onAll(comms, func(c *collective.Comm) error {
		return collective.Broadcast(ctx, c, make([]float32, n), 0)
	})
	if !errors.Is(errs[1], collective.ErrBadFrame) || !strings.Contains(errs[1].Error(), want) {
		t.Fatalf("receiver: %v, want ErrBadFrame with %q", errs[1], want)
	}
}

func TestMismatchedCallsAreNamed(t *testing.T) {
	nw := collectivetest.NewNetwork(t, 2)
	comms := nw.Comms(t, collective.Config{JobID: "mm"})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = collective.Broadcast(ctx, comms[0], make([]float32, 8), 0) })
	wg.Go(func() { errs[1] = collective.Gather(ctx, comms[1], nil, make([]float32, 8), 0) })
	wg.Wait()
	// Neither call waits for data, so both may return before the other's
	// frames arrive; the stray frames must then fail the next call.
	if errs[0] == nil && errs[1] == nil {
		errs = onAll(comms, func(c *collective.Comm) error { return collective.Barrier(ctx, c) })
	}
	if !errors.Is(errs[0], collective.ErrMismatch) && !errors.Is(errs[1], collective.ErrMismatch) {
		t.Fatalf("broadcast vs gather: %v, want ErrMismatch", errs)
	}
	// Buffer length mismatch.
	comms = collectivetest.NewNetwork(t, 2).Comms(t, collective.Config{JobID: "len"})
	errs = onAll(comms, func(c *collective.Comm) error {
		return collective.Broadcast(ctx, c, make([]float32, 8+c.Rank()), 0)
	})
	if !errors.Is(errs[1], collective.ErrMismatch) || !strings.Contains(errs[1].Error(), "expects") {
		t.Fatalf("length mismatch: %v", errs[1])
	}
}

func TestTimeoutNamesWaitedRanks(t *testing.T) {
	comms := collectivetest.NewNetwork(t, 3).Comms(t, collective.Config{JobID: "to"})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	// Only rank 0 and 1 enter the barrier: rank 0 (which collects the
	// arrivals) names rank 2; rank 1 waits for rank 0's release.
	errs := onAll(comms[:2], func(c *collective.Comm) error { return collective.Barrier(ctx, c) })
	for r, want := range []string{"still waiting for ranks [2]", "still waiting for ranks [0]"} {
		if !errors.Is(errs[r], context.DeadlineExceeded) || !strings.Contains(errs[r].Error(), want) {
			t.Errorf("rank %d: %v, want a deadline error with %q", r, errs[r], want)
		}
	}
	// A gather names every missing rank on the root; so does the
	// host-aware one (rank 1 shares rank 0's host, rank 2 leads its own).
	hcomms := collectivetest.NewHostNetwork(t, collectivetest.Hosts(2, 1)).Comms(t, collective.Config{JobID: "to"})
	for _, cs := range [][]*collective.Comm{comms, hcomms} {
		ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
		err := collective.Gather(ctx2, cs[0], make([]float32, 3), []float32{1}, 0)
		cancel2()
		if !strings.Contains(fmt.Sprint(err), "still waiting for ranks [1 2]") {
			t.Errorf("gather on %d hosts: %v, want it to name ranks [1 2]", cs[0].Hosts(), err)
		}
	}
}

// TestConcurrentCollectivesDoNotMix overlaps a large allreduce with many
// small broadcasts issued from another goroutine in the same order on every
// rank.
func TestConcurrentCollectivesDoNotMix(t *testing.T) {
	const np = 4
	comms := collectivetest.NewNetwork(t, np).Comms(t, collective.Config{JobID: "conc", ChunkBytes: 512, Window: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := onAll(comms, func(c *collective.Comm) error {
		big := make([]float32, 50000)
		for i := range big {
			big[i] = float32(c.Rank())
		}
		started := make(chan struct{})
		var bigErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			// The allreduce takes sequence number 1 on every rank before
			// the broadcasts start.
			bigErr = collective.AllReduce(ctx, c, big, big, collective.Sum, withStart(started))
		})
		<-started
		for k := range 20 {
			small := make([]float64, 33)
			if c.Rank() == k%np {
				for i := range small {
					small[i] = float64(k*1000 + i)
				}
			}
			if err := collective.Broadcast(ctx, c, small, k%np); err != nil {
				return err
			}
			for i, v := range small {
				if v != float64(k*1000+i) {
					return fmt.Errorf("broadcast %d: element %d = %v", k, i, v)
				}
			}
		}
		wg.Wait()
		if bigErr != nil {
			return bigErr
		}
		for i, v := range big {
			if v != 0+1+2+3 {
				return fmt.Errorf("allreduce element %d = %v", i, v)
			}
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// withStart closes ch once the call has taken its sequence number (stats
// are filled later; this only uses the option hook's timing).
func withStart(ch chan struct{}) collective.CallOption {
	return collective.OnStart(func() { close(ch) })
}

func TestStatsCountBytesAndRatio(t *testing.T) {
	comms := collectivetest.NewNetwork(t, 3).Comms(t, collective.Config{JobID: "st"})
	ctx := t.Context()
	for _, codec := range []collective.Codec{collective.CodecNone, collective.CodecBF16} {
		stats := make([]collective.Stats, 3)
		errs := onAll(comms, func(c *collective.Comm) error {
			buf := make([]float32, 10000)
			return collective.Broadcast(ctx, c, buf, 0, collective.WithCodec(codec), collective.WithStats(&stats[c.Rank()]))
		})
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := stats[0].RawSent; got != 40000 {
			t.Errorf("%v: root raw bytes sent %d, want 40000", codec, got)
		}
		if got := stats[1].RawRecv; got != 40000 {
			t.Errorf("%v: rank 1 raw bytes received %d, want 40000", codec, got)
		}
		want := 1.0
		if codec == collective.CodecBF16 {
			want = 2
		}
		if r := stats[1].Ratio(); math.Abs(r-want) > 0.02 {
			t.Errorf("%v: ratio %.3f, want ≈ %v", codec, r, want)
		}
	}
}

// TestDecodedIsWhatReduceDelivers: Decoded gives a rank exactly what the
// root of a Reduce receives from it, for every codec, across chunks.
func TestDecodedIsWhatReduceDelivers(t *testing.T) {
	comms := collectivetest.NewNetwork(t, 2).Comms(t, collective.Config{JobID: "dec", ChunkBytes: 512})
	ctx := t.Context()
	src := make([]float32, 1000) // 8 chunks of 128 values, the last short
	for i := range src {
		src[i] = float32(math.Sin(float64(i))) * float32(1+i%7)
	}
	for _, codec := range []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd} {
		got := make([]float32, len(src))
		errs := onAll(comms, func(c *collective.Comm) error {
			if c.Rank() == 0 {
				return collective.Reduce(ctx, c, got, make([]float32, len(src)), collective.Sum, 0, collective.WithCodec(codec))
			}
			return collective.Reduce(ctx, c, nil, src, collective.Sum, 0, collective.WithCodec(codec))
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
		}
		want := append([]float32(nil), src...)
		if err := collective.Decoded(comms[1], want, codec); err != nil {
			t.Fatal(err)
		}
		lossless := true
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: element %d: Reduce delivered %v, Decoded %v", codec, i, got[i], want[i])
			}
			lossless = lossless && want[i] == src[i]
		}
		if lossless != !codec.Lossy() {
			t.Errorf("%v: Decoded lossless = %v", codec, lossless)
		}
	}
	if err := collective.Decoded(comms[0], src, collective.Codec(99)); !errors.Is(err, collective.ErrUnknownCodec) {
		t.Errorf("Decoded with codec 99: %v, want ErrUnknownCodec", err)
	}
}
