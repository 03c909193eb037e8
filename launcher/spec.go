package launcher

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Default values filled in by [Spec.Validate].
const (
	// DefaultGrace is the default Spec.Grace.
	DefaultGrace = 5 * time.Second
	// DefaultTailLines is the default Spec.TailLines.
	DefaultTailLines = 20
)

// StatusFunc decides the status line from a worker's stdout lines. It is
// called with each line of rank, without prefix and newline, and returns
// the status line to pin (nil: keep the current one) and whether line is
// for the status only and is not to be printed (nor kept in the rank's
// tail). It is called from one goroutine per worker at once, so it must
// be safe for concurrent use, and must not keep line.
type StatusFunc func(rank int, line []byte) (status []byte, hide bool)

// Spec describes one local job: NP copies of Command.
type Spec struct {
	// NP is the number of worker processes, ≥ 1. They get ranks 0 … NP-1.
	NP int

	// Command is the argv of every worker; it must not be empty.
	// Command[0] is looked up in PATH when it contains no slash; a
	// relative path with a slash is relative to Dir.
	Command []string

	// Env returns extra "KEY=VALUE" entries for the worker of the given
	// rank, appended to os.Environ(); later entries win. It may be nil.
	Env func(rank int) []string

	// Dir is the workers' working directory; "" means the launcher's.
	Dir string

	// Stdout receives the workers' standard output, each line prefixed
	// with "[rank] ". Nil discards it.
	Stdout io.Writer

	// Stderr receives the workers' standard error, each line prefixed
	// with "[rank] ". Nil discards it. It may be the same writer as Stdout.
	Stderr io.Writer

	// Status, if not nil, is shown every line a worker writes to its
	// stdout (without the rank prefix and newline) and decides the status
	// line; see [StatusFunc]. When Terminal is set, the latest status
	// stays pinned as the last line on the terminal, redrawn below the
	// other output and clipped to the terminal's width. Lines it does not
	// hide are printed as usual either way.
	Status StatusFunc

	// Terminal says that Stdout is a terminal, which may draw the status
	// line with carriage returns and erase-line escapes. Leave it false for
	// files and pipes: they get plain lines only.
	Terminal bool

	// Width, if not nil, returns the terminal's width in columns; it is
	// asked each time the status line is drawn. Nil or a result below 1
	// means 80.
	Width func() int

	// Signals carries the signals received by the launcher (typically
	// SIGINT and SIGTERM, see signal.Notify). Each one is forwarded to
	// every live worker, and Run then returns an error wrapping
	// ErrInterrupted. It may be nil; a closed channel is ignored.
	Signals <-chan os.Signal

	// KeepGoing lets the job go on when a worker other than rank 0 fails
	// (exits non-zero or is killed): the other workers are not stopped,
	// as for a training job with runtime.on_rank_failure = "continue",
	// whose ranks shrink their world to the live ones. Rank 0's failure
	// still stops the job. When rank 0 succeeds, Run returns nil and
	// writes to Stderr one line naming each worker the job went on
	// without.
	KeepGoing bool

	// Restart, with KeepGoing, starts a failed worker other than rank 0
	// again, up to Restart times per rank, while rank 0 runs: the same
	// command, with RestartEnv added to its environment (a training job
	// takes the new process back at its next round boundary). Each
	// restart writes "launcher: restarting rank R (k/N)" to Stderr, with
	// the rank's prefix. After Restart restarts the job goes on without
	// the rank. It must be ≥ 0 (0: never).
	Restart int

	// RestartEnv are "KEY=VALUE" entries added to a restarted worker's
	// environment, after Env's.
	RestartEnv []string

	// Grace is how long workers get to exit after they were signalled
	// before they are killed with SIGKILL. It must be ≥ 0; 0 means
	// DefaultGrace. It also bounds how long Run waits for a worker's
	// output after the worker exited (exec.Cmd.WaitDelay).
	Grace time.Duration

	// TailLines is the number of last output lines of a failed worker kept
	// in WorkerError.Tail. It must be ≥ 0; 0 means DefaultTailLines.
	TailLines int

	// Logger receives Debug and Info records about workers starting,
	// exiting and being signalled. Nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with s in one error wrapping
// [ErrInvalidSpec], such as "launcher: np must be ≥ 1, got 0". It fills
// in the defaults of Grace and TailLines when they are zero.
func (s *Spec) Validate() error {
	var problems []string
	if s.NP < 1 {
		problems = append(problems, fmt.Sprintf("np must be ≥ 1, got %d", s.NP))
	}
	if len(s.Command) == 0 {
		problems = append(problems, "command must not be empty")
	} else if s.Command[0] == "" {
		problems = append(problems, "command[0] must not be empty")
	}
	if s.Grace < 0 {
		problems = append(problems, fmt.Sprintf("grace must be ≥ 0, got %v", s.Grace))
	}
	if s.Restart < 0 {
		problems = append(problems, fmt.Sprintf("restart must be ≥ 0, got %d", s.Restart))
	} else if s.Restart > 0 && !s.KeepGoing {
		problems = append(problems, "restart needs keep going (a job that goes on without a failed worker)")
	}
	if s.TailLines < 0 {
		problems = append(problems, fmt.Sprintf("tail lines must be ≥ 0, got %d", s.TailLines))
	}
	if len(problems) > 0 {
		return &specError{problems: problems}
	}
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	if s.TailLines == 0 {
		s.TailLines = DefaultTailLines
	}
	return nil
}
