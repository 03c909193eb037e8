#!/usr/bin/env bash
# bench-train.sh — training throughput (samples/s of forward + backward +
# update) of the gorgonia models in trainer/model beside PyTorch CPU on the
# same architectures, in one invocation, with the ratio fltk/PyTorch.
#
# Usage: scripts/bench-train.sh [options]
#   --models LIST     comma-separated model names [the four phase-1 models
#                     MNIST2NN,MNISTCNN,FashionMNISTCNN,Cifar10CNN plus any
#                     other model registered in trainer/model/*.go]
#   --batch LIST      batch sizes                          [10,50]
#   --threads LIST    GOMAXPROCS (go test -cpu; also OPENBLAS_NUM_THREADS)
#                     and torch.set_num_threads                     [1,2]
#   --benchtime T     go test -benchtime (e.g. 2s or 20x)  [2s]
#   --torch-seconds S timed seconds per PyTorch measurement [T if T is in
#                     seconds, else 2]
#   --repeats R       measure every row R times, Go and PyTorch alternating
#                     (each repetition runs all models again); the table
#                     shows medians and the range of the R paired ratios
#                                                              [1]
#   --torch-blas-threads N|same
#                     OPENBLAS_NUM_THREADS of the PyTorch runs: N, or "same"
#                     as torch.set_num_threads                       [1]
#   --pin             run both sides of a T-thread row on CPUs 0..T-1
#                     (taskset): unpinned, a one-thread Go run gets the
#                     other core for its runtime's threads (GC) some of the
#                     time, and read 30-35 or 50-64 samples/s minutes
#                     apart on ResNet-18; pinned, 34-43      [off]
#   --openblas        build the Go side with -tags openblas, CGO_ENABLED=1,
#                     CGO_LDFLAGS=-lopenblas (installs libopenblas-dev)
#   --csv FILE        CSV output                [bench-results/bench-train.csv];
#                     the raw Go and PyTorch output goes to FILE minus .csv
#                     plus .log
#   -h, --help
#
# The models are run one after another; for each model the Go benchmark
# (BenchmarkTrainStep/model=<M>/batch=<B>, all batches and thread counts)
# runs right before scripts/bench_train_torch.py for the same model, so both
# sides share the machine's noise. A model without a Go benchmark shows n/a.
# For every thread count P > 1 a row "Px1" follows: P clients of one thread
# side by side — fltk in one process (BenchmarkTrainStepClients, one model
# per goroutine, as fed trains federated.parallel clients), PyTorch as P
# one-thread processes (as the seed FLTK runs one client per process) —
# with their summed samples/s. With --repeats R the whole sequence runs R
# times: the table shows each side's median and the range of the R ratios
# of a Go run to the PyTorch run right after it, which on a shared
# machine says more than one ratio.
# PyTorch runs on OpenBLAS, as its users run it: the script installs
# libopenblas0-pthread, checks which BLAS library torch really maps and
# refuses (exit 2) to report ratios against anything else (Debian's
# reference libblas3 is up to 12x slower), runs one PyTorch process per
# thread count with OPENBLAS_NUM_THREADS=1 by default (torch's own
# intra-op threads do the parallel work; OpenBLAS's threads on top of them
# cost PyTorch 2-10x on these 2-core VMs: MNIST2NN batch 16, torch 2
# threads, 36,218 samples/s with 1 OpenBLAS thread vs 3,630 with 2;
# FashionMNISTCNN 3,306 vs 1,479; --torch-blas-threads same gives OpenBLAS
# torch's count instead) and unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# for the PyTorch commands.
# Exit status 1 if a Go or PyTorch run failed (the others still run).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
invocation="$0 $*"
cd "$repo_root"

PHASE1="MNIST2NN,MNISTCNN,FashionMNISTCNN,Cifar10CNN"
models=""
batches="10,50"
threads="1,2"
benchtime="2s"
torch_seconds=""
repeats=1
openblas=0
torch_blas_threads=1
pin=0
csv="bench-results/bench-train.csv"
PY=/usr/bin/python3

log() { printf '[bench-train] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

need_arg() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ "$#" -gt 0 ]; do
    case $1 in
        --models) need_arg "$@"; models=$2; shift 2 ;;
        --batch) need_arg "$@"; batches=$2; shift 2 ;;
        --threads) need_arg "$@"; threads=$2; shift 2 ;;
        --benchtime) need_arg "$@"; benchtime=$2; shift 2 ;;
        --torch-seconds) need_arg "$@"; torch_seconds=$2; shift 2 ;;
        --repeats) need_arg "$@"; repeats=$2; shift 2 ;;
        --openblas) openblas=1; shift ;;
        --pin) pin=1; shift ;;
        --torch-blas-threads) need_arg "$@"; torch_blas_threads=$2; shift 2 ;;
        --csv) need_arg "$@"; csv=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ $batches =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--batch must be a comma-separated list of integers"
[[ $threads =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--threads must be a comma-separated list of integers"
[[ $torch_blas_threads =~ ^([1-9][0-9]*|same)$ ]] || die "--torch-blas-threads must be a number ≥ 1 or \"same\""
# blas_threads T: OPENBLAS_NUM_THREADS of a PyTorch run with T threads.
blas_threads() { if [ "$torch_blas_threads" = same ]; then echo "$1"; else echo "$torch_blas_threads"; fi; }
[[ $repeats =~ ^[1-9][0-9]*$ ]] || die "--repeats must be a positive integer"
if [ -z "$torch_seconds" ]; then
    if [[ $benchtime =~ ^([0-9]+(\.[0-9]*)?)s$ ]]; then
        torch_seconds=${BASH_REMATCH[1]}
    else
        torch_seconds=2
    fi
fi
[[ $torch_seconds =~ ^[0-9]+(\.[0-9]*)?$ ]] || die "--torch-seconds must be a number of seconds"

if [ -z "$models" ]; then
    # Phase-1 models first, then any other registered model (Name: "X" in a register call).
    models=$PHASE1
    while read -r m; do
        [[ ,$models, == *",$m,"* ]] || models+=",$m"
    done < <(grep -ho --exclude='*_test.go' 'Name: *"[A-Za-z0-9_]*"' trainer/model/*.go 2>/dev/null |
        sed 's/.*"\(.*\)"/\1/' | sort -u)
fi
[[ $models =~ ^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$ ]] || die "--models must be a comma-separated list of names"

# ------------------------------------------------------------ dependencies
apt_install() {
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || return 1
        apt=(sudo "${apt[@]}")
    fi
    log "installing $*"
    "${apt[@]}" install -y --no-install-recommends "$@" ||
        { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "$@"; }
}

[ -x "$PY" ] || die "$PY not found (this script needs Debian's python3 and python3-torch)"
if ! "$PY" -c 'import torch' 2>/dev/null; then
    apt_install python3-torch ||
        die "could not install python3-torch (apt-get install -y --no-install-recommends python3-torch, with sudo when not root); install it and rerun"
    "$PY" -c 'import torch' || die "python3-torch is installed but '$PY -c \"import torch\"' fails"
fi
# PyTorch's BLAS. Debian's python3-torch alone runs on the reference BLAS
# (libblas3), up to 12x slower than OpenBLAS: a ratio against it says
# nothing. libopenblas0-pthread takes over the libblas.so.3 alternative
# when installed. The PyTorch side runs with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset (this machine sets them for old OpenBLAS builds;
# they slow a current one); OPENBLAS_NUM_THREADS: see --torch-blas-threads.
torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OMP_NUM_THREADS)
if ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    apt_install libopenblas0-pthread || die "could not install libopenblas0-pthread (PyTorch must not run on the reference BLAS)"
fi
# torch_blas: the BLAS library file PyTorch has mapped after a matmul.
torch_blas=$("${torch_env[@]}" OPENBLAS_NUM_THREADS=1 "$PY" -c '
import torch
torch.mm(torch.ones(64, 64), torch.ones(64, 64))
libs = set()
for line in open("/proc/self/maps"):
    path = line.split()[-1]
    if "blas" in path.lower():
        libs.add(path)
print(" ".join(sorted(libs)))
') || die "could not run PyTorch to find its BLAS"
# The BLAS is the libblas.so.3 torch mapped (OpenBLAS's own LAPACK maps
# libopenblas beside a reference libblas), or libopenblas when torch links
# it directly.
blas_lib=$(tr ' ' '\n' <<<"$torch_blas" | grep '/libblas\.so' || true)
[ -n "$blas_lib" ] || blas_lib=$(tr ' ' '\n' <<<"$torch_blas" | grep '/libopenblas' || true)
case $blas_lib in
    *openblas*) ;;
    *) die "PyTorch runs on '${blas_lib:-no BLAS library}', not OpenBLAS: ratios against the reference BLAS overstate fltk up to 12x; make libopenblas0-pthread the libblas.so.3 alternative (update-alternatives --config libblas.so.3-$(uname -m)-linux-gnu) and rerun" ;;
esac
torch_blas=$blas_lib
log "PyTorch's BLAS: $torch_blas"
torch_version=$("$PY" -c 'import torch; print(torch.__version__)')

go_env=()
go_tags=()
build="pure-go"
if [ "$openblas" -eq 1 ]; then
    if grep -rlq "go:build openblas" trainer/model 2>/dev/null; then
        if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
            apt_install libopenblas-dev || die "could not install libopenblas-dev"
        fi
        go_env=(CGO_ENABLED=1 "CGO_LDFLAGS=${CGO_LDFLAGS:+$CGO_LDFLAGS }-lopenblas")
        go_tags=(-tags openblas)
        build="openblas"
    else
        log "note: the openblas build tag is not available yet (no '//go:build openblas' file in trainer/model); building pure Go"
        build="pure-go (openblas tag n/a)"
    fi
fi

# ------------------------------------------------------------ build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
test_bin="$tmp/model.test"
log "building the trainer/model test binary ($build)"
env ${go_env[@]+"${go_env[@]}"} go test -c ${go_tags[@]+"${go_tags[@]}"} -o "$test_bin" ./trainer/model/ ||
    die "go test -c ./trainer/model/ failed"
[ -x "$test_bin" ] || die "go test -c produced no binary"

# ------------------------------------------------------------ runs
mkdir -p "$(dirname "$csv")"
raw_log="${csv%.csv}.log"
{
    echo "# $invocation"
    echo "# $(date -u +%FT%TZ) $(uname -n) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# go: $(go version), build $build; torch $torch_version on $torch_blas (OPENBLAS_NUM_THREADS $torch_blas_threads; OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset)"
} >"$raw_log"
load_start=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_start" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    log "warning: load average $load_start on $(nproc) cores before the first run: other work will skew both sides (PyTorch's OpenBLAS threads most)"
fi
batch_re="(${batches//,/|})"
failed=0
raw="$tmp/raw.csv" # side,model,batch,threads,samples_per_s,params,repeat
: >"$raw"
IFS=, read -r -a model_list <<<"$models"
IFS=, read -r -a thread_list <<<"$threads"
start=$SECONDS
# pin_cmd T: the taskset prefix of a T-thread run with --pin, else nothing.
pin_cmd() { if [ "$pin" -eq 1 ]; then echo "taskset -c 0-$(($1 - 1))"; fi; }
# go_bench BENCH MODEL T BLAS_THREADS OUT: runs BenchmarkBENCH for MODEL
# at -cpu T (one process per thread count, so that OpenBLAS's own thread
# pool, --openblas, matches) into OUT; on failure logs its tail and sets
# failed. -test.bench splits the pattern on '/' into one regexp per level.
go_bench() {
    local pinned
    read -r -a pinned <<<"$(pin_cmd "$3")"
    if ! (cd trainer/model && ${pinned[@]+"${pinned[@]}"} env ${go_env[@]+"${go_env[@]}"} OPENBLAS_NUM_THREADS="$4" OMP_NUM_THREADS="$4" \
        "$test_bin" -test.run '^$' -test.bench "^Benchmark$1\$/^model=$2\$/^batch=$batch_re\$" \
        -test.cpu "$3" -test.benchtime "$benchtime" -test.count 1 -test.timeout 0) >"$5" 2>&1; then
        log "$2: Go benchmark $1 failed (-cpu $3):"
        tail -n 20 "$5" >&2
        failed=1
    fi
}

for rep in $(seq 1 "$repeats"); do
    [ "$repeats" -eq 1 ] || log "repetition $rep of $repeats"
    for m in "${model_list[@]}"; do
        log "$m: Go (benchtime $benchtime, -cpu $threads)"
        : >"$tmp/go-$m.txt"
        for t in "${thread_list[@]}"; do
            go_bench TrainStep "$m" "$t" "$t" "$tmp/go-$m-$t.txt"
            cat "$tmp/go-$m-$t.txt" >>"$tmp/go-$m.txt"
        done
        for t in "${thread_list[@]}"; do
            [ "$t" -gt 1 ] || continue
            # t clients side by side in one process, one model each (fed's
            # federated.parallel); PyTorch runs t one-thread processes.
            go_bench TrainStepClients "$m" "$t" 1 "$tmp/go-$m-${t}x1.txt"
            cat "$tmp/go-$m-${t}x1.txt" >>"$tmp/go-$m.txt"
        done
        cat "$tmp/go-$m.txt" >>"$raw_log"
        # BenchmarkTrainStep/model=M/batch=B[-P]  N  X ns/op  Y samples/s
        # BenchmarkTrainStepClients/model=M/batch=B-P: P clients of one thread, "Px1"
        awk -v m="$m" -v rep="$rep" '
            $1 ~ "^BenchmarkTrainStep(Clients)?/model=" m "/batch=[0-9]+(-[0-9]+)?$" {
                name = $1; procs = 1
                if (match(name, /-[0-9]+$/)) { procs = substr(name, RSTART + 1); name = substr(name, 1, RSTART - 1) }
                if ($1 ~ /^BenchmarkTrainStepClients/) procs = procs "x1"
                sub(/.*batch=/, "", name)
                for (i = 2; i < NF; i++) if ($(i + 1) == "samples/s") print "go," m "," name "," procs "," $i ",," rep
            }' "$tmp/go-$m.txt" >>"$raw"

        log "$m: PyTorch ${torch_version} (${torch_seconds}s per measurement, threads $threads)"
        : >"$tmp/torch-$m.csv"
        : >"$tmp/torch-$m.err"
        # One process per thread count: OpenBLAS's pool is sized at start.
        for t in "${thread_list[@]}"; do
            read -r -a pinned <<<"$(pin_cmd "$t")"
            if ! ${pinned[@]+"${pinned[@]}"} "${torch_env[@]}" OPENBLAS_NUM_THREADS="$(blas_threads "$t")" "$PY" scripts/bench_train_torch.py --models "$m" --batch "$batches" \
                --threads "$t" --seconds "$torch_seconds" >>"$tmp/torch-$m.csv" 2>>"$tmp/torch-$m.err"; then
                if grep -q 'unknown model' "$tmp/torch-$m.err"; then
                    log "$m: no PyTorch definition in bench_train_torch.py (n/a)"
                    break
                fi
                log "$m: PyTorch run failed (threads $t):"
                failed=1
            fi
        done
        for t in "${thread_list[@]}"; do
            [ "$t" -gt 1 ] || continue
            if ! "${torch_env[@]}" OPENBLAS_NUM_THREADS=1 "$PY" scripts/bench_train_torch.py --models "$m" --batch "$batches" --procs "$t" \
                --seconds "$torch_seconds" >>"$tmp/torch-$m.csv" 2>>"$tmp/torch-$m.err"; then
                grep -q 'unknown model' "$tmp/torch-$m.err" || { log "$m: PyTorch side-by-side run failed:"; failed=1; }
            fi
        done
        grep -v 'unknown model' "$tmp/torch-$m.err" | sed 's/^/    /' >&2 || true
        sed "s/^/torch,/; s/\$/,$rep/" "$tmp/torch-$m.csv" >>"$raw"
        cat "$tmp/torch-$m.err" "$tmp/torch-$m.csv" >>"$raw_log"
    done
done
elapsed=$((SECONDS - start))

# ------------------------------------------------------------ table + CSV
# Thread columns: each count, then "Px1" (P one-thread clients side by side) for P > 1.
labels=""
for t in "${thread_list[@]}"; do
    labels="$labels,$t"
    [ "$t" -gt 1 ] && labels="$labels,${t}x1"
done
labels=${labels#,}
awk -F, -v models="$models" -v batches="$batches" -v threads="$labels" -v build="$build" \
    -v csv="$csv" -v repeats="$repeats" '
    {
        k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
        n[k]++; x[k, n[k]] = $5; byrep[k, $7] = $5
        if ($6 != "") p[$2] = $6
    }
    function fmt(x) { return x == "" ? "n/a" : sprintf(x >= 100 ? "%.0f" : "%.3g", x) }
    # median of the values of key k (insertion sort; mawk has no asort)
    function median(k,    i, j, c, a, t) {
        c = n[k]
        if (c == 0) return ""
        for (i = 1; i <= c; i++) a[i] = x[k, i] + 0
        for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    END {
        nm = split(models, M, ","); nb = split(batches, B, ","); nt = split(threads, T, ",")
        print "model,batch,threads,fltk_samples_per_s,torch_samples_per_s,ratio,params,build,repeats,ratio_min,ratio_max" > csv
        hdr = sprintf("%-20s %5s %7s %15s %18s %8s", "model", "batch", "threads", "fltk samples/s", "PyTorch samples/s", "ratio")
        if (repeats > 1) hdr = hdr sprintf(" %13s", "ratio range")
        print hdr; gsub(/./, "-", hdr); print hdr
        met = 0; total = 0
        for (i = 1; i <= nm; i++) for (j = 1; j <= nb; j++) for (k = 1; k <= nt; k++) {
            gk = "go" SUBSEP M[i] SUBSEP B[j] SUBSEP T[k]; tk = "torch" SUBSEP M[i] SUBSEP B[j] SUBSEP T[k]
            g = median(gk); t = median(tk)
            r = (g != "" && t != "" && t > 0) ? sprintf("%.2f", g / t) : ""
            if (r != "") { total++; if (r + 0 >= 0.5) met++ }
            # the ratios of the repetitions, each Go run against the PyTorch run after it
            lo = ""; hi = ""
            for (q = 1; q <= repeats; q++) {
                if (!((gk, q) in byrep) || !((tk, q) in byrep) || byrep[tk, q] <= 0) continue
                rq = byrep[gk, q] / byrep[tk, q]
                if (lo == "" || rq < lo) lo = rq
                if (hi == "" || rq > hi) hi = rq
            }
            line = sprintf("%-20s %5s %7s %15s %18s %8s", M[i], B[j], T[k], fmt(g), fmt(t), r == "" ? "n/a" : r)
            if (repeats > 1) line = line sprintf(" %13s", lo == "" ? "n/a" : sprintf("%.2f–%.2f", lo, hi))
            print line
            printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", M[i], B[j], T[k], g, t, r, p[M[i]], build, repeats,
                lo == "" ? "" : sprintf("%.2f", lo), hi == "" ? "" : sprintf("%.2f", hi) > csv
        }
        printf "\nratio >= 0.5 (target) in %d of %d measured rows\n", met, total
    }' "$raw"
cat <<EOF
build: $build; PyTorch $torch_version on $torch_blas (SGD lr 0.01, no momentum; OPENBLAS_NUM_THREADS $torch_blas_threads); Go -benchtime $benchtime, PyTorch ${torch_seconds}s per row,$([ "$pin" -eq 0 ] || echo " both sides pinned to CPUs 0..T-1 (taskset),") $repeats repetition(s) (medians); $(nproc) cores, load average $load_start at start, $(cut -d' ' -f1 /proc/loadavg) at end; ${elapsed}s
command: $invocation
CSV: $csv, raw output: $raw_log
EOF
exit "$failed"
