package configs

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// keyLines scans src, a TOML document that the TOML parser has already
// accepted, and returns the 1-based line on which each key of at most
// maxDepth parts is first mentioned, indexed by [toml.Key.String] of its
// full path. A table that is defined implicitly, by a header such as [a.b]
// or a dotted key such as a.b = 1, gets the line of its first mention.
//
// Bounding the depth keeps the scan linear on hostile input such as
// thousands of nested inline tables; Parse only asks about keys as deep as
// Config's.
//
// The TOML parser keeps key positions to itself, hence this scanner. It
// understands table headers, array-of-tables headers, dotted, quoted and
// literal keys, inline tables (recorded) and arrays (skipped, since keys
// inside arrays of tables are never reported), strings of all four kinds,
// and comments. On anything it does not expect it stops and returns what it
// has found so far, so a key it cannot place is simply reported without a
// line. It never panics: every read goes through peek.
func keyLines(src string, maxDepth int) map[string]int {
	s := &lineScanner{src: stripBOM(src), line: 1, maxDepth: maxDepth, lines: make(map[string]int)}
	s.document()
	return s.lines
}

// stripBOM removes a byte order mark, as the TOML parser does.
func stripBOM(src string) string {
	switch {
	case strings.HasPrefix(src, "\xef\xbb\xbf"):
		return src[3:]
	case strings.HasPrefix(src, "\xff\xfe"), strings.HasPrefix(src, "\xfe\xff"):
		return src[2:]
	}
	return src
}

// lineScanner is the state of keyLines.
type lineScanner struct {
	src      string
	pos      int            // byte offset of the next unread byte
	line     int            // 1-based line of src[pos]
	maxDepth int            // longest path recorded
	lines    map[string]int // result
}

// peek returns the byte k bytes ahead, or 0 past the end.
func (s *lineScanner) peek(k int) byte {
	if i := s.pos + k; i >= 0 && i < len(s.src) {
		return s.src[i]
	}
	return 0
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

// advance consumes n bytes, counting newlines.
func (s *lineScanner) advance(n int) {
	for ; n > 0 && s.pos < len(s.src); n-- {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

// skipSpace consumes spaces and tabs.
func (s *lineScanner) skipSpace() {
	for c := s.peek(0); c == ' ' || c == '\t'; c = s.peek(0) {
		s.pos++
	}
}

// skipBlank consumes whitespace, newlines and comments.
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.peek(0) {
		case ' ', '\t', '\r', '\n':
			s.advance(1)
		case '#':
			for !s.eof() && s.peek(0) != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

// record notes line for path and every prefix of it not seen before, up to
// s.maxDepth parts.
func (s *lineScanner) record(path []string, line int) {
	for i := 1; i <= min(len(path), s.maxDepth); i++ {
		k := toml.Key(path[:i]).String()
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = line
		}
	}
}

// document scans top-level expressions until the end or a surprise.
func (s *lineScanner) document() {
	var table []string // path of the current [table] or [[array]]
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		if s.peek(0) == '[' {
			n := 1
			if s.peek(1) == '[' {
				n = 2
			}
			line := s.line
			s.advance(n)
			path, ok := s.key()
			if !ok {
				return
			}
			s.skipSpace()
			for range n {
				if s.peek(0) != ']' {
					return
				}
				s.advance(1)
			}
			s.record(path, line)
			table = path
			continue
		}
		if !s.keyValue(table, true) {
			return
		}
	}
}

// keyValue scans "key = value" whose key is relative to prefix, recording
// the key if rec is set.
func (s *lineScanner) keyValue(prefix []string, rec bool) bool {
	line := s.line
	path, ok := s.key()
	if !ok {
		return false
	}
	s.skipSpace()
	if s.peek(0) != '=' {
		return false
	}
	s.advance(1)
	s.skipSpace()
	full := append(append(make([]string, 0, len(prefix)+len(path)), prefix...), path...)
	if rec {
		s.record(full, line)
	}
	if len(full) >= s.maxDepth {
		// Nothing below full is recorded: stop carrying the path, so that
		// nested inline tables cost no more than arrays.
		return s.value(nil, false)
	}
	return s.value(full, rec)
}

// key scans a possibly dotted key, with optional spaces around the dots.
func (s *lineScanner) key() ([]string, bool) {
	var path []string
	for {
		s.skipSpace()
		var (
			part string
			ok   bool
		)
		switch c := s.peek(0); {
		case c == '"':
			part, ok = s.basicKey()
		case c == '\'':
			part, ok = s.literalKey()
		default:
			start := s.pos
			for isNameRune(rune(s.peek(0))) {
				s.pos++
			}
			part, ok = s.src[start:s.pos], s.pos > start
		}
		if !ok {
			return nil, false
		}
		path = append(path, part)
		s.skipSpace()
		if s.peek(0) != '.' {
			return path, true
		}
		s.advance(1)
	}
}

// basicKey scans a "quoted" key and returns it unescaped.
func (s *lineScanner) basicKey() (string, bool) {
	start := s.pos + 1
	end, ok := s.basicString()
	if !ok {
		return "", false
	}
	return unescape(s.src[start:end]), true
}

// literalKey scans a 'literal' key.
func (s *lineScanner) literalKey() (string, bool) {
	start := s.pos + 1
	end := strings.IndexAny(s.src[start:], "'\n")
	if end < 0 || s.src[start+end] != '\'' {
		return "", false
	}
	s.pos = start + end + 1
	return s.src[start : start+end], true
}

// basicString scans a single-line "string" starting at the opening quote
// and returns the offset of its closing quote.
func (s *lineScanner) basicString() (int, bool) {
	s.pos++ // opening quote
	for !s.eof() {
		switch s.peek(0) {
		case '\\':
			s.pos += 2
		case '"':
			end := s.pos
			s.pos++
			return end, true
		case '\n':
			return 0, false
		default:
			s.pos++
		}
	}
	return 0, false
}

// multiline scans a multi-line string, delimited by three q characters,
// starting at its opening delimiter. Up to two q may precede the closing
// delimiter.
func (s *lineScanner) multiline(q byte) bool {
	s.advance(3)
	for !s.eof() {
		c := s.peek(0)
		switch {
		case c == '\\' && q == '"':
			s.advance(2)
		case c == q && s.peek(1) == q && s.peek(2) == q:
			s.advance(3)
			for i := 0; i < 2 && s.peek(0) == q; i++ {
				s.advance(1)
			}
			return true
		default:
			s.advance(1)
		}
	}
	return false
}

// value scans one value of the key at path. Keys of inline tables are
// recorded if rec is set; keys inside arrays never are.
func (s *lineScanner) value(path []string, rec bool) bool {
	switch c := s.peek(0); c {
	case '"', '\'':
		if s.peek(1) == c && s.peek(2) == c {
			return s.multiline(c)
		}
		if c == '"' {
			_, ok := s.basicString()
			return ok
		}
		_, ok := s.literalKey()
		return ok
	case '[':
		s.advance(1)
		for {
			s.skipBlank()
			switch s.peek(0) {
			case ']':
				s.advance(1)
				return true
			case ',':
				s.advance(1)
			case 0:
				return false
			default:
				if !s.value(nil, false) {
					return false
				}
			}
		}
	case '{':
		s.advance(1)
		for {
			s.skipBlank()
			switch s.peek(0) {
			case '}':
				s.advance(1)
				return true
			case ',':
				s.advance(1)
			case 0:
				return false
			default:
				if !s.keyValue(path, rec) {
					return false
				}
			}
		}
	}
	// A number, boolean, or date-time. A date and a time may be separated
	// by a space ("1979-05-27 07:32:00Z"), so glue them back together.
	start := s.pos
	s.scalar()
	if s.pos == start {
		return false
	}
	if s.pos-start == len("2006-01-02") && s.src[start+4] == '-' &&
		s.peek(0) == ' ' && isDigit(s.peek(1)) {
		s.pos++
		s.scalar()
	}
	return true
}

// scalar consumes the characters of a bare value.
func (s *lineScanner) scalar() {
	for !s.eof() {
		switch s.peek(0) {
		case ' ', '\t', '\r', '\n', ',', ']', '}', '#':
			return
		}
		s.pos++
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// unescape decodes the escapes of a TOML basic string. It returns s
// unchanged if an escape is malformed, which the parser would have rejected.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return s
		}
		i++
		var hexLen int
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(s[i])
		case 'x':
			hexLen = 2
		case 'u':
			hexLen = 4
		case 'U':
			hexLen = 8
		default:
			return s
		}
		if hexLen == 0 {
			continue
		}
		if i+1+hexLen > len(s) {
			return s
		}
		r, err := strconv.ParseUint(s[i+1:i+1+hexLen], 16, 32)
		if err != nil || !utf8.ValidRune(rune(r)) {
			return s
		}
		b.WriteRune(rune(r))
		i += hexLen
	}
	return b.String()
}
