package collective

import "slices"

// PendingCalls returns how many calls c keeps state for: running ones and
// ones whose frames came before this rank made them.
func PendingCalls(c *Comm) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ops)
}

// KeptCallBufs returns the buffers c keeps between calls (callBufs), for
// tests to compare backing arrays.
func KeptCallBufs(c *Comm) [][]byte {
	c.bufs.mu.Lock()
	defer c.bufs.mu.Unlock()
	return slices.Clone(c.bufs.bufs)
}
