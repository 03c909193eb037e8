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

	// ErrHost matches every [*HostError] under errors.Is.
	ErrHost = errors.New("launcher: host failed")
)

// HostError reports a host of a multi-host job that failed as a whole:
// it could not be reached or logged into, its agent or binary is missing,
// its agent reported an error, or its connection was lost mid-job.
type HostError struct {
	// Host is the host's name as given in --hosts or the hostfile.
	Host string
	// Ranks are the ranks placed on the host (none if the host failed
	// before ranks were placed on it).
	Ranks []int
	// Usage says the host refused the job's configuration (an --iface it
	// cannot resolve): errors.Is(err, ErrIface) holds.
	Usage bool
	// Err describes the failure.
	Err error
}

// Error returns "host b (ranks 4-8): connection lost: …".
func (e *HostError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host %s", e.Host)
	if len(e.Ranks) > 0 {
		fmt.Fprintf(&b, " (%s)", formatRanks(e.Ranks))
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns e.Err.
func (e *HostError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrHost], or [ErrIface] for a usage error.
func (e *HostError) Is(target error) bool {
	return target == ErrHost || e.Usage && target == ErrIface
}

// formatRanks returns "rank 3", "ranks 4-8" or "ranks 1, 3, 5".
func formatRanks(ranks []int) string {
	if len(ranks) == 1 {
		return fmt.Sprintf("rank %d", ranks[0])
	}
	contiguous := true
	for i := 1; i < len(ranks); i++ {
		if ranks[i] != ranks[i-1]+1 {
			contiguous = false
		}
	}
	if contiguous {
		return fmt.Sprintf("ranks %d-%d", ranks[0], ranks[len(ranks)-1])
	}
	s := make([]string, len(ranks))
	for i, r := range ranks {
		s[i] = fmt.Sprint(r)
	}
	return "ranks " + strings.Join(s, ", ")
}

// WorkerError reports the first worker that failed: it exited with a
// non-zero status, or was killed by a signal the launcher did not send.
type WorkerError struct {
	// Rank is the rank of the failed worker.
	Rank int
	// Host is the worker's host in a multi-host job, "" in a local one.
	Host string
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
// killed" ("rank 3 on b …" in a multi-host job), followed by the tail lines, one per line, indented by two
// spaces.
func (e *WorkerError) Error() string {
	var b strings.Builder
	on := ""
	if e.Host != "" {
		on = " on " + e.Host
	}
	if e.Signal != "" {
		fmt.Fprintf(&b, "rank %d%s killed by signal: %s", e.Rank, on, e.Signal)
	} else {
		fmt.Fprintf(&b, "rank %d%s exited with status %d", e.Rank, on, e.ExitCode)
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
