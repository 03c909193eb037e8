package collective

import (
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Comm. The zero value of each field means its
// default; see DefaultConfig.
type Config struct {
	// JobID identifies the job; every frame carries its tag and frames of
	// another job are rejected.
	JobID string
	// ChunkBytes is the largest raw chunk, in bytes (default 1 MiB). It is
	// lowered to fit the transport's MaxFrame, and kept a multiple of 8.
	ChunkBytes int
	// Window is how many chunks of one stream may be in flight before the
	// receiver must grant credit (default 4).
	Window int
	// Codec is the default codec; calls may override it with WithCodec.
	Codec Codec
	// ZstdLevel is the klauspost/compress level, 1 (fastest) … 4 (best);
	// default 1.
	ZstdLevel int
	// SmallBytes: an AllReduce of at most this many bytes per rank uses one
	// round (every rank fans out its input and reduces locally) instead of
	// reduce-scatter + allgather. Default 64 KiB; negative disables it.
	SmallBytes int
	// RootBytes: on one host, a lossless AllReduce of more than SmallBytes
	// and at most this many bytes per rank reduces at one root and fans
	// the result out (two rounds of one wake-up per rank) instead of
	// reduce-scatter + allgather. Default 1 MiB; negative disables it.
	RootBytes int
	// SharedBytes: when the transport lets every rank read the others' memory
	// ([ScratchTransport]: every rank on one host), a lossless Broadcast,
	// Reduce, AllReduce, Gather or AllGather of at most this many bytes per
	// rank goes through the scratch buffers, ordered by the shared barrier,
	// instead of frames. Default 8 MiB; negative disables it.
	SharedBytes int
	// OpTimeout is the deadline applied to a call whose context has none
	// (default 10 minutes).
	OpTimeout time.Duration
	// PollFor is how long a call waiting for frames polls a Poller
	// transport before it sleeps (default 300µs; negative: never). On an
	// oversubscribed host a wake-up through a doorbell costs more than a
	// short poll, and polling, with sched_yield in between, lets the ranks
	// still working have the core (BenchmarkCollective).
	PollFor time.Duration
	// FlatOnly forces the single-host schedules even when the transport
	// knows which ranks share a host ([HostTransport]); for A/B
	// comparisons. See the package doc, "Hosts".
	FlatOnly bool
	// ExactPartials keeps the partial sums that the host-aware reductions
	// pass between hosts (and the result the last host sends to the root)
	// lossless under a lossy codec, so that Reduce and AllReduce return
	// the flat schedule's bits. By default (false) a lossy codec encodes
	// them too: each hop between hosts quantises the partial once more,
	// results stay deterministic but differ from the flat schedule's, and
	// the links carry the codec's bytes instead of float32s. Lossless
	// codecs are unaffected. See the package doc, "Hosts".
	ExactPartials bool
	// PipeChunkBytes is the smallest chunk of a host-aware stream: a call
	// across hosts cuts its tensor in 16 chunks to pipeline them through
	// the hosts, but not below this (nor above ChunkBytes). Small chunks
	// pipeline on slow links; on fast ones each chunk's cost through the
	// NATS servers dominates, and larger chunks win (bench-multihost.sh,
	// docs/multihost.md). Default 64 KiB; a multiple of 8, ≥ 4096.
	PipeChunkBytes int
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ChunkBytes:     1 << 20,
		Window:         4,
		Codec:          CodecNone,
		ZstdLevel:      1,
		SmallBytes:     64 << 10,
		RootBytes:      1 << 20,
		SharedBytes:    8 << 20,
		OpTimeout:      10 * time.Minute,
		PollFor:        300 * time.Microsecond,
		PipeChunkBytes: 64 << 10,
	}
}

// Validate fills zero fields with defaults and rejects invalid values.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.ChunkBytes == 0 {
		c.ChunkBytes = d.ChunkBytes
	}
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.ZstdLevel == 0 {
		c.ZstdLevel = d.ZstdLevel
	}
	if c.SmallBytes == 0 {
		c.SmallBytes = d.SmallBytes
	}
	if c.RootBytes == 0 {
		c.RootBytes = d.RootBytes
	}
	if c.SharedBytes == 0 {
		c.SharedBytes = d.SharedBytes
	}
	if c.PollFor == 0 {
		c.PollFor = d.PollFor
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = d.OpTimeout
	}
	if c.PipeChunkBytes == 0 {
		c.PipeChunkBytes = d.PipeChunkBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.ChunkBytes < 64 || c.ChunkBytes%8 != 0:
		return fmt.Errorf("%w: ChunkBytes must be a multiple of 8 and ≥ 64, got %d", ErrInvalidConfig, c.ChunkBytes)
	case c.Window < 1:
		return fmt.Errorf("%w: Window must be ≥ 1, got %d", ErrInvalidConfig, c.Window)
	case !c.Codec.valid():
		return fmt.Errorf("%w: %v", ErrUnknownCodec, c.Codec)
	case c.ZstdLevel < 1 || c.ZstdLevel > 4:
		return fmt.Errorf("%w: ZstdLevel must be in 1..4, got %d", ErrInvalidConfig, c.ZstdLevel)
	case c.PipeChunkBytes < 4096 || c.PipeChunkBytes%8 != 0:
		return fmt.Errorf("%w: PipeChunkBytes must be a multiple of 8 and ≥ 4096, got %d", ErrInvalidConfig, c.PipeChunkBytes)
	case c.OpTimeout < 0:
		return fmt.Errorf("%w: OpTimeout must be > 0, got %v", ErrInvalidConfig, c.OpTimeout)
	}
	return nil
}

// CallOption adjusts one call.
type CallOption func(*callOpts)

type callOpts struct {
	codec     Codec
	hasCodec  bool
	weight    float64
	hasWeight bool
	stats     *Stats
	onStart   func()
}

// WithCodec encodes this call's chunks with c instead of the Comm's default.
func WithCodec(c Codec) CallOption { return func(o *callOpts) { o.codec, o.hasCodec = c, true } }

// WithWeight sets this rank's weight for a WeightedMean reduction.
func WithWeight(w float64) CallOption { return func(o *callOpts) { o.weight, o.hasWeight = w, true } }

// WithStats fills s with the bytes this call moved on this rank.
func WithStats(s *Stats) CallOption { return func(o *callOpts) { o.stats = s } }

// OnStart calls f once the call has taken its sequence number, before it
// sends or waits. Calls on one Comm may overlap; every rank must issue them
// in the same order, and OnStart lets a goroutine wait for that order.
func OnStart(f func()) CallOption { return func(o *callOpts) { o.onStart = f } }

// Stats counts bytes moved by this rank. Raw bytes are the elements'
// bytes; wire bytes are whole frames (headers and encoded payloads). A
// fan-out send counts once: the transport publishes it once. A hop of a
// host-aware schedule that sends a chunk to several ranks point to point
// counts each send, and a leader's sent bytes include the partial or
// forwarded results it passes on.
type Stats struct {
	Calls     int64
	RawSent   int64
	WireSent  int64
	RawRecv   int64
	WireRecv  int64
	FramesOut int64
	FramesIn  int64
}

// Ratio is raw over wire bytes sent and received: above 1 the codec saved
// bytes. It is 1 when nothing moved.
func (s Stats) Ratio() float64 {
	if s.WireSent+s.WireRecv == 0 {
		return 1
	}
	return float64(s.RawSent+s.RawRecv) / float64(s.WireSent+s.WireRecv)
}

func (s *Stats) add(o Stats) {
	s.Calls += o.Calls
	s.RawSent += o.RawSent
	s.WireSent += o.WireSent
	s.RawRecv += o.RawRecv
	s.WireRecv += o.WireRecv
	s.FramesOut += o.FramesOut
	s.FramesIn += o.FramesIn
}
