package fed

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// rejoinJob runs on a process that joined the running job for a lost rank
// (Membership.Rejoin): it asks rank 0 to take it back until rank 0
// announces an epoch that holds it, begins that epoch (receiving the
// global state) and returns the round to go on with.
func (j *job) rejoinJob(ctx context.Context) (*roundState, error) {
	mb := j.mem
	ask, _ := json.Marshal(rejoinMsg{Rank: mb.world})
	again := time.NewTicker(rejoinAsk)
	defer again.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	mb.log.Info("asking rank 0 to take this rank back at its next round", "rank", mb.world)
	if err := mb.ctl.PublishControl(ctlRejoin, ask); err != nil {
		return nil, fmt.Errorf("fed: rank %d: ask rank 0 to rejoin: %w", mb.world, err)
	}
	for {
		mb.mu.Lock()
		msg := mb.latest
		mb.mu.Unlock()
		switch {
		case msg != nil && msg.Kind == kindFail:
			return nil, fmt.Errorf("fed: rank 0 ended the job before rank %d rejoined: %s", mb.world, msg.Why)
		case msg != nil && msg.Kind == kindEpoch && slices.Contains(msg.Rejoined, mb.world):
			mb.log.Info("rejoined", "rank", mb.world, "epoch", msg.Epoch, "ranks", msg.Ranks, "round", msg.Round)
			comm, err := j.beginEpoch(ctx, msg.Epoch, msg.Ranks)
			if comm != nil {
				j.useComm(comm)
			}
			r := &roundState{round: msg.Round, start: time.Now()}
			if err != nil {
				if comm == nil || !recoverable(ctx, err) {
					return nil, err
				}
				return j.recover(ctx, r, err)
			}
			return r, nil
		}
		if err, ok := mb.m.Mux.Down()[0]; ok {
			return nil, fmt.Errorf("fed: rank %d: rank 0 (the federator) is gone before it took this rank back: %w", mb.world, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-again.C:
			if err := mb.ctl.PublishControl(ctlRejoin, ask); err != nil {
				return nil, fmt.Errorf("fed: rank %d: ask rank 0 to rejoin: %w", mb.world, err)
			}
		case <-mb.wake:
		case <-t.C:
		}
	}
}

// grow runs on rank 0 at the start of round: if ranks asked to rejoin, it
// readmits them, begins a new epoch of the current ranks and them (the
// announcement of a shrink, naming them as rejoined) and returns the
// round's state to go on with; nil when no rank rejoins.
func (j *job) grow(ctx context.Context, round int) (*roundState, error) {
	mb := j.mem
	asked := mb.rejoiners()
	if len(asked) == 0 {
		return nil, nil
	}
	var back []int
	for _, w := range asked {
		if err := mb.readmit(w); err != nil {
			mb.log.Warn("rank not taken back", "rank", w, "err", err)
			continue
		}
		back = append(back, w)
	}
	if len(back) == 0 {
		return nil, nil
	}
	mb.mu.Lock()
	e := mb.epoch
	next := append(slices.Clone(mb.ranks), back...)
	mb.mu.Unlock()
	slices.Sort(next)
	mb.endEpoch(e, fmt.Errorf("ranks %v rejoin", back))
	msg := &epochMsg{Kind: kindEpoch, Epoch: e + 1, Ranks: next, Round: round, Resume: resumeTrain, Rejoined: back}
	mb.mu.Lock()
	mb.latest = msg
	mb.mu.Unlock()
	mb.publish(msg)
	mb.log.Warn("world grown", "epoch", e+1, "ranks", next, "rejoined", back, "round", round)
	j.rejoined = append(j.rejoined, back...)
	comm, err := j.beginEpoch(ctx, e+1, next)
	if comm != nil {
		j.useComm(comm)
	}
	r := &roundState{round: round, start: time.Now()}
	if err != nil {
		if comm == nil || !recoverable(ctx, err) {
			return nil, err
		}
		return j.recover(ctx, r, err) // a rank was lost as the epoch began: shrink
	}
	return r, nil
}
