package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"
)

// The environment contract between a launcher and its workers (compare
// torchrun's RANK, WORLD_SIZE, MASTER_ADDR).
const (
	EnvRank      = "FLTK_RANK"       // this process's rank, 0 … world size − 1
	EnvWorldSize = "FLTK_WORLD_SIZE" // number of ranks
	EnvNATSURL   = "FLTK_NATS_URL"   // nats://host:port of the job's server
	EnvJobID     = "FLTK_JOB_ID"     // job id; namespaces every subject
	EnvToken     = "FLTK_TOKEN"      // the server's auth token
	EnvNATSCA    = "FLTK_NATS_CA"    // PEM file of the CA that signed the servers' certificates
	EnvNATSCreds = "FLTK_NATS_CREDS" // NATS .creds file (user JWT and nkey seed)
	// EnvHost, when set, is this process's host identity (default: the
	// hostname): ranks with the same host are grouped by World.HostOf.
	EnvHost = "FLTK_HOST"

	// EnvCompletionIndex is the completion index a Kubernetes Indexed Job
	// gives each of its pods; without FLTK_RANK, the rank is this index
	// plus FLTK_RANK_OFFSET (fltk-launch k8s runs the client ranks of one
	// resource profile as one Indexed Job whose index 0 is its first rank).
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
	EnvRankOffset      = "FLTK_RANK_OFFSET" // added to JOB_COMPLETION_INDEX; default 0

	// EnvLinkAddr is the address this rank's direct-link listener binds
	// to (Config.LinkAddr); EnvLinkCert and EnvLinkKey the PEM files of
	// the certificate it presents (Config.LinkCertFile, LinkKeyFile).
	EnvLinkAddr = "FLTK_LINK_ADDR"
	EnvLinkCert = "FLTK_LINK_CERT"
	EnvLinkKey  = "FLTK_LINK_KEY"

	// EnvRejoin=1 marks a process started again for a lost rank of a
	// running job (fltk-launch --restart): [Config.Rejoin].
	EnvRejoin = "FLTK_REJOIN"
)

// Config configures Join.
type Config struct {
	// JobID namespaces every subject: [A-Za-z0-9_-], at most 64 bytes.
	JobID string
	// Rank is this process's rank in [0, WorldSize); rank 0 is the federator.
	Rank int
	// WorldSize is the number of ranks, ≥ 1.
	WorldSize int
	// URL is the NATS server, e.g. nats://127.0.0.1:4222, or a
	// comma-separated list of the servers of one cluster (the client picks
	// one). Empty means connect in-process to Server.
	URL string
	// Server, when set and URL is empty, is an embedded server to connect
	// to without a socket.
	Server *Server
	// Token authenticates to the server ("" for none).
	Token string
	// Host is this process's host identity, which World.HostOf groups
	// ranks by (default $FLTK_HOST, else the hostname). Only ranks with the
	// same host try to share memory.
	Host string
	// CAFile is a PEM file of the CA that signed the servers' certificates;
	// set, the connection uses TLS and verifies the server against it.
	CAFile string
	// CredsFile is a NATS .creds file (user JWT and nkey seed) for servers
	// in operator mode ("" for none).
	CredsFile string
	// RendezvousTimeout bounds connecting and assembling the world
	// (default 60s).
	RendezvousTimeout time.Duration
	// HeartbeatInterval is how often each rank announces it is alive
	// (default 250ms).
	HeartbeatInterval time.Duration
	// LivenessTimeout: a rank not heard from for this long is dead
	// (default 5s; at least twice HeartbeatInterval).
	LivenessTimeout time.Duration
	// SharedMemory moves the frames between ranks on one host through
	// shared memory instead of through the server (default true; see the
	// package documentation).
	SharedMemory bool
	// SharedBarrier runs World.Barrier (and so collective.Barrier) on
	// futexes in shared memory when every rank is on this host and maps
	// rank 0's segment (default true; needs SharedMemory).
	SharedBarrier bool
	// ScratchBytes is the size of each of the two scratch buffers a rank's
	// segment holds for the collectives that run in shared memory when
	// every rank is on one host ([World.Scratch]): a larger tensor goes
	// through them in pieces of this size. 0 means the default, 1 MiB;
	// negative: none (those collectives send frames instead).
	ScratchBytes int
	// LinkAddr, when set, is the address (an IP of this host, port
	// chosen) where this rank accepts direct links: point-to-point frames
	// between ranks on different hosts then skip the NATS servers (see
	// link.go). Both ranks need one; "" (the default) sends everything
	// through the server.
	LinkAddr string
	// LinkCertFile and LinkKeyFile make direct links mutual TLS: this
	// certificate, signed by the CA of CAFile, which must verify the
	// peer's.
	LinkCertFile, LinkKeyFile string
	// Rejoin marks a process started for a rank the running job lost: when
	// rank 0 still counts the rank's old process alive, Join asks again
	// until rank 0 finds it down (or RendezvousTimeout passes) instead of
	// failing at once. Any process whose rank is down joins a running
	// world, with or without it (see World.Rejoined).
	Rejoin bool
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a single-rank configuration with default timings.
func DefaultConfig() Config {
	return Config{
		JobID:             "fltk",
		WorldSize:         1,
		RendezvousTimeout: 60 * time.Second,
		HeartbeatInterval: 250 * time.Millisecond,
		LivenessTimeout:   5 * time.Second,
		SharedMemory:      true,
		SharedBarrier:     true,
		ScratchBytes:      1 << 20,
	}
}

var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidJobID reports whether id is a job id [Config.Validate] accepts:
// 1 to 64 characters of A-Z a-z 0-9 _ -.
func ValidJobID(id string) bool { return jobIDRE.MatchString(id) }

// Validate fills zero durations with defaults and reports every invalid
// field.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.RendezvousTimeout == 0 {
		c.RendezvousTimeout = d.RendezvousTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.LivenessTimeout == 0 {
		c.LivenessTimeout = d.LivenessTimeout
	}
	if c.ScratchBytes == 0 {
		c.ScratchBytes = d.ScratchBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if !jobIDRE.MatchString(c.JobID) {
		bad("job id %q must be 1-64 characters of A-Z a-z 0-9 _ -", c.JobID)
	}
	if c.WorldSize < 1 || c.WorldSize > 65535 {
		bad("world size %d must be in 1..65535", c.WorldSize)
	} else if c.Rank < 0 || c.Rank >= c.WorldSize {
		bad("rank %d out of range [0, %d)", c.Rank, c.WorldSize)
	}
	if c.URL == "" && c.Server == nil {
		bad("no NATS URL and no embedded server")
	}
	if c.RendezvousTimeout < 0 || c.HeartbeatInterval < 0 {
		bad("timeouts must be positive")
	}
	if (c.LinkCertFile == "") != (c.LinkKeyFile == "") {
		bad("direct links need both a certificate and a key file (have %q and %q)", c.LinkCertFile, c.LinkKeyFile)
	} else if c.LinkCertFile != "" && (c.LinkAddr == "" || c.CAFile == "") {
		bad("a direct-link certificate needs a link address and the CA file")
	}
	if c.LinkAddr != "" && net.ParseIP(c.LinkAddr) == nil {
		bad("direct-link address %q is not an IP address", c.LinkAddr)
	}
	if c.LivenessTimeout < 2*c.HeartbeatInterval {
		bad("liveness timeout %v must be at least twice the heartbeat interval %v", c.LivenessTimeout, c.HeartbeatInterval)
	}
	return errors.Join(errs...)
}

// ConfigFromEnv returns DefaultConfig with the rank, world size, URL, job
// id, token, CA file and creds file taken from the FLTK_* environment variables. Every missing
// or malformed variable is named in the error. Without FLTK_RANK, the rank
// is JOB_COMPLETION_INDEX + FLTK_RANK_OFFSET when JOB_COMPLETION_INDEX is
// set (a pod of a Kubernetes Indexed Job).
func ConfigFromEnv() (Config, error) {
	c := DefaultConfig()
	var errs []error
	num := func(name string, dst *int) {
		v, ok := os.LookupEnv(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s is not set", ErrInvalidConfig, name))
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, name, v))
			return
		}
		*dst = n
	}
	if _, ok := os.LookupEnv(EnvRank); !ok && os.Getenv(EnvCompletionIndex) != "" {
		var index, offset int
		num(EnvCompletionIndex, &index)
		if _, ok := os.LookupEnv(EnvRankOffset); ok {
			num(EnvRankOffset, &offset)
		}
		if index < 0 || offset < 0 {
			errs = append(errs, fmt.Errorf("%w: %s=%d and %s=%d must not be negative", ErrInvalidConfig, EnvCompletionIndex, index, EnvRankOffset, offset))
		}
		c.Rank = index + offset
	} else {
		num(EnvRank, &c.Rank)
	}
	num(EnvWorldSize, &c.WorldSize)
	c.URL = os.Getenv(EnvNATSURL)
	if c.URL == "" {
		errs = append(errs, fmt.Errorf("%w: %s is not set", ErrInvalidConfig, EnvNATSURL))
	}
	if v := os.Getenv(EnvJobID); v != "" {
		c.JobID = v
	}
	c.Token = os.Getenv(EnvToken)
	c.Host = os.Getenv(EnvHost)
	c.CAFile = os.Getenv(EnvNATSCA)
	c.CredsFile = os.Getenv(EnvNATSCreds)
	c.Rejoin = os.Getenv(EnvRejoin) == "1"
	c.LinkAddr = os.Getenv(EnvLinkAddr)
	c.LinkCertFile, c.LinkKeyFile = os.Getenv(EnvLinkCert), os.Getenv(EnvLinkKey)
	return c, errors.Join(errs...)
}

// Env returns the environment entries that hand rank its place in the job.
// Callers append EnvNATSCA, EnvNATSCreds and EnvHost themselves when they
// use them.
func Env(rank, worldSize int, url, jobID, token string) []string {
	return []string{
		EnvRank + "=" + strconv.Itoa(rank),
		EnvWorldSize + "=" + strconv.Itoa(worldSize),
		EnvNATSURL + "=" + url,
		EnvJobID + "=" + jobID,
		EnvToken + "=" + token,
	}
}
