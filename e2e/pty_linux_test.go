package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of cols columns and returns its master
// and slave ends.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatalf("set the window size: %v", err)
	}
	return m, s
}

// TestLaunchStatusLineOnTerminal runs a 2-round federated job with
// fltk-launch's stdout on a 60-column pseudo-terminal: every status line
// it draws fits in 59 columns, some show a round's phase, and no live
// line is printed.
func TestLaunchStatusLineOnTerminal(t *testing.T) {
	dataDir := mnistData(t)
	out := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
[job]
name = "e2e-tty"
world_size = 3
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "5s"
[federated]
rounds = 2
clients = 6
clients_per_round = 4
epochs_per_cycle = 0.05
[data]
path = %q
[train]
net = "MNIST2NN"
batch_size = 20
[output]
dir = %q
`, dataDir, out))
	const cols = 60
	master, slave := openPTY(t, cols)
	defer master.Close()
	cmd := exec.Command(filepath.Join(binDir, "fltk-launch"), "-np", "3", cfg)
	cmd.Env = append(os.Environ(), "COLUMNS=200") // the terminal's own size wins
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = slave, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var tty bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := io.Copy(&tty, master); copied <- err }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		err = <-done
	}
	<-copied // EIO once the last slave descriptor is closed
	if err != nil {
		t.Fatalf("fltk-launch: %v\nterminal:\n%q\nstderr:\n%s", err, tty.String(), stderr.String())
	}
	text := tty.String()
	if strings.Contains(text, "fltk-live") {
		t.Errorf("live lines printed on the terminal:\n%q", text)
	}
	if !strings.Contains(text, "[0] round 2/2") {
		t.Errorf("no progress line of round 2:\n%q", text)
	}
	// Each draw is "\r\x1b[K", maybe a printed line, then the status.
	var phases int
	for _, piece := range strings.Split(text, "\x1b[K")[1:] {
		status := strings.TrimRight(piece[strings.LastIndex(piece, "\n")+1:], "\r")
		if n := utf8.RuneCountInString(status); n > cols-1 {
			t.Errorf("status line of %d runes on a %d-column terminal: %q", n, cols, status)
		}
		if strings.Contains(status, "training:") || strings.Contains(status, "reducing:") || strings.Contains(status, "evaluating") {
			phases++
		}
	}
	if phases == 0 {
		t.Errorf("no status line shows a round's phase:\n%q", text)
	}
}
