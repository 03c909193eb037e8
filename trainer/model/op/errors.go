package op

import "errors"

// Sentinel errors. Callers test them with [errors.Is]; the returned errors
// wrap them with the op and the details.
var (
	// ErrBuild is wrapped by the errors of the constructors ([Conv2d],
	// [Linear], ...) and of building an op's gradient: operands whose
	// shapes, dtypes or parameters do not fit the op.
	ErrBuild = errors.New("op: cannot build")

	// ErrInput is wrapped by the errors of an op's run: an input value
	// that is not what the graph promised (not a dense tensor of the op's
	// dtype and size), a label out of range.
	ErrInput = errors.New("op: bad input")

	// ErrConfig is wrapped by [Config.Validate] errors.
	ErrConfig = errors.New("op: bad config")
)
