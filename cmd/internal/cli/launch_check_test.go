package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchRejectsBadJobBeforeStart runs fltk-launch with a fake fltk
// worker (first in $PATH) that records that it started: a bad flag or a
// config the ranks would reject exits 2 naming the flag or key, and no
// worker starts; the good job starts its workers.
func TestLaunchRejectsBadJobBeforeStart(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	marker := filepath.Join(dir, "started")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho started >> " + marker + "\n"
	if err := os.WriteFile(filepath.Join(bin, "fltk"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	aFile := filepath.Join(dir, "a-file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results")
	// The data set's files: the launcher checks they exist and can be
	// read, not what they hold.
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		if err := os.WriteFile(filepath.Join(dataDir, "mnist", f), []byte{0}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	noTest := filepath.Join(dir, "data-no-test")
	if err := os.CopyFS(noTest, os.DirFS(dataDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(noTest, "mnist", "t10k-labels-idx1-ubyte")); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name+".toml")
		if !strings.Contains(body, "path =") {
			if strings.Contains(body, "[data]\n") {
				body = strings.Replace(body, "[data]\n", "[data]\npath = "+quoteTOML(dataDir)+"\n", 1)
			} else {
				body += "[data]\npath = " + quoteTOML(dataDir) + "\n"
			}
		}
		cfg := "[job]\nname = \"check\"\nworld_size = 3\n[output]\ndir = " + quoteTOML(results) + "\n" + body
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "")
	tests := []struct {
		name string
		args []string
		msg  []string // substrings of the error; none: the job runs
	}{
		{name: "good", args: []string{good}},
		{name: "good with -np 2", args: []string{"-np", "2", good}},
		{name: "clients_per_round fits -np, not the file's world_size", args: []string{"-np", "6", write("cpr6", "[federated]\nclients_per_round = 4\n")}},
		{name: "-np 1 trains nothing", args: []string{"-np", "1", good}, msg: []string{"-np", "at least one worker"}},
		{name: "-np 0", args: []string{"-np", "0", good}, msg: []string{"-np must be in 1..1024, got 0"}},
		{name: "-np beyond job.world_size's range", args: []string{"-np", "1025", good}, msg: []string{"-np must be in 1..1024, got 1025"}},
		{name: "net does not fit the data", args: []string{write("net", "[data]\ndataset = \"mnist\"\n[train]\nnet = \"Cifar10CNN\"\n")},
			msg: []string{"train.net", "Cifar10CNN", "mnist"}},
		{name: "Dirichlet alpha < 0", args: []string{write("alpha", "[data]\nsampler = \"dirichlet\"\nsampler_args = [-1.0]\n")},
			msg: []string{"data.sampler_args", "alpha"}},
		{name: "config path is a directory", args: []string{dir}, msg: []string{dir, "is a directory"}},
		{name: "-grace -1s", args: []string{"-grace", "-1s", good}, msg: []string{"-grace must be ≥ 0"}},
		{name: "bad -job", args: []string{"-job", "a b", good}, msg: []string{`-job "a b"`}},
		{name: "clients_per_round against -np", args: []string{"-np", "2", write("cpr", "[federated]\nclients_per_round = 2\n")},
			msg: []string{"-np 2", "federated.clients_per_round", "0..1"}},
		{name: "data folder missing", args: []string{write("nodata", "[data]\npath = "+quoteTOML(filepath.Join(dir, "nowhere"))+"\n")},
			msg: []string{"data.path", filepath.Join(dir, "nowhere", "mnist"), "does not exist", "make data"}},
		{name: "a data file missing", args: []string{write("notest", "[data]\npath = "+quoteTOML(noTest)+"\n")},
			msg: []string{"data.path", "MNIST test set", filepath.Join(noTest, "mnist"), "t10k-labels-idx1-ubyte", "make data"}},
		{name: "--hosts localhost: output.dir under a file", args: []string{"--hosts", "localhost:3", writeOut(t, dir, aFile, dataDir)},
			msg: []string{"output.dir", aFile, "not a directory"}},
		{name: "--hosts localhost: data missing", args: []string{"--hosts", "localhost:1,127.0.0.1:2", write("hostsnodata", "[data]\npath = "+quoteTOML(noTest)+"\n")},
			msg: []string{"data.path", "t10k-labels-idx1-ubyte"}},
		{name: "output.dir under a file", args: []string{writeOut(t, dir, aFile, dataDir)},
			msg: []string{"output.dir", aFile, "not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(marker)
			err := Launch(t.Context(), tt.args, io.Discard, io.Discard)
			_, statErr := os.Stat(marker)
			started := statErr == nil
			if len(tt.msg) == 0 {
				if err != nil || !started {
					t.Fatalf("Launch(%q) = %v, workers started: %v; want a job that runs", tt.args, err, started)
				}
				return
			}
			if code := ExitCode(err); code != 2 {
				t.Errorf("Launch(%q) = %v: exit code %d, want 2", tt.args, err, code)
			}
			for _, m := range tt.msg {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("Launch(%q) = %v, want it to say %q", tt.args, err, m)
				}
			}
			if started {
				t.Errorf("Launch(%q) started workers before rejecting the job", tt.args)
			}
		})
	}
}

// writeOut writes a config whose output.dir is under the file aFile.
func writeOut(t *testing.T, dir, aFile, dataDir string) string {
	p := filepath.Join(dir, "out.toml")
	cfg := "[job]\nname = \"check\"\nworld_size = 3\n[output]\ndir = " + quoteTOML(filepath.Join(aFile, "results")) + "\n[data]\npath = " + quoteTOML(dataDir) + "\n"
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func quoteTOML(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// TestSingleRunCheckDataBeforeJoin: a rank started by hand (fltk single)
// or by a launcher (fltk run) whose data set is missing exits 2 naming
// the path and make data, before it connects to anything (the NATS URL
// here has no server).
func TestSingleRunCheckDataBeforeJoin(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-data")
	cfg := filepath.Join(dir, "job.toml")
	body := "[job]\nname = \"nodata\"\nworld_size = 3\n[output]\ndir = " + quoteTOML(filepath.Join(dir, "results")) +
		"\n[data]\npath = " + quoteTOML(missing) + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLTK_RANK", "1")
	t.Setenv("FLTK_WORLD_SIZE", "3")
	t.Setenv("FLTK_NATS_URL", "nats://127.0.0.1:1")
	t.Setenv("FLTK_JOB_ID", "nodata")
	for _, args := range [][]string{
		{"single", cfg, "--rank=1", "--master", "127.0.0.1:1"},
		{"run", cfg},
	} {
		err := Fltk(t.Context(), args, io.Discard, io.Discard)
		if code := ExitCode(err); code != 2 {
			t.Errorf("fltk %q = %v: exit code %d, want 2", args, err, code)
		}
		for _, m := range []string{"rank 1", "data.path", filepath.Join(missing, "mnist"), "make data"} {
			if err == nil || !strings.Contains(err.Error(), m) {
				t.Errorf("fltk %q = %v, want it to say %q", args, err, m)
			}
		}
	}
}
