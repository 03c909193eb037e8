package launcher

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// writesRecorder records every Write it receives as one element.
type writesRecorder struct {
	writes []string
}

func (w *writesRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestLineWriter(t *testing.T) {
	long := strings.Repeat("y", maxLineLen)
	tests := []struct {
		name   string
		chunks []string
		want   []string // one element per Write to the destination
	}{
		{"one line", []string{"a\n"}, []string{"[7] a\n"}},
		{"several lines in one chunk", []string{"a\nb\n\nc\n"}, []string{"[7] a\n", "[7] b\n", "[7] \n", "[7] c\n"}},
		{"line across chunks", []string{"he", "ll", "o\nwor", "ld\n"}, []string{"[7] hello\n", "[7] world\n"}},
		{"partial last line", []string{"a\nb"}, []string{"[7] a\n", "[7] b\n"}},
		{"only newline", []string{"\n"}, []string{"[7] \n"}},
		{"empty", nil, nil},
		{"exactly max", []string{long, "\n"}, []string{"[7] " + long + "\n"}},
		{"max plus one", []string{long + "z\n"}, []string{"[7] " + long + "\n", "[7] z\n"}},
		{"max at EOF", []string{long}, []string{"[7] " + long + "\n"}},
		{"two and a half max", []string{long, long, "zz"}, []string{"[7] " + long + "\n", "[7] " + long + "\n", "[7] zz\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &writesRecorder{}
			out := &output{stdout: rec, stderr: rec}
			w := &lineWriter{out: out, dst: rec, prefix: "[7] ", tail: newTail(3)}
			for _, c := range tt.chunks {
				n, err := w.Write([]byte(c))
				if n != len(c) || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", len(c), n, err, len(c))
				}
			}
			w.flush()
			if !slices.Equal(rec.writes, tt.want) {
				t.Errorf("writes = %.80q, want %.80q", rec.writes, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		n     int
		lines []string
		want  []string
	}{
		{3, nil, []string{}},
		{3, []string{"a"}, []string{"a"}},
		{3, []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{3, []string{"a", "b", "c", "d"}, []string{"b", "c", "d"}},
		{3, []string{"a", "b", "c", "d", "e", "f", "g"}, []string{"e", "f", "g"}},
		{0, []string{"a"}, []string{}},
	}
	for _, tt := range tests {
		tl := newTail(tt.n)
		for _, l := range tt.lines {
			tl.add([]byte(l))
		}
		if got := tl.get(); !slices.Equal(got, tt.want) {
			t.Errorf("tail(%d) after %q = %q, want %q", tt.n, tt.lines, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"aé", 2, "a…"}, // é is two bytes: do not cut it in half
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := truncate([]byte(tt.in), tt.limit); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestRankPrefix(t *testing.T) {
	tests := []struct {
		rank, np int
		want     string
	}{
		{0, 1, "[0] "},
		{9, 10, "[9] "},
		{3, 11, "[ 3] "},
		{10, 11, "[10] "},
		{7, 1000, "[  7] "},
	}
	for _, tt := range tests {
		if got := rankPrefix(tt.rank, tt.np); got != tt.want {
			t.Errorf("rankPrefix(%d, %d) = %q, want %q", tt.rank, tt.np, got, tt.want)
		}
	}
}

// TestLineWriterConcurrent writes from many workers and both streams into
// one destination and checks that no line is torn.
func TestLineWriterConcurrent(t *testing.T) {
	const workers, lines = 8, 200
	var dst bytes.Buffer // guarded by out.mu
	out := &output{stdout: &dst, stderr: &dst}
	var wg sync.WaitGroup
	for r := range workers {
		tl := newTail(5)
		for _, stream := range []string{"out", "err"} {
			w := &lineWriter{out: out, dst: &dst, prefix: rankPrefix(r, workers), tail: tl}
			wg.Go(func() {
				for i := range lines {
					// Split each line over two writes to exercise buffering.
					l := fmt.Sprintf("%s line %d of rank %d\n", stream, i, r)
					w.Write([]byte(l[:5]))
					w.Write([]byte(l[5:]))
				}
				w.flush()
			})
		}
	}
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	if len(got) != workers*2*lines {
		t.Fatalf("got %d lines, want %d", len(got), workers*2*lines)
	}
	for _, l := range got {
		var r, i, r2 int
		var stream string
		if _, err := fmt.Sscanf(l, "[%d] %s line %d of rank %d", &r, &stream, &i, &r2); err != nil || r != r2 {
			t.Fatalf("torn line %q (err %v)", l, err)
		}
	}
}

// TestStatusLine pins the latest progress line below the output on a
// terminal, clipped to its width; status-only lines redraw it at once and
// are never printed. Plain output (not a terminal) gets the other lines
// only.
func TestStatusLine(t *testing.T) {
	status := func(line []byte) ([]byte, bool) {
		switch {
		case bytes.HasPrefix(line, []byte("round ")):
			return line, false
		case bytes.HasPrefix(line, []byte("live ")):
			return line[len("live "):], true
		}
		return nil, false
	}
	for _, terminal := range []bool{false, true} {
		var dst bytes.Buffer
		out := &output{stdout: &dst, stderr: &dst, terminal: terminal, width: func() int { return 20 }}
		w := &lineWriter{out: out, dst: &dst, prefix: "[0] ", tail: newTail(10), status: status}
		for _, l := range []string{"hello\n", "round 1/2 acc 90%\n", "live training 1/3 clients, round 1: acc 90%\n",
			"log line\n", "round 2/2 acc 95.5% loss 0.1\n"} {
			if _, err := w.Write([]byte(l)); err != nil {
				t.Fatal(err)
			}
		}
		out.clearStatus()
		want := "[0] hello\n[0] round 1/2 acc 90%\n[0] log line\n[0] round 2/2 acc 95.5% loss 0.1\n"
		if terminal {
			want = "[0] hello\n" +
				"\r\x1b[K[0] round 1/2 acc 90%\nround 1/2 acc 90%" +
				"\r\x1b[Ktraining 1/3 clien…" +
				"\r\x1b[K[0] log line\ntraining 1/3 clien…" +
				"\r\x1b[K[0] round 2/2 acc 95.5% loss 0.1\nround 2/2 acc 95.5…" +
				"\r\x1b[K"
		}
		if got := dst.String(); got != want {
			t.Errorf("terminal=%v: output\n%q\nwant\n%q", terminal, got, want)
		}
		if tail := strings.Join(w.tail.get(), "|"); strings.Contains(tail, "live") {
			t.Errorf("terminal=%v: the tail keeps a status-only line: %q", terminal, tail)
		}
	}
}

// TestClip: the status line fits in width−1 columns, counted in runes,
// and a cut never splits a multibyte character.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		line  string
		width int
		want  string
	}{
		{"", 80, ""},
		{"short", 80, "short"},
		{"abcdef", 7, "abcdef"},  // 6 runes fit in 6 columns
		{"abcdefg", 7, "abcde…"}, // 7 do not
		{"abcdefg", 2, "…"},
		{"abcdefg", 1, ""},
		{"abcdefg", 0, ""},
		{"héllo wörld", 8, "héllo …"},
		{"日本語のテキストです", 6, "日本語の…"},
		{"ab€cd", 4, "ab…"},
		{"ab€", 4, "ab€"},
		{"x\xffy\xfez", 4, "x\xff…"}, // invalid bytes count as one column each
		{"round 12/100  training: 3/10 clients  │  round 11/100  test accuracy 97.51%", 40,
			"round 12/100  training: 3/10 clients  …"},
	} {
		got := string(clip([]byte(tc.line), tc.width))
		if got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.line, tc.width, got, tc.want)
		}
		if utf8.ValidString(tc.line) && !utf8.ValidString(got) {
			t.Errorf("clip(%q, %d) = %q splits a character", tc.line, tc.width, got)
		}
		if n := utf8.RuneCountInString(got); tc.width > 0 && n > tc.width-1 {
			t.Errorf("clip(%q, %d) = %q has %d runes, over %d", tc.line, tc.width, got, n, tc.width-1)
		}
	}
}

// FuzzClip: a clipped line fits, keeps valid UTF-8 valid and is a prefix
// of the line (plus "…" when cut).
func FuzzClip(f *testing.F) {
	f.Add("round 1/2  training: 3/4 clients", 20)
	f.Add("日本語のテキストです", 6)
	f.Add("x\xffy\xfez", 4)
	f.Fuzz(func(t *testing.T, line string, width int) {
		got := string(clip([]byte(line), width))
		if width > 0 && utf8.RuneCountInString(got) > width-1 {
			t.Errorf("clip(%q, %d) = %q: over %d runes", line, width, got, width-1)
		}
		if utf8.ValidString(line) && !utf8.ValidString(got) {
			t.Errorf("clip(%q, %d) = %q splits a character", line, width, got)
		}
		if got != line && !strings.HasPrefix(line, strings.TrimSuffix(got, "…")) {
			t.Errorf("clip(%q, %d) = %q is not a prefix", line, width, got)
		}
	})
}
