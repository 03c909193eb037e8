// Package runtime places a process in a job: it gives it a rank in
// [0, Size) — rank 0 is the federator, ranks 1 … Size−1 host clients —
// connects it to the job's NATS server, assembles the world (rendezvous)
// and watches the other ranks' liveness. Start from [Join]; [StartServer]
// embeds a nats-server in the launcher (or in rank 0 in manual mode).
//
// # Usage
//
//	cfg, err := runtime.ConfigFromEnv() // FLTK_RANK, FLTK_WORLD_SIZE, FLTK_NATS_URL, FLTK_JOB_ID, FLTK_TOKEN
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
// # Liveness
//
// Each rank publishes a heartbeat every HeartbeatInterval; any frame also
// counts. A rank not heard from for LivenessTimeout is reported down, and
// every collective that still needs it fails with a collective.RankError
// naming it. A rank that closes its World says goodbye with the number of
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
//
// # Shared memory
//
// Between ranks on one Linux host, frames of 16 KiB or more (the chunks of
// large tensors) skip the server: the sender copies the frame into a free
// slot of its segment in /dev/shm (16 slots of about 1 MiB, reserved with
// fallocate, unlinked as soon as every peer has mapped it) and publishes a
// 24-byte pointer on the usual subject; receivers read the frame in place
// and release the slot. NATS still carries every frame's notification in
// order, so rendezvous, liveness, goodbyes and credits work unchanged, and
// ranks that cannot map each other's segments (other hosts, containers)
// fall back to the server per peer. On 2 cores this took a 16 MiB
// broadcast to 4 ranks from 65 ms to 11–15 ms. Config.SharedMemory turns
// it off.
//
// The embedded server raises max_pending (512 MiB) and write_deadline (60s)
// over the NATS defaults, and subscriptions have no pending limits:
// collectives bound their in-flight data with credits instead (see package
// collective), so no connection is ever cut as a slow consumer.
package runtime
