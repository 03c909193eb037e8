package collective

// PendingCalls returns how many calls c keeps state for: running ones and
// ones whose frames came before this rank made them.
func PendingCalls(c *Comm) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ops)
}
