// Package launcher starts the worker processes of one fltk job, on the
// local machine or across hosts over ssh, the way mpirun or torchrun do.
// It is the engine behind "fltk-launch -np N" and "fltk-launch --hosts".
//
// Start from [Run] with a [Spec]. Run starts Spec.NP copies of Spec.Command,
// tags every line they print with their rank, forwards the signals the
// launcher receives, and tears the whole job down as soon as one worker
// fails.
//
// # Usage
//
//	sigs := make(chan os.Signal, 1)
//	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
//	err := launcher.Run(ctx, launcher.Spec{
//		NP:      4,
//		Command: []string{"fltk", "-config", "local-4.toml"},
//		Env: func(rank int) []string {
//			return []string{fmt.Sprintf("FLTK_RANK=%d", rank), "FLTK_WORLD_SIZE=4"}
//		},
//		Stdout:  os.Stdout,
//		Stderr:  os.Stderr,
//		Signals: sigs,
//		Logger:  logger,
//	})
//	var werr *launcher.WorkerError
//	if errors.As(err, &werr) {
//		// werr.Rank failed first; werr.Tail holds its last lines of output.
//	}
//
// # Processes and signals
//
// Each worker runs in its own process group, so a signal sent by the
// launcher reaches the worker and everything it started. The launcher only
// signals process groups it created, and only while their leader (the
// worker) has not been reaped, so a recycled pid can never be hit. When a
// worker exits, whatever it left running in its process group is killed
// with SIGKILL.
//
// Termination always follows the same schedule: a signal (SIGTERM, or the
// forwarded signal) to every live worker, then SIGKILL to those still alive
// after Spec.Grace. It is triggered by the first failing worker, by a
// signal on Spec.Signals, by cancellation of the context, or by a worker
// that cannot be started. Workers that exit during termination are never
// reported as failures.
//
// # Output
//
// Each line a worker writes to stdout or stderr is written to Spec.Stdout
// or Spec.Stderr prefixed with "[rank] ", padded to the width of the
// widest rank (for NP = 16: "[ 3] ", "[15] "), like mpirun --tag-output.
// Every line is a single Write, serialized across all workers and both
// streams, so lines never interleave even when Stdout and Stderr are the
// same writer. A last line without a newline is completed with one when
// the worker exits, and lines longer than 1 MiB are split into several.
//
// # Interfaces
//
// [LookupIface] turns fltk-launch's --iface (an interface name or an IPv4
// CIDR) into the IPv4 address to bind to and advertise; [ResolveIface] is
// the same choice over an injected interface lister, free of I/O.
//
//	addr, err := launcher.LookupIface("10.0.0.0/24") // 10.0.0.7, say
//
// # Hosts
//
// [ParseHostfile] and [ParseHosts] read mpirun's hostfile and --host
// formats into [Host] values, and [PlaceRanks] maps ranks onto their
// slots.
//
//	hosts, err := launcher.ParseHosts("a:4,b:5")
//	where, err := launcher.PlaceRanks(9, hosts) // where[0] == "a", where[8] == "b"
//
// [RunHosts] runs a job across hosts, as Run does on one: it checks every
// host over ssh ("AGENT --check"; an unreachable host, a failed login or
// a missing binary is a [*HostError] before anything starts), optionally
// copies files to a per-job directory, then starts one agent per host
// ([RunAgent], the hidden "fltk agent") and drives it with JSON lines over
// the ssh connection's stdin and stdout (see proto.go): the agent
// resolves --iface on its host, starts the host's server through an
// injected hook (the first host's first, the others routed to it), runs
// the host's ranks with the local runner and streams their output back,
// tagged "[rank@host] ". Signals are forwarded as messages. Both sides
// ping each other; an agent whose launcher is gone or silent (EOF or
// HostsSpec.Liveness without a message) terminates its workers, stops its
// server and removes its files, and the launcher reports a host whose
// connection dropped or fell silent as a [*HostError] naming its ranks.
//
//	err := launcher.RunHosts(ctx, launcher.HostsSpec{
//		Hosts: hosts, NP: 9, Job: id,
//		Command: []string{"/opt/fltk/bin/fltk", "run", "/opt/jobs/job.toml"},
//		Agent:   []string{"/opt/fltk/bin/fltk", "agent"},
//		SSH:     []string{"ssh", "-p", "2222"},
//		Servers: serverSpecs, // nil: the workers use an existing server
//		Stdout:  os.Stdout, Stderr: os.Stderr, Signals: sigs,
//	})
//
// # Lifetime
//
// Run returns only after every worker it started has been reaped and every
// goroutine it started has finished. It never prints; it logs through
// Spec.Logger.
//
// The package supports Linux and other Unix systems; the pid-reuse
// guarantee above relies on waitid(2) and holds on Linux only.
package launcher
