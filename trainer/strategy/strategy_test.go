package strategy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// near reports whether got is within tol of want, absolutely or relatively.
func near(got, want, tol float64) bool {
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}

// tol32 covers a float32 rounding of a value computed in float64
// (relative 6e-8), with a margin.
const tol32 = 1e-6

func checkState(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !near(float64(got[i]), want[i], tol32) {
			t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
		}
	}
}

func mustNew(t *testing.T, cfg Config) Strategy {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAggregateHandComputed(t *testing.T) {
	updates := []Update{
		{Client: 0, State: []float32{1, 2}, Samples: 1},
		{Client: 1, State: []float32{3, 6}, Samples: 3},
		{Client: 2, State: []float32{10, -4}, Samples: 0},
	}
	tests := []struct {
		name string
		want []float64
	}{
		// (1·(1,2) + 3·(3,6)) / 4; the 0-sample client has weight 0.
		{"fedavg", []float64{2.5, 5}},
		{"fedprox", []float64{2.5, 5}},
		// ((1,2) + (3,6) + (10,−4)) / 3.
		{"mean", []float64{14.0 / 3, 4.0 / 3}},
		// Middle of (1, 3, 10) and of (2, 6, −4); weights ignored.
		{"median", []float64{3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, Config{Name: tt.name, ProximalMu: 0.5})
			global := []float32{100, 100}
			if err := s.Aggregate(Info{}, global, updates); err != nil {
				t.Fatal(err)
			}
			checkState(t, "global", global, tt.want)
		})
	}
}

// TestFedAdamTwoRounds follows Flower's FedAdam by hand (η 0.1, β 0.9/0.99,
// τ 1e-9) on two parameters and one buffer.
//
// Round 1: mean (1, 0.5 | 7), Δ = (1, −0.5), m = (0.1, −0.05),
// v = (0.01, 0.0025), √v = (0.1, 0.05), so each parameter moves η·sign(Δ):
// (0.1, 0.9), and the buffer becomes 7.
// Round 2: mean (0.3, 0.9 | 2), Δ ≈ (0.2, 0), m = (0.11, −0.045),
// v = (0.0103, 0.002475): (0.1 + 0.1·0.11/√0.0103, 0.9 − 0.1·0.045/√0.002475)
// = (0.2083862, 0.8095466), buffer 2.
func TestFedAdamTwoRounds(t *testing.T) {
	s := mustNew(t, Config{Name: "fedadam"})
	info := Info{Buffers: [][2]int{{2, 3}}}
	global := []float32{0, 1, 5}
	rounds := []struct {
		a, b []float32 // two clients, equal samples
		want []float64
	}{
		{[]float32{0.5, 0.25, 6}, []float32{1.5, 0.75, 8}, []float64{0.09999999900000002, 0.900000002, 7}},
		{[]float32{0.2, 0.8, 1}, []float32{0.4, 1, 3}, []float64{0.20838621860759818, 0.8095466000428375, 2}},
	}
	for r, rd := range rounds {
		info.Round = r
		ups := []Update{{Client: 0, State: rd.a, Samples: 10}, {Client: 1, State: rd.b, Samples: 10}}
		if err := s.Aggregate(info, global, ups); err != nil {
			t.Fatal(err)
		}
		checkState(t, fmt.Sprintf("round %d global", r+1), global, rd.want)
	}
}

// TestFedAdamBuffers checks unsorted, overlapping buffer ranges: buffer
// elements take the mean exactly, parameters take an Adam step.
func TestFedAdamBuffers(t *testing.T) {
	const n = 12
	bufs := [][2]int{{6, 9}, {2, 4}, {7, 10}, {11, 11}}
	isBuf := func(i int) bool { return (i >= 2 && i < 4) || (i >= 6 && i < 10) }
	s := mustNew(t, Config{Name: "fedadam", Eta: 0.01})
	global := make([]float32, n)
	mean := make([]float32, n)
	for i := range mean {
		mean[i] = float32(i + 1)
	}
	if err := s.Aggregate(Info{Buffers: bufs}, global, []Update{{State: mean, Samples: 1}}); err != nil {
		t.Fatal(err)
	}
	for i, g := range global {
		want := float64(mean[i])
		if !isBuf(i) {
			want = 0.01 // first step: η·sign(Δ)
		}
		if !near(float64(g), want, tol32) {
			t.Errorf("global[%d] = %v, want %v (buffer %v)", i, g, want, isBuf(i))
		}
	}
	// Round 2 moves only the buffers' mean: they must track it exactly.
	mean2 := slices.Clone(global)
	for i := range mean2 {
		if isBuf(i) {
			mean2[i] = -3
		}
	}
	if err := s.Aggregate(Info{Buffers: bufs}, global, []Update{{State: mean2, Samples: 1}}); err != nil {
		t.Fatal(err)
	}
	for i := range global {
		if isBuf(i) && global[i] != -3 {
			t.Errorf("buffer %d = %v after round 2, want -3", i, global[i])
		}
	}
}

func randomUpdates(r *rand.Rand, k, n int) []Update {
	ups := make([]Update, k)
	for c := range ups {
		st := make([]float32, n)
		for i := range st {
			st[i] = float32(r.NormFloat64())
		}
		ups[c] = Update{Client: 10 + c, State: st, Samples: 1 + r.IntN(500), Steps: 1 + r.IntN(50)}
	}
	return ups
}

// TestPreAveraged checks the contract of Individual() == false: a single
// pre-averaged update gives the same bits as the full list, over rounds.
func TestPreAveraged(t *testing.T) {
	const n = 5000 // not a multiple of the accumulation block
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			full := mustNew(t, Config{Name: name, ProximalMu: 1})
			pre := mustNew(t, Config{Name: name, ProximalMu: 1})
			if full.Individual() {
				if name != "median" {
					t.Fatalf("%s is individual", name)
				}
				return // needs every update: nothing to pre-average
			}
			r := rand.New(rand.NewPCG(7, 8))
			info := Info{Buffers: [][2]int{{100, 200}}}
			g1, g2 := make([]float32, n), make([]float32, n)
			for round := range 3 {
				info.Round = round
				ups := randomUpdates(r, 6, n)
				avg := Update{Client: -1, State: make([]float32, n)}
				if err := WeightedMean(avg.State, ups, pre.Weight); err != nil {
					t.Fatal(err)
				}
				for _, u := range ups {
					avg.Samples += u.Samples
				}
				if err := full.Aggregate(info, g1, ups); err != nil {
					t.Fatal(err)
				}
				if err := pre.Aggregate(info, g2, []Update{avg}); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g1, g2) {
					t.Fatalf("round %d: full list and pre-averaged update differ", round)
				}
			}
		})
	}
}

// TestWeightedMeanReference compares against a naive float64 mean, summed
// in the same order (so equal bits), with dst aliasing an update's state.
func TestWeightedMeanReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 2047, 2048, 2049, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ups := randomUpdates(r, 4, n)
			want := make([]float32, n)
			var total float64
			for _, u := range ups {
				total += float64(u.Samples)
			}
			for i := range want {
				var s float64
				for _, u := range ups {
					s += float64(u.Samples) * float64(u.State[i])
				}
				want[i] = float32(s / total)
			}
			dst := ups[2].State
			if err := WeightedMean(dst, ups, FedAvg{}.Weight); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dst, want) {
				t.Errorf("WeightedMean differs from the naive float64 mean")
			}
		})
	}
}

func TestWeightedMeanSkipsZeroWeight(t *testing.T) {
	nan := float32(math.NaN())
	ups := []Update{{State: []float32{nan, 1}, Samples: 0}, {State: []float32{2, 4}, Samples: 5}}
	dst := []float32{0, 0}
	if err := WeightedMean(dst, ups, FedAvg{}.Weight); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst, []float32{2, 4}) {
		t.Errorf("got %v, want [2 4]: the weight-0 update must be skipped", dst)
	}
}

func TestAggregateErrors(t *testing.T) {
	good := func(c int) Update { return Update{Client: c, State: []float32{1, 2, 3}, Samples: 10} }
	with := func(u Update, f func(*Update)) Update { f(&u); return u }
	tests := []struct {
		name    string
		updates []Update
		info    Info
		want    error
		client  int  // -1: no ClientError expected
		samples bool // the case is about sample weights: not for "mean" and "median"
	}{
		{"none", nil, Info{}, ErrNoUpdates, -1, false},
		{"zero weight", []Update{with(good(1), func(u *Update) { u.Samples = 0 }), with(good(2), func(u *Update) { u.Samples = 0 })},
			Info{}, ErrZeroWeight, -1, true},
		{"negative weight", []Update{good(1), with(good(4), func(u *Update) { u.Samples = -3 })}, Info{}, ErrWeight, 4, true},
		{"length", []Update{good(1), with(good(7), func(u *Update) { u.State = []float32{1, 2} })}, Info{}, ErrLength, 7, false},
		{"nan", []Update{good(1), with(good(5), func(u *Update) { u.State = []float32{1, float32(math.NaN()), 3} })},
			Info{}, ErrNonFinite, 5, false},
		{"inf", []Update{with(good(9), func(u *Update) { u.State = []float32{float32(math.Inf(-1)), 2, 3} }), good(1)},
			Info{}, ErrNonFinite, 9, false},
	}
	for _, name := range Names() {
		for _, tt := range tests {
			if tt.samples && (name == "mean" || name == "median") {
				continue
			}
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				s := mustNew(t, Config{Name: name, ProximalMu: 0.1})
				global := []float32{7, 8, 9}
				err := s.Aggregate(tt.info, global, tt.updates)
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				if !strings.HasPrefix(err.Error(), "strategy: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				var ce *ClientError
				if got := errors.As(err, &ce); got != (tt.client >= 0) {
					t.Fatalf("errors.As(ClientError) = %v for %v", got, err)
				}
				if ce != nil {
					if ce.Client != tt.client || !strings.Contains(err.Error(), fmt.Sprintf("client %d", tt.client)) {
						t.Errorf("error %q names client %d, want %d", err, ce.Client, tt.client)
					}
				}
				if !slices.Equal(global, []float32{7, 8, 9}) {
					t.Errorf("global changed to %v on error", global)
				}
			})
		}
	}
}

func TestWeightedMeanBadWeights(t *testing.T) {
	ups := []Update{{Client: 3, State: []float32{1}}, {Client: 8, State: []float32{2}}}
	for _, tt := range []struct {
		name   string
		weight func(*Update) float64
		want   error
	}{
		{"zero", func(*Update) float64 { return 0 }, ErrZeroWeight},
		{"nan", func(*Update) float64 { return math.Sqrt(-1) }, ErrWeight}, // NaN
		{"inf", func(*Update) float64 { return math.Inf(1) }, ErrWeight},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := []float32{5}
			if err := WeightedMean(dst, ups, tt.weight); !errors.Is(err, tt.want) || dst[0] != 5 {
				t.Errorf("got %v (dst %v), want %v and dst unchanged", err, dst, tt.want)
			}
		})
	}
}

func TestFedAdamStateErrors(t *testing.T) {
	s := mustNew(t, Config{Name: "fedadam"}).(*FedAdam)
	up := func(n int) []Update { return []Update{{State: make([]float32, n), Samples: 1}} }
	if err := s.Aggregate(Info{Buffers: [][2]int{{2, 5}}}, make([]float32, 4), up(4)); !errors.Is(err, ErrBuffers) {
		t.Errorf("range past the end: got %v, want ErrBuffers", err)
	}
	if err := s.Aggregate(Info{Buffers: [][2]int{{3, 2}}}, make([]float32, 4), up(4)); !errors.Is(err, ErrBuffers) {
		t.Errorf("reversed range: got %v, want ErrBuffers", err)
	}
	if err := s.Aggregate(Info{}, make([]float32, 4), up(4)); err != nil {
		t.Fatal(err)
	}
	if err := s.Aggregate(Info{}, make([]float32, 5), up(5)); !errors.Is(err, ErrLength) {
		t.Errorf("new model size without Reset: got %v, want ErrLength", err)
	}
	var st Stateful = s
	st.Reset()
	if err := s.Aggregate(Info{}, make([]float32, 5), up(5)); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}

// TestFedAdamErrorKeepsMoments checks that a failed round leaves the
// moments alone: a good round after a bad one matches a run without it.
func TestFedAdamErrorKeepsMoments(t *testing.T) {
	r1 := []Update{{State: []float32{1, -1}, Samples: 2}}
	r2 := []Update{{State: []float32{0.5, 2}, Samples: 2}}
	bad := []Update{{State: []float32{1, 2}, Samples: 1}, {State: []float32{float32(math.NaN()), 0}, Samples: 1}}
	run := func(rounds ...[]Update) []float32 {
		t.Helper()
		s := mustNew(t, Config{Name: "fedadam"})
		g := []float32{0, 0}
		for _, ups := range rounds {
			err := s.Aggregate(Info{}, g, ups)
			if isBad := len(ups) == 2; isBad != (err != nil) {
				t.Fatalf("Aggregate error %v, want one only for the bad round", err)
			}
		}
		return g
	}
	if a, b := run(r1, bad, r2), run(r1, r2); !slices.Equal(a, b) {
		t.Errorf("a failed round changed the outcome: %v vs %v", a, b)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want error
		name string
		mu   float64
	}{
		{DefaultConfig(), nil, "fedavg", 0},
		{Config{}, nil, "fedavg", 0},
		{Config{Name: "FedAvg", ProximalMu: 0.01}, nil, "fedavg", 0},
		{Config{Name: "avg"}, nil, "mean", 0},
		{Config{Name: "mean"}, nil, "mean", 0},
		{Config{Name: "FedProx", ProximalMu: 0.5}, nil, "fedprox", 0.5},
		{Config{Name: "fed_adam"}, nil, "fedadam", 0},
		{Config{Name: "fedprox"}, ErrConfig, "", 0},
		{Config{Name: "krum"}, ErrUnknown, "", 0},
		{Config{Name: "fed"}, ErrUnknown, "", 0},
		{Config{Name: "fedavg", ProximalMu: -1}, ErrConfig, "", 0},
		{Config{Name: "fedadam", Eta: -0.1}, ErrConfig, "", 0},
		{Config{Name: "fedadam", EtaL: math.NaN()}, ErrConfig, "", 0},
		{Config{Name: "fedadam", Beta1: 1}, ErrConfig, "", 0},
		{Config{Name: "fedadam", Beta2: -0.5}, ErrConfig, "", 0},
		{Config{Name: "fedadam", Tau: -1}, ErrConfig, "", 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			s, err := New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "strategy: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if s.Name() != tt.name || s.ProximalMu() != tt.mu {
				t.Errorf("got %s with mu %v, want %s with mu %v", s.Name(), s.ProximalMu(), tt.name, tt.mu)
			}
		})
	}
	cfg := Config{Name: "fedadam"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := DefaultConfig(); cfg.Eta != d.Eta || cfg.Beta1 != d.Beta1 || cfg.Beta2 != d.Beta2 || cfg.Tau != d.Tau {
		t.Errorf("Validate filled %+v, want Flower's defaults", cfg)
	}
}

func TestWeights(t *testing.T) {
	u := &Update{Samples: 42}
	for _, tt := range []struct {
		name string
		want float64
	}{{"fedavg", 42}, {"fedprox", 42}, {"fedadam", 42}, {"mean", 1}} {
		if got := mustNew(t, Config{Name: tt.name, ProximalMu: 1}).Weight(u); got != tt.want {
			t.Errorf("%s weight = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func BenchmarkWeightedMean(b *testing.B) {
	const n = 1_663_370 // McMahan's MNIST CNN
	for _, k := range []int{1, 10} {
		b.Run(fmt.Sprintf("Updates=%d", k), func(b *testing.B) {
			ups := randomUpdates(rand.New(rand.NewPCG(1, 2)), k, n)
			dst := make([]float32, n)
			b.SetBytes(int64(k * n * 4))
			for b.Loop() {
				if err := WeightedMean(dst, ups, FedAvg{}.Weight); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMedian: an even count takes the mean of the two middle values, one
// wild client does not move the result, bad updates leave global as it was.
func TestMedian(t *testing.T) {
	m := Median{}
	if !m.Individual() || m.Weight(&Update{Samples: 9}) != 1 {
		t.Fatal("median: want Individual and weight 1")
	}
	global := []float32{0, 0}
	ups := []Update{{State: []float32{1, 5}}, {State: []float32{4, 1e30}}, {State: []float32{2, 6}}, {State: []float32{3, -2}}}
	if err := m.Aggregate(Info{}, global, ups); err != nil {
		t.Fatal(err)
	}
	checkState(t, "global", global, []float64{2.5, 5.5})
	for name, bad := range map[string]Update{
		"NaN":    {Client: 7, State: []float32{float32(math.NaN()), 0}},
		"length": {Client: 7, State: []float32{1}},
	} {
		global := []float32{9, 9}
		err := m.Aggregate(Info{}, global, append(slices.Clone(ups), bad))
		var ce *ClientError
		if !errors.As(err, &ce) || ce.Client != 7 || global[0] != 9 || global[1] != 9 {
			t.Errorf("%s: err %v, global %v; want a ClientError for client 7 and global unchanged", name, err, global)
		}
	}
	if err := m.Aggregate(Info{}, global, nil); !errors.Is(err, ErrNoUpdates) {
		t.Errorf("no updates: %v, want ErrNoUpdates", err)
	}
}

// TestClientLearningRate: FedAdam from New reports Config.EtaL as the
// clients' learning rate; the other strategies leave it to the caller.
func TestClientLearningRate(t *testing.T) {
	for _, tt := range []struct {
		name string
		etaL float64
		has  bool
		want float64
	}{
		{"fedadam", 0.03, true, 0.03},
		{"fedadam", 0, true, 0},
		{"fedavg", 0.03, false, 0},
		{"mean", 0.03, false, 0},
		{"fedprox", 0.03, false, 0},
		{"median", 0.03, false, 0},
	} {
		s, err := New(Config{Name: tt.name, ProximalMu: 0.01, EtaL: tt.etaL})
		if err != nil {
			t.Fatal(err)
		}
		c, ok := s.(ClientLearningRate)
		if ok != tt.has {
			t.Errorf("%s implements ClientLearningRate: %v, want %v", tt.name, ok, tt.has)
			continue
		}
		if ok && c.ClientLR() != tt.want {
			t.Errorf("%s with eta_l %g: ClientLR() = %g, want %g", tt.name, tt.etaL, c.ClientLR(), tt.want)
		}
	}
	if got := NewFedAdam(0.1, 0.9, 0.99, 1e-9).ClientLR(); got != 0 {
		t.Errorf("NewFedAdam(…).ClientLR() = %g, want 0", got)
	}
}
