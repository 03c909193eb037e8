package optim

import "errors"

// Sentinel errors, wrapped with the offending values by [Config.Validate]
// and [ScheduleConfig.Validate]; test for them with [errors.Is].
var (
	// ErrUnknown is returned for an optimizer or schedule name that is not
	// recognised.
	ErrUnknown = errors.New("optim: unknown name")

	// ErrConfig is returned for a hyperparameter out of its range.
	ErrConfig = errors.New("optim: bad configuration")
)

// ErrState is returned by UnmarshalState for state bytes that are
// truncated, corrupt or from another optimizer.
var ErrState = errors.New("optim: bad optimizer state")
