package fed

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// TestLossyCodecsKeepCountsExact runs a short job with each codec as the
// Comms' default. A codec, lossy or not, may change the model payloads
// only: every round must report exactly the samples its selected clients
// trained and a confusion matrix over the whole test set, and the final
// accuracy must stay within codecTolerance of the run without a codec.
func TestLossyCodecsKeepCountsExact(t *testing.T) {
	// codecTolerance is the largest drop in final accuracy allowed against
	// none: 0.03 is 6 of the 200 test images. The synthetic classes are
	// separable and none reaches ≥ 0.95 in 3 rounds; bf16 keeps 8 bits of
	// mantissa (relative error ≤ 2⁻⁸) and int8 quantises each chunk to
	// max|x|/127 steps, perturbations far below what flips a prediction
	// of a model this far from its decision boundaries, so a larger drop
	// means the codec corrupted something besides rounding the weights.
	const codecTolerance = 0.03
	accuracy := map[collective.Codec]float64{}
	for _, codec := range []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd} {
		t.Run(codec.String(), func(t *testing.T) {
			tj := testConfig(t, 3)
			tj.codec = codec
			// 771 training images over 3 clients, all selected, batch 1:
			// each client trains 257 samples, a count bfloat16 cannot hold
			// (it rounds to 256), so a lossy metadata gather shows.
			writeSynthMNIST(t, filepath.Join(tj.DataDir, "mnist"), 771, 200)
			tj.Clients, tj.ClientsPerRound, tj.BatchSize = 3, 3, 1
			rec := &fakeRecorder{}
			if err := runWith(t, tj, rec); err != nil {
				t.Fatalf("codec %v: %v", codec, err)
			}
			if len(rec.rounds) != tj.Rounds {
				t.Fatalf("codec %v: %d rounds recorded, want %d", codec, len(rec.rounds), tj.Rounds)
			}
			for _, r := range rec.rounds {
				want := 0
				for _, c := range Select(tj.Seed, r.Round, tj.Clients, tj.ClientsPerRound) {
					n := rec.setup.Partition[c].Samples
					if n%tj.BatchSize != 0 {
						t.Fatalf("client %d holds %d samples, not a multiple of the batch %d: a round's samples would not be its clients'", c, n, tj.BatchSize)
					}
					if float32(n) == math.Float32frombits(math.Float32bits(float32(n))&^0xffff) {
						t.Fatalf("client %d holds %d samples, exact in bfloat16: the test would not see a lossy count", c, n)
					}
					want += n
				}
				if r.Samples != want {
					t.Errorf("codec %v round %d: %d samples, want %d (the selected clients' samples)", codec, r.Round, r.Samples, want)
				}
				if len(r.Clients) != tj.ClientsPerRound {
					t.Errorf("codec %v round %d: %d clients recorded, want %d", codec, r.Round, len(r.Clients), tj.ClientsPerRound)
				}
				if r.Metrics.N != 200 {
					t.Errorf("codec %v round %d: metrics over %d test images, want 200", codec, r.Round, r.Metrics.N)
				}
			}
			accuracy[codec] = rec.rounds[len(rec.rounds)-1].Metrics.Accuracy()
			t.Logf("codec %v: final accuracy %.4f", codec, accuracy[codec])
		})
	}
	base, ok := accuracy[collective.CodecNone]
	if !ok {
		t.Fatal("the run without a codec failed")
	}
	if base < 0.95 {
		t.Errorf("final accuracy without a codec %.3f, want ≥ 0.95 on separable synthetic data", base)
	}
	for codec, acc := range accuracy {
		if acc < base-codecTolerance {
			t.Errorf("codec %v: final accuracy %.4f, more than %.2f below none's %.4f", codec, acc, codecTolerance, base)
		}
	}
}

// TestFeedbackKeepsWhatTheCodecLost: with error feedback, what the
// federator decodes over many rounds adds up to the sum of the updates up
// to the residual (at most one rounding step), where sending the same
// update without feedback loses its rounding error every round.
func TestFeedbackKeepsWhatTheCodecLost(t *testing.T) {
	const rounds = 20
	rng := rand.New(rand.NewPCG(3, 4))
	u := make([]float32, 3000) // several chunks of 1 KiB
	for k := range u {
		u[k] = float32(rng.NormFloat64() * 1e-3)
	}
	for _, codec := range []collective.Codec{collective.CodecNone, collective.CodecZstd, collective.CodecBF16, collective.CodecInt8, collective.CodecInt8Zstd} {
		comms := collectivetest.NewNetwork(t, 2).Comms(t, collective.Config{JobID: "ef", ChunkBytes: 1024, Codec: codec})
		j := &job{comm: comms[1]}
		got := make([]float64, len(u))   // what the federator decodes, with feedback
		naive := make([]float64, len(u)) // … without
		for range rounds {
			upd := slices.Clone(u)
			if err := j.feedback(upd); err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
			plain := slices.Clone(u)
			for _, x := range [][]float32{upd, plain} {
				if err := collective.Decoded(j.comm, x, codec); err != nil {
					t.Fatal(err)
				}
			}
			for k := range u {
				got[k] += float64(upd[k])
				naive[k] += float64(plain[k])
			}
		}
		var errFB, errNaive, errSum float64
		for k, x := range u {
			want := rounds * float64(x)
			errFB = max(errFB, math.Abs(got[k]-want))
			errNaive = max(errNaive, math.Abs(naive[k]-want))
			var res float64
			if j.residual != nil {
				res = float64(j.residual[k])
			}
			errSum = max(errSum, math.Abs(got[k]+res-want))
		}
		// float32 sums of 20 values of ~1e-3: a few ulps of 2e-2.
		if errSum > 1e-8 {
			t.Errorf("%v: decoded sum + residual is %g off the sum of the updates", codec, errSum)
		}
		if !codec.Lossy() {
			if j.residual != nil || errFB > 1e-8 {
				t.Errorf("%v: lossless codec kept a residual (%v) or lost %g", codec, j.residual != nil, errFB)
			}
			continue
		}
		// The same update every round: without feedback its rounding error
		// adds up 20 times; with feedback at most one step remains.
		if !(errFB*5 < errNaive) {
			t.Errorf("%v: error after %d rounds with feedback %g, without %g: want feedback ≥ 5× smaller", codec, rounds, errFB, errNaive)
		}
		t.Logf("%v: largest error after %d rounds: %g with feedback, %g without", codec, rounds, errFB, errNaive)
	}
}
