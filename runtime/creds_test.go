package runtime_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// operator is a NATS operator with a system account and one account for
// jobs, as nsc would make them.
type operator struct {
	claims      *jwt.OperatorClaims
	sysPub      string
	resolver    *server.MemAccResolver
	accKey      nkeys.KeyPair
	accountJWTs map[string]string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "fltk-test-operator"
	ojwt, err := oc.Encode(okp)
	must(err)
	oc, err = jwt.DecodeOperatorClaims(ojwt)
	must(err)
	o := &operator{claims: oc, resolver: &server.MemAccResolver{}, accountJWTs: map[string]string{}}
	account := func(name string) (nkeys.KeyPair, string) {
		akp, err := nkeys.CreateAccount()
		must(err)
		apub, _ := akp.PublicKey()
		ac := jwt.NewAccountClaims(apub)
		ac.Name = name
		ajwt, err := ac.Encode(okp)
		must(err)
		must(o.resolver.Store(apub, ajwt))
		return akp, apub
	}
	_, o.sysPub = account("SYS")
	o.accKey, _ = account("JOBS")
	return o
}

// creds writes a .creds file for a new user of the jobs account.
func (o *operator) creds(t *testing.T) string {
	t.Helper()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "fltk-job"
	ujwt, err := uc.Encode(o.accKey)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	b, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "job.creds")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runNode starts a plain nats-server in operator mode, one node of the
// cluster "existing", as a user's own cluster would be configured (not
// through runtime.StartServer).
func (o *operator) runNode(t *testing.T, routes []*url.URL) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{o.claims},
		AccountResolver:  o.resolver,
		SystemAccount:    o.sysPub,
		MaxPayload:       2 << 20,
		Cluster:          server.ClusterOpts{Name: "existing", Host: "127.0.0.1", Port: server.RANDOM_PORT},
		Routes:           routes,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// TestCredsExistingCluster runs a world on a 3-node nats-server cluster in
// operator (JWT) mode that the job did not start: every rank connects to
// another node with the job's .creds file, given the cluster's URL list,
// and the collectives conform; a process without the creds, or with a user
// of another operator, cannot connect.
func TestCredsExistingCluster(t *testing.T) {
	o := newOperator(t)
	nodes := []*server.Server{o.runNode(t, nil)}
	seed, _ := url.Parse("nats-route://" + nodes[0].ClusterAddr().String())
	for range 2 {
		nodes = append(nodes, o.runNode(t, []*url.URL{seed}))
	}
	runtimetest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		for i, n := range nodes {
			rz, err := n.Routez(nil)
			if err != nil {
				return err
			}
			peers := map[string]bool{}
			for _, r := range rz.Routes {
				peers[r.RemoteID] = true
			}
			if len(peers) != len(nodes)-1 {
				return fmt.Errorf("node %d has routes to %d nodes, want %d", i, len(peers), len(nodes)-1)
			}
		}
		return nil
	})
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	creds := o.creds(t)
	const np = 3
	config := func(r int, urlList string) runtime.Config {
		c := runtime.DefaultConfig()
		c.JobID, c.Rank, c.WorldSize = "creds", r, np
		c.URL, c.CredsFile = urlList, creds
		c.RendezvousTimeout = 30 * time.Second
		c.HeartbeatInterval, c.LivenessTimeout = 50*time.Millisecond, 3*time.Second
		return c
	}
	ws := make([]*runtime.World, np)
	if err := runtimetest.OnAll(np, func(r int) error {
		// Ranks 1 and 2 connect to nodes 1 and 2; rank 0 is given the
		// whole list, as --nats would (the client picks a node).
		list := urls[r]
		if r == 0 {
			list = strings.Join(urls, ",")
		}
		w, err := runtime.Join(t.Context(), config(r, list))
		ws[r] = w
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		t.Cleanup(func() { _ = w.Close() })
	}
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := runtimetest.OnAll(np, func(r int) error {
		return collectivetest.Conformance(ctx, comms[r], []int{1, 1000, collectivetest.Large()}, []collective.Codec{collective.CodecNone})
	}); err != nil {
		t.Fatal(err)
	}

	other := newOperator(t).creds(t)
	for _, tc := range []struct{ name, creds, want string }{
		{"no creds", "", "Authorization"},
		{"another operator's user", other, "Authorization"},
		{"missing creds file", filepath.Join(t.TempDir(), "nope.creds"), "nope.creds"},
	} {
		c := config(0, urls[1])
		c.JobID, c.WorldSize, c.CredsFile = "intruder", 1, tc.creds
		c.RendezvousTimeout = 5 * time.Second
		w, err := runtime.Join(t.Context(), c)
		if err == nil {
			_ = w.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Join: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
