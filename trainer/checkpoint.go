package trainer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Checkpoint is a model's state on disk: the model's name, the layout of
// its state vector and the values.
//
// The file format is little-endian: the 8 bytes "FLTKCKP1", uint32 name
// length, name, uint32 round, uint32 number of buffer ranges, that many
// pairs of uint64 [lo, hi), uint64 state length, the float32 values, and a
// CRC-32C of everything before it.
type Checkpoint struct {
	Net     string
	Round   int
	Buffers [][2]int
	State   []float32
}

var (
	ckptMagic = []byte("FLTKCKP1")
	castagoli = crc32.MakeTable(crc32.Castagnoli)
)

// WriteCheckpoint writes c to path atomically (a temporary file renamed
// into place).
func WriteCheckpoint(path string, c Checkpoint) error {
	var b bytes.Buffer
	b.Write(ckptMagic)
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, uint32(len(c.Net))))
	b.WriteString(c.Net)
	b.Write(le.AppendUint32(nil, uint32(c.Round)))
	b.Write(le.AppendUint32(nil, uint32(len(c.Buffers))))
	for _, r := range c.Buffers {
		b.Write(le.AppendUint64(nil, uint64(r[0])))
		b.Write(le.AppendUint64(nil, uint64(r[1])))
	}
	b.Write(le.AppendUint64(nil, uint64(len(c.State))))
	buf := make([]byte, 4*len(c.State))
	for i, v := range c.State {
		le.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	b.Write(buf)
	b.Write(le.AppendUint32(nil, crc32.Checksum(b.Bytes(), castagoli)))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ckpt-*")
	if err != nil {
		return fmt.Errorf("trainer: write checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("trainer: write checkpoint %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("trainer: write checkpoint %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("trainer: write checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("trainer: write checkpoint: %w", err)
	}
	return nil
}

// ReadCheckpoint reads a checkpoint written by [WriteCheckpoint]. A
// truncated or corrupt file is an error wrapping [ErrCheckpoint].
func ReadCheckpoint(path string) (Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("trainer: read checkpoint: %w", err)
	}
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: %s: %s", ErrCheckpoint, path, fmt.Sprintf(format, args...))
	}
	if len(raw) < len(ckptMagic)+4 || !bytes.Equal(raw[:len(ckptMagic)], ckptMagic) {
		return bad("not an fltk checkpoint (bad magic)")
	}
	body, sum := raw[:len(raw)-4], binary.LittleEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(body, castagoli) != sum {
		return bad("checksum mismatch (corrupt or truncated)")
	}
	r := bytes.NewReader(body[len(ckptMagic):])
	var c Checkpoint
	var n32 uint32
	if err := binary.Read(r, binary.LittleEndian, &n32); err != nil || int64(n32) > int64(r.Len()) {
		return bad("bad name length")
	}
	name := make([]byte, n32)
	_, _ = io.ReadFull(r, name)
	c.Net = string(name)
	if err := binary.Read(r, binary.LittleEndian, &n32); err != nil {
		return bad("truncated header")
	}
	c.Round = int(n32)
	if err := binary.Read(r, binary.LittleEndian, &n32); err != nil || int64(n32)*16 > int64(r.Len()) {
		return bad("bad buffer count")
	}
	c.Buffers = make([][2]int, n32)
	for i := range c.Buffers {
		var lo, hi uint64
		_ = binary.Read(r, binary.LittleEndian, &lo)
		_ = binary.Read(r, binary.LittleEndian, &hi)
		c.Buffers[i] = [2]int{int(lo), int(hi)}
	}
	var n64 uint64
	if err := binary.Read(r, binary.LittleEndian, &n64); err != nil || n64*4 != uint64(r.Len()) {
		return bad("state length does not match the file size")
	}
	c.State = make([]float32, n64)
	rest := make([]byte, r.Len())
	_, _ = io.ReadFull(r, rest)
	for i := range c.State {
		c.State[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
	}
	for _, b := range c.Buffers {
		if b[0] < 0 || b[0] > b[1] || b[1] > len(c.State) {
			return bad("buffer range [%d,%d) outside the state of %d values", b[0], b[1], len(c.State))
		}
	}
	return c, nil
}
