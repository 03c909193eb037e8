package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/trainer/fed"
)

const launchUsage = `Usage: fltk-launch [flags] CONFIG.toml [-- COMMAND [ARGS...]]
       fltk-launch --resume RESULTS_DIR [--force] [flags]
       fltk-launch k8s [flags] CONFIG.toml
       fltk-launch compose [-np N] [-o FILE] CONFIG.toml   (see fltk-launch compose -h)

Runs one fltk job on this machine: starts an embedded NATS server on
127.0.0.1 (or the address --iface selects) and a free port with a fresh
random token, then NP worker processes with ranks 0..NP-1 (rank 0 is the
federator). Each worker gets
FLTK_RANK, FLTK_WORLD_SIZE, FLTK_NATS_URL, FLTK_JOB_ID and FLTK_TOKEN.
The default worker is "fltk run CONFIG.toml" (the fltk binary next to
fltk-launch, else from PATH); after "--", any command.

Every output line is prefixed with the rank ("[3] ..."). On a terminal, a
status line below the output shows the running round's phase and the
latest round, clipped to the terminal's width ($COLUMNS if the terminal
does not say; the workers get FLTK_LIVE=1). SIGINT and SIGTERM
are forwarded to the workers. When a worker fails, the others are stopped
and fltk-launch exits 1 naming the rank and showing its last lines (the
rank whose error is not a consequence of another's, such as "rank 0 is
down", if one is). The job is checked before anything starts: -np (1..1024,
≥ 2 for training), the config with world_size = -np, the net against the
data set, the sampler's arguments, a writable output.dir and the data
set's files under data.path (across hosts: output.dir if the first host
is localhost, the data if every host is); a problem exits 2.

Across hosts (--hosts a:4,b:5 or --hostfile FILE): ranks fill the hosts'
slots in order (rank 0 on the first host). fltk-launch reaches each host
with ssh (--ssh, in BatchMode with a connect timeout) and runs one agent
there ("fltk agent", the fltk binary at the same path as here, or the copy
--copy ships to /tmp/fltk-JOB-XXXXXX). Each agent resolves --iface on its
host, starts that host's NATS server as one node of the job's cluster (TLS
with a per-job CA, per-job route credentials) and the host's workers, which
connect to it. Output is tagged "[3@b] ". An unreachable host, a failed
login, a missing binary or an fltk of another version fails the job before
any rank starts, naming the host; a host whose connection drops fails the job naming the host and its
ranks. The hosts localhost and 127.0.0.1 run their agent without ssh.
With --nats, no server is started: the workers use that NATS cluster.

With --resume RESULTS_DIR, continues the training run whose results are
in RESULTS_DIR (output.dir/job.name) from its last checkpoint
(resume.ckpt, written every output.checkpoint_every rounds), with the
config it recorded (RESULTS_DIR/config.toml, its world size as -np); the
rows of the rounds after the checkpoint are cut from the CSV files and
redone. A config edited since the checkpoint exits 2 unless --force; a
run that finished (no INCOMPLETE marker) exits 2.

"fltk-launch k8s [-np N] [-o DIR] CONFIG.toml" writes Kubernetes manifests
instead (see "fltk-launch k8s -h").

Exit codes: 0 success, 1 a worker, a host or the job failed, 2 usage or
config error.

Flags:
`

// Launch runs the fltk-launch command.
func Launch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "compose" {
		return composeCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "k8s" {
		return K8s(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("fltk-launch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	np := fs.Int("np", 0, "number of ranks (processes), 1..1024; default: job.world_size from the config")
	jobID := fs.String("job", "", "job id namespacing the NATS subjects (default: job.name plus a random suffix)")
	host := fs.String("host", "127.0.0.1", "address the embedded NATS server listens on (with --iface: must be the address it selects)")
	iface := fs.String("iface", "", "interface NAME or IPv4 CIDR whose address the embedded NATS server binds to and advertises (default runtime.iface, else loopback)")
	port := fs.Int("port", 0, "port of the embedded NATS server (0: a free port)")
	grace := fs.Duration("grace", 5*time.Second, "after a signal or a failure, how long workers get before SIGKILL")
	restart := fs.Int("restart", 0, "with runtime.on_rank_failure = \"continue\": start a failed rank other than 0 again, up to N times per rank; it rejoins at the next round")
	hostList := fs.String("hosts", "", "run across hosts: HOST[:SLOTS],... (mpirun's --host format; user@host works)")
	hostfile := fs.String("hostfile", "", "run across the hosts of FILE (mpirun's format: \"host slots=4\" or \"host:4\", # comments)")
	sshCmd := fs.String("ssh", "ssh", "the command reaching a host, split like a shell would (e.g. \"ssh -p 2222 -i KEY\")")
	doCopy := fs.Bool("copy", false, "with --hosts: ship the fltk binary and the config to a per-job directory on each host, removed afterwards")
	useTLS := fs.Bool("tls", true, "with --hosts: TLS between the hosts' NATS servers and their clients, with a per-job CA")
	links := fs.Bool("links", true, "with --hosts: ranks on different hosts send each other point-to-point frames over direct TCP connections (TLS with --tls) instead of through the NATS servers")
	natsURL := fs.String("nats", "", "use this existing NATS cluster (URL[,URL...]) instead of embedded servers")
	creds := fs.String("creds", "", "with --nats: the NATS .creds file the workers authenticate with")
	resume := fs.String("resume", "", "continue the run whose results are in this folder from its last checkpoint, with its recorded config.toml")
	force := fs.Bool("force", false, "with --resume: resume even if config.toml changed since the checkpoint")
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
	if set["np"] && (*np < 1 || *np > configs.MaxWorldSize) {
		return usagef("-np must be in 1..%d, got %d", configs.MaxWorldSize, *np)
	}
	if *grace < 0 {
		return usagef("-grace must be ≥ 0, got %s", *grace)
	}
	if *restart < 0 {
		return usagef("--restart must be ≥ 0, got %d", *restart)
	}
	if set["job"] {
		if err := job.CheckJobID(*jobID); err != nil {
			return err
		}
	}
	if set["force"] && !set["resume"] {
		return usagef("--force needs --resume")
	}
	var resumeDir string
	if set["resume"] {
		if len(pos) != 0 {
			return usagef("--resume takes the run's recorded config (RESULTS_DIR/config.toml): give no CONFIG.toml or command, got %q", pos)
		}
		if resumeDir, err = checkResumeDir(*resume); err != nil {
			return err
		}
		pos = []string{filepath.Join(resumeDir, "config.toml")}
		if set["np"] {
			if rec, err := configs.Load(pos[0]); err == nil && rec.Job.WorldSize != *np {
				return usagef("--resume: the run ran with -np %d (%s); resume it with the same -np, or without -np", rec.Job.WorldSize, pos[0])
			}
		}
	}
	var worldNP int // -np, if given, is the config's world size
	if set["np"] {
		worldNP = *np
	}
	cfg, err := loadConfigWorld(pos, "fltk-launch", worldNP)
	if err != nil {
		if worldNP > 0 && errors.Is(err, configs.ErrInvalid) {
			return fmt.Errorf("with -np %d (job.world_size): %w", worldNP, err)
		}
		return err
	}
	if !set["np"] {
		*np = cfg.Job.WorldSize
	}
	// The whole job is checked here, before any server or worker starts;
	// cfg then says world_size = np, and the workers get np.
	if err := job.CheckWorld(cfg, *np); err != nil {
		return err
	}
	if *restart > 0 && !job.Elastic(cfg) {
		return usagef("--restart needs a training job with runtime.on_rank_failure = \"continue\" (%s: job.task = %q, on_rank_failure = %q)",
			pos[0], cfg.Job.Task, cfg.Runtime.OnRankFailure)
	}
	if *restart > 0 && !(*hostList == "" && *hostfile == "") {
		return usagef("--restart runs on this machine only: it does not take --hosts or --hostfile")
	}
	if set["creds"] && *natsURL == "" {
		return usagef("--creds needs --nats")
	}
	custom := len(cmd) > 0
	local := *hostList == "" && *hostfile == ""
	if !custom {
		cmd = workerCommand(pos[0])
		if local {
			if err := job.CheckTrain(cfg, resumeDir == "", true); err != nil {
				return err
			}
		}
	}
	if resumeDir != "" {
		if *hostList != "" || *hostfile != "" {
			return usagef("--resume runs on this machine only: it does not take --hosts or --hostfile")
		}
		if cfg.Job.Task != "train" {
			return usagef("--resume: %s is a %q job; only training jobs checkpoint", pos[0], cfg.Job.Task)
		}
		if _, err := job.CheckResume(cfg, resumeDir, *force); err != nil {
			return err
		}
		cmd = append(cmd, "--resume", resumeDir)
		if *force {
			cmd = append(cmd, "--force")
		}
	}
	opts := job.LaunchOptions{
		NP: *np, Config: cfg, JobID: *jobID, Command: cmd, Port: *port,
		Stdout: stdout, Stderr: stderr, Terminal: isTerminal(stdout), Width: termWidth(stdout), Grace: *grace, Restart: *restart, Logger: newLogger(stderr),
		NATS: *natsURL, Creds: *creds,
	}
	if *hostList == "" && *hostfile == "" {
		for _, f := range []string{"ssh", "copy", "tls", "links"} {
			if set[f] {
				return usagef("--%s needs --hosts or --hostfile", f)
			}
		}
		if *natsURL == "" {
			if opts.Host, err = listenHost(*iface, set["iface"], *host, set["host"], cfg.Runtime.Iface, launcher.LookupIface); err != nil {
				return err
			}
		}
		sigs, stop := forwardSignals()
		defer stop()
		opts.Signals = sigs
		return describe(job.Launch(ctx, opts))
	}

	ho, err := hostsOptions(opts, *hostList, *hostfile, *sshCmd, set)
	if err != nil {
		return err
	}
	if !custom {
		// What can be checked here: output.dir if rank 0 runs on this
		// machine (the first host is localhost), the data if every rank
		// does. Their agents run in this working directory.
		dataHere := true
		for _, h := range ho.Hosts {
			dataHere = dataHere && launcher.IsLocalHost(h.Name)
		}
		if err := job.CheckTrain(cfg, launcher.IsLocalHost(ho.Hosts[0].Name), dataHere); err != nil {
			return err
		}
	}
	ho.Iface = cmp(*iface, cfg.Runtime.Iface)
	ho.Copy, ho.TLS, ho.Links = *doCopy, *useTLS, *links
	ho.ConfigPath = absPath(pos[0])
	ho.Fltk = fltkBinary()
	ho.Version = version()
	if !custom {
		ho.Command = []string{ho.Fltk, "run", ho.ConfigPath}
	}
	sigs, stop := forwardSignals()
	defer stop()
	ho.Signals = sigs
	return describe(job.LaunchHosts(ctx, ho))
}

// hostsOptions checks the flags of a launch across hosts and reads the
// hosts. Every problem is a usage error (exit 2).
func hostsOptions(o job.LaunchOptions, hostList, hostfile, sshCmd string, set map[string]bool) (job.HostsOptions, error) {
	ho := job.HostsOptions{LaunchOptions: o}
	if hostList != "" && hostfile != "" {
		return ho, usagef("give --hosts or --hostfile, not both")
	}
	for _, f := range []string{"host", "port"} {
		if set[f] {
			return ho, usagef("-%s is for local jobs; with --hosts use --iface", f)
		}
	}
	var err error
	if hostList != "" {
		ho.Hosts, err = launcher.ParseHosts(hostList)
	} else {
		f, ferr := os.Open(hostfile)
		if ferr != nil {
			return ho, usagef("--hostfile: %v", ferr)
		}
		ho.Hosts, err = launcher.ParseHostfile(f)
		f.Close()
	}
	if err != nil {
		return ho, usagef("%v", err)
	}
	if _, err := launcher.PlaceRanks(o.NP, ho.Hosts); err != nil {
		return ho, usagef("%v", err)
	}
	if ho.SSH, err = launcher.SplitCommand(sshCmd); err != nil || len(ho.SSH) == 0 {
		return ho, usagef("--ssh %q: not a command (%v)", sshCmd, err)
	}
	return ho, nil
}

// absPath returns path made absolute, as the default worker command names
// the config.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// fltkBinary returns the absolute path of the fltk binary: the running
// executable if it is fltk, else the fltk next to it, else "fltk" (looked
// up in each host's PATH).
func fltkBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return "fltk"
	}
	if filepath.Base(exe) == "fltk" {
		return exe
	}
	if p := filepath.Join(filepath.Dir(exe), "fltk"); fileExists(p) {
		return p
	}
	return "fltk"
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

// termWidth returns a function that reports the width in columns of the
// terminal w, asked at each call (the window may be resized): the
// terminal's window size, else $COLUMNS, else 80.
func termWidth(w io.Writer) func() int {
	f, _ := w.(*os.File)
	size := func() (int, error) {
		if f == nil {
			return 0, errors.New("not a file")
		}
		cols, _, err := term.GetSize(int(f.Fd()))
		return cols, err
	}
	return func() int { return chooseWidth(size, os.Getenv("COLUMNS")) }
}

// chooseWidth returns the width size reports if it is positive, else
// columns (the value of $COLUMNS) if it is a positive number, else 80.
func chooseWidth(size func() (int, error), columns string) int {
	if w, err := size(); err == nil && w > 0 {
		return w
	}
	if c, err := strconv.Atoi(strings.TrimSpace(columns)); err == nil && c > 0 {
		return c
	}
	return 80
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

// checkResumeDir checks the folder of a run to resume: a directory with
// a recorded config.toml and the INCOMPLETE marker of a run that did not
// finish. It returns the folder's absolute path. Every problem is a usage
// error (exit 2).
func checkResumeDir(dir string) (string, error) {
	abs := absPath(dir)
	st, err := os.Stat(abs)
	if err != nil {
		return "", usagef("--resume: %v", err)
	}
	if !st.IsDir() {
		return "", usagef("--resume: %s is not a results folder", dir)
	}
	if _, err := os.Stat(filepath.Join(abs, "config.toml")); err != nil {
		return "", usagef("--resume: %s has no recorded config.toml: not the results folder of a run", dir)
	}
	if _, err := os.Stat(filepath.Join(abs, fed.IncompleteFile)); err != nil {
		return "", usagef("--resume: %s has no %s marker: its run finished, there is nothing to resume", dir, fed.IncompleteFile)
	}
	return abs, nil
}
