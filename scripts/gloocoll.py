#!/usr/bin/env python3
"""gloocoll — torch.distributed (gloo backend) collective benchmark, the
third implementation beside scripts/mpicoll.c and `fltk bench`.

One process per rank, as mpirun and fltk bench start them:

    python3 scripts/gloocoll.py --np N [--sizes 4096,...] \
        [--ops bcast,gather,reduce,allreduce,barrier] \
        [--repeats R] [--warmup W] [--cold SECONDS] [--idle SECONDS] [--reduce-each] [--impl gloo]

starts N copies of itself (with --rank R --store FILE) and waits for them;
rank 0's CSV goes to stdout, every rank's stderr to stderr, and the exit
status is the first failing rank's. The ranks meet through a
torch.distributed FileStore (a file in a temporary directory) and talk
over gloo's TCP transport on the loopback interface (GLOO_SOCKET_IFNAME=lo).

Same protocol as mpicoll: for every op and size S (bytes of float32 per
rank), W warm-up runs then R timed runs of
    [cold: compute for SECONDS] barrier; t0; <collective>; t1
the time of a run is the max over ranks (one all_reduce MAX of every
run's time after the last run, so that no communication runs between a
call and the next run; with --reduce-each an all_reduce right after each
run, so that every rank waits for the slowest), and rank 0 prints  impl,np,op,bytes,median_us,min_us,gbps.
Input: rank r, element i = r + (i % 7); the first run of every (op, size)
is verified (exit 2 on a mismatch). Defaults as mpicoll: repeats 20 for
S <= 1 MiB, 5 for S <= 16 MiB, 3 above; warm-up 2 for S <= 1 MiB, 1 above.
Each rank uses one intra-op thread (torch.set_num_threads(1)).
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

OPS = ("bcast", "gather", "reduce", "allreduce", "barrier")


def parse_sizes(s):
    out = []
    for f in s.split(","):
        v = int(f)
        if v <= 0 or v % 4:
            raise SystemExit("gloocoll: bad size %r (need a positive multiple of 4 bytes)" % f)
        out.append(v)
    return out


def parse_ops(s):
    ops = s.split(",")
    for op in ops:
        if op not in OPS:
            raise SystemExit("gloocoll: unknown op %r (%s)" % (op, ",".join(OPS)))
    return ops


def spawn(a):
    """Starts a.np ranks of this script and returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="gloocoll") as d:
        store = os.path.join(d, "store")
        argv = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:] + ["--store", store]
        procs = []
        for r in range(a.np):
            out = None if r == 0 else subprocess.DEVNULL
            procs.append(subprocess.Popen(argv + ["--rank", str(r)], stdout=out))
        rc = 0
        for p in procs:
            code = p.wait()
            if code != 0 and rc == 0:
                rc = code
                for q in procs:  # one rank failed: the others would wait for it
                    if q.poll() is None:
                        q.terminate()
        return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rank", type=int, default=-1, help="(internal) this rank; without it, start --np ranks")
    ap.add_argument("--np", type=int, required=True)
    ap.add_argument("--store", default="", help="(internal) FileStore path shared by the ranks")
    ap.add_argument("--sizes", default="4096,65536,1048576,16777216,67108864")
    ap.add_argument("--ops", default="bcast,gather,reduce,allreduce,barrier")
    ap.add_argument("--repeats", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--cold", type=float, default=0.0, help="seconds of compute before each run")
    ap.add_argument("--reduce-each", action="store_true",
                    help="all_reduce MAX each run's time right after it, so every rank waits for the slowest")
    ap.add_argument("--idle", type=float, default=0.0,
                    help="rank 0 sleeps this long after each run's barrier, the others wait in the call "
                         "(times are then not latencies; scripts/idle-cpu.sh reads the CPU time)")
    ap.add_argument("--impl", default="gloo")
    a = ap.parse_args()
    sizes, ops = parse_sizes(a.sizes), parse_ops(a.ops)
    if a.np < 1:
        raise SystemExit("gloocoll: --np must be at least 1")
    if a.rank < 0:
        sys.exit(spawn(a))
    if not 0 <= a.rank < a.np:
        raise SystemExit("gloocoll: --rank %d outside 0..%d" % (a.rank, a.np - 1))

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    store = dist.FileStore(a.store, a.np)
    dist.init_process_group("gloo", store=store, rank=a.rank, world_size=a.np,
                            timeout=datetime.timedelta(seconds=600))
    rank, np_ = a.rank, a.np

    scratch = torch.arange(64 << 10, dtype=torch.float32) % 13
    sink = [0.0]

    def burn(seconds):
        # The same multiply-add sweep as mpicoll's and fltk's Burn.
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            scratch.mul_(0.999).add_(0.5)
        sink[0] += float(scratch[len(scratch) // 3])

    if rank == 0:
        print("impl,np,op,bytes,median_us,min_us,gbps", flush=True)

    def pattern(r, n):
        return (torch.arange(n, dtype=torch.int64) % 7 + r).to(torch.float32)

    for op in ops:
        for size in ([0] if op == "barrier" else sizes):
            n = size // 4
            R = a.repeats if a.repeats > 0 else (20 if size <= 1 << 20 else 5 if size <= 16 << 20 else 3)
            W = a.warmup if a.warmup >= 0 else (2 if size <= 1 << 20 else 1)
            src = pattern(rank, n)
            glist = [torch.full((n,), -1.0) for _ in range(np_)] if (op == "gather" and rank == 0) else None
            times = []
            for it in range(W + R):
                buf = src.clone() if op in ("allreduce", "reduce") else src
                if op == "bcast" and rank != 0:
                    buf = torch.full((n,), -1.0)
                if a.cold > 0:
                    burn(a.cold)
                dist.barrier()
                if a.idle > 0 and rank == 0:
                    time.sleep(a.idle)
                t0 = time.perf_counter()
                if op == "bcast":
                    dist.broadcast(buf, 0)
                elif op == "gather":
                    dist.gather(buf, glist, dst=0)
                elif op == "reduce":
                    dist.reduce(buf, 0, op=dist.ReduceOp.SUM)
                elif op == "allreduce":
                    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                else:
                    dist.barrier()
                t1 = time.perf_counter()
                if it == 0:
                    bad = 0
                    if op == "bcast":
                        bad = int(not torch.equal(buf, pattern(0, n)))
                    elif op == "gather" and rank == 0:
                        bad = int(not all(torch.equal(glist[r], pattern(r, n)) for r in range(np_)))
                    elif op == "allreduce" or (op == "reduce" and rank == 0):
                        want = (torch.arange(n, dtype=torch.int64) % 7 * np_ + np_ * (np_ - 1) // 2).to(torch.float32)
                        bad = int(not torch.equal(buf, want))
                    flag = torch.tensor([bad])
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    if int(flag[0]):
                        if rank == 0:
                            print("gloocoll: result check failed for op=%s bytes=%d np=%d" % (op, size, np_), file=sys.stderr)
                        sys.exit(2)
                t = t1 - t0
                if a.reduce_each:
                    tt = torch.tensor([t], dtype=torch.float64)
                    dist.all_reduce(tt, op=dist.ReduceOp.MAX)
                    t = float(tt[0])
                if it >= W:
                    times.append(t)
            # The max over ranks per repeat, in one all_reduce after the
            # last: nothing synchronizes the ranks between a call and the
            # next repeat's compute (as in fltk's and mpicoll's loops).
            tt = torch.tensor(times, dtype=torch.float64)
            dist.all_reduce(tt, op=dist.ReduceOp.MAX)
            times = tt.tolist()
            if rank == 0:
                times.sort()
                med = times[R // 2] if R % 2 else 0.5 * (times[R // 2 - 1] + times[R // 2])
                gbps = size / med / 1e9 if size > 0 and med > 0 else 0.0
                print("%s,%d,%s,%d,%.3f,%.3f,%.3f" % (a.impl, np_, op, size, med * 1e6, times[0] * 1e6, gbps), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
