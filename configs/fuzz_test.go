package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, never returns a configuration
// that fails Validate, and describes every failure with *Error values that
// wrap exactly one sentinel, name the file and, for unknown keys and wrong
// types, point at a line that mentions the key.
//
// Seeds are the shipped configs, the bad files in testdata and the corpus in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	shipped, _ := filepath.Glob("*.toml")
	bad, _ := filepath.Glob("testdata/bad-*.toml")
	for _, p := range append(shipped, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	sentinels := []error{ErrSyntax, ErrUnknownKey, ErrType, ErrInvalid}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned nil, nil")
			}
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse returned a config that fails Validate: %v", verr)
			}
			return
		}
		if cfg != nil {
			t.Fatalf("Parse returned a config together with %v", err)
		}
		lines := strings.Split(stripBOM(string(data)), "\n")
		for _, e := range flatten(err) {
			if e.File != "fuzz.toml" || !strings.HasPrefix(e.Error(), "fuzz.toml") {
				t.Errorf("error %q does not name the file", e)
			}
			n := 0
			for _, s := range sentinels {
				if errors.Is(e, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("error %q wraps %d sentinels, want 1", e, n)
			}
			if !errors.Is(e, ErrUnknownKey) && !errors.Is(e, ErrType) {
				continue
			}
			// The line scanner must place every key that decoding
			// complains about, on a line that mentions its last part.
			if e.Key == "" || e.Line < 1 || e.Line > len(lines) {
				t.Fatalf("error %q: key %q on line %d of %d", e, e.Key, e.Line, len(lines))
			}
			last := e.Key[strings.LastIndexByte(e.Key, '.')+1:]
			if strings.IndexFunc(last, func(r rune) bool { return !isNameRune(r) }) < 0 &&
				!strings.Contains(lines[e.Line-1], last) {
				t.Errorf("error %q: line %d is %q, which does not mention %q", e, e.Line, lines[e.Line-1], last)
			}
		}
	})
}
