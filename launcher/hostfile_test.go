package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseHostfile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Host
		msg  []string // substrings of the error; nil means success
	}{
		{name: "openmpi", in: "a slots=4\nb slots=5\n", want: []Host{{"a", 4}, {"b", 5}}},
		{name: "colon", in: "a:4\nb:5", want: []Host{{"a", 4}, {"b", 5}}},
		{name: "bare", in: "a\nb\n", want: []Host{{"a", 1}, {"b", 1}}},
		{
			name: "comments, blanks, spaces, CRLF",
			in:   "# lab\n\n  a slots=2   # first\r\n\t\n#b slots=9\nnode-1.lab.example:3\r\n",
			want: []Host{{"a", 2}, {"node-1.lab.example", 3}},
		},
		{name: "mixed", in: "10.0.0.1 slots=2\nuser@b:3\nc", want: []Host{{"10.0.0.1", 2}, {"user@b", 3}, {"c", 1}}},
		{name: "IPv6", in: "[fd00::3]:2\n[fd00::4]\n[fd00::5] slots=3", want: []Host{{"fd00::3", 2}, {"fd00::4", 1}, {"fd00::5", 3}}},
		{name: "repeats add up", in: "a:2\nb\na slots=3\n", want: []Host{{"a", 5}, {"b", 1}}},
		{name: "empty", in: "", msg: []string{"no hosts"}},
		{name: "only comments", in: "# nothing\n\n", msg: []string{"no hosts"}},
		{name: "bad slots", in: "a slots=4\nb slots=x\n", msg: []string{"line 2", `slots "x"`}},
		{name: "zero slots", in: "a:0", msg: []string{"line 1", `slots "0"`}},
		{name: "negative slots", in: "\n\na slots=-1", msg: []string{"line 3", `slots "-1"`}},
		{name: "too many slots", in: "a:65537", msg: []string{"line 1", "1..65536"}},
		{name: "too many slots in all", in: "a:65536\na:1", msg: []string{"line 2", "more than 65536 slots"}},
		{name: "empty slots", in: "a:", msg: []string{"line 1", `slots ""`}},
		{name: "unknown field", in: "a max_slots=4", msg: []string{"line 1", `"max_slots=4": want slots=N`}},
		{name: "slots twice", in: "a slots=1 slots=2", msg: []string{"line 1", "slots given twice"}},
		{name: "colon and slots", in: "a:2 slots=2", msg: []string{"line 1", `"a:2" has ":"`}},
		{name: "option injection", in: "-oProxyCommand=x", msg: []string{"line 1", "starts with '-'"}},
		{name: "bad rune", in: "ok\nb$d:2", msg: []string{"line 2", `has "$"`}},
		{name: "bare IPv6", in: "fd00::1", msg: []string{"line 1"}},
		{name: "unclosed bracket", in: "[fd00::1:2", msg: []string{"line 1", "missing ]"}},
		{name: "bracketed IPv4", in: "[10.0.0.1]:2", msg: []string{"not a bracketed IPv6 address"}},
		{name: "empty user", in: "@b", msg: []string{"empty user name"}},
		{name: "empty host", in: "u@", msg: []string{"empty host name"}},
		{name: "slots without host", in: "slots=4", msg: []string{"line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHostfile(strings.NewReader(tt.in))
			checkHosts(t, fmt.Sprintf("ParseHostfile(%q)", tt.in), got, err, tt.want, tt.msg)
		})
	}
}

func TestParseHostfileTestdata(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "hostfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseHostfile(f)
	want := []Host{{"ws1", 4}, {"ws2", 5}, {"10.0.0.3", 2}, {"alice@ws4", 1}}
	checkHosts(t, "ParseHostfile(testdata/hostfile)", got, err, want, nil)
}

func TestParseHosts(t *testing.T) {
	tests := []struct {
		in   string
		want []Host
		msg  []string
	}{
		{in: "a:4,b:5", want: []Host{{"a", 4}, {"b", 5}}},
		{in: "a", want: []Host{{"a", 1}}},
		{in: " a:2 , b ,[fd00::1]:3", want: []Host{{"a", 2}, {"b", 1}, {"fd00::1", 3}}},
		{in: "a,a,b,a", want: []Host{{"a", 3}, {"b", 1}}},
		{in: "", msg: []string{"entry 1 is empty"}},
		{in: "a:4,,b", msg: []string{"entry 2 is empty"}},
		{in: "a:4,", msg: []string{"entry 2 is empty"}},
		{in: "a:4,b:x", msg: []string{`entry 2 "b:x"`, `slots "x"`}},
		{in: "a slots=4", msg: []string{`entry 1 "a slots=4"`}},
		{in: "-x:2", msg: []string{"starts with '-'"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseHosts(tt.in)
			checkHosts(t, fmt.Sprintf("ParseHosts(%q)", tt.in), got, err, tt.want, tt.msg)
		})
	}
}

func checkHosts(t *testing.T, call string, got []Host, err error, want []Host, msg []string) {
	t.Helper()
	if msg == nil {
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %v, %v; want %v, nil", call, got, err, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s = %v, nil; want an error", call, got)
	}
	if !errors.Is(err, ErrHostfile) {
		t.Errorf("%s error %q does not wrap ErrHostfile", call, err)
	}
	for _, s := range msg {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s error = %q, want it to contain %q", call, err, s)
		}
	}
}

func TestPlaceRanks(t *testing.T) {
	ab := []Host{{"a", 4}, {"b", 5}}
	tests := []struct {
		name  string
		np    int
		hosts []Host
		want  []string
		msg   string
	}{
		{name: "fill exactly", np: 9, hosts: ab, want: []string{"a", "a", "a", "a", "b", "b", "b", "b", "b"}},
		{name: "first host only", np: 3, hosts: ab, want: []string{"a", "a", "a"}},
		{name: "spill to the second", np: 5, hosts: ab, want: []string{"a", "a", "a", "a", "b"}},
		{name: "one", np: 1, hosts: ab, want: []string{"a"}},
		{name: "one slot each", np: 3, hosts: []Host{{"x", 1}, {"y", 1}, {"z", 1}}, want: []string{"x", "y", "z"}},
		{name: "too many ranks", np: 10, hosts: ab, msg: "-np 10 is more than the 9 slots of 2 hosts"},
		{name: "no hosts", np: 1, hosts: nil, msg: "-np 1 is more than the 0 slots of 0 hosts"},
		{name: "np zero", np: 0, hosts: ab, msg: "-np must be ≥ 1, got 0"},
		{name: "zero slots", np: 1, hosts: []Host{{"a", 0}}, msg: `host "a" has 0 slots`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlaceRanks(tt.np, tt.hosts)
			if tt.msg == "" {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("PlaceRanks(%d, %v) = %v, %v; want %v, nil", tt.np, tt.hosts, got, err, tt.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrHostfile) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("PlaceRanks(%d, %v) = %v, %v; want an ErrHostfile containing %q", tt.np, tt.hosts, got, err, tt.msg)
			}
		})
	}
}

// FuzzParseHostfile checks that ParseHostfile never panics and that what
// it accepts is well formed and survives a round trip through both
// formats: written back as "name slots=N" lines and as a --hosts list.
func FuzzParseHostfile(f *testing.F) {
	for _, s := range []string{
		"a slots=4\nb slots=5\n",
		"a:4\nb:5",
		"# lab\n\nws1 slots=2 # first\r\nuser@ws2:3\nws3\n",
		"[fd00::3]:2\n[fd00::4] slots=1\n",
		"a:2\na slots=3\n",
		"a:\n",
		"a max_slots=4\n",
		"-oProxyCommand=x\n",
		"[fd00::1:2\n",
		"a:65536\na:1\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hosts, err := ParseHostfile(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrHostfile) {
				t.Fatalf("ParseHostfile(%q) error %q does not wrap ErrHostfile", in, err)
			}
			return
		}
		if len(hosts) == 0 {
			t.Fatalf("ParseHostfile(%q) = no hosts, nil", in)
		}
		seen := map[string]bool{}
		var file, list strings.Builder
		total := 0
		for i, h := range hosts {
			if h.Name == "" || strings.HasPrefix(h.Name, "-") || h.Slots < 1 || h.Slots > MaxSlots || seen[h.Name] {
				t.Fatalf("ParseHostfile(%q) host %d = %+v: empty, option-like, out of range or repeated", in, i, h)
			}
			seen[h.Name] = true
			total += h.Slots
			name := h.Name
			if strings.Contains(name, ":") {
				name = "[" + name + "]"
			}
			fmt.Fprintf(&file, "%s slots=%d\n", name, h.Slots)
			if i > 0 {
				list.WriteByte(',')
			}
			fmt.Fprintf(&list, "%s:%d", name, h.Slots)
		}
		again, err := ParseHostfile(strings.NewReader(file.String()))
		if err != nil || !reflect.DeepEqual(again, hosts) {
			t.Fatalf("round trip of %q through\n%s= %v, %v; want %v", in, file.String(), again, err, hosts)
		}
		again, err = ParseHosts(list.String())
		if err != nil || !reflect.DeepEqual(again, hosts) {
			t.Fatalf("ParseHosts(%q) = %v, %v; want %v", list.String(), again, err, hosts)
		}
		if total > 1<<16 {
			return // placing millions of ranks would only slow the fuzzer down
		}
		ranks, err := PlaceRanks(total, hosts)
		if err != nil || len(ranks) != total || ranks[0] != hosts[0].Name || ranks[total-1] != hosts[len(hosts)-1].Name {
			t.Fatalf("PlaceRanks(%d, %v) = %v, %v", total, hosts, ranks, err)
		}
		if _, err := PlaceRanks(total+1, hosts); err == nil {
			t.Fatalf("PlaceRanks(%d, %v) with %d slots succeeded", total+1, hosts, total)
		}
	})
}
