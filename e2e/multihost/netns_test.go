//go:build multihost

package multihost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/internal/testbin"
)

// binDir holds fltk and fltk-launch, built once by TestMain. It is under
// the machine's temporary directory, which every test host shares (network
// namespaces share the file system), so the binaries have the same path on
// every host, as fltk-launch expects without --copy.
var binDir string

// binDirEnv names a directory of already built fltk and fltk-launch to
// test instead of building this checkout's (an absolute path every host
// sees).
const binDirEnv = "FLTK_MULTIHOST_BIN"

// netnsScript is scripts/netns.sh of this checkout.
var netnsScript string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "multihost: the tests need root (network namespaces, sshd): run make test-multihost as root")
		os.Exit(1)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	netnsScript = filepath.Join(root, "scripts", "netns.sh")
	if dir := os.Getenv(binDirEnv); dir != "" {
		binDir = dir // binaries built elsewhere (another revision)
		os.Exit(m.Run())
	}
	testbin.Main(m, &binDir)
}

// hosts is one set of test hosts made by `scripts/netns.sh up`.
type hosts struct {
	Tag       string
	Dir       string   // state directory of netns.sh
	Subnet    string   // 10.77.X.0/24
	RootAddr  string   // the root namespace's address on the bridge (the launcher's)
	Addrs     []string // host i's address
	Names     []string // host i's namespace and hostname, TAG-hI
	SSH       []string // ssh argv (without BatchMode, host and command)
	SSHLine   string   // SSH as one line, for --ssh and plm_rsh_agent
	SSHConfig string   // ssh config naming the hosts TAG-hI and hI
	Hostfile  string   // "ADDR slots=1" lines
}

// upHosts brings up n test hosts with links limited to rate ("" for no
// limit) and removes them when the test ends.
func upHosts(t *testing.T, n int, rate string) *hosts {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	tag := "mh" + hex.EncodeToString(b[:])
	args := []string{"up", tag, strconv.Itoa(n)}
	if rate != "" {
		args = append(args, rate)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := netns(ctx, "down", tag); err != nil {
			t.Errorf("netns.sh down %s: %v\n%s", tag, err, out)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := netns(ctx, args...)
	if err != nil {
		t.Fatalf("netns.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	env := parseEnv(out)
	h := &hosts{
		Tag:       env["NETNS_TAG"],
		Dir:       env["NETNS_DIR"],
		Subnet:    env["NETNS_SUBNET"],
		RootAddr:  env["NETNS_ROOT_ADDR"],
		Addrs:     strings.Fields(env["NETNS_ADDRS"]),
		Names:     strings.Fields(env["NETNS_NAMES"]),
		SSHLine:   env["NETNS_SSH"],
		SSH:       strings.Fields(env["NETNS_SSH"]),
		SSHConfig: env["NETNS_SSH_CONFIG"],
		Hostfile:  env["NETNS_HOSTFILE"],
	}
	if h.Tag != tag || len(h.Addrs) != n || len(h.Names) != n || len(h.SSH) == 0 {
		t.Fatalf("netns.sh up printed an unexpected env:\n%s", out)
	}
	t.Logf("hosts %s: %s on %s (launcher %s)", tag, strings.Join(h.Addrs, " "), h.Subnet, h.RootAddr)
	return h
}

// netns runs scripts/netns.sh and returns its combined output.
func netns(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, netnsScript, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// parseEnv reads the KEY=VALUE lines netns.sh prints (values may be
// double-quoted).
func parseEnv(s string) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || !strings.HasPrefix(k, "NETNS_") {
			continue
		}
		env[k] = strings.Trim(v, `"`)
	}
	return env
}

// ssh runs script on host i through its sshd and returns stdout; stderr
// goes into the error.
func (h *hosts) ssh(ctx context.Context, i int, script string) (string, error) {
	args := append(slices.Clone(h.SSH[1:]), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "root@"+h.Addrs[i], script)
	cmd := exec.CommandContext(ctx, h.SSH[0], args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ssh %s %q: %w: %s", h.Names[i], script, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// link takes host i's link up or down.
func (h *hosts) link(t *testing.T, i int, state string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := netns(ctx, "link", h.Tag, strconv.Itoa(i), state); err != nil {
		t.Fatalf("netns.sh link %s %d %s: %v\n%s", h.Tag, i, state, err, out)
	}
}

// sshd returns the pid of host i's sshd daemon.
func (h *hosts) sshd(t *testing.T, i int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Dir, fmt.Sprintf("sshd_h%d.launch.pid", i)))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// procs lists the processes running in host i's network namespace other
// than its sshd daemon, as "PID CMDLINE".
func (h *hosts) procs(t *testing.T, i int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", h.Names[i]).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", h.Names[i], err)
	}
	daemon := h.sshd(t, i)
	var procs []string
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid == daemon {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // exited meanwhile
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if j := bytes.LastIndexByte(st, ')'); j >= 0 && j+2 < len(st) && st[j+2] == 'Z' {
				continue // a zombie is no longer running
			}
		}
		procs = append(procs, fmt.Sprintf("%d %s", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return procs
}

// waitNoProcs waits until no process but the sshd daemon is left in any
// host (sshd sessions take a moment to end after their client); it fails
// the test listing what is still running when ctx ends.
func (h *hosts) waitNoProcs(ctx context.Context, t *testing.T) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for i := range h.Addrs {
			for _, p := range h.procs(t, i) {
				left = append(left, h.Names[i]+": "+p)
			}
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("processes left on the hosts:\n%s", strings.Join(left, "\n"))
		case <-tick.C:
		}
	}
}
