package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
)

// resumable writes the results folder of an interrupted run of a
// 3-rank job: its recorded config.toml, INCOMPLETE and a checkpoint.
func resumable(t *testing.T, dir string) {
	t.Helper()
	c := configs.DefaultConfig()
	c.Job.WorldSize = 3
	// The repository's data: the launcher checks the files before it
	// looks at the folder to resume.
	data, err := filepath.Abs(filepath.Join("..", "..", "..", "data"))
	if err != nil {
		t.Fatal(err)
	}
	c.Data.Path = data
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	effective, err := job.EffectiveConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := job.ConfigHash(&c)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"config.toml": effective, fed.IncompleteFile: []byte("pid 1\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fed.NewCheckpointWriter(filepath.Join(dir, fed.CheckpointFile), hash).Checkpoint(&fed.Checkpoint{Round: 2, Net: "MNIST2NN"}); err != nil {
		t.Fatal(err)
	}
}

// TestLaunchResumeChecks: fltk-launch --resume checks the folder, its
// config and its checkpoint before any worker starts: every problem exits
// 2 (a corrupt checkpoint 1), naming it; a good folder starts the
// workers with --resume.
func TestLaunchResumeChecks(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	marker := filepath.Join(dir, "started")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"$@\" >> " + marker + "\n"
	if err := os.WriteFile(filepath.Join(bin, "fltk"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	good := filepath.Join(dir, "good")
	resumable(t, good)
	finished := filepath.Join(dir, "finished")
	resumable(t, finished)
	os.Remove(filepath.Join(finished, fed.IncompleteFile))
	edited := filepath.Join(dir, "edited")
	resumable(t, edited)
	cfgPath := filepath.Join(edited, "config.toml")
	b, _ := os.ReadFile(cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "rounds = 5", "rounds = 50", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	noCkpt := filepath.Join(dir, "nockpt")
	resumable(t, noCkpt)
	os.Remove(filepath.Join(noCkpt, fed.CheckpointFile))
	corrupt := filepath.Join(dir, "corrupt")
	resumable(t, corrupt)
	if err := os.WriteFile(filepath.Join(corrupt, fed.CheckpointFile), []byte("FLTKJOB\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int      // 0: the workers start
		msg  []string // substrings of the error
	}{
		{name: "good", args: []string{"--resume", good}},
		{name: "good, forced", args: []string{"--resume", good, "--force"}},
		{name: "edited, forced", args: []string{"--resume", edited, "--force"}},
		{name: "edited", args: []string{"--resume", edited}, code: 2, msg: []string{"--force", fed.CheckpointFile}},
		{name: "finished", args: []string{"--resume", finished}, code: 2, msg: []string{"finished", finished}},
		{name: "missing folder", args: []string{"--resume", filepath.Join(dir, "nope")}, code: 2, msg: []string{"nope"}},
		{name: "not a results folder", args: []string{"--resume", bin}, code: 2, msg: []string{"config.toml"}},
		{name: "no checkpoint", args: []string{"--resume", noCkpt}, code: 2, msg: []string{fed.CheckpointFile, "start it again"}},
		{name: "corrupt checkpoint", args: []string{"--resume", corrupt}, code: 1, msg: []string{filepath.Join(corrupt, fed.CheckpointFile)}},
		{name: "another -np", args: []string{"--resume", good, "-np", "2"}, code: 2, msg: []string{"-np 3"}},
		{name: "a config too", args: []string{"--resume", good, cfgPath}, code: 2, msg: []string{"no CONFIG.toml"}},
		{name: "--force alone", args: []string{"--force", cfgPath}, code: 2, msg: []string{"--force needs --resume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(marker)
			err := Launch(t.Context(), tt.args, io.Discard, io.Discard)
			started, _ := os.ReadFile(marker)
			if tt.code == 0 {
				if err != nil || len(started) == 0 {
					t.Fatalf("Launch(%q) = %v, workers started: %q; want a job that runs", tt.args, err, started)
				}
				if !strings.Contains(string(started), "--resume") {
					t.Errorf("workers started as %q, without --resume", started)
				}
				return
			}
			if code := ExitCode(err); code != tt.code {
				t.Errorf("Launch(%q) = %v: exit code %d, want %d", tt.args, err, code, tt.code)
			}
			for _, m := range tt.msg {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("Launch(%q) = %v, want it to say %q", tt.args, err, m)
				}
			}
			if len(started) != 0 {
				t.Errorf("Launch(%q) started workers before rejecting the job", tt.args)
			}
		})
	}
}
