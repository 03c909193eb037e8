package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// newCharLSTM builds CharLSTM with a small configuration.
func newCharLSTM(tb testing.TB, vocab, seqLen, hidden, embed, batch, evalBatch int, seed uint64) Model {
	tb.Helper()
	m, err := New("CharLSTM", Config{Batch: batch, EvalBatch: evalBatch, Seed: seed,
		Classes: vocab, SeqLen: seqLen, Hidden: hidden, Embed: embed})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

// refCharLSTM is a naive float64 CharLSTM forward pass over the State of
// a model with vocabulary v, e embedding dims and h units: it returns the
// summed cross-entropy over the n·T positions of x (T = len(x)/n) and the
// argmax predictions, sample-major.
func refCharLSTM(state []float32, v, e, h, n int, x []float32, y []int32) (float64, []int32) {
	off := 0
	take := func(k int) []float32 { s := state[off : off+k]; off += k; return s }
	emb, wx, wh, bias, wo, bo := take(v*e), take(e*4*h), take(h*4*h), take(4*h), take(h*v), take(v)
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	steps := len(x) / n
	var sum float64
	pred := make([]int32, 0, len(x))
	for i := range n {
		hs, cs := make([]float64, h), make([]float64, h)
		for t := range steps {
			tok := int(x[i*steps+t])
			z := make([]float64, 4*h)
			for j := range z {
				z[j] = float64(bias[j])
				for k := range e {
					z[j] += float64(emb[tok*e+k]) * float64(wx[k*4*h+j])
				}
				for k := range h {
					z[j] += hs[k] * float64(wh[k*4*h+j])
				}
			}
			for j := range h { // gates i, f, g, o
				cs[j] = sig(z[h+j])*cs[j] + sig(z[j])*math.Tanh(z[2*h+j])
				hs[j] = sig(z[3*h+j]) * math.Tanh(cs[j])
			}
			logits := make([]float64, v)
			for j := range logits {
				logits[j] = float64(bo[j])
				for k := range h {
					logits[j] += hs[k] * float64(wo[k*v+j])
				}
			}
			best, lse := 0, 0.0
			mx := slices.Max(logits)
			for j, l := range logits {
				lse += math.Exp(l - mx)
				if l > logits[best] {
					best = j
				}
			}
			sum -= logits[y[i*steps+t]] - mx - math.Log(lse)
			pred = append(pred, int32(best))
		}
	}
	return sum, pred
}

// TestCharLSTMReference checks Evaluate of n < EvalBatch samples (after a
// few training steps) against the naive forward pass: the token order of
// the graph's input (time-major) and output (sample-major) and the gate
// order. Only pred[:n·T] is written.
func TestCharLSTMReference(t *testing.T) {
	const v, T, h, e, n = 12, 5, 8, 4, 3
	m := newCharLSTM(t, v, T, h, e, 4, 6, 3)
	if got := m.InputShape(); !slices.Equal(got, []int{T}) {
		t.Errorf("InputShape %v, want [%d]", got, T)
	}
	if c := m.Config(); c.SeqLen != T || c.Hidden != h || c.Embed != e || c.Classes != v {
		t.Errorf("Config %+v", c)
	}
	x, y := batchFor(m, 4, 1)
	for range 3 {
		if _, err := m.TrainStep(x, y); err != nil {
			t.Fatal(err)
		}
		sgd(m, 0.5)
	}
	x, y = batchFor(m, n, 2)
	pred := slices.Repeat([]int32{-1}, 6*T)
	got, err := m.Evaluate(x, y, n, pred)
	if err != nil {
		t.Fatal(err)
	}
	want, wantPred := refCharLSTM(m.State(nil), v, e, h, n, x, y)
	// float32 graph against float64 reference over 15 positions of
	// ≈ ln 12 each: 1e-5 relative is ~100 float32 ulps.
	if math.Abs(got-want) > 1e-5*want {
		t.Errorf("Evaluate loss sum %.7g, reference %.7g", got, want)
	}
	if !slices.Equal(pred[:n*T], wantPred) {
		t.Errorf("predictions %v, reference %v", pred[:n*T], wantPred)
	}
	if slices.ContainsFunc(pred[n*T:], func(p int32) bool { return p != -1 }) {
		t.Errorf("Evaluate of %d samples wrote past pred[:%d]: %v", n, n*T, pred)
	}
}

// TestCharLSTMEvaluate checks that Evaluate of n < EvalBatch samples is
// the sum of the per-sample evaluations (padding does not leak into
// them) and that its mean over a full training batch is TrainStep's loss.
func TestCharLSTMEvaluate(t *testing.T) {
	const T = 4
	m := newCharLSTM(t, 9, T, 6, 3, 3, 5, 8)
	x, y := batchFor(m, 3, 4)
	loss, err := m.TrainStep(x, y)
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]int32, 5*T)
	all, err := m.Evaluate(x, y, 3, pred)
	if err != nil {
		t.Fatal(err)
	}
	// One graph (batch 3) against another (batch 5): float32 rounding.
	if math.Abs(all/(3*T)-loss) > 1e-5*loss {
		t.Errorf("Evaluate mean %v, TrainStep loss %v", all/(3*T), loss)
	}
	var sum float64
	one := make([]int32, T)
	for i := range 3 {
		l, err := m.Evaluate(x[i*T:(i+1)*T], y[i*T:(i+1)*T], 1, one)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, pred[i*T:(i+1)*T]) {
			t.Errorf("sample %d alone predicted %v, in the batch %v", i, one, pred[i*T:(i+1)*T])
		}
		sum += l
	}
	if math.Abs(sum-all) > 1e-5*all {
		t.Errorf("per-sample losses sum to %v, the batch gives %v", sum, all)
	}
}

// TestCharLSTMTraining trains on a repeated phrase with plain SGD: the
// next character depends on up to two previous ones ("l" is followed by
// "l", "o" or "d"), so the LSTM has to use its state. The loss must fall
// from ≈ ln 9 to a small fraction of it and the held-out windows must be
// predicted almost perfectly.
func TestCharLSTMTraining(t *testing.T) {
	const text, T, batch = "hello world! ", 5, 8
	vocab := []rune{}
	for _, r := range text {
		if !slices.Contains(vocab, r) {
			vocab = append(vocab, r)
		}
	}
	id := func(k int) float32 { return float32(slices.Index(vocab, rune(text[k%len(text)]))) }
	window := func(start int, x []float32, y []int32) {
		for t := range T {
			x[t] = id(start + t)
			y[t] = int32(id(start + t + 1))
		}
	}
	m := newCharLSTM(t, len(vocab), T, 16, 8, batch, len(text), 1)
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float32, batch*T), make([]int32, batch*T)
	var first, last float64
	const steps = 300
	for s := range steps {
		for i := range batch {
			window(r.IntN(len(text)), x[i*T:], y[i*T:])
		}
		loss, err := m.TrainStep(x, y)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = loss
		}
		if s >= steps-20 {
			last += loss / 20
		}
		sgd(m, 1)
	}
	// Every rotation of the phrase once.
	ex, ey := make([]float32, len(text)*T), make([]int32, len(text)*T)
	for i := range len(text) {
		window(i, ex[i*T:], ey[i*T:])
	}
	pred := make([]int32, len(ey))
	sum, err := m.Evaluate(ex, ey, len(text), pred)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, p := range pred {
		if p == ey[i] {
			correct++
		}
	}
	acc := float64(correct) / float64(len(ey))
	t.Logf("%d steps: first loss %.3f (ln %d = %.3f), last 20 %.3f; all windows: mean loss %.3f, accuracy %.2f",
		steps, first, len(vocab), math.Log(float64(len(vocab))), last, sum/float64(len(ey)), acc)
	if first < 1.5 || last > first/4 || acc < 0.9 {
		t.Errorf("training failed: first loss %.3f, last %.3f, accuracy %.2f", first, last, acc)
	}
}

// TestCharLSTMBadInput checks that token ids must be integers in [0, V)
// and that TrainStep wants Batch·T labels.
func TestCharLSTMBadInput(t *testing.T) {
	const T = 3
	m := newCharLSTM(t, 5, T, 4, 2, 2, 2, 1)
	good, y := batchFor(m, 2, 1)
	for _, tt := range []struct {
		name string
		tok  float32
	}{{"fraction", 1.5}, {"negative", -1}, {"vocab size", 5}, {"NaN", float32(math.NaN())}, {"huge", 1e10}} {
		t.Run(tt.name, func(t *testing.T) {
			x := slices.Clone(good)
			x[4] = tt.tok
			if _, err := m.TrainStep(x, y); !errors.Is(err, ErrBadInput) {
				t.Errorf("TrainStep with token %v: %v, want ErrBadInput", tt.tok, err)
			}
			if _, err := m.Evaluate(x, y, 2, make([]int32, 2*T)); !errors.Is(err, ErrBadInput) {
				t.Errorf("Evaluate with token %v: %v, want ErrBadInput", tt.tok, err)
			}
		})
	}
	if _, err := m.TrainStep(good, y[:2]); !errors.Is(err, ErrBadInput) {
		t.Errorf("TrainStep with 2 labels for 2 windows of %d: %v, want ErrBadInput", T, err)
	}
	if _, err := m.Evaluate(good, y, 2, make([]int32, 2*T-1)); !errors.Is(err, ErrBadInput) {
		t.Errorf("Evaluate with room for %d predictions: %v, want ErrBadInput", 2*T-1, err)
	}
	if _, err := m.TrainStep(good, y); err != nil {
		t.Errorf("TrainStep with good tokens after bad ones: %v", err)
	}
}
