package job

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fltk-go/fltk/collective"
	"github.com/fltk-go/fltk/collective/collectivetest"
)

// TestLogRejected: a rank that dropped frames says so at the end, with
// the counts; one that dropped none says nothing.
func TestLogRejected(t *testing.T) {
	nw := collectivetest.NewNetwork(t, 2)
	comms := nw.Comms(t, collective.Config{JobID: "mine"})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	LogRejected(log, comms[1])
	if logs.Len() != 0 {
		t.Fatalf("LogRejected with nothing rejected logged %q", logs.String())
	}
	// A frame of another job's barrier, delivered to rank 1.
	other := collectivetest.NewNetwork(t, 2)
	oc := other.Comms(t, collective.Config{JobID: "theirs"})
	other.SetFilter(func(from, to int, f []byte) []byte {
		nw.Inject(from, to, f)
		return f
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- collective.Barrier(ctx, oc[0]) }()
	if err := collective.Barrier(ctx, oc[1]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for comms[1].Rejected().Foreign == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	LogRejected(log, comms[1])
	for _, want := range []string{"frames rejected", "rank=1", "foreign=1", "replayed=0", "corrupt=0"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("LogRejected logged %q, want %q", logs.String(), want)
		}
	}
}
