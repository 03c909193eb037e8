package runtime_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

func TestCAIssue(t *testing.T) {
	ca, err := runtime.NewCA("job1")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue("127.0.0.1", "node-a.example")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM()) {
		t.Fatal("CA PEM has no certificate")
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
		t.Errorf("IP SANs %v, want 127.0.0.1", cert.IPAddresses)
	}
	if !slices.Equal(cert.DNSNames, []string{"node-a.example"}) {
		t.Errorf("DNS SANs %v, want [node-a.example]", cert.DNSNames)
	}
	for _, tc := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{{"127.0.0.1", x509.ExtKeyUsageServerAuth}, {"node-a.example", x509.ExtKeyUsageServerAuth}, {"", x509.ExtKeyUsageClientAuth}} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: tc.name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("Verify(%q, %v): %v", tc.name, tc.usage, err)
		}
	}
	other, _ := runtime.NewCA("job2")
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CertPEM())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: otherRoots}); err == nil {
		t.Error("a certificate verified against another job's CA")
	}
	if _, _, err := ca.Issue(); err == nil {
		t.Error("Issue() with no hosts succeeded")
	}
}

// tlsCluster returns the mutate function of a TLS cluster whose nodes'
// certificates come from ca, and the path of the CA file for clients.
func tlsCluster(t *testing.T, ca *runtime.CA) (func(int, *runtime.ServerConfig), string) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(_ int, c *runtime.ServerConfig) {
		cert, key, err := ca.Issue("127.0.0.1", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		c.TLS = &runtime.TLSConfig{CAPEM: ca.CertPEM(), CertPEM: cert, KeyPEM: key}
	}, caFile
}

// clusterWorld joins n ranks, rank r through node r % len(srvs) with host
// identity "host<r % len(srvs)>".
func clusterWorld(t *testing.T, srvs []*runtime.Server, job string, n int, mutate func(*runtime.Config)) []*runtime.World {
	t.Helper()
	return runtimetest.RunWorld(t, srvs[0], job, n, func(c *runtime.Config) {
		node := c.Rank % len(srvs)
		c.URL, c.Token = srvs[node].URL(), srvs[node].Token()
		c.Host = fmt.Sprintf("host%d", node)
		if mutate != nil {
			mutate(c)
		}
	})
}

// TestClusterWorld joins ranks through three routed servers (token auth,
// with and without TLS) into one world and checks the host roster and the
// collectives, bit for bit, against the in-memory reference.
func TestClusterWorld(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			var mutate func(int, *runtime.ServerConfig)
			var caFile string
			if useTLS {
				ca, err := runtime.NewCA("clusterworld")
				if err != nil {
					t.Fatal(err)
				}
				mutate, caFile = tlsCluster(t, ca)
			}
			srvs := runtimetest.RunCluster(t, 3, mutate)
			const np = 6
			ws := clusterWorld(t, srvs, "cw", np, func(c *runtime.Config) { c.CAFile = caFile })
			for r, w := range ws {
				if got, want := w.Hosts(), []string{"host0", "host1", "host2"}; !slices.Equal(got, want) {
					t.Errorf("rank %d: Hosts() = %v, want %v", r, got, want)
				}
				for q := range np {
					if got := w.HostOf(q); got != q%3 {
						t.Errorf("rank %d: HostOf(%d) = %d, want %d", r, q, got, q%3)
					}
				}
			}
			comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := runtimetest.OnAll(np, func(r int) error {
				return collectivetest.Conformance(ctx, comms[r], []int{1, 1000, 70000}, []collective.Codec{collective.CodecNone})
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
