package configs

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the file at path and returns its configuration, as [Parse]
// does. Error messages name the file as path.
func Load(path string) (*Config, error) {
	return LoadWith(path, nil)
}

// LoadWith is [Load] with override (if not nil) applied to the decoded
// configuration before it is validated, as command-line flags that set
// keys do (fltk-launch -np sets job.world_size).
func LoadWith(path string, override func(*Config)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return parse(path, data, override)
}

// Parse decodes the TOML document data, named name in error messages, over
// [DefaultConfig] and validates the result.
//
// Decoding is strict: syntax errors, unknown keys (keys are case sensitive)
// and values of the wrong type are errors, and all of them are reported, in
// line order, joined with [errors.Join]. If decoding succeeds, the result of
// [Config.Validate] is reported the same way. Each problem is an [*Error]
// with File set to name and, where the key appears in data, Line set.
//
// Parse returns a non-nil *Config if and only if the error is nil; the
// configuration it returns always passes Validate.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, nil)
}

// parse is [Parse] with override (if not nil) applied before Validate.
func parse(name string, data []byte, override func(*Config)) (*Config, error) {
	src := string(data)
	doc, err := parseTOML(src)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}

	cfg := DefaultConfig()
	d := decoder{file: name, src: src}
	d.table(nil, doc, reflect.ValueOf(&cfg).Elem())
	if len(d.errs) == 0 && override != nil {
		override(&cfg)
	}
	if len(d.errs) == 0 {
		if err := cfg.Validate(); err != nil {
			for _, e := range flatten(err) {
				d.add(e)
			}
		}
	}
	if len(d.errs) > 0 {
		// Document order, then key; problems without a line last. The sort
		// is stable so that Validate's order breaks any remaining tie.
		slices.SortStableFunc(d.errs, func(a, b *Error) int {
			if c := cmp.Compare(lineKey(a.Line), lineKey(b.Line)); c != 0 {
				return c
			}
			return cmp.Compare(a.Key, b.Key)
		})
		errs := make([]error, len(d.errs))
		for i, e := range d.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

// lineKey orders unknown lines (0) after all known ones.
func lineKey(line int) int {
	if line <= 0 {
		return math.MaxInt
	}
	return line
}

// flatten returns the *Error values joined in err.
func flatten(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		} else if err != nil {
			out = append(out, &Error{Err: err})
		}
	}
	walk(err)
	return out
}

// parseTOML parses src into its generic form. The TOML package is trusted
// not to panic, but Parse promises never to, so a panic in it becomes a
// syntax error rather than a crash.
func parseTOML(src string) (doc map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("TOML parser failed: %v", r)
		}
	}()
	doc = make(map[string]any)
	if _, err := toml.Decode(src, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// syntaxError converts an error of the TOML parser for the document src.
func syntaxError(name, src string, err error) error {
	e := &Error{File: name}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		e.Err = &kindError{kind: ErrSyntax, msg: strings.TrimPrefix(err.Error(), "toml: ")}
		return e
	}
	e.Line = pe.Position.Line
	e.Err = &kindError{kind: ErrSyntax, msg: pe.Message}
	// When the offending character is a newline, the lexer has already
	// counted it and reports the next line, as for "[runtime⏎". Report the
	// line that the newline ends instead. Offsets are relative to the
	// document without its byte order mark, as for the parser.
	src = stripBOM(src)
	if start := pe.Position.Start; strings.Contains(pe.Message, `'\n'`) &&
		start >= 0 && start < len(src) && src[start] == '\n' {
		e.Line = 1 + strings.Count(src[:start], "\n")
	}
	return e
}

// decoder copies a parsed document into a Config, collecting every problem.
type decoder struct {
	file  string
	src   string
	lines map[string]int // from keyLines, computed on first need
	errs  []*Error
}

// add records e, filling in the file and the line of its key.
func (d *decoder) add(e *Error) {
	e.File = d.file
	if e.Line == 0 && e.Key != "" {
		if d.lines == nil {
			d.lines = keyLines(d.src, keyDepth)
		}
		e.Line = d.lines[e.Key]
	}
	d.errs = append(d.errs, e)
}

var durationType = reflect.TypeFor[Duration]()

// table decodes the TOML table m into the struct rv, whose path is path.
func (d *decoder) table(path []string, m map[string]any, rv reflect.Value) {
	fields := structFields(rv.Type())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		p := append(slices.Clip(path), k)
		key := toml.Key(p).String()
		idx, ok := fields[k]
		if !ok {
			msg := fmt.Sprintf("unknown key %s", quote(key))
			if s := suggest(key); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.add(newError(ErrUnknownKey, key, msg))
			continue
		}
		d.value(p, key, m[k], rv.FieldByIndex(idx))
	}
}

// value decodes the TOML value v into the field fv, whose path is p.
func (d *decoder) value(p []string, key string, v any, fv reflect.Value) {
	typeErr := func(want string) {
		d.add(newError(ErrType, key, fmt.Sprintf("key %s: expected %s, got %s", quote(key), want, Describe(v))))
	}
	switch t := fv.Type(); {
	case t == durationType:
		s, ok := v.(string)
		if !ok {
			typeErr(`a duration string such as "250ms", "5s" or "10m"`)
			return
		}
		if err := fv.Addr().Interface().(*Duration).UnmarshalText([]byte(s)); err != nil {
			d.add(newError(ErrType, key, fmt.Sprintf(
				`key %s: invalid duration %s, want a number with a unit (ns, us, ms, s, m, h) such as "250ms", "5s" or "10m"`,
				quote(key), quote(s))))
		}
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			typeErr("a table")
			return
		}
		d.table(p, m, fv)
	case t.Kind() == reflect.String:
		s, ok := v.(string)
		if !ok {
			typeErr("a string")
			return
		}
		fv.SetString(s)
	case t.Kind() == reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			typeErr("a boolean (true or false)")
			return
		}
		fv.SetBool(b)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			typeErr("an integer")
			return
		}
		if fv.OverflowInt(n) {
			d.add(newError(ErrType, key, fmt.Sprintf("key %s: %d does not fit in %s", quote(key), n, t.Kind())))
			return
		}
		fv.SetInt(n)
	case t.Kind() == reflect.Float64:
		switch n := v.(type) {
		case float64:
			fv.SetFloat(n)
		case int64: // 1 for 1.0: TOML users write integers for whole numbers
			fv.SetFloat(float64(n))
		default:
			typeErr("a number")
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Float64:
		arr, ok := v.([]any)
		if !ok {
			typeErr("an array of numbers")
			return
		}
		out := make([]float64, len(arr))
		for i, e := range arr {
			switch n := e.(type) {
			case float64:
				out[i] = n
			case int64:
				out[i] = float64(n)
			default:
				d.add(newError(ErrType, key, fmt.Sprintf("key %s: element %d: expected a number, got %s", quote(key), i, Describe(e))))
				return
			}
		}
		fv.Set(reflect.ValueOf(out))
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		arr, ok := v.([]any)
		if !ok {
			typeErr("an array of strings")
			return
		}
		out := make([]string, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				d.add(newError(ErrType, key, fmt.Sprintf("key %s: element %d: expected a string, got %s", quote(key), i, Describe(e))))
				return
			}
			out[i] = s
		}
		fv.Set(reflect.ValueOf(out))
	default:
		// A programmer error in Config, caught by the tests.
		d.add(newError(ErrType, key, fmt.Sprintf("key %s: configs cannot decode Go type %s", quote(key), t)))
	}
}

// Describe names the TOML type of a decoded value v, and its value for
// scalars, for messages ("integer 3", "array"); nil is "nothing".
func Describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return "string " + quote(v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case time.Time:
		return "datetime"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// structFields maps the toml tag of each field of struct type t to the
// field's index.
func structFields(t reflect.Type) map[string][]int {
	fields := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f.Index
	}
	return fields
}

// knownKeys returns the dotted key of every table and value of Config, in
// declaration order.
func knownKeys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := prefix + name
			out = append(out, key)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(key+".", f.Type)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return out
}

var allKeys = knownKeys()

// keyDepth is the number of parts of the deepest key of Config. Unknown
// keys are reported at the first level that Config does not define, so no
// reported key is deeper.
var keyDepth = func() int {
	n := 0
	for _, k := range allKeys {
		n = max(n, strings.Count(k, ".")+1)
	}
	return n
}()

// maxSuggestLen bounds the keys that suggest compares, to keep the edit
// distance cheap on hostile input.
const maxSuggestLen = 128

// suggest returns the known key closest to the unknown key, or "" if none
// is close. It compares case-insensitively, and also proposes a known key
// with the same last component in another table ("job.master" →
// "runtime.master").
func suggest(key string) string {
	if len(key) > maxSuggestLen {
		return ""
	}
	lower := strings.ToLower(key)
	last := lower[strings.LastIndexByte(lower, '.')+1:]
	best, bestDist := "", -1
	for _, k := range allKeys {
		dist := editDistance(lower, k)
		if kl := k[strings.LastIndexByte(k, '.')+1:]; kl == last && strings.Contains(k, ".") {
			dist = min(dist, 1)
		}
		if bestDist < 0 || dist < bestDist {
			best, bestDist = k, dist
		}
	}
	// Allow about one edit per four characters, at least 1 and at most 3.
	if bestDist < 0 || bestDist > min(3, max(1, len(best)/4)) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
