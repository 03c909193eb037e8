package data

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Check reports whether both splits of the data set name are in the data
// directory dir and readable, without decoding them: each file [Load]
// would read is opened and its first byte read. A missing file is an
// [ErrMissing] error naming the directory, the expected files and how to
// get them (`make data`, the Debian package); an unreadable one names the
// file and the cause. Launchers call it before any process starts, so
// that missing data is a configuration error, not a worker's failure.
func Check(name, dir string) error {
	p, ok := Path(name, dir)
	if !ok {
		return fmt.Errorf("%w %q: want one of %s", ErrUnknown, name, strings.Join(names, ", "))
	}
	var paths []string
	for _, train := range []bool{true, false} {
		switch name {
		case "mnist", "fashion-mnist":
			title := map[string]string{"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[name]
			img, lbl, err := idxPaths(name, title, p, train)
			if err != nil {
				return err
			}
			paths = append(paths, img, lbl)
		case "cifar10", "cifar100":
			f := cifar10Format
			if name == "cifar100" {
				f = cifar100Format
			}
			base, files, err := cifarPaths(f, p, train)
			if err != nil {
				return err
			}
			for _, file := range files {
				paths = append(paths, filepath.Join(base, file))
			}
		case "opticks", "bible":
			if train { // one file holds both splits
				paths = append(paths, p)
			}
		}
	}
	for _, path := range paths {
		if err := readable(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) && (name == "opticks" || name == "bible") {
				what, how := "text "+strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), textHow
				if name == "bible" {
					what, how = "King James Bible", bibleHow
				}
				return missing(what, filepath.Dir(path), filepath.Base(path), how)
			}
			if errors.Is(err, fs.ErrNotExist) { // removed since it was found
				return fmt.Errorf("%w: %w", ErrMissing, err)
			}
			return err
		}
	}
	return nil
}

// readable opens path and reads its first byte.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return fmt.Errorf("data: cannot read %s: %w", path, err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.Read(b[:]); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("data: cannot read %s: %w", path, err)
	}
	return nil
}
