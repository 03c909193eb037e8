package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// goOnly runs f with the assembly turned off.
func goOnly(f func()) {
	saved := hasAVX2
	hasAVX2 = false
	defer func() { hasAVX2 = saved }()
	f()
}

// randomVec returns n values: mostly normal, some special (±0, ±Inf, NaN,
// tiny and huge) when special is set.
func randomVec(rng *rand.Rand, n int, special bool) []float32 {
	sp := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, 3e38}
	x := make([]float32, n)
	for i := range x {
		if special && rng.IntN(5) == 0 {
			x[i] = sp[rng.IntN(len(sp))]
		} else {
			x[i] = float32(rng.NormFloat64()*3 + 1)
		}
	}
	return x
}

func sameBits(t *testing.T, what string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s n=%d element %d: assembly %v (%#x), Go %v (%#x)", what, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestBNKernelsMatchGo checks every kernel's assembly against its Go loop
// bit for bit, for every length up to 41 (tails), with special values, and
// against float64 arithmetic on ordinary values.
func TestBNKernelsMatchGo(t *testing.T) {
	if !HasAVX2FMA {
		t.Log("no AVX2 on this CPU: the kernels are the Go loops")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 42 {
		for trial := range 20 {
			special := trial%2 == 1
			a, b, h := randomVec(rng, n, special), randomVec(rng, n, special), randomVec(rng, n, special)
			mu, is, g, be := float32(rng.NormFloat64()), float32(rng.Float64()+0.1), float32(rng.NormFloat64()), float32(rng.NormFloat64())

			sa, sab := SumDot(a, b)
			var wa, wab float64
			goOnly(func() { wa, wab = SumDot(a, b) })
			if math.Float64bits(sa) != math.Float64bits(wa) && !(math.IsNaN(sa) && math.IsNaN(wa)) ||
				math.Float64bits(sab) != math.Float64bits(wab) && !(math.IsNaN(sab) && math.IsNaN(wab)) {
				t.Fatalf("SumDot n=%d: assembly %v %v, Go %v %v", n, sa, sab, wa, wab)
			}
			if !special {
				var ra, rab float64
				for i := range a {
					ra += float64(a[i])
					rab += float64(a[i]) * float64(b[i])
				}
				if math.Abs(sa-ra) > 1e-12*(1+math.Abs(ra)) || math.Abs(sab-rab) > 1e-12*(1+math.Abs(rab)) {
					t.Fatalf("SumDot n=%d: %v %v, float64 loop %v %v", n, sa, sab, ra, rab)
				}
			}

			for _, withH := range []bool{true, false} {
				y, hh, wy, wh := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
				if !withH {
					hh, wh = nil, nil
				}
				Normalize(y, hh, a, mu, is, g, be)
				goOnly(func() { Normalize(wy, wh, a, mu, is, g, be) })
				sameBits(t, "Normalize y", n, y, wy)
				if withH {
					sameBits(t, "Normalize h", n, hh, wh)
				}
				if !special {
					for i := range a {
						want := (float64(a[i])-float64(mu))*float64(is)*float64(g) + float64(be)
						if math.Abs(float64(y[i])-want) > 1e-5*(1+math.Abs(want)) {
							t.Fatalf("Normalize n=%d element %d: %v, want %v", n, i, y[i], want)
						}
					}
				}
			}

			dx, wdx := make([]float32, n), make([]float32, n)
			BNInputGrad(dx, a, h, is, mu, g)
			goOnly(func() { BNInputGrad(wdx, a, h, is, mu, g) })
			sameBits(t, "BNInputGrad", n, dx, wdx)

			r, wr := make([]float32, n), make([]float32, n)
			ReLU(r, a)
			goOnly(func() { ReLU(wr, a) })
			sameBits(t, "ReLU", n, r, wr)
			for i, v := range a {
				if v > 0 && r[i] != v || v <= 0 && math.Float32bits(r[i]) != 0 || v != v && r[i] == r[i] {
					t.Fatalf("ReLU n=%d: max(%v, 0) = %v", n, v, r[i])
				}
			}

			m, wm := make([]float32, n), make([]float32, n)
			ReLUMask(m, r, b)
			goOnly(func() { ReLUMask(wm, r, b) })
			sameBits(t, "ReLUMask", n, m, wm)
			for i := range r {
				if want := b[i]; r[i] == 0 && math.Float32bits(m[i]) != 0 || r[i] != 0 && math.Float32bits(m[i]) != math.Float32bits(want) {
					t.Fatalf("ReLUMask n=%d element %d: y %v dy %v gave %v", n, i, r[i], b[i], m[i])
				}
			}
		}
	}
}

// BenchmarkBNKernels runs each kernel over one FashionMNIST-CNN batch-16
// activation of the first layer (16·16·784 values), assembly and Go.
func BenchmarkBNKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 16 * 16 * 784
	x, h, y := randomVec(rng, n, false), randomVec(rng, n, false), make([]float32, n)
	for _, impl := range []string{"asm", "go"} {
		run := func(name string, f func()) {
			b.Run(name+"/"+impl, func(b *testing.B) {
				b.SetBytes(4 * n)
				for b.Loop() {
					if impl == "go" {
						goOnly(f)
					} else {
						f()
					}
				}
			})
		}
		run("SumDot", func() { SumDot(x, h) })
		run("Normalize", func() { Normalize(y, h, x, 0.5, 2, 1.5, 0.1) })
		run("BNInputGrad", func() { BNInputGrad(y, x, h, 0.5, 2, 1.5) })
		run("ReLU", func() { ReLU(y, x) })
		run("ReLUMask", func() { ReLUMask(y, h, x) })
	}
}

// TestSGDKernelsMatchGo checks the SGD updates' assembly against their Go
// loops bit for bit, for every length up to 41, with special values.
func TestSGDKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := range 42 {
		for trial := range 10 {
			special := trial%2 == 1
			p, b, g := randomVec(rng, n, special), randomVec(rng, n, special), randomVec(rng, n, special)
			lr, m := float32(rng.Float64()), float32(rng.Float64())
			p1, p2 := append([]float32(nil), p...), append([]float32(nil), p...)
			SGDStep(p1, g, lr)
			goOnly(func() { SGDStep(p2, g, lr) })
			sameBits(t, "SGDStep", n, p1, p2)
			for i := range p {
				if !special && math.Abs(float64(p1[i])-(float64(p[i])-float64(lr)*float64(g[i]))) > 1e-5*(1+math.Abs(float64(p[i]))) {
					t.Fatalf("SGDStep n=%d: p[%d] = %v from %v − %v·%v", n, i, p1[i], p[i], lr, g[i])
				}
			}
			p1, p2 = append([]float32(nil), p...), append([]float32(nil), p...)
			b1, b2 := append([]float32(nil), b...), append([]float32(nil), b...)
			SGDMomentum(p1, b1, g, lr, m)
			goOnly(func() { SGDMomentum(p2, b2, g, lr, m) })
			sameBits(t, "SGDMomentum p", n, p1, p2)
			sameBits(t, "SGDMomentum b", n, b1, b2)
		}
	}
}

// TestAddSumMatchGo checks Add and Sum's assembly against their Go loops
// bit for bit, for every length up to 41, with special values, and Sum
// against a float64 sum.
func TestAddSumFillMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for n := range 42 {
		for trial := range 10 {
			special := trial%2 == 1
			x, y := randomVec(rng, n, special), randomVec(rng, n, special)
			d1, d2 := append([]float32(nil), y...), append([]float32(nil), y...)
			Add(d1, x)
			goOnly(func() { Add(d2, x) })
			sameBits(t, "Add", n, d1, d2)
			for i := range y {
				if want := y[i] + x[i]; math.Float32bits(d1[i]) != math.Float32bits(want) && !(want != want && d1[i] != d1[i]) {
					t.Fatalf("Add n=%d: %v + %v = %v", n, y[i], x[i], d1[i])
				}
			}
			f := append(append([]float32(nil), y...), 7) // a guard after the end
			v := x[0:min(1, n)]
			fv := float32(-0.5)
			if len(v) == 1 {
				fv = v[0]
			}
			Fill(f[:n], fv)
			for i, e := range f {
				if want := map[bool]float32{true: fv, false: 7}[i < n]; math.Float32bits(e) != math.Float32bits(want) {
					t.Fatalf("Fill n=%d: element %d = %v, want %v", n, i, e, want)
				}
			}
			s := Sum(x)
			var w float32
			goOnly(func() { w = Sum(x) })
			if math.Float32bits(s) != math.Float32bits(w) && !(s != s && w != w) {
				t.Fatalf("Sum n=%d: assembly %v, Go %v", n, s, w)
			}
			if !special {
				var ref float64
				for _, v := range x {
					ref += float64(v)
				}
				if math.Abs(float64(s)-ref) > 1e-5*(1+math.Abs(ref)) {
					t.Fatalf("Sum n=%d: %v, float64 sum %v", n, s, ref)
				}
			}
		}
	}
}
