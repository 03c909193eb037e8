package runtime

import "time"

// Crash makes w vanish the way a killed process does: no goodbye, no more
// heartbeats, the connection dropped.
func Crash(w *World) {
	w.closeOnce.Do(func() {
		w.stop()
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		w.nc.Close()
		w.unmapShm()
	})
}

// BarrierCalls returns how many times w.Barrier was called.
func BarrierCalls(w *World) uint32 { return w.barriers.Load() }

// SetReadyTimeout sets how long StartServer waits for readiness and
// returns a function restoring it.
func SetReadyTimeout(d time.Duration) func() {
	old := readyTimeout
	readyTimeout = d
	return func() { readyTimeout = old }
}

// FrameCounts returns how many frames w sent to rank r and received from
// it (the counts a goodbye compares).
func FrameCounts(w *World, r int) (sent, recv int64) { return w.sent[r].Load(), w.recv[r].Load() }

// LinkAddrOf returns w's direct-link listener address ("" for none).
func LinkAddrOf(w *World) string { return w.links.addr() }

// CloseLinkListener closes w's direct-link listener, as if it were gone.
func CloseLinkListener(w *World) { _ = w.links.ln.Close() }
