package runtime

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
