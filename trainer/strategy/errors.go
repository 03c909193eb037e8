package strategy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; test for them with [errors.Is]. Problems with one
// client's update come wrapped in a [ClientError].
var (
	// ErrUnknown is returned for a strategy name that is not one of
	// [Names].
	ErrUnknown = errors.New("strategy: unknown strategy")

	// ErrConfig is returned for a hyperparameter out of its range.
	ErrConfig = errors.New("strategy: bad configuration")

	// ErrNoUpdates is returned when Aggregate gets no updates.
	ErrNoUpdates = errors.New("strategy: no updates")

	// ErrZeroWeight is returned when the updates' weights sum to zero.
	ErrZeroWeight = errors.New("strategy: total weight is zero")

	// ErrWeight is returned for a negative or non-finite weight.
	ErrWeight = errors.New("strategy: bad weight")

	// ErrLength is returned when an update's state, the global state or a
	// strategy's own state differ in length.
	ErrLength = errors.New("strategy: length mismatch")

	// ErrNonFinite is returned when an update holds NaN or ±Inf.
	ErrNonFinite = errors.New("strategy: non-finite value")

	// ErrBuffers is returned when Info.Buffers holds a range outside the
	// state.
	ErrBuffers = errors.New("strategy: bad buffer range")

	// ErrState is returned by [Stateful.UnmarshalState] for bytes that
	// are not a state it wrote.
	ErrState = errors.New("strategy: bad strategy state")
)

// ClientError reports a problem with one client's update, so that a
// caller can drop that client and aggregate again. It wraps ErrWeight,
// ErrLength or ErrNonFinite.
type ClientError struct {
	Client int   // Update.Client of the offending update
	Err    error // the problem, wrapping a sentinel
}

func (e *ClientError) Error() string {
	return fmt.Sprintf("strategy: client %d: %s", e.Client, strings.TrimPrefix(e.Err.Error(), "strategy: "))
}

// Unwrap returns the wrapped problem.
func (e *ClientError) Unwrap() error { return e.Err }
