//go:build multihost

package multihost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHarness checks the test hosts themselves: ssh into each works and
// lands in its namespace, hosts reach each other across the bridge,
// hostnames and /dev/shm are per host, the links carry the tc rate limit,
// and a link taken down cuts the host off until it comes back up.
func TestHarness(t *testing.T) {
	h := upHosts(t, 3, "100mbit")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	t.Run("ssh", func(t *testing.T) {
		for i, addr := range h.Addrs {
			out, err := h.ssh(ctx, i, "hostname; ip -4 -o addr show dev eth0")
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || lines[0] != h.Names[i] || !strings.Contains(lines[1], " "+addr+"/24 ") {
				t.Errorf("host %d: hostname and eth0:\n%s\nwant %s and %s/24", i, out, h.Names[i], addr)
			}
		}
	})

	t.Run("ssh config", func(t *testing.T) {
		for i, name := range h.Names {
			for _, alias := range []string{name, fmt.Sprintf("h%d", i)} {
				cmd := exec.CommandContext(ctx, "ssh", "-F", h.SSHConfig, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", alias, "hostname")
				out, err := cmd.Output()
				if err != nil || strings.TrimSpace(string(out)) != name {
					t.Errorf("ssh -F %s %s hostname: %q, %v; want %s", h.SSHConfig, alias, out, err, name)
				}
			}
		}
	})

	t.Run("host to host", func(t *testing.T) {
		// Across the bridge (Docker's FORWARD policy would drop it without
		// the rule netns.sh adds): h0 logs into h1 and h2.
		for _, j := range []int{1, 2} {
			out, err := h.ssh(ctx, 0, h.SSHLine+" -o BatchMode=yes -o ConnectTimeout=5 root@"+h.Addrs[j]+" hostname")
			if err != nil || strings.TrimSpace(out) != h.Names[j] {
				t.Errorf("h0 → h%d: %q, %v", j, out, err)
			}
		}
	})

	t.Run("private shm", func(t *testing.T) {
		probe := "fltk-netns-probe-" + h.Tag
		for i := range h.Addrs {
			if _, err := h.ssh(ctx, i, "hostname > /dev/shm/"+probe); err != nil {
				t.Fatal(err)
			}
		}
		for i := range h.Addrs {
			// A second session sees its host's file, and only that one.
			out, err := h.ssh(ctx, i, "cat /dev/shm/"+probe+"; ls /dev/shm | wc -l")
			if err != nil {
				t.Fatal(err)
			}
			if want := h.Names[i] + "\n1\n"; out != want {
				t.Errorf("host %d sees in /dev/shm:\n%s\nwant:\n%s", i, out, want)
			}
		}
		if _, err := os.Stat(filepath.Join("/dev/shm", probe)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the root namespace sees the hosts' /dev/shm: %v", err)
		}
		// netns.sh exec enters the same namespaces as an ssh session.
		out, err := netns(ctx, "exec", h.Tag, "2", "cat", "/dev/shm/"+probe)
		if err != nil || out != h.Names[2]+"\n" {
			t.Errorf("netns.sh exec %s 2 cat: %q, %v", h.Tag, out, err)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		for i, name := range h.Names {
			for _, args := range [][]string{
				{"-n", name, "qdisc", "show", "dev", "eth0"},
				{"qdisc", "show", "dev", fmt.Sprintf("%s-v%d", h.Tag, i)},
			} {
				out, err := exec.CommandContext(ctx, "tc", args...).Output()
				if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "rate 100Mbit") {
					t.Errorf("tc %s: %q, %v; want a tbf at 100Mbit", strings.Join(args, " "), out, err)
				}
			}
		}
	})

	t.Run("bytes", func(t *testing.T) {
		out, err := netns(ctx, "bytes", h.Tag)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || lines[0] != "host,iface,addr,out_bytes,in_bytes" {
			t.Fatalf("netns.sh bytes:\n%s", out)
		}
		for i, l := range lines[1:] {
			if f := strings.Split(l, ","); len(f) != 5 || f[0] != h.Names[i] || f[2] != h.Addrs[i] || f[3] == "0" || f[4] == "0" {
				t.Errorf("netns.sh bytes, host %d: %q (every host has had ssh traffic)", i, l)
			}
		}
	})

	t.Run("link down", func(t *testing.T) {
		h.link(t, 1, "down")
		if _, err := h.ssh(ctx, 1, "true"); err == nil {
			t.Error("ssh into h1 works with its link down")
		}
		if _, err := h.ssh(ctx, 0, "true"); err != nil {
			t.Errorf("h0 is cut off by h1's link going down: %v", err)
		}
		h.link(t, 1, "up")
		// The bridge port forwards again once it has passed its forwarding
		// delay (0 here, STP is off): ssh retries within its ConnectTimeout.
		if _, err := h.ssh(ctx, 1, "true"); err != nil {
			t.Errorf("h1 is still cut off after link up: %v", err)
		}
	})
}

// TestHarnessDown checks that `netns.sh down` removes exactly what `up`
// made, and that a second down is a no-op.
func TestHarnessDown(t *testing.T) {
	h := upHosts(t, 2, "")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	daemons := []int{h.sshd(t, 0), h.sshd(t, 1)}
	// A process left behind in a host (as a failed test might leave) goes too.
	marker := "fltk-left-" + h.Tag
	if _, err := h.ssh(ctx, 1, "(exec -a "+marker+" sleep 600) >/dev/null 2>&1 </dev/null &"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if out, err := netns(ctx, "down", h.Tag); err != nil {
			t.Fatalf("netns.sh down: %v\n%s", err, out)
		}
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), h.Tag) {
		t.Errorf("namespaces left:\n%s", out)
	}
	out, err = exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), h.Tag) {
		t.Errorf("links left:\n%s", out)
	}
	out, err = exec.CommandContext(ctx, "ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), " "+h.RootAddr+"/") {
		t.Errorf("bridge address %s left:\n%s", h.RootAddr, out)
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		out, _ := exec.CommandContext(ctx, "iptables", "-w", "10", "-S", "FORWARD").Output()
		if strings.Contains(string(out), "br-"+h.Tag) {
			t.Errorf("iptables rule left:\n%s", out)
		}
	}
	if _, err := os.Stat(h.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory %s left: %v", h.Dir, err)
	}
	for _, pid := range daemons {
		if running(pid) {
			t.Errorf("sshd %d still runs", pid)
		}
	}
	out, _ = exec.CommandContext(ctx, "pgrep", "-f", marker).Output()
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && running(pid) {
			t.Errorf("%s (pid %d) left running", marker, pid)
		}
	}
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(st)
	j := strings.LastIndexByte(s, ')')
	return j < 0 || j+2 >= len(s) || s[j+2] != 'Z'
}
