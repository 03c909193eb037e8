package data

import (
	"fmt"
	"math/rand/v2"
)

// Augmenter randomly transforms training samples.
type Augmenter interface {
	// Apply transforms the first n samples of the gathered batch x in
	// place, drawing randomness only from rng, so a batch's augmentation
	// is a function of the rng's state. Implementations are safe for
	// concurrent use with different rngs and batches.
	Apply(rng *rand.Rand, x []float32, n int)
}

// CropFlip is FLTK's CIFAR training augmentation: RandomHorizontalFlip
// followed by RandomCrop(size, padding Pad). Each sample is mirrored left
// to right with probability 1/2, then shifted by (dy, dx), each uniform in
// [−Pad, Pad]: out(c, r, k) = flipped(c, r+dy, k+dx), or Fill[c] where
// that falls outside the image (the padding).
//
// CIFAR batches are normalised when gathered ([Set.Batch]), before
// augmentation, so the padding is the normalised value of a black pixel,
// −mean/std per channel (what torchvision's zero padding before Normalize
// gives).
//
// Per sample it draws, in this order, dy+Pad = rng.IntN(2·Pad+1),
// dx+Pad = rng.IntN(2·Pad+1) and flip = rng.IntN(2) == 1.
type CropFlip struct {
	Channels, Height, Width int       // sample shape (CHW)
	Pad                     int       // maximum shift in pixels, ≥ 0
	Fill                    []float32 // padding value per channel; nil means 0
}

// Apply implements [Augmenter]. It panics if x holds fewer than n samples
// of Channels·Height·Width values.
func (a CropFlip) Apply(rng *rand.Rand, x []float32, n int) {
	sl := a.Channels * a.Height * a.Width
	if n < 0 || len(x) < n*sl {
		panic(fmt.Sprintf("data: CropFlip.Apply: %d samples of %d values do not fit in %d", n, sl, len(x)))
	}
	scratch := make([]float32, sl)
	for i := range n {
		dy := rng.IntN(2*a.Pad+1) - a.Pad
		dx := rng.IntN(2*a.Pad+1) - a.Pad
		flip := rng.IntN(2) == 1
		if dy == 0 && dx == 0 && !flip {
			continue
		}
		s := x[i*sl : (i+1)*sl]
		copy(scratch, s)
		a.transform(s, scratch, dy, dx, flip)
	}
}

// transform writes into dst the sample src mirrored (if flip) and then
// shifted by (dy, dx).
func (a CropFlip) transform(dst, src []float32, dy, dx int, flip bool) {
	h, w := a.Height, a.Width
	for c := range a.Channels {
		var fill float32
		if c < len(a.Fill) {
			fill = a.Fill[c]
		}
		plane, out := src[c*h*w:(c+1)*h*w], dst[c*h*w:(c+1)*h*w]
		for r := range h {
			sr := r + dy
			row := out[r*w : (r+1)*w]
			if sr < 0 || sr >= h {
				for k := range row {
					row[k] = fill
				}
				continue
			}
			in := plane[sr*w : (sr+1)*w]
			for k := range row {
				sk := k + dx // column in the flipped image
				switch {
				case sk < 0 || sk >= w:
					row[k] = fill
				case flip:
					row[k] = in[w-1-sk]
				default:
					row[k] = in[sk]
				}
			}
		}
	}
}

// TrainAugmenter returns the training augmentation FLTK uses for the data
// set name: [CropFlip] with Pad 4 for "cifar10" and "cifar100", padding
// with each one's normalised black. It returns nil (no augmentation) for
// every other data set; test sets are never augmented.
func TrainAugmenter(name string) Augmenter {
	switch name {
	case "cifar10":
		return CropFlip{Channels: 3, Height: cifarSide, Width: cifarSide, Pad: 4, Fill: padFill(cifar10Mean, cifar10Std)}
	case "cifar100":
		return CropFlip{Channels: 3, Height: cifarSide, Width: cifarSide, Pad: 4, Fill: padFill(cifar100Mean, cifar100Std)}
	}
	return nil
}
