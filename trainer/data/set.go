package data

import "fmt"

// Set is an in-memory labelled data set. Samples are stored back to back
// in X, SampleLen values each, and their labels back to back in Y,
// LabelsPerSample each.
//
// Invariants: len(X) == Len()*SampleLen(), len(Y) == Len()*LabelsPerSample,
// every label is in [0, Classes), Groups is nil or has Len() entries in
// [0, len(GroupNames)).
type Set struct {
	// Name is the data set's name: "mnist", "fashion-mnist", "cifar10",
	// "cifar100", "opticks", "bible", or the base name of a text file.
	Name string

	// X holds the samples. Images are CHW: MNIST and Fashion-MNIST
	// scaled to [0, 1]; CIFAR scaled to [0, 1] and then normalised per
	// channel, (v − mean)/std. Text holds token ids (exact in float32).
	X []float32

	// Y holds the labels: the class of each image, or the next token id
	// of each of a text window's time steps.
	Y []int32

	// Shape is the shape of one sample: {1, 28, 28}, {3, 32, 32}, or {T}
	// for text windows of T tokens.
	Shape []int

	// LabelsPerSample is 1 for images and T for text.
	LabelsPerSample int

	// Classes is the number of classes: 10, 20 (CIFAR-100 coarse), 100,
	// or the vocabulary size for text.
	Classes int

	// Groups, if not nil, is each sample's natural group (the Bible's
	// book, 0..65), for natural non-IID splits.
	Groups []int32

	// GroupNames names the groups (the Bible's book abbreviations, "Ge",
	// "Exo", …, "Rev"); nil when Groups is nil.
	GroupNames []string

	// Vocab maps token id to rune (text only; sorted, so ids follow
	// Unicode order).
	Vocab []rune
}

// Len returns the number of samples.
func (s *Set) Len() int {
	if s.LabelsPerSample <= 0 {
		return 0
	}
	return len(s.Y) / s.LabelsPerSample
}

// SampleLen returns the number of values of one sample: the product of
// Shape.
func (s *Set) SampleLen() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Label returns the first label of sample i: the class of an image, the
// token that follows a text window's first token. It panics if i is out
// of range.
func (s *Set) Label(i int) int32 {
	return s.Y[i*s.LabelsPerSample]
}

// Labels returns Label(i) for every sample, in a new slice (the input of
// the partitioners).
func (s *Set) Labels() []int32 {
	n := s.Len()
	out := make([]int32, n)
	for i := range out {
		out[i] = s.Y[i*s.LabelsPerSample]
	}
	return out
}

// Subset returns a new Set with copies of the samples idx, in that order
// (indices may repeat). Groups are kept; Shape, GroupNames and Vocab are
// shared with s. It panics if an index is out of range.
func (s *Set) Subset(idx []int) *Set {
	sl, lps := s.SampleLen(), s.LabelsPerSample
	out := *s
	out.X = make([]float32, len(idx)*sl)
	out.Y = make([]int32, len(idx)*lps)
	out.Groups = nil
	if s.Groups != nil {
		out.Groups = make([]int32, len(idx))
		for k, i := range idx {
			out.Groups[k] = s.Groups[i]
		}
	}
	s.Batch(idx, out.X, out.Y)
	return &out
}

// Batch gathers the samples idx into x and their labels into y, which
// must hold at least len(idx)*SampleLen() and len(idx)*LabelsPerSample
// values; only that prefix is written. It panics if x or y is too short
// or an index is out of range (programmer errors).
func (s *Set) Batch(idx []int, x []float32, y []int32) {
	sl, lps := s.SampleLen(), s.LabelsPerSample
	if len(x) < len(idx)*sl || len(y) < len(idx)*lps {
		panic(fmt.Sprintf("data: Batch of %d samples needs x of %d and y of %d values, got %d and %d",
			len(idx), len(idx)*sl, len(idx)*lps, len(x), len(y)))
	}
	for k, i := range idx {
		copy(x[k*sl:(k+1)*sl], s.X[i*sl:(i+1)*sl])
		copy(y[k*lps:(k+1)*lps], s.Y[i*lps:(i+1)*lps])
	}
}

// check verifies the invariants of a freshly loaded set (a loader bug, not
// bad input, would break them).
func (s *Set) check() error {
	n := s.Len()
	switch {
	case s.LabelsPerSample <= 0 || len(s.Y)%s.LabelsPerSample != 0:
		return fmt.Errorf("data: %s: %d labels is not a multiple of %d per sample", s.Name, len(s.Y), s.LabelsPerSample)
	case len(s.X) != n*s.SampleLen():
		return fmt.Errorf("data: %s: %d values for %d samples of shape %v", s.Name, len(s.X), n, s.Shape)
	case s.Groups != nil && len(s.Groups) != n:
		return fmt.Errorf("data: %s: %d groups for %d samples", s.Name, len(s.Groups), n)
	}
	return nil
}
