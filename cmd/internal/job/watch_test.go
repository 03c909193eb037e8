package job

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fltk-go/fltk/runtime"
	"github.com/fltk-go/fltk/runtime/runtimetest"
)

// TestWatchConnection: the context WatchConnection returns is cancelled,
// with ErrDisconnected as its cause, once the world's server is gone (a
// killed launcher takes its embedded server with it); stop releases it.
func TestWatchConnection(t *testing.T) {
	srv := runtimetest.RunServer(t, nil)
	ws := runtimetest.RunWorld(t, srv, "watch", 2, nil)
	ctx, stop := WatchConnection(t.Context(), ws[1], 10*time.Millisecond)
	defer stop()
	if ctx.Err() != nil {
		t.Fatalf("context done before the server went: %v", context.Cause(ctx))
	}
	srv.Shutdown()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("context not cancelled a minute after the server shut down")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, runtime.ErrDisconnected) {
		t.Errorf("cause = %v, want runtime.ErrDisconnected", cause)
	}

	// stop ends the watch of a healthy world and cancels its context.
	srv2 := runtimetest.RunServer(t, nil)
	ws2 := runtimetest.RunWorld(t, srv2, "watch2", 1, nil)
	ctx2, stop2 := WatchConnection(t.Context(), ws2[0], 10*time.Millisecond)
	stop2()
	if ctx2.Err() == nil || errors.Is(context.Cause(ctx2), runtime.ErrDisconnected) {
		t.Errorf("after stop: err %v, cause %v; want cancelled, not disconnected", ctx2.Err(), context.Cause(ctx2))
	}
}
