package data

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeRoot fills a data directory with small files of every data set.
func writeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeMNIST(t, filepath.Join(root, "mnist"), 20, 10, true)
	writeMNIST(t, filepath.Join(root, "fashion-mnist"), 30, 10, false)
	writeCIFAR10(t, filepath.Join(root, "cifar-10-batches-bin"), 2) // the tarball's directory directly in root
	writeFile(t, filepath.Join(root, "cifar100", "cifar-100-binary", "train.bin"), cifarRecords(7, 0, 2))
	writeFile(t, filepath.Join(root, "cifar100", "cifar-100-binary", "test.bin"), cifarRecords(3, 0, 2))
	writeFile(t, filepath.Join(root, "text", "opticks.txt"), []byte(strings.Repeat("Of the Refractions of Light. ", 200)))
	writeFile(t, filepath.Join(root, "bible", "kjv.txt"), []byte(strings.Repeat(bibleText, 40)))
	return root
}

func TestLoad(t *testing.T) {
	root := writeRoot(t)
	for _, tt := range []struct {
		name        string
		opts        Options
		train, test int
		classes     int
		shape       []int
	}{
		{"mnist", Options{}, 20, 10, 10, []int{1, 28, 28}},
		{"fashion-mnist", Options{}, 30, 10, 10, []int{1, 28, 28}},
		{"cifar10", Options{}, 10, 2, 10, []int{3, 32, 32}},
		{"cifar100", Options{}, 7, 3, 100, []int{3, 32, 32}},
		{"cifar100", Options{Coarse: true}, 7, 3, 20, []int{3, 32, 32}},
		{"opticks", Options{}, 64, 7, 17, []int{80}},                            // 5800 runes = 71 windows of 81, 7 test (17 distinct runes)
		{"opticks", Options{SeqLen: 28, TestEvery: 2}, 100, 100, 17, []int{28}}, // 200 windows of 29
	} {
		for _, train := range []bool{true, false} {
			s, err := Load(tt.name, root, train, tt.opts)
			if err != nil {
				t.Fatalf("Load(%q, train=%v): %v", tt.name, train, err)
			}
			n := map[bool]int{true: tt.train, false: tt.test}[train]
			if s.Name != tt.name || s.Len() != n || s.Classes != tt.classes || !equal(s.Shape, tt.shape) {
				t.Errorf("Load(%q, train=%v, %+v) = %s N=%d classes=%d shape=%v, want N=%d classes=%d shape=%v",
					tt.name, train, tt.opts, s.Name, s.Len(), s.Classes, s.Shape, n, tt.classes, tt.shape)
			}
		}
	}
	s, err := Load("bible", root, true, Options{SeqLen: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.GroupNames) != 4 || len(s.Groups) != s.Len() || s.Len() == 0 || s.SampleLen() != 20 {
		t.Errorf("bible: %d groups, %d group ids, %d samples of %d", len(s.GroupNames), len(s.Groups), s.Len(), s.SampleLen())
	}
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	_, err := Load("emnist", root, true, Options{})
	wantErr(t, err, ErrUnknown, `"emnist"`, "mnist, fashion-mnist, cifar10, cifar100, opticks, bible")
	_, err = Load("mnist", root, true, Options{})
	wantErr(t, err, ErrMissing, filepath.Join(root, "mnist"), "make data")
	_, err = Load("cifar10", root, false, Options{})
	wantErr(t, err, ErrMissing, filepath.Join(root, "cifar10"), "test_batch.bin", "cifar.html")
	_, err = Load("opticks", root, true, Options{SeqLen: -3})
	wantErr(t, err, ErrInvalid, "-3")
	_, err = Load("bible", root, true, Options{})
	wantErr(t, err, ErrMissing, filepath.Join(root, "bible"), "kjv.txt")
}

func TestNames(t *testing.T) {
	got := Names()
	if want := []string{"mnist", "fashion-mnist", "cifar10", "cifar100", "opticks", "bible"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Names()[0] != "mnist" {
		t.Error("Names returns the package's own slice")
	}
	for _, n := range Names() {
		if _, ok := Path(n, "d"); !ok {
			t.Errorf("Path(%q) unknown", n)
		}
	}
}

func TestPath(t *testing.T) {
	root := writeRoot(t)
	for _, tt := range []struct{ name, want string }{
		{"mnist", filepath.Join(root, "mnist")},
		{"cifar10", filepath.Join(root, "cifar-10-batches-bin")}, // root/cifar10 is absent
		{"cifar100", filepath.Join(root, "cifar100")},            // LoadCIFAR100 looks into its subdirectory
		{"opticks", filepath.Join(root, "text", "opticks.txt")},
		{"bible", filepath.Join(root, "bible", "kjv.txt")},
	} {
		if got, _ := Path(tt.name, root); got != tt.want {
			t.Errorf("Path(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, ok := Path("nope", root); ok {
		t.Error(`Path("nope") is known`)
	}
}
