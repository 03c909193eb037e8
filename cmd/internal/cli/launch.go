package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/launcher"
)

const launchUsage = `Usage: fltk-launch [flags] CONFIG.toml [-- COMMAND [ARGS...]]

Runs one fltk job on this machine: starts an embedded NATS server on
127.0.0.1 (or the address --iface selects) and a free port with a fresh
random token, then NP worker processes with ranks 0..NP-1 (rank 0 is the
federator). Each worker gets
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
	host := fs.String("host", "127.0.0.1", "address the embedded NATS server listens on (with --iface: must be the address it selects)")
	iface := fs.String("iface", "", "interface NAME or IPv4 CIDR whose address the embedded NATS server binds to and advertises (default runtime.iface, else loopback)")
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
	listen, err := listenHost(*iface, set["iface"], *host, set["host"], cfg.Runtime.Iface, launcher.LookupIface)
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
		NP: *np, Config: cfg, JobID: *jobID, Command: cmd, Host: listen, Port: *port,
		Stdout: stdout, Stderr: stderr, Terminal: isTerminal(stdout), Signals: sigs, Grace: *grace, Logger: newLogger(stderr),
	})
	return describe(err)
}

// listenHost returns the address the embedded NATS server listens on and
// advertises. --iface (else runtime.iface, cfgIface) names an interface or
// an IPv4 CIDR, resolved by lookup to its IPv4 address; -host gives the
// address itself. The flags win over the config: an explicit -host
// overrides runtime.iface. Given both flags, -host must be the address
// --iface selects, or it is a usage error. With none of them: -host's
// default, 127.0.0.1. Every problem is a usage error (exit 2).
func listenHost(iface string, ifaceSet bool, host string, hostSet bool, cfgIface string, lookup func(string) (netip.Addr, error)) (string, error) {
	key := "--iface"
	if !ifaceSet {
		if hostSet || cfgIface == "" {
			return host, nil
		}
		iface, key = cfgIface, "runtime.iface"
	}
	addr, err := lookup(iface)
	if err != nil {
		return "", usagef("%s: %v", key, err)
	}
	if hostSet {
		if h, err := netip.ParseAddr(host); err != nil || h.Unmap() != addr {
			return "", usagef("--iface %s selects %s but -host is %s: give one of them, or the same address", iface, addr, host)
		}
	}
	return addr.String(), nil
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
