package data

import "errors"

// Sentinel errors. Loaders wrap them with the path and what is wrong;
// test for them with [errors.Is].
var (
	// ErrMissing is returned when a data set's files are not where the
	// loader looks. The message names the directory, the expected file
	// names and how to get them.
	ErrMissing = errors.New("data: data set files not found")

	// ErrCorrupt is returned for a file that exists but cannot be decoded:
	// a bad magic number, a count mismatch, a truncated record, an
	// out-of-range label, invalid gzip or UTF-8. The message names the file.
	ErrCorrupt = errors.New("data: corrupt data file")

	// ErrUnknown is returned by [Load] for a data set name that is not in
	// [Names].
	ErrUnknown = errors.New("data: unknown data set")

	// ErrInvalid is returned for nonsensical options, such as a negative
	// sequence length.
	ErrInvalid = errors.New("data: invalid option")
)
