package model

import "errors"

// Sentinel errors. Callers test them with [errors.Is]; the returned errors
// wrap them with the details.
var (
	// ErrUnknownModel is returned by [New] and [Info] for a name that is
	// not in [Names].
	ErrUnknownModel = errors.New("model: unknown model")

	// ErrBadInput is wrapped by TrainStep, Evaluate and LoadState errors
	// about their arguments: a wrong length, a label out of range, n out of
	// [0, EvalBatch].
	ErrBadInput = errors.New("model: bad input")

	// ErrClosed is returned by TrainStep, Evaluate and LoadState after
	// Close.
	ErrClosed = errors.New("model: closed")

	// ErrConfig is wrapped by [Config.Validate] errors.
	ErrConfig = errors.New("model: bad config")

	// ErrGraph is wrapped by errors of gorgonia while building or running
	// a graph (including recovered gorgonia panics).
	ErrGraph = errors.New("model: graph error")
)
