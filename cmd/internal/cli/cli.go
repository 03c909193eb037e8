// Package cli implements the fltk and fltk-launch commands; the mains in
// cmd/ only map its errors to exit codes.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/report"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/trainer/fed"
)

// Version is stamped by the Makefile (-ldflags -X).
var Version = ""

// ErrUsage marks a usage or configuration error: exit code 2.
var ErrUsage = job.ErrUsage

// ExitCode maps an error to the documented exit codes: 0 success, 2 usage
// or configuration error, 1 runtime failure. An embedded NATS server that
// cannot listen is a configuration error (2) unless its port is busy
// (runtime.ErrAddrInUse: another job or rank 0 holds it; waiting may help),
// which is a runtime failure (1); so is an interrupted rendezvous (1, as
// for every interrupted command).
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage), errors.Is(err, configs.ErrSyntax), errors.Is(err, configs.ErrUnknownKey),
		errors.Is(err, configs.ErrType), errors.Is(err, configs.ErrInvalid), errors.Is(err, fed.ErrConfig),
		errors.Is(err, os.ErrNotExist), errors.Is(err, launcher.ErrHostfile), errors.Is(err, launcher.ErrIface),
		errors.Is(err, launcher.ErrInvalidSpec), errors.Is(err, report.ErrNoResults), errors.Is(err, report.ErrMalformed),
		// An address the server cannot listen on (a host not on this
		// machine, a port out of range); a busy port is not one: exit 1.
		errors.Is(err, runtime.ErrInvalidConfig):
		return 2
	}
	return 1
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// newLogger logs to stderr at the level named by FLTK_LOG (default warn).
func newLogger(stderr io.Writer) *slog.Logger {
	lvl := slog.LevelWarn
	_ = lvl.UnmarshalText([]byte(os.Getenv(job.LogEnv)))
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
}

// parse parses args with fs, allowing flags after positional arguments
// (as in "fltk single demo.toml --rank=1"), and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadConfig loads the config named by the single positional argument.
func loadConfig(pos []string, cmd string) (*configs.Config, error) {
	return loadConfigWorld(pos, cmd, 0)
}

// loadConfigWorld loads the config named by the single positional
// argument, validated with job.world_size = np if np > 0 (the world that
// runs: federated.clients_per_round is checked against it).
func loadConfigWorld(pos []string, cmd string, np int) (*configs.Config, error) {
	if len(pos) != 1 {
		return nil, usagef("%s needs exactly one CONFIG.toml argument, got %d", cmd, len(pos))
	}
	if st, err := os.Stat(pos[0]); err == nil && st.IsDir() {
		return nil, usagef("%s: %s is a directory, not a CONFIG.toml file", cmd, pos[0])
	}
	if np > 0 {
		return configs.LoadWith(pos[0], func(c *configs.Config) { c.Job.WorldSize = np })
	}
	return configs.Load(pos[0])
}

// workerCommand returns the argv that runs one worker of cfgPath: the fltk
// binary next to the running executable, else fltk from PATH.
func workerCommand(cfgPath string) []string {
	bin := "fltk"
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "fltk"); fileExists(p) {
			bin = p
		}
	}
	abs, err := filepath.Abs(cfgPath)
	if err != nil {
		abs = cfgPath
	}
	return []string{bin, "run", abs}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// forwardSignals returns a channel receiving SIGINT and SIGTERM, and a stop
// function.
func forwardSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// describe turns a launcher failure into a message naming the rank.
func describe(err error) error {
	// Only a bare WorkerError: a joined error (a lost host first) keeps
	// all its parts.
	if we, ok := err.(*launcher.WorkerError); ok {
		return fmt.Errorf("%s", strings.TrimRight(we.Error(), "\n"))
	}
	return err
}
