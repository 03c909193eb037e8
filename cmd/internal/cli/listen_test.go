package cli

import (
	"net"
	"testing"

	"github.com/fltk-go/fltk/runtime"
)

// TestExitCodeListen: an embedded server on a busy port is a runtime
// failure (1), on an address that is not this machine's a configuration
// error (2).
func TestExitCodeListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		host string
		port int
		want int
	}{
		{"busy port", "127.0.0.1", busy.Addr().(*net.TCPAddr).Port, 1},
		{"host not local", "203.0.113.7", 4222, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runtime.DefaultServerConfig()
			cfg.Host, cfg.Port = tc.host, tc.port
			srv, err := runtime.StartServer(cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("StartServer succeeded")
			}
			if got := ExitCode(err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", err, got, tc.want)
			}
		})
	}
}
