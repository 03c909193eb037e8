package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"
)

// StatsEnv names a directory: when set, every rank appends a line of its
// resource use (time, goroutines, resident set, open files, Go heap) every
// second to rank<R>.<pid>.csv there, and its heap profile at the end to
// rank<R>.<pid>.heap, for scripts/soak.sh.
const StatsEnv = "FLTK_STATS_DIR"

// startStats starts the sampler of [StatsEnv] for rank, if the variable is
// set; the returned function stops it and waits for it.
func startStats(rank int) (func(), error) {
	dir := os.Getenv(StatsEnv)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("rank%d.%d.csv", rank, os.Getpid())), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cli: %s: %w", StatsEnv, err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "unix_ms,goroutines,rss_kb,fds,heap_bytes")
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		fds, _ := os.ReadDir("/proc/self/fd")
		fmt.Fprintf(w, "%d,%d,%d,%d,%d\n", time.Now().UnixMilli(), goruntime.NumGoroutine(), rssKB(), len(fds), ms.HeapAlloc)
		_ = w.Flush()
	}
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		sample()
		_ = f.Close()
		// The heap at the end, for a soak that shows growth.
		if hf, err := os.Create(filepath.Join(dir, fmt.Sprintf("rank%d.%d.heap", rank, os.Getpid()))); err == nil {
			_ = pprof.WriteHeapProfile(hf)
			_ = hf.Close()
		}
	}, nil
}

// rssKB returns the process's resident set in KiB (VmRSS), or -1.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
