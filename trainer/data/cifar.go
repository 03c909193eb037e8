package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// CIFAR geometry: 32×32 RGB images stored as 1024 R, 1024 G, 1024 B bytes.
const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide
)

// cifarURL is where the binary versions of CIFAR-10 and CIFAR-100 come
// from. The loaders never download anything; errors point here.
const cifarURL = "https://www.cs.toronto.edu/~kriz/cifar.html"

// Per-channel normalisation constants of FLTK's CIFAR transforms.
var (
	cifar10Mean  = [3]float32{0.485, 0.456, 0.406}
	cifar10Std   = [3]float32{0.229, 0.224, 0.225}
	cifar100Mean = [3]float32{0.507, 0.487, 0.441}
	cifar100Std  = [3]float32{0.267, 0.256, 0.276}
)

// normTable maps a pixel byte of each channel to (v/255 − mean)/std, in
// float32 arithmetic: CIFAR's Set.ByteScale.
func normTable(mean, std [3]float32) (t [3][256]float32) {
	for c := range t {
		for v := range t[c] {
			t[c][v] = (float32(v)/255 - mean[c]) / std[c]
		}
	}
	return t
}

// padFill returns the normalised value of a black (0) pixel per channel,
// −mean/std: the padding of the training crop.
func padFill(mean, std [3]float32) []float32 {
	f := make([]float32, 3)
	for c := range f {
		f[c] = -mean[c] / std[c]
	}
	return f
}

// cifarFormat describes one CIFAR binary variant.
type cifarFormat struct {
	name, title string
	subdir      string   // directory inside the official tarball
	train, test []string // file names of the splits
	labelBytes  int      // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
	mean, std   [3]float32
}

var (
	cifar10Format = cifarFormat{
		name: "cifar10", title: "CIFAR-10", subdir: "cifar-10-batches-bin",
		train:      []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:       []string{"test_batch.bin"},
		labelBytes: 1, mean: cifar10Mean, std: cifar10Std,
	}
	cifar100Format = cifarFormat{
		name: "cifar100", title: "CIFAR-100", subdir: "cifar-100-binary",
		train: []string{"train.bin"}, test: []string{"test.bin"},
		labelBytes: 2, mean: cifar100Mean, std: cifar100Std,
	}
)

// LoadCIFAR10 loads the binary version of CIFAR-10 from dir, or from
// dir/cifar-10-batches-bin (the official tarball's directory): training
// data_batch_1.bin … data_batch_5.bin, test test_batch.bin. Each record is
// a label byte and 3072 pixel bytes (R, G, B planes of 32×32). Samples have
// shape {3, 32, 32}, scaled to [0, 1] and normalised per channel with
// FLTK's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); 10
// classes. Files may hold any whole number of records. Samples are kept
// as the files' pixel bytes (Set.Bytes) and scaled and normalised through
// Set.ByteScale when a batch is gathered.
//
// CIFAR cannot be prepared offline: download the binary version from
// https://www.cs.toronto.edu/~kriz/cifar.html yourself.
func LoadCIFAR10(dir string, train bool) (*Set, error) {
	return loadCIFAR(cifar10Format, dir, train, false)
}

// LoadCIFAR100 loads the binary version of CIFAR-100 from dir, or from
// dir/cifar-100-binary: train.bin and test.bin, whose records are a coarse
// label byte, a fine label byte and 3072 pixel bytes. The labels are the
// 100 fine classes, or the 20 coarse superclasses if coarse. Samples are
// normalised with FLTK's mean (0.507, 0.487, 0.441) and std (0.267, 0.256,
// 0.276); otherwise as [LoadCIFAR10].
func LoadCIFAR100(dir string, train bool, coarse bool) (*Set, error) {
	return loadCIFAR(cifar100Format, dir, train, coarse)
}

func loadCIFAR(f cifarFormat, dir string, train, coarse bool) (*Set, error) {
	base, files, err := cifarPaths(f, dir, train)
	if err != nil {
		return nil, err
	}
	classes := 10
	if f.labelBytes == 2 {
		classes = 100
		if coarse {
			classes = 20
		}
	}
	table := normTable(f.mean, f.std)
	rec := f.labelBytes + cifarPixels
	// Size every file first, so the pixels are allocated once (CIFAR-10's
	// training split is 50000×3072 bytes, 154 MB; 614 MB as float32).
	total := 0
	for _, name := range files {
		path := filepath.Join(base, name)
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if err := checkRecords(st.Size(), rec); err != nil {
			return nil, corrupt(path, err)
		}
		total += int(st.Size()) / rec
	}
	px := make([]byte, 0, total*cifarPixels)
	y := make([]int32, 0, total)
	for _, name := range files {
		path := filepath.Join(base, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if err := checkRecords(int64(len(b)), rec); err != nil {
			return nil, corrupt(path, err) // changed since the Stat above
		}
		if len(y)+len(b)/rec > total {
			return nil, corrupt(path, fmt.Errorf("grew while being read"))
		}
		for i := range len(b) / rec {
			r := b[i*rec : (i+1)*rec]
			l := r[0]
			if f.labelBytes == 2 {
				if r[0] >= 20 || r[1] >= 100 {
					return nil, corrupt(path, fmt.Errorf("bad label in record %d: coarse %d (want 0..19), fine %d (want 0..99)", i, r[0], r[1]))
				}
				if !coarse {
					l = r[1]
				}
			} else if l >= 10 {
				return nil, corrupt(path, fmt.Errorf("bad label %d in record %d, want 0..9", l, i))
			}
			y = append(y, int32(l))
			px = append(px, r[f.labelBytes:]...) // R, G, B planes: CHW
		}
	}
	return &Set{Name: f.name, Bytes: px, ByteScale: table[:], Y: y,
		Shape: []int{3, cifarSide, cifarSide}, LabelsPerSample: 1, Classes: classes}, nil
}

// cifarPaths returns the folder holding a split's files (dir, or its
// subdirectory from the official tarball) and their names, or an
// [ErrMissing] error saying how to get them.
func cifarPaths(f cifarFormat, dir string, train bool) (base string, files []string, err error) {
	files = f.test
	if train {
		files = f.train
	}
	// Use the tarball's subdirectory when dir itself has no file of the split.
	base = dir
	if !anyExists(dir, files) && anyExists(filepath.Join(dir, f.subdir), files) {
		base = filepath.Join(dir, f.subdir)
	}
	for _, name := range files {
		if st, err := os.Stat(filepath.Join(base, name)); err != nil || st.IsDir() {
			return "", nil, missing(f.title+" "+splitName(train)+" set", base, fileList(files),
				fmt.Sprintf("%s cannot be prepared offline: download the binary version from %s and put %s in %s (or in its subdirectory %s/)",
					f.title, cifarURL, fileList(append(append([]string{}, f.train...), f.test...)), dir, f.subdir))
		}
	}
	return base, files, nil
}

// checkRecords checks that a file of size bytes holds whole records of
// rec bytes, at least one.
func checkRecords(size int64, rec int) error {
	switch {
	case size == 0:
		return fmt.Errorf("empty file, want records of %d bytes", rec)
	case size%int64(rec) != 0:
		return fmt.Errorf("truncated record: %d bytes is %d records of %d bytes and %d bytes over",
			size, size/int64(rec), rec, size%int64(rec))
	}
	return nil
}

// anyExists reports whether dir holds at least one of files.
func anyExists(dir string, files []string) bool {
	for _, name := range files {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// fileList names files for messages: "a", "a and b", or "first … last".
func fileList(files []string) string {
	switch len(files) {
	case 1:
		return files[0]
	case 2:
		return files[0] + " and " + files[1]
	}
	return files[0] + " … " + files[len(files)-1]
}
