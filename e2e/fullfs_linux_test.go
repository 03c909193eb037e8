package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fltk-go/fltk/report"
	"github.com/fltk-go/fltk/trainer/fed"
)

// TestResultsOnFullFileSystem runs a training job whose output.dir is on
// a small tmpfs and fills the tmpfs once round 3 is reported: the job
// exits non-zero with an error naming the file it could not write and
// "no space left on device", and the rounds written before are whole —
// the report package loads the folder (metrics.csv, clients.csv,
// classes.csv) with consecutive rounds, and INCOMPLETE says the run did
// not finish. Needs root (mount).
func TestResultsOnFullFileSystem(t *testing.T) {
	// With TensorBoard its event file tends to fill first; without it, a
	// CSV append does.
	for _, tb := range []bool{true, false} {
		t.Run(fmt.Sprintf("tensorboard=%v", tb), func(t *testing.T) { testFullFileSystem(t, tb) })
	}
}

func testFullFileSystem(t *testing.T, tensorboard bool) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a tmpfs (euid %d)", os.Geteuid())
	}
	dataDir := mnistData(t)
	mnt := filepath.Join(t.TempDir(), "results")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs at %s (no CAP_SYS_ADMIN?): %v", mnt, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	const rounds = 200
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-full"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = %d
clients = 2
epochs_per_cycle = 0.005
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 10
[output]
dir = %q
tensorboard = %v
`, rounds, dataDir, mnt, tensorboard))
	launch := exec.Command(filepath.Join(binDir, "fltk-launch"), "-np", "3", cfg)
	stdout, err := launch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	launch.Stderr = &stderr
	if err := launch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = launch.Process.Kill(); _ = launch.Wait() })
	var out strings.Builder
	lines := bufio.NewScanner(stdout)
	filled := false
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if !filled && strings.HasPrefix(lines.Text(), "[0] round 3/") {
			fill(t, filepath.Join(mnt, "filler"))
			filled = true
		}
	}
	err = launch.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("fltk-launch on a full file system: %v, want a non-zero exit\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !filled {
		t.Fatalf("the job ended before round 3:\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, filepath.Join(mnt, "e2e-full")) {
		t.Errorf("stderr does not name a file of %s and \"no space left on device\":\n%s", filepath.Join(mnt, "e2e-full"), msg)
	}
	run, err := report.LoadRun(filepath.Join(mnt, "e2e-full"))
	if err != nil {
		t.Fatalf("the results of the rounds before the disk filled do not load: %v", err)
	}
	n := len(run.Rounds)
	if n < 3 || n >= rounds {
		t.Errorf("metrics.csv has %d rounds, want at least the 3 reported before the fill and fewer than %d", n, rounds)
	}
	for i, r := range run.Rounds {
		if r.Round != i+1 {
			t.Fatalf("metrics.csv row %d is round %d, want %d", i+1, r.Round, i+1)
		}
	}
	// Every file holds whole rows of the same rounds: a round that could
	// not be written whole is in none of them.
	if len(run.Classes) != 10*n || run.Classes[len(run.Classes)-1].Round != n {
		t.Errorf("classes.csv has %d rows, want 10 for each of the %d rounds of metrics.csv", len(run.Classes), n)
	}
	if len(run.Clients) != 2*n || run.Clients[len(run.Clients)-1].Round != n {
		t.Errorf("clients.csv has %d rows, want 2 for each of the %d rounds of metrics.csv", len(run.Clients), n)
	}
	for _, f := range []string{"metrics.csv", "clients.csv", "classes.csv"} {
		b, err := os.ReadFile(filepath.Join(mnt, "e2e-full", f))
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("%s does not end with a whole row (%v): ...%q", f, err, b[max(0, len(b)-80):])
		}
	}
	if !run.Incomplete {
		t.Errorf("no %s in the folder of a job that failed", fed.IncompleteFile)
	}
	t.Logf("job failed after %d rounds: %s", n, lastLines(msg, 3))
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last partial write may have left a page: take it too.
	small := make([]byte, 512)
	for {
		if _, err := f.Write(small); err != nil {
			return
		}
	}
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], " | ")
}
