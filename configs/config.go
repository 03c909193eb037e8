package configs

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Duration is a [time.Duration] written in TOML as a string in
// [time.ParseDuration] syntax, such as "250ms", "5s" or "1h30m".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration such as "250ms".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText formats the duration as [time.Duration.String] does, which
// UnmarshalText reads back exactly.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}

// Codecs lists the values allowed for collective.codec, the default first.
var Codecs = []string{"none", "zstd", "bf16", "int8", "int8z"}

// MaxWorldSize is the largest job.world_size (and fltk-launch -np).
const MaxWorldSize = maxWorldSize

// Limits enforced by [Config.Validate].
const (
	maxNameLen         = 64
	minWorldSize       = 1
	maxWorldSize       = 1024
	minMaxPayload      = 1024
	maxMaxPayload      = 64 << 20 // nats-server's hard limit
	minMaxPending      = 1 << 20
	minChunkBytes      = 4096
	chunkHeadroom      = 4096 // room left in a NATS message for headers
	chunkAlign         = 8    // chunks split float32/float64 data on element boundaries
	minWindow          = 1
	maxWindow          = 256
	minZstdLevel       = 1
	maxZstdLevel       = 4
	minRounds          = 1
	minDemoElements    = 0
	livenessHeartbeats = 2 // liveness_timeout must cover this many heartbeats
)

// Config is a complete fltk job configuration. The zero value is not valid;
// start from [DefaultConfig] or [Load].
type Config struct {
	Job        Job        `toml:"job"`
	Runtime    Runtime    `toml:"runtime"`
	Collective Collective `toml:"collective"`
	Federated  Federated  `toml:"federated"`
	Data       Data       `toml:"data"`
	Train      Train      `toml:"train"`
	Output     Output     `toml:"output"`
	Demo       Demo       `toml:"demo"`
	Bench      Bench      `toml:"bench"`
	Deploy     Deploy     `toml:"deploy"`
}

// Job identifies the experiment and its size.
type Job struct {
	// Name names the experiment in logs and NATS subjects. Default "fltk";
	// 1 to 64 characters from [A-Za-z0-9_-].
	Name string `toml:"name"`

	// WorldSize is the number of ranks `fltk spawn` starts, rank 0 being the
	// federator. Default 5; 1..1024.
	WorldSize int `toml:"world_size"`

	// Seed seeds every random choice of the job. Default 42; any int64.
	Seed int64 `toml:"seed"`

	// Task is what the ranks run: "train" (federated training), "demo"
	// (the collective demo) or "bench" (one collective measured, [Bench]).
	// Default "train".
	Task string `toml:"task"`
}

// Runtime configures rendezvous, liveness and the embedded NATS server.
type Runtime struct {
	// Master is the host:port of the NATS server that ranks connect to in
	// manual mode (`fltk single`). Default "127.0.0.1:4222"; the port must be
	// numeric, 1..65535.
	Master string `toml:"master"`

	// RendezvousTimeout bounds how long a rank waits for the whole world to
	// join. Default 60s; > 0.
	RendezvousTimeout Duration `toml:"rendezvous_timeout"`

	// HeartbeatInterval is the period of liveness heartbeats. Default
	// 250ms; > 0.
	HeartbeatInterval Duration `toml:"heartbeat_interval"`

	// LivenessTimeout is how long a rank may stay silent before it is
	// declared dead. Default 5s; at least 2 × HeartbeatInterval.
	LivenessTimeout Duration `toml:"liveness_timeout"`

	// OpTimeout is the deadline applied to a collective operation whose
	// context has none. Default 10m; > 0.
	OpTimeout Duration `toml:"op_timeout"`

	// MaxPayload is the embedded server's max_payload, in bytes. Default
	// 2097152 (2 MiB); 1024..67108864 and at most MaxPending.
	MaxPayload int `toml:"max_payload"`

	// MaxPending is the embedded server's per-connection max_pending, in
	// bytes. Default 536870912 (512 MiB); at least 1048576 (1 MiB).
	MaxPending int64 `toml:"max_pending"`

	// WriteDeadline is the embedded server's write_deadline. Default 60s;
	// > 0.
	WriteDeadline Duration `toml:"write_deadline"`

	// SharedMemory lets ranks on one host move their frames through shared
	// memory (/dev/shm) instead of through the NATS server; NATS keeps
	// rendezvous, liveness and traffic between hosts. Default true.
	SharedMemory bool `toml:"shared_memory"`

	// SharedBarrier runs barriers on futexes in rank 0's shared-memory
	// segment when every rank is on one host (needs SharedMemory); false
	// sends them as messages through rank 0. Default true.
	SharedBarrier bool `toml:"shared_barrier"`

	// Iface chooses the network interface whose IPv4 address the embedded
	// NATS server of fltk-launch binds to and advertises to the workers:
	// an interface name ("eth0") or an IPv4 CIDR ("10.0.0.0/24") that
	// picks the local address inside it. fltk-launch's --iface and -host
	// flags win over it. Default "" (loopback, 127.0.0.1).
	Iface string `toml:"iface"`

	// OnRankFailure is what a training job does when a worker rank dies
	// or misses federated.round_timeout: "continue" shrinks the world to
	// the live ranks and redoes the round without the lost one (the job
	// still fails when rank 0 is lost or fewer than
	// federated.min_workers remain); "abort" ends the job, naming the
	// rank. The demo and bench tasks always abort. Default "continue".
	OnRankFailure string `toml:"on_rank_failure"`
}

// OnRankFailure values.
var OnRankFailures = []string{"continue", "abort"}

// Collective configures how collective operations move data.
type Collective struct {
	// ChunkBytes is the size of one chunk of a stream, in bytes. Default
	// 1048576 (1 MiB); 4096..(Runtime.MaxPayload − 4096), a multiple of 8.
	ChunkBytes int `toml:"chunk_bytes"`

	// Window is the number of chunks in flight per stream before the
	// sender needs credit from the receiver. Default 4; 1..256.
	Window int `toml:"window"`

	// Codec compresses chunks on the wire: one of [Codecs]. Default "none".
	Codec string `toml:"codec"`

	// ZstdLevel is the zstd encoder level used when Codec is "zstd": 1
	// fastest, 2 default, 3 better, 4 best. Default 1; 1..4.
	ZstdLevel int `toml:"zstd_level"`

	// PollFor is how long a rank waiting for frames from ranks on its own
	// host polls its shared-memory queue (yielding the core in between)
	// before it sleeps until a doorbell wakes it. Default "300us"; "0s"
	// never polls; at most 10ms.
	PollFor Duration `toml:"poll_for"`

	// ExactPartials keeps the partial sums that a reduction passes between
	// hosts lossless under a lossy codec (bf16, int8, int8z), so results
	// are bit-identical to the single-host schedules'. By default (false)
	// they are encoded with the codec too: each hop between hosts adds one
	// quantisation, and the links carry the codec's bytes instead of
	// float32s. Lossless codecs are unaffected. Default false.
	ExactPartials bool `toml:"exact_partials"`

	// PipelineChunkBytes is the smallest chunk of a stream between hosts:
	// a collective across hosts cuts a tensor in 16 chunks so they
	// pipeline through the hosts, but not below this. Larger chunks cost
	// fewer messages through the NATS servers (fast links), smaller ones
	// pipeline better (slow links). Default 65536; 4096..chunk_bytes, a
	// multiple of 8.
	PipelineChunkBytes int `toml:"pipeline_chunk_bytes"`

	// SharedBytes: when every rank is on one host (runtime.shared_memory and
	// runtime.shared_barrier on), a lossless broadcast, reduce, allreduce,
	// gather or allgather of at most this many bytes per rank goes through
	// shared scratch buffers that every rank reads in place, ordered by the
	// shared barrier, instead of frames. Default 8388608 (8 MiB); 0 turns it
	// off.
	SharedBytes int `toml:"shared_bytes"`
}

// Demo configures the collective demo job, run until the trainer exists.
type Demo struct {
	// Rounds is the number of demo rounds. Default 5; ≥ 1.
	Rounds int `toml:"rounds"`

	// Elements is the number of float32 elements of the demo model. Default
	// 1048576; ≥ 0.
	Elements int `toml:"elements"`
}

// Bench configures the benchmark job (job.task = "bench"): one
// collective at one size, measured as fltk bench does. Rank 0 writes
// bench.csv into output.dir/job.name. The codec is collective.codec.
type Bench struct {
	// Op is the operation, one of [BenchOps]. Default "allreduce".
	Op string `toml:"op"`

	// Bytes is the float32 buffer of each rank, in bytes. Default 1048576;
	// ≥ 0, a multiple of 4.
	Bytes int `toml:"bytes"`

	// Repeats is the number of timed repeats; 0 picks fltk bench's default
	// for the size (20 up to 1 MiB, 5 up to 16 MiB, 3 above). Default 0;
	// ≥ 0.
	Repeats int `toml:"repeats"`

	// Cold is how long every rank computes (a busy loop of arithmetic)
	// before the Barrier of each call, warm-up calls included, as local
	// training does between the collectives of a federated round; "0s"
	// measures back-to-back calls. Default "0s"; ≥ 0.
	Cold Duration `toml:"cold"`
}

// DefaultConfig returns the default configuration, the one that
// configs/reference.toml spells out. It is valid.
func DefaultConfig() Config {
	return Config{
		Job: Job{
			Name:      "fltk",
			WorldSize: 5,
			Seed:      42,
			Task:      "train",
		},
		Runtime: Runtime{
			Master:            "127.0.0.1:4222",
			RendezvousTimeout: Duration{60 * time.Second},
			HeartbeatInterval: Duration{250 * time.Millisecond},
			LivenessTimeout:   Duration{5 * time.Second},
			OpTimeout:         Duration{10 * time.Minute},
			MaxPayload:        2 << 20,
			MaxPending:        512 << 20,
			WriteDeadline:     Duration{60 * time.Second},
			SharedMemory:      true,
			SharedBarrier:     true,
			OnRankFailure:     "continue",
		},
		Collective: Collective{
			ChunkBytes:         1 << 20,
			Window:             4,
			Codec:              "none",
			ZstdLevel:          1,
			PollFor:            Duration{300 * time.Microsecond},
			PipelineChunkBytes: 64 << 10,
			SharedBytes:        8 << 20,
		},
		Federated: defaultFederated(),
		Data:      defaultData(),
		Train:     defaultTrain(),
		Output:    defaultOutput(),
		Demo: Demo{
			Rounds:   5,
			Elements: 1 << 20,
		},
		Bench: Bench{
			Op:    "allreduce",
			Bytes: 1 << 20,
		},
		Deploy: defaultDeploy(),
	}
}

// Validate reports every value of c that is out of range, joined with
// [errors.Join]. Each problem is an [*Error] that names the dotted key and
// what is allowed, and wraps [ErrInvalid]. Validate returns nil if c is
// valid; it does not modify c.
func (c *Config) Validate() error {
	var v validator
	c.Job.validate(&v)
	c.Runtime.validate(&v)
	c.Collective.validate(&v, c.Runtime.MaxPayload)
	c.Federated.validate(&v, c.Job.WorldSize)
	if w := c.Job.WorldSize - 1; c.Job.Task == "train" && c.Runtime.OnRankFailure == "continue" && w >= 1 && c.Federated.MinWorkers > w {
		v.errorf("federated.min_workers", "%d exceeds the %d worker ranks of a world of %d", c.Federated.MinWorkers, w, c.Job.WorldSize)
	}
	c.Data.validate(&v)
	c.Train.validate(&v)
	c.Output.validate(&v)
	c.Demo.validate(&v)
	c.Bench.validate(&v)
	c.Deploy.validate(&v)
	return errors.Join(v.errs...)
}

// validator collects validation errors.
type validator struct{ errs []error }

func (v *validator) errorf(key, format string, args ...any) {
	v.errs = append(v.errs, newError(ErrInvalid, key, key+": "+fmt.Sprintf(format, args...)))
}

// intRange checks lo ≤ x ≤ hi.
func (v *validator) intRange(key string, x, lo, hi int64) {
	if x < lo || x > hi {
		v.errorf(key, "%d is out of range %d..%d", x, lo, hi)
	}
}

// atLeast checks x ≥ lo.
func (v *validator) atLeast(key string, x, lo int64) {
	if x < lo {
		v.errorf(key, "%d must be at least %d", x, lo)
	}
}

// positive checks d > 0.
func (v *validator) positive(key string, d Duration) {
	if d.Duration <= 0 {
		v.errorf(key, "%s must be greater than 0s", d.Duration)
	}
}

func (j *Job) validate(v *validator) {
	switch {
	case j.Name == "":
		v.errorf("job.name", "must not be empty (1 to %d characters from A-Z, a-z, 0-9, _ and -)", maxNameLen)
	case len(j.Name) > maxNameLen:
		v.errorf("job.name", "%s is %d characters long, more than %d", quote(j.Name), len(j.Name), maxNameLen)
	case strings.IndexFunc(j.Name, func(r rune) bool { return !isNameRune(r) }) >= 0:
		v.errorf("job.name", "%s may only contain A-Z, a-z, 0-9, _ and -", quote(j.Name))
	}
	v.intRange("job.world_size", int64(j.WorldSize), minWorldSize, maxWorldSize)
	v.oneOf("job.task", j.Task, Tasks)
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

func (r *Runtime) validate(v *validator) {
	if _, port, err := net.SplitHostPort(r.Master); err != nil {
		v.errorf("runtime.master", "%s is not a host:port address: %v", quote(r.Master), err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.errorf("runtime.master", "%s has port %s, want a number in 1..65535", quote(r.Master), quote(port))
	}
	v.positive("runtime.rendezvous_timeout", r.RendezvousTimeout)
	v.positive("runtime.heartbeat_interval", r.HeartbeatInterval)
	if r.HeartbeatInterval.Duration > 0 {
		// liveness ≥ 2 × heartbeat, written as a division because the
		// product can overflow; exact for heartbeat > 0 since Go's integer
		// division truncates toward zero.
		if r.LivenessTimeout.Duration/livenessHeartbeats < r.HeartbeatInterval.Duration {
			v.errorf("runtime.liveness_timeout", "%s must be at least %d × runtime.heartbeat_interval (%d × %s)",
				r.LivenessTimeout.Duration, livenessHeartbeats, livenessHeartbeats, r.HeartbeatInterval.Duration)
		}
	} else {
		v.positive("runtime.liveness_timeout", r.LivenessTimeout)
	}
	v.positive("runtime.op_timeout", r.OpTimeout)
	v.intRange("runtime.max_payload", int64(r.MaxPayload), minMaxPayload, maxMaxPayload)
	v.atLeast("runtime.max_pending", r.MaxPending, minMaxPending)
	if int64(r.MaxPayload) > r.MaxPending && r.MaxPending >= minMaxPending {
		v.errorf("runtime.max_payload", "%d must not exceed runtime.max_pending (%d)", r.MaxPayload, r.MaxPending)
	}
	v.positive("runtime.write_deadline", r.WriteDeadline)
	v.oneOf("runtime.on_rank_failure", r.OnRankFailure, OnRankFailures)
	if strings.Contains(r.Iface, "/") {
		if p, err := netip.ParsePrefix(r.Iface); err != nil {
			v.errorf("runtime.iface", "%s is neither an interface name nor a CIDR: %v", quote(r.Iface), err)
		} else if !p.Addr().Is4() {
			v.errorf("runtime.iface", "%s is not an IPv4 CIDR", quote(r.Iface))
		}
	} else if strings.ContainsFunc(r.Iface, unicode.IsSpace) {
		v.errorf("runtime.iface", "%s is not an interface name: it contains white space", quote(r.Iface))
	}
}

func (c *Collective) validate(v *validator, maxPayload int) {
	hi := int64(maxPayload) - chunkHeadroom
	if x := int64(c.ChunkBytes); x < minChunkBytes || x > hi {
		v.errorf("collective.chunk_bytes", "%d is out of range %d..%d (runtime.max_payload − %d)",
			x, minChunkBytes, hi, chunkHeadroom)
	} else if x%chunkAlign != 0 {
		v.errorf("collective.chunk_bytes", "%d is not a multiple of %d", x, chunkAlign)
	}
	v.intRange("collective.window", int64(c.Window), minWindow, maxWindow)
	known := false
	for _, s := range Codecs {
		known = known || c.Codec == s
	}
	if !known {
		v.errorf("collective.codec", "%s is not one of %s", quote(c.Codec), strings.Join(Codecs, ", "))
	}
	v.intRange("collective.zstd_level", int64(c.ZstdLevel), minZstdLevel, maxZstdLevel)
	if c.PollFor.Duration < 0 || c.PollFor.Duration > 10*time.Millisecond {
		v.errorf("collective.poll_for", "%v is outside 0s..10ms", c.PollFor.Duration)
	}
	if x := int64(c.PipelineChunkBytes); x < minChunkBytes || x > max(int64(c.ChunkBytes), minChunkBytes) {
		v.errorf("collective.pipeline_chunk_bytes", "%d is out of range %d..%d (collective.chunk_bytes)", x, minChunkBytes, max(c.ChunkBytes, minChunkBytes))
	} else if x%chunkAlign != 0 {
		v.errorf("collective.pipeline_chunk_bytes", "%d is not a multiple of %d", x, chunkAlign)
	}
	v.intRange("collective.shared_bytes", int64(c.SharedBytes), 0, math.MaxInt32)
}

func (d *Demo) validate(v *validator) {
	v.atLeast("demo.rounds", int64(d.Rounds), minRounds)
	v.atLeast("demo.elements", int64(d.Elements), minDemoElements)
}

func (b *Bench) validate(v *validator) {
	v.oneOf("bench.op", b.Op, BenchOps)
	if b.Bytes < 0 || b.Bytes%4 != 0 {
		v.errorf("bench.bytes", "%d must be at least 0 and a multiple of 4 (float32 elements)", b.Bytes)
	}
	v.atLeast("bench.repeats", int64(b.Repeats), 0)
	if b.Cold.Duration < 0 {
		v.errorf("bench.cold", "%v must be at least 0s", b.Cold.Duration)
	}
}

// quote quotes s for a message, shortening it so that a pathological value
// cannot produce a pathological message.
func quote(s string) string {
	const maxLen = 48
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && cut < len(s) && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
