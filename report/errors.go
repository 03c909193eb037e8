package report

import (
	"errors"
	"fmt"
)

// Sentinel errors; test for them with [errors.Is].
var (
	// ErrNoResults is returned for a folder that holds neither a run's
	// results (metrics.csv) nor a sweep's (sweep.csv).
	ErrNoResults = errors.New("report: no results")

	// ErrMalformed is wrapped by every [ParseError]: a results file that
	// cannot be read or parsed.
	ErrMalformed = errors.New("report: malformed results file")
)

// ParseError is a results file that cannot be read or parsed. Line is
// 1-based; it is 0 when the problem is the file as a whole (it cannot be
// read, or a column is missing from its header).
type ParseError struct {
	File string // the file's path
	Line int    // 1-based line, 0: the whole file
	Err  error  // what is wrong
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("report: %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("report: %s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// Is reports ErrMalformed.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }
