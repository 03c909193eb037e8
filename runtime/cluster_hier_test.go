package runtime_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestClusterHostAwareCollectives runs the collectives' conformance suite with
// the host-aware schedules over a real 3-node NATS cluster, two ranks per
// node: the worlds report their hosts, the Comms use them.
func TestClusterHostAwareCollectives(t *testing.T) {
	srvs := runtimetest.RunCluster(t, 3, nil)
	const np = 6
	ws := runtimetest.RunWorld(t, srvs[0], "hier", np, func(c *runtime.Config) {
		node := c.Rank / 2
		c.URL, c.Token = srvs[node].URL(), srvs[node].Token()
		c.Host = fmt.Sprintf("host%d", node)
		c.LivenessTimeout = 20 * time.Second
	})
	comms := runtimetest.Comms(t, ws, collective.Config{ChunkBytes: 64 << 10, SmallBytes: 4096})
	if comms[0].Hosts() != 3 {
		t.Fatalf("Hosts() = %d", comms[0].Hosts())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := runtimetest.OnAll(np, func(r int) error {
		return collectivetest.Conformance(ctx, comms[r], []int{1, 1000, collectivetest.Large()}, []collective.Codec{collective.CodecNone, collective.CodecInt8})
	}); err != nil {
		t.Fatal(err)
	}
}
