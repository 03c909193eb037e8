package tboard_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/trainer/tboard"
	"github.com/fltk-go/fltk/trainer/tboard/tboardtest"
)

// writeEvents writes two steps into a new file in dir and flushes
// without closing: what a crashed job leaves behind.
func writeEvents(t *testing.T, dir string) (*tboard.Writer, time.Time) {
	t.Helper()
	w, err := tboard.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	wall := time.Unix(1700000000, 250_000_000)
	if err := w.Write(1, wall, []tboard.Scalar{{Tag: "Test Accuracy", Value: 0.5}, {Tag: "client/3/Train Loss", Value: 2.25}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(2, wall, []tboard.Scalar{{Tag: "Test Accuracy", Value: 0.75}, {Tag: "ünïcode/tag", Value: -1e-3}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return w, wall
}

func TestWriteReadBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tb")
	w, wall := writeEvents(t, dir)
	name := filepath.Base(w.Path())
	if filepath.Dir(w.Path()) != dir || !strings.HasPrefix(name, "events.out.tfevents.") {
		t.Errorf("event file %s, want %s/events.out.tfevents.*", w.Path(), dir)
	}
	evs, err := tboardtest.ReadFile(w.Path()) // flushed, not closed
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	if evs[0].FileVersion != "brain.Event:2" || evs[0].Values != nil {
		t.Errorf("first event %+v, want file_version brain.Event:2 only", evs[0])
	}
	want := []tboardtest.Event{
		{WallTime: 1700000000.25, Step: 1, Values: []tboardtest.Value{{Tag: "Test Accuracy", Value: 0.5}, {Tag: "client/3/Train Loss", Value: 2.25}}},
		{WallTime: 1700000000.25, Step: 2, Values: []tboardtest.Value{{Tag: "Test Accuracy", Value: 0.75}, {Tag: "ünïcode/tag", Value: -1e-3}}},
	}
	for i, we := range want {
		got := evs[i+1]
		if got.Step != we.Step || got.WallTime != we.WallTime || got.FileVersion != "" || len(got.Values) != len(we.Values) {
			t.Fatalf("event %d = %+v, want %+v", i+1, got, we)
		}
		for k := range we.Values {
			if got.Values[k] != we.Values[k] {
				t.Errorf("event %d value %d = %+v, want %+v", i+1, k, got.Values[k], we.Values[k])
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(3, wall, nil); !errors.Is(err, tboard.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

// TestReaderDetectsCorruption: flipping one bit anywhere in a record (the
// length, either CRC or the data) fails the read.
func TestReaderDetectsCorruption(t *testing.T) {
	w, _ := writeEvents(t, t.TempDir())
	good, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := tboardtest.Records(good)
	if err != nil {
		t.Fatal(err)
	}
	first := 12 + len(recs[0]) + 4 // the second record starts here
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"length", first},
		{"length CRC", first + 9},
		{"data", first + 14},
		{"data CRC", first + 12 + len(recs[1]) + 1},
		{"first record data", 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), good...)
			bad[tc.at] ^= 0x10
			if _, err := tboardtest.Decode(bad); !errors.Is(err, tboardtest.ErrCorrupt) {
				t.Errorf("corrupt byte %d: err = %v, want ErrCorrupt", tc.at, err)
			}
		})
	}
	if _, err := tboardtest.Decode(good[:len(good)-2]); !errors.Is(err, tboardtest.ErrCorrupt) {
		t.Errorf("truncated file: err = %v, want ErrCorrupt", err)
	}
}

func TestCreateTwiceAndRemoveFiles(t *testing.T) {
	dir := t.TempDir()
	a, err := tboard.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := tboard.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Path() == b.Path() {
		t.Fatalf("two writers share %s", a.Path())
	}
	other := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tboard.RemoveFiles(dir); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 1 || left[0] != other {
		t.Errorf("left %v, want only %s", left, other)
	}
	if err := tboard.RemoveFiles(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}
