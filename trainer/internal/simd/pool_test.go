package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool22Row compares the assembly (where the CPU has it) with the
// Go loop bit for bit: values, indices, NaNs, signed zeros, ties and every
// length up to 40 (tails that are not a multiple of 8).
func TestMaxPool22Row(t *testing.T) {
	if !HasAVX2FMA {
		t.Log("no AVX2 on this CPU: MaxPool22Row is the Go loop")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), -float32(math.NaN())}
	for n := range 41 {
		for trial := range 50 {
			w := 2*n + rng.IntN(3)
			r0 := make([]float32, w)
			r1 := make([]float32, w)
			for i := range r0 {
				switch rng.IntN(4) {
				case 0:
					r0[i], r1[i] = special[rng.IntN(len(special))], special[rng.IntN(len(special))]
				case 1: // ties
					r0[i], r1[i] = 0.5, 0.5
				default:
					r0[i], r1[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				}
			}
			base := rng.IntN(1000)
			y, idx := make([]float32, n), make([]int32, n)
			wy, widx := make([]float32, n), make([]int32, n)
			MaxPool22Row(r0, r1, y, idx, base, w)
			maxPool22RowGo(r0, r1, wy, widx, base, w, 0)
			for k := range n {
				if math.Float32bits(y[k]) != math.Float32bits(wy[k]) || idx[k] != widx[k] {
					t.Fatalf("n=%d trial %d output %d: got %v at %d, want %v at %d", n, trial, k, y[k], idx[k], wy[k], widx[k])
				}
			}
		}
	}
}

// BenchmarkMaxPool22Row pools 256 planes of 28×28 (one batch of 16 with
// 16 channels) of ReLU-like data, so that branches cannot be learned.
func BenchmarkMaxPool22Row(b *testing.B) {
	const w, planes = 28, 256
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, planes*w*w)
	for i := range x {
		x[i] = max(0, float32(r.NormFloat64()))
	}
	y, idx := make([]float32, len(x)/4), make([]int32, len(x)/4)
	pool := func(f func(r0, r1, y []float32, idx []int32, base, w int)) {
		for row := range planes * w / 2 {
			in := x[2*row*w:]
			f(in[:w], in[w:2*w], y[row*w/2:(row+1)*w/2], idx[row*w/2:(row+1)*w/2], 0, w)
		}
	}
	b.Run("asm", func(b *testing.B) {
		for b.Loop() {
			pool(MaxPool22Row)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			pool(func(r0, r1, y []float32, idx []int32, base, w int) { maxPool22RowGo(r0, r1, y, idx, base, w, 0) })
		}
	})
}
