package strategy

import (
	"encoding/binary"
	"fmt"
	"math"
)

var _ Stateful = (*FedAdam)(nil)

// fedAdamMagic starts a marshalled FedAdam state.
const fedAdamMagic = "fedadam1"

// MarshalState returns the moments: "fedadam1", a uint64 length n (0
// before the first round), then m and v, n float32 each, little-endian.
// The hyperparameters are not saved: they come from the configuration.
func (f *FedAdam) MarshalState() ([]byte, error) {
	n := len(f.m)
	b := make([]byte, 0, len(fedAdamMagic)+8+8*n)
	b = append(b, fedAdamMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	for _, x := range [][]float32{f.m, f.v} {
		for _, v := range x {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b, nil
}

// UnmarshalState restores moments saved by MarshalState.
func (f *FedAdam) UnmarshalState(b []byte) error {
	h := len(fedAdamMagic) + 8
	if len(b) < h || string(b[:len(fedAdamMagic)]) != fedAdamMagic {
		return fmt.Errorf("%w: not a fedadam state", ErrState)
	}
	n := binary.LittleEndian.Uint64(b[len(fedAdamMagic):])
	if n > uint64(len(b)) || uint64(len(b)-h) != 8*n {
		return fmt.Errorf("%w: fedadam state of %d bytes for %d moments", ErrState, len(b), n)
	}
	if n == 0 {
		f.m, f.v = nil, nil
		return nil
	}
	m, v := make([]float32, n), make([]float32, n)
	for i := range m {
		m[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[h+4*i:]))
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[h+4*(int(n)+i):]))
	}
	f.m, f.v = m, v
	return nil
}
