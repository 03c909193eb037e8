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

	// ErrGraph is wrapped, once, by the errors of building or running a
	// graph: gorgonia's (including recovered gorgonia panics) and those of
	// the fused ops (trainer/model/op), which wrap op.ErrBuild or
	// op.ErrInput.
	ErrGraph = errors.New("model: graph error")
)
