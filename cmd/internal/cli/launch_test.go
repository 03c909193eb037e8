package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
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
