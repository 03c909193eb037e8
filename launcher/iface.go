package launcher

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ResolveIface returns the IPv4 address that spec selects among the
// interfaces listed by ifaces, whose addresses addrs returns. It does no
// I/O of its own; [LookupIface] calls it with the system's interfaces.
//
// spec is either an interface name ("eth0", "lo") or an IPv4 CIDR
// ("10.0.0.0/24", as OpenMPI's btl_tcp_if_include), told apart by the
// slash.
//
//   - A name selects that interface, which must be up and have an IPv4
//     address; with several, the first one addrs lists wins.
//   - A CIDR selects the first IPv4 address inside it, going through the
//     interfaces that are up in the order ifaces lists them, and each
//     interface's addresses in the order addrs lists them.
//
// Every error wraps [ErrIface] and names spec; an unknown name also lists
// the interfaces that exist. An error of ifaces or addrs is wrapped too.
func ResolveIface(spec string, ifaces func() ([]net.Interface, error), addrs func(net.Interface) ([]net.Addr, error)) (netip.Addr, error) {
	if spec == "" {
		return netip.Addr{}, fmt.Errorf("%w: empty interface name", ErrIface)
	}
	list, err := ifaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: listing interfaces: %w", ErrIface, err)
	}
	if strings.Contains(spec, "/") {
		return resolveCIDR(spec, list, addrs)
	}
	var names []string
	for _, ifc := range list {
		if ifc.Name != spec {
			names = append(names, ifc.Name)
			continue
		}
		if ifc.Flags&net.FlagUp == 0 {
			return netip.Addr{}, fmt.Errorf("%w: interface %q is down", ErrIface, spec)
		}
		as, err := addrs(ifc)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%w: addresses of interface %q: %w", ErrIface, spec, err)
		}
		var other []string
		for _, a := range as {
			ip, ok := ipOf(a)
			if ok && ip.Is4() {
				return ip, nil
			}
			if ok {
				other = append(other, ip.String())
			}
		}
		if len(other) > 0 {
			return netip.Addr{}, fmt.Errorf("%w: interface %q has no IPv4 address (only %s)", ErrIface, spec, strings.Join(other, ", "))
		}
		return netip.Addr{}, fmt.Errorf("%w: interface %q has no IPv4 address", ErrIface, spec)
	}
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return netip.Addr{}, fmt.Errorf("%w: unknown interface %q (available: %s)", ErrIface, spec, have)
}

// resolveCIDR implements ResolveIface for a spec with a slash.
func resolveCIDR(spec string, list []net.Interface, addrs func(net.Interface) ([]net.Addr, error)) (netip.Addr, error) {
	p, err := netip.ParsePrefix(spec)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q is not a CIDR: %w", ErrIface, spec, err)
	}
	if !p.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IPv4 CIDR", ErrIface, spec)
	}
	p = p.Masked()
	var down []string
	for _, ifc := range list {
		as, err := addrs(ifc)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%w: addresses of interface %q: %w", ErrIface, ifc.Name, err)
		}
		for _, a := range as {
			ip, ok := ipOf(a)
			if !ok || !ip.Is4() || !p.Contains(ip) {
				continue
			}
			if ifc.Flags&net.FlagUp == 0 {
				down = append(down, ifc.Name)
				break
			}
			return ip, nil
		}
	}
	if len(down) > 0 {
		return netip.Addr{}, fmt.Errorf("%w: no local address in %s on an interface that is up (down: %s)", ErrIface, p, strings.Join(down, ", "))
	}
	return netip.Addr{}, fmt.Errorf("%w: no local address in %s", ErrIface, p)
}

// ipOf returns the address of a, unmapped from IPv4-in-IPv6 form, for the
// types the net package's Addrs return.
func ipOf(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPNet:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	default:
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

// LookupIface resolves spec with [ResolveIface] over this machine's
// interfaces.
func LookupIface(spec string) (netip.Addr, error) {
	return ResolveIface(spec, net.Interfaces, func(i net.Interface) ([]net.Addr, error) { return i.Addrs() })
}
