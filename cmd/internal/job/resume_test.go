package job

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/configs"
	"github.com/fltk-go/fltk/trainer/fed"
)

// checkpointed writes the results of a one-round job of c into dir with
// its checkpoint after round 1, then a second round's rows after it, as
// a run killed in round 2 leaves them. It returns metrics.csv after
// round 1.
func checkpointed(t *testing.T, c *configs.Config, dir string) []byte {
	t.Helper()
	rec, closeResults, err := results(c, &bytes.Buffer{}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeResults()
	if err := rec.Start(fed.Setup{Rounds: 2, Clients: 1, PerRound: 1, Workers: 1, Classes: 1,
		Partition: []fed.ClientData{{Samples: 1, Labels: []int{1}}}}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Round(fed.RoundResult{Round: 1}); err != nil {
		t.Fatal(err)
	}
	if err := rec.(fed.Checkpointer).Checkpoint(&fed.Checkpoint{Round: 1, Net: "MNIST2NN", Global: []float32{1}}); err != nil {
		t.Fatal(err)
	}
	after1, err := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Round(fed.RoundResult{Round: 2}); err != nil {
		t.Fatal(err)
	}
	return after1
}

// TestCheckResume: the checkpoint of a run resumes with the config it
// recorded (reloaded from its config.toml); another config is a usage
// error naming --force unless forced; a missing checkpoint is a usage
// error, a corrupt one an ErrCheckpoint naming the file.
func TestCheckResume(t *testing.T) {
	c := configs.DefaultConfig()
	c.Output.Dir = t.TempDir()
	dir := filepath.Join(c.Output.Dir, c.Job.Name)
	checkpointed(t, &c, dir)
	recorded, err := configs.Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := *recorded
	edited.Train.LearningRate = 0.5
	for _, tt := range []struct {
		name  string
		c     *configs.Config
		force bool
		want  error // nil: resumes
	}{
		{"the same config", &c, false, nil},
		{"the recorded config.toml", recorded, false, nil},
		{"an edited config", &edited, false, ErrConfigChanged},
		{"an edited config, forced", &edited, true, nil},
	} {
		ck, err := CheckResume(tt.c, dir, tt.force)
		switch {
		case tt.want == nil && (err != nil || ck.Round != 1):
			t.Errorf("%s: %v, want the checkpoint of round 1", tt.name, err)
		case tt.want != nil && (!errors.Is(err, tt.want) || !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--force")):
			t.Errorf("%s: %v, want %v, a usage error naming --force", tt.name, err, tt.want)
		}
	}
	path := filepath.Join(dir, fed.CheckpointFile)
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckResume(&c, dir, false); !errors.Is(err, fed.ErrCheckpoint) || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated checkpoint: %v, want ErrCheckpoint naming %s", err, path)
	}
	os.Remove(path)
	if _, err := CheckResume(&c, dir, false); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), fed.CheckpointFile) {
		t.Errorf("no checkpoint: %v, want a usage error naming %s", err, fed.CheckpointFile)
	}
}

// TestResultsResumeCutsRows: the recorder of a resumed job cuts
// metrics.csv back to the checkpoint's round and appends after it.
func TestResultsResumeCutsRows(t *testing.T) {
	c := configs.DefaultConfig()
	c.Output.Dir = t.TempDir()
	dir := filepath.Join(c.Output.Dir, c.Job.Name)
	after1 := checkpointed(t, &c, dir)
	ck, err := CheckResume(&c, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	rec, closeResults, err := results(&c, &bytes.Buffer{}, dir, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer closeResults()
	if err := rec.Start(fed.Setup{Rounds: 2, Resumed: 1, Clients: 1, PerRound: 1, Workers: 1, Classes: 1,
		Partition: []fed.ClientData{{Samples: 1, Labels: []int{1}}}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	if !bytes.Equal(got, after1) {
		t.Errorf("metrics.csv on resume:\n%s\nwant (after round 1):\n%s", got, after1)
	}
	if err := rec.Round(fed.RoundResult{Round: 2}); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, "metrics.csv"))
	if lines := strings.Split(strings.TrimSpace(string(got)), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "2,") {
		t.Errorf("metrics.csv after round 2 of the resumed job:\n%s", got)
	}
	// A file shorter than at the checkpoint lost rows: an error.
	closeResults()
	if err := os.WriteFile(filepath.Join(dir, "clients.csv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, closeResults2, err := results(&c, &bytes.Buffer{}, dir, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer closeResults2()
	if err := rec.Start(fed.Setup{Partition: []fed.ClientData{{Samples: 1, Labels: []int{1}}}, Classes: 1}); err == nil || !strings.Contains(err.Error(), "clients.csv") {
		t.Errorf("resume with a truncated clients.csv: %v, want an error naming it", err)
	}
}
