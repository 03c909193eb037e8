package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fltk-go/fltk/runtime/internal/shm"
	"github.com/nats-io/nats.go"
)

// Send implements collective.Transport. Frames to ranks sharing memory
// with this one go through their shared-memory queues (large frames through
// a slot, with a pointer in the queue); the others through the server: a
// fan-out to them is one publish on h.<rank> (see handleRemote), or on
// b.<rank> when no rank shares memory with this one or the frame does not
// fit a slot.
func (w *World) Send(ctx context.Context, to int, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if to >= 0 && w.linked(to) {
		return w.linkSend(to, frame)
	}
	if w.shm == nil {
		return w.publish(to, frame)
	}
	var viaShm, viaNATS []int
	for r := range w.size {
		if r == w.rank || (to >= 0 && r != to) {
			continue
		}
		if w.shares(r) {
			viaShm = append(viaShm, r)
		} else {
			viaNATS = append(viaNATS, r)
		}
	}
	if len(viaShm) == 0 || len(frame) > w.shm.Segment().SlotSize() {
		return w.publish(to, frame)
	}
	// A guard, not a read lock: a delivery holding it may send credit,
	// and a recursive read lock deadlocks behind a waiting writer.
	if !w.shmUse.enter() {
		return ErrClosed
	}
	defer w.shmUse.exit()
	msg := frame
	if len(frame) > shm.Threshold {
		var err error
		msg, err = w.shm.Put(frame, int32(len(viaShm)), func() error { return w.sendBlocked(ctx, to) })
		if err != nil {
			return fmt.Errorf("runtime: shared-memory send to %s: %w", rankName(to), err)
		}
	}
	w.shmFrames.Add(1)
	for _, r := range viaShm {
		if err := w.peers[r].Enqueue(w.rank, msg); err != nil {
			if !errors.Is(err, shm.ErrQueueFull) {
				return fmt.Errorf("runtime: shared-memory send to rank %d: %w", r, err)
			}
			if err := w.publish(r, msg); err != nil {
				return err
			}
			continue
		}
		w.sent[r].Add(1)
	}
	switch {
	case len(viaNATS) == 1:
		return w.publish(viaNATS[0], frame)
	case len(viaNATS) > 1:
		// One publish for all ranks not sharing memory with this one: the
		// server fans it out, and a cluster carries it once per route.
		// Ranks sharing memory with this one drop it (handleRemote).
		for _, r := range viaNATS {
			w.sent[r].Add(1)
		}
		subject := w.prefix + ".h." + strconv.Itoa(w.rank)
		if err := w.nc.Publish(subject, frame); err != nil {
			return fmt.Errorf("runtime: publish %s: %w", subject, err)
		}
	}
	return nil
}

// publish sends msg through the server to rank to, or to every other rank.
func (w *World) publish(to int, msg []byte) error {
	var subject string
	if to < 0 {
		subject = w.prefix + ".b." + strconv.Itoa(w.rank)
		for r := range w.sent {
			w.sent[r].Add(1)
		}
	} else {
		subject = w.prefix + ".p." + strconv.Itoa(to) + "." + strconv.Itoa(w.rank)
		w.sent[to].Add(1)
	}
	if err := w.nc.Publish(subject, msg); err != nil {
		return fmt.Errorf("runtime: publish %s: %w", subject, err)
	}
	return nil
}

// Start implements collective.Transport. Frames that arrived since Join are
// delivered first; ranks already down are reported at once.
func (w *World) Start(onFrame func(int, []byte), onDown func(int, error)) error {
	w.mu.Lock()
	if w.onFrame != nil {
		w.mu.Unlock()
		return errors.New("runtime: transport already started")
	}
	for _, f := range w.early {
		onFrame(f.from, f.b)
	}
	w.early = nil
	w.onFrame, w.onDown = onFrame, onDown
	down := make(map[int]error, len(w.down))
	for r, e := range w.down {
		down[r] = e
	}
	w.mu.Unlock()
	for r, e := range down {
		onDown(r, e)
	}
	for r := range w.size {
		if r != w.rank {
			w.checkBye(r)
		}
	}
	return nil
}

// Close leaves the world: it tells the other ranks how many frames it sent
// each (so they can tell a clean exit from a crash), stops the heartbeat and
// closes the connection. It is idempotent.
func (w *World) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.flushLinks()
		w.log.Info("leaving world", "shm_frames", w.shmFrames.Load(), "link_frames", w.LinkFrames())
		w.stop()
		sent := make([]int64, w.size)
		for r := range sent {
			sent[r] = w.sent[r].Load()
		}
		bye := byeMsg{Sent: sent, Down: map[int]string{}}
		w.mu.Lock()
		for r, e := range w.down {
			if r >= 0 && !errors.Is(e, ErrRankLeft) {
				bye.Down[r] = e.Error()
			}
		}
		w.mu.Unlock()
		b, _ := json.Marshal(bye)
		_ = w.nc.Publish(w.prefix+".bye."+strconv.Itoa(w.rank), b)
		err = w.nc.FlushTimeout(5 * time.Second)
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		w.nc.Close()
		w.unmapShm()
		if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			err = fmt.Errorf("runtime: flush on close: %w", err)
		} else {
			err = nil
		}
	})
	return err
}

// stop ends the world's goroutines and waits for them.
func (w *World) stop() {
	close(w.done)
	w.closeLinks()
	if w.shm != nil {
		w.shm.Segment().Wake() // the queue consumer sleeps on its doorbell
	}
	w.wg.Wait()
}

// WaitOthers blocks until every other rank has left or is down, or ctx
// ends. A rank that hosts the job's server calls it before shutting the
// server down.
func (w *World) WaitOthers(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := len(w.down)
		_, self := w.down[-1]
		w.mu.Unlock()
		if self || n >= w.size-1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
