package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fltk-go/fltk/cmd/internal/job"
)

const launchUsage = `Usage: fltk-launch [flags] CONFIG.toml [-- COMMAND [ARGS...]]

Runs one fltk job on this machine: starts an embedded NATS server on
127.0.0.1 and a free port with a fresh random token, then NP worker
processes with ranks 0..NP-1 (rank 0 is the federator). Each worker gets
FLTK_RANK, FLTK_WORLD_SIZE, FLTK_NATS_URL, FLTK_JOB_ID and FLTK_TOKEN.
The default worker is "fltk run CONFIG.toml" (the fltk binary next to
fltk-launch, else from PATH); after "--", any command.

Every output line is prefixed with the rank ("[3] ..."). SIGINT and SIGTERM
are forwarded to the workers. When a worker fails, the others are stopped
and fltk-launch exits 1 naming the rank and showing its last lines.
Exit codes: 0 success, 1 a worker or the job failed, 2 usage or config error.

Flags:
`

// Launch runs the fltk-launch command.
func Launch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk-launch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	np := fs.Int("np", 0, "number of ranks (processes), ≥ 1; default: job.world_size from the config")
	jobID := fs.String("job", "", "job id namespacing the NATS subjects (default: job.name plus a random suffix)")
	host := fs.String("host", "127.0.0.1", "address the embedded NATS server listens on")
	port := fs.Int("port", 0, "port of the embedded NATS server (0: a free port)")
	grace := fs.Duration("grace", 5*time.Second, "after a signal or a failure, how long workers get before SIGKILL")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, launchUsage)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "fltk-launch", version())
		return nil
	}
	var cmd []string
	for i, p := range pos {
		if p == "--" {
			cmd, pos = pos[i+1:], pos[:i]
			break
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["np"] && *np < 1 {
		return usagef("-np must be ≥ 1, got %d", *np)
	}
	cfg, err := loadConfig(pos, "fltk-launch")
	if err != nil {
		return err
	}
	if !set["np"] {
		*np = cfg.Job.WorldSize
	}
	if len(cmd) == 0 {
		cmd = workerCommand(pos[0])
	}
	sigs, stop := forwardSignals()
	defer stop()
	err = job.Launch(ctx, job.LaunchOptions{
		NP: *np, Config: cfg, JobID: *jobID, Command: cmd, Host: *host, Port: *port,
		Stdout: stdout, Stderr: stderr, Terminal: isTerminal(stdout), Signals: sigs, Grace: *grace, Logger: newLogger(stderr),
	})
	return describe(err)
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
