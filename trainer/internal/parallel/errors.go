package parallel

import "errors"

// ErrConfig is wrapped by [Config.Validate] errors (and so by [New]'s).
var ErrConfig = errors.New("parallel: bad config")
