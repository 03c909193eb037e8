package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pixel is the deterministic test image content: sample i, value j.
func pixel(i, j int) byte { return byte((i*31 + j*7) % 256) }

// idxImages returns an IDX3 image file of n rows×cols images.
func idxImages(n, rows, cols int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxImagesMagic, uint32(n), uint32(rows), uint32(cols)})
	for i := range n {
		for j := range rows * cols {
			b.WriteByte(pixel(i, j))
		}
	}
	return b.Bytes()
}

// idxLabels returns an IDX1 label file with the given labels.
func idxLabels(labels ...byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxLabelsMagic, uint32(len(labels))})
	b.Write(labels)
	return b.Bytes()
}

// cycleLabels returns n labels 0, 1, …, k−1, 0, ….
func cycleLabels(n, k int) []byte {
	l := make([]byte, n)
	for i := range l {
		l[i] = byte(i % k)
	}
	return l
}

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// writeMNIST writes a train split of nTrain and a test split of nTest
// 28×28 images with cycling labels into dir, gzipped if compress.
func writeMNIST(tb testing.TB, dir string, nTrain, nTest int, compress bool) {
	tb.Helper()
	for _, s := range []struct {
		prefix string
		n      int
	}{{"train", nTrain}, {"t10k", nTest}} {
		img, lbl := idxImages(s.n, 28, 28), idxLabels(cycleLabels(s.n, 10)...)
		suffix := ""
		if compress {
			img, lbl, suffix = gz(tb, img), gz(tb, lbl), ".gz"
		}
		writeFile(tb, filepath.Join(dir, s.prefix+"-images-idx3-ubyte"+suffix), img)
		writeFile(tb, filepath.Join(dir, s.prefix+"-labels-idx1-ubyte"+suffix), lbl)
	}
}

// cifarRecords returns n CIFAR records; labelBytes is 1 (CIFAR-10, label
// i%10) or 2 (CIFAR-100, coarse i%20 and fine (i*7)%100). Pixel j of
// record i is pixel(i+first, j).
func cifarRecords(n, first, labelBytes int) []byte {
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		if labelBytes == 1 {
			b.WriteByte(byte(i % 10))
		} else {
			b.WriteByte(byte(i % 20))
			b.WriteByte(byte(i * 7 % 100))
		}
		for j := range cifarPixels {
			b.WriteByte(pixel(i, j))
		}
	}
	return b.Bytes()
}

// writeCIFAR10 writes 5 training batches of per records and a test batch
// of per records into dir.
func writeCIFAR10(tb testing.TB, dir string, per int) {
	tb.Helper()
	for k := range 5 {
		writeFile(tb, filepath.Join(dir, "data_batch_"+string(rune('1'+k))+".bin"), cifarRecords(per, k*per, 1))
	}
	writeFile(tb, filepath.Join(dir, "test_batch.bin"), cifarRecords(per, 1000, 1))
}

// wantErr checks that err wraps sentinel and mentions every string.
func wantErr(tb testing.TB, err, sentinel error, mentions ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %v", sentinel)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		tb.Errorf("error %q does not wrap %v", err, sentinel)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			tb.Errorf("error %q does not mention %q", err, m)
		}
	}
}

// near reports whether a and b agree within 1e-6 (a few float32 ulps of
// values below 3, the range of normalised pixels).
func near(a, b float32) bool {
	d := a - b
	return d < 1e-6 && d > -1e-6
}
