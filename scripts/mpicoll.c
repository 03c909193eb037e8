/*
 * mpicoll — minimal MPI collective benchmark (baseline for fltk).
 *
 * Usage:
 *   mpirun -np N mpicoll [--sizes 4096,65536,1048576,16777216,67108864]
 *                        [--ops bcast,gather,reduce,allreduce,barrier]
 *                        [--repeats R] [--warmup W] [--impl NAME]
 *                        [--cold SECONDS] [--idle SECONDS] [--reduce-each]
 *
 * For every op and size S (bytes of float32 per rank, S/4 elements), after
 * W warm-up runs, R timed runs of:
 *     MPI_Barrier; t0 = MPI_Wtime(); <collective>; t1 = MPI_Wtime();
 * The time of one run is max over ranks of (t1 - t0), obtained with one
 * MPI_Reduce(MAX) of every run's time after the last run (no communication
 * between a call and the next run); with --reduce-each, an MPI_Allreduce(MAX)
 * right after each run instead, so every rank waits for the slowest.
 * With --cold SECONDS, every rank first computes for SECONDS of wall time
 * (a multiply-add sweep over a 256 KiB buffer, the same loop as fltk
 * bench's -cold and gloocoll.py's --cold) before the barrier of each run,
 * warm-up runs included: local training between the collectives of a
 * federated round.
 * With --idle SECONDS, rank 0 sleeps SECONDS after the barrier of each run,
 * before its call, while the others wait in theirs: the times are then not
 * latencies, but the job's CPU time (scripts/idle-cpu.sh) shows what
 * waiting costs.
 *
 *   bcast      MPI_Bcast from root 0 (S bytes)
 *   gather     MPI_Gather to root 0 (every rank sends S, root receives np*S)
 *   reduce     MPI_Reduce SUM to root 0
 *   allreduce  MPI_Allreduce SUM
 *   barrier    MPI_Barrier (size ignored; reported once with bytes 0)
 *
 * Input: rank r, element i = r + (i % 7), which keeps every sum exact in
 * float32.  The first run of every (op, size) is verified on all ranks
 * (or on the root for gather/reduce); a mismatch aborts the job.
 *
 * Rank 0 prints CSV to stdout:
 *   impl,np,op,bytes,median_us,min_us,gbps
 * gbps = bytes / median_seconds / 1e9 with bytes = S (per rank).
 *
 * Defaults: repeats 20 for S <= 1 MiB, 5 for S <= 16 MiB, 3 above;
 *           warmup 2 for S <= 1 MiB, 1 above.
 *
 * Build: mpicc -O2 -Wall -o bin/mpicoll scripts/mpicoll.c
 */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum op_kind { OP_BCAST, OP_GATHER, OP_REDUCE, OP_ALLREDUCE, OP_BARRIER };

static const char *const op_names[] = {"bcast", "gather", "reduce", "allreduce", "barrier"};
#define N_OP_NAMES ((int)(sizeof op_names / sizeof op_names[0]))

#define MAX_LIST 64

static int rank, nprocs;
static double cold_seconds, idle_seconds;
static int reduce_each;
static volatile float burn_sink;

/* Computes for the given wall time; see --cold. */
static void burn(double seconds)
{
    enum { N = 64 * 1024 };
    static float buf[N];
    double t0 = MPI_Wtime();
    for (int i = 0; i < N; i++)
        buf[i] = (float)(i % 13);
    while (MPI_Wtime() - t0 < seconds) {
        for (int i = 0; i < N; i++)
            buf[i] = buf[i] * 0.999f + 0.5f;
        burn_sink += buf[N / 3];
    }
}

static void die(const char *fmt, const char *arg)
{
    if (rank == 0) {
        fprintf(stderr, "mpicoll: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
    }
    MPI_Finalize();
    exit(1);
}

static void usage(void)
{
    if (rank == 0)
        fprintf(stderr,
                "usage: mpicoll [--sizes B1,B2,...] [--ops bcast,gather,reduce,allreduce,barrier]\n"
                "               [--repeats R] [--warmup W] [--impl NAME] [--cold SECONDS]\n"
                "               [--idle SECONDS] [--reduce-each]\n"
                "  sizes are bytes of float32 per rank (multiples of 4)\n");
    MPI_Finalize();
    exit(1);
}

static long parse_long(const char *s, const char *what)
{
    char *end;
    long v;
    if (s == NULL || *s == '\0')
        die("missing value for %s", what);
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0)
        die("bad value for %s", what);
    return v;
}

static int parse_sizes(const char *arg, size_t *out)
{
    char *copy = strdup(arg), *save = NULL, *tok;
    int n = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long long v = strtoull(tok, &end, 10);
        if (*end != '\0' || v == 0 || v % 4 != 0)
            die("bad size '%s' (need a positive multiple of 4 bytes)", tok);
        if (v / 4 > INT_MAX)
            die("size '%s' too large for an int element count", tok);
        if (n == MAX_LIST)
            die("too many sizes%s", "");
        out[n++] = (size_t)v;
    }
    free(copy);
    if (n == 0)
        die("empty --sizes%s", "");
    return n;
}

static int parse_ops(const char *arg, int *out)
{
    char *copy = strdup(arg), *save = NULL, *tok;
    int n = 0, k;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        for (k = 0; k < N_OP_NAMES; k++)
            if (strcmp(tok, op_names[k]) == 0)
                break;
        if (k == N_OP_NAMES)
            die("unknown op '%s' (bcast,gather,reduce,allreduce,barrier)", tok);
        if (n == MAX_LIST)
            die("too many ops%s", "");
        out[n++] = k;
    }
    free(copy);
    if (n == 0)
        die("empty --ops%s", "");
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Input pattern of rank r. */
static inline float pattern(int r, size_t i) { return (float)(r + (int)(i % 7)); }

static void fill_pattern(float *buf, size_t n, int r)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern(r, i);
}

static void fill_value(float *buf, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = v;
}

/* Returns 0 if ok; on mismatch prints a message and returns 1. */
static int check(const char *op, size_t bytes, const float *buf, size_t n, int block,
                 int is_sum)
{
    /* sum over ranks of (r + i%7) = np(np-1)/2 + np*(i%7) */
    for (size_t i = 0; i < n; i++) {
        float want = is_sum ? (float)(nprocs * (nprocs - 1) / 2 + nprocs * (int)(i % 7))
                            : pattern(block, i);
        if (buf[i] != want) {
            fprintf(stderr,
                    "mpicoll: VERIFY FAILED: op=%s bytes=%zu np=%d rank=%d block=%d "
                    "element=%zu got=%g want=%g\n",
                    op, bytes, nprocs, rank, block, i, (double)buf[i], (double)want);
            return 1;
        }
    }
    return 0;
}

/* Runs the op once; returns the local elapsed time (seconds). */
static double run_once(int op, float *sbuf, float *rbuf, int count)
{
    double t0, t1;
    if (cold_seconds > 0)
        burn(cold_seconds);
    MPI_Barrier(MPI_COMM_WORLD);
    if (idle_seconds > 0 && rank == 0) {
        struct timespec ts = {(time_t)idle_seconds, (long)((idle_seconds - (double)(time_t)idle_seconds) * 1e9)};
        nanosleep(&ts, NULL);
    }
    t0 = MPI_Wtime();
    switch (op) {
    case OP_BCAST:
        MPI_Bcast(sbuf, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        break;
    case OP_GATHER:
        MPI_Gather(sbuf, count, MPI_FLOAT, rbuf, count, MPI_FLOAT, 0, MPI_COMM_WORLD);
        break;
    case OP_REDUCE:
        MPI_Reduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, 0, MPI_COMM_WORLD);
        break;
    case OP_ALLREDUCE:
        MPI_Allreduce(sbuf, rbuf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        break;
    case OP_BARRIER:
        MPI_Barrier(MPI_COMM_WORLD);
        break;
    }
    t1 = MPI_Wtime();
    return t1 - t0;
}

/* Verifies the outcome of the first run of (op, size); aborts on mismatch. */
static void verify(int op, size_t bytes, const float *sbuf, const float *rbuf, size_t n)
{
    int bad = 0, anybad = 0;
    switch (op) {
    case OP_BCAST:
        bad = check("bcast", bytes, sbuf, n, 0, 0);
        break;
    case OP_GATHER:
        if (rank == 0)
            for (int r = 0; r < nprocs && !bad; r++)
                bad = check("gather", bytes, rbuf + (size_t)r * n, n, r, 0);
        break;
    case OP_REDUCE:
        if (rank == 0)
            bad = check("reduce", bytes, rbuf, n, -1, 1);
        break;
    case OP_ALLREDUCE:
        bad = check("allreduce", bytes, rbuf, n, -1, 1);
        break;
    default:
        break;
    }
    MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (anybad) {
        if (rank == 0)
            fprintf(stderr, "mpicoll: result check failed for op=%s bytes=%zu np=%d, aborting\n",
                    op_names[op], bytes, nprocs);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
}

static void bench(const char *impl, int op, size_t bytes, int repeats, int warmup)
{
    size_t n = bytes / 4;
    int count = (int)n;
    size_t rbytes = (op == OP_GATHER && rank == 0) ? (size_t)nprocs * bytes : bytes;
    float *sbuf = NULL, *rbuf = NULL;
    double *times;
    int R, W;

    if (op == OP_BARRIER)
        bytes = n = 0, count = 0, rbytes = 0;
    R = repeats > 0 ? repeats : (bytes <= (1u << 20) ? 20 : bytes <= (16u << 20) ? 5 : 3);
    W = warmup >= 0 ? warmup : (bytes <= (1u << 20) ? 2 : 1);

    if (op != OP_BARRIER) {
        sbuf = malloc(bytes);
        rbuf = malloc(rbytes);
        if (sbuf == NULL || rbuf == NULL) {
            fprintf(stderr, "mpicoll: rank %d: out of memory (%zu + %zu bytes)\n", rank,
                    bytes, rbytes);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
        /* Touch every page before timing: the input pattern, and a sentinel
         * in the output that a correct collective must overwrite. */
        fill_pattern(sbuf, n, rank);
        fill_value(rbuf, rbytes / 4, -1.0f);
    }
    times = malloc(sizeof(double) * (size_t)R);

    /* Each rank keeps its own times; one reduction after the last repeat
     * takes the max over ranks per repeat, so nothing synchronizes the
     * ranks between a call and the next repeat's compute (as in fltk's
     * and gloocoll's loops: in cold mode a rank that finished computes at
     * once, as a federated client does). */
    double *local = malloc(sizeof(double) * (size_t)R);
    for (int it = 0; it < W + R; it++) {
        double t = run_once(op, sbuf, rbuf, count);
        if (it == 0)
            verify(op, bytes, sbuf, rbuf, n);
        if (reduce_each) /* the max over ranks now: everyone waits for the last */
            MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (it >= W)
            local[it - W] = t;
    }
    MPI_Reduce(local, times, R, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    free(local);

    if (rank == 0) {
        double med, mn;
        qsort(times, (size_t)R, sizeof(double), cmp_double);
        mn = times[0];
        med = (R % 2) ? times[R / 2] : 0.5 * (times[R / 2 - 1] + times[R / 2]);
        printf("%s,%d,%s,%zu,%.3f,%.3f,%.3f\n", impl, nprocs, op_names[op], bytes, med * 1e6,
               mn * 1e6, (bytes > 0 && med > 0) ? (double)bytes / med / 1e9 : 0.0);
        fflush(stdout);
    }
    free(times);
    free(sbuf);
    free(rbuf);
}

int main(int argc, char **argv)
{
    size_t sizes[MAX_LIST];
    int ops[MAX_LIST];
    int nsizes, nops, repeats = 0, warmup = -1;
    const char *impl = "openmpi";

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);

    nsizes = parse_sizes("4096,65536,1048576,16777216,67108864", sizes);
    nops = parse_ops("bcast,gather,reduce,allreduce,barrier", ops);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (strcmp(a, "--sizes") == 0 && v) {
            nsizes = parse_sizes(v, sizes), i++;
        } else if (strcmp(a, "--ops") == 0 && v) {
            nops = parse_ops(v, ops), i++;
        } else if (strcmp(a, "--repeats") == 0 && v) {
            long r = parse_long(v, "--repeats");
            if (r < 1 || r > 1000000)
                die("--repeats must be in 1..1000000%s", "");
            repeats = (int)r, i++;
        } else if (strcmp(a, "--warmup") == 0 && v) {
            long w = parse_long(v, "--warmup");
            if (w > 1000000)
                die("--warmup too large%s", "");
            warmup = (int)w, i++;
        } else if (strcmp(a, "--cold") == 0 && v) {
            char *end;
            cold_seconds = strtod(v, &end);
            if (*end != '\0' || !(cold_seconds >= 0) || cold_seconds > 3600)
                die("bad value for --cold (seconds, 0..3600): '%s'", v);
            i++;
        } else if (strcmp(a, "--idle") == 0 && v) {
            char *end;
            idle_seconds = strtod(v, &end);
            if (*end != '\0' || !(idle_seconds >= 0) || idle_seconds > 3600)
                die("bad value for --idle (seconds, 0..3600): '%s'", v);
            i++;
        } else if (strcmp(a, "--reduce-each") == 0) {
            reduce_each = 1;
        } else if (strcmp(a, "--impl") == 0 && v) {
            impl = v, i++;
        } else {
            usage();
        }
    }

    if (rank == 0) {
        printf("impl,np,op,bytes,median_us,min_us,gbps\n");
        fflush(stdout);
    }
    for (int o = 0; o < nops; o++) {
        if (ops[o] == OP_BARRIER) {
            bench(impl, OP_BARRIER, 0, repeats, warmup);
            continue;
        }
        for (int s = 0; s < nsizes; s++)
            bench(impl, ops[o], sizes[s], repeats, warmup);
    }

    MPI_Finalize();
    return 0;
}
