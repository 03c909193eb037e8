package runtime_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// sharedRun is one rank's results of the calls sharedCalls makes, as bits.
type sharedRun struct {
	out    [][]uint64
	frames int64 // frames the calls sent
	raw    int64 // bytes the calls moved
}

// sharedCalls runs Broadcast, AllReduce (every op, weights rank+1.5, in
// place too), Reduce (to rank 1), Gather (to rank 2) and AllGather of n elements of T on every rank of comms and returns each
// rank's results.
func sharedCalls[T collective.Float](ctx context.Context, comms []*collective.Comm, n int) ([]sharedRun, error) {
	runs := make([]sharedRun, len(comms))
	err := runtimetest.OnAll(len(comms), func(r int) error {
		run := &runs[r]
		keep := func(x []T, st collective.Stats) {
			bits := make([]uint64, len(x))
			for i, v := range x {
				bits[i] = math.Float64bits(float64(v))
			}
			run.out = append(run.out, bits)
			run.frames += st.FramesOut
			run.raw += st.RawSent + st.RawRecv
		}
		var st collective.Stats
		buf := make([]T, n)
		fillFloats(buf, 1, r)
		if err := collective.Broadcast(ctx, comms[r], buf, len(comms)-2, collective.WithStats(&st)); err != nil {
			return err
		}
		keep(buf, st)
		in := make([]T, n)
		fillFloats(in, 2, r)
		for _, op := range []collective.Op{collective.Sum, collective.Mean, collective.Min, collective.Max, collective.WeightedMean} {
			out := make([]T, n)
			if err := collective.AllReduce(ctx, comms[r], out, in, op, collective.WithWeight(float64(r)+1.5), collective.WithStats(&st)); err != nil {
				return err
			}
			keep(out, st)
		}
		for _, op := range []collective.Op{collective.Sum, collective.WeightedMean} {
			var out []T // Reduce writes dst on root only
			if r == 1 {
				out = make([]T, n)
			}
			if err := collective.Reduce(ctx, comms[r], out, in, op, 1, collective.WithWeight(float64(r)+1.5), collective.WithStats(&st)); err != nil {
				return err
			}
			keep(out, st)
		}
		var all []T // Gather writes dst on root only
		if r == 2 {
			all = make([]T, len(comms)*n)
		}
		if err := collective.Gather(ctx, comms[r], all, in, 2, collective.WithStats(&st)); err != nil {
			return err
		}
		keep(all, st)
		all = make([]T, len(comms)*n)
		if err := collective.AllGather(ctx, comms[r], all, in, collective.WithStats(&st)); err != nil {
			return err
		}
		keep(all, st)
		if err := collective.AllReduce(ctx, comms[r], in, in, collective.Sum, collective.WithStats(&st)); err != nil {
			return err
		}
		keep(in, st)
		return nil
	})
	return runs, err
}

// fillFloats fills x with values that round differently in every order.
func fillFloats[T collective.Float](x []T, k, rank int) {
	for i := range x {
		x[i] = T(collectivetest.Value(k, rank, i) * (1 + 1e-3*float64(i%7)))
	}
}

// TestSharedSchedulesBitIdentical runs Broadcast, Reduce, AllReduce, Gather
// and AllGather through the scratch buffers (pieces of 4 KiB, so a call
// takes many, with blocks that do not divide them) and through frames
// (SharedBytes -1) on two worlds of five ranks, and wants the same bits on
// every rank; and that the first sent no frame and the second did.
func TestSharedSchedulesBitIdentical(t *testing.T) {
	const np = 5
	srv := inProcessServer(t)
	scratch := runtimetest.RunWorld(t, srv, "scratch", np, func(c *runtime.Config) { c.ScratchBytes = 4096 })
	frames := runtimetest.RunWorld(t, srv, "frames", np, func(c *runtime.Config) { c.ScratchBytes = 4096 })
	if got := scratch[0].ScratchBytes(); got != 4096 {
		t.Fatalf("ScratchBytes = %d, want 4096", got)
	}
	cs := runtimetest.Comms(t, scratch, collective.Config{ChunkBytes: 64 << 10})
	cf := runtimetest.Comms(t, frames, collective.Config{ChunkBytes: 64 << 10, SharedBytes: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, n := range []int{1, 7, 1000, collectivetest.Large()} {
		for _, typ := range []string{"float32", "float64"} {
			t.Run(fmt.Sprintf("n=%d/%s", n, typ), func(t *testing.T) {
				calls := sharedCalls[float32]
				if typ == "float64" {
					calls = sharedCalls[float64]
				}
				a, err := calls(ctx, cs, n)
				if err != nil {
					t.Fatalf("scratch: %v", err)
				}
				b, err := calls(ctx, cf, n)
				if err != nil {
					t.Fatalf("frames: %v", err)
				}
				for r := range np {
					if a[r].frames != 0 || a[r].raw == 0 {
						t.Errorf("rank %d: the scratch schedule sent %d frames and moved %d bytes", r, a[r].frames, a[r].raw)
					}
					if b[r].frames == 0 {
						t.Errorf("rank %d: the frame schedule sent no frame", r)
					}
					for c := range a[r].out {
						for i := range a[r].out[c] {
							// Reduce's result is on its root only.
							if a[r].out[c][i] != b[r].out[c][i] || (len(a[0].out[c]) > i && a[r].out[c][i] != a[0].out[c][i]) {
								t.Fatalf("call %d, element %d: rank %d has %x (scratch) and %x (frames), rank 0 %x", c, i, r, a[r].out[c][i], b[r].out[c][i], a[0].out[c][min(i, len(a[0].out[c])):min(i+1, len(a[0].out[c]))])
							}
						}
					}
				}
			})
		}
	}
}

// TestSharedScheduleMismatch: a rank calling with another length fails
// every rank that reads its buffer or whose buffer it reads, naming it, and
// nothing hangs: every rank in AllReduce (barrier), the other ranks in
// Broadcast from it (its flag), the root in Gather.
func TestSharedScheduleMismatch(t *testing.T) {
	const np = 3
	ws := runtimetest.RunWorld(t, inProcessServer(t), "mismatch", np, nil)
	comms := runtimetest.Comms(t, ws, collective.Config{})
	for _, c := range []struct {
		op   string
		want []string // per rank, "" for no error
	}{
		{"allreduce", []string{"rank 1 called it with 4004 bytes", "rank 1 called it with 4004 bytes", "rank 1 called it with 4004 bytes"}},
		{"bcast", []string{"rank 1 called it with 4004 bytes of 4-byte elements, rank 0 with 4000", "", "rank 1 called it with 4004 bytes of 4-byte elements, rank 2 with 4000"}},
		{"gather", []string{"rank 1 called it with 4004 bytes of 4-byte elements, rank 0 with 4000", "", ""}},
	} {
		t.Run(c.op, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			errs := make([]error, np)
			_ = runtimetest.OnAll(np, func(r int) error {
				n := 1000
				if r == 1 {
					n = 1001
				}
				x := make([]float32, n)
				switch c.op {
				case "allreduce":
					errs[r] = collective.AllReduce(ctx, comms[r], x, x, collective.Sum)
				case "bcast":
					errs[r] = collective.Broadcast(ctx, comms[r], x, 1)
				case "gather":
					var all []float32
					if r == 0 {
						all = make([]float32, np*n)
					}
					errs[r] = collective.Gather(ctx, comms[r], all, x, 0)
				}
				return nil
			})
			for r, err := range errs {
				if want := c.want[r]; (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
					t.Errorf("rank %d: %v, want an error containing %q", r, err, want)
				}
			}
			// The world is still usable: the failed calls released their
			// pieces and the next ones agree.
			if err := runtimetest.OnAll(np, func(r int) error {
				return collective.AllReduce(ctx, comms[r], make([]float32, 10), make([]float32, 10), collective.Sum)
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSharedDesyncFails: after a Broadcast whose root called with more
// pieces than the others, the others' next call fails naming the cause
// instead of taking the root's leftover piece for its data.
func TestSharedDesyncFails(t *testing.T) {
	const np = 3
	ws := runtimetest.RunWorld(t, inProcessServer(t), "desync", np, func(c *runtime.Config) { c.ScratchBytes = 4096 })
	comms := runtimetest.Comms(t, ws, collective.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := make([][2]error, np)
	_ = runtimetest.OnAll(np, func(r int) error {
		n := 1000 // one piece
		if r == 0 {
			n = 2000 // two
		}
		errs[r][0] = collective.Broadcast(ctx, comms[r], make([]float32, n), 0)
		errs[r][1] = collective.Broadcast(ctx, comms[r], make([]float32, 10), 0)
		return nil
	})
	if errs[0] != [2]error{} {
		t.Errorf("root: %v, want no errors (it waits for nobody)", errs[0])
	}
	for r := 1; r < np; r++ {
		if err := errs[r][0]; err == nil || !strings.Contains(err.Error(), "rank 0 called it with 8000 bytes") {
			t.Errorf("rank %d, first call: %v, want rank 0's 8000 bytes named", r, err)
		}
		if err := errs[r][1]; err == nil || !strings.Contains(err.Error(), "an earlier call's lengths differed") {
			t.Errorf("rank %d, second call: %v, want the desync named", r, err)
		}
	}
}

// scratchFlagsPiece writes (rank 0) or reads slowly and checks (the
// others) one piece of TestScratchFlags.
func scratchFlagsPiece(ctx context.Context, w *runtime.World, r int, mine []byte, p uint64) error {
	if r == 0 {
		for i := range mine {
			mine[i] = byte(p)
		}
		w.ScratchPublish(p)
		return nil
	}
	if err := w.ScratchAwait(ctx, p, 0); err != nil {
		return err
	}
	time.Sleep(2 * time.Millisecond) // a slow reader
	for i, b := range mine {
		if b != byte(p) {
			return fmt.Errorf("rank %d piece %d: byte %d is %d, the writer overwrote it", r, p, i, b)
		}
	}
	return nil
}

// TestScratchFlags: a writer that publishes piece after piece waits, before
// it writes a buffer again, until every reader has released the piece that
// used it last, however slowly they read; and a reader sees each piece's
// data once it is published.
func TestScratchFlags(t *testing.T) {
	const np, pieces = 3, 12
	ws := runtimetest.RunWorld(t, inProcessServer(t), "flags", np, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := runtimetest.OnAll(np, func(r int) error {
		for range pieces {
			bufs, p, err := ws[r].Scratch(ctx, r == 0)
			if err != nil {
				return err
			}
			err = scratchFlagsPiece(ctx, ws[r], r, bufs[0][:256], p)
			ws[r].ScratchRelease(p)
			if err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestScratchOff: without scratch buffers on one rank (ScratchBytes < 0)
// no rank uses them, and the calls still work.
func TestScratchOff(t *testing.T) {
	const np = 3
	ws := runtimetest.RunWorld(t, inProcessServer(t), "noscratch", np, func(c *runtime.Config) {
		if c.Rank == 2 {
			c.ScratchBytes = -1
		}
	})
	for r, w := range ws {
		if n := w.ScratchBytes(); n != 0 {
			t.Errorf("rank %d: ScratchBytes = %d, want 0", r, n)
		}
	}
	comms := runtimetest.Comms(t, ws, collective.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := runtimetest.OnAll(np, func(r int) error {
		return collectivetest.Conformance(ctx, comms[r], []int{1000}, []collective.Codec{collective.CodecNone})
	}); err != nil {
		t.Fatal(err)
	}
}
