package data

import (
	"os"
	"path/filepath"
	"testing"
)

// wantNormalised checks sample i of s against record rec's pixels,
// normalised with mean and std.
func wantNormalised(t *testing.T, s *Set, i, rec int, mean, std [3]float32) {
	t.Helper()
	x := s.Values()
	for _, j := range []int{0, 1, 1023, 1024, 2047, 2048, 3071} {
		c := j / 1024
		want := (float32(pixel(rec, j))/255 - mean[c]) / std[c]
		if got := x[i*cifarPixels+j]; !near(got, want) {
			t.Fatalf("sample %d value %d (channel %d) = %v, want %v", i, j, c, got, want)
		}
	}
}

func TestLoadCIFAR10(t *testing.T) {
	const per = 3
	for _, layout := range []string{"", "cifar-10-batches-bin"} {
		t.Run("subdir="+layout, func(t *testing.T) {
			dir := t.TempDir()
			writeCIFAR10(t, filepath.Join(dir, layout), per)
			tr, err := LoadCIFAR10(dir, true)
			if err != nil {
				t.Fatal(err)
			}
			te, err := LoadCIFAR10(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Len() != 5*per || te.Len() != per || tr.Classes != 10 || !equal(tr.Shape, []int{3, 32, 32}) || tr.Name != "cifar10" {
				t.Fatalf("got train %d, test %d, classes %d, shape %v, name %q; want %d, %d, 10, [3 32 32], cifar10",
					tr.Len(), te.Len(), tr.Classes, tr.Shape, tr.Name, 5*per, per)
			}
			for i := range tr.Len() { // batches in order 1..5: record i is sample i
				if got, want := tr.Label(i), int32(i%10); got != want {
					t.Errorf("train label %d = %d, want %d", i, got, want)
				}
				wantNormalised(t, tr, i, i, cifar10Mean, cifar10Std)
			}
			wantNormalised(t, te, 2, 1002, cifar10Mean, cifar10Std)
			if got := te.Label(2); got != 1002%10 {
				t.Errorf("test label 2 = %d, want %d", got, 1002%10)
			}
		})
	}
}

func TestLoadCIFAR100(t *testing.T) {
	for _, layout := range []string{"", "cifar-100-binary"} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, layout, "train.bin"), cifarRecords(25, 0, 2))
		writeFile(t, filepath.Join(dir, layout, "test.bin"), cifarRecords(4, 50, 2))
		for _, coarse := range []bool{false, true} {
			s, err := LoadCIFAR100(dir, true, coarse)
			if err != nil {
				t.Fatal(err)
			}
			classes := map[bool]int{false: 100, true: 20}[coarse]
			if s.Len() != 25 || s.Classes != classes || s.Name != "cifar100" {
				t.Fatalf("coarse=%v: got N=%d classes=%d name=%q, want 25, %d, cifar100", coarse, s.Len(), s.Classes, s.Name, classes)
			}
			for i := range s.Len() {
				want := int32(i * 7 % 100)
				if coarse {
					want = int32(i % 20)
				}
				if got := s.Label(i); got != want {
					t.Fatalf("coarse=%v label %d = %d, want %d", coarse, i, got, want)
				}
			}
			wantNormalised(t, s, 24, 24, cifar100Mean, cifar100Std)
		}
		te, err := LoadCIFAR100(dir, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if te.Len() != 4 || te.Label(3) != 53*7%100 {
			t.Errorf("test: N=%d label(3)=%d, want 4, %d", te.Len(), te.Label(3), 53*7%100)
		}
	}
}

func TestLoadCIFARErrors(t *testing.T) {
	rec10, rec100 := cifarRecords(2, 0, 1), cifarRecords(2, 0, 2)
	badLabel10 := append([]byte(nil), rec10...)
	badLabel10[1+cifarPixels] = 10 // label of record 1
	badFine := append([]byte(nil), rec100...)
	badFine[2+cifarPixels+1] = 100 // fine label of record 1
	badCoarse := append([]byte(nil), rec100...)
	badCoarse[0] = 20
	for _, tt := range []struct {
		name    string
		file    string
		b       []byte
		load    func(dir string) error
		mention []string
	}{
		{"cifar10 truncated record", "test_batch.bin", rec10[:len(rec10)-5], load10,
			[]string{"test_batch.bin", "truncated record", "1 records of 3073 bytes and 3068 bytes over"}},
		{"cifar10 empty", "test_batch.bin", []byte{}, load10, []string{"test_batch.bin", "empty file"}},
		{"cifar10 bad label", "test_batch.bin", badLabel10, load10, []string{"test_batch.bin", "bad label 10 in record 1"}},
		{"cifar100 bad fine", "test.bin", badFine, load100, []string{"test.bin", "record 1", "fine 100"}},
		{"cifar100 bad coarse", "test.bin", badCoarse, load100, []string{"test.bin", "record 0", "coarse 20"}},
		{"cifar100 truncated", "test.bin", rec100[:3000], load100, []string{"test.bin", "truncated record"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tt.file), tt.b)
			wantErr(t, tt.load(dir), ErrCorrupt, tt.mention...)
		})
	}
}

func load10(dir string) error      { _, err := LoadCIFAR10(dir, false); return err }
func load100(dir string) error     { _, err := LoadCIFAR100(dir, false, true); return err }
func load10train(dir string) error { _, err := LoadCIFAR10(dir, true); return err }

func TestLoadCIFARMissing(t *testing.T) {
	t.Run("cifar10 no dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cifar10")
		wantErr(t, load10train(dir), ErrMissing, dir, "does not exist", "data_batch_1.bin … data_batch_5.bin",
			"data_batch_1.bin … test_batch.bin", "https://www.cs.toronto.edu/~kriz/cifar.html", "cifar-10-batches-bin")
	})
	t.Run("cifar10 one batch missing", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR10(t, dir, 1)
		if err := os.Remove(filepath.Join(dir, "data_batch_4.bin")); err != nil {
			t.Fatal(err)
		}
		wantErr(t, load10train(dir), ErrMissing, dir, "has not all of them")
		if err := load10(dir); err != nil {
			t.Errorf("test split: %v", err)
		}
	})
	t.Run("cifar100", func(t *testing.T) {
		dir := t.TempDir()
		wantErr(t, load100(dir), ErrMissing, dir, "test.bin", "train.bin and test.bin", "cifar-100-binary", "cifar.html")
	})
}
