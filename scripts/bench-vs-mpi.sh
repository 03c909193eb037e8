#!/usr/bin/env bash
# bench-vs-mpi.sh — run OpenMPI (TCP loopback and shared memory) and fltk
# collective benchmarks back to back and print one comparison table.
#
# Environment (defaults in brackets):
#   NPS        process counts                    ["2 5 9"]
#   SIZES      bytes of float32 per rank, commas ["4096,65536,1048576,16777216,67108864"]
#   OPS        bcast,gather,reduce,allreduce,barrier subset ["bcast,gather,allreduce,barrier"]
#   OUT        output directory                  [bench-results]
#   FLTK_BIN   fltk binary                       [bin/fltk]  (built with `make build` if the
#                                                             default is missing)
#   REPEATS    --repeats for mpicoll             [mpicoll default: 20/5/3 by size]
#   WARMUP     --warmup for mpicoll              [mpicoll default: 2/1 by size]
#   MPIRUN_EXTRA extra mpirun arguments, both OpenMPI runs  [""]
#   FLTK_EXTRA   extra arguments for `fltk bench`            [""]
#   RUN_TIMEOUT  seconds per single run, 0 = none            [3600]
#
# Outputs in $OUT: all.csv (every row of this invocation, one header),
# table.txt / table.md (comparison), commands.txt, logs/<impl>-np<N>.{csv,err}.
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
SIZES=${SIZES:-"4096,65536,1048576,16777216,67108864"}
OPS=${OPS:-"bcast,gather,allreduce,barrier"}
OUT=${OUT:-bench-results}
FLTK_BIN=${FLTK_BIN:-bin/fltk}
REPEATS=${REPEATS:-}
WARMUP=${WARMUP:-}
MPIRUN_EXTRA=${MPIRUN_EXTRA:-}
FLTK_EXTRA=${FLTK_EXTRA:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-3600}

HEADER="impl,np,op,bytes,median_us,min_us,gbps"

log() { printf '[bench-vs-mpi] %s\n' "$*" >&2; }

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
if [ ! -x "$FLTK_BIN" ]; then
    if [ "$FLTK_BIN" = "bin/fltk" ]; then
        log "bin/fltk missing: running make build"
        make build
    fi
    if [ ! -x "$FLTK_BIN" ]; then
        log "error: fltk binary '$FLTK_BIN' not found or not executable"
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
read -r -a mpirun_extra <<<"$MPIRUN_EXTRA"
read -r -a fltk_extra <<<"$FLTK_EXTRA"

timeout_cmd=()
if [ "$RUN_TIMEOUT" != "0" ] && command -v timeout >/dev/null 2>&1; then
    timeout_cmd=(timeout "$RUN_TIMEOUT")
fi

failures=0
notes=()

# run_one NAME NP CMD... : runs CMD, stdout -> logs/NAME-npNP.csv, stderr ->
# logs/NAME-npNP.err; returns the command's status. CSV rows are appended to
# all.csv only on success.
run_one() {
    local name=$1 np=$2
    shift 2
    local csv="$OUT/logs/$name-np$np.csv" err="$OUT/logs/$name-np$np.err"
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
    awk -F, -v h="$HEADER" 'NF == 7 && $0 != h && $2 ~ /^[0-9]+$/' "$csv" >>"$ALL"
    return 0
}

sm_nocma=0
for np in $NPS; do
    mpi_base=(mpirun --allow-run-as-root --oversubscribe -np "$np" "${mpirun_extra[@]}")

    run_one openmpi-tcp "$np" "${mpi_base[@]}" \
        --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
        bin/mpicoll --impl openmpi-tcp "${mpicoll_args[@]}" || failures=$((failures + 1))

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

    run_one fltk "$np" "$FLTK_BIN" bench --np "$np" --sizes "$SIZES" --ops "$OPS" --csv \
        "${fltk_extra[@]}" || failures=$((failures + 1))
done

# ---------------------------------------------------------------- table
# Joins all.csv on (np, op, bytes); one row per np × op × size (barrier: one row).
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
# Display width: "µ" is 2 bytes, which byte-oriented awks (mawk) count as 2.
function dwidth(s,   t) { t = s; gsub(/µ/, "u", t); return length(t) }
function pad(s, w, right,   sp) {
    sp = ""
    while (dwidth(s) + length(sp) < w) sp = sp " "
    return right ? sp s : s sp
}
function addrow(a, b, c, d, e, f, g) {
    nrow++
    cell[nrow, 1] = a; cell[nrow, 2] = b; cell[nrow, 3] = c; cell[nrow, 4] = d
    cell[nrow, 5] = e; cell[nrow, 6] = f; cell[nrow, 7] = g
}
NR == 1 { next }
{ med[$1, $2, $3, $4 + 0] = $5 }
END {
    ncol = 7
    addrow("np", "op", "size", "openmpi-sm", "openmpi-tcp", "fltk", "fltk/tcp")
    nn = split(nps, NP, " "); no = split(ops, OP, ","); ns = split(sizes, SZ, ",")
    for (i = 1; i <= nn; i++) for (j = 1; j <= no; j++) {
        nb = (OP[j] == "barrier") ? 1 : ns
        for (k = 1; k <= nb; k++) {
            b = (OP[j] == "barrier") ? 0 : SZ[k] + 0
            sm = med["openmpi-sm", NP[i], OP[j], b]
            tcp = med["openmpi-tcp", NP[i], OP[j], b]
            fl = med["fltk", NP[i], OP[j], b]
            ratio = (fl != "" && tcp != "" && tcp + 0 > 0) ? sprintf("%.2f", fl / tcp) : "n/a"
            addrow(NP[i], OP[j], hsize(b), htime(sm), htime(tcp), htime(fl), ratio)
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
    awk -F, -v fmt="$1" -v nps="$NPS" -v ops="$OPS" -v sizes="$SIZES" "$TABLE_AWK" "$ALL"
}

ompi_version=$(mpirun --version 2>/dev/null | head -n 1 || true)
ompi_version=${ompi_version:-"OpenMPI version unknown"}
fltk_rev=$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
env_line="NPS=\"$NPS\" SIZES=\"$SIZES\" OPS=\"$OPS\" OUT=\"$OUT\" FLTK_BIN=\"$FLTK_BIN\""
[ -n "$REPEATS" ] && env_line+=" REPEATS=\"$REPEATS\""
[ -n "$WARMUP" ] && env_line+=" WARMUP=\"$WARMUP\""
[ -n "$MPIRUN_EXTRA" ] && env_line+=" MPIRUN_EXTRA=\"$MPIRUN_EXTRA\""
[ -n "$FLTK_EXTRA" ] && env_line+=" FLTK_EXTRA=\"$FLTK_EXTRA\""

make_table text >"$OUT/table.txt"
{
    echo "# fltk vs OpenMPI collectives"
    echo
    echo "- command: \`$env_line $invocation\`"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); host: $(hostname 2>/dev/null || uname -n); nproc: $(nproc); kernel: $(uname -r)"
    echo "- $ompi_version; fltk revision: $fltk_rev"
    echo "- median time over repeats; time of one repeat = max over ranks; size = float32 bytes per rank"
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
