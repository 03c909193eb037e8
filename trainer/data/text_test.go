package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// decode returns the runes of token ids.
func decode[T int32 | float32](vocab []rune, ids []T) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteRune(vocab[int(id)])
	}
	return b.String()
}

func TestLoadText(t *testing.T) {
	const text = "abcdefghij klmnopqrst\nuvwxyzäöü ABCDEFGHIJKLMNOPQR" // 50 runes, 2 non-ASCII bytes each for äöü
	path := filepath.Join(t.TempDir(), "sample.txt")
	writeFile(t, path, []byte(text))
	runes := []rune(text)
	for _, tt := range []struct {
		seqLen, every int
		train         bool
		windows       []int // expected window indices
	}{
		{4, 3, true, []int{0, 1, 3, 4, 6, 7, 9}}, // 10 windows of 5
		{4, 3, false, []int{2, 5, 8}},
		{9, 2, true, []int{0, 2, 4}}, // 5 windows of 10
		{9, 2, false, []int{1, 3}},
		{6, 0, true, []int{0, 1, 2, 3, 4, 5, 6}}, // default every 10: 7 windows of 7, none is test
	} {
		s, err := LoadText(path, tt.seqLen, tt.train, tt.every)
		if err != nil {
			t.Fatalf("seqLen %d every %d train %v: %v", tt.seqLen, tt.every, tt.train, err)
		}
		if s.Name != "sample" || s.Len() != len(tt.windows) || !equal(s.Shape, []int{tt.seqLen}) || s.LabelsPerSample != tt.seqLen {
			t.Fatalf("seqLen %d every %d train %v: got name %q N=%d shape %v lps %d, want sample, %d windows",
				tt.seqLen, tt.every, tt.train, s.Name, s.Len(), s.Shape, s.LabelsPerSample, len(tt.windows))
		}
		if !slices.IsSorted(s.Vocab) || len(s.Vocab) != s.Classes || s.Classes != countDistinct(runes) {
			t.Errorf("vocab %q (classes %d) is not the sorted set of the text's runes", string(s.Vocab), s.Classes)
		}
		for k, w := range tt.windows {
			win := string(runes[w*(tt.seqLen+1) : (w+1)*(tt.seqLen+1)])
			x := decode(s.Vocab, s.X[k*tt.seqLen:(k+1)*tt.seqLen])
			y := decode(s.Vocab, s.Y[k*tt.seqLen:(k+1)*tt.seqLen])
			if x != string([]rune(win)[:tt.seqLen]) || y != string([]rune(win)[1:]) {
				t.Errorf("seqLen %d every %d train %v sample %d: x %q y %q, want window %d %q shifted",
					tt.seqLen, tt.every, tt.train, k, x, y, w, win)
			}
		}
	}
}

func countDistinct(r []rune) int {
	m := map[rune]bool{}
	for _, c := range r {
		m[c] = true
	}
	return len(m)
}

func TestLoadTextSplitsAreDisjointAndCover(t *testing.T) {
	var b strings.Builder
	for i := range 2000 {
		b.WriteByte("etaoin shrdlu\n"[i*i%14])
	}
	path := filepath.Join(t.TempDir(), "t.txt")
	writeFile(t, path, []byte(b.String()))
	tr, err := LoadText(path, 19, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	te, err := LoadText(path, 19, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 90 || te.Len() != 10 { // 2000/20 = 100 windows
		t.Errorf("train %d, test %d windows, want 90 and 10", tr.Len(), te.Len())
	}
	if !slices.Equal(tr.Vocab, te.Vocab) {
		t.Errorf("train vocab %q != test vocab %q", string(tr.Vocab), string(te.Vocab))
	}
}

func TestLoadTextCRLF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crlf.txt")
	writeFile(t, path, []byte(strings.Repeat("ab\r\n", 30)))
	s, err := LoadText(path, 2, true, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Vocab) != "\nab" {
		t.Errorf("vocab %q, want \"\\nab\"", string(s.Vocab))
	}
}

func TestLoadTextErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	writeFile(t, good, []byte(strings.Repeat("x", 100)))
	bad := filepath.Join(dir, "bad.txt")
	writeFile(t, bad, []byte("ok text\xff\xfe more"))
	empty := filepath.Join(dir, "empty.txt")
	writeFile(t, empty, nil)
	for _, tt := range []struct {
		name          string
		path          string
		seqLen, every int
		train         bool
		sentinel      error
		mention       []string
	}{
		{"missing", filepath.Join(dir, "text", "opticks.txt"), 0, 0, true, ErrMissing, []string{filepath.Join(dir, "text"), "opticks.txt", "make data"}},
		{"invalid utf-8", bad, 0, 0, true, ErrCorrupt, []string{bad, "invalid UTF-8 at byte 7"}},
		{"empty", empty, 0, 0, true, ErrCorrupt, []string{empty, "empty"}},
		{"negative seqLen", good, -1, 0, true, ErrInvalid, []string{"sequence length -1"}},
		{"testEvery 1", good, 5, 1, true, ErrInvalid, []string{"test every 1"}},
		{"no test window", good, 10, 0, false, ErrInvalid, []string{good, "100 runes make no test window of 11 runes"}},
		{"no train window", good, 100, 0, true, ErrInvalid, []string{"no training window of 101 runes"}},
		{"huge seqLen", good, math.MaxInt, 0, true, ErrInvalid, []string{"want 1..1048576"}},
		{"seqLen beyond text", good, 1 << 20, 0, true, ErrInvalid, []string{"no training window"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadText(tt.path, tt.seqLen, tt.train, tt.every)
			wantErr(t, err, tt.sentinel, tt.mention...)
		})
	}
}

// bibleText is a small verse file in the format of `bible -f`.
const bibleText = `Ge1:1 In the beginning God created the heaven and the earth.
Ge1:2 And the earth was without form, and void.
Ge50:26 So Joseph died.

1Sm1:1 Now there was a certain man of Ramathaimzophim.
1Sm1:2 And he had two wives.
Jude1:1 Jude, the servant of Jesus Christ.
Rev22:21 The grace of our Lord Jesus Christ be with you all. Amen.
`

func TestLoadBible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kjv.txt")
	writeFile(t, path, []byte(bibleText))
	books := map[string]string{
		"Ge":   "In the beginning God created the heaven and the earth.\nAnd the earth was without form, and void.\nSo Joseph died.\n",
		"1Sm":  "Now there was a certain man of Ramathaimzophim.\nAnd he had two wives.\n",
		"Jude": "Jude, the servant of Jesus Christ.\n",
		"Rev":  "The grace of our Lord Jesus Christ be with you all. Amen.\n",
	}
	const seqLen, every = 7, 3
	var total int
	for _, train := range []bool{true, false} {
		s, err := LoadBible(path, seqLen, train, every)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"Ge", "1Sm", "Jude", "Rev"}; !equal(s.GroupNames, want) {
			t.Fatalf("GroupNames %v, want %v", s.GroupNames, want)
		}
		if s.Name != "bible" || len(s.Groups) != s.Len() {
			t.Fatalf("name %q, %d groups for %d samples", s.Name, len(s.Groups), s.Len())
		}
		var all []rune
		for _, b := range books {
			all = append(all, []rune(b)...)
		}
		if !slices.IsSorted(s.Vocab) || len(s.Vocab) != countDistinct(all) || strings.ContainsAny(string(s.Vocab), ":0123456789") {
			t.Errorf("vocab %q is not the sorted set of the verse texts' runes (references excluded)", string(s.Vocab))
		}
		// Each window is a piece of its own book, at a position of its split.
		next := map[int32]int{} // expected next window index per book
		for i := range s.Len() {
			g := s.Groups[i]
			book := []rune(books[s.GroupNames[g]])
			x := decode(s.Vocab, s.X[i*seqLen:(i+1)*seqLen])
			w := next[g]
			for (w%every == every-1) == train {
				w++
			}
			if want := string(book[w*(seqLen+1) : w*(seqLen+1)+seqLen]); x != want {
				t.Errorf("train=%v sample %d (book %s): x %q, want window %d %q", train, i, s.GroupNames[g], x, w, want)
			}
			if y := decode(s.Vocab, s.Y[i*seqLen:(i+1)*seqLen]); y != string(book[w*(seqLen+1)+1:(w+1)*(seqLen+1)]) {
				t.Errorf("train=%v sample %d: y %q is not x shifted by one", train, i, y)
			}
			next[g] = w + 1
		}
		total += s.Len()
	}
	want := 0
	for _, b := range books {
		want += len([]rune(b)) / (seqLen + 1)
	}
	if total != want {
		t.Errorf("train+test = %d windows, want %d (every whole window of every book)", total, want)
	}
}

func TestLoadBibleErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, text string
		mention    []string
	}{
		{"no reference", "Ge1:1 In the beginning.\nAnd the earth\n", []string{"line 2", `"And the earth"`}},
		{"no text", "Ge1:1\n", []string{"line 1"}},
		{"no chapter", "Ge:1 In the beginning.\n", []string{"line 1"}},
		{"no book", "11:1 In the beginning.\n", []string{"line 1"}},
		{"bad verse", "Ge1:x In the beginning.\n", []string{"line 1"}},
		{"empty", "\n\n", []string{"no verses"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".txt")
			writeFile(t, path, []byte(tt.text))
			_, err := LoadBible(path, 4, true, 2)
			wantErr(t, err, ErrCorrupt, append(tt.mention, path)...)
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "bible", "kjv.txt")
		_, err := LoadBible(path, 4, true, 2)
		wantErr(t, err, ErrMissing, filepath.Join(dir, "bible"), "kjv.txt", "make data", "bible-kjv")
	})
	t.Run("too short", func(t *testing.T) {
		path := filepath.Join(dir, "short.txt")
		if err := os.WriteFile(path, []byte("Ge1:1 In.\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadBible(path, 80, true, 2)
		wantErr(t, err, ErrInvalid, "no book makes a training window of 81 runes")
	})
}

func TestVerseBook(t *testing.T) {
	for _, tt := range []struct {
		ref, book string
		ok        bool
	}{
		{"Ge1:1", "Ge", true}, {"1Sm3:10", "1Sm", true}, {"2Ki25:30", "2Ki", true}, {"SSol8:14", "SSol", true},
		{"3Jn1:15", "3Jn", true}, {"Ge1", "", false}, {"Ge1:", "", false}, {"1:1", "", false}, {"", "", false},
		{"Ge1:1a", "", false}, {"G:e1", "", false},
	} {
		book, ok := verseBook([]byte(tt.ref))
		if book != tt.book || ok != tt.ok {
			t.Errorf("verseBook(%q) = %q, %v; want %q, %v", tt.ref, book, ok, tt.book, tt.ok)
		}
	}
}
