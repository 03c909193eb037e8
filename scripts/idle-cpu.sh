#!/usr/bin/env bash
# idle-cpu.sh — what waiting in a collective costs in CPU time.
#
# Every implementation runs the same job twice, alternating: REPEATS calls
# of OP on SIZE bytes, once plainly and once with rank 0 sleeping IDLE
# seconds after each call's barrier while the other ranks wait in their
# call (fltk bench --idle, mpicoll --idle, gloocoll.py --idle). The job's
# CPU time (user + sys of every process, from /usr/bin/time) of the idle
# run minus the plain run's, divided by the wall time rank 0 slept, is how
# many cores the NP−1 waiting ranks burn: OpenMPI polls; fltk yields for
# at most its spin (collective.poll_for, the barrier's 500 µs), then sleeps.
#
# Environment (defaults in brackets):
#   NP       ranks [5]      OP     bcast|gather|allreduce|barrier [bcast]
#   SIZE     bytes [4096]   IDLE   seconds rank 0 sleeps [0.2]
#   REPEATS  timed calls [10] (+ each implementation's warm-up calls, which
#            sleep too: fltk 2, mpicoll and gloocoll --warmup 2)
#   ROUNDS   plain/idle pairs per implementation [2]
#   IMPLS    fltk,openmpi-tcp,openmpi-sm,gloo [all four]
#   FLTK_BIN [bin/fltk]     PYTHON [/usr/bin/python3]
# Prints one line per run and a table: cores busy while waiting (per pair).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$script_dir/.."

NP=${NP:-5}
OP=${OP:-bcast}
SIZE=${SIZE:-4096}
IDLE=${IDLE:-0.2}
REPEATS=${REPEATS:-10}
ROUNDS=${ROUNDS:-2}
IMPLS=${IMPLS:-fltk,openmpi-tcp,openmpi-sm,gloo}
FLTK_BIN=${FLTK_BIN:-bin/fltk}
PYTHON=${PYTHON:-/usr/bin/python3}
WARM=2

log() { printf '[idle-cpu] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ $NP =~ ^[1-9][0-9]*$ ]] || die "NP=$NP is not a positive integer"
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "REPEATS=$REPEATS is not a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS is not a positive integer"
[[ $IDLE =~ ^[0-9]*\.?[0-9]+$ ]] || die "IDLE=$IDLE is not a number of seconds"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
case ,$IMPLS, in *,openmpi-*) command -v mpirun >/dev/null && command -v mpicc >/dev/null ||
    die "mpirun/mpicc missing (apt-get install openmpi-bin libopenmpi-dev)" ;; esac
case ,$IMPLS, in *,fltk,*) [ -x "$FLTK_BIN" ] || make build >/dev/null ;; esac
case ,$IMPLS, in *,openmpi-*)
    mkdir -p bin
    mpicc -O2 -Wall -o bin/mpicoll scripts/mpicoll.c ;;
esac

# cmd IMPL IDLE_SECONDS: the job's command line.
cmd() {
    local impl=$1 idle=$2
    local mpi=(mpirun --allow-run-as-root --oversubscribe -np "$NP")
    local args=(--sizes "$SIZE" --ops "$OP" --repeats "$REPEATS" --warmup "$WARM" --idle "$idle")
    case $impl in
    fltk) echo "$FLTK_BIN" bench --np "$NP" --sizes "$SIZE" --ops "$OP" --repeats "$REPEATS" --idle "${idle}s" --csv ;;
    openmpi-tcp) echo "${mpi[@]}" --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo bin/mpicoll --impl openmpi-tcp "${args[@]}" ;;
    openmpi-sm) echo "${mpi[@]}" bin/mpicoll --impl openmpi-sm "${args[@]}" ;;
    gloo) echo "$PYTHON" scripts/gloocoll.py --np "$NP" "${args[@]}" ;;
    *) die "unknown implementation $impl" ;;
    esac
}

# cpu IMPL IDLE: prints the run's user+sys seconds.
cpu() {
    local out
    out=$(mktemp)
    # shellcheck disable=SC2046 # cmd prints words without spaces inside
    if ! /usr/bin/time -f '%U %S %e' -o "$out" $(cmd "$1" "$2") >/dev/null 2>"$out.err"; then
        log "$1 idle=$2 failed:"
        tail -5 "$out.err" >&2
        rm -f "$out" "$out.err"
        return 1
    fi
    read -r u s e <"$out"
    rm -f "$out" "$out.err"
    log "$1 idle=$2: user ${u}s sys ${s}s wall ${e}s"
    echo "$u $s"
}

slept=$(awk -v r="$REPEATS" -v w="$WARM" -v i="$IDLE" 'BEGIN { printf "%.3f", (r + w) * i }')
printf 'NP=%s OP=%s SIZE=%s IDLE=%s REPEATS=%s ROUNDS=%s %s  (%s, nproc=%s)\n' \
    "$NP" "$OP" "$SIZE" "$IDLE" "$REPEATS" "$ROUNDS" "$0" "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$(nproc)"
printf 'rank 0 sleeps %s s a run; cores busy = (CPU idle run - CPU plain run) / %s s\n\n' "$slept" "$slept"
printf '%-12s %s\n' impl "cores busy while NP-1 ranks wait (one value per pair)"
for impl in ${IMPLS//,/ }; do
    vals=()
    for ((r = 1; r <= ROUNDS; r++)); do
        res=$(cpu "$impl" 0) || exit 1
        read -r u0 s0 <<<"$res"
        res=$(cpu "$impl" "$IDLE") || exit 1
        read -r u1 s1 <<<"$res"
        vals+=("$(awk -v a="$u0" -v b="$s0" -v c="$u1" -v d="$s1" -v t="$slept" 'BEGIN { printf "%.2f", ((c + d) - (a + b)) / t }')")
    done
    printf '%-12s %s\n' "$impl" "${vals[*]}"
done
