package data

import (
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
