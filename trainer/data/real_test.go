package data

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// realDataDir returns the directory `make data` fills: $FLTK_DATA, or the
// repository's data/ (../../data from this package). The test fails when
// it is missing: make test depends on make data.
func realDataDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLTK_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "data")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		t.Fatalf("data directory %s is missing (%v): run `make data` (or set FLTK_DATA)", abs, err)
	}
	return abs
}

// loadReal loads a real data set split, failing with a hint when it is missing.
func loadReal(t *testing.T, name, dir string, train bool) *Set {
	t.Helper()
	start := time.Now()
	s, err := Load(name, dir, train, Options{})
	if err != nil {
		t.Fatalf("%v\nrun `make data` to prepare the real data sets", err)
	}
	t.Logf("%s %s: N=%d classes=%d shape=%v vocab=%d groups=%d, loaded in %v",
		name, splitName(train), s.Len(), s.Classes, s.Shape, len(s.Vocab), len(s.GroupNames), time.Since(start).Round(time.Millisecond))
	return s
}

// TestRealData loads the data sets `make data` prepares and checks them
// against their known sizes and statistics.
func TestRealData(t *testing.T) {
	dir := realDataDir(t)

	for _, tt := range []struct {
		name               string
		nTrain, nTest      int
		minShare, maxShare float64 // bounds of each class's share of the training set
		meanLo, meanHi     float64 // bounds of the mean training pixel
	}{
		// MNIST's classes hold 5421 (5) to 6742 (1) of 60000; mean pixel 0.1307.
		{"mnist", 60000, 10000, 0.09, 0.113, 0.125, 0.136},
		// Fashion-MNIST is balanced, 6000 per class; mean pixel 0.2860.
		{"fashion-mnist", 60000, 10000, 0.1, 0.1, 0.28, 0.29},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := loadReal(t, tt.name, dir, true)
			te := loadReal(t, tt.name, dir, false)
			if tr.Len() != tt.nTrain || te.Len() != tt.nTest || tr.Classes != 10 || !equal(tr.Shape, []int{1, 28, 28}) {
				t.Fatalf("got %d/%d samples, %d classes, shape %v; want %d/%d, 10, [1 28 28]",
					tr.Len(), te.Len(), tr.Classes, tr.Shape, tt.nTrain, tt.nTest)
			}
			hist := make([]int, 10)
			for _, l := range tr.Labels() {
				hist[l]++
			}
			for c, k := range hist {
				if share := float64(k) / float64(tr.Len()); share < tt.minShare-1e-9 || share > tt.maxShare+1e-9 {
					t.Errorf("class %d has %d training samples (%.4f), want a share in [%g, %g]", c, k, share, tt.minShare, tt.maxShare)
				}
			}
			t.Logf("training label histogram %v", hist)
			if tr.X != nil || len(tr.Bytes) != tr.Len()*tr.SampleLen() {
				t.Fatalf("training set holds %d float32 values and %d bytes, want only bytes", len(tr.X), len(tr.Bytes))
			}
			var sum float64
			x := tr.Values()
			for _, v := range x {
				if v < 0 || v > 1 {
					t.Fatalf("pixel %v outside [0, 1]", v)
				}
				sum += float64(v)
			}
			if mean := sum / float64(len(x)); mean < tt.meanLo || mean > tt.meanHi {
				t.Errorf("mean pixel %.4f, want in [%g, %g]", mean, tt.meanLo, tt.meanHi)
			}
		})
	}

	t.Run("opticks", func(t *testing.T) {
		tr := loadReal(t, "opticks", dir, true)
		te := loadReal(t, "opticks", dir, false)
		// 567038 runes in windows of 81: 7000 windows, every 10th a test window.
		if tr.Len() != 6300 || te.Len() != 700 || tr.Classes != len(tr.Vocab) || tr.Classes < 60 || tr.Classes > 120 {
			t.Errorf("got %d/%d windows, %d classes, vocab %d; want 6300/700 and a vocabulary of 60..120",
				tr.Len(), te.Len(), tr.Classes, len(tr.Vocab))
		}
	})

	t.Run("bible", func(t *testing.T) {
		tr := loadReal(t, "bible", dir, true)
		te := loadReal(t, "bible", dir, false)
		if len(tr.GroupNames) != 66 || tr.GroupNames[0] != "Ge" || tr.GroupNames[8] != "1Sm" || tr.GroupNames[65] != "Rev" {
			t.Fatalf("GroupNames %v, want the 66 books Ge … Rev", tr.GroupNames)
		}
		perBook := make([]int, 66)
		for _, g := range tr.Groups {
			perBook[g]++
		}
		for g, k := range perBook {
			if k == 0 {
				t.Errorf("book %s has no training window", tr.GroupNames[g])
			}
		}
		// 66 books, ≈4.3 M runes in windows of 81: ≈ 53 000 windows.
		if n := tr.Len() + te.Len(); n < 50000 || n > 56000 || te.Len() < n/11 || te.Len() > n/9 {
			t.Errorf("got %d training and %d test windows, want ≈ 53000 split 90/10", tr.Len(), te.Len())
		}
		if tr.Classes != len(tr.Vocab) || tr.Classes < 50 || tr.Classes > 90 {
			t.Errorf("vocabulary of %d runes (classes %d), want 50..90", len(tr.Vocab), tr.Classes)
		}
		t.Logf("windows per book: Ge %d, Ps %d, Jude %d", perBook[0], perBook[18], perBook[64])
	})
}
