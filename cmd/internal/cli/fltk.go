package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fltk-go/fltk/cmd/internal/bench"
	"github.com/fltk-go/fltk/cmd/internal/demo"
	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/launcher"
	"github.com/fltk-go/fltk/runtime"
)

const fltkUsage = `Usage: fltk COMMAND [flags]

Commands:
  run CONFIG.toml [--serve HOST] [--resume DIR [--force]]
                             run one worker of a job started by fltk-launch
                             (reads FLTK_RANK, FLTK_WORLD_SIZE, FLTK_NATS_URL,
                             FLTK_JOB_ID, FLTK_TOKEN; in a Kubernetes Indexed
                             Job the rank is JOB_COMPLETION_INDEX +
                             FLTK_RANK_OFFSET); with --serve, rank 0 embeds
                             the NATS server on HOST at FLTK_NATS_URL's port;
                             with --resume (every rank), the job continues
                             from the checkpoint in rank 0's results folder DIR
  single CONFIG.toml --rank=R [--master HOST:PORT] [--nats URL] [--np N]
         [--resume DIR [--force]]
                             run rank R by hand, one terminal per rank; rank 0
                             embeds the NATS server on the master address
                             (":PORT": every address) unless --nats names an
                             existing server
  spawn CONFIG.toml          like fltk-launch -np job.world_size CONFIG.toml
  bench [flags]              measure the collectives (see fltk bench -h)
  sweep SWEEP.toml           run a grid of jobs one after another, resumable
                             (see fltk sweep -h and docs/sweeps.md)
  report [--out DIR] RESULTS_DIR
                             summarize a run's or a sweep's results and plot
                             them into RESULTS_DIR/plots/ (see fltk report -h)
  report --compare DIR DIR …  compare runs; plots into ./compare/
  version                    print the version

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.
Set FLTK_LOG=debug|info|warn|error for logs on stderr.
`

// Fltk runs the fltk command.
func Fltk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, fltkUsage)
		return usagef("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runWorker(ctx, rest, stdout, stderr)
	case "single":
		return single(ctx, rest, stdout, stderr)
	case "spawn":
		return spawn(ctx, rest, stdout, stderr)
	case "bench":
		return benchCmd(ctx, rest, stdout, stderr)
	case "sweep":
		return sweepCmd(ctx, rest, stdout, stderr)
	case "report":
		return reportCmd(rest, stdout, stderr)
	case "bench-worker":
		return benchWorker(ctx, rest, stdout, stderr)
	case "agent":
		return agentCmd(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "fltk", version())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, fltkUsage)
		return nil
	default:
		fmt.Fprint(stderr, fltkUsage)
		return usagef("unknown command %q", cmd)
	}
}

// runWorker runs one rank of a launched job.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serve := fs.String("serve", "", "rank 0 only: embed the job's NATS server, listening on this HOST at the port of $FLTK_NATS_URL (fltk-launch k8s: the pod's IP)")
	resume, force := resumeFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	res, err := resumeOf(fs, *resume, *force)
	if err != nil {
		return err
	}
	rc, err := runtime.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("%w: fltk run is started by fltk-launch: %w", ErrUsage, err)
	}
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	// The effective config (config.toml of the results) is the job that
	// runs: fltk-launch -np N sets the world size.
	cfg, err := loadConfigWorld(pos, "fltk run", rc.WorldSize)
	if err != nil {
		return err
	}
	rc.Logger = newLogger(stderr)
	if *serve == "" {
		return work(ctx, cfg, rc, stdout, false, res)
	}
	srv, err := serveRank0(cfg, rc, *serve)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	rc.URL, rc.Server = "", srv // connect in-process
	return work(ctx, cfg, rc, stdout, true, res)
}

// serveRank0 starts the embedded NATS server of "fltk run --serve HOST":
// rank 0 listens on host at the port of rc.URL ($FLTK_NATS_URL, the name
// the other ranks reach it by) with rc.Token.
func serveRank0(cfg *configs.Config, rc runtime.Config, host string) (*runtime.Server, error) {
	if rc.Rank != 0 {
		return nil, usagef("--serve is for rank 0, the federator; this is rank %d", rc.Rank)
	}
	u, err := url.Parse(rc.URL)
	if err != nil || u.Port() == "" || strings.Contains(rc.URL, ",") {
		return nil, usagef("--serve: $%s %q is not one nats://HOST:PORT URL", runtime.EnvNATSURL, rc.URL)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, usagef("--serve: $%s %q: port is not a number", runtime.EnvNATSURL, rc.URL)
	}
	sc := job.ServerConfig(cfg)
	sc.Host, sc.Port, sc.Token, sc.Logger = host, port, rc.Token, rc.Logger
	srv, err := runtime.StartServer(sc)
	if err != nil {
		return nil, fmt.Errorf("rank 0: embed NATS server on %s: %w", net.JoinHostPort(host, u.Port()), err)
	}
	return srv, nil
}

// work joins the world and runs the job's main program on this rank. A
// rank that hosts the job's server (hosting) waits for the others to leave
// before it returns, so that the server outlives them.
func work(ctx context.Context, cfg *configs.Config, rc runtime.Config, stdout io.Writer, hosting bool, res *job.Resume) error {
	if res != nil && cfg.Job.Task != "train" {
		return usagef("--resume: a %q job has no checkpoints; only training jobs do", cfg.Job.Task)
	}
	if err := job.CheckData(cfg); err != nil {
		return fmt.Errorf("rank %d: %w", rc.Rank, err)
	}
	w, comm, err := job.Join(ctx, cfg, rc)
	if err != nil {
		return err
	}
	ctx, stopWatch := job.WatchConnection(ctx, w, cfg.Runtime.HeartbeatInterval.Duration)
	defer stopWatch()
	stopStats, err := startStats(rc.Rank)
	if err != nil {
		return err
	}
	defer stopStats()
	switch cfg.Job.Task {
	case "demo":
		err = demo.Run(ctx, comm, demo.Config{Rounds: cfg.Demo.Rounds, Elements: cfg.Demo.Elements, Seed: cfg.Job.Seed}, stdout)
	case "bench":
		var effective []byte
		if effective, err = job.EffectiveConfig(cfg); err == nil {
			err = bench.Job(ctx, comm, cfg, effective, stdout)
		}
	default:
		err = job.TrainResume(ctx, comm, cfg, stdout, res)
	}
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, runtime.ErrDisconnected) {
		err = fmt.Errorf("rank %d: %w (stopped: %w)", rc.Rank, cause, err)
	}
	job.LogRejected(rc.Logger, comm)
	if hosting && err == nil {
		wctx, cancel := context.WithTimeout(ctx, cfg.Runtime.LivenessTimeout.Duration+5*time.Second)
		if werr := w.WaitOthers(wctx); werr != nil {
			err = fmt.Errorf("rank 0: the other ranks did not leave: %w", werr)
		}
		cancel()
	}
	_ = comm.Close()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// agentCmd is the hidden "fltk agent": the agent fltk-launch runs on each
// host of a multi-host job over ssh, speaking the launcher's protocol on
// stdin and stdout. "fltk agent --check" prints the version and exits:
// fltk-launch's preflight.
func agentCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "print the version and exit")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *check {
		fmt.Fprintln(stdout, "fltk agent", version())
		return nil
	}
	// When the launcher is gone, a write to stdout must fail with EPIPE
	// (the agent then terminates its workers and cleans up), not kill
	// the agent with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	return launcher.RunAgent(ctx, launcher.AgentConfig{
		In:          os.Stdin,
		Out:         stdout,
		StartServer: job.StartAgentServer,
		Version:     version(),
		Logger:      newLogger(stderr),
	})
}

// single runs one rank started by hand.
func single(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk single", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rank := fs.Int("rank", -1, "this process's rank, 0 … job.world_size−1 (required)")
	master := fs.String("master", "", "HOST:PORT of rank 0's embedded NATS server (default runtime.master); rank 0 listens on HOST, on every address with \":PORT\"")
	natsURL := fs.String("nats", "", "use this existing NATS server instead of embedding one in rank 0")
	token := fs.String("token", os.Getenv(runtime.EnvToken), "auth token shared by all ranks (default $FLTK_TOKEN; empty: none)")
	jobID := fs.String("job", "", "job id (default job.name)")
	np := fs.Int("np", 0, "number of ranks, the same for every rank (default job.world_size)")
	resume, force := resumeFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	res, err := resumeOf(fs, *resume, *force)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(pos, "fltk single")
	if err != nil {
		return err
	}
	if *np != 0 {
		if *np < 1 {
			return usagef("--np must be ≥ 1, got %d", *np)
		}
		cfg.Job.WorldSize = *np
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("with --np %d: %w", *np, err)
		}
	}
	if *rank < 0 || *rank >= cfg.Job.WorldSize {
		return usagef("--rank %d out of range [0, %d) (job.world_size = %d)", *rank, cfg.Job.WorldSize, cfg.Job.WorldSize)
	}
	if *master == "" {
		*master = cfg.Runtime.Master
	}
	host, port, err := net.SplitHostPort(*master)
	if err != nil {
		return usagef("--master %q: %v", *master, err)
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		return usagef("--master %q: port is not a number", *master)
	}
	rc := runtime.DefaultConfig()
	rc.Rank, rc.WorldSize, rc.Token = *rank, cfg.Job.WorldSize, *token
	rc.Rejoin = os.Getenv(runtime.EnvRejoin) == "1"
	rc.JobID = cmp(*jobID, cfg.Job.Name)
	rc.Logger = newLogger(stderr)
	rc.URL = *natsURL
	if rc.URL == "" {
		rc.URL = "nats://" + net.JoinHostPort(cmp(host, "127.0.0.1"), port)
		if *rank == 0 {
			sc := job.ServerConfig(cfg)
			sc.Host, sc.Port, sc.Token, sc.Logger = cmp(host, "0.0.0.0"), portNum, *token, rc.Logger
			srv, err := runtime.StartServer(sc)
			if err != nil {
				return fmt.Errorf("rank 0: embed NATS server on %s: %w", *master, err)
			}
			defer srv.Shutdown()
			fmt.Fprintf(stdout, "rank 0: NATS server listening on %s; start ranks 1..%d with --master %s\n", srv.URL(), cfg.Job.WorldSize-1, *master)
			return work(ctx, cfg, rc, stdout, true, res)
		}
	}
	return work(ctx, cfg, rc, stdout, false, res)
}

// resumeFlags defines --resume and --force on fs.
func resumeFlags(fs *flag.FlagSet) (resume *string, force *bool) {
	resume = fs.String("resume", "", "continue the job from the checkpoint in this results folder (every rank gives it; rank 0 reads it)")
	force = fs.Bool("force", false, "with --resume: resume even if the config changed since the checkpoint")
	return resume, force
}

// resumeOf returns the resume options the flags ask for, or nil.
func resumeOf(fs *flag.FlagSet, dir string, force bool) (*job.Resume, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["resume"] {
		if set["force"] {
			return nil, usagef("--force needs --resume")
		}
		return nil, nil
	}
	if dir == "" {
		return nil, usagef("--resume needs the results folder")
	}
	return &job.Resume{Dir: dir, Force: force}, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// spawn launches job.world_size workers of CONFIG, as fltk-launch does.
func spawn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return Launch(ctx, args, stdout, stderr)
}

const benchUsage = `Usage: fltk bench [flags]

Measures broadcast, gather, scatter, allgather, reduce, allreduce and barrier
on float32 buffers for every world size in --np, each in a fresh local job
(an embedded NATS server and np worker processes, as fltk-launch starts
them). A repeat is: Barrier, then one timed collective; its time is the
maximum over ranks; the median and minimum over repeats are printed, with
bandwidth = bytes per rank / median.

Flags:
`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nps := fs.String("np", "2,5,9", "world sizes")
	sizes := fs.String("sizes", "4KiB,64KiB,1MiB,16MiB,64MiB", "bytes per rank (float32), with KiB/MiB suffixes")
	ops := fs.String("ops", "bcast,gather,reduce,allreduce,barrier", "operations: "+strings.Join(bench.Ops, ","))
	repeats := fs.Int("repeats", 0, "timed repeats per cell (0: 20 up to 1 MiB, 5 up to 16 MiB, 3 above)")
	cold := fs.Duration("cold", 0, "cold mode: every rank computes this long (busy arithmetic) before each call's barrier")
	reduceEach := fs.Bool("reduce-each", false, "take each repeat's maximum over ranks right after the call (an allreduce, as mpicoll/gloocoll --reduce-each), not once after the last repeat: the ranks then wait for each other before the next repeat")
	idle := fs.Duration("idle", 0, "idle mode: rank 0 sleeps this long after each call's barrier while the others wait in the call (times are then not latencies; for the job's CPU time, scripts/idle-cpu.sh)")
	codec := fs.String("codec", "", "codec for every call (default collective.codec of the config)")
	asCSV := fs.Bool("csv", false, "print CSV ("+bench.CSVHeader+") instead of a table")
	cfgPath := fs.String("config", "", "config file (default: built-in defaults)")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *cold < 0 {
		return usagef("--cold: %v is negative", *cold)
	}
	if *idle < 0 {
		return usagef("--idle: %v is negative", *idle)
	}
	ba, err := loadBenchArgs(*sizes, *ops, *codec, *cfgPath)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fltk-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stopProfile, err := startProfile("server")
	if err != nil {
		return err
	}
	defer stopProfile()
	var rows bytes.Buffer
	for _, f := range strings.Split(*nps, ",") {
		np, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || np < 1 {
			return usagef("--np: %q is not a world size ≥ 1", f)
		}
		out := filepath.Join(dir, fmt.Sprintf("np%d.csv", np))
		cmd := []string{exe, "bench-worker", "--sizes", *sizes, "--ops", *ops, "--repeats", strconv.Itoa(*repeats), "--cold", cold.String(), "--idle", idle.String(), "--reduce-each=" + strconv.FormatBool(*reduceEach), "--codec", *codec, "--out", out}
		if *cfgPath != "" {
			cmd = append(cmd, "--config", *cfgPath)
		}
		fmt.Fprintf(stderr, "fltk bench: np=%d …\n", np)
		sigs, stop := forwardSignals()
		err = job.Launch(ctx, job.LaunchOptions{NP: np, Config: &ba.cfg, Command: cmd, Stdout: stderr, Stderr: stderr, Signals: sigs, Logger: newLogger(stderr)})
		stop()
		if err != nil {
			return fmt.Errorf("bench np=%d: %w", np, describe(err))
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		rows.Write(b)
	}
	if *asCSV {
		fmt.Fprintln(stdout, bench.CSVHeader)
		_, err = stdout.Write(rows.Bytes())
		return err
	}
	fmt.Fprintf(stdout, "%-4s %-10s %10s %12s %12s %9s\n", "np", "op", "bytes", "median", "min", "GB/s")
	for _, line := range strings.Split(strings.TrimSpace(rows.String()), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 7 {
			continue
		}
		med, _ := strconv.ParseFloat(f[4], 64)
		mn, _ := strconv.ParseFloat(f[5], 64)
		fmt.Fprintf(stdout, "%-4s %-10s %10s %12v %12v %9s\n", f[1], f[2], f[3],
			time.Duration(med*1e3).Round(time.Microsecond), time.Duration(mn*1e3).Round(time.Microsecond), f[6])
	}
	return nil
}

func benchWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("fltk bench-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "", "")
	ops := fs.String("ops", "", "")
	repeats := fs.Int("repeats", 0, "")
	cold := fs.Duration("cold", 0, "")
	idle := fs.Duration("idle", 0, "")
	reduceEach := fs.Bool("reduce-each", false, "")
	codec := fs.String("codec", "", "")
	out := fs.String("out", "", "")
	cfgPath := fs.String("config", "", "")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	ba, err := loadBenchArgs(*sizes, *ops, *codec, *cfgPath)
	if err != nil {
		return err
	}
	rc, err := runtime.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	rc.Logger = newLogger(stderr)
	w, comm, err := job.Join(ctx, &ba.cfg, rc)
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	defer func() { _ = comm.Close() }()
	stopProfile, err := startProfile(fmt.Sprintf("rank%d", comm.Rank()))
	if err != nil {
		return err
	}
	defer stopProfile()
	var buf bytes.Buffer
	err = bench.Run(ctx, comm, ba.ops, ba.sizes, *repeats, bench.Mode{Cold: *cold, Idle: *idle, ReduceEach: *reduceEach}, ba.opts, &buf)
	job.LogRejected(rc.Logger, comm)
	if err != nil {
		return err
	}
	if comm.Rank() == 0 {
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchArgs are the parsed arguments shared by bench and bench-worker.
type benchArgs struct {
	sizes []int
	ops   []string
	opts  []collective.CallOption
	cfg   configs.Config
}

func loadBenchArgs(sizes, ops, codec, cfgPath string) (benchArgs, error) {
	var ba benchArgs
	var err error
	if ba.sizes, err = bench.ParseSizes(sizes); err != nil {
		return ba, usagef("--sizes: %v", err)
	}
	if ba.ops, err = bench.ParseOps(ops); err != nil {
		return ba, usagef("--ops: %v", err)
	}
	if codec != "" {
		c, err := collective.ParseCodec(codec)
		if err != nil {
			return ba, usagef("--codec: %v", err)
		}
		ba.opts = append(ba.opts, collective.WithCodec(c))
	}
	ba.cfg = configs.DefaultConfig()
	if cfgPath != "" {
		c, err := configs.Load(cfgPath)
		if err != nil {
			return ba, err
		}
		ba.cfg = *c
	}
	return ba, nil
}

// startProfile writes a CPU profile to $FLTK_CPUPROFILE/name.pprof when
// that variable is set; the returned function stops it.
func startProfile(name string) (func(), error) {
	dir := os.Getenv("FLTK_CPUPROFILE")
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
