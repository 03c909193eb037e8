package tboard

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// FileVersion is the file_version of the first event of every file.
const FileVersion = "brain.Event:2"

// FilePrefix begins the name of every event file.
const FilePrefix = "events.out.tfevents."

// ErrClosed is returned by a Writer's Write and Flush after Close.
var ErrClosed = errors.New("tboard: writer closed")

// Scalar is one tagged value of a step.
type Scalar struct {
	Tag   string
	Value float64 // stored as a float32 (simple_value)
}

// Writer appends events to one event file. It is not safe for concurrent
// use.
type Writer struct {
	f    *os.File
	w    *bufio.Writer
	path string
	buf  []byte // scratch: the event being encoded
	rec  []byte // scratch: the record being framed
}

// Create makes dir (and its parents) and creates a new event file in it
// named events.out.tfevents.<unix seconds>.<host>, or with a ".<n>" suffix
// if that name is taken. It writes the file_version event first.
func Create(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	now := time.Now()
	base := filepath.Join(dir, FilePrefix+strconv.FormatInt(now.Unix(), 10)+"."+host)
	path := base
	var f *os.File
	for n := 1; ; n++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || n > 1000 {
			return nil, fmt.Errorf("tboard: %w", err)
		}
		path = base + "." + strconv.Itoa(n)
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), path: path}
	w.buf = appendHeader(w.buf[:0], now, 0)
	w.buf = protowire.AppendTag(w.buf, 3, protowire.BytesType)
	w.buf = protowire.AppendString(w.buf, FileVersion)
	if err = w.record(w.buf); err == nil {
		err = w.Flush()
	}
	if err != nil {
		_ = w.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return w, nil
}

// Append opens the existing event file path, cuts it back to size bytes
// (a size it had after a Flush, so on an event boundary) and appends to
// it: what a resumed job does with the events of the rounds it redoes.
// A file shorter than size is an error.
func Append(path string, size int64) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("tboard: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() < size {
		err = fmt.Errorf("%s has %d bytes, fewer than the %d expected", path, st.Size(), size)
	}
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tboard: %w", err)
	}
	return &Writer{f: f, w: bufio.NewWriter(f), path: path}, nil
}

// Sync flushes the buffered events and syncs the file to stable storage.
// It returns the file's size.
func (w *Writer) Sync() (int64, error) {
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if err := w.f.Sync(); err != nil {
		return 0, fmt.Errorf("tboard: %s: %w", w.path, err)
	}
	st, err := w.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("tboard: %s: %w", w.path, err)
	}
	return st.Size(), nil
}

// Path returns the event file's path.
func (w *Writer) Path() string { return w.path }

// appendHeader appends an Event's wall_time (seconds since the Unix epoch)
// and step to b.
func appendHeader(b []byte, wall time.Time, step int64) []byte {
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(float64(wall.Unix())+float64(wall.Nanosecond())/1e9))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(step))
}

// Write appends one event at step and wall time wall holding values, in
// order. It buffers: call Flush to make the event readable.
func (w *Writer) Write(step int64, wall time.Time, values []Scalar) error {
	if w.f == nil {
		return ErrClosed
	}
	size := 0
	for _, v := range values {
		size += valueSize(v)
	}
	b := appendHeader(w.buf[:0], wall, step)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for _, v := range values {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(valueBody(v)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, v.Tag)
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(float32(v.Value)))
	}
	w.buf = b
	return w.record(b)
}

// valueBody is the encoded size of a Summary.Value's fields.
func valueBody(v Scalar) int {
	return protowire.SizeTag(1) + protowire.SizeBytes(len(v.Tag)) + protowire.SizeTag(2) + protowire.SizeFixed32()
}

// valueSize is the encoded size of a Summary.Value as field 1 of a Summary.
func valueSize(v Scalar) int {
	n := valueBody(v)
	return protowire.SizeTag(1) + protowire.SizeBytes(n)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC returns the masked CRC-32C of b that TFRecord files store.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// record frames data as a TFRecord and buffers it.
func (w *Writer) record(data []byte) error {
	r := binary.LittleEndian.AppendUint64(w.rec[:0], uint64(len(data)))
	r = binary.LittleEndian.AppendUint32(r, MaskedCRC(r[:8]))
	r = append(r, data...)
	r = binary.LittleEndian.AppendUint32(r, MaskedCRC(data))
	w.rec = r
	if _, err := w.w.Write(r); err != nil {
		return fmt.Errorf("tboard: %s: %w", w.path, err)
	}
	return nil
}

// Flush writes the buffered events to the file.
func (w *Writer) Flush() error {
	if w.f == nil {
		return ErrClosed
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("tboard: %s: %w", w.path, err)
	}
	return nil
}

// Close flushes and closes the file. It may be called more than once.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if err != nil {
		return fmt.Errorf("tboard: %s: %w", w.path, err)
	}
	return nil
}

// RemoveFiles removes the event files in dir (not its subdirectories), so
// that a run writing into a directory used before does not mix its events
// with the old ones. A missing dir is not an error.
func RemoveFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tboard: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), FilePrefix) {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tboard: %w", err)
	}
	return nil
}
