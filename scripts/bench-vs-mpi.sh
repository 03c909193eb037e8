#!/usr/bin/env bash
# bench-vs-mpi.sh — run OpenMPI (TCP loopback and shared memory), torch.distributed
# (gloo over TCP loopback) and fltk collective benchmarks back to back and print one
# comparison table.
#
# Environment (defaults in brackets):
#   NPS        process counts                    ["2 5 9"]
#   SIZES      bytes of float32 per rank, commas ["4096,65536,116136,796840,1048576,2205864,
#              6653480,16777216,67108864"]: powers of two and the models' parameter bytes
#              (FashionMNIST-CNN 116136, MNIST 2NN 796840, CIFAR CNN 2205864, McMahan CNN 6653480)
#   OPS        bcast,gather,reduce,allreduce,barrier subset ["bcast,gather,allreduce,barrier"]
#   IMPLS      which baselines run, commas        ["openmpi-tcp,openmpi-sm,gloo"]
#   COLD       seconds every rank computes (busy arithmetic) before each timed op,
#              warm-up runs included, in every implementation; 0 = warm [0]
#   REDUCE_EACH 1: every implementation takes each repeat's max over ranks right
#              after the call (an allreduce: every rank waits for the slowest before
#              the next repeat), not once after the last repeat  [0]
#   ROUNDS     times the whole sequence runs (the table shows medians over rounds
#              and the range of the per-round ratios)  [1]
#   OUT        output directory                  [bench-results]
#   FLTK_BIN   fltk binary                       [bin/fltk]  (built with `make build` if the
#                                                             default is missing)
#   FLTK_BINS  several fltk binaries to alternate, "label=path label=path"; each
#              label becomes an impl and gets its own ratio columns  ["fltk=$FLTK_BIN"]
#   PYTHON     python with torch (Debian: python3-torch)  [/usr/bin/python3 if it
#              imports torch, else python3]
#   REPEATS    --repeats for mpicoll/gloocoll/fltk  [default: 20/5/3 by size]
#   WARMUP     --warmup for mpicoll/gloocoll       [default: 2/1 by size; fltk's is fixed]
#   MPIRUN_EXTRA extra mpirun arguments, both OpenMPI runs  [""]
#   FLTK_EXTRA   extra arguments for `fltk bench`            [""]
#   RUN_TIMEOUT  seconds per single run, 0 = none            [3600]
#
# Outputs in $OUT: all.csv (every row of this invocation, one header),
# table.txt / table.md (comparison), commands.txt,
# logs/<impl>-np<N>[-r<round>].{csv,err}.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
# Shell-quote arguments only where needed (keeps commas and paths readable).
quote_args() {
    local a out=""
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./,:=+@%-]+$ ]]; then
            out+="${out:+ }$a"
        else
            out+="${out:+ }$(printf '%q' "$a")"
        fi
    done
    printf '%s' "$out"
}
invocation=$(quote_args "$0" "$@")
cd "$repo_root"

NPS=${NPS:-"2 5 9"}
SIZES=${SIZES:-"4096,65536,116136,796840,1048576,2205864,6653480,16777216,67108864"}
OPS=${OPS:-"bcast,gather,allreduce,barrier"}
IMPLS=${IMPLS:-"openmpi-tcp,openmpi-sm,gloo"}
COLD=${COLD:-0}
REDUCE_EACH=${REDUCE_EACH:-0}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-bench-results}
FLTK_BIN=${FLTK_BIN:-bin/fltk}
FLTK_BINS=${FLTK_BINS:-"fltk=$FLTK_BIN"}
REPEATS=${REPEATS:-}
WARMUP=${WARMUP:-}
MPIRUN_EXTRA=${MPIRUN_EXTRA:-}
FLTK_EXTRA=${FLTK_EXTRA:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-3600}

HEADER="impl,np,op,bytes,median_us,min_us,gbps"

log() { printf '[bench-vs-mpi] %s\n' "$*" >&2; }

if ! [[ $COLD =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    log "error: COLD=$COLD is not a number of seconds"
    exit 2
fi
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
    log "error: ROUNDS=$ROUNDS is not a positive integer"
    exit 2
fi
want_impl() { [[ ,$IMPLS, == *",$1,"* ]]; }
for i in ${IMPLS//,/ }; do
    case $i in openmpi-tcp | openmpi-sm | gloo) ;; *)
        log "error: IMPLS: unknown '$i' (openmpi-tcp, openmpi-sm, gloo)"
        exit 2
        ;;
    esac
done

# ---------------------------------------------------------------- OpenMPI
install_openmpi() {
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if [ "$(id -u)" -ne 0 ]; then
        apt=(sudo "${apt[@]}")
    fi
    log "mpicc/mpirun missing: installing openmpi-bin libopenmpi-dev"
    if ! "${apt[@]}" install -y --no-install-recommends openmpi-bin libopenmpi-dev; then
        "${apt[@]}" update
        "${apt[@]}" install -y --no-install-recommends openmpi-bin libopenmpi-dev
    fi
}

if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
    install_openmpi
fi

mkdir -p bin
log "building bin/mpicoll"
mpicc -O2 -Wall -o bin/mpicoll scripts/mpicoll.c

# ---------------------------------------------------------------- fltk
fltk_labels=()
fltk_paths=()
for lp in $FLTK_BINS; do
    label=${lp%%=*} path=${lp#*=}
    if [ "$label" = "$lp" ] || ! [[ $label =~ ^[A-Za-z0-9_.-]+$ ]]; then
        log "error: FLTK_BINS entry '$lp' is not label=path"
        exit 2
    fi
    if [ ! -x "$path" ] && [ "$path" = "bin/fltk" ]; then
        log "bin/fltk missing: running make build"
        make build
    fi
    if [ ! -x "$path" ]; then
        log "error: fltk binary '$path' not found or not executable"
        exit 1
    fi
    fltk_labels+=("$label")
    fltk_paths+=("$path")
done

# ---------------------------------------------------------------- gloo
if want_impl gloo; then
    if [ -z "${PYTHON:-}" ]; then
        PYTHON=python3
        if /usr/bin/python3 -c 'import torch.distributed' >/dev/null 2>&1; then
            PYTHON=/usr/bin/python3
        fi
    fi
    if ! "$PYTHON" -c 'import torch.distributed as d; assert d.is_gloo_available()' >/dev/null 2>&1; then
        log "error: $PYTHON cannot import torch.distributed with gloo (apt-get install python3-torch), or drop gloo from IMPLS"
        exit 1
    fi
fi

# ---------------------------------------------------------------- output
mkdir -p "$OUT/logs"
ALL="$OUT/all.csv"
echo "$HEADER" >"$ALL"
: >"$OUT/commands.txt"

mpicoll_args=(--sizes "$SIZES" --ops "$OPS")
[ -n "$REPEATS" ] && mpicoll_args+=(--repeats "$REPEATS")
[ -n "$WARMUP" ] && mpicoll_args+=(--warmup "$WARMUP")
fltk_args=(--sizes "$SIZES" --ops "$OPS" --csv)
[ -n "$REPEATS" ] && fltk_args+=(--repeats "$REPEATS")
if [ "$REDUCE_EACH" = "1" ]; then
    mpicoll_args+=(--reduce-each)
    fltk_args+=(--reduce-each)
fi
if [ "$COLD" != "0" ]; then
    mpicoll_args+=(--cold "$COLD")
    fltk_args+=(-cold "${COLD}s")
fi
read -r -a mpirun_extra <<<"$MPIRUN_EXTRA"
read -r -a fltk_extra <<<"$FLTK_EXTRA"

timeout_cmd=()
if [ "$RUN_TIMEOUT" != "0" ] && command -v timeout >/dev/null 2>&1; then
    timeout_cmd=(timeout "$RUN_TIMEOUT")
fi

failures=0
notes=()

# run_one NAME NP CMD... : runs CMD, stdout -> logs/NAME-npNP[-rROUND].csv,
# stderr -> ….err; returns the command's status. CSV rows are appended to
# all.csv only on success, with their impl column set to NAME.
round=1
run_one() {
    local name=$1 np=$2
    shift 2
    local sfx=""
    [ "$ROUNDS" -gt 1 ] && sfx="-r$round"
    local csv="$OUT/logs/$name-np$np$sfx.csv" err="$OUT/logs/$name-np$np$sfx.err"
    quote_args "$@" >>"$OUT/commands.txt"
    echo >>"$OUT/commands.txt"
    log "np=$np $name: $*"
    local rc=0
    "${timeout_cmd[@]}" "$@" >"$csv" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        log "np=$np $name: FAILED (exit $rc); last lines of $err:"
        tail -n 15 "$err" >&2 || true
        return "$rc"
    fi
    # Keep only well-formed data rows (7 fields, not the header).
    awk -F, -v OFS=, -v h="$HEADER" -v name="$name" 'NF == 7 && $0 != h && $2 ~ /^[0-9]+$/ { $1 = name; print }' "$csv" >>"$ALL"
    return 0
}

sm_nocma=0
for ((round = 1; round <= ROUNDS; round++)); do
    for np in $NPS; do
        mpi_base=(mpirun --allow-run-as-root --oversubscribe -np "$np" "${mpirun_extra[@]}")

        if want_impl openmpi-tcp; then
            run_one openmpi-tcp "$np" "${mpi_base[@]}" \
                --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
                bin/mpicoll --impl openmpi-tcp "${mpicoll_args[@]}" || failures=$((failures + 1))
        fi

        if want_impl openmpi-sm; then
            if [ "$sm_nocma" -eq 1 ] || ! run_one openmpi-sm "$np" "${mpi_base[@]}" \
                bin/mpicoll --impl openmpi-sm "${mpicoll_args[@]}"; then
                if [ "$sm_nocma" -eq 0 ]; then
                    log "np=$np openmpi-sm failed; retrying without CMA single copy"
                    sm_nocma=1
                    notes+=("openmpi-sm: default run failed at np=$np; from then on run with --mca btl_vader_single_copy_mechanism none (no CMA)")
                fi
                run_one openmpi-sm "$np" "${mpi_base[@]}" \
                    --mca btl_vader_single_copy_mechanism none \
                    bin/mpicoll --impl openmpi-sm "${mpicoll_args[@]}" || failures=$((failures + 1))
            fi
        fi

        # fltk binaries alternate with the baselines; with several, their
        # order rotates each round so none always runs right after gloo.
        nf=${#fltk_labels[@]}
        for ((k = 0; k < nf; k++)); do
            j=$(((k + round - 1) % nf))
            run_one "${fltk_labels[j]}" "$np" "${fltk_paths[j]}" bench --np "$np" "${fltk_args[@]}" \
                "${fltk_extra[@]}" || failures=$((failures + 1))
        done

        if want_impl gloo; then
            run_one gloo "$np" "$PYTHON" scripts/gloocoll.py --np "$np" --impl gloo \
                "${mpicoll_args[@]}" || failures=$((failures + 1))
        fi
    done
done

# ---------------------------------------------------------------- table
# Joins all.csv on (np, op, bytes); one row per np × op × size (barrier: one
# row). A time cell is the median over rounds; a ratio cell is the median of
# the per-round ratios (the two runs of a round ran minutes apart), with
# their range when there are several rounds.
# shellcheck disable=SC2016  # awk program, no shell expansion wanted
TABLE_AWK='
function htime(us) {
    if (us == "") return "n/a"
    if (us + 0 < 1000) return sprintf("%.1f µs", us)
    return sprintf("%.2f ms", us / 1000)
}
function hsize(b) {
    if (b == 0) return "-"
    if (b % 1048576 == 0) return (b / 1048576) " MiB"
    if (b % 1024 == 0) return (b / 1024) " KiB"
    return b " B"
}
# Display width: "µ" and "–" are multi-byte, which byte-oriented awks count.
function dwidth(s,   t) { t = s; gsub(/µ/, "u", t); gsub(/–/, "-", t); return length(t) }
function pad(s, w, right,   sp) {
    sp = ""
    while (dwidth(s) + length(sp) < w) sp = sp " "
    return right ? sp s : s sp
}
# median of the n values v[1..n] (sorted in place)
function median(v, n,   i, j, t) {
    if (n == 0) return ""
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function medof(impl, key,   n, i, v) {
    n = cnt[impl, key]
    for (i = 1; i <= n; i++) v[i] = val[impl, key, i]
    return median(v, n)
}
# median (min–max) of the per-round ratios a/b
function ratio(a, b, key,   n, i, v, lo, hi, m) {
    n = 0
    for (i = 1; i <= cnt[a, key] && i <= cnt[b, key]; i++)
        if (val[b, key, i] + 0 > 0) { v[++n] = val[a, key, i] / val[b, key, i] }
    if (n == 0) return "n/a"
    m = median(v, n)
    if (n == 1) return sprintf("%.2f", m)
    return sprintf("%.2f (%.2f–%.2f)", m, v[1], v[n])
}
NR == 1 { next }
{ key = $2 SUBSEP $3 SUBSEP ($4 + 0); n = ++cnt[$1, key]; val[$1, key, n] = $5 }
END {
    nh = 0
    nb = split(bases, BASE, ",")
    for (i = 1; i <= nb; i++) H[++nh] = BASE[i]
    nf = split(fltks, FL, " ")
    for (f = 1; f <= nf; f++) {
        H[++nh] = FL[f]
        if (index("," bases ",", ",openmpi-tcp,")) H[++nh] = FL[f] "/tcp"
        if (index("," bases ",", ",gloo,")) H[++nh] = FL[f] "/gloo"
    }
    ncol = 3 + nh
    nrow = 1; cell[1, 1] = "np"; cell[1, 2] = "op"; cell[1, 3] = "size"
    for (c = 1; c <= nh; c++) cell[1, 3 + c] = H[c]
    nn = split(nps, NP, " "); no = split(ops, OP, ","); ns = split(sizes, SZ, ",")
    for (i = 1; i <= nn; i++) for (j = 1; j <= no; j++) {
        nsz = (OP[j] == "barrier") ? 1 : ns
        for (k = 1; k <= nsz; k++) {
            b = (OP[j] == "barrier") ? 0 : SZ[k] + 0
            key = NP[i] SUBSEP OP[j] SUBSEP b
            nrow++
            cell[nrow, 1] = NP[i]; cell[nrow, 2] = OP[j]; cell[nrow, 3] = hsize(b)
            for (c = 1; c <= nh; c++) {
                h = H[c]
                if (h ~ /\/tcp$/) { cell[nrow, 3 + c] = ratio(substr(h, 1, length(h) - 4), "openmpi-tcp", key) }
                else if (h ~ /\/gloo$/) { cell[nrow, 3 + c] = ratio(substr(h, 1, length(h) - 5), "gloo", key) }
                else { cell[nrow, 3 + c] = htime(medof(h, key)) }
            }
        }
    }
    if (fmt == "md") {
        for (r = 1; r <= nrow; r++) {
            line = "|"
            for (c = 1; c <= ncol; c++) line = line " " cell[r, c] " |"
            print line
            if (r == 1) {
                line = "|"
                for (c = 1; c <= ncol; c++) line = line (c <= 3 ? "---|" : "---:|")
                print line
            }
        }
        exit
    }
    for (c = 1; c <= ncol; c++) {
        w[c] = 0
        for (r = 1; r <= nrow; r++) if (dwidth(cell[r, c]) > w[c]) w[c] = dwidth(cell[r, c])
    }
    for (r = 1; r <= nrow; r++) {
        line = ""
        for (c = 1; c <= ncol; c++) line = line (c > 1 ? "  " : "") pad(cell[r, c], w[c], c > 3)
        print line
    }
}'
make_table() {
    # Baseline columns in a fixed order, those that ran.
    local bases="" i
    for i in openmpi-sm openmpi-tcp gloo; do
        want_impl "$i" && bases+="${bases:+,}$i"
    done
    awk -F, -v fmt="$1" -v nps="$NPS" -v ops="$OPS" -v sizes="$SIZES" -v bases="$bases" \
        -v fltks="${fltk_labels[*]}" "$TABLE_AWK" "$ALL"
}

ompi_version=$(mpirun --version 2>/dev/null | head -n 1 || true)
ompi_version=${ompi_version:-"OpenMPI version unknown"}
fltk_rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
env_line="NPS=\"$NPS\" SIZES=\"$SIZES\" OPS=\"$OPS\" IMPLS=\"$IMPLS\" COLD=\"$COLD\" ROUNDS=\"$ROUNDS\" OUT=\"$OUT\" FLTK_BINS=\"$FLTK_BINS\""
[ -n "$REPEATS" ] && env_line+=" REPEATS=\"$REPEATS\""
[ -n "$WARMUP" ] && env_line+=" WARMUP=\"$WARMUP\""
[ -n "$MPIRUN_EXTRA" ] && env_line+=" MPIRUN_EXTRA=\"$MPIRUN_EXTRA\""
[ -n "$FLTK_EXTRA" ] && env_line+=" FLTK_EXTRA=\"$FLTK_EXTRA\""

make_table text >"$OUT/table.txt"
{
    echo "# fltk vs OpenMPI and gloo collectives"
    echo
    echo "- command: \`$env_line $invocation\`"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host: $(hostname 2>/dev/null || uname -n); nproc: $(nproc); kernel: $(uname -r)"
    echo "- $ompi_version; fltk revision: $fltk_rev"
    echo "- median time over repeats; time of one repeat = max over ranks; size = float32 bytes per rank"
    [ "$COLD" != "0" ] && echo "- cold: every rank computed ${COLD} s before each timed op (warm-up runs included)"
    [ "$ROUNDS" -gt 1 ] && echo "- $ROUNDS rounds: times are medians over rounds; ratios the median (min–max) of the per-round ratios"
    [ -n "${PYTHON:-}" ] && echo "- gloo: torch $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?'), TCP loopback, FileStore"
    for n in "${notes[@]+"${notes[@]}"}"; do echo "- note: $n"; done
    if [ "$failures" -gt 0 ]; then
        echo "- WARNING: $failures run(s) failed (their rows are missing), see $OUT/logs/"
    fi
    echo
    make_table md
    echo
    echo "Commands run (from the repository root $repo_root):"
    echo
    echo '```'
    cat "$OUT/commands.txt"
    echo '```'
} >"$OUT/table.md"

echo
echo "$env_line $invocation"
echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC')  host=$(hostname 2>/dev/null || uname -n)  nproc=$(nproc)  kernel=$(uname -r)"
for n in "${notes[@]+"${notes[@]}"}"; do echo "note: $n"; done
echo
cat "$OUT/table.txt"
echo
log "wrote $ALL, $OUT/table.txt, $OUT/table.md"
if [ "$failures" -gt 0 ]; then
    log "$failures run(s) failed; see $OUT/logs/"
    exit 1
fi
