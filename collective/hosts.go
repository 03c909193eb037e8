package collective

// hostLayout is the world's ranks grouped by host, for the hierarchical
// schedules. It exists only when the transport is a HostTransport, there
// is more than one host, and every host's ranks are contiguous (ranks fill
// hosts' slots in order); hosts are numbered by their first rank.
type hostLayout struct {
	n      int   // number of hosts, ≥ 2
	shared bool  // some host has more than one rank
	lo, hi []int // host h has ranks [lo[h], hi[h])
	of     []int // rank → host
}

// newHostLayout returns t's layout, or nil (with why) when the flat
// schedules apply.
func newHostLayout(t Transport) (*hostLayout, string) {
	ht, ok := t.(HostTransport)
	if !ok {
		return nil, "the transport does not know hosts"
	}
	size := t.Size()
	l := &hostLayout{of: make([]int, size)}
	ids := map[int]int{} // transport's host index → ours
	prev := -1
	for r := range size {
		id := ht.HostOf(r)
		if id < 0 || id >= size {
			return nil, "a host index is out of range"
		}
		h, seen := ids[id]
		switch {
		case !seen:
			h = len(l.lo)
			ids[id] = h
			l.lo = append(l.lo, r)
			l.hi = append(l.hi, r+1)
		case h != prev:
			return nil, "a host's ranks are not contiguous"
		default:
			l.hi[h] = r + 1
		}
		l.of[r] = h
		prev = h
	}
	l.n = len(l.lo)
	l.shared = l.n < size
	if l.n < 2 {
		return nil, "every rank is on one host"
	}
	return l, ""
}

// leader returns the rank that speaks for host h: root when root is on h,
// else h's first rank. root may be -1 (no root).
func (l *hostLayout) leader(h, root int) int {
	if root >= 0 && l.of[root] == h {
		return root
	}
	return l.lo[h]
}

// locals returns the ranks of host h but the leader, in rank order.
func (l *hostLayout) locals(h, leader int) []int {
	var rs []int
	for r := l.lo[h]; r < l.hi[h]; r++ {
		if r != leader {
			rs = append(rs, r)
		}
	}
	return rs
}
