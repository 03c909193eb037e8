package partition

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// mnistCounts are the per-digit counts of the MNIST training set.
var mnistCounts = []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}

// synthLabels returns a shuffled label vector with the given class counts.
func synthLabels(seed uint64, counts []int) []int32 {
	var labels []int32
	for l, n := range counts {
		for range n {
			labels = append(labels, int32(l))
		}
	}
	r := rand.New(rand.NewPCG(seed, 99))
	r.Shuffle(len(labels), func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	return labels
}

func mnistLabels(tb testing.TB) []int32 {
	tb.Helper()
	l := synthLabels(1, mnistCounts)
	if len(l) != 60000 {
		tb.Fatalf("synthetic MNIST has %d labels, want 60000", len(l))
	}
	return l
}

// checkOnce fails unless every index in [0, n) appears in exactly one part.
func checkOnce(t *testing.T, parts [][]int, n int) {
	t.Helper()
	seen := make([]int, n)
	for c, p := range parts {
		for _, i := range p {
			if i < 0 || i >= n {
				t.Fatalf("client %d has index %d outside [0, %d)", c, i, n)
			}
			seen[i]++
		}
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("sample %d assigned %d times, want 1", i, k)
		}
	}
}

// distinctLabels returns the number of labels with a nonzero count.
func distinctLabels(labels []int32, classes int, idx []int) int {
	n := 0
	for _, k := range Histogram(labels, classes, idx) {
		if k > 0 {
			n++
		}
	}
	return n
}

// groupsFor returns natural owners: sample i belongs to group i % g.
func groupsFor(n, g int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i % g)
	}
	return out
}

func TestSplitAssignsEverySampleOnce(t *testing.T) {
	labels := mnistLabels(t)
	groups := groupsFor(len(labels), 66)
	tests := []struct {
		scheme  string
		args    []float64
		clients int
	}{
		{"iid", nil, 100},
		{"iid", nil, 7},
		{"shards", nil, 100},
		{"shards", []float64{3}, 33},
		{"limit-labels", []float64{2}, 100},
		{"limit-labels", []float64{3}, 7},
		{"q-sampler", []float64{0.8}, 20},
		{"dirichlet", []float64{0.5}, 20},
		{"dirichlet", []float64{100}, 100},
		{"n-labels", []float64{2}, 10},
		{"n-labels", []float64{3}, 7},
		{"quantity-skew", nil, 100},
		{"natural", nil, 66},
		{"natural", nil, 10},
		{"strided", nil, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v/clients=%d", tt.scheme, tt.args, tt.clients), func(t *testing.T) {
			parts, err := Split(labels, 10, tt.clients, groups, Config{Scheme: tt.scheme, Args: tt.args, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != tt.clients {
				t.Fatalf("got %d parts, want %d", len(parts), tt.clients)
			}
			checkOnce(t, parts, len(labels))
		})
	}
}

func TestSplitDeterministic(t *testing.T) {
	labels := synthLabels(2, []int{300, 200, 250, 310, 190, 205, 260, 240, 280, 265})
	groups := groupsFor(len(labels), 30)
	for _, scheme := range Schemes() {
		t.Run(scheme, func(t *testing.T) {
			split := func(seed uint64) [][]int {
				t.Helper()
				p, err := Split(labels, 10, 20, groups, Config{Scheme: scheme, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			a, b, c := split(11), split(11), split(12)
			if !slices.EqualFunc(a, b, slices.Equal) {
				t.Errorf("same seed gave different partitions")
			}
			if slices.EqualFunc(a, c, slices.Equal) {
				t.Errorf("seeds 11 and 12 gave the same partition")
			}
		})
	}
}

func TestAliases(t *testing.T) {
	labels := synthLabels(3, []int{100, 100, 100, 100})
	tests := []struct{ alias, canon string }{
		{"uniform", "iid"},
		{"UNIFORM", "iid"},
		{"limit labels", "limit-labels"},
		{"limit_labels", "limit-labels"},
		{"q sampler", "q-sampler"},
		{"n labels", "n-labels"},
		{" Dirichlet ", "dirichlet"},
	}
	for _, tt := range tests {
		t.Run(tt.alias, func(t *testing.T) {
			cfg := Config{Scheme: tt.alias, Seed: 5}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if cfg.Scheme != tt.canon {
				t.Errorf("Validate(%q).Scheme = %q, want %q", tt.alias, cfg.Scheme, tt.canon)
			}
			a, err := Split(labels, 4, 8, nil, Config{Scheme: tt.alias, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			b, err := Split(labels, 4, 8, nil, Config{Scheme: tt.canon, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(a, b, slices.Equal) {
				t.Errorf("%q and %q split differently", tt.alias, tt.canon)
			}
		})
	}
}

func TestIIDSizes(t *testing.T) {
	labels := synthLabels(4, []int{333, 334, 335})
	parts, err := Split(labels, 3, 7, nil, Config{Scheme: "iid", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := len(labels), 0
	for _, p := range parts {
		lo, hi = min(lo, len(p)), max(hi, len(p))
	}
	if hi-lo > 1 {
		t.Errorf("iid sizes range %d..%d, want a spread of at most 1", lo, hi)
	}
}

// TestShardsMNIST checks McMahan's pathological split: 100 clients, each
// with exactly 2 shards of 300 consecutive samples of the label-sorted data.
func TestShardsMNIST(t *testing.T) {
	labels := mnistLabels(t)
	parts, err := Split(labels, 10, 100, nil, Config{Scheme: "shards", Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	// pos[i] is sample i's position in the stable sort by label.
	pos := make([]int, len(labels))
	next := 0
	for l := range int32(10) {
		for i, x := range labels {
			if x == l {
				pos[i] = next
				next++
			}
		}
	}
	shardOwner := map[int]int{}
	for c, p := range parts {
		count := map[int]int{}
		for _, i := range p {
			count[pos[i]/300]++
		}
		if len(count) != 2 {
			t.Fatalf("client %d has %d shards, want 2", c, len(count))
		}
		for sh, k := range count {
			if k != 300 {
				t.Errorf("client %d has %d samples of shard %d, want 300", c, k, sh)
			}
			if o, ok := shardOwner[sh]; ok {
				t.Errorf("shard %d owned by clients %d and %d", sh, o, c)
			}
			shardOwner[sh] = c
		}
		if d := distinctLabels(labels, 10, p); d > 4 {
			t.Errorf("client %d has %d labels, want at most 4 from 2 shards", c, d)
		}
	}
	if len(shardOwner) != 200 {
		t.Errorf("%d shards owned, want 200", len(shardOwner))
	}
}

func TestLimitLabels(t *testing.T) {
	labels := mnistLabels(t)
	tests := []struct{ clients, limit int }{
		{100, 2}, // FLTK's case: clients % classes == 0
		{10, 1},
		{7, 3}, // generalised
		{13, 9},
		{4, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("clients=%d/limit=%d", tt.clients, tt.limit), func(t *testing.T) {
			parts, err := Split(labels, 10, tt.clients, nil, Config{Scheme: "limit-labels", Args: []float64{float64(tt.limit)}, Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, parts, len(labels))
			holders := make([]int, 10)
			for c, p := range parts {
				h := Histogram(labels, 10, p)
				n := 0
				for l, k := range h {
					if k > 0 {
						n++
						holders[l]++
					}
				}
				if n != tt.limit {
					t.Errorf("client %d holds %d labels, want %d", c, n, tt.limit)
				}
			}
			lo, hi := tt.limit*tt.clients/10, (tt.limit*tt.clients+9)/10
			for l, h := range holders {
				if h < lo || h > hi {
					t.Errorf("label %d has %d holders, want %d..%d", l, h, lo, hi)
				}
			}
		})
	}
}

// TestLimitLabelsRandom checks that the swaps mix the deck: with 100
// clients and limit 2, the round-robin deck alone would pair the labels in
// only 5 distinct pairs.
func TestLimitLabelsRandom(t *testing.T) {
	labels := mnistLabels(t)
	parts, err := Split(labels, 10, 100, nil, Config{Scheme: "limit-labels", Args: []float64{2}, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[[10]bool]bool{}
	for _, p := range parts {
		var key [10]bool
		for l, k := range Histogram(labels, 10, p) {
			key[l] = k > 0
		}
		pairs[key] = true
	}
	if len(pairs) < 20 {
		t.Errorf("%d distinct label sets among 100 clients, want at least 20 of the 45 possible", len(pairs))
	}
}

func TestNLabels(t *testing.T) {
	labels := mnistLabels(t)
	for _, tt := range []struct{ clients, n int }{{10, 2}, {7, 3}, {20, 10}, {30, 1}} {
		t.Run(fmt.Sprintf("clients=%d/n=%d", tt.clients, tt.n), func(t *testing.T) {
			parts, err := Split(labels, 10, tt.clients, nil, Config{Scheme: "n labels", Args: []float64{float64(tt.n)}, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, parts, len(labels))
			for c, p := range parts {
				if d := distinctLabels(labels, 10, p); d > tt.n || d < 1 {
					t.Errorf("client %d has %d labels, want 1..%d", c, d, tt.n)
				}
			}
		})
	}
	// Three clients with two labels each draw 6 of 10 labels: the other 4
	// labels' samples are left out.
	parts, err := Split(labels, 10, 3, nil, Config{Scheme: "n-labels", Args: []float64{2}, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	total := make([]int, 10)
	for _, p := range parts {
		for l, k := range Histogram(labels, 10, p) {
			total[l] += k
		}
	}
	dealt := 0
	for l, k := range total {
		switch k {
		case 0:
		case mnistCounts[l]:
			dealt++
		default:
			t.Errorf("label %d: %d of %d samples assigned, want all or none", l, k, mnistCounts[l])
		}
	}
	if dealt != 6 {
		t.Errorf("%d labels dealt, want 6", dealt)
	}
}

func TestQSampler(t *testing.T) {
	labels := mnistLabels(t)
	t.Run("q=1", func(t *testing.T) {
		parts, err := Split(labels, 10, 20, nil, Config{Scheme: "q-sampler", Args: []float64{1}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkOnce(t, parts, len(labels))
		for c, p := range parts {
			for _, i := range p {
				if int(labels[i]) != c%10 {
					t.Fatalf("client %d (group %d) has label %d", c, c%10, labels[i])
				}
			}
			// Round-robin within the group: the two members differ by ≤ 1.
			peer := parts[(c+10)%20]
			if d := len(p) - len(peer); d < -1 || d > 1 {
				t.Errorf("clients %d and %d of group %d have %d and %d samples", c, (c+10)%20, c%10, len(p), len(peer))
			}
		}
	})
	t.Run("q=0", func(t *testing.T) {
		parts, err := Split(labels, 10, 10, nil, Config{Scheme: "q-sampler", Args: []float64{0}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		for c, p := range parts {
			if h := Histogram(labels, 10, p); h[c] != 0 {
				t.Errorf("client %d has %d samples of its own label under q=0", c, h[c])
			}
		}
	})
	t.Run("q=0.5", func(t *testing.T) {
		parts, err := Split(labels, 10, 10, nil, Config{Scheme: "q-sampler", Args: []float64{0.5}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		for c, p := range parts {
			h := Histogram(labels, 10, p)
			// Expected own-label share ≈ 0.5·n_c / (0.5·n_c + Σ 0.5·n_m/9) ≈ 0.5.
			if f := float64(h[c]) / float64(len(p)); f < 0.45 || f > 0.55 {
				t.Errorf("client %d own-label fraction %.3f, want ≈ 0.5", c, f)
			}
		}
	})
	t.Run("clients%classes!=0", func(t *testing.T) {
		_, err := Split(labels, 10, 15, nil, Config{Scheme: "q-sampler"})
		if !errors.Is(err, ErrArgs) || !strings.Contains(err.Error(), "15") || !strings.Contains(err.Error(), "10") {
			t.Errorf("got %v, want ErrArgs naming 15 and 10", err)
		}
	})
}

// meanMaxFraction is the mean over clients of the largest label's share.
func meanMaxFraction(labels []int32, classes int, parts [][]int) float64 {
	var s float64
	for _, p := range parts {
		h := Histogram(labels, classes, p)
		s += float64(slices.Max(h)) / float64(len(p))
	}
	return s / float64(len(parts))
}

func TestDirichletSkew(t *testing.T) {
	labels := mnistLabels(t)
	tests := []struct {
		alpha    float64
		min, max float64 // bounds on the mean max-label fraction
	}{
		{0.1, 0.5, 1},
		{1000, 0.1, 0.13}, // ≈ the largest class share, 6742/60000 = 0.112
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("alpha=%v", tt.alpha), func(t *testing.T) {
			parts, err := Split(labels, 10, 10, nil, Config{Scheme: "dirichlet", Args: []float64{tt.alpha}, Seed: 6})
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, parts, len(labels))
			if f := meanMaxFraction(labels, 10, parts); f < tt.min || f > tt.max {
				t.Errorf("mean max-label fraction %.3f, want in [%v, %v]", f, tt.min, tt.max)
			}
		})
	}
}

// TestLogGamma checks the sampler's mean and variance (both = a).
func TestLogGamma(t *testing.T) {
	for _, a := range []float64{0.05, 0.3, 1, 2.5, 10} {
		t.Run(fmt.Sprint(a), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			const n = 40000
			var s, s2 float64
			for range n {
				x := math.Exp(logGamma(r, a))
				s += x
				s2 += x * x
			}
			mean := s / n
			variance := s2/n - mean*mean
			// Standard error of the mean is sqrt(a/n); allow 5 of them.
			if tol := 5 * math.Sqrt(a/n); math.Abs(mean-a) > tol {
				t.Errorf("mean %.4f, want %v ± %.4f", mean, a, tol)
			}
			if math.Abs(variance-a) > 0.1*a {
				t.Errorf("variance %.4f, want %v ± 10%%", variance, a)
			}
		})
	}
	// Tiny shapes must stay finite in log space (exp would underflow).
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		if lg := logGamma(r, 0.001); math.IsNaN(lg) || math.IsInf(lg, 0) {
			t.Fatalf("logGamma(0.001) = %v, want finite", lg)
		}
	}
	p := make([]float64, 50)
	dirichletSample(r, 0.001, p)
	var sum float64
	for _, x := range p {
		sum += x
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("Dirichlet(0.001) sums to %v, want 1", sum)
	}
}

func TestQuantitySkew(t *testing.T) {
	labels := mnistLabels(t)
	tests := []struct {
		args      []float64
		clients   int
		minRatio  float64 // largest / smallest at least
		maxSpread int     // largest − smallest at most (−1: no bound)
		least     int
	}{
		{nil, 50, 20, -1, 1},
		{[]float64{2, 100}, 50, 2, -1, 100},
		{[]float64{0}, 7, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			parts, err := Split(labels, 10, tt.clients, nil, Config{Scheme: "quantity-skew", Args: tt.args, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			checkOnce(t, parts, len(labels))
			lo, hi := len(labels), 0
			for _, p := range parts {
				lo, hi = min(lo, len(p)), max(hi, len(p))
			}
			if lo < tt.least {
				t.Errorf("smallest client has %d samples, want ≥ %d", lo, tt.least)
			}
			if float64(hi)/float64(lo) < tt.minRatio {
				t.Errorf("sizes %d..%d, want a ratio ≥ %v", lo, hi, tt.minRatio)
			}
			if tt.maxSpread >= 0 && hi-lo > tt.maxSpread {
				t.Errorf("sizes %d..%d, want a spread ≤ %d", lo, hi, tt.maxSpread)
			}
		})
	}
}

func TestNatural(t *testing.T) {
	labels := synthLabels(5, []int{400, 400, 400})
	groups := groupsFor(len(labels), 12)
	t.Run("one each", func(t *testing.T) {
		parts, err := Split(labels, 3, 12, groups, Config{Scheme: "natural", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkOnce(t, parts, len(labels))
		seen := map[int32]bool{}
		for c, p := range parts {
			g := groups[p[0]]
			for _, i := range p {
				if groups[i] != g {
					t.Fatalf("client %d has groups %d and %d", c, g, groups[i])
				}
			}
			if seen[g] {
				t.Errorf("group %d given twice", g)
			}
			seen[g] = true
		}
	})
	t.Run("several each", func(t *testing.T) {
		parts, err := Split(labels, 3, 5, groups, Config{Scheme: "natural", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkOnce(t, parts, len(labels))
		for c, p := range parts {
			gs := map[int32]bool{}
			for _, i := range p {
				gs[groups[i]] = true
			}
			// 12 groups round-robin over 5 clients: 3,3,2,2,2.
			if want := 12/5 + btoi(c < 12%5); len(gs) != want {
				t.Errorf("client %d has %d groups, want %d", c, len(gs), want)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSplitErrors(t *testing.T) {
	labels := synthLabels(6, []int{50, 50, 50, 50})
	tests := []struct {
		name     string
		labels   []int32
		classes  int
		clients  int
		groups   []int32
		cfg      Config
		want     error
		contains []string
	}{
		{"no clients", labels, 4, 0, nil, DefaultConfig(), ErrClients, []string{"0 clients"}},
		{"no classes", labels, 0, 2, nil, DefaultConfig(), ErrClasses, nil},
		{"unknown", labels, 4, 2, nil, Config{Scheme: "pathological"}, ErrUnknownScheme,
			[]string{`"pathological"`, "iid", "dirichlet", "natural"}},
		{"alpha", labels, 4, 2, nil, Config{Scheme: "dirichlet", Args: []float64{-1}}, ErrArgs, []string{"alpha", "-1"}},
		{"nan", labels, 4, 2, nil, Config{Scheme: "dirichlet", Args: []float64{math.NaN()}}, ErrArgs, []string{"NaN"}},
		{"fractional limit", labels, 4, 2, nil, Config{Scheme: "limit-labels", Args: []float64{1.5}}, ErrArgs, []string{"1.5"}},
		{"fltk seed arg", labels, 4, 2, nil, Config{Scheme: "dirichlet", Args: []float64{0.1, 42}}, ErrArgs, []string{"at most 1"}},
		{"q range", labels, 4, 4, nil, Config{Scheme: "q-sampler", Args: []float64{1.5}}, ErrArgs, []string{"q"}},
		{"limit > classes", labels, 4, 4, nil, Config{Scheme: "limit-labels", Args: []float64{5}}, ErrArgs, []string{"5", "4 classes"}},
		{"limit too small", labels, 4, 2, nil, Config{Scheme: "limit-labels", Args: []float64{1}}, ErrArgs, []string{"no holder"}},
		{"n > classes", labels, 4, 2, nil, Config{Scheme: "n-labels", Args: []float64{5}}, ErrArgs, nil},
		{"too many shards", labels, 4, 150, nil, Config{Scheme: "shards"}, ErrArgs, []string{"300 shards", "200 samples"}},
		{"quantity min", labels, 4, 10, nil, Config{Scheme: "quantity-skew", Args: []float64{2, 50}}, ErrArgs, nil},
		{"label range", []int32{0, 1, 7}, 4, 1, nil, DefaultConfig(), ErrLabel, []string{"label 7", "sample 2"}},
		{"natural nil", labels, 4, 2, nil, Config{Scheme: "natural"}, ErrGroups, nil},
		{"natural short", labels, 4, 2, []int32{0, 1}, Config{Scheme: "natural"}, ErrGroups, nil},
		{"natural clients", labels, 4, 5, groupsFor(200, 4), Config{Scheme: "natural"}, ErrArgs, []string{"5 clients", "4 groups"}},
		{"empty client", labels[:5], 4, 8, nil, Config{Scheme: "iid"}, ErrEmptyClient, []string{"client 0", "iid"}},
		{"empty dirichlet", labels, 4, 50, nil, Config{Scheme: "dirichlet", Args: []float64{0.01}}, ErrEmptyClient, []string{"dirichlet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.labels, tt.classes, tt.clients, tt.groups, tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if !strings.HasPrefix(err.Error(), "partition: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	args := []float64{3}
	cfg := Config{Scheme: "Quantity_Skew", Args: args}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Scheme != "quantity-skew" || !slices.Equal(cfg.Args, []float64{3, 1}) {
		t.Errorf("Validate gave %q %v, want quantity-skew [3 1]", cfg.Scheme, cfg.Args)
	}
	cfg.Args[0] = 9
	if args[0] != 3 {
		t.Errorf("Validate aliased the caller's Args")
	}
	if got := Schemes(); len(got) != 9 || got[0] != "iid" {
		t.Errorf("Schemes() = %v", got)
	}
}

func TestHistogram(t *testing.T) {
	labels := []int32{0, 2, 2, 1, 2, 0}
	if got, want := Histogram(labels, 4, []int{0, 1, 2, 4, 5}), []int{2, 0, 3, 0}; !slices.Equal(got, want) {
		t.Errorf("Histogram = %v, want %v", got, want)
	}
	if got := Histogram(labels, 3, nil); !slices.Equal(got, []int{0, 0, 0}) {
		t.Errorf("Histogram(nil) = %v", got)
	}
}

func BenchmarkSplit(b *testing.B) {
	labels := mnistLabels(b)
	for _, scheme := range []string{"iid", "shards", "limit-labels", "dirichlet"} {
		b.Run("Scheme="+scheme, func(b *testing.B) {
			for b.Loop() {
				if _, err := Split(labels, 10, 100, nil, Config{Scheme: scheme, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestStrided: FLTK v0.3.1's uniform sampler, 2 clients in a world of 3:
// client c holds the indices ≡ c+1 (mod 3), shard 0 goes to nobody.
func TestStrided(t *testing.T) {
	labels := make([]int32, 60000)
	for i := range labels {
		labels[i] = int32(i % 10)
	}
	for _, tt := range []struct {
		spare, clients int
	}{{1, 2}, {0, 3}, {2, 5}} {
		parts, err := Split(labels, 10, tt.clients, nil, Config{Scheme: "strided", Args: []float64{float64(tt.spare)}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		n := tt.clients + tt.spare
		for c, p := range parts {
			if want := (len(labels) - (c + tt.spare) + n - 1) / n; len(p) != want {
				t.Errorf("spare %d client %d: %d samples, want %d", tt.spare, c, len(p), want)
			}
			for _, i := range p {
				if i%n != c+tt.spare {
					t.Fatalf("spare %d client %d holds index %d (≢ %d mod %d)", tt.spare, c, i, c+tt.spare, n)
				}
			}
		}
	}
	if _, err := Split(labels, 10, 2, nil, Config{Scheme: "strided", Args: []float64{0.5}}); !errors.Is(err, ErrArgs) {
		t.Errorf("spare_shards 0.5: %v, want ErrArgs", err)
	}
}
