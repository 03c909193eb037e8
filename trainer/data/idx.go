package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// IDX magic numbers: unsigned bytes with 3 dimensions (images) or 1
// dimension (labels).
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// Bounds on IDX header fields; anything larger is treated as a corrupt
// header rather than allocated.
const (
	maxIDXCount = 1 << 26
	maxIDXSide  = 1 << 12
)

// byteScale maps a pixel byte to [0, 1].
var byteScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// decodeIDXImages reads an IDX3 image file (raw or gzip) and returns its
// pixel bytes, image after image, row major.
func decodeIDXImages(r io.Reader) (px []byte, n, rows, cols int, err error) {
	r, err = gunzipIfNeeded(r)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	var h [4]uint32
	if err := binary.Read(r, binary.BigEndian, &h); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("truncated header: %w", err)
	}
	if h[0] != idxImagesMagic {
		return nil, 0, 0, 0, fmt.Errorf("bad magic %#08x, want %#08x (IDX3 unsigned-byte images)", h[0], idxImagesMagic)
	}
	if h[1] > maxIDXCount || h[2] == 0 || h[2] > maxIDXSide || h[3] == 0 || h[3] > maxIDXSide {
		return nil, 0, 0, 0, fmt.Errorf("implausible dimensions %d×%d×%d", h[1], h[2], h[3])
	}
	n, rows, cols = int(h[1]), int(h[2]), int(h[3])
	if px, err = readN(r, n*rows*cols); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%d images of %d×%d: %w", n, rows, cols, err)
	}
	if err := expectEOF(r); err != nil {
		return nil, 0, 0, 0, err
	}
	return px, n, rows, cols, nil
}

// decodeIDXLabels reads an IDX1 label file (raw or gzip).
func decodeIDXLabels(r io.Reader) ([]int32, error) {
	r, err := gunzipIfNeeded(r)
	if err != nil {
		return nil, err
	}
	var h [2]uint32
	if err := binary.Read(r, binary.BigEndian, &h); err != nil {
		return nil, fmt.Errorf("truncated header: %w", err)
	}
	if h[0] != idxLabelsMagic {
		return nil, fmt.Errorf("bad magic %#08x, want %#08x (IDX1 unsigned-byte labels)", h[0], idxLabelsMagic)
	}
	if h[1] > maxIDXCount {
		return nil, fmt.Errorf("implausible count %d", h[1])
	}
	b, err := readN(r, int(h[1]))
	if err != nil {
		return nil, fmt.Errorf("%d labels: %w", h[1], err)
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	y := make([]int32, len(b))
	for i, v := range b {
		y[i] = int32(v)
	}
	return y, nil
}

// ReadIDX decodes an IDX3 image file and its IDX1 label file, each raw or
// gzip-compressed (detected by the gzip magic 0x1f 0x8b, not by name).
// Pixels are scaled to [0, 1] (v/255) and stored image after image, row
// major. Errors wrap [ErrCorrupt] and say which of the two is wrong: bad
// magic, truncation, trailing data, or different counts.
func ReadIDX(images, labels io.Reader) (x []float32, y []int32, rows, cols int, err error) {
	px, n, rows, cols, err := decodeIDXImages(images)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%w: images: %w", ErrCorrupt, err)
	}
	if y, err = decodeIDXLabels(labels); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%w: labels: %w", ErrCorrupt, err)
	}
	if len(y) != n {
		return nil, nil, 0, 0, fmt.Errorf("%w: count mismatch: %d images, %d labels", ErrCorrupt, n, len(y))
	}
	x = make([]float32, len(px))
	for i, p := range px {
		x[i] = byteScale[p]
	}
	return x, y, rows, cols, nil
}

// idxFiles returns the base names of a split's IDX files.
func idxFiles(train bool) (images, labels string) {
	p := "t10k"
	if train {
		p = "train"
	}
	return p + "-images-idx3-ubyte", p + "-labels-idx1-ubyte"
}

// LoadMNIST loads MNIST from dir: {train,t10k}-images-idx3-ubyte and
// {train,t10k}-labels-idx1-ubyte, each optionally gzipped (.gz). Samples
// have shape {1, rows, cols} ({1, 28, 28}) scaled to [0, 1]; 10 classes.
// They are kept as the files' bytes (Set.Bytes) and scaled when a batch
// is gathered. `make data` (scripts/prepare-data.sh) puts MNIST in
// data/mnist.
func LoadMNIST(dir string, train bool) (*Set, error) {
	return loadIDXSet("mnist", "MNIST", dir, train)
}

// LoadFashionMNIST loads Fashion-MNIST from dir: the same files and
// format as [LoadMNIST]. `make data` puts it in data/fashion-mnist (from
// the Debian package dataset-fashion-mnist).
func LoadFashionMNIST(dir string, train bool) (*Set, error) {
	return loadIDXSet("fashion-mnist", "Fashion-MNIST", dir, train)
}

// loadIDXSet loads a 10-class IDX data set.
func loadIDXSet(name, title, dir string, train bool) (*Set, error) {
	const classes = 10
	imgPath, lblPath, err := idxPaths(name, title, dir, train)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(imgPath)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	px, n, rows, cols, err := decodeIDXImages(f)
	f.Close()
	if err != nil {
		return nil, corrupt(imgPath, err)
	}
	if f, err = os.Open(lblPath); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	y, err := decodeIDXLabels(f)
	f.Close()
	if err != nil {
		return nil, corrupt(lblPath, err)
	}
	if len(y) != n {
		return nil, fmt.Errorf("%w: count mismatch: %s has %d images, %s has %d labels", ErrCorrupt, imgPath, n, lblPath, len(y))
	}
	for i, l := range y {
		if l >= classes {
			return nil, corrupt(lblPath, fmt.Errorf("bad label %d of sample %d, want 0..%d", l, i, classes-1))
		}
	}
	return &Set{Name: name, Bytes: px, ByteScale: [][256]float32{byteScale}, Y: y,
		Shape: []int{1, rows, cols}, LabelsPerSample: 1, Classes: classes}, nil
}

// idxPaths returns the paths of a split's IDX files in dir, or an
// [ErrMissing] error saying how to get them.
func idxPaths(name, title, dir string, train bool) (images, labels string, err error) {
	imgName, lblName := idxFiles(train)
	imgPath, ok1 := findFile(dir, imgName)
	lblPath, ok2 := findFile(dir, lblName)
	if !ok1 || !ok2 {
		how := "run `make data` (scripts/prepare-data.sh) in the repository root"
		if name == "fashion-mnist" {
			how = "run `make data` (scripts/prepare-data.sh; needs the Debian package dataset-fashion-mnist) in the repository root"
		}
		return "", "", missing(title+" "+splitName(train)+" set", dir, imgName+"[.gz] and "+lblName+"[.gz]", how)
	}
	return imgPath, lblPath, nil
}

// splitName names a split in messages.
func splitName(train bool) string {
	if train {
		return "training"
	}
	return "test"
}
