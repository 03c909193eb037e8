package fed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fltk-go/fltk/collective"
)

// Membership lets a job go on when worker ranks are lost
// (runtime.on_rank_failure = "continue"): set [Config.Membership] and pass
// [Run] the epoch-0 Comm of Mux (Mux.NewComm(0, every rank, Comm)).
//
// # Shrinking the world
//
// When a round fails on some rank because a rank died, was cut off or
// missed Config.RoundTimeout (its collectives fail fast, as without
// Membership), the world shrinks to the live ranks under a new epoch, as
// ULFM's MPI_Comm_shrink:
//
//  1. A worker whose round failed tells rank 0 it is alive
//     (control subject fed.alive, with its epoch). Rank 0, when its own
//     round fails or a worker says so, ends the epoch: its Comm fails
//     every call ([collective.Mux.End]) and it publishes "epoch e ended"
//     (fed.epoch), so that every worker stops its round at once and says
//     it is alive too.
//  2. Rank 0 waits (at most Wait) until every rank of the epoch said it is
//     alive or was reported down, then publishes "epoch e+1 = ranks" on
//     fed.epoch. A rank reported down, or silent at the deadline, is left
//     out; after a round that timed out, so is every worker that had not
//     finished its local training (it was late). The ranks left out are
//     reported down on every survivor ([Control.Exclude]): a rank that was
//     stopped and resumed later is never heard again; it learns from rank
//     0 that it was left out and exits with [ErrLeftOut].
//  3. Every survivor builds the Comm of epoch e+1 over the survivors,
//     renumbered (rank 0 stays 0), with a job tag of its own: frames of
//     epoch e that arrive late are dropped and counted
//     ([collective.Mux.DeadFrames]), never mixed in. Rank 0 broadcasts the
//     global state, and the round is redone: client c now lives on the
//     c mod n-th live worker. A round whose update rank 0 had already
//     aggregated (the failure hit the broadcast of the new global state or
//     the evaluation) is not trained again: it goes on from the evaluation.
//
// Redoing is simpler than closing the round with the updates that arrived,
// and deterministic: a partially completed reduce cannot be separated into
// the updates it holds. What a lost rank held is lost: its clients'
// optimizer states (train.keep_optimizer_state) start afresh on their new
// workers, and its error-feedback residual (lossy codecs) is gone.
//
// # Growing the world
//
// A process started again for a lost rank (by hand, or by fltk-launch
// --restart) joins the running world (package runtime accepts it when its
// rank is down) and runs with Membership.Rejoin: it asks rank 0 to take it
// back (control subject fed.rejoin, repeated every second). At the start
// of its next round, rank 0 readmits the ranks that asked
// ([Control.Readmit]: their down state, liveness and frame counts start
// afresh), ends the epoch and announces "epoch e+1 = ranks" naming them
// as rejoined, exactly as a shrink: the workers stop the round they began
// and every rank, the rejoined ones too, builds the new epoch's Comm,
// receives the global state and trains the round again. Clients are
// reassigned over the grown set of workers (c mod n again); a rejoined
// rank's clients start with fresh optimizer states, their learning-rate
// schedule is recounted from the seed. The round's record names the
// rejoined ranks ([RoundResult.Rejoined]).
//
// The job still fails, naming why, when rank 0 is lost (the workers wait
// at most Wait for it), when fewer than Config.MinWorkers workers remain, or when
// a round has no update at all.
type Membership struct {
	Mux     *collective.Mux
	Control Control
	// Comm configures each epoch's Comm (its JobID is set per epoch).
	Comm collective.Config
	// Wait bounds rank 0's wait for the ranks of a failed epoch, and the
	// workers' wait for rank 0's decision. Default 30s; it should exceed
	// the liveness timeout, so that a dead rank is reported down in time.
	Wait time.Duration
	// Log receives the membership changes (nil: the Mux's logger).
	Log *slog.Logger
	// Rejoin: this process joined the running job for a rank it had lost
	// (package runtime's World.Rejoined); Run's Comm is the Mux's Lobby.
	// It asks rank 0 to take it back, and rank 0 does at its next round
	// boundary (see Membership's "Growing the world").
	Rejoin bool
}

// Control is the control channel of a world and its verdicts on ranks:
// package runtime's World.
type Control interface {
	PublishControl(name string, b []byte) error
	SubscribeControl(name string, f func(b []byte)) (stop func(), err error)
	Exclude(rank int, why string)
	// Readmit lets a rank lost before be heard again (a new process for
	// it joined); on rank 0 it fails unless one did.
	Readmit(rank int) error
}

// Control subjects.
const (
	ctlAlive  = "fed.alive"  // worker → rank 0: aliveMsg
	ctlEpoch  = "fed.epoch"  // rank 0 → all: epochMsg
	ctlRejoin = "fed.rejoin" // a rejoining rank → rank 0: rejoinMsg
)

// rejoinAsk is how often a rejoining rank repeats its request, and
// rejoinFresh how recent rank 0 wants the latest to take it back.
const (
	rejoinAsk   = time.Second
	rejoinFresh = 3 * rejoinAsk
)

type rejoinMsg struct {
	Rank int `json:"rank"` // world rank
}

type aliveMsg struct {
	Epoch   int    `json:"epoch"`
	Rank    int    `json:"rank"` // world rank
	Why     string `json:"why"`
	Timeout bool   `json:"timeout,omitempty"` // the round's deadline passed on this rank
	Trained bool   `json:"trained,omitempty"` // the rank had finished its local training
}

// epochMsg kinds.
const (
	kindEnd   = "end"   // Epoch ended: stop the round, say you are alive
	kindEpoch = "epoch" // Epoch begins with Ranks; resume Round at Resume
	kindFail  = "fail"  // the job fails: Why
)

type epochMsg struct {
	Kind   string         `json:"kind"`
	Epoch  int            `json:"epoch"`
	Ranks  []int          `json:"ranks,omitempty"`
	Round  int            `json:"round,omitempty"`
	Resume string         `json:"resume,omitempty"` // "train" or "evaluate"
	Lost   map[int]string `json:"lost,omitempty"`   // world rank → why it was left out
	Late   []int          `json:"late,omitempty"`   // of Lost, those that missed the round's deadline
	Why    string         `json:"why,omitempty"`
	// Rejoined are the ranks of Ranks taken back (new processes for ranks
	// lost before): every rank readmits them.
	Rejoined []int `json:"rejoined,omitempty"`
}

// Where a round resumes in a new epoch.
const (
	resumeTrain    = "train"
	resumeEvaluate = "evaluate"
)

// members is a rank's view of the job's membership.
type members struct {
	m     *Membership
	ctl   Control
	log   *slog.Logger
	world int // this rank's world rank
	stop  func()

	mu     sync.Mutex // guards the fields below
	epoch  int
	ranks  []int                    // world ranks of the current epoch, by rank
	alive  map[int]map[int]aliveMsg // rank 0: epoch → world rank → its message
	latest *epochMsg                // the latest announcement (rank 0: sent; workers: received)
	cancel context.CancelFunc       // cancels the current round
	ended  bool                     // the current epoch ended
	ahead  int                      // worker: the latest epoch rank 0 ended, maybe one this rank has not begun
	wake   chan struct{}            // signalled on news (buffered, 1)
	rejoin map[int]time.Time        // rank 0: ranks asking to rejoin, and when they last asked
	taken  int                      // worker: the latest epoch whose rejoined ranks were readmitted
}

// newMembers subscribes to the control subjects of rank world (0: the
// federator) in a world of size ranks.
func newMembers(m *Membership, world, size int) (*members, error) {
	if m.Mux == nil || m.Control == nil {
		return nil, fmt.Errorf("%w: Membership needs a Mux and a Control", ErrConfig)
	}
	if m.Wait <= 0 {
		m.Wait = 30 * time.Second
	}
	mb := &members{m: m, ctl: m.Control, log: m.Log, world: world, alive: map[int]map[int]aliveMsg{}, ahead: -1,
		wake: make(chan struct{}, 1), rejoin: map[int]time.Time{}}
	if mb.log == nil {
		mb.log = m.Mux.Logger()
	}
	if m.Rejoin {
		mb.epoch = -1 // in no epoch until rank 0 takes it back
	} else {
		for r := range size {
			mb.ranks = append(mb.ranks, r)
		}
	}
	if world == 0 {
		stopAlive, err := m.Control.SubscribeControl(ctlAlive, mb.onAlive)
		if err != nil {
			return nil, fmt.Errorf("fed: %w", err)
		}
		stopRejoin, err := m.Control.SubscribeControl(ctlRejoin, mb.onRejoin)
		if err != nil {
			stopAlive()
			return nil, fmt.Errorf("fed: %w", err)
		}
		mb.stop = func() { stopAlive(); stopRejoin() }
		return mb, nil
	}
	var err error
	if mb.stop, err = m.Control.SubscribeControl(ctlEpoch, mb.onEpoch); err != nil {
		return nil, fmt.Errorf("fed: %w", err)
	}
	return mb, nil
}

func (mb *members) close() {
	if mb.stop != nil {
		mb.stop()
	}
}

func (mb *members) signal() {
	select {
	case mb.wake <- struct{}{}:
	default:
	}
}

// setRound registers the cancel function of the current round; the end of
// the epoch calls it.
func (mb *members) setRound(cancel context.CancelFunc) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.cancel = cancel
	if mb.ended && cancel != nil {
		cancel()
	}
}

// endEpoch ends epoch e (if current): its Comm fails and the round stops.
// mb.mu must not be held.
func (mb *members) endEpoch(e int, why error) {
	mb.mu.Lock()
	if e != mb.epoch || mb.ended {
		mb.mu.Unlock()
		return
	}
	mb.ended = true
	cancel := mb.cancel
	mb.mu.Unlock()
	mb.m.Mux.End(e, why)
	if cancel != nil {
		cancel()
	}
}

// onAlive, on rank 0, records a worker's report that its round failed.
func (mb *members) onAlive(b []byte) {
	var a aliveMsg
	if err := json.Unmarshal(b, &a); err != nil {
		mb.log.Warn("malformed control message", "subject", ctlAlive, "err", err)
		return
	}
	mb.mu.Lock()
	if mb.alive[a.Epoch] == nil {
		mb.alive[a.Epoch] = map[int]aliveMsg{}
	}
	mb.alive[a.Epoch][a.Rank] = a
	cur, latest := mb.epoch, mb.latest
	member := slices.Contains(mb.ranks, a.Rank)
	mb.mu.Unlock()
	mb.signal()
	switch {
	case a.Epoch == cur:
		mb.endEpoch(cur, fmt.Errorf("rank %d reported: %s", a.Rank, a.Why))
	case a.Epoch < cur && !member && latest != nil:
		// A rank left out (stopped, then resumed) asks late: tell it again.
		mb.publish(latest)
	}
}

// onRejoin, on rank 0, records a rank's request to rejoin.
func (mb *members) onRejoin(b []byte) {
	var r rejoinMsg
	if err := json.Unmarshal(b, &r); err != nil {
		mb.log.Warn("malformed control message", "subject", ctlRejoin, "err", err)
		return
	}
	mb.mu.Lock()
	mb.rejoin[r.Rank] = time.Now()
	mb.mu.Unlock()
}

// rejoiners returns, on rank 0, the ranks outside the current epoch that
// asked to rejoin lately, and forgets them.
func (mb *members) rejoiners() []int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var rs []int
	for r, t := range mb.rejoin {
		if time.Since(t) <= rejoinFresh && !slices.Contains(mb.ranks, r) {
			rs = append(rs, r)
		}
		delete(mb.rejoin, r)
	}
	slices.Sort(rs)
	return rs
}

// readmit readmits rank on the World and the Mux.
func (mb *members) readmit(rank int) error {
	if err := mb.ctl.Readmit(rank); err != nil {
		return err
	}
	mb.m.Mux.Readmit(rank)
	return nil
}

// onEpoch, on a worker, takes rank 0's announcements.
func (mb *members) onEpoch(b []byte) {
	var msg epochMsg
	if err := json.Unmarshal(b, &msg); err != nil {
		mb.log.Warn("malformed control message", "subject", ctlEpoch, "err", err)
		return
	}
	mb.mu.Lock()
	var back []int
	if msg.Kind == kindEpoch && msg.Epoch > mb.taken {
		// Readmitted once, as soon as heard of: a rank of the new epoch
		// may send before this rank begins it.
		mb.taken = msg.Epoch
		back = msg.Rejoined
	}
	mb.mu.Unlock()
	for _, r := range back {
		if r != mb.world {
			if err := mb.readmit(r); err != nil {
				mb.log.Warn("rejoined rank not readmitted", "rank", r, "err", err)
			}
		}
	}
	mb.mu.Lock()
	cur := mb.epoch
	if msg.Kind != kindEnd && msg.Epoch > cur && (mb.latest == nil || msg.Epoch >= mb.latest.Epoch) {
		mb.latest = &msg
	}
	if msg.Kind == kindEnd {
		mb.ahead = max(mb.ahead, msg.Epoch) // an epoch this rank is about to begin may be over already
	}
	mb.mu.Unlock()
	mb.signal()
	switch {
	case msg.Kind == kindEnd && msg.Epoch == cur:
		mb.endEpoch(cur, errors.New("rank 0 ended it"))
	case msg.Kind != kindEnd && msg.Epoch > cur:
		mb.endEpoch(cur, fmt.Errorf("rank 0 began epoch %d", msg.Epoch))
	}
}

func (mb *members) publish(msg *epochMsg) {
	b, _ := json.Marshal(msg)
	if err := mb.ctl.PublishControl(ctlEpoch, b); err != nil {
		mb.log.Warn("control message not sent", "err", err)
	}
}

// recoverable reports whether a round that failed with err can be redone
// in a shrunk world: a collective failed because a rank is down, the
// epoch ended, or the round's deadline passed. parent is the job's
// context: when it is done, nothing is recovered.
func recoverable(parent context.Context, err error) bool {
	if parent.Err() != nil {
		return false
	}
	if errors.Is(err, collective.ErrEpochEnded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var re *collective.RankError
	return errors.As(err, &re) && re.Rank >= 0
}

// resumePoint is where a new epoch resumes the job.
type resumePoint struct {
	round  int
	resume string
	lost   map[int]string
	late   []int
}

// shrink ends the current epoch after a round failed with cause and
// begins the next one; it returns the new epoch's Comm (already holding
// the global state broadcast by rank 0) and where to resume. r is the
// failed round's state on this rank.
func (j *job) shrink(ctx context.Context, r *roundState, cause error) (*collective.Comm, resumePoint, error) {
	mb := j.mem
	mb.mu.Lock()
	e := mb.epoch
	mb.mu.Unlock()
	if mb.world == 0 {
		return j.shrinkRoot(ctx, r, e, cause)
	}
	return j.shrinkWorker(ctx, r, e, cause)
}

// shrinkRoot decides the next epoch, on rank 0.
func (j *job) shrinkRoot(ctx context.Context, r *roundState, e int, cause error) (*collective.Comm, resumePoint, error) {
	mb := j.mem
	mb.endEpoch(e, cause)
	mb.publish(&epochMsg{Kind: kindEnd, Epoch: e})
	mb.log.Warn("round failed; shrinking the world", "round", r.round, "epoch", e, "err", cause)
	deadline := time.Now().Add(mb.m.Wait)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	// Said again now and then, for a worker that subscribed late (it was
	// still loading its data when the epoch ended).
	again := time.NewTicker(time.Second)
	defer again.Stop()
	var alive map[int]aliveMsg
	var down map[int]error
	for {
		down = mb.m.Mux.Down()
		if err, ok := down[-1]; ok {
			return nil, resumePoint{}, fmt.Errorf("fed: rank 0 lost its connection: %w", err)
		}
		mb.mu.Lock()
		alive = maps.Clone(mb.alive[e])
		ranks := mb.ranks
		mb.mu.Unlock()
		undecided := 0
		for _, w := range ranks[1:] {
			if _, ok := alive[w]; !ok && down[w] == nil {
				undecided++
			}
		}
		if undecided == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, resumePoint{}, ctx.Err()
		case <-t.C:
		case <-again.C:
			mb.publish(&epochMsg{Kind: kindEnd, Epoch: e})
		case <-mb.wake:
		}
	}
	// After a round that timed out, the workers that had not finished
	// training were late: left out, or the round would time out again.
	timeout := errors.Is(cause, context.DeadlineExceeded)
	for _, a := range alive {
		timeout = timeout || a.Timeout
	}
	mb.mu.Lock()
	old := mb.ranks
	mb.mu.Unlock()
	next := []int{0}
	lost := map[int]string{}
	var late []int
	for _, w := range old[1:] {
		a, ok := alive[w]
		switch {
		case down[w] != nil:
			lost[w] = down[w].Error()
		case !ok:
			lost[w] = fmt.Sprintf("did not answer within %v", mb.m.Wait)
		case timeout && !a.Trained:
			lost[w] = fmt.Sprintf("missed the round's deadline (federated.round_timeout %v)", j.cfg.RoundTimeout)
			late = append(late, w)
		default:
			next = append(next, w)
		}
	}
	for _, w := range slices.Sorted(maps.Keys(lost)) {
		mb.ctl.Exclude(w, lost[w])
	}
	if workers := len(next) - 1; workers < j.cfg.MinWorkers {
		why := fmt.Sprintf("%d worker rank(s) left (%v), federated.min_workers is %d; lost: %s",
			workers, next[1:], j.cfg.MinWorkers, describeLost(lost))
		mb.publish(&epochMsg{Kind: kindFail, Epoch: e + 1, Why: why, Lost: lost})
		return nil, resumePoint{}, fmt.Errorf("fed: round %d: %s", r.round, why)
	}
	rp := resumePoint{round: r.round, resume: resumeTrain, lost: lost, late: late}
	if r.committed {
		rp.resume = resumeEvaluate
	}
	msg := &epochMsg{Kind: kindEpoch, Epoch: e + 1, Ranks: next, Round: rp.round, Resume: rp.resume, Lost: lost, Late: late}
	mb.mu.Lock()
	mb.latest = msg
	mb.mu.Unlock()
	mb.publish(msg)
	mb.log.Warn("world shrunk", "epoch", e+1, "ranks", next, "lost", describeLost(lost),
		"round", rp.round, "resume", rp.resume, "dead_epoch_frames", mb.m.Mux.DeadFrames())
	comm, err := j.beginEpoch(ctx, e+1, next)
	return comm, rp, err
}

// shrinkWorker tells rank 0 this rank is alive and waits for its verdict.
func (j *job) shrinkWorker(ctx context.Context, r *roundState, e int, cause error) (*collective.Comm, resumePoint, error) {
	mb := j.mem
	mb.endEpoch(e, cause)
	a := aliveMsg{Epoch: e, Rank: mb.world, Why: cause.Error(), Timeout: errors.Is(cause, context.DeadlineExceeded), Trained: r.trained}
	b, _ := json.Marshal(a)
	if err := mb.ctl.PublishControl(ctlAlive, b); err != nil {
		return nil, resumePoint{}, fmt.Errorf("fed: rank %d: tell rank 0 it is alive: %w", mb.world, err)
	}
	// Rank 0 waits at most Wait for the others before it decides.
	deadline := time.NewTimer(2 * mb.m.Wait)
	defer deadline.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		mb.mu.Lock()
		msg := mb.latest
		mb.mu.Unlock()
		if msg != nil && msg.Epoch > e {
			switch {
			case msg.Kind == kindFail:
				return nil, resumePoint{}, fmt.Errorf("fed: rank 0 ended the job: %s", msg.Why)
			case !slices.Contains(msg.Ranks, mb.world):
				why := msg.Lost[mb.world]
				if why == "" {
					why = "not among the live ranks"
				}
				return nil, resumePoint{}, fmt.Errorf("%w: rank %d was left out of epoch %d (ranks %v) after its round %d failed (%v): rank 0 says it %s; it exits",
					ErrLeftOut, mb.world, msg.Epoch, msg.Ranks, r.round, cause, why)
			}
			comm, err := j.beginEpoch(ctx, msg.Epoch, msg.Ranks)
			return comm, resumePoint{round: msg.Round, resume: msg.Resume, lost: msg.Lost, late: msg.Late}, err
		}
		if err, ok := mb.m.Mux.Down()[0]; ok {
			return nil, resumePoint{}, fmt.Errorf("fed: rank 0 (the federator) is down: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, resumePoint{}, ctx.Err()
		case <-deadline.C:
			return nil, resumePoint{}, fmt.Errorf("fed: rank %d: rank 0 did not begin a new epoch within %v after round %d failed (%v)",
				mb.world, 2*mb.m.Wait, r.round, cause)
		case <-mb.wake:
		case <-t.C:
		}
	}
}

// beginEpoch builds the Comm of epoch e over ranks (world ranks) and
// receives the global state from rank 0 over it.
func (j *job) beginEpoch(ctx context.Context, e int, ranks []int) (*collective.Comm, error) {
	mb := j.mem
	comm, err := mb.m.Mux.NewComm(e, ranks, mb.m.Comm)
	if err != nil {
		return nil, fmt.Errorf("fed: begin epoch %d: %w", e, err)
	}
	mb.mu.Lock()
	mb.epoch, mb.ranks, mb.ended, mb.cancel = e, slices.Clone(ranks), false, nil
	over := mb.ahead >= e
	mb.mu.Unlock()
	if over {
		mb.endEpoch(e, errors.New("rank 0 ended it before this rank began it"))
	}
	bctx, cancel := j.roundCtx(ctx)
	err = collective.Broadcast(bctx, comm, j.global, 0, collective.WithStats(&j.down))
	cancel()
	if err != nil {
		return comm, fmt.Errorf("broadcast of the global state in epoch %d: %w", e, err)
	}
	return comm, nil
}

// describeLost formats lost ranks and why, in rank order.
func describeLost(lost map[int]string) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(lost)) {
		parts = append(parts, fmt.Sprintf("rank %d: %s", r, lost[r]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// useComm makes comm, the Comm of a new epoch, the job's. The previous
// epoch's is closed at once: its calls have all returned, and the frames
// it still holds for calls this rank never made are freed (scripts/soak.sh
// showed rank 0 growing by an epoch's frames each time the world changed).
func (j *job) useComm(comm *collective.Comm) {
	old := j.comm
	_ = old.Close()
	j.own = slices.DeleteFunc(j.own, func(c *collective.Comm) bool { return c == old })
	j.own = append(j.own, comm)
	j.comm, j.rank, j.size = comm, comm.Rank(), comm.Size()
	j.place()
}

// recover shrinks the world after round r failed with cause and returns
// the state of the round to go on with (its round field says which).
func (j *job) recover(ctx context.Context, r *roundState, cause error) (*roundState, error) {
	var rp resumePoint
	for {
		comm, p, err := j.shrink(ctx, r, cause)
		if comm != nil {
			j.useComm(comm)
		}
		if j.rank == 0 {
			for _, w := range slices.Sorted(maps.Keys(p.lost)) {
				j.lost = append(j.lost, lostRank{rank: w, late: slices.Contains(p.late, w), why: p.lost[w]})
			}
		}
		if err == nil {
			rp = p
			break
		}
		if comm == nil || !recoverable(ctx, err) {
			return nil, err
		}
		cause = err // the new epoch lost a rank before it began: shrink again
	}
	committed := rp.resume == resumeEvaluate
	if r.residual != nil && !(committed && rp.round == r.round) {
		j.residual = r.residual // the round this rank began is trained again
	}
	next := &roundState{round: rp.round, start: r.start, committed: committed}
	if rp.round == r.round {
		next.attempts = r.attempts
		if committed && j.rank == 0 {
			next = r // rank 0 holds the round's record
		}
	}
	return next, nil
}

// worldRank returns the world rank of rank r of the current epoch.
func (j *job) worldRank(r int) int {
	if j.mem == nil {
		return r
	}
	j.mem.mu.Lock()
	defer j.mem.mu.Unlock()
	return j.mem.ranks[r]
}

// membership fills the membership fields of round r's record, on rank 0.
func (j *job) membership(r *roundState) {
	rec := &r.rec
	rec.Selected, rec.Workers, rec.Attempts = r.sel, j.size-1, r.attempts
	if j.mem == nil {
		return
	}
	j.mem.mu.Lock()
	rec.Epoch = j.mem.epoch
	j.mem.mu.Unlock()
	rec.DeadFrames = j.mem.m.Mux.DeadFrames()
	rec.Rejoined, j.rejoined = j.rejoined, nil
	rec.Lost = nil
	for _, l := range j.lost {
		rec.Lost = append(rec.Lost, LostRank{Rank: l.rank, Late: l.late, Why: l.why})
	}
	j.lost = nil
}

// schedEpoch returns client c's scheduler epoch in round: how many times
// it was selected in the rounds before, a pure function of the seed, so
// that a client moved to another worker keeps its learning-rate schedule.
func (j *job) schedEpoch(c, round int) int {
	if j.selCount == nil || round < j.selUpTo {
		j.selCount, j.selUpTo = make([]int, j.clients), 1
	}
	for ; j.selUpTo < round; j.selUpTo++ {
		for _, s := range Select(j.cfg.Seed, j.selUpTo, j.clients, j.perRound) {
			j.selCount[s]++
		}
	}
	return j.selCount[c]
}
