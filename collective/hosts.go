package collective

// hostLayout is the world's ranks grouped by host, for the hierarchical
// schedules. It exists only when the transport is a HostTransport, there
// is more than one host, and every host's ranks are contiguous (ranks fill
// hosts' slots in order); hosts are numbered by their first rank.
type hostLayout struct {
	n      int   // number of hosts, ≥ 2
	most   int   // the most ranks on one host
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
	for h := range l.n {
		l.most = max(l.most, l.hi[h]-l.lo[h])
	}
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

// chainAllReduce reports whether the chain allreduce of a tensor of S bytes
// cut in m chunks beats the flat reduce-scatter + allgather, by a model of
// the time on host links of equal rate (in S per rate): the most bytes
// one host's link carries, plus, for the chain, the 2(H−1)−1 chunks it
// takes to fill the pipeline. Chain: min(2, H−1) + (2H−3)/m. Flat, with k
// ranks on the fullest host: k(N−k)/N to the other hosts' owners plus
// k(H−1)/N of fan-out, about (k+1)(H−1)/H with hosts of k ranks. So the
// chain needs enough chunks, and ranks sharing hosts, to pay: with one rank
// per host it never does.
func (l *hostLayout) chainAllReduce(m int) bool {
	h, k, n := float64(l.n), float64(l.most), float64(len(l.of))
	chain := min(2, h-1) + (2*h-3)/float64(m)
	flat := k*(n-k)/n + k*(h-1)/n
	return chain < flat
}
