package partition

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Config selects a partition scheme. The zero value is not valid; start
// from [DefaultConfig].
type Config struct {
	// Scheme is one of [Schemes], or an FLTK spelling of one ("uniform",
	// "limit labels", "q sampler", "n labels"). Case, spaces and
	// underscores do not matter.
	Scheme string

	// Args are the scheme's parameters, in the order documented in the
	// package documentation. Missing trailing arguments take their
	// defaults; extra arguments are an error (FLTK's trailing seed is not
	// an argument here: it is Seed).
	Args []float64

	// Seed drives every random choice of the partition.
	Seed uint64
}

// DefaultConfig returns the IID partition with seed 0.
func DefaultConfig() Config { return Config{Scheme: "iid"} }

// Validate canonicalises Scheme, fills missing Args with the scheme's
// defaults (into a new slice: the caller's is never written) and checks
// the arguments that can be checked without data.
func (c *Config) Validate() error {
	name := canonical(c.Scheme)
	sc, ok := schemeByName(name)
	if !ok {
		return fmt.Errorf("%w %q (valid: %s)", ErrUnknownScheme, c.Scheme, strings.Join(Schemes(), ", "))
	}
	if len(c.Args) > len(sc.defaults) {
		return fmt.Errorf("%w: %s takes at most %d argument(s) %v, got %d: %v (the seed is Config.Seed)",
			ErrArgs, sc.name, len(sc.defaults), sc.argNames, len(c.Args), c.Args)
	}
	args := append([]float64(nil), c.Args...)
	args = append(args, sc.defaults[len(args):]...)
	for i, a := range args {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("%w: %s %s = %v is not finite", ErrArgs, sc.name, sc.argNames[i], a)
		}
	}
	if sc.check != nil {
		if err := sc.check(args); err != nil {
			return err
		}
	}
	c.Scheme, c.Args = sc.name, args
	return nil
}

// Schemes returns the canonical scheme names, in a fixed order.
func Schemes() []string {
	out := make([]string, len(schemes))
	for i, s := range schemes {
		out[i] = s.name
	}
	return out
}

// Split partitions the samples with the given labels over clients
// according to cfg, and returns, for each client 0 … clients−1, the indices
// of its samples in a seeded random order.
//
// The result is a pure function of its arguments: the same inputs give the
// same partition bit for bit on the same architecture, whatever the number
// of ranks or processes computing it. groups is used only by the "natural"
// scheme and may be nil otherwise.
//
// Unless a scheme's documentation says otherwise, every index in
// [0, len(labels)) is assigned to exactly one client. Split fails if a
// client would be left without samples.
func Split(labels []int32, classes, clients int, groups []int32, cfg Config) ([][]int, error) {
	if clients < 1 {
		return nil, fmt.Errorf("%w: %d clients, need at least 1", ErrClients, clients)
	}
	if classes < 1 {
		return nil, fmt.Errorf("%w: %d classes, need at least 1", ErrClasses, classes)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for i, l := range labels {
		if l < 0 || int(l) >= classes {
			return nil, fmt.Errorf("%w: label %d of sample %d is outside [0, %d)", ErrLabel, l, i, classes)
		}
	}
	sc, _ := schemeByName(cfg.Scheme)
	s := &splitter{
		labels:  labels,
		classes: classes,
		clients: clients,
		groups:  groups,
		args:    cfg.Args,
		rng:     newRand(cfg.Seed, streamAssign),
	}
	parts, err := sc.split(s)
	if err != nil {
		return nil, err
	}
	for c, p := range parts {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: client %d of %d under scheme %s %v (%d samples, %d classes)",
				ErrEmptyClient, c, clients, cfg.Scheme, cfg.Args, len(labels), classes)
		}
	}
	for c, p := range parts {
		r := newRand(cfg.Seed, streamShuffle^mix(uint64(c)))
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	}
	return parts, nil
}

// Histogram counts the labels of the samples idx: the result has one entry
// per class. It panics if a label is outside [0, classes) or an index is
// outside labels.
func Histogram(labels []int32, classes int, idx []int) []int {
	h := make([]int, classes)
	for _, i := range idx {
		h[labels[i]]++
	}
	return h
}

// Random streams. Each purpose has its own PCG stream so that changing one
// stage of a scheme does not shift the numbers drawn by another.
const (
	streamAssign  = 0x6a09e667f3bcc908
	streamShuffle = 0xbb67ae8584caa73b
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// mix is SplitMix64's finaliser: it spreads consecutive client ids over
// unrelated PCG seeds.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// canonical maps a scheme name or FLTK spelling to its canonical form.
func canonical(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer(" ", "-", "_", "-").Replace(s)
	switch s {
	case "uniform":
		return "iid"
	case "q":
		return "q-sampler"
	}
	return s
}

func schemeByName(name string) (scheme, bool) {
	i := slices.IndexFunc(schemes, func(s scheme) bool { return s.name == name })
	if i < 0 {
		return scheme{}, false
	}
	return schemes[i], true
}

// intArg checks that a is a whole number of at least lo.
func intArg(scheme, name string, a float64, lo int) error {
	if a != math.Trunc(a) || a < float64(lo) || a > 1<<31 {
		return fmt.Errorf("%w: %s %s = %v must be a whole number ≥ %d", ErrArgs, scheme, name, a, lo)
	}
	return nil
}
