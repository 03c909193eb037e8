package optim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// near reports whether got is within tol of want, absolutely or relative
// to want.
func near(got, want, tol float64) bool {
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}

// float32 tolerance for a few chained operations on values of order 1:
// float32 has a relative precision of 6e-8, so 1e-6 leaves room for ~15
// roundings.
const tol32 = 1e-6

func TestSGDHandComputed(t *testing.T) {
	tests := []struct {
		name                string
		lr, momentum, decay float64
		nesterov            bool
		p0, grad            []float32 // grad is the same every step
		want                [][]float64
	}{
		{
			name: "plain", lr: 0.5,
			p0: []float32{2, -1}, grad: []float32{1, -2},
			want: [][]float64{{1.5, 0}, {1, 1}, {0.5, 2}},
		},
		{
			// d = g + 0.1·p; buf = d, then 0.9·buf + d; p −= 0.1·buf.
			name: "momentum+decay", lr: 0.1, momentum: 0.9, decay: 0.1,
			p0: []float32{1, -2}, grad: []float32{0.5, 1},
			want: [][]float64{{0.94, -2.08}, {0.8266, -2.2312}, {0.666274, -2.444968}},
		},
		{
			// buf = 1, 1.9, 2.71; step d = 1 + 0.9·buf = 1.9, 2.71, 3.439.
			name: "nesterov", lr: 0.1, momentum: 0.9, nesterov: true,
			p0: []float32{1}, grad: []float32{1},
			want: [][]float64{{0.81}, {0.539}, {0.1951}},
		},
		{
			// Step 1: d = 1 + 0.5·1 = 1.5 = buf; p = 1 − 0.1·(1.5 + 0.5·1.5) = 0.775.
			// Step 2: d = 1 + 0.5·0.775 = 1.3875; buf = 0.75 + 1.3875 = 2.1375;
			// p = 0.775 − 0.1·(1.3875 + 0.5·2.1375) = 0.529375.
			name: "nesterov+decay", lr: 0.1, momentum: 0.5, decay: 0.5, nesterov: true,
			p0: []float32{1}, grad: []float32{1},
			want: [][]float64{{0.775}, {0.529375}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := NewSGD(tt.lr, tt.momentum, tt.decay, tt.nesterov)
			p := append([]float32(nil), tt.p0...)
			for step, want := range tt.want {
				opt.Step([][]float32{p}, [][]float32{tt.grad})
				for j := range p {
					if !near(float64(p[j]), want[j], tol32) {
						t.Errorf("step %d: p[%d] = %.7f, want %.7f", step+1, j, p[j], want[j])
					}
				}
			}
		})
	}
}

// refAdam is a float64 transcription of the Adam update.
type refAdam struct {
	lr, b1, b2, eps, wd float64
	t                   int
	m, v                []float64
}

func (a *refAdam) step(p []float64, g []float64) {
	if a.m == nil {
		a.m, a.v = make([]float64, len(p)), make([]float64, len(p))
	}
	a.t++
	for j := range p {
		d := g[j] + a.wd*p[j]
		a.m[j] = a.b1*a.m[j] + (1-a.b1)*d
		a.v[j] = a.b2*a.v[j] + (1-a.b2)*d*d
		mh := a.m[j] / (1 - math.Pow(a.b1, float64(a.t)))
		den := math.Sqrt(a.v[j])/math.Sqrt(1-math.Pow(a.b2, float64(a.t))) + a.eps
		p[j] -= a.lr * mh / den
	}
}

func TestAdamHandComputed(t *testing.T) {
	// Step 1: m = 0.05, v = 0.00025, m̂ = 0.5, √v̂ = 0.5:
	// p = 1 − 0.1·0.5/(0.5+1e-8) = 0.900000002. Steps 2 and 3 from the
	// same formula with g = −1, 0.25.
	opt := NewAdam(0.1, 0.9, 0.999, 1e-8, 0)
	p := []float32{1}
	grads := []float32{0.5, -1, 0.25}
	want := []float64{0.9000000019999999, 0.9366103542405653, 0.950279420338976}
	for i, g := range grads {
		opt.Step([][]float32{p}, [][]float32{{g}})
		if !near(float64(p[0]), want[i], tol32) {
			t.Errorf("step %d: p = %.9f, want %.9f", i+1, p[0], want[i])
		}
	}
}

func TestAdamAgainstReference(t *testing.T) {
	tests := []struct{ lr, b1, b2, eps, wd float64 }{
		{1e-3, 0.9, 0.999, 1e-8, 0},
		{1e-2, 0.9, 0.99, 1e-6, 0.01},
		{5e-2, 0.3, 0.9, 1e-8, 0.1}, // β1 < 0.5: lerp's other branch
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			const n = 257
			p32, p64 := make([]float32, n), make([]float64, n)
			for j := range p32 {
				p32[j] = float32(r.NormFloat64())
				p64[j] = float64(p32[j])
			}
			opt := NewAdam(tt.lr, tt.b1, tt.b2, tt.eps, tt.wd)
			ref := &refAdam{lr: tt.lr, b1: tt.b1, b2: tt.b2, eps: tt.eps, wd: tt.wd}
			g32, g64 := make([]float32, n), make([]float64, n)
			for range 5 {
				for j := range g32 {
					g32[j] = float32(r.NormFloat64())
					g64[j] = float64(g32[j])
				}
				opt.Step([][]float32{p32[:100], p32[100:]}, [][]float32{g32[:100], g32[100:]})
				ref.step(p64, g64)
			}
			for j := range p32 {
				// 5 steps of float32 updates of size ≤ lr on values of order 1.
				if !near(float64(p32[j]), p64[j], 1e-5) {
					t.Fatalf("p[%d] = %.8f, float64 reference %.8f", j, p32[j], p64[j])
				}
			}
		})
	}
}

// TestQuadraticConverges minimises f(x) = Σ c_i (x_i − t_i)²/2 from 0.
func TestQuadraticConverges(t *testing.T) {
	target := []float32{3, -1, 0.5, 2}
	curv := []float32{1, 4, 0.5, 2}
	tests := []struct {
		cfg   Config
		steps int
	}{
		{Config{Name: "sgd", LR: 0.2}, 200},
		{Config{Name: "sgd", LR: 0.05, Momentum: 0.9}, 300},
		{Config{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true}, 300},
		{Config{Name: "adam", LR: 0.05}, 2000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/m=%v/nesterov=%v", tt.cfg.Name, tt.cfg.Momentum, tt.cfg.Nesterov), func(t *testing.T) {
			opt, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, len(target))
			g := make([]float32, len(target))
			for range tt.steps {
				for i := range x {
					g[i] = curv[i] * (x[i] - target[i])
				}
				opt.Step([][]float32{x}, [][]float32{g})
			}
			for i := range x {
				if math.Abs(float64(x[i]-target[i])) > 1e-3 {
					t.Errorf("x[%d] = %v after %d steps, want %v", i, x[i], tt.steps, target[i])
				}
			}
		})
	}
}

func TestResetAndShapes(t *testing.T) {
	opt := NewSGD(0.1, 0.9, 0, false)
	p := []float32{1}
	opt.Step([][]float32{p}, [][]float32{{1}}) // buf = 1, p = 0.9
	opt.Reset()
	opt.Step([][]float32{p}, [][]float32{{1}}) // first step again: buf = 1, p = 0.8
	if !near(float64(p[0]), 0.8, tol32) {
		t.Errorf("after Reset p = %v, want 0.8 (buffer not forgotten)", p[0])
	}
	// A different model after Reset is fine.
	opt.Reset()
	opt.Step([][]float32{{1, 2}}, [][]float32{{1, 1}})

	panics := []struct {
		name string
		opt  Optimizer
		p, g [][]float32
	}{
		{"sgd count", NewSGD(0.1, 0, 0, false), [][]float32{{1}}, [][]float32{{1}, {2}}},
		{"sgd length", NewSGD(0.1, 0, 0, false), [][]float32{{1, 2}}, [][]float32{{1}}},
		{"sgd state", opt, [][]float32{{1, 2, 3}}, [][]float32{{1, 2, 3}}},
		{"adam length", NewAdam(0.1, 0.9, 0.999, 1e-8, 0), [][]float32{{1}}, [][]float32{{1, 2}}},
	}
	for _, tt := range panics {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("Step did not panic")
				}
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "optim: ") {
					t.Errorf("panic value %v lacks the package prefix", r)
				}
			}()
			tt.opt.Step(tt.p, tt.g)
		})
	}
}

func TestLRAccessors(t *testing.T) {
	for _, opt := range []Optimizer{NewSGD(0.1, 0, 0, false), NewAdam(0.1, 0.9, 0.999, 1e-8, 0)} {
		if opt.LR() != 0.1 {
			t.Errorf("%T LR() = %v, want 0.1", opt, opt.LR())
		}
		opt.SetLR(0)
		p := []float32{1}
		opt.Step([][]float32{p}, [][]float32{{1}})
		if p[0] != 1 {
			t.Errorf("%T with lr 0 moved p to %v", opt, p[0])
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
		typ  string
	}{
		{"default", DefaultConfig(), nil, "*optim.SGD"},
		{"empty name", Config{LR: 0.1}, nil, "*optim.SGD"},
		{"adam zero betas", Config{Name: "Adam", LR: 0.001}, nil, "*optim.Adam"},
		{"unknown", Config{Name: "rmsprop", LR: 0.1}, ErrUnknown, ""},
		{"negative lr", Config{Name: "sgd", LR: -1}, ErrConfig, ""},
		{"nan lr", Config{Name: "sgd", LR: math.NaN()}, ErrConfig, ""},
		{"momentum", Config{Name: "sgd", LR: 0.1, Momentum: -0.5}, ErrConfig, ""},
		{"decay", Config{Name: "sgd", LR: 0.1, WeightDecay: -1}, ErrConfig, ""},
		{"nesterov", Config{Name: "sgd", LR: 0.1, Nesterov: true}, ErrConfig, ""},
		{"beta1", Config{Name: "adam", LR: 0.1, Beta1: 1}, ErrConfig, ""},
		{"beta2", Config{Name: "adam", LR: 0.1, Beta2: 1.5}, ErrConfig, ""},
		{"eps", Config{Name: "adam", LR: 0.1, Eps: -1}, ErrConfig, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%+v) error %v, want %v", tt.cfg, err, tt.want)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "optim: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if got := fmt.Sprintf("%T", opt); got != tt.typ {
				t.Errorf("New gave %s, want %s", got, tt.typ)
			}
		})
	}
	cfg := Config{Name: "adam", LR: 0.001}
	if err := cfg.Validate(); err != nil || cfg.Beta1 != 0.9 || cfg.Beta2 != 0.999 || cfg.Eps != 1e-8 {
		t.Errorf("Validate filled %+v (err %v), want PyTorch's Adam defaults", cfg, err)
	}
}

func TestSchedules(t *testing.T) {
	const base = 0.1
	tests := []struct {
		cfg  ScheduleConfig
		want func(e int) float64 // closed form
	}{
		{ScheduleConfig{Name: "none"}, func(int) float64 { return base }},
		{ScheduleConfig{Name: "step", StepSize: 3, Gamma: 0.5},
			func(e int) float64 { return base * math.Pow(0.5, float64(e/3)) }},
		{ScheduleConfig{Name: "StepLR", StepSize: 1, Gamma: 0.9},
			func(e int) float64 { return base * math.Pow(0.9, float64(e)) }},
		{ScheduleConfig{Name: "exponential", Gamma: 0.95},
			func(e int) float64 { return base * math.Pow(0.95, float64(e)) }},
		{ScheduleConfig{Name: "cosine", TMax: 10, EtaMin: 0.001},
			func(e int) float64 { return 0.001 + (base-0.001)*(1+math.Cos(math.Pi*float64(e)/10))/2 }},
		// FLTK's MinCapableStepLR: 0.1 → 0.05 → 0.025 → 0.0125; the next
		// (0.00625) is below 0.01, so 0.0125 stays for good.
		{ScheduleConfig{Name: "min-step", StepSize: 2, Gamma: 0.5, MinLR: 0.01},
			func(e int) float64 { return base * math.Pow(0.5, float64(min(e/2, 3))) }},
		// A floor exactly on a decayed value is reached (≥ min_lr is kept).
		{ScheduleConfig{Name: "MinCapableStepLR", StepSize: 1, Gamma: 0.5, MinLR: 0.025},
			func(e int) float64 { return base * math.Pow(0.5, float64(min(e, 2))) }},
		// A base below the floor never decays.
		{ScheduleConfig{Name: "min_step", StepSize: 1, Gamma: 0.5, MinLR: 0.2},
			func(int) float64 { return base }},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Name, func(t *testing.T) {
			s, err := NewSchedule(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range []int{0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 20, 37} {
				// The chained forms multiply step by step: a few ulps.
				if got, want := s.LR(base, e), tt.want(e); !near(got, want, 1e-13) {
					t.Errorf("LR(%v, %d) = %.17g, want %.17g", base, e, got, want)
				}
			}
			if got := s.LR(base, -3); got != s.LR(base, 0) {
				t.Errorf("LR at epoch -3 = %v, want the epoch-0 rate %v", got, s.LR(base, 0))
			}
		})
	}
	// FLTK's client defaults: step 50, gamma 0.5, min 1e-10, from lr 0.001.
	s, err := NewSchedule(ScheduleConfig{Name: "min-step", StepSize: 50, Gamma: 0.5, MinLR: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		epoch int
		want  float64
	}{{49, 0.001}, {50, 0.0005}, {99, 0.0005}, {100, 0.00025}, {1000, 0.001 / (1 << 20)}, {1e6, 0.001 / (1 << 23)}} {
		// 0.001/2^23 ≈ 1.19e-10 ≥ 1e-10 > 0.001/2^24.
		if got := s.LR(0.001, tc.epoch); !near(got, tc.want, 1e-13) {
			t.Errorf("FLTK defaults: LR(0.001, %d) = %g, want %g", tc.epoch, got, tc.want)
		}
	}
}

func TestScheduleConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ScheduleConfig
		want error
	}{
		{"empty", ScheduleConfig{}, nil},
		{"defaults filled", ScheduleConfig{Name: "step"}, nil},
		{"unknown", ScheduleConfig{Name: "plateau"}, ErrUnknown},
		{"step size", ScheduleConfig{Name: "step", StepSize: -1}, ErrConfig},
		{"gamma", ScheduleConfig{Name: "exponential", Gamma: -0.5}, ErrConfig},
		{"min lr", ScheduleConfig{Name: "min-step", MinLR: -1}, ErrConfig},
		{"tmax", ScheduleConfig{Name: "cosine", TMax: -2}, ErrConfig},
		{"eta min", ScheduleConfig{Name: "cosine", EtaMin: math.Inf(1)}, ErrConfig},
		{"unused field ignored", ScheduleConfig{Name: "none", StepSize: -1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSchedule(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Errorf("NewSchedule(%+v) error %v, want %v", tt.cfg, err, tt.want)
			}
		})
	}
	cfg := ScheduleConfig{Name: "step"}
	if err := cfg.Validate(); err != nil || cfg.StepSize != 50 || cfg.Gamma != 0.5 {
		t.Errorf("Validate gave %+v, %v; want FLTK's step 50, gamma 0.5", cfg, err)
	}
}

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name    string
		grads   [][]float32
		max     float64
		norm    float64
		clipped [][]float32
	}{
		// ‖(3, 4, 12)‖ = 13; clip to 6.5: factor 6.5/(13+1e-6).
		{"clip", [][]float32{{3, 4}, {12}}, 6.5, 13, [][]float32{{1.5, 2}, {6}}},
		{"under", [][]float32{{3, 4}}, 10, 5, [][]float32{{3, 4}}},
		{"off", [][]float32{{3, 4}}, 0, 5, [][]float32{{3, 4}}},
		{"empty", nil, 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			norm := ClipGradNorm(tt.grads, tt.max)
			if !near(norm, tt.norm, 1e-12) {
				t.Errorf("norm = %v, want %v", norm, tt.norm)
			}
			for i, g := range tt.grads {
				for j := range g {
					if !near(float64(g[j]), float64(tt.clipped[i][j]), tol32) {
						t.Errorf("grads[%d][%d] = %v, want %v", i, j, g[j], tt.clipped[i][j])
					}
				}
			}
		})
	}
	g := [][]float32{{float32(math.NaN()), 1}}
	if n := ClipGradNorm(g, 1); !math.IsNaN(n) || g[0][1] != 1 {
		t.Errorf("NaN gradient: norm %v, grads %v; want NaN and grads untouched", n, g)
	}
}

// TestStepAllocs checks that Steps after the first allocate nothing.
func TestStepAllocs(t *testing.T) {
	params := [][]float32{make([]float32, 1000), make([]float32, 10)}
	grads := [][]float32{make([]float32, 1000), make([]float32, 10)}
	for _, opt := range []Optimizer{
		NewSGD(0.01, 0, 0, false),
		NewSGD(0.01, 0.9, 1e-4, true),
		NewAdam(0.01, 0.9, 0.999, 1e-8, 1e-4),
	} {
		opt.Step(params, grads)
		if a := testing.AllocsPerRun(10, func() { opt.Step(params, grads) }); a != 0 {
			t.Errorf("%T: %v allocations per Step, want 0", opt, a)
		}
	}
}

// BenchmarkSGDStep steps 1.6M parameters (≈ McMahan's MNIST CNN, 1 663 370)
// split into 8 tensors.
func BenchmarkSGDStep(b *testing.B) {
	const n = 1_600_000
	mk := func() [][]float32 {
		out := make([][]float32, 8)
		for i := range out {
			out[i] = make([]float32, n/8)
			for j := range out[i] {
				out[i][j] = float32(j%13) * 1e-3
			}
		}
		return out
	}
	for _, bc := range []struct {
		name string
		opt  Optimizer
	}{
		{"Opt=sgd", NewSGD(1e-3, 0, 0, false)},
		{"Opt=sgd/Momentum=0.9", NewSGD(1e-3, 0.9, 0, false)},
		{"Opt=sgd/Momentum=0.9/Decay=1e-4/Nesterov", NewSGD(1e-3, 0.9, 1e-4, true)},
		{"Opt=adam", NewAdam(1e-3, 0.9, 0.999, 1e-8, 0)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			params, grads := mk(), mk()
			bc.opt.Step(params, grads)
			b.SetBytes(n * 4)
			for b.Loop() {
				bc.opt.Step(params, grads)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/param")
		})
	}
}
