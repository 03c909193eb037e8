package launcher

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// fakeNet is an interface lister for ResolveIface: interface name → its
// addresses in CIDR notation.
type fakeNet struct {
	ifaces []net.Interface
	addrs  map[string][]string
	err    error // returned by addrs for every interface
}

func (f fakeNet) list() ([]net.Interface, error) { return f.ifaces, nil }

func (f fakeNet) addrsOf(i net.Interface) ([]net.Addr, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []net.Addr
	for _, s := range f.addrs[i.Name] {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			panic(err) // a typo in the test table
		}
		n.IP = ip
		out = append(out, n)
	}
	return out, nil
}

func testNet() fakeNet {
	up := net.FlagUp
	return fakeNet{
		ifaces: []net.Interface{
			{Index: 1, Name: "lo", Flags: up | net.FlagLoopback},
			{Index: 2, Name: "eth0", Flags: up},
			{Index: 3, Name: "wlo1", Flags: up},
			{Index: 4, Name: "v6only", Flags: up},
			{Index: 5, Name: "down0", Flags: 0},
			{Index: 6, Name: "empty", Flags: up},
		},
		addrs: map[string][]string{
			"lo":     {"127.0.0.1/8", "::1/128"},
			"eth0":   {"fe80::1/64", "10.0.0.7/24", "10.0.0.8/24"},
			"wlo1":   {"192.168.1.20/24", "10.0.0.9/24"},
			"v6only": {"fd00::2/64", "fe80::2/64"},
			"down0":  {"172.16.0.5/16"},
		},
	}
}

func TestResolveIface(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want string   // the address, "" for an error
		msg  []string // substrings of the error
	}{
		{name: "loopback by name", spec: "lo", want: "127.0.0.1"},
		{name: "name skips IPv6, first IPv4 wins", spec: "eth0", want: "10.0.0.7"},
		{name: "second interface by name", spec: "wlo1", want: "192.168.1.20"},
		{name: "CIDR", spec: "192.168.1.0/24", want: "192.168.1.20"},
		{name: "CIDR host bits ignored", spec: "192.168.1.77/24", want: "192.168.1.20"},
		{name: "CIDR first interface in order", spec: "10.0.0.0/24", want: "10.0.0.7"},
		{name: "CIDR /32", spec: "10.0.0.9/32", want: "10.0.0.9"},
		{name: "CIDR loopback", spec: "127.0.0.0/8", want: "127.0.0.1"},
		{name: "CIDR everything", spec: "0.0.0.0/0", want: "127.0.0.1"},
		{
			name: "unknown name lists the available", spec: "doesnotexist",
			msg: []string{`unknown interface "doesnotexist"`, "available: lo, eth0, wlo1, v6only, down0, empty"},
		},
		{name: "IPv6 only", spec: "v6only", msg: []string{`interface "v6only" has no IPv4 address (only fd00::2, fe80::2)`}},
		{name: "no address at all", spec: "empty", msg: []string{`interface "empty" has no IPv4 address`}},
		{name: "down by name", spec: "down0", msg: []string{`interface "down0" is down`}},
		{name: "CIDR only on a down interface", spec: "172.16.0.0/12", msg: []string{"no local address in 172.16.0.0/12", "down: down0"}},
		{name: "CIDR without a local address", spec: "192.0.2.0/24", msg: []string{"no local address in 192.0.2.0/24"}},
		{name: "malformed CIDR", spec: "10.0.0.0/33", msg: []string{`"10.0.0.0/33" is not a CIDR`}},
		{name: "garbage CIDR", spec: "eth0/24", msg: []string{`"eth0/24" is not a CIDR`}},
		{name: "IPv6 CIDR", spec: "fd00::/64", msg: []string{`"fd00::/64" is not an IPv4 CIDR`}},
		{name: "empty", spec: "", msg: []string{"empty interface name"}},
	}
	n := testNet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveIface(tt.spec, n.list, n.addrsOf)
			if tt.want != "" {
				if err != nil || got != netip.MustParseAddr(tt.want) {
					t.Fatalf("ResolveIface(%q) = %v, %v; want %s, nil", tt.spec, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolveIface(%q) = %v, nil; want an error", tt.spec, got)
			}
			if !errors.Is(err, ErrIface) {
				t.Errorf("ResolveIface(%q) error %q does not wrap ErrIface", tt.spec, err)
			}
			if got.IsValid() {
				t.Errorf("ResolveIface(%q) returned %v with an error", tt.spec, got)
			}
			for _, s := range tt.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ResolveIface(%q) error = %q, want it to contain %q", tt.spec, err, s)
				}
			}
		})
	}
}

func TestResolveIfaceListerErrors(t *testing.T) {
	boom := errors.New("boom")
	n := testNet()
	n.err = boom
	for _, spec := range []string{"lo", "10.0.0.0/8"} {
		_, err := ResolveIface(spec, n.list, n.addrsOf)
		if !errors.Is(err, boom) || !errors.Is(err, ErrIface) {
			t.Errorf("ResolveIface(%q) with failing addrs = %v, want it to wrap boom and ErrIface", spec, err)
		}
	}
	_, err := ResolveIface("lo", func() ([]net.Interface, error) { return nil, boom }, n.addrsOf)
	if !errors.Is(err, boom) || !errors.Is(err, ErrIface) {
		t.Errorf("ResolveIface with failing ifaces = %v, want it to wrap boom and ErrIface", err)
	}
	_, err = ResolveIface("lo", func() ([]net.Interface, error) { return nil, nil }, n.addrsOf)
	if err == nil || !strings.Contains(err.Error(), "available: none") {
		t.Errorf("ResolveIface with no interfaces = %v, want an error saying none are available", err)
	}
}

// TestLookupIface runs on this machine's interfaces: Linux names its
// loopback interface lo.
func TestLookupIface(t *testing.T) {
	if _, err := net.InterfaceByName("lo"); err != nil {
		t.Skipf("no interface lo: %v", err)
	}
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for _, spec := range []string{"lo", "127.0.0.0/8"} {
		got, err := LookupIface(spec)
		if err != nil || !loopback.Contains(got) {
			t.Errorf("LookupIface(%q) = %v, %v; want an address in %v", spec, got, err, loopback)
		}
	}
	_, err := LookupIface("fltk-no-such-if")
	if !errors.Is(err, ErrIface) || !strings.Contains(err.Error(), "lo") {
		t.Errorf(`LookupIface("fltk-no-such-if") = %v; want an ErrIface listing lo`, err)
	}
}
