package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/fltk-go/fltk/configs"
)

// ErrSweep is wrapped by every problem in a sweep file.
var ErrSweep = errors.New("sweep: invalid sweep file")

// reserved are config keys a sweep sets itself for every run.
var reserved = map[string]string{
	"job.name":       "the sweep names each run",
	"output.dir":     "each run writes into the sweep's folder",
	"job.world_size": "use np = [...]",
	"job.seed":       "use repeats: runs get job.seed, job.seed+1, …",
	"job.task":       "the base config's job.task decides sweep.csv's columns",
}

// maxErrors bounds the invalid runs reported one by one.
const maxErrors = 10

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Axis is one grid key with its values, in file order.
type Axis struct {
	Key    string // dotted config key, e.g. "train.learning_rate"
	Values []any  // TOML values: int64, float64, string, bool, []any
}

// Run is one job of a plan.
type Run struct {
	Index  int    // 1-based position in the plan
	ID     string // folder name and job.name, e.g. "003-lr0p1-np5-seed43"
	Values []any  // one per axis of the plan
	NP     int
	Seed   int64
	Config *configs.Config
	TOML   []byte // run.toml: the overrides as comments, then the full config
}

// Plan is a validated sweep: every run's configuration.
type Plan struct {
	Name string
	Task string // job.task of the base: "train" or "bench"
	File string // the sweep file
	Base string // the base config's path (relative to the working directory or absolute)
	Dir  string // absolute <output.dir>/sweeps/<name>
	Axes []Axis
	Runs []Run
}

// Describe returns the run's overrides as "key=value np=N seed=S".
func (p *Plan) Describe(r *Run) string {
	var b strings.Builder
	for i, a := range p.Axes {
		fmt.Fprintf(&b, "%s=%s ", a.Key, FormatValue(r.Values[i]))
	}
	fmt.Fprintf(&b, "np=%d seed=%d", r.NP, r.Seed)
	return b.String()
}

// Load reads the sweep file at path and builds its plan. Every problem is
// reported (wrapping [ErrSweep]) before anything runs: unknown keys, an
// empty grid or value list, repeats < 1, np < 2, a base config that does
// not load, and grid values the config decoder rejects, naming the key.
func Load(path string) (*Plan, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSweep, err)
	}
	return Parse(path, src)
}

// Parse is [Load] on the contents src of the sweep file at path.
func Parse(path string, src []byte) (*Plan, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrSweep, path, fmt.Sprintf(format, args...))
	}
	var raw map[string]any
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		return nil, bad("%v", err)
	}
	for k := range raw {
		switch k {
		case "name", "base", "repeats", "np", "grid":
		default:
			return nil, bad("unknown key %q (keys: name, base, repeats, np, [grid])", k)
		}
	}
	p := &Plan{File: path}
	var ok bool
	if p.Name, ok = raw["name"].(string); raw["name"] != nil && !ok {
		return nil, bad("name: expected a string")
	}
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if !validName.MatchString(p.Name) {
		return nil, bad("name %q: want 1 to 64 characters from A-Z, a-z, 0-9, _ and -", p.Name)
	}
	base, ok := raw["base"].(string)
	if !ok || base == "" {
		return nil, bad("base: expected the path of a config file (relative to the sweep file)")
	}
	if !filepath.IsAbs(base) {
		base = filepath.Join(filepath.Dir(path), base)
	}
	p.Base = base
	repeats := int64(1)
	if v, present := raw["repeats"]; present {
		if repeats, ok = v.(int64); !ok {
			return nil, bad("repeats: expected an integer, got %s", configs.Describe(v))
		}
		if repeats < 1 {
			return nil, bad("repeats: must be at least 1, got %d", repeats)
		}
	}
	var nps []int
	if v, present := raw["np"]; present {
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return nil, bad("np: expected a non-empty array of world sizes, got %s", configs.Describe(v))
		}
		for _, e := range arr {
			n, ok := e.(int64)
			if !ok || n < 2 || n > 1024 {
				return nil, bad("np: %v: every world size must be an integer in 2..1024 (the federator and at least one client)", e)
			}
			nps = append(nps, int(n))
		}
	}
	if p.Axes, err = axes(raw, md); err != nil {
		return nil, bad("%v", err)
	}

	baseSrc, err := os.ReadFile(base)
	if err != nil {
		return nil, bad("base: %v", err)
	}
	baseCfg, err := configs.Parse(base, baseSrc)
	if err != nil {
		return nil, bad("base config:\n%v", err)
	}
	if p.Task = baseCfg.Job.Task; p.Task != "train" && p.Task != "bench" {
		return nil, bad("base config %s: job.task is %q; a sweep runs training jobs (\"train\") or benchmark jobs (\"bench\")", base, p.Task)
	}
	var baseDoc map[string]any
	if _, err := toml.Decode(string(baseSrc), &baseDoc); err != nil {
		return nil, bad("base config: %v", err)
	}
	if nps == nil {
		if baseCfg.Job.WorldSize < 2 {
			return nil, bad("np: not given, and the base config's job.world_size %d is below 2", baseCfg.Job.WorldSize)
		}
		nps = []int{baseCfg.Job.WorldSize}
	}
	dir, err := filepath.Abs(filepath.Join(baseCfg.Output.Dir, "sweeps", p.Name))
	if err != nil {
		return nil, bad("%v", err)
	}
	p.Dir = dir

	// Each value on its own first, so that an unknown key or a value of the
	// wrong type is named precisely; range checks wait for the full runs,
	// as a value may be valid only with another key's value or np.
	var errs []error
	for _, a := range p.Axes {
		for _, v := range a.Values {
			doc := clone(baseDoc)
			if err := set(doc, a.Key, v); err != nil {
				errs = append(errs, fmt.Errorf("grid %q = %s: %w", a.Key, FormatValue(v), err))
				continue
			}
			if err := decodeErrors(doc); err != nil {
				errs = append(errs, fmt.Errorf("grid %q = %s: %w", a.Key, FormatValue(v), err))
			}
		}
	}
	if len(errs) > 0 {
		return nil, bad("%v", errors.Join(errs...))
	}

	// Then every run, as its workers will load it.
	combos := product(p.Axes)
	total := len(combos) * len(nps) * int(repeats)
	width := max(3, len(strconv.Itoa(total)))
	dropped := 0
	for _, values := range combos {
		for _, np := range nps {
			for r := range repeats {
				run := Run{Index: len(p.Runs) + 1, Values: values, NP: np, Seed: baseCfg.Job.Seed + r}
				run.ID = runID(width, run.Index, p.Axes, values, np, run.Seed)
				doc := clone(baseDoc)
				for i, a := range p.Axes {
					_ = set(doc, a.Key, values[i]) // checked above
				}
				_ = set(doc, "job.name", run.ID)
				_ = set(doc, "job.world_size", int64(np))
				_ = set(doc, "job.seed", run.Seed)
				_ = set(doc, "output.dir", p.Dir)
				body, err := encode(doc)
				if err != nil {
					return nil, bad("run %d: %v", run.Index, err)
				}
				if run.Config, err = configs.Parse("run.toml", body); err != nil {
					if len(errs) < maxErrors {
						errs = append(errs, fmt.Errorf("run %d (%s): %w", run.Index, p.Describe(&run), messages(err)))
					} else {
						dropped++
					}
					continue
				}
				run.TOML = runTOML(p, &run, body)
				p.Runs = append(p.Runs, run)
			}
		}
	}
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("… and %d more runs", dropped))
	}
	if len(errs) > 0 {
		return nil, bad("%v", errors.Join(errs...))
	}
	return p, nil
}

// axes returns the [grid] table's keys in file order. Both quoted
// ("train.learning_rate" = [...]) and dotted (train.learning_rate = [...])
// keys are accepted.
func axes(raw map[string]any, md toml.MetaData) ([]Axis, error) {
	g, present := raw["grid"]
	if !present {
		return nil, errors.New("[grid] is missing: a sweep needs at least one key with a list of values")
	}
	grid, ok := g.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("grid: expected a table, got %s", configs.Describe(g))
	}
	var out []Axis
	seen := map[string]bool{}
	for _, k := range md.Keys() {
		if len(k) < 2 || k[0] != "grid" {
			continue
		}
		v := lookup(grid, k[1:])
		if _, table := v.(map[string]any); table {
			continue
		}
		key := strings.Join(k[1:], ".")
		if seen[key] {
			return nil, fmt.Errorf("grid key %q given twice", key)
		}
		seen[key] = true
		if why, ok := reserved[key]; ok {
			return nil, fmt.Errorf("grid key %q cannot be swept: %s", key, why)
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("grid key %q: expected an array of values, got %s", key, configs.Describe(v))
		}
		if len(arr) == 0 {
			return nil, fmt.Errorf("grid key %q: empty list of values", key)
		}
		out = append(out, Axis{Key: key, Values: arr})
	}
	if len(out) == 0 {
		return nil, errors.New("[grid] is empty: a sweep needs at least one key with a list of values")
	}
	return out, nil
}

func lookup(m map[string]any, path []string) any {
	var v any = m
	for _, p := range path {
		t, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = t[p]
	}
	return v
}

// product returns every combination of the axes' values, the first axis
// varying slowest.
func product(axes []Axis) [][]any {
	out := [][]any{{}}
	for _, a := range axes {
		var next [][]any
		for _, prefix := range out {
			for _, v := range a.Values {
				next = append(next, append(prefix[:len(prefix):len(prefix)], v))
			}
		}
		out = next
	}
	return out
}

// clone deep-copies the tables of a decoded TOML document.
func clone(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		if t, ok := v.(map[string]any); ok {
			out[k] = clone(t)
		}
	}
	return out
}

// set sets the dotted key in doc, creating tables on the way.
func set(doc map[string]any, key string, v any) error {
	parts := strings.Split(key, ".")
	t := doc
	for _, p := range parts[:len(parts)-1] {
		next, present := t[p]
		if !present {
			m := map[string]any{}
			t[p] = m
			t = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%q is not a table", p)
		}
		t = m
	}
	t[parts[len(parts)-1]] = v
	return nil
}

func encode(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeErrors runs the config decoder on doc and returns its syntax,
// unknown-key and type errors (not range checks), without file and line
// (which would point into the generated document).
func decodeErrors(doc map[string]any) error {
	body, err := encode(doc)
	if err != nil {
		return err
	}
	_, err = configs.Parse("", body)
	var keep []error
	for _, e := range unjoin(err) {
		if !errors.Is(e, configs.ErrInvalid) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return messages(errors.Join(keep...))
}

// unjoin returns the errors joined in err.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// messages strips file and line from the configs errors joined in err.
func messages(err error) error {
	var parts []string
	for _, e := range unjoin(err) {
		var ce *configs.Error
		if errors.As(e, &ce) && ce.Err != nil {
			parts = append(parts, ce.Err.Error())
			continue
		}
		parts = append(parts, e.Error())
	}
	return errors.New(strings.Join(parts, "; "))
}

// runTOML returns the run.toml of r: its overrides as comments, then the
// full config.
func runTOML(p *Plan, r *Run, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Run %d of sweep %q (%s), base %s.\n# Overrides:\n", r.Index, p.Name, p.File, p.Base)
	for i, a := range p.Axes {
		fmt.Fprintf(&b, "#   %s = %s\n", a.Key, FormatValue(r.Values[i]))
	}
	fmt.Fprintf(&b, "#   np = %d\n#   job.seed = %d\n\n", r.NP, r.Seed)
	b.Write(body)
	return b.Bytes()
}

// runID returns a readable folder name and job.name for a run, at most 64
// characters from [A-Za-z0-9_-]: its index, the keys that vary with their
// values, np and seed.
func runID(width, index int, axes []Axis, values []any, np int, seed int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%0*d", width, index)
	for i, a := range axes {
		if len(a.Values) > 1 { // constant keys would only lengthen the id
			b.WriteString("-" + shortKey(a.Key) + idValue(values[i]))
		}
	}
	tail := fmt.Sprintf("-np%d-seed%d", np, seed)
	if b.Len()+len(tail) > 64 {
		return fmt.Sprintf("%0*d", width, index) + tail
	}
	return b.String() + tail
}

// shortKey abbreviates a key's last part: its initials if it has several
// words ("learning_rate" → "lr"), else the word.
func shortKey(key string) string {
	last := key[strings.LastIndexByte(key, '.')+1:]
	words := strings.Split(last, "_")
	if len(words) == 1 {
		return last
	}
	var b strings.Builder
	for _, w := range words {
		if w != "" {
			b.WriteByte(w[0])
		}
	}
	return b.String()
}

// idValue renders v for a run id: '.' becomes 'p', '-' 'm', other
// characters outside [A-Za-z0-9_] '_'.
func idValue(v any) string {
	s := FormatValue(v)
	if arr, ok := v.([]any); ok {
		parts := make([]string, len(arr))
		for i, e := range arr {
			parts[i] = FormatValue(e)
		}
		s = strings.Join(parts, "_")
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.':
			return 'p'
		case r == '-':
			return 'm'
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, s)
}

// FormatValue renders a grid value as in sweep.csv: numbers and strings
// bare, arrays as "[a, b]".
func FormatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = FormatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}
