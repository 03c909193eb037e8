package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestStartServerListenErrors: a server that cannot listen says why, with
// the operating system's error and the address, straight from StartServer
// (the ready timeout is long, and its error would not name the OS error).
func TestStartServerListenErrors(t *testing.T) {
	defer runtime.SetReadyTimeout(20 * time.Second)()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name     string
		host     string
		port     int
		want     []string
		sentinel error
		errno    error
	}{
		{"busy port", "127.0.0.1", busyPort, []string{"127.0.0.1:" + strconv.Itoa(busyPort), "address already in use"}, runtime.ErrAddrInUse, syscall.EADDRINUSE},
		{"host not local", "203.0.113.7", 0, []string{"203.0.113.7:0", "cannot assign requested address"}, runtime.ErrInvalidConfig, syscall.EADDRNOTAVAIL},
		{"port out of range", "127.0.0.1", 70000, []string{"127.0.0.1:70000", "out of range"}, runtime.ErrInvalidConfig, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := runtime.DefaultServerConfig()
			cfg.Host, cfg.Port = tc.host, tc.port
			srv, err := runtime.StartServer(cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("StartServer succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q is not %v", err, tc.sentinel)
			}
			if tc.errno != nil && !errors.Is(err, tc.errno) {
				t.Errorf("error %q does not wrap %v", err, tc.errno)
			}
			var le *runtime.ListenError
			if !errors.As(err, &le) {
				t.Errorf("error %q is not a *runtime.ListenError", err)
			}
		})
	}
}

// TestStartServerSecondOnPort: a second server on the first one's port
// fails with the bind error.
func TestStartServerSecondOnPort(t *testing.T) {
	defer runtime.SetReadyTimeout(20 * time.Second)()
	first := runtimetest.RunServer(t, nil)
	u := first.NATS().Addr().(*net.TCPAddr)
	cfg := runtime.DefaultServerConfig()
	cfg.Port = u.Port
	srv, err := runtime.StartServer(cfg)
	if err == nil {
		srv.Shutdown()
		t.Fatal("a second server started on the first one's port")
	}
	if !errors.Is(err, runtime.ErrAddrInUse) || !strings.Contains(err.Error(), "bind: address already in use") {
		t.Errorf("got %v, want the bind error", err)
	}
}

// TestJoinInterrupted: a Join whose context is cancelled says it was
// interrupted, not that the rendezvous timed out, on rank 0 (waiting for
// workers), on a worker (waiting for rank 0) and while connecting.
func TestJoinInterrupted(t *testing.T) {
	srv := inProcessServer(t)
	tcpSrv := runtimetest.RunServer(t, nil)
	for _, tc := range []struct {
		name string
		cfg  runtime.Config
	}{
		{"rank 0", runtimetest.Config(srv, "intr0", 0, 3)},
		{"worker", runtimetest.Config(srv, "intr1", 2, 3)},
		{"connecting", func() runtime.Config {
			c := runtimetest.Config(tcpSrv, "intr2", 1, 3)
			c.URL = "nats://127.0.0.1:1" // nothing listens there
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.RendezvousTimeout = time.Hour
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				time.Sleep(300 * time.Millisecond)
				cancel()
			}()
			w, err := runtime.Join(ctx, tc.cfg)
			if err == nil {
				_ = w.Close()
				t.Fatal("Join succeeded")
			}
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Errorf("got %v, want an interruption (context.Canceled)", err)
			}
			if strings.Contains(err.Error(), "within") {
				t.Errorf("error %q reports a timeout that never happened", err)
			}
		})
	}
}

// TestDuplicateRankAfterRendezvous: a process claiming a rank of a world
// already complete fails at once, naming the rank and who holds it.
func TestDuplicateRankAfterRendezvous(t *testing.T) {
	srv := inProcessServer(t)
	runtimetest.RunWorld(t, srv, "dup", 3, nil)
	for _, tc := range []struct {
		rank int
		want string
	}{
		{2, "rank 2 already joined this job (from pid"},
		{0, "rank 0 is claimed twice: by pid"},
	} {
		t.Run(fmt.Sprintf("rank %d", tc.rank), func(t *testing.T) {
			c := runtimetest.Config(srv, "dup", tc.rank, 3)
			c.RendezvousTimeout = time.Hour
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails the test rather than blocking it
			defer cancel()
			w, err := runtime.Join(ctx, c)
			if err == nil {
				_ = w.Close()
				t.Fatalf("a second rank %d joined", tc.rank)
			}
			if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if !errors.Is(err, runtime.ErrRendezvous) {
				t.Errorf("error %q is not ErrRendezvous", err)
			}
		})
	}
}
