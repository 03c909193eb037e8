package data

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// touch creates the files (relative to dir) with one byte each.
func touch(t *testing.T, dir string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte{0}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	mnist := []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte.gz"}
	in := func(sub string, files ...string) []string {
		out := make([]string, len(files))
		for i, f := range files {
			out[i] = filepath.Join(sub, f)
		}
		return out
	}
	tests := []struct {
		name    string
		dataset string
		files   []string
		dirs    []string // made as directories
		wantIs  error    // nil: Check succeeds
		want    []string // in the message
	}{
		{name: "mnist ok", dataset: "mnist", files: in("mnist", mnist...)},
		{name: "mnist no folder", dataset: "mnist", wantIs: ErrMissing,
			want: []string{"MNIST training set", "mnist", "does not exist", "make data"}},
		{name: "mnist test split missing", dataset: "mnist", files: in("mnist", mnist[:2]...), wantIs: ErrMissing,
			want: []string{"MNIST test set", "t10k-images-idx3-ubyte[.gz]", "has not all of them", "make data"}},
		{name: "fashion-mnist names the Debian package", dataset: "fashion-mnist", wantIs: ErrMissing,
			want: []string{"Fashion-MNIST training set", "make data", "dataset-fashion-mnist"}},
		{name: "cifar10 in the tarball's folder", dataset: "cifar10",
			files: in("cifar-10-batches-bin", "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin")},
		{name: "cifar10 test batch missing", dataset: "cifar10",
			files:  in("cifar10", "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"),
			wantIs: ErrMissing, want: []string{"CIFAR-10 test set", "test_batch.bin", "download"}},
		{name: "cifar100 missing", dataset: "cifar100", wantIs: ErrMissing, want: []string{"CIFAR-100 training set", "train.bin"}},
		{name: "opticks ok", dataset: "opticks", files: []string{"text/opticks.txt"}},
		{name: "opticks missing", dataset: "opticks", wantIs: ErrMissing, want: []string{"text opticks", "opticks.txt", "make data"}},
		{name: "bible names the Debian package", dataset: "bible", wantIs: ErrMissing,
			want: []string{"King James Bible", "kjv.txt", "make data", "bible-kjv"}},
		{name: "bible is a directory", dataset: "bible", dirs: []string{"bible/kjv.txt"},
			want: []string{"cannot read", filepath.Join("bible", "kjv.txt"), "is a directory"}},
		{name: "unknown", dataset: "imagenet", wantIs: ErrUnknown, want: []string{"mnist, fashion-mnist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			touch(t, dir, tt.files...)
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := Check(tt.dataset, dir)
			if tt.wantIs == nil && tt.want == nil {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", tt.dataset, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%s) = nil, want an error", tt.dataset)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Check(%s) = %v, want %v", tt.dataset, err, tt.wantIs)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check(%s) = %q, want it to contain %q", tt.dataset, err, w)
				}
			}
		})
	}
}

// Check agrees with Load on the repository's data: where Load succeeds,
// Check does.
func TestCheckRealData(t *testing.T) {
	dir := filepath.Join("..", "..", "data")
	if _, err := os.Stat(filepath.Join(dir, "mnist")); err != nil {
		t.Skipf("no data in %s (run make data): %v", dir, err)
	}
	for _, name := range []string{"mnist", "opticks"} {
		if err := Check(name, dir); err != nil {
			t.Errorf("Check(%s, %s) = %v", name, dir, err)
		}
	}
}

func TestCheckUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions do not stop root from reading")
	}
	dir := t.TempDir()
	touch(t, dir, "text/opticks.txt")
	p := filepath.Join(dir, "text", "opticks.txt")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	err := Check("opticks", dir)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Check of an unreadable file = %v, want it named with permission denied", err)
	}
}
