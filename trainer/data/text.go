package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Text defaults.
const (
	// DefaultSeqLen is the window length of text data sets (LEAF's
	// Shakespeare uses 80).
	DefaultSeqLen = 80

	// DefaultTestEvery holds out every 10th window of a text for testing.
	DefaultTestEvery = 10

	// maxSeqLen bounds the window length (far beyond any text model).
	maxSeqLen = 1 << 20
)

// textSplit resolves and checks the text options.
func textSplit(seqLen, testEvery int) (int, int, error) {
	if seqLen == 0 {
		seqLen = DefaultSeqLen
	}
	if testEvery == 0 {
		testEvery = DefaultTestEvery
	}
	if seqLen < 1 || seqLen > maxSeqLen {
		return 0, 0, fmt.Errorf("%w: sequence length %d, want 1..%d", ErrInvalid, seqLen, maxSeqLen)
	}
	if testEvery < 2 {
		return 0, 0, fmt.Errorf("%w: test every %d windows, want ≥ 2", ErrInvalid, testEvery)
	}
	return seqLen, testEvery, nil
}

// How to get the text data sets, for [ErrMissing] errors.
const (
	textHow  = "run `make data` (scripts/prepare-data.sh) in the repository root"
	bibleHow = "run `make data` (scripts/prepare-data.sh; needs the Debian package bible-kjv)"
)

// readText reads a UTF-8 text file, normalising CRLF line ends to LF.
func readText(path, what, how string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, missing(what, filepath.Dir(path), filepath.Base(path), how)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, size := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, corrupt(path, fmt.Errorf("invalid UTF-8 at byte %d", off))
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), nil
}

// vocabulary returns the sorted set of runes of texts and the token id of
// each rune.
func vocabulary(texts ...[]rune) ([]rune, map[rune]int32) {
	seen := map[rune]bool{}
	for _, t := range texts {
		for _, r := range t {
			seen[r] = true
		}
	}
	vocab := make([]rune, 0, len(seen))
	for r := range seen {
		vocab = append(vocab, r)
	}
	slices.Sort(vocab)
	ids := make(map[rune]int32, len(vocab))
	for i, r := range vocab {
		ids[r] = int32(i)
	}
	return vocab, ids
}

// appendWindows cuts text into non-overlapping windows of seqLen+1 runes
// (a shorter tail is dropped) and appends the windows of the split to s:
// window w is a test window iff w%testEvery == testEvery−1. X gets the
// window's first seqLen ids, Y its last seqLen (the next rune of each
// step). It returns the number of windows appended.
func appendWindows(s *Set, text []rune, ids map[rune]int32, seqLen, testEvery int, train bool, group int32) int {
	if seqLen >= len(text) { // also keeps (w+1)*(seqLen+1) from overflowing
		return 0
	}
	added := 0
	for w := 0; (w+1)*(seqLen+1) <= len(text); w++ {
		if (w%testEvery == testEvery-1) == train {
			continue
		}
		win := text[w*(seqLen+1) : (w+1)*(seqLen+1)]
		for _, r := range win[:seqLen] {
			s.X = append(s.X, float32(ids[r]))
		}
		for _, r := range win[1:] {
			s.Y = append(s.Y, ids[r])
		}
		if s.Groups != nil {
			s.Groups = append(s.Groups, group)
		}
		added++
	}
	return added
}

// LoadText loads a UTF-8 text file for next-character prediction. The
// vocabulary is the sorted set of the file's runes (so there is no
// out-of-vocabulary rune: both splits share it); CRLF becomes LF. The text
// is cut into non-overlapping windows of seqLen+1 runes, and every
// testEvery-th window (w % testEvery == testEvery−1) is the test split,
// the others the training split. A sample's X is its window's first seqLen
// token ids, its Y the next token at each step (the window shifted by
// one). Zero seqLen and testEvery mean [DefaultSeqLen] and
// [DefaultTestEvery]; testEvery must be ≥ 2.
//
// The Set's Name is the file's base name without extension.
func LoadText(path string, seqLen int, train bool, testEvery int) (*Set, error) {
	seqLen, testEvery, err := textSplit(seqLen, testEvery)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	b, err := readText(path, "text "+name, textHow)
	if err != nil {
		return nil, err
	}
	text := []rune(string(b))
	if len(text) == 0 {
		return nil, corrupt(path, fmt.Errorf("empty text"))
	}
	vocab, ids := vocabulary(text)
	s := &Set{Name: name, Shape: []int{seqLen}, LabelsPerSample: seqLen, Classes: len(vocab), Vocab: vocab}
	if appendWindows(s, text, ids, seqLen, testEvery, train, 0) == 0 {
		return nil, fmt.Errorf("%w: %s: %d runes make no %s window of %d runes (every %dth window is a test window)",
			ErrInvalid, path, len(text), splitName(train), seqLen+1, testEvery)
	}
	return s, nil
}

// LoadBible loads the King James Bible written by scripts/prepare-data.sh
// (`bible -f gen1:1-rev22:21`: one verse per line, "Ge1:1 In the
// beginning …") for next-character prediction, with one group per book.
// A verse's reference is its first word: the book abbreviation (letters,
// possibly after a leading digit, as in "1Sm") followed by chapter:verse.
// Each book's text is its verses' texts, each followed by "\n"; windows
// are cut per book as in [LoadText] (the test split is every testEvery-th
// window of each book), so no window crosses a book. Groups holds each
// window's book in order of first appearance (66 books, 0 = "Ge", 65 =
// "Rev"), GroupNames the abbreviations. The vocabulary is the sorted set
// of runes of all verse texts. Blank lines are ignored; any other line
// that is not "Ref text" is an [ErrCorrupt] error naming the line.
func LoadBible(path string, seqLen int, train bool, testEvery int) (*Set, error) {
	seqLen, testEvery, err := textSplit(seqLen, testEvery)
	if err != nil {
		return nil, err
	}
	b, err := readText(path, "King James Bible", bibleHow)
	if err != nil {
		return nil, err
	}
	books, names, err := parseBible(b)
	if err != nil {
		return nil, corrupt(path, err)
	}
	vocab, ids := vocabulary(books...)
	s := &Set{Name: "bible", Shape: []int{seqLen}, LabelsPerSample: seqLen, Classes: len(vocab),
		Groups: []int32{}, GroupNames: names, Vocab: vocab}
	for g, text := range books {
		appendWindows(s, text, ids, seqLen, testEvery, train, int32(g))
	}
	if s.Len() == 0 {
		return nil, fmt.Errorf("%w: %s: no book makes a %s window of %d runes (every %dth window is a test window)",
			ErrInvalid, path, splitName(train), seqLen+1, testEvery)
	}
	return s, nil
}

// parseBible splits verse lines into the text of each book, in order of
// first appearance.
func parseBible(b []byte) (books [][]rune, names []string, err error) {
	index := map[string]int{}
	var buf [][]byte
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ref, text, ok := bytes.Cut(line, []byte(" "))
		book, ok2 := verseBook(ref)
		if !ok || !ok2 {
			return nil, nil, fmt.Errorf("line %d: want \"Book chapter:verse text\" (like \"Ge1:1 In the beginning…\"), got %q",
				n+1, truncate(line, 40))
		}
		g, seen := index[book]
		if !seen {
			g = len(names)
			index[book] = g
			names = append(names, book)
			buf = append(buf, nil)
		}
		buf[g] = append(append(buf[g], text...), '\n')
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("no verses")
	}
	books = make([][]rune, len(buf))
	for g, t := range buf {
		books[g] = []rune(string(t))
	}
	return books, names, nil
}

// verseBook returns the book of a verse reference such as "Ge1:1" or
// "1Sm3:10": an optional leading digit, then letters, then digits ':'
// digits.
func verseBook(ref []byte) (string, bool) {
	i := 0
	if i < len(ref) && ref[i] >= '1' && ref[i] <= '9' {
		i++
	}
	start := i
	for i < len(ref) && (ref[i] >= 'A' && ref[i] <= 'Z' || ref[i] >= 'a' && ref[i] <= 'z') {
		i++
	}
	if i == start {
		return "", false
	}
	book := string(ref[:i])
	chapter, verse, ok := strings.Cut(string(ref[i:]), ":")
	if !ok || !allDigits(chapter) || !allDigits(verse) {
		return "", false
	}
	return book, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens b to at most n bytes for error messages.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
