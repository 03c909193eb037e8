package parallel

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTeam returns a Team of cfg with its own busy count (not the
// process's: tests run side by side), closed at the end of the test.
func newTeam(tb testing.TB, cfg Config) *Team {
	tb.Helper()
	t, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	t.busy = new(atomic.Int64)
	tb.Cleanup(func() { _ = t.Close() })
	return t
}

// waitFor polls cond every millisecond until it holds, failing the test
// after d.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// parked reports whether every helper of t has parked.
func (t *Team) parked() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.hs {
		if !h.sleeping.Load() {
			return false
		}
	}
	return true
}

// TestParallelFor runs loops of every size from 0 to 40 on 1 to 3 workers,
// from two goroutines at once (clients sharing the helpers), some after
// the helpers have parked: every index must run exactly once, with a
// worker number below the loop's worker count, and the loop must not
// return before all of them ran.
func TestParallelFor(t *testing.T) {
	prev := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(prev)
	cfg := DefaultConfig()
	cfg.Spin = 100 * time.Microsecond
	team := newTeam(t, cfg)
	var wg sync.WaitGroup
	var parking sync.Mutex // one caller at a time waits for the helpers to park
	for caller := range 2 {
		wg.Go(func() {
			for round := range 60 {
				if round%20 == 19 {
					parking.Lock()
					deadline := time.Now().Add(10 * time.Second)
					for !team.parked() && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					parking.Unlock()
				}
				for n := range 41 {
					workers := max(1, min(1+(n+round+caller)%3, n))
					counts := make([]atomic.Int32, n)
					var bad atomic.Int32
					team.For(workers, n, func(wk, i int) {
						if wk < 0 || wk >= workers {
							bad.Store(int32(wk) + 100)
						}
						if i%7 == 0 {
							runtime.Gosched()
						}
						counts[i].Add(1)
					})
					if b := bad.Load(); b != 0 {
						t.Errorf("worker number %d in a loop of %d workers", b-100, workers)
						return
					}
					for i := range counts {
						if c := counts[i].Load(); c != 1 {
							t.Errorf("caller %d round %d: n=%d workers=%d: index %d ran %d times", caller, round, n, workers, i, c)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if b := team.busy.Load(); b != 0 {
		t.Errorf("busy = %d after all loops, want 0", b)
	}
}

// TestWorkers checks the split's policy: one goroutine per free core and
// per sample, none at GOMAXPROCS 1 or for small work, and the cores
// other loops are busy on are not free.
func TestWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	team := newTeam(t, DefaultConfig())
	big := team.Config().MinMACs
	for _, tt := range []struct {
		procs, n, macs, busy, want int
	}{
		{1, 16, big, 0, 1},
		{2, 16, big, 0, 2},
		{2, 16, big - 1, 0, 1},
		{2, 1, big, 0, 1},
		{4, 3, big, 0, 3},
		{2, 16, big, 1, 1}, // another client's loop holds a core
		{4, 16, big, 1, 3},
		{2, 16, big, 5, 1},
	} {
		runtime.GOMAXPROCS(tt.procs)
		team.busy.Add(int64(tt.busy))
		got := team.Workers(tt.n, tt.macs)
		team.busy.Add(-int64(tt.busy))
		if got != tt.want {
			t.Errorf("GOMAXPROCS %d, %d busy: Workers(%d, %d) = %d, want %d", tt.procs, tt.busy, tt.n, tt.macs, got, tt.want)
		}
	}
	small := DefaultConfig()
	small.MinElems = 100
	if got := newTeam(t, small).ElemWorkers(3, 99); got != 1 {
		t.Errorf("ElemWorkers(3, 99) with MinElems 100 = %d, want 1", got)
	}
}

// TestTeamsShareCores checks that the busy count is the process's: a
// loop of one Team holds cores that another Team then does not use.
func TestTeamsShareCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	a, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var got int
	a.For(1, 1, func(int, int) { got = b.Workers(16, 1<<30) })
	if got != 1 {
		t.Errorf("Workers of one Team during another's loop on one of two cores = %d, want 1", got)
	}
}

// helperGoroutines returns the number of goroutines started as helpers
// (started or not yet), from the stacks of all goroutines.
func helperGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), "created by github.com/fltk-go/fltk/trainer/internal/parallel.(*Team).helpers")
}

// TestCloseStopsHelpers starts helpers — some spinning, some parked —
// closes the Team and checks that Close returns with all of them gone
// (no goroutine leaks), that it is idempotent, and that loops after it
// still run every index, on the caller.
func TestCloseStopsHelpers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	before := helperGoroutines()
	for _, spin := range []time.Duration{0, time.Hour} {
		team, err := New(Config{Spin: spin})
		if err != nil {
			t.Fatal(err)
		}
		team.busy = new(atomic.Int64)
		var sum atomic.Int64
		team.For(4, 64, func(_, i int) { sum.Add(int64(i)) })
		if got := helperGoroutines() - before; got != 3 {
			t.Errorf("spin %v: %d helpers running, want 3", spin, got)
		}
		if got, want := Helpers(), helperGoroutines(); got != want {
			t.Errorf("spin %v: Helpers() = %d, the stacks show %d", spin, got, want)
		}
		if spin == 0 {
			waitFor(t, 10*time.Second, "helpers parked", team.parked)
		}
		if err := team.Close(); err != nil {
			t.Fatal(err)
		}
		// Close has waited for the helpers; their goroutines end right
		// after.
		waitFor(t, 10*time.Second, "no helpers left after Close", func() bool { return helperGoroutines() == before })
		if got := Helpers(); got != before {
			t.Errorf("spin %v: Helpers() = %d after Close, want %d", spin, got, before)
		}
		if err := team.Close(); err != nil {
			t.Fatal(err)
		}
		var wks sync.Map
		team.For(4, 64, func(wk, i int) { sum.Add(int64(i)); wks.Store(wk, true) })
		if s := sum.Load(); s != 2*64*63/2 {
			t.Errorf("spin %v: sum of indices over two loops %d, want %d", spin, s, 64*63)
		}
		wks.Range(func(k, _ any) bool {
			if k.(int) != 0 {
				t.Errorf("spin %v: worker %d ran after Close", spin, k)
			}
			return true
		})
	}
}

// TestConfigValidate checks that negative settings are rejected and zero
// ones are not.
func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err != nil {
		t.Errorf("New(Config{}) = %v, want a team", err)
	}
	for _, c := range []Config{{MinMACs: -1}, {MinElems: -1}, {Spin: -time.Nanosecond}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
}
