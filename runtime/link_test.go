package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// linkFiles writes a certificate for 127.0.0.1 from ca and the CA, and
// returns the three paths (cert, key, CA).
func linkFiles(t *testing.T, ca *runtime.CA) (string, string, string) {
	t.Helper()
	dir := t.TempDir()
	cert, key, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")}
	for i, b := range [][]byte{cert, key, ca.CertPEM()} {
		if err := os.WriteFile(paths[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return paths[0], paths[1], paths[2]
}

// TestDirectLinks runs the collectives' conformance suite over three
// routed servers, two ranks per host, with direct links between the hosts
// (plain and mutual TLS): results are the in-memory reference's bits, the
// host-aware schedules' frames between hosts cross the links, and closing
// reports no rank down.
func TestDirectLinks(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			var mutate func(int, *runtime.ServerConfig)
			var cert, key, caFile string
			if useTLS {
				ca, err := runtime.NewCA("links")
				if err != nil {
					t.Fatal(err)
				}
				mutate, caFile = tlsCluster(t, ca)
				cert, key, _ = linkFiles(t, ca)
			}
			srvs := runtimetest.RunCluster(t, 3, mutate)
			const np = 6
			ws := clusterWorld(t, srvs, "links", np, func(c *runtime.Config) {
				c.CAFile, c.LinkAddr, c.LinkCertFile, c.LinkKeyFile = caFile, "127.0.0.1", cert, key
			})
			comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			if err := runtimetest.OnAll(np, func(r int) error {
				return collectivetest.Conformance(ctx, comms[r], []int{1, 1000, collectivetest.Large()}, []collective.Codec{collective.CodecNone, collective.CodecInt8})
			}); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, w := range ws {
				total += w.LinkFrames()
			}
			if total == 0 {
				t.Fatal("no frame crossed a direct link")
			}
			for r, w := range ws {
				if d := w.Down(); len(d) != 0 {
					t.Errorf("rank %d: ranks down before close: %v", r, d)
				}
			}
		})
	}
}

// TestDirectLinkRefusesStrangers: a connection to a rank's link listener
// with another job's id, a wrong token, garbage, or (under TLS) no client
// certificate is refused, logged, and delivers nothing; the world goes on.
func TestDirectLinkRefusesStrangers(t *testing.T) {
	srvs := runtimetest.RunCluster(t, 2, nil)
	var logMu sync.Mutex
	var logBuf bytes.Buffer
	ws := clusterWorld(t, srvs, "strangers", 2, func(c *runtime.Config) {
		c.LinkAddr = "127.0.0.1"
		if c.Rank == 1 {
			c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
		}
	})
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
	addr := runtime.LinkAddrOf(ws[1])
	if addr == "" {
		t.Fatal("rank 1 has no link listener")
	}
	greet := func(job, token string, from, to uint16) []byte {
		b := append([]byte("FLTKLNK1"), byte(from>>8), byte(from), byte(to>>8), byte(to))
		b = append(append(b, byte(len(job))), job...)
		return append(append(b, byte(len(token))), token...)
	}
	token := srvs[0].Token()
	for _, tc := range []struct {
		name  string
		hello []byte
		why   string
	}{
		{"other job", greet("otherjob", token, 0, 1), `job "otherjob"`},
		{"wrong token", greet("strangers", token+"x", 0, 1), "wrong token"},
		{"wrong receiver", greet("strangers", token, 0, 0), "meant for rank 0"},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), "not an fltk link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(tc.hello); err != nil {
				t.Fatal(err)
			}
			ans := make([]byte, 256)
			n, _ := c.Read(ans)
			if n < 2 || ans[0] != 1 || !strings.Contains(string(ans[2:n]), tc.why) {
				t.Fatalf("answer %q, want a refusal naming %q", ans[:n], tc.why)
			}
		})
	}
	logMu.Lock()
	logged := logBuf.String()
	logMu.Unlock()
	if !strings.Contains(logged, "direct link refused") || !strings.Contains(logged, "wrong token") {
		t.Errorf("refusals not logged:\n%s", logged)
	}
	// The world still works, over the link.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := runtimetest.OnAll(2, func(r int) error {
		v := make([]float32, 70000)
		for i := range v {
			v[i] = float32(r + 1)
		}
		if err := collective.AllReduce(ctx, comms[r], v, v, collective.Sum); err != nil {
			return err
		}
		for i := range v {
			if v[i] != 3 {
				return fmt.Errorf("allreduce gave v[%d] = %v", i, v[i])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ws[0].LinkFrames()+ws[1].LinkFrames() == 0 {
		t.Error("no frame crossed the direct link")
	}
}

// TestDirectLinkDialFails: a peer whose listener is gone gets its frames
// through the server (logged), with the same results.
func TestDirectLinkDialFails(t *testing.T) {
	srvs := runtimetest.RunCluster(t, 2, nil)
	ws := clusterWorld(t, srvs, "nodial", 2, func(c *runtime.Config) { c.LinkAddr = "127.0.0.1" })
	runtime.CloseLinkListener(ws[1])
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := runtimetest.OnAll(2, func(r int) error {
		v := make([]float32, 70000)
		for i := range v {
			v[i] = float32(r + i)
		}
		if err := collective.Broadcast(ctx, comms[r], v, 0); err != nil {
			return err
		}
		for i := range v {
			if v[i] != float32(i) {
				return fmt.Errorf("v[%d] = %v", i, v[i])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := ws[0].LinkFrames(); n != 0 {
		t.Errorf("rank 0 sent %d frames over a link whose listener is closed", n)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
