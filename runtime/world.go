package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fltk-go/fltk/runtime/internal/shm"
	"github.com/nats-io/nats.go"
)

// Subjects, under the job's prefix "fltk.<job>":
//
//	p.<to>.<from>   point-to-point frames
//	b.<from>        fan-out frames (every rank subscribes to b.*)
//	h.<from>        fan-out frames for the ranks not sharing memory with
//	                <from> (the others got them through shared memory and
//	                unsubscribe from h.<from>)
//	ping.<rank>     answered by rank: confirms the server routes to it
//	hb.<from>       heartbeats
//	bye.<from>      a rank leaving, with how many frames it sent to each rank
//	rdv.hello       rendezvous requests, answered by rank 0 (after the
//	                rendezvous too: a new process for a lost rank rejoins)
//	rdv.root        rank 0 claims (detects a second rank 0)
//	rdv.ready       rank 0's verdict: the roster, or why the job aborted
//	ctl.<name>      control messages (PublishControl, SubscribeControl)
//
// Two jobs on one server therefore never see each other's messages.

// World is this process's membership in a job: its rank, the world size,
// and a connection to the job's NATS server. It implements
// collective.Transport.
type World struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	prefix   string
	rank     int
	size     int
	maxFrame int

	// hostOf[r] is rank r's host index, hosts the host names by index
	// (from rank 0's verdict; fixed after Join).
	hostOf []int
	hosts  []string
	// linkRoster is every rank's direct-link listener, from the verdict.
	linkRoster []string

	sent     []atomic.Int64 // frames sent to each rank (a fan-out counts for every rank)
	recv     []atomic.Int64 // frames received from each rank
	lastSeen []atomic.Int64 // unix nanoseconds each rank was last heard from

	// Liveness across congested links (see monitor): beatSent[r] is the
	// send time, on r's host's clock, of r's latest heartbeat; per host
	// index, hostBeat is the latest such time of any of its ranks and
	// hostHeard when (on this clock) anything of its ranks last arrived.
	// hostIdx is hostOf, published for the NATS callbacks once the
	// rendezvous set it.
	beatSent  []atomic.Int64
	hostBeat  []atomic.Int64
	hostHeard []atomic.Int64
	hostIdx   atomic.Pointer[[]int]

	mu       sync.Mutex // guards the fields below
	onFrame  func(int, []byte)
	onDown   func(int, error)
	early    []earlyFrame   // frames received before Start
	down     map[int]error  // ranks reported down
	byeCount map[int]int64  // frames a leaving rank sent us, until all arrived
	byeWhy   map[int]string // why a leaving rank left: the ranks it knew down
	closing  bool
	accepted map[int]bool // rank 0: ranks whose new process joined the running world, until Readmit

	// mutual[r]: whether r and this rank mapped each other's segment (then
	// every frame between them skips the server). setupShm sets it once,
	// then mutualSet; it is read without a lock after that. cut[r]: rank r
	// was readmitted (a new process): its old segment is no longer used.
	mutual    []bool
	mutualSet atomic.Bool
	cut       []atomic.Bool

	// rejoined: this process joined a running world for a lost rank;
	// readmitted: some rank was readmitted (the shared barrier is off).
	rejoined   bool
	readmitted atomic.Bool
	// remoteMu guards remoteEarly, the h.* frames received before mutual
	// was set; it is taken before mu.
	remoteMu    sync.Mutex
	remoteEarly []earlyFrame
	remoteSubs  []*nats.Subscription // h.<r> for each rank r (nil for this rank)

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	subs      []*nats.Subscription

	// Shared memory (nil when off): shm is this rank's segment, peers[r]
	// rank r's segment mapped here.
	shm       *shm.Sender
	shmUse    shmGuard // counts users of the mappings; unmapShm waits for them
	peers     []*shm.Segment
	shmFrames atomic.Int64 // frames sent through shared memory

	// links are the direct links to ranks on other hosts (nil: none).
	links *links

	// barrierSeg is rank 0's segment when every rank mapped it (see
	// SharedBarrier); barriers counts the calls of Barrier.
	barrierSeg *shm.Segment
	barriers   atomic.Uint32
	// scratchSize is the size of every rank's scratch buffers when every
	// rank mapped every other's segment with buffers of one size (see
	// Scratch), else 0; scratchBufs[i][r] is rank r's buffer i; pieces
	// counts the calls of Scratch.
	scratchSize int
	scratchBufs [2][][]byte
	pieces      atomic.Uint64
}

// SharedMemoryFrames returns how many frames this rank sent through shared
// memory.
func (w *World) SharedMemoryFrames() int64 { return w.shmFrames.Load() }

// Join connects to the job's NATS server and waits until all WorldSize
// ranks have arrived. It fails with a *RendezvousError naming the missing
// ranks when cfg.RendezvousTimeout passes, and when two processes claim
// one rank or the ranks disagree on the world size.
func Join(ctx context.Context, cfg Config) (*World, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.RendezvousTimeout)
	defer cancel()
	w := &World{
		cfg: cfg, log: cfg.Logger.With(LogKeyRank, cfg.Rank, LogKeyJob, cfg.JobID),
		prefix: "fltk." + cfg.JobID, rank: cfg.Rank, size: cfg.WorldSize,
		sent: make([]atomic.Int64, cfg.WorldSize), recv: make([]atomic.Int64, cfg.WorldSize),
		lastSeen: make([]atomic.Int64, cfg.WorldSize), beatSent: make([]atomic.Int64, cfg.WorldSize),
		hostBeat: make([]atomic.Int64, cfg.WorldSize), hostHeard: make([]atomic.Int64, cfg.WorldSize),
		cut: make([]atomic.Bool, cfg.WorldSize), accepted: map[int]bool{},
		down: make(map[int]error), byeCount: make(map[int]int64), byeWhy: make(map[int]string), done: make(chan struct{}),
	}
	nc, err := w.connect(ctx)
	if err != nil {
		return nil, w.interrupted(ctx, err)
	}
	w.nc = nc
	w.maxFrame = int(nc.MaxPayload())
	if err := w.subscribe(); err != nil {
		nc.Close()
		return nil, err
	}
	me := newHello(w.rank, w.size, cfg.Host)
	me.Rejoin = cfg.Rejoin
	if !cfg.Rejoin {
		if w.links, err = listenLinks(cfg); err != nil {
			nc.Close()
			return nil, err
		}
		me.Link = w.links.addr()
		if l := w.links; l != nil {
			w.wg.Go(func() { w.acceptLinks(l) })
		}
	}
	shmAnn, err := w.subscribeShm()
	if err == nil {
		err = w.subscribePing()
	}
	if err == nil {
		err = w.rendezvous(ctx, me)
	}
	switch {
	case err == nil && w.rejoined:
		// The running world's other ranks may be down; its shared
		// memory was set up without this process: everything goes
		// through the server.
		if err = w.ping(ctx, 0); err != nil {
			err = w.rdvError([]int{0}, "rank %d could not reach rank 0 through the NATS server: %v", w.rank, err)
		}
		w.setMutual(make([]bool, w.size))
	case err == nil:
		err = w.confirmRoutes(ctx)
		if err == nil {
			err = w.setupShm(ctx, me, shmAnn)
		}
	}
	if err != nil {
		nc.Close()
		w.unmapShm()
		w.closeLinks()
		return nil, w.interrupted(ctx, err)
	}
	w.setLinks(w.linkRoster)
	now := time.Now().UnixNano()
	for r := range w.lastSeen {
		w.lastSeen[r].Store(now)
		w.hostHeard[r].Store(now)
	}
	w.hostIdx.Store(&w.hostOf)
	w.wg.Go(w.heartbeat)
	w.wg.Go(w.monitor)
	if w.shm != nil {
		w.wg.Go(func() { w.shm.Segment().Consume(w.done, func(from int, msg []byte) { w.deliver(from, msg, false) }) })
	}
	w.log.Info("joined world", LogKeySize, w.size, "rejoined", w.rejoined)
	return w, nil
}

// interrupted turns err into an interruption when ctx was cancelled
// (SIGINT) rather than timed out: whatever err says about deadlines did
// not happen. The result wraps context.Canceled.
func (w *World) interrupted(ctx context.Context, err error) error {
	if !errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	waiting := fmt.Sprintf("the other ranks of a world of %d", w.size)
	var re *RendezvousError
	switch {
	case w.nc == nil:
		waiting = "the NATS server at " + cmp.Or(w.cfg.URL, "in-process") + " and the other ranks"
	case errors.As(err, &re) && len(re.Missing) > 0:
		waiting = fmt.Sprintf("ranks %v of a world of %d", re.Missing, w.size)
	}
	return fmt.Errorf("runtime: rank %d of job %q: interrupted while waiting for %s: %w", w.rank, w.cfg.JobID, waiting, context.Canceled)
}

// Rank implements collective.Transport.
func (w *World) Rank() int { return w.rank }

// Size implements collective.Transport.
func (w *World) Size() int { return w.size }

// JobID returns the job id.
func (w *World) JobID() string { return w.cfg.JobID }

// HostOf returns the index of rank's host, in [0, len(Hosts())): hosts are
// numbered by first appearance in rank order, so rank 0's host is 0. Every
// rank sees the same numbering. A host is the hello's host identity
// ($FLTK_HOST, else the hostname). It panics if rank is out of range.
func (w *World) HostOf(rank int) int { return w.hostOf[rank] }

// Hosts returns the host names by index (see HostOf).
func (w *World) Hosts() []string { return append([]string(nil), w.hosts...) }

// MaxFrame implements collective.Transport: the server's max_payload.
func (w *World) MaxFrame() int { return w.maxFrame }
