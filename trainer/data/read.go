package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/gzip"
)

// maxPrealloc bounds the buffer allocated up front from a header's
// declared size, so a corrupt header cannot make a loader allocate
// gigabytes before finding the file truncated.
const maxPrealloc = 64 << 20

// gunzipIfNeeded returns r, transparently decompressed if it starts with
// the gzip magic 0x1f 0x8b.
func gunzipIfNeeded(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// readN reads exactly n bytes from r. The buffer grows with the data
// actually read, so n from a corrupt header costs at most maxPrealloc.
func readN(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, maxPrealloc))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf)))
		}
		m, err := io.ReadFull(r, buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return buf, fmt.Errorf("truncated: got %d of %d bytes", len(buf), n)
			}
			return buf, err
		}
	}
	return buf, nil
}

// expectEOF checks that r has no data left. For gzip streams the final
// read also verifies the checksum.
func expectEOF(r io.Reader) error {
	var b [1]byte
	_, err := io.ReadFull(r, b[:])
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return errors.New("trailing data after the last record")
	default:
		return err
	}
}

// findFile returns the path of name or name.gz in dir, whichever exists
// (name first).
func findFile(dir, name string) (string, bool) {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, name+".gz")} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// missing returns an ErrMissing error for the data set what, whose files
// should be in dir.
func missing(what, dir, files, how string) error {
	state := "has not all of them"
	if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		state = "does not exist"
	} else if err == nil && !st.IsDir() {
		state = "is not a directory"
	}
	return fmt.Errorf("%w: %s: want %s in %s, which %s; %s",
		ErrMissing, what, files, dir, state, how)
}

// corrupt returns an ErrCorrupt error for the file path.
func corrupt(path string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
}
