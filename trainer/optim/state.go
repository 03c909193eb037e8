package optim

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Stateful is implemented by the optimizers whose state (momentum
// buffers, Adam's moments and step count) can be saved and restored, for
// checkpoints: an optimizer restored with UnmarshalState takes the same
// next Step as the one that was saved. The learning rate is not part of
// the state (the caller sets it every round with SetLR).
type Stateful interface {
	Optimizer
	// MarshalState returns the state as bytes; an optimizer that has not
	// stepped yet (or keeps no state) returns a short header only.
	MarshalState() ([]byte, error)
	// UnmarshalState replaces the state with one MarshalState returned,
	// by an optimizer of the same kind. Bad bytes are an error wrapping
	// [ErrState], never a panic; the state is then unchanged.
	UnmarshalState(b []byte) error
}

var (
	_ Stateful = (*SGD)(nil)
	_ Stateful = (*Adam)(nil)
)

// The first byte of a marshalled state names the optimizer.
const (
	stateSGD  = 's'
	stateAdam = 'a'
)

// MarshalState returns the momentum buffers ('s', then the buffers).
func (s *SGD) MarshalState() ([]byte, error) {
	return appendBuffers([]byte{stateSGD}, s.buf), nil
}

// UnmarshalState restores momentum buffers saved by MarshalState.
func (s *SGD) UnmarshalState(b []byte) error {
	if len(b) < 1 || b[0] != stateSGD {
		return fmt.Errorf("%w: not an SGD state", ErrState)
	}
	buf, rest, err := readBuffers(b[1:])
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrState, len(rest))
	}
	s.buf = buf
	return nil
}

// MarshalState returns the step count and the moments ('a', uint64 t,
// then m and v).
func (a *Adam) MarshalState() ([]byte, error) {
	b := binary.LittleEndian.AppendUint64([]byte{stateAdam}, uint64(a.t))
	b = appendBuffers(b, a.m)
	return appendBuffers(b, a.v), nil
}

// UnmarshalState restores the step count and moments saved by
// MarshalState.
func (a *Adam) UnmarshalState(b []byte) error {
	if len(b) < 9 || b[0] != stateAdam {
		return fmt.Errorf("%w: not an Adam state", ErrState)
	}
	t := binary.LittleEndian.Uint64(b[1:])
	if t > math.MaxInt32 {
		return fmt.Errorf("%w: step count %d", ErrState, t)
	}
	m, rest, err := readBuffers(b[9:])
	if err != nil {
		return err
	}
	v, rest, err := readBuffers(rest)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrState, len(rest))
	}
	if (m == nil) != (v == nil) || len(m) != len(v) {
		return fmt.Errorf("%w: moments of %d and %d tensors", ErrState, len(m), len(v))
	}
	for i := range m {
		if len(m[i]) != len(v[i]) {
			return fmt.Errorf("%w: moments of tensor %d have %d and %d elements", ErrState, i, len(m[i]), len(v[i]))
		}
	}
	a.t, a.m, a.v = int(t), m, v
	return nil
}

// appendBuffers appends bufs to b: uint32 count+1 (0 for nil), then for
// each tensor a uint64 length and its float32 values, little-endian.
func appendBuffers(b []byte, bufs [][]float32) []byte {
	le := binary.LittleEndian
	if bufs == nil {
		return le.AppendUint32(b, 0)
	}
	b = le.AppendUint32(b, uint32(len(bufs)+1))
	for _, t := range bufs {
		b = le.AppendUint64(b, uint64(len(t)))
		for _, v := range t {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

// readBuffers reads what appendBuffers wrote and returns the rest of b.
func readBuffers(b []byte) ([][]float32, []byte, error) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: truncated", ErrState)
	}
	n := le.Uint32(b)
	b = b[4:]
	if n == 0 {
		return nil, b, nil
	}
	n--
	if uint64(n)*8 > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: %d tensors in %d bytes", ErrState, n, len(b))
	}
	bufs := make([][]float32, n)
	for i := range bufs {
		if len(b) < 8 {
			return nil, nil, fmt.Errorf("%w: truncated", ErrState)
		}
		k := le.Uint64(b)
		b = b[8:]
		if k > uint64(len(b))/4 {
			return nil, nil, fmt.Errorf("%w: tensor %d of %d elements in %d bytes", ErrState, i, k, len(b))
		}
		t := make([]float32, k)
		for j := range t {
			t[j] = math.Float32frombits(le.Uint32(b[4*j:]))
		}
		bufs[i] = t
		b = b[4*k:]
	}
	return bufs, b, nil
}
