package data

import "fmt"

// Set is an in-memory labelled data set. Samples are stored back to back,
// SampleLen values each, either as float32 in X or as bytes in Bytes that
// ByteScale maps to float32; their labels are stored back to back in Y,
// LabelsPerSample each. Read the float32 values through [Set.Batch] (or
// [Set.Values]), which hide the representation.
//
// Invariants: exactly one of X and Bytes is non-nil; len(X) or len(Bytes)
// == Len()*SampleLen(); if Bytes is set, len(ByteScale) == Shape[0] ≥ 1;
// len(Y) == Len()*LabelsPerSample, every label is in [0, Classes), Groups
// is nil or has Len() entries in [0, len(GroupNames)).
type Set struct {
	// Name is the data set's name: "mnist", "fashion-mnist", "cifar10",
	// "cifar100", "opticks", "bible", or the base name of a text file.
	Name string

	// X holds the samples as float32, or is nil if Bytes holds them. The
	// loaders use it for text, whose samples are token ids (exact in
	// float32).
	X []float32

	// Bytes holds the samples as one byte per value, in the layout and
	// order X would have, or is nil if X holds them. The image loaders
	// use it: the files' pixel bytes take a quarter of the memory of
	// float32 and are converted when a batch is gathered.
	Bytes []uint8

	// ByteScale converts Bytes to float32 per channel: value j of a
	// sample, byte b, is ByteScale[c][b] with channel c =
	// j / (SampleLen()/Shape[0]), which is j / (H·W) for CHW shape
	// {C, H, W}. It has Shape[0] tables when Bytes is set and is nil
	// otherwise. MNIST and Fashion-MNIST scale to [0, 1] (b/255); CIFAR
	// scales to [0, 1] and then normalises per channel, (b/255 −
	// mean)/std. [Set.Subset] shares it with its source; do not modify.
	ByteScale [][256]float32

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
// (indices may repeat), in the representation of s: a byte set's subset
// copies bytes and keeps ByteScale. Groups are kept; Shape, ByteScale,
// GroupNames and Vocab are shared with s. It panics if an index is out of
// range.
func (s *Set) Subset(idx []int) *Set {
	sl, lps := s.SampleLen(), s.LabelsPerSample
	out := *s
	out.X, out.Bytes = nil, nil
	out.Y = make([]int32, len(idx)*lps)
	out.Groups = nil
	if s.Groups != nil {
		out.Groups = make([]int32, len(idx))
		for k, i := range idx {
			out.Groups[k] = s.Groups[i]
		}
	}
	if s.Bytes == nil {
		out.X = make([]float32, len(idx)*sl)
		s.Batch(idx, out.X, out.Y)
		return &out
	}
	out.Bytes = make([]uint8, len(idx)*sl)
	for k, i := range idx {
		copy(out.Bytes[k*sl:(k+1)*sl], s.Bytes[i*sl:(i+1)*sl])
		copy(out.Y[k*lps:(k+1)*lps], s.Y[i*lps:(i+1)*lps])
	}
	return &out
}

// Batch gathers the samples idx as float32 into x and their labels into
// y, which must hold at least len(idx)*SampleLen() and
// len(idx)*LabelsPerSample values; only that prefix is written. Byte sets
// are converted through ByteScale. It panics if x or y is too short or an
// index is out of range (programmer errors). It does not allocate.
func (s *Set) Batch(idx []int, x []float32, y []int32) {
	sl, lps := s.SampleLen(), s.LabelsPerSample
	if len(x) < len(idx)*sl || len(y) < len(idx)*lps {
		panic(fmt.Sprintf("data: Batch of %d samples needs x of %d and y of %d values, got %d and %d",
			len(idx), len(idx)*sl, len(idx)*lps, len(x), len(y)))
	}
	for k, i := range idx {
		s.sample(x[k*sl:(k+1)*sl], i)
		copy(y[k*lps:(k+1)*lps], s.Y[i*lps:(i+1)*lps])
	}
}

// Values returns the float32 values of every sample, Len()*SampleLen() of
// them, in a new slice: what [Set.Batch] gathers for the samples 0, 1, …,
// Len()−1. It costs 4 bytes per value; training gathers batches instead.
func (s *Set) Values() []float32 {
	n, sl := s.Len(), s.SampleLen()
	x := make([]float32, n*sl)
	for i := range n {
		s.sample(x[i*sl:(i+1)*sl], i)
	}
	return x
}

// sample writes the float32 values of sample i into dst, which holds
// exactly SampleLen() values. It panics if i is out of range.
func (s *Set) sample(dst []float32, i int) {
	sl := len(dst)
	if s.Bytes == nil {
		copy(dst, s.X[i*sl:(i+1)*sl])
		return
	}
	src := s.Bytes[i*sl : (i+1)*sl]
	plane := sl / len(s.ByteScale)
	for c := range s.ByteScale {
		t := &s.ByteScale[c]
		in := src[c*plane : (c+1)*plane]
		out := dst[c*plane : (c+1)*plane]
		out = out[:len(in)] // lets the compiler drop the bounds check below
		for j, b := range in {
			out[j] = t[b]
		}
	}
}

// check verifies the invariants of a freshly loaded set (a loader bug, not
// bad input, would break them).
func (s *Set) check() error {
	n, sl := s.Len(), s.SampleLen()
	switch {
	case s.LabelsPerSample <= 0 || len(s.Y)%s.LabelsPerSample != 0:
		return fmt.Errorf("data: %s: %d labels is not a multiple of %d per sample", s.Name, len(s.Y), s.LabelsPerSample)
	case (s.X == nil) == (s.Bytes == nil):
		return fmt.Errorf("data: %s: want samples in exactly one of X and Bytes, got %d float32 values and %d bytes (nil X: %v, nil Bytes: %v)",
			s.Name, len(s.X), len(s.Bytes), s.X == nil, s.Bytes == nil)
	case s.Bytes == nil && len(s.X) != n*sl:
		return fmt.Errorf("data: %s: %d values for %d samples of shape %v", s.Name, len(s.X), n, s.Shape)
	case s.Bytes == nil && s.ByteScale != nil:
		return fmt.Errorf("data: %s: %d byte scale tables but no Bytes", s.Name, len(s.ByteScale))
	case s.Bytes != nil && len(s.Bytes) != n*sl:
		return fmt.Errorf("data: %s: %d bytes for %d samples of shape %v", s.Name, len(s.Bytes), n, s.Shape)
	case s.Bytes != nil && (len(s.Shape) == 0 || s.Shape[0] < 1 || len(s.ByteScale) != s.Shape[0]):
		return fmt.Errorf("data: %s: %d byte scale tables for samples of shape %v, want one per channel (Shape[0])",
			s.Name, len(s.ByteScale), s.Shape)
	case s.Groups != nil && len(s.Groups) != n:
		return fmt.Errorf("data: %s: %d groups for %d samples", s.Name, len(s.Groups), n)
	}
	return nil
}
