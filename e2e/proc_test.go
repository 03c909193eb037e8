package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/internal/testbin"
)

// procBound bounds every wait on a proc.
const procBound = 2 * time.Minute

// proc is a started process whose output a test polls.
type proc struct {
	cmd    *exec.Cmd
	stdout *testbin.Buffer
	stderr *testbin.Buffer
	done   chan struct{} // closed when it exited
	code   int           // its exit code once done (-1: killed, no status)
}

// startProc starts cmd with its output in the proc's buffers; the test's
// cleanup kills it and waits for it.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stdout: &testbin.Buffer{}, stderr: &testbin.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor waits until p's stdout or stderr holds s; it fails the test if p
// exits without printing it or procBound passes.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(procBound)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.stdout.String()+p.stderr.String(), s) {
		select {
		case <-p.done:
			if !strings.Contains(p.stdout.String()+p.stderr.String(), s) {
				t.Fatalf("exit %d without printing %q\nstdout:\n%s\nstderr:\n%s", p.code, s, p.stdout, p.stderr)
			}
		case <-deadline:
			t.Fatalf("no %q within %v\nstdout:\n%s\nstderr:\n%s", s, procBound, p.stdout, p.stderr)
		case <-tick.C:
		}
	}
}

// wait waits for p to exit and returns its exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(procBound):
		t.Fatalf("did not exit within %v\nstdout:\n%s\nstderr:\n%s", procBound, p.stdout, p.stderr)
	}
	return p.code
}
