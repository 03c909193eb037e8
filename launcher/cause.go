package launcher

import "strings"

// consequences are what a rank's last lines say when it failed because
// another rank did: a peer down or gone, its own work cancelled.
var consequences = []string{
	"is down", "peer down", "peer closed", "context canceled", "comm closed", "world closed",
	"connection closed", "did not leave",
}

// consequential reports whether e looks like the consequence of another
// worker's failure rather than a cause: killed by a signal, or its last
// lines name a peer down, a closed connection or a cancelled context.
func consequential(e *WorkerError) bool {
	if e.Signal != "" {
		return true
	}
	for _, line := range e.Tail {
		for _, c := range consequences {
			if strings.Contains(line, c) {
				return true
			}
		}
	}
	return false
}

// rootCause returns the failure a job's summary names: first, the worker
// whose failure stopped the job, unless it is [consequential] and one of
// the workers that failed after it (later, in exit order) is not; then
// the earliest such. The worker that exits first is often not the one
// that failed first: a rank that sees the federator go down may exit
// before the federator has finished reporting its own error.
func rootCause(first *WorkerError, later []*WorkerError) *WorkerError {
	if !consequential(first) {
		return first
	}
	for _, e := range later {
		if !consequential(e) {
			return e
		}
	}
	return first
}
