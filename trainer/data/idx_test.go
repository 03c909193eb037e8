package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestReadIDX(t *testing.T) {
	const n, rows, cols = 5, 3, 4
	img, lbl := idxImages(n, rows, cols), idxLabels(3, 1, 4, 1, 5)
	for _, tt := range []struct {
		name     string
		img, lbl []byte
	}{
		{"raw", img, lbl},
		{"gzip", gz(t, img), gz(t, lbl)},
		{"gzip images, raw labels", gz(t, img), lbl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, y, r, c, err := ReadIDX(bytes.NewReader(tt.img), bytes.NewReader(tt.lbl))
			if err != nil {
				t.Fatal(err)
			}
			if r != rows || c != cols {
				t.Errorf("got %d×%d, want %d×%d", r, c, rows, cols)
			}
			if len(x) != n*rows*cols {
				t.Fatalf("len(x) = %d, want %d", len(x), n*rows*cols)
			}
			for i := range n {
				for j := range rows * cols {
					if got, want := x[i*rows*cols+j], float32(pixel(i, j))/255; got != want {
						t.Fatalf("x[%d][%d] = %v, want %v", i, j, got, want)
					}
				}
			}
			if want := []int32{3, 1, 4, 1, 5}; !equal(y, want) {
				t.Errorf("y = %v, want %v", y, want)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadIDXCorrupt(t *testing.T) {
	img, lbl := idxImages(4, 2, 2), idxLabels(0, 1, 2, 3)
	badCRC := gz(t, img)
	badCRC[len(badCRC)-8] ^= 0xff // CRC-32 in the gzip trailer
	huge := append([]byte(nil), img[:16]...)
	huge[8], huge[12] = 0x7f, 0x7f // 2^30-ish rows and cols
	for _, tt := range []struct {
		name     string
		img, lbl []byte
		mention  []string
	}{
		{"images bad magic", idxLabels(1, 2, 3, 4, 5, 6, 7, 8, 9), lbl, []string{"images", "bad magic 0x00000801, want 0x00000803"}},
		{"labels bad magic", img, img, []string{"labels", "bad magic 0x00000803, want 0x00000801"}},
		{"empty images", nil, lbl, []string{"images", "truncated header"}},
		{"short header", img[:10], lbl, []string{"images", "truncated header"}},
		{"truncated pixels", img[:len(img)-1], lbl, []string{"images", "truncated: got 15 of 16 bytes"}},
		{"truncated labels", img, lbl[:len(lbl)-2], []string{"labels", "truncated: got 2 of 4 bytes"}},
		{"trailing data", append(append([]byte(nil), img...), 9), lbl, []string{"images", "trailing data"}},
		{"count mismatch", img, idxLabels(0, 1, 2), []string{"count mismatch: 4 images, 3 labels"}},
		{"gzip checksum", badCRC, lbl, []string{"images", "checksum"}},
		{"truncated gzip", gz(t, img)[:20], lbl, []string{"images"}},
		{"implausible dims", huge, lbl, []string{"implausible dimensions"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, _, err := ReadIDX(bytes.NewReader(tt.img), bytes.NewReader(tt.lbl))
			wantErr(t, err, ErrCorrupt, tt.mention...)
		})
	}
}

func TestLoadMNIST(t *testing.T) {
	for _, tt := range []struct {
		name     string
		compress bool
		load     func(string, bool) (*Set, error)
		setName  string
	}{
		{"mnist raw", false, LoadMNIST, "mnist"},
		{"mnist gzip", true, LoadMNIST, "mnist"},
		{"fashion gzip", true, LoadFashionMNIST, "fashion-mnist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeMNIST(t, dir, 30, 12, tt.compress)
			for _, split := range []struct {
				train bool
				n     int
			}{{true, 30}, {false, 12}} {
				s, err := tt.load(dir, split.train)
				if err != nil {
					t.Fatal(err)
				}
				if s.Name != tt.setName || s.Len() != split.n || s.Classes != 10 || s.LabelsPerSample != 1 ||
					!equal(s.Shape, []int{1, 28, 28}) || s.SampleLen() != 784 {
					t.Fatalf("train=%v: got %s N=%d classes=%d shape=%v, want %s N=%d classes=10 shape=[1 28 28]",
						split.train, s.Name, s.Len(), s.Classes, s.Shape, tt.setName, split.n)
				}
				if got, want := s.Label(13%split.n), int32(13%split.n%10); got != want {
					t.Errorf("Label(%d) = %d, want %d", 13%split.n, got, want)
				}
				if got, want := s.Values()[5*784+100], float32(pixel(5, 100))/255; got != want {
					t.Errorf("X[5][100] = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestLoadMNISTErrors(t *testing.T) {
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope", "mnist")
		_, err := LoadMNIST(dir, true)
		wantErr(t, err, ErrMissing, dir, "does not exist", "train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]", "run `make data`")
	})
	t.Run("missing labels", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), gz(t, idxImages(2, 28, 28)))
		_, err := LoadFashionMNIST(dir, false)
		wantErr(t, err, ErrMissing, "Fashion-MNIST test set", dir, "has not all of them", "t10k-labels-idx1-ubyte[.gz]", "make data")
	})
	t.Run("bad label", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxImages(3, 28, 28))
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxLabels(1, 10, 2))
		_, err := LoadMNIST(dir, true)
		wantErr(t, err, ErrCorrupt, filepath.Join(dir, "train-labels-idx1-ubyte"), "bad label 10 of sample 1")
	})
	t.Run("count mismatch", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxImages(3, 28, 28))
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gz(t, idxLabels(1, 2)))
		_, err := LoadMNIST(dir, true)
		wantErr(t, err, ErrCorrupt, "count mismatch", "has 3 images", "has 2 labels", "train-labels-idx1-ubyte.gz")
	})
	t.Run("truncated file names the file", func(t *testing.T) {
		dir := t.TempDir()
		img := idxImages(3, 28, 28)
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), img[:len(img)-100])
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxLabels(1, 2, 3))
		_, err := LoadMNIST(dir, true)
		wantErr(t, err, ErrCorrupt, filepath.Join(dir, "train-images-idx3-ubyte"), "truncated")
	})
	t.Run("directory instead of file", func(t *testing.T) {
		dir := t.TempDir()
		writeMNIST(t, dir, 2, 2, false)
		p := filepath.Join(dir, "train-images-idx3-ubyte")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := LoadMNIST(dir, true)
		wantErr(t, err, ErrMissing, "train-images-idx3-ubyte[.gz]")
	})
}
