// Package bench measures the collectives the way the OpenMPI comparison in
// scripts/mpicoll.c does: Barrier, then time one collective; the time of a
// repeat is the maximum over ranks (combined afterwards, untimed); the
// median and minimum over repeats are reported.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
)

// Ops are the operations Run knows (bench.op's values).
var Ops = configs.BenchOps

// CSVHeader is the header of the rows Run writes (shared with mpicoll).
const CSVHeader = "impl,np,op,bytes,median_us,min_us,gbps"

// Repeats returns the default number of timed repeats for size bytes.
func Repeats(size int) int {
	switch {
	case size <= 1<<20:
		return 20
	case size <= 16<<20:
		return 5
	}
	return 3
}

// ParseSizes parses "4096,64KiB,1MiB".
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mul := 1
		for suf, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "K": 1 << 10, "M": 1 << 20} {
			if strings.HasSuffix(f, suf) {
				f, mul = strings.TrimSuffix(f, suf), m
				break
			}
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || (n*mul)%4 != 0 {
			return nil, fmt.Errorf("bad size %q: want bytes, a multiple of 4 (suffixes KiB, MiB)", f)
		}
		out = append(out, n*mul)
	}
	return out, nil
}

// ParseOps parses "bcast,gather".
func ParseOps(s string) ([]string, error) {
	ops := strings.Split(s, ",")
	for _, op := range ops {
		if !slices.Contains(Ops, op) {
			return nil, fmt.Errorf("unknown op %q: want one of %s", op, strings.Join(Ops, ", "))
		}
	}
	return ops, nil
}

// Burn computes for d of wall time (a multiply-add sweep over a fresh
// 256 KiB buffer, repeated) and returns a value derived from the result,
// so the work cannot be optimised away. It stands for the local training
// between two collectives in cold mode: caches go cold and waiting
// goroutines park, as in a federated round. It allocates one buffer per
// call, too little to trigger GC, which real training does.
func Burn(d time.Duration) float32 {
	buf := make([]float32, 64<<10)
	for i := range buf {
		buf[i] = float32(i % 13)
	}
	var acc float32
	for t0 := time.Now(); time.Since(t0) < d; {
		for i := range buf {
			buf[i] = buf[i]*0.999 + 0.5
		}
		acc += buf[len(buf)/3]
	}
	return acc
}

// burnSink keeps Burn's result alive.
var burnSink atomic.Uint32

// Mode is what the ranks do around each timed call (warm-up calls
// included).
type Mode struct {
	// Cold > 0 makes every rank compute for Cold ([Burn]) before the
	// Barrier that precedes the call.
	Cold time.Duration
	// Idle > 0 makes rank 0 sleep for Idle after that Barrier, while the
	// others wait in the call: the times are then not latencies, but the
	// job's CPU time shows what waiting costs (scripts/idle-cpu.sh).
	Idle time.Duration
	// ReduceEach takes the maximum over ranks of each repeat's time right
	// after the call (an AllReduce), as mpicoll and gloocoll do with
	// --reduce-each, instead of once after the last repeat: the ranks
	// then wait for each other before the next repeat's compute.
	ReduceEach bool
}

// Run measures every op at every size on this rank; rank 0 writes CSV rows
// (no header) to out. repeats ≤ 0 means Repeats(size).
func Run(ctx context.Context, c *collective.Comm, ops []string, sizes []int, repeats int, mode Mode, opts []collective.CallOption, out io.Writer) error {
	cold := mode.Cold
	rank, np := c.Rank(), c.Size()
	for _, op := range ops {
		for _, size := range sizes {
			if op == "barrier" && size != sizes[0] {
				continue
			}
			n := size / 4
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rank + i%7)
			}
			var dst []float32
			switch op {
			case "gather", "allgather", "scatter":
				if op != "gather" || rank == 0 {
					dst = make([]float32, np*n)
				}
			default:
				dst = make([]float32, n)
			}
			f := func() error {
				switch op {
				case "bcast":
					return collective.Broadcast(ctx, c, src, 0, opts...)
				case "gather":
					return collective.Gather(ctx, c, dst, src, 0, opts...)
				case "scatter":
					var s []float32
					if rank == 0 {
						s = dst
					}
					return collective.Scatter(ctx, c, src, s, 0, opts...)
				case "allgather":
					return collective.AllGather(ctx, c, dst, src, opts...)
				case "reduce":
					return collective.Reduce(ctx, c, dst, src, collective.Sum, 0, opts...)
				case "allreduce":
					return collective.AllReduce(ctx, c, dst, src, collective.Sum, opts...)
				default:
					return collective.Barrier(ctx, c)
				}
			}
			reps := repeats
			if reps <= 0 {
				reps = Repeats(size)
			}
			warm := 2
			if size > 1<<20 {
				warm = 1
			}
			// Each rank keeps its own times; one AllReduce at the end takes
			// the maximum per repeat, so no measuring traffic runs between
			// the repeats.
			times := make([]float64, warm+reps)
			for i := range times {
				if cold > 0 {
					burnSink.Store(math.Float32bits(Burn(cold)))
				}
				if err := collective.Barrier(ctx, c); err != nil {
					return err
				}
				if mode.Idle > 0 && rank == 0 {
					time.Sleep(mode.Idle)
				}
				t0 := time.Now()
				if err := f(); err != nil {
					return fmt.Errorf("%s %d bytes: %w", op, size, err)
				}
				times[i] = time.Since(t0).Seconds()
				if mode.ReduceEach {
					if err := collective.AllReduce(ctx, c, times[i:i+1], times[i:i+1], collective.Max); err != nil {
						return err
					}
				}
			}
			if err := collective.AllReduce(ctx, c, times, times, collective.Max); err != nil {
				return err
			}
			times = times[warm:]
			if rank == 0 {
				slices.Sort(times)
				med := times[len(times)/2]
				if len(times)%2 == 0 {
					med = (times[len(times)/2-1] + times[len(times)/2]) / 2
				}
				bytes, gbps := size, float64(size)/med/1e9
				if op == "barrier" {
					bytes, gbps = 0, 0
				}
				fmt.Fprintf(out, "fltk,%d,%s,%d,%.3f,%.3f,%.3f\n", np, op, bytes, med*1e6, times[0]*1e6, gbps)
			}
		}
	}
	return nil
}
