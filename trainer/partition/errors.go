package partition

import "errors"

// Sentinel errors. [Split] and [Config.Validate] wrap them with the values
// involved; test for them with [errors.Is].
var (
	// ErrClients is returned when the number of clients is below 1.
	ErrClients = errors.New("partition: bad number of clients")

	// ErrClasses is returned when the number of classes is below 1.
	ErrClasses = errors.New("partition: bad number of classes")

	// ErrLabel is returned when a label lies outside [0, classes).
	ErrLabel = errors.New("partition: label out of range")

	// ErrUnknownScheme is returned for a scheme name that is not one of
	// [Schemes] or an accepted FLTK spelling.
	ErrUnknownScheme = errors.New("partition: unknown scheme")

	// ErrArgs is returned when a scheme's arguments are malformed, out of
	// range, or impossible to satisfy with the given data and clients.
	ErrArgs = errors.New("partition: bad scheme arguments")

	// ErrGroups is returned by the "natural" scheme when the natural owners
	// are missing or do not match the labels.
	ErrGroups = errors.New("partition: bad groups")

	// ErrEmptyClient is returned when a partition leaves a client with no
	// samples.
	ErrEmptyClient = errors.New("partition: client has no samples")
)
