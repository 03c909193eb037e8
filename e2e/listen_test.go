package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestSingleRootCannotListen: a rank 0 whose server cannot listen exits at
// once with the operating system's error: 1 when another process (a first
// rank 0) holds the port, 2 when the host is not this machine's.
func TestSingleRootCannotListen(t *testing.T) {
	cfg := writeConfig(t, "[job]\nworld_size = 2\n[runtime]\nrendezvous_timeout = \"5m\"\n")
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	busy := "127.0.0.1:" + strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		name, master string
		code         int
		want         string
	}{
		{"busy port", busy, 1, "listen tcp " + busy + ": bind: address already in use"},
		{"host not local", "203.0.113.7:4222", 2, "listen tcp 203.0.113.7:4222: bind: cannot assign requested address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, []string{"FLTK_TOKEN=s3cret"}, "fltk", "single", cfg, "--rank=0", "--master", tc.master)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}
