// Package collective implements MPI-style collectives for fltk's ranks:
// Send/Recv, Broadcast, Scatter, Gather, AllGather, Reduce, AllReduce (sum,
// mean, min, max, weighted mean) and Barrier, on []float32 and []float64
// (a gorgonia tensor.Dense's Data() is such a slice, so tensors move without
// extra copies). Start from [New], which takes a [Transport] — in
// production the NATS world from package runtime, in tests the in-memory
// network of package collectivetest.
//
// # Usage
//
//	comm, err := collective.New(world, collective.Config{JobID: world.JobID()})
//	err = collective.Broadcast(ctx, comm, weights, 0)
//	err = collective.AllReduce(ctx, comm, grads, grads, collective.Mean, collective.WithCodec(collective.CodecBF16))
//	err = collective.Reduce(ctx, comm, global, local, collective.WeightedMean, 0, collective.WithWeight(nSamples))
//
// Every rank calls the same collectives in the same order, as in MPI. Calls
// take a context (Config.OpTimeout applies when it has no deadline), write
// into dst (the first buffer argument) and panic only on programmer errors
// (lengths, ranks out of range).
//
// # Frames, chunks and credits
//
// Each call gets a sequence number per Comm (point-to-point transfers one per
// pair), so calls that overlap in time never mix. Data moves as frames of at
// most Config.ChunkBytes (1 MiB, lowered to fit the transport's max payload)
// with a 64-byte header: job tag, sequence number, phase, source rank, block,
// chunk index and count, raw length, offset, weight, codec, and a CRC-32C of
// header and payload. A corrupt or truncated frame, or one that disagrees
// with the call it claims to belong to (another collective, length, element
// type, root), fails the call with a *FrameError or ErrMismatch — never a
// panic, never a wrong result — and poisons the Comm, since the streams can
// no longer be trusted (nothing resends a chunk). Frames that cannot affect
// a result are dropped instead, and the calls go on: a frame of a call that
// already failed on this rank (a peer that learnt of a dead rank later sent
// its part), a whole frame with another job's tag, and a replay — a data
// frame of a call that finished here (of its kind and one of its streams;
// the last 256 calls are remembered, older ones are taken for replays), or
// a second copy of a chunk a running call already took. [Comm.Rejected]
// counts the foreign, replayed and corrupt frames.
//
// Chunks of a stream are written straight into the destination buffer (or
// reduced into it) as they arrive. Flow control is credit based: a sender
// may have at most Config.Window chunks of a stream unconsumed; receivers
// grant credit every Window/2 chunks, and never for the last Window chunks,
// so no credit ever arrives for a finished stream. The bytes queued for any
// connection are thus bounded by Window × ChunkBytes × senders (32 MiB for 8
// senders), far below the server's max_pending, whatever the tensor size.
//
// # Algorithms: chosen for a hub
//
// All traffic crosses one NATS server, or, between ranks on one host, the
// shared-memory queues of package runtime, which behave the same way: one
// publish, delivered to every receiver.
// Tree and ring algorithms exist to spread load over independent links; a
// hub has one bottleneck and every extra round costs a hop through it, so:
//
//   - Broadcast: the root publishes each chunk once and the server fans it
//     out — the fewest bytes through the hub, one round. (A binomial tree
//     would push (N−1)·S through the hub instead of S; make bench-mpi
//     compares with OpenMPI.)
//   - Gather, Scatter: direct, one round, every stream credit-controlled.
//   - Reduce: direct to the root, which reduces chunk by chunk as they
//     arrive (pipelined). Reduce-scatter + gather moves about the same bytes
//     and only spreads the summing, which buys nothing when all ranks share
//     two cores.
//   - AllReduce: above Config.SmallBytes, reduce-scatter then fan-out
//     allgather: rank j owns block j, every rank sends it block j, j reduces
//     it and publishes each reduced chunk as soon as it is complete. Two
//     rounds, N·S in and 2(N−1)·S out of the hub, the reduction spread over
//     all ranks. Ring allreduce would need 2(N−1) hub rounds and twice the
//     bytes. Up to SmallBytes (64 KiB), every rank fans out its input and
//     reduces all of them locally: one round, latency bound. On one host,
//     a lossless AllReduce above SmallBytes and up to Config.RootBytes
//     (1 MiB) goes through a root instead (rotating with the call's
//     sequence number): every rank sends it its input, it reduces them in
//     rank order and fans out the result, so each rank wakes once a round
//     instead of N−1 times (bench-vs-mpi.sh, 116 KB and 797 KB). Larger
//     tensors take reduce-scatter: one rank's summing no longer hides
//     behind the wake-ups. The others wait only for the root, which sends
//     them an abort naming a dead rank it waited for.
//   - Shared scratch memory: when every rank can read every other's memory
//     ([ScratchTransport]: package runtime's World, every rank on one
//     host), a lossless Broadcast, Reduce, AllReduce, Gather or AllGather
//     of up to Config.SharedBytes per rank sends no frame. Per piece (the
//     transport's scratch buffer, 1 MiB): every rank writes to its own
//     buffer, the shared barrier orders the writes before the reads, and
//     the others read in place — Broadcast copies the root's piece out,
//     Gather the root (AllGather every rank) every rank's; AllReduce has
//     rank j reduce block j of every buffer in rank order (the reducer's
//     arithmetic: the frame schedules' bits), write it over its own block
//     j, and after a second barrier every rank (Reduce: the root) copies
//     the blocks. A piece costs a barrier's wake-ups instead of a frame's
//     per receiver and hop (bench-vs-mpi.sh). Pieces alternate between two
//     buffers, so a piece's writes never meet the previous one's reads:
//     every rank left them before the barrier the writer passed.
//   - Barrier: when the transport has a barrier of its own
//     ([BarrierTransport]: package runtime's, on futexes in shared memory,
//     when every rank is on one host), that one: no message at all, the
//     last rank to arrive wakes the others with one system call, several
//     times faster than messages (BenchmarkCollective/op=barrier).
//     Otherwise every rank sends an empty frame to rank 0, which releases
//     them with one fan-out: 2(N−1) messages in two hops. Every rank
//     publishing to all (one hop, N(N−1) messages) was no faster and
//     slower at np = 2 and 9, where each message costs a process
//     wake-up.
//
// # Hosts
//
// When the transport knows which ranks share a host ([HostTransport]: a
// world spanning several hosts, one NATS server per host joined by
// routes), there is more than one host, and every host's ranks are
// contiguous (as the launcher places them), Broadcast, Gather, Reduce and
// AllReduce switch to host-aware schedules; Config.FlatOnly keeps the
// flat ones (for A/B runs). Within a host bytes are nearly free (shared
// memory); between hosts they cross a link, so each host has a leader
// (the root on the root's host, else its first rank) that alone talks to
// other hosts, and every hop is pipelined chunk by chunk: streams of a
// lossless host-aware call are cut in 16 chunks (64 KiB … ChunkBytes), so
// that a chain fills quickly; a lossy codec's values depend on the cut,
// so its streams keep ChunkBytes. For a tensor of S bytes and H hosts:
//
//   - Broadcast: a chain from the root's host through the others (host
//     order, wrapping): each leader forwards every chunk, as soon as it
//     has it, to the next host's leader and to its own ranks. Each host
//     receives S once and sends it at most once: ≤ S on any host's link,
//     where a root publishing to all puts (H−1)·S on its own.
//   - Reduce: a chain through the hosts in host order (= rank order): host
//     0's leader reduces its ranks' contributions in rank order and streams
//     the partial result to host 1's leader, which goes on with its ranks
//     (((p + x₃) + x₄) + x₅ …); the last leader divides (mean, weighted
//     mean) and sends the result to the root. Each host sends ≤ S and
//     receives ≤ S (2·S for the root's host unless it is host 0 or the
//     last).
//   - AllReduce: the chain of Reduce ending on the last host, then a
//     chain broadcast of the result back to host 0: ≤ 2·S each way on any
//     host's link, against about (k+1)(H−1)/H·S for the flat schedule
//     with k ranks per host. The chain fills its pipeline in 2H−3 chunks,
//     so it is used only when a model of both times (the most bytes on
//     one host's link, plus the fill; hostLayout.chainAllReduce) favours
//     it: enough chunks, and ranks sharing hosts (with one rank per host
//     the flat schedule carries less). Up to SmallBytes (latency bound, one
//     round) it stays flat.
//   - Gather (lossless codecs): a host's ranks send to their leader, which
//     sends the host's blocks, contiguous in dst, to the root as one
//     stream. The bytes are those of the flat gather, in fewer and larger
//     messages. A lossy codec keeps the flat gather (its values depend on
//     how the stream is cut into chunks).
//   - Scatter, AllGather, Barrier and Send/Recv stay flat.
//
// Broadcast and Reduce of at most Config.SmallBytes stay flat: latency
// bound, one hop instead of a chain of H, and few bytes.
//
// The chain applies contributions in rank order and sums the weights in
// rank order; every contribution is encoded exactly as the flat schedule
// encodes it (so Decoded still tells a rank what a Reduce's root receives
// from it); a broadcast's relays forward the payload bytes they received,
// so every rank decodes the root's encoding. Hops within a host are raw,
// but for lossy contributions, which carry the codec as in the flat
// schedule. Partial and final results between hosts travel under the
// call's codec. So:
//
//   - Lossless codecs (none, zstd): results are bit-identical to the flat
//     schedules'.
//   - Lossy codecs (bf16, int8, int8z): each hop between hosts encodes the
//     partial sum once more (and the last host the result it sends to the
//     root, or broadcasts back in AllReduce): a reduction over H hosts
//     quantises its partial H times besides each contribution once, so
//     the error bound grows with H (collectivetest.Tolerance). Results are
//     deterministic (the same inputs give the same bits whatever the
//     arrival order, on every rank) but not the flat schedule's bits; the
//     links carry the codec's bytes (int8: a quarter of float32).
//     Weights (WeightedMean) travel in frame headers, exact. Partial
//     streams are cut at ChunkBytes as every lossy stream (in AllReduce at
//     its pipeline chunk, as all its streams), so every hop agrees on the
//     int8 scales' chunks. Config.ExactPartials keeps partials and results
//     between hosts raw, for the flat schedule's bits at the price of
//     float32 partials on the links.
//
// Ranks must agree on the codec's lossiness for Gather (it chooses the
// schedule). When a hop fails because a rank is down, it sends an abort
// frame to the ranks that wait for it (data or credit), which then fail
// naming the dead rank instead of waiting for their deadline.
//
// Reductions apply the contributions in rank order (holding early arrivals),
// so results are bit-identical on every rank and from run to run; mean and
// weighted mean divide once at the end. With a lossy codec the owner keeps
// exactly what the others decode.
//
// # Codecs
//
// Per chunk, chosen in Config.Codec or per call with WithCodec: CodecNone;
// CodecZstd (byte-shuffle, then klauspost/compress zstd — lossless; pays on
// slow links, not on loopback); CodecBF16 (half the bytes, relative error ≤
// 2⁻⁸), CodecInt8 (a quarter, absolute error ≤ max|x|/254 per chunk) and
// CodecInt8Zstd (CodecInt8's values, its bytes then zstd-compressed),
// meant for model updates. Receivers decode whatever the sender chose. Raw
// and wire bytes are counted per call (WithStats) and per Comm (Comm.Stats).
//
// # Failures
//
// When the transport reports a rank down (dead, disconnected, or gone
// after finishing), every pending call that still needs data or credit
// from it fails with a *RankError naming it (also when it was known down
// before the call needed its credit), and later calls fail at once.
// A deadline names the ranks the call was still waiting for.
//
// # Shrinking
//
// A [Mux] lets the survivors go on over one transport with a Comm per
// epoch, each over the live ranks renumbered ([Mux.NewComm], as ULFM's
// MPI_Comm_shrink); the caller decides the membership (package
// trainer/fed). Each epoch's frames carry a job tag of their own
// ([EpochJobID]): a frame of an ended epoch is dropped and counted
// ([Mux.DeadFrames]), never mixed in, and a call on an ended epoch's Comm
// fails with [ErrEpochEnded].
package collective
