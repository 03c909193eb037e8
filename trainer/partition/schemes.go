package partition

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// scheme describes one partition scheme.
type scheme struct {
	name     string
	argNames []string
	defaults []float64 // one per argument; len is the maximum argument count
	check    func(args []float64) error
	split    func(s *splitter) ([][]int, error)
}

// schemes lists every scheme, in the order [Schemes] reports them.
var schemes = []scheme{
	{name: "iid", split: (*splitter).iid},
	{name: "shards", argNames: []string{"shards_per_client"}, defaults: []float64{2},
		check: func(a []float64) error { return intArg("shards", "shards_per_client", a[0], 1) },
		split: (*splitter).shards},
	{name: "limit-labels", argNames: []string{"limit"}, defaults: []float64{2},
		check: func(a []float64) error { return intArg("limit-labels", "limit", a[0], 1) },
		split: (*splitter).limitLabels},
	{name: "q-sampler", argNames: []string{"q"}, defaults: []float64{0.5},
		check: func(a []float64) error {
			if a[0] < 0 || a[0] > 1 {
				return fmt.Errorf("%w: q-sampler q = %v must be in [0, 1]", ErrArgs, a[0])
			}
			return nil
		},
		split: (*splitter).qSampler},
	{name: "dirichlet", argNames: []string{"alpha"}, defaults: []float64{0.5},
		check: func(a []float64) error {
			if a[0] <= 0 {
				return fmt.Errorf("%w: dirichlet alpha = %v must be > 0", ErrArgs, a[0])
			}
			return nil
		},
		split: (*splitter).dirichlet},
	{name: "n-labels", argNames: []string{"n"}, defaults: []float64{2},
		check: func(a []float64) error { return intArg("n-labels", "n", a[0], 1) },
		split: (*splitter).nLabels},
	{name: "quantity-skew", argNames: []string{"sigma", "min_samples"}, defaults: []float64{2, 1},
		check: func(a []float64) error {
			if a[0] < 0 {
				return fmt.Errorf("%w: quantity-skew sigma = %v must be ≥ 0", ErrArgs, a[0])
			}
			return intArg("quantity-skew", "min_samples", a[1], 1)
		},
		split: (*splitter).quantitySkew},
	{name: "natural", split: (*splitter).natural},
	{name: "strided", argNames: []string{"spare_shards"}, defaults: []float64{0},
		check: func(a []float64) error { return intArg("strided", "spare_shards", a[0], 0) },
		split: (*splitter).strided},
}

// splitter holds one Split call's inputs. Every scheme draws from rng
// only, in a fixed order.
type splitter struct {
	labels  []int32
	classes int
	clients int
	groups  []int32
	args    []float64
	rng     *rand.Rand
}

// byLabel returns each class's sample indices, in document order, or in a
// seeded random order if shuffle is set.
func (s *splitter) byLabel(shuffle bool) [][]int {
	counts := make([]int, s.classes)
	for _, l := range s.labels {
		counts[l]++
	}
	flat := make([]int, len(s.labels))
	out := make([][]int, s.classes)
	off := 0
	for l, n := range counts {
		out[l] = flat[off : off : off+n]
		off += n
	}
	for i, l := range s.labels {
		out[l] = append(out[l], i)
	}
	if shuffle {
		for _, idx := range out {
			s.rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		}
	}
	return out
}

// chunk returns chunk k of idx cut into n contiguous chunks whose sizes
// differ by at most one: idx[k·len/n : (k+1)·len/n], capacity capped.
func chunk(idx []int, k, n int) []int {
	lo, hi := k*len(idx)/n, (k+1)*len(idx)/n
	return idx[lo:hi:hi]
}

func (s *splitter) iid() ([][]int, error) {
	perm := s.rng.Perm(len(s.labels))
	parts := make([][]int, s.clients)
	for c := range parts {
		parts[c] = chunk(perm, c, s.clients)
	}
	return parts, nil
}

// strided cuts the data set into clients+spare interleaved shards, shard
// k holding the indices ≡ k (mod clients+spare), and gives client c shard
// c+spare; the first spare shards are left out.
func (s *splitter) strided() ([][]int, error) {
	spare := int(s.args[0])
	n := s.clients + spare
	parts := make([][]int, s.clients)
	for c := range parts {
		for i := c + spare; i < len(s.labels); i += n {
			parts[c] = append(parts[c], i)
		}
	}
	return parts, nil
}

// shards is McMahan et al. (2017): sort by label, cut into clients·k
// shards, give each client k random shards.
func (s *splitter) shards() ([][]int, error) {
	k := int(s.args[0])
	total := s.clients * k
	if total > len(s.labels) {
		return nil, fmt.Errorf("%w: shards: %d clients × %d shards = %d shards exceed %d samples",
			ErrArgs, s.clients, k, total, len(s.labels))
	}
	// byLabel without shuffling is a stable sort by label: ties by index.
	sorted := slices.Concat(s.byLabel(false)...)
	perm := s.rng.Perm(total)
	parts := make([][]int, s.clients)
	for c := range parts {
		var p []int
		for _, sh := range perm[c*k : (c+1)*k] {
			p = append(p, chunk(sorted, sh, total)...)
		}
		parts[c] = p
	}
	return parts, nil
}

// holdings turns a client → labels assignment into each label's samples
// split evenly among its holders (in client order).
func (s *splitter) holdings(held [][]int) [][]int {
	byLabel := s.byLabel(true)
	holders := make([][]int, s.classes)
	for c, ls := range held {
		for _, l := range ls {
			holders[l] = append(holders[l], c)
		}
	}
	parts := make([][]int, s.clients)
	for l, hs := range holders {
		for pos, c := range hs {
			parts[c] = append(parts[c], chunk(byLabel[l], pos, len(hs))...)
		}
	}
	return parts
}

// window assigns client c the labels perm[(c·n + j) mod classes] for
// j < n: a round-robin deck of the (permuted) labels dealt n at a time.
// With n ≤ classes each client's labels are distinct, and the labels'
// numbers of holders differ by at most one.
func (s *splitter) window(n int) [][]int {
	perm := s.rng.Perm(s.classes)
	held := make([][]int, s.clients)
	for c := range held {
		ls := make([]int, n)
		for j := range ls {
			ls[j] = perm[(c*n+j)%s.classes]
		}
		held[c] = ls
	}
	return held
}

// limitLabels gives each client exactly limit distinct labels, each label
// held by ⌊limit·clients/classes⌋ or ⌈…⌉ clients, the assignment drawn at
// random: a round-robin deck, then degree-preserving random swaps (two
// clients exchange one label each when neither already holds the other's),
// which keep both constraints exactly.
func (s *splitter) limitLabels() ([][]int, error) {
	limit := int(s.args[0])
	if limit > s.classes {
		return nil, fmt.Errorf("%w: limit-labels: limit %d exceeds %d classes", ErrArgs, limit, s.classes)
	}
	if limit*s.clients < s.classes {
		return nil, fmt.Errorf("%w: limit-labels: %d clients × limit %d < %d classes: some labels would have no holder",
			ErrArgs, s.clients, limit, s.classes)
	}
	held := s.window(limit)
	has := make([]bool, s.clients*s.classes)
	for c, ls := range held {
		for _, l := range ls {
			has[c*s.classes+l] = true
		}
	}
	if s.clients > 1 && limit < s.classes {
		for range 10 * s.clients * limit {
			c, d := s.rng.IntN(s.clients), s.rng.IntN(s.clients)
			i, j := s.rng.IntN(limit), s.rng.IntN(limit)
			a, b := held[c][i], held[d][j]
			if c == d || has[c*s.classes+b] || has[d*s.classes+a] {
				continue
			}
			held[c][i], held[d][j] = b, a
			has[c*s.classes+a], has[c*s.classes+b] = false, true
			has[d*s.classes+b], has[d*s.classes+a] = false, true
		}
	}
	return s.holdings(held), nil
}

// nLabels is FLTK core's "n labels": client c takes the next n cards of a
// round-robin deck of ⌈n·clients/classes⌉ copies of the (seeded-permuted)
// labels; each label is split evenly among the clients that drew it.
// Labels nobody drew (n·clients < classes) are left out.
func (s *splitter) nLabels() ([][]int, error) {
	n := int(s.args[0])
	if n > s.classes {
		return nil, fmt.Errorf("%w: n-labels: n %d exceeds %d classes", ErrArgs, n, s.classes)
	}
	return s.holdings(s.window(n)), nil
}

// qSampler is FLTK's "q sampler": client c belongs to group c mod classes;
// a sample of label m goes to group m with probability q, otherwise to a
// uniformly drawn other group; each group deals its samples round-robin.
func (s *splitter) qSampler() ([][]int, error) {
	if s.clients%s.classes != 0 {
		return nil, fmt.Errorf("%w: q-sampler needs the number of clients (%d) to be a multiple of the number of classes (%d)",
			ErrArgs, s.clients, s.classes)
	}
	q := s.args[0]
	per := s.clients / s.classes
	next := make([]int, s.classes)
	parts := make([][]int, s.clients)
	for i, l := range s.labels {
		g := int(l)
		if s.classes > 1 && s.rng.Float64() >= q {
			g = s.rng.IntN(s.classes - 1)
			if g >= int(l) {
				g++
			}
		}
		c := g + (next[g]%per)*s.classes
		next[g]++
		parts[c] = append(parts[c], i)
	}
	return parts, nil
}

// dirichlet is FLTK's Dirichlet sampler: for each label, proportions
// p ~ Dir(alpha, …, alpha) over the clients; client c takes ⌊p_c·n_label⌋
// of the label's samples and the last client the remainder.
func (s *splitter) dirichlet() ([][]int, error) {
	alpha := s.args[0]
	byLabel := s.byLabel(true)
	parts := make([][]int, s.clients)
	p := make([]float64, s.clients)
	for _, idx := range byLabel {
		dirichletSample(s.rng, alpha, p)
		start := 0
		for c := range parts {
			k := len(idx) - start
			if c < s.clients-1 {
				k = min(int(p[c]*float64(len(idx))), k)
			}
			parts[c] = append(parts[c], idx[start:start+k]...)
			start += k
		}
	}
	return parts, nil
}

// quantitySkew gives client c min + a share of the rest proportional to
// w_c = exp(sigma·N(0,1)) (a lognormal power law, as FedProx), rounded by
// largest remainder; the samples themselves are IID.
func (s *splitter) quantitySkew() ([][]int, error) {
	sigma, least := s.args[0], int(s.args[1])
	n := len(s.labels)
	if n < s.clients*least {
		return nil, fmt.Errorf("%w: quantity-skew: %d clients × %d min_samples exceed %d samples",
			ErrArgs, s.clients, least, n)
	}
	w := make([]float64, s.clients)
	var sum float64
	for c := range w {
		w[c] = math.Exp(sigma * s.rng.NormFloat64())
		sum += w[c]
	}
	rest := n - s.clients*least
	sizes := make([]int, s.clients)
	frac := make([]float64, s.clients)
	left := rest
	for c := range sizes {
		x := w[c] / sum * float64(rest)
		k := min(int(x), left)
		sizes[c], frac[c] = least+k, x-float64(k)
		left -= k
	}
	order := make([]int, s.clients)
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(frac[b], frac[a]) })
	for i := 0; left > 0; i = (i + 1) % s.clients {
		sizes[order[i]]++
		left--
	}
	perm := s.rng.Perm(n)
	parts := make([][]int, s.clients)
	off := 0
	for c, k := range sizes {
		parts[c] = perm[off : off+k : off+k]
		off += k
	}
	return parts, nil
}

// natural deals the natural owners (groups) to clients round-robin after
// a seeded shuffle of the distinct group ids.
func (s *splitter) natural() ([][]int, error) {
	if s.groups == nil {
		return nil, fmt.Errorf("%w: natural needs each sample's natural owner, and the data set has none", ErrGroups)
	}
	if len(s.groups) != len(s.labels) {
		return nil, fmt.Errorf("%w: natural: %d groups for %d samples", ErrGroups, len(s.groups), len(s.labels))
	}
	ids := slices.Clone(s.groups)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if s.clients > len(ids) {
		return nil, fmt.Errorf("%w: natural: %d clients but only %d groups", ErrArgs, s.clients, len(ids))
	}
	s.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	owner := make(map[int32]int, len(ids))
	for p, g := range ids {
		owner[g] = p % s.clients
	}
	parts := make([][]int, s.clients)
	for i, g := range s.groups {
		c := owner[g]
		parts[c] = append(parts[c], i)
	}
	return parts, nil
}
