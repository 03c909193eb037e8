package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Options carries what some loaders need; the zero value gives the
// defaults.
type Options struct {
	// SeqLen is the window length T of text data sets. 0 means
	// DefaultSeqLen (80); otherwise ≥ 1.
	SeqLen int

	// TestEvery makes every TestEvery-th window of a text (of each book,
	// for the Bible) a test window; the others are training windows. 0
	// means DefaultTestEvery (10, a 90/10 split); otherwise ≥ 2.
	TestEvery int

	// Coarse selects CIFAR-100's 20 coarse labels instead of its 100
	// fine ones.
	Coarse bool
}

// names lists the data sets of Load in a fixed order.
var names = []string{"mnist", "fashion-mnist", "cifar10", "cifar100", "opticks", "bible"}

// Names returns the data set names [Load] accepts.
func Names() []string {
	return append([]string(nil), names...)
}

// Path returns where [Load] looks for the data set name under the data
// directory dir (a directory, or a file for text data sets), and false if
// name is unknown.
//
//	mnist          dir/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
//	fashion-mnist  dir/fashion-mnist/  (same files)
//	cifar10        dir/cifar10/data_batch_{1..5}.bin, test_batch.bin
//	               (or dir/cifar10/cifar-10-batches-bin/, or dir/cifar-10-batches-bin/)
//	cifar100       dir/cifar100/{train,test}.bin
//	               (or dir/cifar100/cifar-100-binary/, or dir/cifar-100-binary/)
//	opticks        dir/text/opticks.txt
//	bible          dir/bible/kjv.txt
func Path(name, dir string) (string, bool) {
	switch name {
	case "mnist", "fashion-mnist":
		return filepath.Join(dir, name), true
	case "cifar10", "cifar100":
		p := filepath.Join(dir, name)
		sub := cifar10Format.subdir
		if name == "cifar100" {
			sub = cifar100Format.subdir
		}
		if _, err := os.Stat(p); err != nil {
			if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
				return filepath.Join(dir, sub), true
			}
		}
		return p, true
	case "opticks":
		return filepath.Join(dir, "text", "opticks.txt"), true
	case "bible":
		return filepath.Join(dir, "bible", "kjv.txt"), true
	}
	return "", false
}

// Load loads the training (train) or test split of the data set name from
// the data directory dir (`make data` fills ./data; see [Path] for the
// layout). Unknown names are an [ErrUnknown] error listing the valid ones.
func Load(name, dir string, train bool, opts Options) (*Set, error) {
	p, ok := Path(name, dir)
	if !ok {
		return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknown, name, strings.Join(names, ", "))
	}
	var s *Set
	var err error
	switch name {
	case "mnist":
		s, err = LoadMNIST(p, train)
	case "fashion-mnist":
		s, err = LoadFashionMNIST(p, train)
	case "cifar10":
		s, err = LoadCIFAR10(p, train)
	case "cifar100":
		s, err = LoadCIFAR100(p, train, opts.Coarse)
	case "opticks":
		if s, err = LoadText(p, opts.SeqLen, train, opts.TestEvery); err == nil {
			s.Name = name
		}
	case "bible":
		s, err = LoadBible(p, opts.SeqLen, train, opts.TestEvery)
	}
	if err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// SampleShape returns the shape of one sample of the data set name, as
// [Load] would set [Set.Shape], without reading it: {1, 28, 28} for the
// MNISTs, {3, 32, 32} for the CIFARs, {seqLen} for the text data sets (text
// is then true; seqLen 0 means DefaultSeqLen). ok is false for an unknown
// name.
func SampleShape(name string, seqLen int) (shape []int, text, ok bool) {
	switch name {
	case "mnist", "fashion-mnist":
		return []int{1, 28, 28}, false, true
	case "cifar10", "cifar100":
		return []int{3, 32, 32}, false, true
	case "opticks", "bible":
		if seqLen == 0 {
			seqLen = DefaultSeqLen
		}
		return []int{seqLen}, true, true
	}
	return nil, false, false
}
