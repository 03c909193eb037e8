package fed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fltk-go/fltk/trainer"
)

// secondRun is a Recorder that, in the first round of the job it records,
// plays a second job started on the same results folder: it tries
// OpenResultsDir and keeps the error.
type secondRun struct {
	dir string
	err error
}

func (s *secondRun) Start(Setup) error { return nil }
func (s *secondRun) Round(r RoundResult) error {
	if r.Round == 1 {
		d, err := OpenResultsDir(s.dir)
		if err == nil {
			d.Close()
		}
		s.err = err
	}
	return nil
}
func (s *secondRun) Finish(trainer.Checkpoint) error { return nil }

// TestSecondRunOnFolderFails: while a job holds its results folder, a
// second job on the same folder fails naming the folder and the holder,
// and the first job's files come out whole. Once the first is done, the
// folder can be taken again.
func TestSecondRunOnFolderFails(t *testing.T) {
	tj := testConfig(t, 3)
	rd, err := OpenResultsDir(tj.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	second := &secondRun{dir: tj.dir}
	csv := NewCSV(CSVConfig{Dir: tj.dir, Checkpoint: true})
	defer csv.Close()
	if err := runWith(t, tj, MultiRecorder(csv, second)); err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if !errors.As(second.err, &busy) || !errors.Is(second.err, ErrResultsBusy) {
		t.Fatalf("second run on the folder: %v, want a *BusyError", second.err)
	}
	if msg := second.err.Error(); !strings.Contains(msg, tj.dir) || !strings.Contains(msg, fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Errorf("error %q does not name the folder %s and the holder's pid", msg, tj.dir)
	}
	if err := rd.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, filepath.Join(tj.dir, "metrics.csv")); len(rows) != 1+tj.Rounds {
		t.Errorf("metrics.csv has %d lines, want a header and %d rounds", len(rows), tj.Rounds)
	}
	if rows := readCSV(t, filepath.Join(tj.dir, "classes.csv")); len(rows) != 1+10*tj.Rounds {
		t.Errorf("classes.csv has %d lines, want a header and %d rows", len(rows), 10*tj.Rounds)
	}
	if _, err := trainer.ReadCheckpoint(filepath.Join(tj.dir, "model.ckpt")); err != nil {
		t.Errorf("the first run's model.ckpt: %v", err)
	}
	again, err := OpenResultsDir(tj.dir)
	if err != nil {
		t.Fatalf("the folder after the first run released it: %v", err)
	}
	again.Close()
}

// TestOpenResultsDirConcurrent: of several runs opening one folder at
// once, exactly one gets it.
func TestOpenResultsDirConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "job")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []*ResultsDir
		busy int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := OpenResultsDir(dir)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, d)
			case errors.Is(err, ErrResultsBusy):
				busy++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, d := range won {
		d.Close()
	}
	if len(won) != 1 || busy != n-1 {
		t.Errorf("%d runs got the folder and %d were refused, want 1 and %d", len(won), busy, n-1)
	}
}

// TestFailedRunLeavesNoOldFiles: a run that fails before its end leaves
// INCOMPLETE and none of the previous run's files (its model.ckpt above
// all); a run that succeeds leaves no INCOMPLETE.
func TestFailedRunLeavesNoOldFiles(t *testing.T) {
	tj := testConfig(t, 3)
	// A previous, successful run.
	rd, err := OpenResultsDir(tj.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := runJob(t, tj); err != nil {
		t.Fatal(err)
	}
	if err := rd.Complete(); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if _, err := os.Stat(filepath.Join(tj.dir, IncompleteFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a successful run: %s: %v, want it absent", IncompleteFile, err)
	}
	if _, err := os.Stat(filepath.Join(tj.dir, "model.ckpt")); err != nil {
		t.Fatalf("the successful run left no model.ckpt: %v", err)
	}

	// A rerun that fails at its end, before CSV writes model.ckpt.
	rd, err = OpenResultsDir(tj.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	csv := NewCSV(CSVConfig{Dir: tj.dir, Checkpoint: true})
	defer csv.Close()
	if err := runWith(t, tj, MultiRecorder(&fakeRecorder{fail: "finish"}, csv)); !errors.Is(err, errFake) {
		t.Fatalf("the failing run: %v, want %v", err, errFake)
	}
	rd.Close()
	if _, err := os.Stat(filepath.Join(tj.dir, "model.ckpt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failed rerun: model.ckpt: %v, want the previous run's removed", err)
	}
	marker, err := os.ReadFile(filepath.Join(tj.dir, IncompleteFile))
	if err != nil {
		t.Fatalf("after a failed run: %v", err)
	}
	if want := fmt.Sprintf("pid %d on ", os.Getpid()); !bytes.HasPrefix(marker, []byte(want)) {
		t.Errorf("%s holds %q, want it to begin %q", IncompleteFile, marker, want)
	}
}

// TestWriteFileAtomic: the file holds the new bytes with the mode asked
// for, no temporary file is left, and a reader during a stream of
// rewrites sees only whole versions.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	versions := [][]byte{bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<19)}
	if err := WriteFileAtomic(path, versions[0], 0o640); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var reads, torn int
	go func() {
		defer close(done)
		for i := 0; i < 40; i++ {
			if err := WriteFileAtomic(path, versions[i%2], 0o640); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("a reader during the writes: %v", err)
		}
		reads++
		if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
			torn++
		}
	}
	if torn > 0 {
		t.Errorf("%d of %d reads saw a partial file", torn, reads)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("the folder holds %d entries after the writes, want model.ckpt alone", len(ents))
	}
}

// TestResumeResultsDir: resuming keeps the run's files and its
// INCOMPLETE marker; a finished run (no marker) or a missing folder is
// an error, and a held folder is busy.
func TestResumeResultsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	d, err := OpenResultsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.csv"), []byte("round\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeResultsDir(dir); !errors.Is(err, ErrResultsBusy) {
		t.Errorf("resume of a held folder: %v, want ErrResultsBusy", err)
	}
	d.Close() // the run died
	r, err := ResumeResultsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "metrics.csv")); err != nil || string(b) != "round\n1\n" {
		t.Errorf("metrics.csv after ResumeResultsDir: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, IncompleteFile)); err != nil {
		t.Errorf("INCOMPLETE while resuming: %v", err)
	}
	if err := r.Complete(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := ResumeResultsDir(dir); !errors.Is(err, ErrRunFinished) {
		t.Errorf("resume of a finished run: %v, want ErrRunFinished", err)
	}
	if _, err := ResumeResultsDir(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("resume of a missing folder: %v, want ErrNotExist", err)
	}
}

// TestProbeResultsDir: the probe tells a held folder, an incomplete one
// and a finished one apart, and does not take the lock.
func TestProbeResultsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if inc, err := ProbeResultsDir(dir); inc || err != nil {
		t.Fatalf("probe of a missing folder = %v, %v; want false, nil", inc, err)
	}
	rd, err := OpenResultsDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var busy *BusyError
	if _, err := ProbeResultsDir(dir); !errors.As(err, &busy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d ", os.Getpid())) {
		t.Fatalf("probe of a held folder = %v, want a *BusyError naming this process", err)
	}
	if err := rd.Close(); err != nil { // a run that ended without Complete
		t.Fatal(err)
	}
	if inc, err := ProbeResultsDir(dir); !inc || err != nil {
		t.Fatalf("probe of an interrupted run's folder = %v, %v; want true, nil", inc, err)
	}
	rd, err = OpenResultsDir(dir) // the probe left the lock free
	if err != nil {
		t.Fatalf("OpenResultsDir after probes: %v", err)
	}
	if err := rd.Complete(); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if inc, err := ProbeResultsDir(dir); inc || err != nil {
		t.Fatalf("probe of a finished run's folder = %v, %v; want false, nil", inc, err)
	}
}
