package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes files into dir, creating it. Manifests an earlier run left
// in dir (files starting with [Header]) are removed first, so that
// `kubectl apply -f dir` never applies a stale Job; any other file in dir
// is an error, and dir is left as it was.
func Write(dir string, files []File) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w %s: %w", ErrOutputDir, dir, err)
	}
	var stale []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() || !generated(p) {
			return fmt.Errorf("%w %s holds %s, which fltk-launch k8s did not write: choose another -o or empty it", ErrOutputDir, dir, e.Name())
		}
		stale = append(stale, p)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrOutputDir, err)
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("%w: %w", ErrOutputDir, err)
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, fs.FileMode(f.Mode)); err != nil {
			return fmt.Errorf("%w: %w", ErrOutputDir, err)
		}
		// WriteFile's mode is masked by the umask; the Secret stays 0600.
		if err := os.Chmod(p, fs.FileMode(f.Mode)); err != nil {
			return fmt.Errorf("%w: %w", ErrOutputDir, err)
		}
	}
	return nil
}

// generated reports whether the file at p starts with [Header].
func generated(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(Header))
	n, _ := f.Read(b)
	return bytes.Equal(b[:n], []byte(Header))
}
