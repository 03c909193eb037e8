// Package runtime places a process in a job: it gives it a rank in
// [0, Size) — rank 0 is the federator, ranks 1 … Size−1 host clients —
// connects it to the job's NATS server, assembles the world (rendezvous)
// and watches the other ranks' liveness. Start from [Join]; [StartServer]
// embeds a nats-server in the launcher (or in rank 0 in manual mode).
//
// # Usage
//
//	cfg, err := runtime.ConfigFromEnv() // FLTK_RANK (or JOB_COMPLETION_INDEX + FLTK_RANK_OFFSET), FLTK_WORLD_SIZE,
//	                                    // FLTK_NATS_URL, FLTK_JOB_ID, FLTK_TOKEN,
//	                                    // FLTK_NATS_CA, FLTK_NATS_CREDS, FLTK_HOST,
//	                                    // FLTK_LINK_ADDR, FLTK_LINK_CERT, FLTK_LINK_KEY
//	w, err := runtime.Join(ctx, cfg)
//	defer w.Close()
//	comm, err := collective.New(w, collective.Config{JobID: cfg.JobID})
//
// # Rendezvous
//
// Every rank > 0 sends a hello (rank, world size, a random nonce, pid and
// host) to rank 0 until rank 0 answers; rank 0 publishes the verdict once all
// ranks arrived. Two processes claiming one rank, a world-size mismatch, or
// the deadline passing (the error names the missing ranks) abort the
// rendezvous on every rank that is connected.
//
// After the verdict every rank pings every other (ping.<rank>) before it
// publishes anything else: in a cluster a subscription reaches the other
// nodes asynchronously and a node drops messages for subscribers it does
// not know of yet. A rank that cannot reach another through the cluster
// fails the rendezvous naming it. See interest.go.
//
// # Hosts
//
// Every rank's hello names its host: Config.Host, $FLTK_HOST, or else the
// hostname. Rank 0's verdict carries the host of every rank, and
// World.HostOf numbers the hosts by first appearance in rank order (rank
// 0's host is 0), identically on every rank; World.Hosts names them. Only
// ranks on one host try to map each other's shared memory.
//
// # Direct links
//
// With Config.LinkAddr ($FLTK_LINK_ADDR, which fltk-launch --hosts sets to
// the host's address) a rank listens there and names its listener in its
// hello; point-to-point frames to a rank on another host then go over one
// TCP connection per ordered pair of ranks, dialled on the first frame,
// instead of through three store-and-forward processes (the sender's
// server, the route, the receiver's server). With LinkCertFile and
// LinkKeyFile ($FLTK_LINK_CERT, $FLTK_LINK_KEY: the host's certificate)
// the connection is mutual TLS under the job's CA; the greeting names the
// job, both ranks and the token either way, and anything else is refused
// (logged once per reason). A dial that fails sends that peer's frames
// through the server instead; a link that breaks reports its peer down.
// Fan-out frames, heartbeats, goodbyes and control messages stay on NATS;
// a readmitted rank talks through the server. See link.go.
//
// # Clusters, TLS and credentials
//
// ServerConfig.Cluster makes an embedded server one node of a NATS cluster:
// it listens for routes (ClusterConfig.Host, Port) and joins the nodes in
// ClusterConfig.Routes (Server.ClusterURL of another node); route
// credentials (User, Password) keep out nodes without them. One server per
// host, each worker connected to its own host's server, and the cluster
// carries a message across each route at most once.
//
// ServerConfig.TLS requires TLS on client connections and mutual TLS on
// routes. NewCA makes a per-job certificate authority (ECDSA P-256, valid
// for CAValidity) and CA.Issue a certificate for a node's addresses, usable
// for both ends of a route; workers verify servers against the CA's
// certificate (Config.CAFile, $FLTK_NATS_CA), so with the token a process
// needs both the token and the CA to join.
//
// On a cluster the job did not start (the user's own, in operator/JWT
// mode), Config.URL lists its servers ("nats://h1:4222,nats://h2:4222") and
// Config.CredsFile ($FLTK_NATS_CREDS) is the user's .creds file.
//
// # Liveness
//
// Each rank publishes a heartbeat every HeartbeatInterval, stamped with
// its send time; any frame also counts. A rank not heard from for
// LivenessTimeout is reported down — unless its host is still heard from
// and its heartbeats keep up, on its host's clock, with those of the host's
// other ranks: then they are only queued behind bulk data on a saturated
// link between hosts, which delays all of a host's ranks alike. Every
// collective that still needs a rank reported down fails with a
// collective.RankError naming it. A rank that closes its World says goodbye with the number of
// frames it sent to each rank: the others report it as left only once those
// frames have all arrived, so a clean exit never fails a completed
// collective. Losing the connection to the server fails everything at once.
//
// # Subjects
//
// Every subject starts with "fltk.<job id>.", so jobs sharing a server never
// see each other's messages. Point-to-point frames go to
// p.<to>.<from>, fan-out frames to b.<from> (the server copies them to
// every subscriber), heartbeats to hb.<from>, goodbyes to bye.<from>.
// A fan-out from a rank that shares memory with some ranks goes to those
// through shared memory and to all the others with one publish on
// h.<from>: a broadcast crosses each route of a cluster once, not once per
// rank behind it. Every rank subscribes to the h.<r> of every other rank r
// and, once it knows which ranks share its memory, unsubscribes from theirs
// (and drops what was already on its way), so the local server does not
// copy those frames to it either. A frame larger than a shared-memory slot goes to
// b.<from> instead, which nobody drops. The rendezvous uses rdv.hello,
// rdv.root and rdv.ready, the shared-memory exchange shm.<from> and
// shmok.<from>, the interest check ping.<rank>. Control messages
// ([World.PublishControl]: a shrinking world's membership, see package
// trainer/fed) go to ctl.<name>.
//
// # Shared memory
//
// Ranks on one Linux host map each other's segment in /dev/shm (reserved
// with fallocate, unlinked as soon as every peer mapped it; fltk-launch
// removes what a crashed worker left). Every frame between two such ranks
// skips the server: it is copied into a cell of the receiver's inbound
// queue (a bounded multi-producer queue, Vyukov's algorithm), or, above
// 16 KiB, into one of 16 slots of the sender's segment with a pointer in
// the queue, and the receiver is woken through a FIFO doorbell it reads
// with Go's poller. A full queue never blocks a sender: the frame goes
// through the server instead. Rendezvous, heartbeats and goodbyes stay on
// NATS, and ranks that cannot map each other's segments (other hosts,
// containers) use the server. It pays most for large frames and for
// barriers (BenchmarkCollective in package collective, fltk bench).
// Config.SharedMemory turns it off.
//
// When every rank mapped rank 0's segment (all on one host), World.Barrier
// — and through it collective.Barrier — needs no message: each rank stores
// how many barriers it entered in rank 0's segment header, and the last to
// arrive wakes the others with one FUTEX_WAKE; waiters spin with
// sched_yield while ranks keep arriving, then sleep on the futex (see
// package runtime/internal/shm; BenchmarkCollective/op=barrier).
// Config.SharedBarrier turns it off.
//
// A caller waiting for a collective may also consume its own queue
// (World.Poll, through collective.Poller) for a short while before it
// sleeps: the queue's goroutine and pollers take turns under a lock, and a
// frame that is already there needs no doorbell wake-up.
//
// The embedded server raises max_pending (512 MiB) and write_deadline (60s)
// over the NATS defaults, and subscriptions have no pending limits:
// collectives bound their in-flight data with credits instead (see package
// collective), so no connection is ever cut as a slow consumer.
package runtime
