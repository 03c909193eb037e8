package data

import (
	"bytes"
	"testing"
)

// FuzzReadIDX checks that no input makes ReadIDX panic and that what it
// accepts is consistent.
func FuzzReadIDX(f *testing.F) {
	img, lbl := idxImages(3, 2, 2), idxLabels(1, 2, 3)
	f.Add(img, lbl)
	f.Add(gz(f, img), gz(f, lbl))
	f.Add(img[:17], lbl[:9])
	f.Fuzz(func(t *testing.T, img, lbl []byte) {
		x, y, rows, cols, err := ReadIDX(bytes.NewReader(img), bytes.NewReader(lbl))
		if err != nil {
			return
		}
		if len(x) != len(y)*rows*cols {
			t.Fatalf("%d values for %d labels of %d×%d", len(x), len(y), rows, cols)
		}
		for _, v := range x {
			if v < 0 || v > 1 {
				t.Fatalf("value %v outside [0, 1]", v)
			}
		}
	})
}

// FuzzParseBible checks that no input makes the verse parser panic and
// that every book it returns has a name and ends in a newline.
func FuzzParseBible(f *testing.F) {
	f.Add([]byte(bibleText))
	f.Add([]byte("1Sm1:1 x\n\n2Ki2:2 y"))
	f.Add([]byte("Ge1:1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		books, names, err := parseBible(b)
		if err != nil {
			return
		}
		if len(books) != len(names) || len(books) == 0 {
			t.Fatalf("%d books, %d names", len(books), len(names))
		}
		for g, text := range books {
			if names[g] == "" || len(text) == 0 || text[len(text)-1] != '\n' {
				t.Fatalf("book %d %q: text %q", g, names[g], string(text))
			}
		}
	})
}
