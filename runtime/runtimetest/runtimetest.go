// Package runtimetest starts embedded NATS servers and whole worlds inside
// a test process, and waits for conditions (CheckFor).
//
// # Usage
//
//	srv := runtimetest.RunServer(t, nil)
//	worlds := runtimetest.RunWorld(t, srv, "job", 4, nil)
//	comms := runtimetest.Comms(t, worlds, collective.Config{})
//	runtimetest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error { … })
package runtimetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime"
)

// The World must keep offering collective's optional interfaces; a changed
// method signature would silently fall back to frames.
var (
	_ collective.Poller           = (*runtime.World)(nil)
	_ collective.ScratchTransport = (*runtime.World)(nil)
	_ collective.HostTransport    = (*runtime.World)(nil)
	_ collective.RejectListener   = (*runtime.World)(nil)
)

// RunServer starts an embedded server listening on 127.0.0.1 and a free
// port (cfg nil: defaults with a random token) and shuts it down with the
// test.
func RunServer(tb testing.TB, cfg *runtime.ServerConfig) *runtime.Server {
	tb.Helper()
	c := runtime.DefaultServerConfig()
	if cfg != nil {
		c = *cfg
	}
	s, err := runtime.StartServer(c)
	if err != nil {
		tb.Fatalf("runtimetest: %v", err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// RunCluster starts n embedded servers on 127.0.0.1, each with its own
// client and route port, joined into one NATS cluster named "fltk-test"
// (nodes 1 … n−1 route to node 0 and learn the others by gossip), waits
// until every node has a route to every other, and shuts them down with the
// test. mutate, if not nil, adjusts node i's config (Cluster is set when
// it is called; a Routes list it leaves empty is filled in).
func RunCluster(tb testing.TB, n int, mutate func(i int, c *runtime.ServerConfig)) []*runtime.Server {
	tb.Helper()
	srvs := make([]*runtime.Server, n)
	token := runtime.NewToken()
	for i := range n {
		c := runtime.DefaultServerConfig()
		c.Token = token
		c.Cluster = &runtime.ClusterConfig{Name: "fltk-test"}
		if i > 0 {
			c.Cluster.Routes = []string{srvs[0].ClusterURL()}
		}
		if mutate != nil {
			mutate(i, &c)
		}
		srvs[i] = RunServer(tb, &c)
	}
	CheckFor(tb, 20*time.Second, 10*time.Millisecond, func() error {
		for i, s := range srvs {
			if p := s.ClusterPeers(); p != n-1 {
				return fmt.Errorf("node %d has routes to %d nodes, want %d", i, p, n-1)
			}
		}
		return nil
	})
	return srvs
}

// Config returns the configuration of rank r in a world of n ranks on srv,
// with fast liveness timings for tests. mutate, if not nil, adjusts it.
func Config(srv *runtime.Server, job string, r, n int) runtime.Config {
	c := runtime.DefaultConfig()
	c.JobID, c.Rank, c.WorldSize = job, r, n
	c.URL, c.Token = srv.URL(), srv.Token()
	if c.URL == "" {
		c.Server = srv
	}
	c.RendezvousTimeout = 30 * time.Second
	c.HeartbeatInterval = 50 * time.Millisecond
	c.LivenessTimeout = 3 * time.Second
	return c
}

// RunWorld joins n ranks of job to srv concurrently and closes them with
// the test. mutate, if not nil, adjusts each rank's Config.
func RunWorld(tb testing.TB, srv *runtime.Server, job string, n int, mutate func(*runtime.Config)) []*runtime.World {
	tb.Helper()
	ws := make([]*runtime.World, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			c := Config(srv, job, r, n)
			if mutate != nil {
				mutate(&c)
			}
			ws[r], errs[r] = runtime.Join(context.Background(), c)
		})
	}
	wg.Wait()
	for r, w := range ws {
		if w != nil {
			tb.Cleanup(func() { _ = w.Close() })
		}
		if errs[r] != nil {
			tb.Fatalf("runtimetest: rank %d: %v", r, errs[r])
		}
	}
	return ws
}

// Comms returns a Comm per world, closed with the test.
func Comms(tb testing.TB, ws []*runtime.World, cfg collective.Config) []*collective.Comm {
	tb.Helper()
	cs := make([]*collective.Comm, len(ws))
	for r, w := range ws {
		cc := cfg
		cc.JobID = w.JobID()
		c, err := collective.New(w, cc)
		if err != nil {
			tb.Fatalf("runtimetest: rank %d: %v", r, err)
		}
		tb.Cleanup(func() { _ = c.Close() })
		cs[r] = c
	}
	return cs
}

// OnAll runs f for every rank concurrently and returns the first error,
// naming its rank.
func OnAll(n int, f func(r int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() { errs[r] = f(r) })
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return fmt.Errorf("rank %d: %w", r, err)
		}
	}
	return nil
}

// CheckFor calls f every every until it returns nil, and fails the test
// with f's last error when total has passed. Tests wait with it for a
// condition instead of sleeping for a fixed time (nats-server's checkFor).
// It must be called from the test's goroutine.
func CheckFor(tb testing.TB, total, every time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("runtimetest: no success within %v: %v", total, err)
		}
		time.Sleep(every)
	}
}
