#!/usr/bin/env bash
# bench-multihost.sh — fltk and OpenMPI collectives across test hosts on one
# machine: 3 network namespaces (scripts/netns.sh) × 3 ranks, links shaped
# with tc tbf to each rate in RATES; broadcast, reduce, allreduce and gather
# of 1, 16 and 64 MiB. RUNS runs per (rate, op, size, implementation), the
# implementations alternating within a cell (fltk, openmpi, fltk, openmpi,
# …) so both see the same machine; the veth byte counters read before and
# after each run give the bytes that crossed each host's link for that run.
# A benchmark, not a test; root.
#
#   scripts/bench-multihost.sh            (make bench-multihost)
#
# Environment (defaults in brackets):
#   RATES        tc rates of the links                      ["1gbit 100mbit"]
#   SIZES        bytes of float32 per rank, commas          ["1048576,16777216,67108864"]
#   OPS          bcast,reduce,allreduce,gather,barrier subset ["bcast,reduce,allreduce,gather"]
#                (a barrier's cells are labelled with each size of SIZES; its
#                link columns then mean nothing)
#   HOSTS SLOTS  hosts and ranks per host                    [3 3]
#   IMPLS        which to run, in this order per run: fltk, openmpi ["fltk openmpi"]
#   BURST_MS     tbf burst in ms of the rate (at least 128 KiB; scripts/netns.sh) [1]:
#                a physical link never exceeds its rate, while a bucket of 10 ms
#                (1.25 MB at 1 Gbit/s) passes a whole 1 MiB tensor at memory speed
#                after 10 ms idle and refunds the idle time before a call (the
#                barrier's) to the call; see docs/multihost.md
#   RUNS         runs (separate launches) per cell and implementation [2]
#   REPEATS      timed repeats per run: one number, or one per size in SIZES
#                (commas)                                    [20 up to 1 MiB, 5 up to 16 MiB, 3 above]
#                (warm-up calls are fltk bench's fixed ones: 2 up to 1 MiB, 1 above)
#   FLTK_CONFIG  fltk's job config                          [configs/bench.toml: the defaults]
#   FLTK_EXTRA   extra fltk-launch arguments (e.g. "--tls=false") []
#   SLOW_CONFIG  config for a rerun of an fltk run that failed with a false
#                "rank N is down" (heartbeats queued behind bulk data on
#                saturated links)                            [configs/bench-slowlink.toml:
#                                                              runtime.liveness_timeout = "30s"]
#   MPI_BTL      OpenMPI byte transfer layers                ["tcp,self", as issue 12 asks;
#                                                              "tcp,vader,self" adds shared memory on a host]
#   MPIRUN_EXTRA extra mpirun arguments                      ["--mca mpi_yield_when_idle 1": 9 ranks share
#                                                              2 cores here, and busy-polling ranks starve the
#                                                              others; fltk ranks block too]
#   FLTK_MODE    ssh: fltk-launch --hosts over ssh (one NATS server per host)
#                hub: fltk-launch's one NATS server in the launcher's namespace, ranks
#                     started on the hosts through ssh by a wrapper (fltk before --hosts)
#                                                            [ssh if fltk-launch has --hosts, else hub]
#   FLTK_BIN FLTK_LAUNCH                                     [bin/fltk bin/fltk-launch; make build if missing]
#   OUT          output directory                            [bench-multihost]
#   RUN_TIMEOUT  seconds per run                             [1200]
#   APPEND       1: add to $OUT's earlier rows (e.g. IMPLS=fltk after a run of both)
#                instead of starting afresh; the tables show every implementation
#
# Outputs in $OUT: all.csv (rate,impl,np,op,bytes,median_us,min_us,gbps,run,config),
# links.csv (rate,impl,op,bytes,calls,host,out_bytes,in_bytes,run: bytes that
# crossed host's link during that run), failures.csv (rate,impl,op,bytes,run,
# config,reason), table.txt, table.md, commands.txt, logs/.
#
# Reading the time columns: per run the median (and min) over the timed
# repeats of the max over ranks; per cell "median" is the median of the
# runs' medians, "min" the smallest repeat of any run, "spread" the range
# of the runs' medians relative to the cell's median.
#
# Reading the link columns: "×tensor" is the largest of any host's out or in
# bytes in one run, divided by calls (warm-up + timed repeats) and by the
# tensor size; it includes the run's start-up (ssh, rendezvous), which is
# small next to 1 MiB × calls.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
invocation="$0${*:+ $*}"
cd "$repo_root"

RATES=${RATES:-"1gbit 100mbit"}
SIZES=${SIZES:-"1048576,16777216,67108864"}
OPS=${OPS:-"bcast,reduce,allreduce,gather"}
HOSTS=${HOSTS:-3}
SLOTS=${SLOTS:-3}
IMPLS=${IMPLS:-"fltk openmpi"}
RUNS=${RUNS:-2}
BURST_MS=${BURST_MS:-1}
export NETNS_BURST_MS=$BURST_MS
REPEATS=${REPEATS:-}
FLTK_CONFIG=${FLTK_CONFIG:-configs/bench.toml}
FLTK_EXTRA=${FLTK_EXTRA:-}
SLOW_CONFIG=${SLOW_CONFIG:-configs/bench-slowlink.toml}
MPI_BTL=${MPI_BTL:-"tcp,self"}
MPIRUN_EXTRA=${MPIRUN_EXTRA-"--mca mpi_yield_when_idle 1"}
FLTK_BIN=${FLTK_BIN:-bin/fltk}
FLTK_LAUNCH=${FLTK_LAUNCH:-bin/fltk-launch}
FLTK_MODE=${FLTK_MODE:-}
OUT=${OUT:-bench-multihost}
RUN_TIMEOUT=${RUN_TIMEOUT:-1200}
NETNS="$script_dir/netns.sh"
NP=$((HOSTS * SLOTS))

log() { printf '[bench-multihost] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
"$NETNS" deps

# ---------------------------------------------------------------- OpenMPI
if [[ " $IMPLS " == *" openmpi "* ]]; then
    if ! command -v mpicc >/dev/null 2>&1 || ! command -v mpirun >/dev/null 2>&1; then
        apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
        log "mpicc/mpirun missing: installing openmpi-bin libopenmpi-dev"
        "${apt[@]}" install -y --no-install-recommends openmpi-bin libopenmpi-dev ||
            { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends openmpi-bin libopenmpi-dev; }
    fi
    mkdir -p bin
    log "building bin/mpicoll"
    mpicc -O2 -Wall -o bin/mpicoll scripts/mpicoll.c
fi

# ---------------------------------------------------------------- fltk
if [[ " $IMPLS " == *" fltk "* ]]; then
    if [ ! -x "$FLTK_BIN" ] || [ ! -x "$FLTK_LAUNCH" ]; then
        log "fltk binaries missing: make build"
        make build
    fi
    FLTK_BIN=$(realpath "$FLTK_BIN")
    FLTK_LAUNCH=$(realpath "$FLTK_LAUNCH")
    if [ -z "$FLTK_MODE" ]; then
        # Not "| grep -q": grep exits at the first match, fltk-launch gets
        # SIGPIPE, and pipefail makes the test false.
        if grep -q -- '-hosts' <<<"$("$FLTK_LAUNCH" --help 2>&1)"; then FLTK_MODE=ssh; else FLTK_MODE=hub; fi
    fi
    case $FLTK_MODE in ssh | hub) ;; *) die "FLTK_MODE must be ssh or hub" ;; esac
fi
fltk_impl=fltk
[ "${FLTK_MODE:-}" = hub ] && fltk_impl=fltk-hub

mkdir -p "$OUT/logs"
OUT=$(realpath "$OUT")
ALL="$OUT/all.csv" LINKS="$OUT/links.csv"
if [ "${APPEND:-0}" != 1 ] || [ ! -f "$ALL" ]; then
    echo "rate,impl,np,op,bytes,median_us,min_us,gbps,run,config" >"$ALL"
    echo "rate,impl,op,bytes,calls,host,out_bytes,in_bytes,run" >"$LINKS"
    echo "rate,impl,op,bytes,run,config,reason" >"$OUT/failures.csv"
    : >"$OUT/commands.txt"
fi
read -r -a mpirun_extra <<<"$MPIRUN_EXTRA"
read -r -a fltk_extra <<<"$FLTK_EXTRA"
timeout_cmd=()
[ "$RUN_TIMEOUT" != 0 ] && timeout_cmd=(timeout -k 10 "$RUN_TIMEOUT")

IFS=, read -r -a size_list <<<"$SIZES"
IFS=, read -r -a reps_list <<<"${REPEATS:-}"
reps_of() { # REPEATS (per size), else the defaults of mpicoll and fltk bench
    local i
    if [ "${#reps_list[@]}" -gt 1 ]; then
        for i in "${!size_list[@]}"; do
            [ "${size_list[$i]}" = "$1" ] && { echo "${reps_list[$i]}"; return; }
        done
        die "REPEATS has no entry for size $1"
    fi
    if [ -n "$REPEATS" ]; then echo "$REPEATS"; elif [ "$1" -le 1048576 ]; then echo 20; elif [ "$1" -le 16777216 ]; then echo 5; else echo 3; fi
}
warm_of() { if [ "$1" -le 1048576 ]; then echo 2; else echo 1; fi; }

tag=""
cleanup() { if [ -n "$tag" ]; then "$NETNS" down "$tag" || true; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
# run_cell RATE IMPL OP SIZE RUN CONFIG CMD...: runs CMD; its CSV (mpicoll's
# or fltk bench's, written to $OUT/logs/NAME.fltk.csv) lands in all.csv with
# the rate, run and config, the link bytes in links.csv. Returns 0, or 3 if
# an fltk run failed with a "rank N is down" (a rerun may help).
run_cell() {
    local rate=$1 impl=$2 op=$3 size=$4 run=$5 config=$6
    shift 6
    local name csv rc=0
    name=$(cell_name "$rate" "$impl" "$op" "$size" "$run" "$config")
    csv="$OUT/logs/$name.csv"
    csv="$OUT/logs/$name.csv"
    printf '%q ' "$@" >>"$OUT/commands.txt"
    echo >>"$OUT/commands.txt"
    local before after
    before=$("$NETNS" bytes "$tag")
    local t0=$SECONDS
    "${timeout_cmd[@]}" "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" || rc=$?
    after=$("$NETNS" bytes "$tag")
    if [ "$impl" != openmpi ]; then
        cp "$OUT/logs/$name.fltk.csv" "$csv" 2>/dev/null || : >"$csv"
    else
        cp "$OUT/logs/$name.out" "$csv"
    fi
    # Both harnesses report a barrier with 0 bytes; SIZES labels its cells.
    [ "$op" != barrier ] || sed -i "s/,barrier,0,/,barrier,$size,/" "$csv"
    if [ "$rc" -ne 0 ] || ! grep -q ",$op,$size," "$csv"; then
        local reason="exit $rc"
        if grep -qE 'rank [0-9]+ is down' "$OUT/logs/$name.err"; then
            reason=$(grep -oE 'rank [0-9]+ is down[^"]*' "$OUT/logs/$name.err" | head -n 1 | tr -d ',')
        fi
        log "$name: FAILED ($reason); last lines of logs/$name.err:"
        tail -n 15 "$OUT/logs/$name.err" >&2 || true
        echo "$rate,$impl,$op,$size,$run,$(basename "$config"),$reason" >>"$OUT/failures.csv"
        failures=$((failures + 1))
        [[ $reason == rank*down* ]] && return 3
        return 0
    fi
    awk -F, -v p="$rate,$impl" -v s="$run,$(basename "$config")" 'NF == 7 && $2 ~ /^[0-9]+$/ { print p "," $2 "," $3 "," $4 "," $5 "," $6 "," $7 "," s }' "$csv" >>"$ALL"
    local calls=$(($(reps_of "$size") + $(warm_of "$size")))
    paste -d, <(tail -n +2 <<<"$before") <(tail -n +2 <<<"$after") |
        awk -F, -v p="$rate,$impl,$op,$size,$calls" -v r="$run" '{ printf "%s,%s,%d,%d,%s\n", p, $1, $9 - $4, $10 - $5, r }' >>"$LINKS"
    log "$name: $(awk -F, -v op="$op" -v s="$size" '$3 == op && $4 == s { printf "median %.1f ms", $5 / 1000 }' "$csv") ($((SECONDS - t0)) s)"
}

# cell_name RATE IMPL OP SIZE RUN CONFIG: the name of a run's logs.
cell_name() {
    local n="$1-$2-$3-$4-r$5"
    [ "$6" != - ] && [ "$6" != "$FLTK_CONFIG" ] && n+="-$(basename "$6" .toml)"
    echo "$n"
}

# run_fltk RATE OP SIZE REPS RUN CONFIG
run_fltk() {
    local rate=$1 op=$2 size=$3 reps=$4 run=$5 config=$6 worker
    worker=("$FLTK_BIN" bench-worker --ops "$op" --sizes "$size" --repeats "$reps"
        --out "$OUT/logs/$(cell_name "$rate" "$fltk_impl" "$op" "$size" "$run" "$config").fltk.csv")
    if [ "$FLTK_MODE" = ssh ]; then
        run_cell "$rate" "$fltk_impl" "$op" "$size" "$run" "$config" \
            "$FLTK_LAUNCH" -np "$NP" --hosts "$hostlist" --ssh "$NETNS_SSH" \
            --iface "$NETNS_SUBNET" ${fltk_extra[@]+"${fltk_extra[@]}"} "$config" -- "${worker[@]}"
    else
        run_cell "$rate" "$fltk_impl" "$op" "$size" "$run" "$config" \
            "$FLTK_LAUNCH" -np "$NP" --iface "$NETNS_SUBNET" "$config" \
            -- "$wrapper" "${worker[@]}"
    fi
}

ri=0
for rate in $RATES; do
    ri=$((ri + 1))
    tag="bm$ri$((RANDOM % 10000))"
    log "rate $rate: netns.sh up $tag $HOSTS $rate"
    env_out=$("$NETNS" up "$tag" "$HOSTS" "$rate")
    eval "$env_out"
    read -r -a addrs <<<"$NETNS_ADDRS"
    hostlist=""
    for a in "${addrs[@]}"; do hostlist+="${hostlist:+,}$a:$SLOTS"; done
    if [ "${FLTK_MODE:-}" = hub ]; then
        # One wrapper per rank: ssh to the rank's host with the job's env.
        wrapper="$OUT/logs/rank-over-ssh.sh"
        cat >"$wrapper" <<EOF
#!/bin/sh
# fltk-launch starts this once per rank in the launcher's namespace; it
# runs the worker on host FLTK_RANK / $SLOTS over ssh.
set -e
addrs="${addrs[*]}"
i=\$((FLTK_RANK / $SLOTS))
addr=\$(echo \$addrs | cut -d' ' -f\$((i + 1)))
exec $NETNS_SSH -o BatchMode=yes root@\$addr "FLTK_RANK=\$FLTK_RANK FLTK_WORLD_SIZE=\$FLTK_WORLD_SIZE FLTK_NATS_URL=\$FLTK_NATS_URL FLTK_JOB_ID=\$FLTK_JOB_ID FLTK_TOKEN=\$FLTK_TOKEN exec \$*"
EOF
        chmod +x "$wrapper"
    fi
    IFS=, read -r -a ops <<<"$OPS"
    IFS=, read -r -a sizes <<<"$SIZES"
    for op in "${ops[@]}"; do
        for size in "${sizes[@]}"; do
            reps=$(reps_of "$size")
            warm=$(warm_of "$size")
            for ((run = 1; run <= RUNS; run++)); do
            for impl in $IMPLS; do
                case $impl in
                openmpi)
                    run_cell "$rate" openmpi "$op" "$size" "$run" - \
                        mpirun --allow-run-as-root -np "$NP" --host "$hostlist" \
                        --mca plm_rsh_agent "$NETNS_SSH -o BatchMode=yes" \
                        --mca oob_tcp_if_include "$NETNS_SUBNET" \
                        --mca pml ob1 --mca btl "$MPI_BTL" --mca btl_tcp_if_include "$NETNS_SUBNET" \
                        "${mpirun_extra[@]}" \
                        "$repo_root/bin/mpicoll" --impl openmpi --ops "$op" --sizes "$size" \
                        --repeats "$reps" --warmup "$warm"
                    ;;
                fltk)
                    rc=0
                    run_fltk "$rate" "$op" "$size" "$reps" "$run" "$FLTK_CONFIG" || rc=$?
                    if [ "$rc" = 3 ] && [ -n "$SLOW_CONFIG" ]; then
                        log "rerunning with $SLOW_CONFIG"
                        run_fltk "$rate" "$op" "$size" "$reps" "$run" "$SLOW_CONFIG" || true
                    fi
                    ;;
                *) die "unknown implementation $impl" ;;
                esac
            done
            done
        done
    done
    "$NETNS" down "$tag"
    tag=""
done

# ---------------------------------------------------------------- tables
# One column group per implementation found in all.csv (APPEND=1 runs add
# theirs): median of the runs' medians, min, spread, runs; a ratio to
# openmpi per other implementation; the busiest link per implementation;
# then the per-host link bytes (of each cell's first run).
# shellcheck disable=SC2016  # awk programs
TABLE_AWK='
function htime(us) { if (us == "") return "n/a"; if (us + 0 < 1000) return sprintf("%.1f µs", us); if (us + 0 < 1e6) return sprintf("%.1f ms", us / 1000); return sprintf("%.2f s", us / 1e6) }
function hsize(b) { if (b % 1048576 == 0) return (b / 1048576) " MiB"; if (b % 1024 == 0) return (b / 1024) " KiB"; return b " B" }
function addimpl(x) { if (!(x in seen)) { seen[x] = 1; I[++ni] = x } }
function addrate(x) { if (!(x in rseen)) { rseen[x] = 1; R[++nr] = x } }
function median(k,   n, i, j, t, v) {
    n = split(meds[k], v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    lo[k] = v[1]; hi[k] = v[n]; nruns[k] = n
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
FILENAME ~ /all.csv$/ && FNR > 1 {
    k = $1 SUBSEP $2 SUBSEP $4 SUBSEP ($5 + 0)
    meds[k] = meds[k] (meds[k] == "" ? "" : " ") $6
    if (!(k in mn) || $7 + 0 < mn[k]) mn[k] = $7 + 0
    addimpl($2); addrate($1); next
}
FILENAME ~ /links.csv$/ && FNR > 1 {
    k = $1 SUBSEP $2 SUBSEP $3 SUBSEP ($4 + 0)
    x = ($7 > $8 ? $7 : $8) / $5 / $4
    if (!(k in link) || x > link[k]) link[k] = x
    if (!(k in firstrun)) firstrun[k] = $9
    if ($9 == firstrun[k]) per[k] = per[k] (per[k] == "" ? "" : " ") sprintf("%.2f/%.2f", $7 / $5 / $4, $8 / $5 / $4)
}
END {
    no = split(ops, O, ","); ns = split(sizes, S, ",")
    for (k in meds) med[k] = median(k)
    h = "| rate | op | size |"; d = "|---|---|---|"
    for (a = 1; a <= ni; a++) { h = h " " I[a] " median | min | spread (runs) |"; d = d "---:|---:|---:|" }
    for (a = 1; a <= ni; a++) if (I[a] != "openmpi" && ("openmpi" in seen)) { h = h " " I[a] "/openmpi |"; d = d "---:|" }
    for (a = 1; a <= ni; a++) { h = h " " I[a] " link ×tensor |"; d = d "---:|" }
    print h; print d
    for (i = 1; i <= nr; i++) for (j = 1; j <= no; j++) for (k = 1; k <= ns; k++) {
        s = S[k] + 0; line = "| " R[i] " | " O[j] " | " hsize(s) " |"
        for (a = 1; a <= ni; a++) {
            key = R[i] SUBSEP I[a] SUBSEP O[j] SUBSEP s
            if (key in med) line = line " " htime(med[key]) " | " htime(mn[key]) " | " sprintf("%.0f%% (%d)", 100 * (hi[key] - lo[key]) / med[key], nruns[key]) " |"
            else line = line " n/a | n/a | n/a |"
        }
        m = med[R[i], "openmpi", O[j], s]
        for (a = 1; a <= ni; a++) if (I[a] != "openmpi" && ("openmpi" in seen)) {
            f = med[R[i], I[a], O[j], s]
            line = line " " ((m != "" && f != "" && m > 0) ? sprintf("%.2f", f / m) : "n/a") " |"
        }
        for (a = 1; a <= ni; a++) {
            key = R[i] SUBSEP I[a] SUBSEP O[j] SUBSEP s
            line = line " " ((key in link) ? sprintf("%.2f", link[key]) : "n/a") " |"
        }
        print line
    }
    print ""
    print "Bytes that crossed each host link per call, in tensors (out/in of h0 h1 h2; rank 0 is on h0; first run of each cell):"
    print ""
    h = "| rate | op | size |"; d = "|---|---|---|"
    for (a = 1; a <= ni; a++) { h = h " " I[a] " |"; d = d "---|" }
    print h; print d
    for (i = 1; i <= nr; i++) for (j = 1; j <= no; j++) for (k = 1; k <= ns; k++) {
        s = S[k] + 0; line = "| " R[i] " | " O[j] " | " hsize(s) " |"
        for (a = 1; a <= ni; a++) line = line " " per[R[i], I[a], O[j], s] " |"
        print line
    }
}'
make_table() {
    awk -F, -v ops="$OPS" -v sizes="$SIZES" "$TABLE_AWK" "$ALL" "$LINKS"
}
make_table >"$OUT/table.txt"
ompi_version=$(mpirun --version 2>/dev/null | head -n 1 || true)
env_line="RATES=\"$RATES\" BURST_MS=$BURST_MS RUNS=$RUNS SIZES=\"$SIZES\" OPS=\"$OPS\" HOSTS=$HOSTS SLOTS=$SLOTS IMPLS=\"$IMPLS\" MPI_BTL=\"$MPI_BTL\" MPIRUN_EXTRA=\"$MPIRUN_EXTRA\" FLTK_MODE=${FLTK_MODE:-none}${REPEATS:+ REPEATS=$REPEATS}"
{
    echo "# fltk vs OpenMPI across $HOSTS namespace hosts × $SLOTS ranks"
    echo
    echo "- command: \`$env_line $invocation\`"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); nproc: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg); kernel: $(uname -r)"
    echo "- ${ompi_version:-OpenMPI: not run}; fltk revision: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- per run: median and min over the timed repeats of the max over ranks; per cell: median of the runs' medians, min of all repeats, spread = range of the runs' medians / median; size = float32 bytes per rank; links shaped with tc tbf on both directions, burst $BURST_MS ms of the rate (at least 128 KiB)"
    echo "- repeats per run: $(for s in "${size_list[@]}"; do printf '%s: %s ' "$s" "$(reps_of "$s")"; done); runs alternate fltk and openmpi within a cell"
    echo "- link ×tensor: the busiest host link's bytes (out or in) per call / size"
    [ "$fltk_impl" = fltk-hub ] && echo "- fltk-hub: fltk-launch's one NATS server in the launcher's namespace (on the bridge), every rank started on its host over ssh"
    [ "$failures" -gt 0 ] && echo "- WARNING: $failures run(s) failed in this invocation (all: failures.csv), see $OUT/logs/"
    [ "$(wc -l <"$OUT/failures.csv")" -gt 1 ] && { echo; echo "Failed runs:"; echo; sed 's/^/    /' "$OUT/failures.csv"; }
    echo
    cat "$OUT/table.txt"
} >"$OUT/table.md"
echo
cat "$OUT/table.md"
log "wrote $ALL, $LINKS, $OUT/table.md"
[ "$failures" -eq 0 ]
