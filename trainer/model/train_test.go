package model

import (
	"math/rand/v2"
	"testing"
)

// separable returns n samples of 10 classes: each class is a random ±1
// pattern over the 784 pixels, and a sample is its class pattern scaled by
// U(0.5, 1.5) plus Gaussian noise of σ 1 per pixel — linearly separable in
// expectation but noisy pixel by pixel.
func separable(n int, seed uint64) ([]float32, []int32) {
	r := rand.New(rand.NewPCG(seed, 7))
	protos := make([][]float32, 10)
	for c := range protos {
		protos[c] = make([]float32, 784)
		for i := range protos[c] {
			protos[c][i] = float32(2*r.IntN(2) - 1)
		}
	}
	x := make([]float32, n*784)
	y := make([]int32, n)
	for s := range n {
		c := r.IntN(10)
		y[s] = int32(c)
		a := 0.5 + r.Float32()
		for i, p := range protos[c] {
			x[s*784+i] = a*p + float32(r.NormFloat64())
		}
	}
	return x, y
}

// TestTrainingSanity trains MNIST2NN with plain SGD (w -= lr·g over
// Params/Grads) on 300 generated samples and checks that the loss falls
// from ≈ ln 10 and that held-out accuracy is high.
func TestTrainingSanity(t *testing.T) {
	const batch, lr = 10, 0.05
	m := newModel(t, "MNIST2NN", batch, 100, 3)
	x, y := separable(400, 3)
	trainX, trainY := x[:300*784], y[:300]
	testX, testY := x[300*784:], y[300:]

	pred := make([]int32, 100)
	before, err := m.Evaluate(testX, testY, 100, pred)
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	steps := 0
	for epoch := range 3 {
		for lo := 0; lo < 300; lo += batch {
			loss, err := m.TrainStep(trainX[lo*784:(lo+batch)*784], trainY[lo:lo+batch])
			if err != nil {
				t.Fatal(err)
			}
			if steps == 0 {
				first = loss
			}
			if epoch == 2 {
				last += loss / 30
			}
			sgd(m, lr)
			steps++
		}
	}
	after, err := m.Evaluate(testX, testY, 100, pred)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, p := range pred {
		if p == testY[i] {
			correct++
		}
	}
	t.Logf("%d steps: first loss %.3f, last epoch %.4f; held-out mean loss %.3f -> %.4f, accuracy %d%%",
		steps, first, last, before/100, after/100, correct)
	if first < 1.5 || last > first/10 || after > before/10 || correct < 95 {
		t.Errorf("training failed: first loss %.3f, last epoch %.4f, held-out loss %.3f -> %.4f, accuracy %d%%",
			first, last, before/100, after/100, correct)
	}
}
