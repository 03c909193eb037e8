package fed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/trainer"
	"github.com/fltk-go/fltk/trainer/model"
	"github.com/fltk-go/fltk/trainer/optim"
	"github.com/fltk-go/fltk/trainer/strategy"
)

// CheckpointFile is the name of a job's checkpoint in its results folder
// ([CheckpointWriter] writes it, [ReadCheckpoint] reads it).
const CheckpointFile = "resume.ckpt"

// CheckpointVersion is the version of the checkpoint file format that
// [EncodeCheckpoint] writes and [DecodeCheckpoint] reads.
const CheckpointVersion = 1

// ErrCheckpoint is wrapped by every error about a checkpoint file that is
// truncated, corrupt, of another version, or that does not fit the job.
var ErrCheckpoint = errors.New("fed: bad checkpoint")

// Checkpoint is what a federated job needs to continue after a round as
// if it had never stopped: [Run] hands one to a recorder that implements
// [Checkpointer] every Config.CheckpointEvery rounds and after the last
// round, and [Resume] continues from one. What is not in it is a pure
// function of the configuration and the round: the partition, each
// round's selection and client sample order (hence augmentation), and
// each client's scheduler epoch (recounted from the selections).
type Checkpoint struct {
	// Round is the number of rounds done; the job continues with
	// Round+1.
	Round int
	// Done says the job ended after Round (its last round, or the target
	// accuracy was reached): resuming only writes the final results.
	Done bool

	// ConfigHash identifies the configuration that ran (SHA-256 of the
	// recorded config.toml, set by [CheckpointWriter]); zero if unknown.
	ConfigHash [32]byte

	// Seed, WorldSize and Clients are the job's, for checks on resume.
	Seed      int64
	WorldSize int
	Clients   int

	// Net, Buffers and Global are the global model: its name, the
	// buffer ranges of its state and the state after Round.
	Net     string
	Buffers [][2]int
	Global  []float32

	// Strategy is the strategy's name and StrategyState its state
	// ([strategy.Stateful]), nil for a strategy without one.
	Strategy      string
	StrategyState []byte

	// Optimizers holds each client's optimizer state
	// ([optim.Stateful]), by client, with Config.KeepOptimizerState; nil
	// entries (and a nil slice) mean a fresh optimizer.
	Optimizers [][]byte

	// Residuals holds each rank's error-feedback residual (what a lossy
	// codec lost of its latest update), by rank; nil entries: none.
	Residuals [][]float32

	// ModelRNG holds, by rank, the position of each of its models'
	// dropout mask generators ([model.RNGState]).
	ModelRNG [][][]byte

	// Files holds the sizes in bytes of the results files the recorders
	// had written after Round (metrics.csv …, paths relative to the
	// results folder): resuming truncates them back to these sizes.
	Files map[string]int64
}

// Checkpointer is implemented by a [Recorder] that takes part in
// checkpoints. [Run] calls Checkpoint on rank 0 after each checkpoint
// round's Round call, from the same goroutine; [MultiRecorder] passes it
// to each of its recorders that implements it, in order, so that the
// results files (which add their sizes to c.Files) are synced before the
// [CheckpointWriter] that comes after them writes the file.
type Checkpointer interface {
	Checkpoint(c *Checkpoint) error
}

// CheckpointWriter is the [Recorder] that writes checkpoints to a file,
// atomically ([WriteFileAtomic]: a crash leaves the previous checkpoint
// or the new one, whole). It ignores the other Recorder calls.
type CheckpointWriter struct {
	path string
	hash [32]byte
}

// NewCheckpointWriter returns a CheckpointWriter that writes to path,
// stamping each checkpoint with configHash.
func NewCheckpointWriter(path string, configHash [32]byte) *CheckpointWriter {
	return &CheckpointWriter{path: path, hash: configHash}
}

// Start does nothing.
func (*CheckpointWriter) Start(Setup) error { return nil }

// Round does nothing.
func (*CheckpointWriter) Round(RoundResult) error { return nil }

// Finish does nothing.
func (*CheckpointWriter) Finish(trainer.Checkpoint) error { return nil }

// Checkpoint writes c, with the writer's config hash, to its file.
func (w *CheckpointWriter) Checkpoint(c *Checkpoint) error {
	c.ConfigHash = w.hash
	return WriteFileAtomic(w.path, EncodeCheckpoint(c), 0o644)
}

// ReadCheckpoint reads the checkpoint file at path. A missing file is an
// error wrapping [os.ErrNotExist]; a truncated or corrupt one, or one of
// another version, an error wrapping [ErrCheckpoint] that names path.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fed: read checkpoint: %w", err)
	}
	c, err := DecodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ckptMagic starts a checkpoint file.
var ckptMagic = []byte("FLTKJOB\x00")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeCheckpoint returns c in the checkpoint file format, version
// [CheckpointVersion]: little-endian, the magic "FLTKJOB\0", a uint32
// version, the fields of c in order (see docs/checkpoints.md), and a
// CRC-32C of everything before it.
func EncodeCheckpoint(c *Checkpoint) []byte {
	var e enc
	e.b = append(e.b, ckptMagic...)
	e.u32(CheckpointVersion)
	e.u64(uint64(c.Round))
	e.bool(c.Done)
	e.b = append(e.b, c.ConfigHash[:]...)
	e.u64(uint64(c.Seed))
	e.u32(uint32(c.WorldSize))
	e.u32(uint32(c.Clients))
	e.str(c.Net)
	e.u32(uint32(len(c.Buffers)))
	for _, r := range c.Buffers {
		e.u64(uint64(r[0]))
		e.u64(uint64(r[1]))
	}
	e.f32s(c.Global)
	e.str(c.Strategy)
	e.bytes(c.StrategyState)
	e.u32(uint32(len(c.Optimizers)))
	for _, o := range c.Optimizers {
		e.bytes(o)
	}
	e.u32(uint32(len(c.Residuals)))
	for _, r := range c.Residuals {
		e.f32s(r)
	}
	e.u32(uint32(len(c.ModelRNG)))
	for _, ms := range c.ModelRNG {
		e.u32(uint32(len(ms)))
		for _, m := range ms {
			e.bytes(m)
		}
	}
	names := make([]string, 0, len(c.Files))
	for name := range c.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	e.u32(uint32(len(names)))
	for _, name := range names {
		e.str(name)
		e.u64(uint64(c.Files[name]))
	}
	e.u32(crc32.Checksum(e.b, castagnoli))
	return e.b
}

// DecodeCheckpoint parses what [EncodeCheckpoint] wrote. Every problem
// is an error wrapping [ErrCheckpoint]; no input makes it panic.
func DecodeCheckpoint(b []byte) (*Checkpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCheckpoint, fmt.Sprintf(format, args...))
	}
	if len(b) < len(ckptMagic)+8 || !bytes.Equal(b[:len(ckptMagic)], ckptMagic) {
		return nil, bad("not an fltk job checkpoint (bad magic)")
	}
	d := dec{b: b[len(ckptMagic) : len(b)-4]}
	if v := d.u32(); v != CheckpointVersion {
		return nil, bad("format version %d, this fltk reads version %d", v, CheckpointVersion)
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, bad("checksum mismatch (corrupt or truncated)")
	}
	c := &Checkpoint{}
	c.Round = d.int()
	c.Done = d.bool()
	copy(c.ConfigHash[:], d.take(32))
	c.Seed = int64(d.u64())
	c.WorldSize = int(d.u32())
	c.Clients = int(d.u32())
	c.Net = d.str()
	nb := d.count(16)
	for range nb {
		lo, hi := d.int(), d.int()
		c.Buffers = append(c.Buffers, [2]int{lo, hi})
	}
	c.Global = d.f32s()
	c.Strategy = d.str()
	c.StrategyState = d.bytes()
	for n := d.count(8); n > 0; n-- {
		c.Optimizers = append(c.Optimizers, d.bytes())
	}
	for n := d.count(8); n > 0; n-- {
		c.Residuals = append(c.Residuals, d.f32s())
	}
	for n := d.count(4); n > 0; n-- {
		var ms [][]byte
		for k := d.count(8); k > 0; k-- {
			ms = append(ms, d.bytes())
		}
		c.ModelRNG = append(c.ModelRNG, ms)
	}
	for n := d.count(12); n > 0; n-- {
		if c.Files == nil {
			c.Files = map[string]int64{}
		}
		name := d.str()
		c.Files[name] = int64(d.int())
	}
	if d.err != nil {
		return nil, bad("%v", d.err)
	}
	if len(d.b) != 0 {
		return nil, bad("%d bytes after the last field", len(d.b))
	}
	for _, r := range c.Buffers {
		if r[0] > r[1] || r[1] > len(c.Global) {
			return nil, bad("buffer range [%d,%d) outside the state of %d values", r[0], r[1], len(c.Global))
		}
	}
	if c.Round < 0 || c.WorldSize < 0 || c.Clients < 0 {
		return nil, bad("negative round or size")
	}
	return c, nil
}

// enc appends little-endian fields to b. Optional byte strings and float
// vectors store their length plus one, 0 for nil.
type enc struct{ b []byte }

func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(b []byte) {
	if b == nil {
		e.u64(0)
		return
	}
	e.u64(uint64(len(b)) + 1)
	e.b = append(e.b, b...)
}
func (e *enc) f32s(x []float32) {
	if x == nil {
		e.u64(0)
		return
	}
	e.u64(uint64(len(x)) + 1)
	for _, v := range x {
		e.u32(math.Float32bits(v))
	}
}

// dec reads what enc wrote. The first problem sticks in err; after it
// every read returns zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("truncated: %d bytes wanted, %d left", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// int reads a uint64 that must fit an int32 range of sizes.
func (d *dec) int() int {
	v := d.u64()
	if v > math.MaxInt32 && d.err == nil {
		d.err = fmt.Errorf("value %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *dec) bool() bool {
	p := d.take(1)
	if p != nil && p[0] > 1 && d.err == nil {
		d.err = fmt.Errorf("boolean byte %d", p[0])
	}
	return p != nil && p[0] == 1
}

func (d *dec) str() string { return string(d.take(int(min(d.u32(), math.MaxInt32)))) }

// count reads a uint32 count of items of at least minSize bytes each,
// checked against the bytes left.
func (d *dec) count(minSize int) int {
	n := d.u32()
	if d.err == nil && uint64(n)*uint64(minSize) > uint64(len(d.b)) {
		d.err = fmt.Errorf("%d items cannot fit in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

// length reads an optional length (stored plus one) of items of size
// bytes; ok is false for nil.
func (d *dec) length(size int) (n int, ok bool) {
	v := d.u64()
	if d.err != nil || v == 0 {
		return 0, false
	}
	v--
	if v > uint64(len(d.b))/uint64(size) {
		d.err = fmt.Errorf("%d items of %d bytes cannot fit in %d bytes", v, size, len(d.b))
		return 0, false
	}
	return int(v), true
}

func (d *dec) bytes() []byte {
	n, ok := d.length(1)
	if !ok {
		return nil
	}
	return slices.Clone(d.take(n))
}

func (d *dec) f32s() []float32 {
	n, ok := d.length(4)
	if !ok {
		return nil
	}
	p := d.take(4 * n)
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return x
}

// checkpointDue reports whether a checkpoint follows round; last says
// round is the job's last.
func (j *job) checkpointDue(round int, last bool) bool {
	if !j.cfg.Checkpoints {
		return false
	}
	return last || (j.cfg.CheckpointEvery > 0 && round%j.cfg.CheckpointEvery == 0)
}

// checkpoint, on every rank, brings to rank 0 what each rank keeps
// between rounds (marshalRank) and, on rank 0, hands the job's checkpoint
// after round to the recorder, if it is a [Checkpointer]. The checkpoint
// of a done job holds no worker state: resuming it only writes the final
// results, and the residuals alone are a model per worker through rank
// 0's link (bench-multihost-fl.sh's int8z job).
func (j *job) checkpoint(ctx context.Context, round int, done bool) error {
	ctx, cancel := j.roundCtx(ctx)
	defer cancel()
	var blobs [][]byte
	if !done {
		var blob []byte
		if j.rank != 0 {
			var err error
			if blob, err = j.marshalRank(); err != nil {
				return fmt.Errorf("rank %d: %w", j.rank, err)
			}
		}
		var err error
		if blobs, err = gatherBlobs(ctx, j.comm, blob); err != nil {
			return err
		}
	}
	if j.rank != 0 {
		return nil
	}
	var err error
	c := &Checkpoint{Round: round, Done: done, Seed: j.cfg.Seed, WorldSize: j.size, Clients: j.clients,
		Net: j.models[0].Name(), Buffers: j.info.Buffers, Global: j.global, Strategy: j.strat.Name(),
		Residuals: make([][]float32, j.size), ModelRNG: make([][][]byte, j.size)}
	if st, ok := j.strat.(strategy.Stateful); ok {
		if c.StrategyState, err = st.MarshalState(); err != nil {
			return fmt.Errorf("strategy state: %w", err)
		}
	}
	if j.cfg.KeepOptimizerState && !done {
		c.Optimizers = make([][]byte, j.clients)
	}
	for r := 1; r < len(blobs); r++ {
		if err := c.unmarshalRank(r, blobs[r]); err != nil {
			return fmt.Errorf("state of rank %d: %w", r, err)
		}
	}
	if cp, ok := j.rec.(Checkpointer); ok {
		return cp.Checkpoint(c)
	}
	return nil
}

// marshalRank encodes what this worker keeps between rounds: its models'
// dropout generators, its error-feedback residual and its clients'
// optimizer states (u32 client, bytes), in the enc format.
func (j *job) marshalRank() ([]byte, error) {
	var e enc
	e.u32(uint32(len(j.models)))
	for _, m := range j.models {
		var st []byte
		if rs, ok := m.(model.RNGState); ok {
			var err error
			if st, err = rs.MarshalRNG(); err != nil {
				return nil, err
			}
		}
		e.bytes(st)
	}
	e.f32s(j.residual)
	var kept []int
	for _, c := range j.hosted {
		if j.opts[c] != nil {
			kept = append(kept, c)
		}
	}
	e.u32(uint32(len(kept)))
	for _, c := range kept {
		s, ok := j.opts[c].(optim.Stateful)
		if !ok {
			return nil, fmt.Errorf("client %d's optimizer cannot save its state", c)
		}
		st, err := s.MarshalState()
		if err != nil {
			return nil, fmt.Errorf("client %d's optimizer: %w", c, err)
		}
		e.u32(uint32(c))
		e.bytes(st)
	}
	return e.b, nil
}

// unmarshalRank decodes rank r's blob (marshalRank) into c.
func (c *Checkpoint) unmarshalRank(r int, blob []byte) error {
	d := dec{b: blob}
	for n := d.count(8); n > 0; n-- {
		c.ModelRNG[r] = append(c.ModelRNG[r], d.bytes())
	}
	c.Residuals[r] = d.f32s()
	for n := d.count(12); n > 0; n-- {
		client := int(d.u32())
		st := d.bytes()
		if d.err == nil && (client >= len(c.Optimizers) || st == nil) {
			return fmt.Errorf("optimizer state of client %d of %d", client, len(c.Optimizers))
		}
		if d.err == nil {
			c.Optimizers[client] = st
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

// rankBlob encodes, for rank r of a world of size, what c holds for it
// (a checkpoint of another world size, e.g. taken after the world shrank,
// keeps only the clients' optimizer states),
// as marshalRank does: it is how [Resume] hands each worker its state.
func (c *Checkpoint) rankBlob(r int, hosted []int, size int) []byte {
	var e enc
	var rng [][]byte
	var residual []float32
	if c.WorldSize == size && c.WorldSize == len(c.ModelRNG) && r < len(c.ModelRNG) {
		rng, residual = c.ModelRNG[r], c.Residuals[r]
	}
	e.u32(uint32(len(rng)))
	for _, m := range rng {
		e.bytes(m)
	}
	e.f32s(residual)
	var kept []int
	for _, cl := range hosted {
		if cl < len(c.Optimizers) && c.Optimizers[cl] != nil {
			kept = append(kept, cl)
		}
	}
	e.u32(uint32(len(kept)))
	for _, cl := range kept {
		e.u32(uint32(cl))
		e.bytes(c.Optimizers[cl])
	}
	return e.b
}

// gatherBlobs gathers every rank's blob on rank 0: an AllReduce finds the
// longest, then a Gather of blocks that long, as float64 words (the
// length first, then the bytes) that travel bit for bit (CodecNone). On
// rank 0 it returns the blobs by rank.
func gatherBlobs(ctx context.Context, comm *collective.Comm, blob []byte) ([][]byte, error) {
	none := collective.WithCodec(collective.CodecNone)
	longest := []float64{float64(len(blob))}
	if err := collective.AllReduce(ctx, comm, longest, longest, collective.Max, none); err != nil {
		return nil, fmt.Errorf("checkpoint: allreduce state sizes: %w", err)
	}
	words := 1 + (int(longest[0])+7)/8
	src := packWords(blob, words)
	var dst []float64
	if comm.Rank() == 0 {
		dst = make([]float64, comm.Size()*words)
	}
	if err := collective.Gather(ctx, comm, dst, src, 0, none); err != nil {
		return nil, fmt.Errorf("checkpoint: gather the ranks' states: %w", err)
	}
	if comm.Rank() != 0 {
		return nil, nil
	}
	blobs := make([][]byte, comm.Size())
	for r := range blobs {
		b, err := unpackWords(dst[r*words : (r+1)*words])
		if err != nil {
			return nil, fmt.Errorf("checkpoint: state of rank %d: %w", r, err)
		}
		blobs[r] = b
	}
	return blobs, nil
}

// scatterBlobs sends blob r of blobs (given on rank 0) to rank r and
// returns this rank's: the inverse of gatherBlobs. Rank 0 first
// broadcasts the block size with header, which every rank receives
// (header[0] must stay free for it); nil blobs on rank 0 tell the other
// ranks that it failed, and every rank returns an error.
func scatterBlobs(ctx context.Context, comm *collective.Comm, header []float64, blobs [][]byte) ([]byte, error) {
	none := collective.WithCodec(collective.CodecNone)
	if comm.Rank() == 0 && blobs == nil {
		header[0] = 0 // rank 0 failed: tell the others
	} else if comm.Rank() == 0 {
		longest := 0
		for _, b := range blobs {
			longest = max(longest, len(b))
		}
		header[0] = float64(1 + (longest+7)/8)
	}
	if err := collective.Broadcast(ctx, comm, header, 0, none); err != nil {
		return nil, fmt.Errorf("resume: broadcast the checkpoint's header: %w", err)
	}
	words := int(header[0])
	if words < 1 {
		return nil, fmt.Errorf("resume: rank 0 could not restore the checkpoint")
	}
	var src []float64
	if comm.Rank() == 0 {
		src = make([]float64, 0, comm.Size()*words)
		for _, b := range blobs {
			src = append(src, packWords(b, words)...)
		}
	}
	dst := make([]float64, words)
	if err := collective.Scatter(ctx, comm, dst, src, 0, none); err != nil {
		return nil, fmt.Errorf("resume: scatter the ranks' states: %w", err)
	}
	return unpackWords(dst)
}

// packWords packs b into words float64s: its length, then its bytes
// little-endian, zero-padded.
func packWords(b []byte, words int) []float64 {
	w := make([]float64, words)
	w[0] = float64(len(b))
	pad := make([]byte, 8*(words-1))
	copy(pad, b)
	for i := 1; i < words; i++ {
		w[i] = math.Float64frombits(binary.LittleEndian.Uint64(pad[8*(i-1):]))
	}
	return w
}

// unpackWords is the inverse of packWords.
func unpackWords(w []float64) ([]byte, error) {
	n := w[0]
	if !(n >= 0 && n <= float64(8*(len(w)-1))) || n != math.Trunc(n) {
		return nil, fmt.Errorf("bad length %v in a block of %d words", n, len(w))
	}
	b := make([]byte, 8*(len(w)-1))
	for i := 1; i < len(w); i++ {
		binary.LittleEndian.PutUint64(b[8*(i-1):], math.Float64bits(w[i]))
	}
	return b[:int(n)], nil
}
