package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fltk-go/fltk/cmd/internal/job"
	"github.com/fltk-go/fltk/launcher"
)

func TestListenHost(t *testing.T) {
	lookup := func(spec string) (netip.Addr, error) {
		switch spec {
		case "lo", "127.0.0.0/8":
			return netip.MustParseAddr("127.0.0.1"), nil
		case "eth0":
			return netip.MustParseAddr("10.0.0.7"), nil
		}
		return netip.Addr{}, fmt.Errorf("launcher: iface: unknown interface %q (available: lo, eth0)", spec)
	}
	tests := []struct {
		name     string
		iface    string
		ifaceSet bool
		host     string
		hostSet  bool
		cfgIface string
		want     string   // "" for a usage error
		msg      []string // substrings of the error
	}{
		{name: "nothing: loopback", host: "127.0.0.1", want: "127.0.0.1"},
		{name: "-host", host: "0.0.0.0", hostSet: true, want: "0.0.0.0"},
		{name: "--iface", iface: "eth0", ifaceSet: true, host: "127.0.0.1", want: "10.0.0.7"},
		{name: "--iface CIDR", iface: "127.0.0.0/8", ifaceSet: true, host: "127.0.0.1", want: "127.0.0.1"},
		{name: "runtime.iface", host: "127.0.0.1", cfgIface: "eth0", want: "10.0.0.7"},
		{name: "--iface wins over runtime.iface", iface: "lo", ifaceSet: true, host: "127.0.0.1", cfgIface: "eth0", want: "127.0.0.1"},
		{name: "-host wins over runtime.iface", host: "127.0.0.1", hostSet: true, cfgIface: "eth0", want: "127.0.0.1"},
		{name: "--iface and the same -host", iface: "eth0", ifaceSet: true, host: "10.0.0.7", hostSet: true, want: "10.0.0.7"},
		{
			name: "--iface and another -host", iface: "eth0", ifaceSet: true, host: "127.0.0.1", hostSet: true,
			msg: []string{"--iface eth0 selects 10.0.0.7 but -host is 127.0.0.1"},
		},
		{
			name: "--iface and a -host name", iface: "lo", ifaceSet: true, host: "localhost", hostSet: true,
			msg: []string{"--iface lo selects 127.0.0.1 but -host is localhost"},
		},
		{name: "unknown --iface", iface: "nope", ifaceSet: true, host: "127.0.0.1", msg: []string{"--iface: ", `"nope"`, "available: lo, eth0"}},
		{name: "unknown runtime.iface", host: "127.0.0.1", cfgIface: "nope", msg: []string{"runtime.iface: ", `"nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := listenHost(tt.iface, tt.ifaceSet, tt.host, tt.hostSet, tt.cfgIface, lookup)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("listenHost = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("listenHost = %q, nil; want a usage error", got)
			}
			if !errors.Is(err, ErrUsage) || ExitCode(err) != 2 {
				t.Errorf("listenHost error %q: ExitCode = %d, want 2 (ErrUsage)", err, ExitCode(err))
			}
			for _, s := range tt.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("listenHost error = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}

func TestHostsOptions(t *testing.T) {
	dir := t.TempDir()
	hostfile := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hostfile, []byte("# lab\na slots=2\nme@b:3 # second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		np        int
		hosts     string
		hostfile  string
		ssh       string
		set       []string
		wantHosts []launcher.Host
		wantSSH   []string
		msg       string // "" for success
	}{
		{name: "hosts", np: 9, hosts: "a:4,b:5", ssh: "ssh", wantHosts: []launcher.Host{{Name: "a", Slots: 4}, {Name: "b", Slots: 5}}, wantSSH: []string{"ssh"}},
		{name: "hostfile", np: 5, hostfile: hostfile, ssh: `ssh -p 2222 -i 'my key'`, wantHosts: []launcher.Host{{Name: "a", Slots: 2}, {Name: "me@b", Slots: 3}}, wantSSH: []string{"ssh", "-p", "2222", "-i", "my key"}},
		{name: "np > slots", np: 10, hosts: "a:4,b:5", ssh: "ssh", msg: "-np 10 is more than the 9 slots of 2 hosts"},
		{name: "both", np: 1, hosts: "a", hostfile: hostfile, ssh: "ssh", msg: "not both"},
		{name: "bad entry", np: 1, hosts: "a:0", ssh: "ssh", msg: `"a:0"`},
		{name: "missing hostfile", np: 1, hostfile: filepath.Join(dir, "nope"), ssh: "ssh", msg: "--hostfile"},
		{name: "bad ssh", np: 1, hosts: "a", ssh: `ssh "x`, msg: "--ssh"},
		{name: "empty ssh", np: 1, hosts: "a", ssh: " ", msg: "--ssh"},
		{name: "-host", np: 1, hosts: "a", ssh: "ssh", set: []string{"host"}, msg: "-host is for local jobs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := map[string]bool{}
			for _, f := range tt.set {
				set[f] = true
			}
			ho, err := hostsOptions(job.LaunchOptions{NP: tt.np}, tt.hosts, tt.hostfile, tt.ssh, set)
			if tt.msg != "" {
				if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("hostsOptions error = %v (exit %d), want a usage error containing %q", err, ExitCode(err), tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ho.Hosts, tt.wantHosts) || !slices.Equal(ho.SSH, tt.wantSSH) {
				t.Errorf("hosts %v, ssh %q; want %v, %q", ho.Hosts, ho.SSH, tt.wantHosts, tt.wantSSH)
			}
		})
	}
}

func TestExitCodeHostErrors(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&launcher.HostError{Host: "b", Err: errors.New("connection lost")}, 1},
		{&launcher.HostError{Host: "b", Usage: true, Err: errors.New("--iface: unknown interface")}, 2},
		{errors.Join(&launcher.HostError{Host: "b", Err: errors.New("lost")}, &launcher.WorkerError{Rank: 1}), 1},
		{&launcher.WorkerError{Rank: 3, Host: "b", ExitCode: 1}, 1},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestChooseWidth: the terminal's own size first, then $COLUMNS, then 80.
func TestChooseWidth(t *testing.T) {
	size := func(w int, err error) func() (int, error) { return func() (int, error) { return w, err } }
	noTTY := errors.New("inappropriate ioctl for device")
	for _, tc := range []struct {
		name    string
		size    func() (int, error)
		columns string
		want    int
	}{
		{"terminal", size(120, nil), "100", 120},
		{"terminal reports 0", size(0, nil), "100", 100},
		{"no terminal size", size(0, noTTY), "132", 132},
		{"COLUMNS with spaces", size(0, noTTY), " 90 ", 90},
		{"COLUMNS not a number", size(0, noTTY), "wide", 80},
		{"COLUMNS zero", size(0, noTTY), "0", 80},
		{"nothing", size(0, noTTY), "", 80},
	} {
		if got := chooseWidth(tc.size, tc.columns); got != tc.want {
			t.Errorf("%s: chooseWidth = %d, want %d", tc.name, got, tc.want)
		}
	}
}
