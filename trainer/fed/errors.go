package fed

import "errors"

// Sentinel errors; test for them with [errors.Is].
var (
	// ErrConfig is wrapped by every problem [Config.Validate] reports, and
	// by the one [Run] finds once the data is loaded: a model that cannot
	// take the data set's samples.
	ErrConfig = errors.New("fed: invalid configuration")
	// ErrLeftOut is wrapped by the error of a rank that rank 0 left out of
	// a shrunk world (it was reported down, or late; see [Membership]).
	ErrLeftOut = errors.New("fed: rank left out of the job")
)

// ErrResultsBusy is wrapped by the [*BusyError] of [OpenResultsDir]:
// another run holds the results folder.
var ErrResultsBusy = errors.New("fed: results folder in use")

// ErrRunFinished is wrapped by the error of [ResumeResultsDir] for a
// results folder whose run finished (it has no [IncompleteFile]).
var ErrRunFinished = errors.New("fed: results: run finished")
