package launcher

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// MaxSlots is the largest slot count a host may declare.
const MaxSlots = 1 << 16

// Host is one machine of a multi-host job and the number of ranks it
// takes. Name is what ssh is given: a host name, an IP address (IPv6
// without brackets) or user@host. Slots is ≥ 1.
//
// Hosts come from [ParseHostfile] and [ParseHosts], the parsers behind
// fltk-launch's --hostfile and --hosts.
type Host struct {
	Name  string
	Slots int
}

// ParseHostfile reads a hostfile in mpirun's formats, one host a line:
//
//	# a comment, and blank lines, are ignored
//	a slots=4    # OpenMPI style
//	b:5          # MPICH/--host style
//	c            # one slot
//	[fd00::3]:2  # an IPv6 address in brackets (stored without them)
//
// A host that appears again adds its slots to its first line's entry (as
// OpenMPI does), keeping the order of first appearance. Every error wraps
// [ErrHostfile] and names the line number; a hostfile without hosts is an
// error.

func ParseHostfile(r io.Reader) ([]Host, error) {
	var hs hostSet
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		h, err := parseHostLine(fields)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrHostfile, n, err)
		}
		if err := hs.add(h); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrHostfile, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHostfile, err)
	}
	if len(hs.hosts) == 0 {
		return nil, fmt.Errorf("%w: no hosts", ErrHostfile)
	}
	return hs.hosts, nil
}

// ParseHosts parses a --hosts list in mpirun's --host format: entries
// separated by commas, each "host:N" or a bare "host" (one slot), as in
// "a:4,b:5". Repeated hosts add up as in [ParseHostfile]. Every error wraps
// [ErrHostfile] and names the entry.

func ParseHosts(s string) ([]Host, error) {
	var hs hostSet
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("%w: --hosts entry %d is empty", ErrHostfile, i+1)
		}
		h, err := parseHostSlots(e)
		if err == nil {
			err = hs.add(h)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: --hosts entry %d %q: %w", ErrHostfile, i+1, e, err)
		}
	}
	return hs.hosts, nil
}

// PlaceRanks returns the host of each of np ranks: ranks fill the hosts'
// slots in order, so rank 0 is on hosts[0]. It is an error, wrapping
// [ErrHostfile], if np < 1, a host has fewer than 1 slot, or np is more
// than the slots of all hosts (the error names both numbers).
func PlaceRanks(np int, hosts []Host) ([]string, error) {
	if np < 1 {
		return nil, fmt.Errorf("%w: -np must be ≥ 1, got %d", ErrHostfile, np)
	}
	total := 0
	for _, h := range hosts {
		if h.Slots < 1 || h.Slots > MaxSlots {
			return nil, fmt.Errorf("%w: host %q has %d slots, want 1..%d", ErrHostfile, h.Name, h.Slots, MaxSlots)
		}
		total += h.Slots
	}
	if np > total {
		return nil, fmt.Errorf("%w: -np %d is more than the %d slots of %d hosts", ErrHostfile, np, total, len(hosts))
	}
	out := make([]string, 0, np)
	for _, h := range hosts {
		for range min(h.Slots, np-len(out)) {
			out = append(out, h.Name)
		}
	}
	return out, nil
}

// parseHostLine parses the fields of one hostfile line.
func parseHostLine(fields []string) (Host, error) {
	if len(fields) == 1 {
		return parseHostSlots(fields[0])
	}
	name, err := hostName(fields[0])
	if err != nil {
		return Host{}, err
	}
	h := Host{Name: name}
	for _, f := range fields[1:] {
		v, ok := strings.CutPrefix(f, "slots=")
		if !ok {
			return Host{}, fmt.Errorf("%q: want slots=N after the host name", f)
		}
		if h.Slots != 0 {
			return Host{}, fmt.Errorf("slots given twice")
		}
		if h.Slots, err = slots(v); err != nil {
			return Host{}, err
		}
	}
	return h, nil
}

// parseHostSlots parses "host", "host:N", "[v6]" or "[v6]:N".
func parseHostSlots(s string) (Host, error) {
	name, n := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Host{}, fmt.Errorf("%q: missing ]", s)
		}
		name = s[:end+1]
		rest := s[end+1:]
		if rest != "" {
			var ok bool
			if n, ok = strings.CutPrefix(rest, ":"); !ok {
				return Host{}, fmt.Errorf("%q: want [address]:N", s)
			}
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, n = s[:i], s[i+1:]
	}
	name, err := hostName(name)
	if err != nil {
		return Host{}, err
	}
	h := Host{Name: name, Slots: 1}
	if n != "" || strings.HasSuffix(s, ":") {
		if h.Slots, err = slots(n); err != nil {
			return Host{}, err
		}
	}
	return h, nil
}

// hostName checks a host name: [user@]host with host a DNS name or an IPv4
// address, or a bracketed IPv6 address, which it returns without brackets.
// A leading '-' is refused: ssh would take it for an option.
func hostName(s string) (string, error) {
	if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		a, err := netip.ParseAddr(inner)
		if !ok || err != nil || !a.Is6() {
			return "", fmt.Errorf("%q is not a bracketed IPv6 address", s)
		}
		return inner, nil
	}
	user, host, hasUser := strings.Cut(s, "@")
	if !hasUser {
		user, host = "", s
	}
	switch {
	case host == "":
		return "", fmt.Errorf("empty host name in %q", s)
	case hasUser && user == "":
		return "", fmt.Errorf("empty user name in %q", s)
	case strings.HasPrefix(s, "-"):
		return "", fmt.Errorf("host name %q starts with '-'", s)
	}
	for _, part := range []string{user, host} {
		if i := strings.IndexFunc(part, func(r rune) bool { return !isHostRune(r) }); i >= 0 {
			return "", fmt.Errorf("host name %q has %q: allowed are A-Z, a-z, 0-9, '.', '-', '_' and one '@'", s, part[i:i+1])
		}
	}
	return s, nil
}

func isHostRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
}

// slots parses a slot count in 1..MaxSlots.
func slots(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxSlots {
		return 0, fmt.Errorf("slots %q: want a number in 1..%d", s, MaxSlots)
	}
	return n, nil
}

// hostSet accumulates hosts, merging repeats into their first entry.
type hostSet struct {
	hosts []Host
	index map[string]int
}

func (hs *hostSet) add(h Host) error {
	if hs.index == nil {
		hs.index = map[string]int{}
	}
	i, ok := hs.index[h.Name]
	if !ok {
		hs.index[h.Name] = len(hs.hosts)
		hs.hosts = append(hs.hosts, h)
		return nil
	}
	if hs.hosts[i].Slots+h.Slots > MaxSlots {
		return fmt.Errorf("host %q has more than %d slots in all", h.Name, MaxSlots)
	}
	hs.hosts[i].Slots += h.Slots
	return nil
}
