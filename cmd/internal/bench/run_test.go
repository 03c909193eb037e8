package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestRunModes: every mode measures every op and size on a real world
// (shared memory, an in-process NATS server) and rank 0 prints one row
// each; the others print nothing.
func TestRunModes(t *testing.T) {
	const np = 3
	ws := runtimetest.RunWorld(t, runtimetest.RunServer(t, nil), "bench", np, nil)
	comms := runtimetest.Comms(t, ws, collective.Config{})
	for _, c := range []struct {
		name string
		mode Mode
	}{
		{"plain", Mode{}},
		{"reduce-each", Mode{ReduceEach: true}},
		{"cold", Mode{Cold: time.Millisecond, ReduceEach: true}},
		{"idle", Mode{Idle: time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			outs := make([]bytes.Buffer, np)
			if err := runtimetest.OnAll(np, func(r int) error {
				return Run(ctx, comms[r], []string{"bcast", "gather", "allreduce", "barrier"}, []int{4096, 8192}, 3, c.mode, nil, &outs[r])
			}); err != nil {
				t.Fatal(err)
			}
			rows := strings.Split(strings.TrimSpace(outs[0].String()), "\n")
			if len(rows) != 7 { // three ops at two sizes, the barrier once
				t.Fatalf("rank 0 printed %d rows, want 7:\n%s", len(rows), outs[0].String())
			}
			for _, row := range rows {
				if f := strings.Split(row, ","); len(f) != 7 || f[0] != "fltk" || f[1] != "3" || f[4] == "0.000" {
					t.Errorf("bad row %q", row)
				}
			}
			for r := 1; r < np; r++ {
				if outs[r].Len() != 0 {
					t.Errorf("rank %d printed %q", r, outs[r].String())
				}
			}
		})
	}
}
