package partition

import (
	"math"
	"math/rand/v2"
)

// logGamma draws X ~ Gamma(a, 1) and returns log X, by Marsaglia and Tsang
// (2000), "A simple method for generating gamma variables". For a < 1 it
// uses their boost X = Y·U^(1/a) with Y ~ Gamma(a+1, 1); working in logs
// keeps tiny variates (a = 0.01 gives X below 1e-300) from underflowing
// to zero. a must be > 0.
func logGamma(r *rand.Rand, a float64) float64 {
	var boost float64
	if a < 1 {
		boost = math.Log(1-r.Float64()) / a // 1−U is in (0, 1]
		a++
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 || math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return math.Log(d*v) + boost
		}
	}
}

// dirichletSample fills p with a draw from the symmetric Dirichlet
// distribution Dir(alpha, …, alpha): normalised Gamma(alpha) variates,
// normalised in log space.
func dirichletSample(r *rand.Rand, alpha float64, p []float64) {
	top := math.Inf(-1)
	for i := range p {
		p[i] = logGamma(r, alpha)
		top = max(top, p[i])
	}
	var sum float64
	for i := range p {
		p[i] = math.Exp(p[i] - top)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}
