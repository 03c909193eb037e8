package fed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The files of a results folder that [OpenResultsDir] manages.
const (
	// LockFile is the file of a results folder that a run holds an
	// exclusive flock(2) on for its lifetime. It says which process holds
	// it: "pid <pid> on <host> since <RFC 3339 time>". It stays in the
	// folder after the run; only the lock matters, and the kernel drops
	// it when the process ends, however it ends.
	LockFile = ".fltk.lock"

	// IncompleteFile is written when a run starts and removed only when
	// it finishes successfully: a folder that has it holds the results of
	// a run that is still going, failed or was interrupted. It holds one
	// line like the lock file's: "pid <pid> on <host> since <time>".
	IncompleteFile = "INCOMPLETE"
)

// previousOutputs are the files a previous run may have left in a results
// folder. [OpenResultsDir] removes them, so that the folder never mixes
// two runs' files (an interrupted rerun would otherwise leave the earlier
// run's model.ckpt beside its own CSVs). TensorBoard's tb/ is cleared by
// [TensorBoard.Start].
var previousOutputs = []string{"metrics.csv", "clients.csv", "classes.csv", "partition.csv", "config.toml", "model.ckpt", CheckpointFile}

// ResultsDir is a results folder held by one run: [OpenResultsDir] locks
// it, Complete marks the run finished, Close releases it.
type ResultsDir struct {
	path string
	lock *os.File // holds the flock until Close
}

// OpenResultsDir creates dir (with its parents) and takes the exclusive
// lock of its [LockFile] for this run: while this run holds it, another
// run on the same folder fails with a [*BusyError] naming the holder. It
// then removes the files a previous run left (metrics.csv, clients.csv,
// classes.csv, partition.csv, config.toml, model.ckpt) and writes
// [IncompleteFile]. Call Complete when the run succeeded, then Close
// whatever happened.
func OpenResultsDir(dir string) (*ResultsDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fed: results: %w", err)
	}
	return openResultsDir(dir, false)
}

// ResumeResultsDir takes the lock of the results folder dir of a run to
// resume, as [OpenResultsDir] does, but keeps its files: the run's
// [IncompleteFile] must be there (else the error wraps [ErrRunFinished];
// a missing folder wraps [os.ErrNotExist]), and stays until Complete.
func ResumeResultsDir(dir string) (*ResultsDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("fed: results: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fed: results: %s is not a directory", dir)
	}
	return openResultsDir(dir, true)
}

// openResultsDir locks dir and starts this run in it.
func openResultsDir(dir string, resume bool) (*ResultsDir, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("fed: results: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := os.ReadFile(path)
			return nil, &BusyError{Dir: dir, Holder: strings.TrimSpace(string(holder))}
		}
		return nil, fmt.Errorf("fed: results: lock %s: %w", dir, err)
	}
	d := &ResultsDir{path: dir, lock: f}
	if resume {
		if _, err := os.Stat(filepath.Join(dir, IncompleteFile)); errors.Is(err, os.ErrNotExist) {
			d.Close()
			return nil, fmt.Errorf("%w: %s has no %s marker: its run finished, there is nothing to resume", ErrRunFinished, dir, IncompleteFile)
		}
	}
	if err := d.start(resume); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// start records the holder, removes the previous run's files (unless the
// run resumes) and writes the INCOMPLETE marker.
func (d *ResultsDir) start(resume bool) error {
	host, _ := os.Hostname()
	holder := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := d.lock.Truncate(0); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	if _, err := d.lock.WriteAt([]byte(holder), 0); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(d.path, IncompleteFile), []byte(holder), 0o644); err != nil {
		return err
	}
	if resume {
		return nil
	}
	for _, name := range previousOutputs {
		if err := os.Remove(filepath.Join(d.path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fed: results: remove the previous run's %w", err)
		}
	}
	return nil
}

// Dir returns the folder.
func (d *ResultsDir) Dir() string { return d.path }

// Complete removes [IncompleteFile]: the run finished successfully.
func (d *ResultsDir) Complete() error {
	if err := os.Remove(filepath.Join(d.path, IncompleteFile)); err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	return syncDir(d.path)
}

// Close releases the lock. It may be called more than once.
func (d *ResultsDir) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close() // closing the last descriptor drops the flock
	d.lock = nil
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	return nil
}

// BusyError is the error of [OpenResultsDir] when another run holds the
// folder. It wraps [ErrResultsBusy].
type BusyError struct {
	Dir    string // the results folder
	Holder string // the lock file's "pid … on … since …", or empty if unreadable
}

func (e *BusyError) Error() string {
	holder := e.Holder
	if holder == "" {
		holder = "holder unknown"
	}
	return fmt.Sprintf("%v: %s is held by another run (%s); wait for it to end or give this job another job.name or output.dir",
		ErrResultsBusy, e.Dir, holder)
}

// Unwrap returns [ErrResultsBusy].
func (e *BusyError) Unwrap() error { return ErrResultsBusy }

// WriteFileAtomic writes data to path so that a reader sees either the
// old file or the whole new one, never part of it, and a crash leaves one
// of the two: it writes a temporary file in the same folder, syncs it,
// renames it over path and syncs the folder.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("fed: results: write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes the folder's entries (a rename, a removal) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fed: results: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fed: results: sync %s: %w", dir, err)
	}
	return nil
}

// ProbeResultsDir reports, without taking it, whether a run holds the
// results folder dir (a [*BusyError]) and whether the folder holds
// [IncompleteFile] (its last run is still going, failed or was
// interrupted). A folder that does not exist is neither.
func ProbeResultsDir(dir string) (incomplete bool, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("fed: results: lock %s: %w", dir, err)
	default:
		// A shared lock conflicts with the exclusive lock of a run.
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		f.Close() // drops the shared lock, if taken
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := os.ReadFile(path)
			return false, &BusyError{Dir: dir, Holder: strings.TrimSpace(string(holder))}
		}
		if err != nil {
			return false, fmt.Errorf("fed: results: lock %s: %w", dir, err)
		}
	}
	switch _, err := os.Stat(filepath.Join(dir, IncompleteFile)); {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("fed: results: %w", err)
	}
}
