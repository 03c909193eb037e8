package data

import (
	"math/rand/v2"
	"testing"
)

// refCropFlip is the naive reference: mirror, zero-pad with fill to
// (H+2P)×(W+2P), then crop at (dy+P, dx+P).
func refCropFlip(src []float32, c, h, w, pad, dy, dx int, flip bool, fill []float32) []float32 {
	out := make([]float32, 0, c*h*w)
	hp, wp := h+2*pad, w+2*pad
	for ch := range c {
		padded := make([]float32, hp*wp)
		for i := range padded {
			padded[i] = fill[ch]
		}
		for r := range h {
			for k := range w {
				sk := k
				if flip {
					sk = w - 1 - k
				}
				padded[(r+pad)*wp+k+pad] = src[ch*h*w+r*w+sk]
			}
		}
		for r := range h {
			for k := range w {
				out = append(out, padded[(r+dy+pad)*wp+k+dx+pad])
			}
		}
	}
	return out
}

func ramp(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i + 1)
	}
	return x
}

func TestCropFlipTransformMatchesReference(t *testing.T) {
	const c, h, w, pad = 2, 5, 7, 3 // not square, to catch swapped axes
	a := CropFlip{Channels: c, Height: h, Width: w, Pad: pad, Fill: []float32{-1, -2}}
	src := ramp(c * h * w)
	for dy := -pad; dy <= pad; dy++ {
		for dx := -pad; dx <= pad; dx++ {
			for _, flip := range []bool{false, true} {
				got := make([]float32, len(src))
				a.transform(got, src, dy, dx, flip)
				if want := refCropFlip(src, c, h, w, pad, dy, dx, flip, a.Fill); !equal(got, want) {
					t.Fatalf("dy %d dx %d flip %v:\n got %v\nwant %v", dy, dx, flip, got, want)
				}
			}
		}
	}
}

func TestCropFlipMirrorAndShift(t *testing.T) {
	a := CropFlip{Channels: 1, Height: 2, Width: 3, Pad: 1, Fill: []float32{0}}
	src := []float32{1, 2, 3, 4, 5, 6}
	for _, tt := range []struct {
		name   string
		dy, dx int
		flip   bool
		want   []float32
	}{
		{"identity", 0, 0, false, []float32{1, 2, 3, 4, 5, 6}},
		{"mirror", 0, 0, true, []float32{3, 2, 1, 6, 5, 4}},
		{"shift right (dx=-1)", 0, -1, false, []float32{0, 1, 2, 0, 4, 5}},
		{"shift up (dy=1)", 1, 0, false, []float32{4, 5, 6, 0, 0, 0}},
		{"mirror then shift left", 0, 1, true, []float32{2, 1, 0, 5, 4, 0}},
	} {
		got := make([]float32, 6)
		a.transform(got, src, tt.dy, tt.dx, tt.flip)
		if !equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCropFlipApply(t *testing.T) {
	a := TrainAugmenter("cifar10").(CropFlip)
	const n = 64
	sl := 3 * 32 * 32
	orig := ramp(n * sl)
	x := append([]float32(nil), orig...)
	a.Apply(rand.New(rand.NewPCG(42, 1)), x, n)

	// Replay the documented draws: dy, dx, flip per sample.
	rng := rand.New(rand.NewPCG(42, 1))
	seen := map[[3]int]bool{}
	for i := range n {
		dy, dx := rng.IntN(9)-4, rng.IntN(9)-4
		flip := rng.IntN(2) == 1
		f := 0
		if flip {
			f = 1
		}
		seen[[3]int{dy, dx, f}] = true
		want := refCropFlip(orig[i*sl:(i+1)*sl], 3, 32, 32, 4, dy, dx, flip, a.Fill)
		if !equal(x[i*sl:(i+1)*sl], want) {
			t.Fatalf("sample %d (dy %d dx %d flip %v) differs from the reference", i, dy, dx, flip)
		}
	}
	if len(seen) < 40 { // 64 draws from 162 combinations give ≈ 53 distinct
		t.Errorf("only %d distinct (dy, dx, flip) in %d samples", len(seen), n)
	}

	// Deterministic for a seed, different for another.
	y := append([]float32(nil), orig...)
	a.Apply(rand.New(rand.NewPCG(42, 1)), y, n)
	if !equal(x, y) {
		t.Error("same seed, different augmentation")
	}
	z := append([]float32(nil), orig...)
	a.Apply(rand.New(rand.NewPCG(43, 1)), z, n)
	if equal(x, z) {
		t.Error("different seeds, same augmentation")
	}
	// Only the first n samples are touched.
	w := append([]float32(nil), orig[:2*sl]...)
	a.Apply(rand.New(rand.NewPCG(42, 1)), w, 1)
	if !equal(w[sl:], orig[sl:2*sl]) {
		t.Error("Apply(n=1) changed the second sample")
	}
}

func TestTrainAugmenter(t *testing.T) {
	for _, name := range []string{"mnist", "fashion-mnist", "opticks", "bible", "nope"} {
		if a := TrainAugmenter(name); a != nil {
			t.Errorf("TrainAugmenter(%q) = %#v, want nil", name, a)
		}
	}
	for _, tt := range []struct {
		name      string
		mean, std [3]float32
	}{{"cifar10", cifar10Mean, cifar10Std}, {"cifar100", cifar100Mean, cifar100Std}} {
		a, ok := TrainAugmenter(tt.name).(CropFlip)
		if !ok || a.Pad != 4 || a.Channels != 3 || a.Height != 32 || a.Width != 32 {
			t.Fatalf("TrainAugmenter(%q) = %#v, want CropFlip 3×32×32 pad 4", tt.name, a)
		}
		// The padding is what a black pixel becomes after normalisation.
		table := normTable(tt.mean, tt.std)
		for c := range 3 {
			if !near(a.Fill[c], table[c][0]) {
				t.Errorf("%s fill[%d] = %v, want normalised black %v", tt.name, c, a.Fill[c], table[c][0])
			}
		}
	}
}

func TestCropFlipApplyPanicsOnShortBatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a batch shorter than n samples")
		}
	}()
	CropFlip{Channels: 1, Height: 2, Width: 2, Pad: 1}.Apply(rand.New(rand.NewPCG(1, 1)), make([]float32, 7), 2)
}

func BenchmarkCropFlip(b *testing.B) {
	a := TrainAugmenter("cifar10")
	x := ramp(16 * 3 * 32 * 32)
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(int64(len(x) * 4))
	for b.Loop() {
		a.Apply(rng, x, 16)
	}
}
