package trainer

import "errors"

// Sentinel errors.
var (
	// ErrNoData is returned when a client or an evaluation has no samples.
	ErrNoData = errors.New("trainer: no samples")

	// ErrDiverged is returned when the training loss stops being a finite
	// number.
	ErrDiverged = errors.New("trainer: training diverged")

	// ErrCheckpoint is wrapped by errors reading a malformed checkpoint.
	ErrCheckpoint = errors.New("trainer: bad checkpoint")
)
