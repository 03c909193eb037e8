//go:build multihost

package multihost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests here launch jobs with fltk-launch across three test hosts of
// three slots each (9 ranks; rank 0 on h0, ranks 6-8 on h2), reached over
// ssh:
//
//	fltk-launch -np 9 --hosts h0:3,h1:3,h2:3 --ssh "ssh -F CFG" --iface 10.77.X.0/24 CONFIG
//
// either by the names of the hosts' ssh config (output tagged "[3@h1] ") or
// by address with the key on the --ssh command line. The binaries are at
// the same path on every host (the hosts share the file system).

const (
	nHosts = 3
	slots  = 3
	np     = nHosts * slots
)

// hostList returns "A:3,B:3,C:3" of names (h0…) or of addresses.
func (h *hosts) hostList(byName bool) string {
	var l []string
	for i, a := range h.Addrs {
		if byName {
			a = fmt.Sprintf("h%d", i)
		}
		l = append(l, fmt.Sprintf("%s:%d", a, slots))
	}
	return strings.Join(l, ",")
}

// launchArgs returns the fltk-launch arguments before CONFIG for a job on
// the hosts, by name (ssh config) or by address (key on --ssh).
func (h *hosts) launchArgs(byName bool) []string {
	ssh := h.SSHLine
	if byName {
		ssh = "ssh -F " + h.SSHConfig
	}
	return []string{"-np", strconv.Itoa(np), "--hosts", h.hostList(byName), "--ssh", ssh, "--iface", h.Subnet}
}

// job is a running fltk-launch whose output the test can wait on.
type job struct {
	cmd   *exec.Cmd
	out   *lineBuffer // stdout and stderr, interleaved
	done  chan struct{}
	err   error
	start time.Time
}

// startLaunch starts fltk-launch with args; the process is killed when the
// test ends if it still runs.
func startLaunch(t *testing.T, args ...string) *job {
	t.Helper()
	return startLaunchEnv(t, nil, args...)
}

// startLaunchEnv is startLaunch with env added to fltk-launch's environment.
func startLaunchEnv(t *testing.T, env []string, args ...string) *job {
	t.Helper()
	j := &job{out: newLineBuffer(), done: make(chan struct{})}
	j.cmd = exec.Command(filepath.Join(binDir, "fltk-launch"), args...)
	if env != nil {
		j.cmd.Env = append(os.Environ(), env...)
	}
	j.cmd.Stdout, j.cmd.Stderr = j.out, j.out
	j.cmd.WaitDelay = 10 * time.Second
	t.Logf("fltk-launch %s", strings.Join(args, " "))
	j.start = time.Now()
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		j.err = j.cmd.Wait()
		close(j.done)
	}()
	t.Cleanup(func() {
		select {
		case <-j.done:
		default:
			_ = j.cmd.Process.Kill()
			<-j.done
		}
		if t.Failed() {
			t.Logf("fltk-launch output:\n%s", j.out)
		}
	})
	return j
}

// wait waits for fltk-launch to exit and returns its exit code; it fails
// the test if that does not happen before ctx ends (a hang).
func (j *job) wait(ctx context.Context, t *testing.T) int {
	t.Helper()
	select {
	case <-j.done:
	case <-ctx.Done():
		t.Fatalf("fltk-launch still runs after %v: %v\noutput so far:\n%s", time.Since(j.start).Round(time.Millisecond), ctx.Err(), j.out)
	}
	var ee *exec.ExitError
	switch {
	case j.err == nil:
		return 0
	case errors.As(j.err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		t.Fatalf("fltk-launch: %v\n%s", j.err, j.out)
		return -1
	}
}

// waitFor waits until the output matches re, failing the test if ctx ends
// or fltk-launch exits first.
func (j *job) waitFor(ctx context.Context, t *testing.T, re *regexp.Regexp) {
	t.Helper()
	for {
		ch := j.out.changed()
		if re.MatchString(j.out.String()) {
			return
		}
		select {
		case <-ch:
		case <-j.done:
			if re.MatchString(j.out.String()) {
				return
			}
			t.Fatalf("fltk-launch exited (%v) before printing %q:\n%s", j.err, re, j.out)
		case <-ctx.Done():
			t.Fatalf("no %q after %v: %v\noutput so far:\n%s", re, time.Since(j.start).Round(time.Millisecond), ctx.Err(), j.out)
		}
	}
}

// lineBuffer is an io.Writer safe for concurrent use that signals every
// write.
type lineBuffer struct {
	mu  sync.Mutex // guards buf and ch
	buf bytes.Buffer
	ch  chan struct{} // closed on the next write
}

func newLineBuffer() *lineBuffer { return &lineBuffer{ch: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
	return b.buf.Write(p)
}

func (b *lineBuffer) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// dataDirEnv names a prepared data directory to use instead of the
// checkout's data/ (scripts/prepare-data.sh DIR).
const dataDirEnv = "FLTK_MULTIHOST_DATA"

// dataDir returns the prepared data directory: $FLTK_MULTIHOST_DATA, else
// the checkout's data/ (make data).
func dataDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../data")
	if env := os.Getenv(dataDirEnv); env != "" {
		d, err = filepath.Abs(env)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "mnist")); err != nil {
		t.Fatalf("MNIST is missing (%v): run `make data`", err)
	}
	return d
}

// trainConfig is a short federated MNIST job for 9 ranks (8 clients).
func trainConfig(t *testing.T, rounds int) (cfg, outDir string) {
	t.Helper()
	outDir = t.TempDir()
	cfg = writeConfig(t, fmt.Sprintf(`
[job]
name = "mh-fed"
world_size = %d
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "3s"
[federated]
rounds = %d
epochs_per_cycle = 0.05
[data]
path = %q
sampler = "iid"
[train]
net = "MNIST2NN"
batch_size = 20
learning_rate = 0.05
[output]
dir = %q
`, np, rounds, dataDir(t), outDir))
	return cfg, outDir
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// linkBytes reads `netns.sh bytes`: per host, bytes out and in.
func (h *hosts) linkBytes(t *testing.T) (out, in []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := netns(ctx, "bytes", h.Tag)
	if err != nil {
		t.Fatalf("netns.sh bytes: %v\n%s", err, s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")[1:]
	for _, l := range lines {
		f := strings.Split(l, ",")
		o, err1 := strconv.ParseInt(f[3], 10, 64)
		i, err2 := strconv.ParseInt(f[4], 10, 64)
		if len(f) != 5 || err1 != nil || err2 != nil {
			t.Fatalf("netns.sh bytes: %q", l)
		}
		out, in = append(out, o), append(in, i)
	}
	return out, in
}

// TestTrainAcrossHosts trains MNIST for two rounds with 9 ranks on 3 hosts
// reached by their ssh-config names: the job completes, rank 0's output
// comes back tagged "[0@h0] ", rank 0 writes its metrics, and the global
// model crossed every client host's link each round.
func TestTrainAcrossHosts(t *testing.T) {
	h := upHosts(t, nHosts, "1gbit")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	const rounds = 2
	cfg, outDir := trainConfig(t, rounds)
	_, in0 := h.linkBytes(t)
	// FLTK_LOG reaches the workers on every host: each logs how many
	// frames it sent over direct links when it leaves.
	j := startLaunchEnv(t, []string{"FLTK_LOG=info"}, append(h.launchArgs(true), cfg)...)
	if code := j.wait(ctx, t); code != 0 {
		t.Fatalf("exit %d\n%s", code, j.out)
	}
	t.Logf("trained in %v", time.Since(j.start).Round(time.Millisecond))
	out := j.out.String()
	// The host-aware schedules' streams between hosts run leader to
	// leader: ranks 0, 3 and 6 (the first of each host) use the links.
	for _, r := range []int{0, 3, 6} {
		m := regexp.MustCompile(fmt.Sprintf(`\[%d@h%d\] .*msg="leaving world".* link_frames=(\d+)`, r, r/3)).FindStringSubmatch(out)
		if m == nil || m[1] == "0" {
			t.Errorf("rank %d sent no frame over a direct link (%q)", r, m)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("[0@h0] round %d/%d", rounds, rounds)) {
		t.Errorf("no \"[0@h0] round %d/%d\" in:\n%s", rounds, rounds, out)
	}
	rows, err := os.ReadFile(filepath.Join(outDir, "mh-fed", "metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Split(strings.TrimSpace(string(rows)), "\n")); n != rounds+1 {
		t.Errorf("metrics.csv has %d lines, want %d:\n%s", n, rounds+1, rows)
	}
	// McMahan's 2NN has 199,210 float32 parameters: each round the global
	// model reaches the clients of h1 and h2 across their links (at least
	// once per host, whatever the schedule), and their updates come back.
	const model = 199210 * 4
	_, in1 := h.linkBytes(t)
	for i := 1; i < nHosts; i++ {
		if got := in1[i] - in0[i]; got < rounds*model {
			t.Errorf("h%d received %d bytes over its link, want ≥ %d (%d rounds × the model): did ranks share memory across hosts?", i, got, rounds*model, rounds)
		}
	}
	h.waitNoProcs(ctx, t)
}

// TestIfaceBinds runs a job whose workers report their NATS URL and wait:
// every host's NATS server listens on that host's address from --iface
// (nothing on 0.0.0.0 or ::), and each worker connects to its own host's
// server.
func TestIfaceBinds(t *testing.T) {
	h := upHosts(t, nHosts, "")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cfg := writeConfig(t, fmt.Sprintf("[job]\nname = \"mh-iface\"\nworld_size = %d\n", np))
	args := append(h.launchArgs(false), cfg, "--", "sh", "-c", `echo "url=$FLTK_NATS_URL"; echo ready; exec sleep 600`)
	j := startLaunch(t, args...)
	for r := range np {
		j.waitFor(ctx, t, regexp.MustCompile(fmt.Sprintf(`(?m)^\[%d@[^]]+\] ready$`, r)))
	}
	out := j.out.String()
	for r := range np {
		i := r / slots
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^\[%d@%s\] url=(nats|tls)://([^:/]+):\d+`, r, regexp.QuoteMeta(h.Addrs[i])))
		if m := re.FindStringSubmatch(out); m == nil {
			t.Errorf("rank %d: no url on host %s's address %s in:\n%s", r, h.Names[i], h.Addrs[i], out)
		}
	}
	for i, addr := range h.Addrs {
		s, err := netns(ctx, "exec", h.Tag, strconv.Itoa(i), "ss", "-Hltn")
		if err != nil {
			t.Fatalf("ss on %s: %v\n%s", h.Names[i], err, s)
		}
		nats := 0
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			local := f[3]
			if !strings.HasPrefix(local, addr+":") {
				t.Errorf("%s: a listener on %s, not on %s (--iface %s):\n%s", h.Names[i], local, addr, h.Subnet, s)
			} else if local != addr+":22" {
				nats++
			}
		}
		if nats == 0 {
			t.Errorf("%s: no NATS server listening on %s:\n%s", h.Names[i], addr, s)
		}
	}
	if err := j.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	j.wait(ctx, t)
	h.waitNoProcs(ctx, t)
}

// TestLinkDownFailsJob takes h2's link down in the middle of training: the
// job fails within the liveness bound plus the grace period (the test's
// deadline only catches a hang), naming h2 and its ranks 6-8; once the
// link is back, nothing of the job is left on any host.
func TestLinkDownFailsJob(t *testing.T) {
	h := upHosts(t, nHosts, "1gbit")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cfg, _ := trainConfig(t, 200)
	j := startLaunch(t, append(h.launchArgs(true), "--grace", "3s", cfg)...)
	j.waitFor(ctx, t, regexp.MustCompile(`\[0@h0\] round 1/200`))
	h.link(t, 2, "down")
	cut := time.Now()
	// Liveness 3 s, grace 3 s, ssh connect timeouts: a minute means a hang.
	failCtx, failCancel := context.WithTimeout(ctx, time.Minute)
	defer failCancel()
	code := j.wait(failCtx, t)
	t.Logf("fltk-launch exited %d, %v after the link went down", code, time.Since(cut).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	out := j.out.String()
	if want := "host h2 (ranks 6-8)"; !strings.Contains(out, want) {
		t.Errorf("the output does not name %q:\n%s", want, out)
	}
	h.link(t, 2, "up")
	h.waitNoProcs(ctx, t)
}

// TestInterruptLeavesNothing sends SIGINT to fltk-launch mid-training (a
// job with --copy): it exits, and no process of the job is left on any
// host, nor its copy directory.
func TestInterruptLeavesNothing(t *testing.T) {
	h := upHosts(t, nHosts, "")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cfg, _ := trainConfig(t, 200)
	jobID := "mhint" + h.Tag
	j := startLaunch(t, append(h.launchArgs(false), "--copy", "--job", jobID, cfg)...)
	j.waitFor(ctx, t, regexp.MustCompile(`\[0@[^]]+\] round 1/200`))
	if err := j.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	intCtx, intCancel := context.WithTimeout(ctx, time.Minute)
	defer intCancel()
	code := j.wait(intCtx, t)
	t.Logf("fltk-launch exited %d after SIGINT", code)
	if code == 0 {
		t.Errorf("exit 0 after SIGINT mid-job")
	}
	h.waitNoProcs(intCtx, t)
	left, err := filepath.Glob(filepath.Join(os.TempDir(), "fltk-"+jobID+"*"))
	if err != nil {
		t.Fatal(err)
	}
	shm, _ := filepath.Glob("/dev/shm/fltk-" + jobID + "*")
	for i := range h.Addrs {
		s, err := h.ssh(ctx, i, "ls /dev/shm")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(s) {
			if strings.HasPrefix(f, "fltk-") {
				shm = append(shm, h.Names[i]+":/dev/shm/"+f)
			}
		}
	}
	if len(left)+len(shm) > 0 {
		t.Errorf("left behind: %v %v", left, shm)
	}
}

// TestWrongIface: an --iface that no host has is a usage error (exit 2)
// naming it, and nothing is left running.
func TestWrongIface(t *testing.T) {
	h := upHosts(t, nHosts, "")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cfg := writeConfig(t, fmt.Sprintf("[job]\nname = \"mh-badiface\"\nworld_size = %d\n", np))
	for _, iface := range []string{"nosuch0", "10.99.0.0/24"} {
		t.Run(iface, func(t *testing.T) {
			args := []string{"-np", strconv.Itoa(np), "--hosts", h.hostList(false), "--ssh", h.SSHLine, "--iface", iface, cfg}
			j := startLaunch(t, args...)
			if code := j.wait(ctx, t); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out := j.out.String(); !strings.Contains(out, iface) {
				t.Errorf("the output does not name %s:\n%s", iface, out)
			}
			h.waitNoProcs(ctx, t)
		})
	}
}

// TestNoSharedMemoryAcrossHosts broadcasts 16 MiB from rank 0 (on h0) four
// times with fltk's bench worker: each other host's link must carry at
// least the tensor per call. Were /dev/shm shared between the test hosts,
// ranks would map each other's segments and the tensor would not cross.
func TestNoSharedMemoryAcrossHosts(t *testing.T) {
	h := upHosts(t, nHosts, "")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cfg := writeConfig(t, fmt.Sprintf("[job]\nname = \"mh-shm\"\nworld_size = %d\n", np))
	const size, calls = 16 << 20, 3 + 1 // repeats + warm-up of fltk bench
	csv := filepath.Join(t.TempDir(), "bench.csv")
	_, in0 := h.linkBytes(t)
	args := append(h.launchArgs(false), cfg, "--", filepath.Join(binDir, "fltk"), "bench-worker",
		"--ops", "bcast", "--sizes", strconv.Itoa(size), "--repeats", "3", "--out", csv)
	j := startLaunch(t, args...)
	if code := j.wait(ctx, t); code != 0 {
		t.Fatalf("exit %d\n%s", code, j.out)
	}
	_, in1 := h.linkBytes(t)
	for i := 1; i < nHosts; i++ {
		if got := in1[i] - in0[i]; got < calls*size {
			t.Errorf("h%d received %d bytes over its link during %d broadcasts of %d bytes", i, got, calls, size)
		} else {
			t.Logf("h%d received %.2f× the tensor per broadcast", i, float64(got)/calls/size)
		}
	}
	if b, err := os.ReadFile(csv); err != nil || !strings.Contains(string(b), fmt.Sprintf(",bcast,%d,", size)) {
		t.Errorf("bench output %q, %v", b, err)
	}
	h.waitNoProcs(ctx, t)
}
