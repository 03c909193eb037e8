package launcher

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalidSpec is wrapped by the errors [Spec.Validate] returns.
	ErrInvalidSpec = errors.New("launcher: invalid spec")

	// ErrStart is wrapped by the error Run returns when a worker cannot be
	// started, for example because the command does not exist. The error
	// names the rank and the command.
	ErrStart = errors.New("launcher: cannot start worker")

	// ErrWorkerFailed matches every [*WorkerError] under errors.Is.
	ErrWorkerFailed = errors.New("launcher: worker failed")

	// ErrInterrupted is wrapped by the error Run returns when it forwarded
	// a signal from Spec.Signals to the workers, whatever their exit status.
	ErrInterrupted = errors.New("launcher: interrupted")

	// ErrIface is wrapped by the errors [ResolveIface] and [LookupIface]
	// return: an unknown interface, one that is down or has no IPv4
	// address, a malformed CIDR or one without a local address.
	ErrIface = errors.New("launcher: iface")

	// ErrHostfile is wrapped by the errors of [ParseHostfile],
	// [ParseHosts] and [PlaceRanks].
	ErrHostfile = errors.New("launcher: hosts")
)

// WorkerError reports the first worker that failed: it exited with a
// non-zero status, or was killed by a signal the launcher did not send.
type WorkerError struct {
	// Rank is the rank of the failed worker.
	Rank int
	// ExitCode is the worker's exit status, or -1 if it was killed by a
	// signal.
	ExitCode int
	// Signal names the signal that killed the worker ("killed",
	// "segmentation fault"), or is empty if the worker exited.
	Signal string
	// Tail holds up to Spec.TailLines of the last lines the worker wrote,
	// stdout and stderr interleaved in the order they were read, without
	// rank prefix and newline.
	Tail []string
	// Err is the error returned by waiting for the worker, usually an
	// *exec.ExitError.
	Err error
}

// Error returns "rank 3 exited with status 1" or "rank 3 killed by signal:
// killed", followed by the tail lines, one per line, indented by two
// spaces.
func (e *WorkerError) Error() string {
	var b strings.Builder
	if e.Signal != "" {
		fmt.Fprintf(&b, "rank %d killed by signal: %s", e.Rank, e.Signal)
	} else {
		fmt.Fprintf(&b, "rank %d exited with status %d", e.Rank, e.ExitCode)
	}
	if len(e.Tail) > 0 {
		fmt.Fprintf(&b, "\nlast lines of rank %d:", e.Rank)
		for _, l := range e.Tail {
			b.WriteString("\n  ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *WorkerError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrWorkerFailed].
func (e *WorkerError) Is(target error) bool { return target == ErrWorkerFailed }

// specError collects every problem found by Spec.Validate.
type specError struct {
	problems []string
}

func (e *specError) Error() string {
	return "launcher: " + strings.Join(e.problems, "; ")
}

func (e *specError) Unwrap() error { return ErrInvalidSpec }
