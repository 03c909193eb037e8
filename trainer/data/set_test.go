package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// tinySet has 4 samples of shape {2} with 2 labels each and groups.
func tinySet() *Set {
	return &Set{
		Name: "tiny", Shape: []int{2}, LabelsPerSample: 2, Classes: 10,
		X:      []float32{0, 1, 10, 11, 20, 21, 30, 31},
		Y:      []int32{1, 2, 3, 4, 5, 6, 7, 8},
		Groups: []int32{0, 0, 1, 1}, GroupNames: []string{"a", "b"},
	}
}

func TestSetAccessors(t *testing.T) {
	s := tinySet()
	if s.Len() != 4 || s.SampleLen() != 2 {
		t.Fatalf("Len %d SampleLen %d, want 4 and 2", s.Len(), s.SampleLen())
	}
	if got, want := s.Labels(), []int32{1, 3, 5, 7}; !equal(got, want) {
		t.Errorf("Labels() = %v, want %v", got, want)
	}
	if s.Label(2) != 5 {
		t.Errorf("Label(2) = %d, want 5", s.Label(2))
	}
	if (&Set{}).Len() != 0 {
		t.Error("zero Set has samples")
	}
	img := &Set{Shape: []int{3, 4, 5}, LabelsPerSample: 1}
	if img.SampleLen() != 60 {
		t.Errorf("SampleLen of {3,4,5} = %d, want 60", img.SampleLen())
	}
}

func TestSubset(t *testing.T) {
	s := tinySet()
	for _, tt := range []struct {
		name   string
		idx    []int
		x      []float32
		y      []int32
		groups []int32
	}{
		{"reorder", []int{3, 0}, []float32{30, 31, 0, 1}, []int32{7, 8, 1, 2}, []int32{1, 0}},
		{"repeat", []int{2, 2}, []float32{20, 21, 20, 21}, []int32{5, 6, 5, 6}, []int32{1, 1}},
		{"empty", nil, []float32{}, []int32{}, []int32{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub := s.Subset(tt.idx)
			if !equal(sub.X, tt.x) || !equal(sub.Y, tt.y) || !equal(sub.Groups, tt.groups) {
				t.Errorf("Subset(%v) = X %v Y %v groups %v, want %v %v %v", tt.idx, sub.X, sub.Y, sub.Groups, tt.x, tt.y, tt.groups)
			}
			if sub.Len() != len(tt.idx) || sub.Name != "tiny" || sub.Classes != 10 || len(sub.GroupNames) != 2 {
				t.Errorf("Subset metadata: %+v", sub)
			}
		})
	}
	sub := s.Subset([]int{1})
	sub.X[0], sub.Y[0], sub.Groups[0] = -1, -1, -1
	if s.X[2] != 10 || s.Y[2] != 3 || s.Groups[1] != 0 {
		t.Error("Subset shares X, Y or Groups with its source")
	}
	if noGroups := (&Set{Shape: []int{1}, LabelsPerSample: 1, X: []float32{1}, Y: []int32{0}}).Subset([]int{0}); noGroups.Groups != nil {
		t.Errorf("Subset of a set without groups has groups %v", noGroups.Groups)
	}
}

func TestBatch(t *testing.T) {
	s := tinySet()
	x := []float32{-9, -9, -9, -9, -9, -9}
	y := []int32{-9, -9, -9, -9, -9, -9}
	s.Batch([]int{2, 1}, x, y)
	if want := []float32{20, 21, 10, 11, -9, -9}; !equal(x, want) {
		t.Errorf("x = %v, want %v (only the prefix written)", x, want)
	}
	if want := []int32{5, 6, 3, 4, -9, -9}; !equal(y, want) {
		t.Errorf("y = %v, want %v", y, want)
	}
}

func TestBatchPanicsOnShortBuffers(t *testing.T) {
	s := tinySet()
	for _, tt := range []struct {
		name string
		x    []float32
		y    []int32
	}{
		{"short x", make([]float32, 3), make([]int32, 4)},
		{"short y", make([]float32, 4), make([]int32, 3)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, "data: Batch of 2 samples") {
					t.Errorf("recovered %v, want a Batch panic", r)
				}
			}()
			s.Batch([]int{0, 1}, tt.x, tt.y)
		})
	}
}

// sameBits reports whether a and b hold the same float32 values bit for
// bit, and the first index where they differ.
func sameBits(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return min(len(a), len(b)), false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i, false
		}
	}
	return -1, true
}

// TestByteSetsMatchFloat32 checks that the image loaders keep bytes and
// that Batch, Values and Subset give, bit for bit, the float32 values the
// loaders stored before they kept bytes: v/255 for the IDX sets and
// (v/255 − mean)/std per channel for CIFAR. The generated pixels,
// pixel(i, j) = (31i + 7j) mod 256, take all 256 byte values in every
// sample and every CIFAR channel, so every table entry is compared.
func TestByteSetsMatchFloat32(t *testing.T) {
	dir := t.TempDir()
	writeMNIST(t, filepath.Join(dir, "mnist"), 30, 12, false)
	writeMNIST(t, filepath.Join(dir, "fashion-mnist"), 30, 12, true)
	writeCIFAR10(t, filepath.Join(dir, "cifar10"), 3)
	writeFile(t, filepath.Join(dir, "cifar100", "train.bin"), cifarRecords(25, 0, 2))
	writeFile(t, filepath.Join(dir, "cifar100", "test.bin"), cifarRecords(4, 50, 2))

	// The old loaders' arithmetic, value j of record rec.
	idxValue := func(rec, j int) float32 { return float32(pixel(rec, j)) / 255 }
	cifarValue := func(mean, std [3]float32) func(rec, j int) float32 {
		return func(rec, j int) float32 {
			c := j / (cifarSide * cifarSide)
			return (float32(pixel(rec, j))/255 - mean[c]) / std[c]
		}
	}
	for _, tt := range []struct {
		name  string
		train bool
		first int // record of sample 0
		n     int
		want  func(rec, j int) float32
	}{
		{"mnist", true, 0, 30, idxValue},
		{"mnist", false, 0, 12, idxValue},
		{"fashion-mnist", true, 0, 30, idxValue},
		{"cifar10", true, 0, 15, cifarValue(cifar10Mean, cifar10Std)},
		{"cifar10", false, 1000, 3, cifarValue(cifar10Mean, cifar10Std)},
		{"cifar100", true, 0, 25, cifarValue(cifar100Mean, cifar100Std)},
		{"cifar100", false, 50, 4, cifarValue(cifar100Mean, cifar100Std)},
	} {
		t.Run(fmt.Sprintf("%s/train=%v", tt.name, tt.train), func(t *testing.T) {
			s, err := Load(tt.name, dir, tt.train, Options{})
			if err != nil {
				t.Fatal(err)
			}
			n, sl := s.Len(), s.SampleLen()
			if n != tt.n || s.X != nil || len(s.Bytes) != n*sl || len(s.ByteScale) != s.Shape[0] {
				t.Fatalf("got N=%d, X of %d, %d bytes, %d tables for shape %v; want N=%d, nil X, %d bytes, %d tables",
					n, len(s.X), len(s.Bytes), len(s.ByteScale), s.Shape, tt.n, tt.n*sl, s.Shape[0])
			}
			want := make([]float32, n*sl)
			for i := range n {
				for j := range sl {
					want[i*sl+j] = tt.want(tt.first+i, j)
				}
			}

			// Batch of every sample in reverse order, into a larger buffer.
			idx := make([]int, n)
			for k := range idx {
				idx[k] = n - 1 - k
			}
			x := make([]float32, (n+1)*sl)
			y := make([]int32, n+1)
			s.Batch(idx, x, y)
			for k, i := range idx {
				if j, ok := sameBits(x[k*sl:(k+1)*sl], want[i*sl:(i+1)*sl]); !ok {
					t.Fatalf("Batch: sample %d value %d = %v (%#08x), want %v (%#08x)", i, j,
						x[k*sl+j], math.Float32bits(x[k*sl+j]), want[i*sl+j], math.Float32bits(want[i*sl+j]))
				}
				if y[k] != s.Label(i) {
					t.Fatalf("Batch: label of sample %d = %d, want %d", i, y[k], s.Label(i))
				}
			}
			if j, ok := sameBits(s.Values(), want); !ok {
				t.Fatalf("Values()[%d] differs from the float32 formula", j)
			}

			// Subset copies bytes, keeps the table and gathers what Batch does.
			pick := []int{n - 1, 0, n - 1, 1}
			sub := s.Subset(pick)
			if sub.X != nil || len(sub.Bytes) != len(pick)*sl || len(sub.ByteScale) != len(s.ByteScale) ||
				&sub.ByteScale[0] != &s.ByteScale[0] {
				t.Fatalf("Subset: X of %d, %d bytes, %d tables (shared: %v); want nil X, %d bytes, the source's %d tables",
					len(sub.X), len(sub.Bytes), len(sub.ByteScale), &sub.ByteScale[0] == &s.ByteScale[0], len(pick)*sl, len(s.ByteScale))
			}
			bx, by := make([]float32, len(pick)*sl), make([]int32, len(pick))
			s.Batch(pick, bx, by)
			if j, ok := sameBits(sub.Values(), bx); !ok {
				t.Errorf("Subset(%v).Values()[%d] differs from Batch", pick, j)
			}
			if !equal(sub.Y, by) {
				t.Errorf("Subset(%v).Y = %v, want %v", pick, sub.Y, by)
			}
			if err := sub.check(); err != nil {
				t.Errorf("Subset: %v", err)
			}
			before := s.Bytes[(n-1)*sl]
			sub.Bytes[0] ^= 0xff
			if s.Bytes[(n-1)*sl] != before {
				t.Error("Subset shares Bytes with its source")
			}
		})
	}
}

func TestCheck(t *testing.T) {
	// byteSet returns a valid byte set: 2 samples of shape {2, 1, 2}.
	byteSet := func() *Set {
		return &Set{Name: "img", Shape: []int{2, 1, 2}, LabelsPerSample: 1, Classes: 2,
			Bytes: make([]uint8, 8), ByteScale: make([][256]float32, 2), Y: []int32{0, 1}}
	}
	floats := func(s *Set) { s.Bytes, s.ByteScale, s.X = nil, nil, make([]float32, 8) }
	for _, tt := range []struct {
		name    string
		edit    func(s *Set)
		mention string // "" if the set is valid
	}{
		{"bytes", func(*Set) {}, ""},
		{"float32", floats, ""},
		{"empty bytes", func(s *Set) { s.Bytes, s.Y = []uint8{}, []int32{} }, ""},
		{"both", func(s *Set) { s.X = make([]float32, 8) }, "exactly one of X and Bytes, got 8 float32 values and 8 bytes"},
		{"neither", func(s *Set) { s.Bytes, s.ByteScale = nil, nil }, "exactly one of X and Bytes, got 0 float32 values and 0 bytes"},
		{"short bytes", func(s *Set) { s.Bytes = s.Bytes[:7] }, "7 bytes for 2 samples of shape [2 1 2]"},
		{"long bytes", func(s *Set) { s.Bytes = make([]uint8, 9) }, "9 bytes for 2 samples"},
		{"one table for two channels", func(s *Set) { s.ByteScale = s.ByteScale[:1] }, "1 byte scale tables for samples of shape [2 1 2]"},
		{"no tables", func(s *Set) { s.ByteScale = nil }, "0 byte scale tables"},
		{"tables without bytes", func(s *Set) { floats(s); s.ByteScale = make([][256]float32, 2) }, "2 byte scale tables but no Bytes"},
		{"short float32", func(s *Set) { floats(s); s.X = s.X[:7] }, "7 values for 2 samples"},
		{"labels", func(s *Set) { s.LabelsPerSample = 0 }, "not a multiple of 0 per sample"},
		{"groups", func(s *Set) { s.Groups = []int32{0} }, "1 groups for 2 samples"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := byteSet()
			tt.edit(s)
			err := s.check()
			if tt.mention == "" {
				if err != nil {
					t.Errorf("check() = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, nil, "data: img: ", tt.mention)
		})
	}
}

// BenchmarkBatch gathers a training batch of 16 samples from a float32
// set and from byte sets with one (MNIST) and three (CIFAR) tables.
func BenchmarkBatch(b *testing.B) {
	const n, batch = 1000, 16
	for _, bc := range []struct {
		name  string
		shape []int
		bytes bool
	}{
		{"Repr=float32/Shape=1x28x28", []int{1, 28, 28}, false},
		{"Repr=bytes/Shape=1x28x28", []int{1, 28, 28}, true},
		{"Repr=bytes/Shape=3x32x32", []int{3, 32, 32}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := &Set{Shape: bc.shape, LabelsPerSample: 1, Classes: 10, Y: make([]int32, n)}
			sl := s.SampleLen()
			if bc.bytes {
				s.Bytes = make([]uint8, n*sl)
				for i := range s.Bytes {
					s.Bytes[i] = byte(i * 7)
				}
				table := normTable(cifar10Mean, cifar10Std)
				s.ByteScale = table[:bc.shape[0]]
			} else {
				s.X = make([]float32, n*sl)
			}
			if err := s.check(); err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			idx := make([]int, batch)
			x, y := make([]float32, batch*sl), make([]int32, batch)
			b.SetBytes(int64(batch * sl * 4)) // float32 bytes written
			b.ReportAllocs()
			for b.Loop() {
				for k := range idx {
					idx[k] = rng.IntN(n)
				}
				s.Batch(idx, x, y)
			}
		})
	}
}
