#!/usr/bin/env bash
# soak.sh — a long federated run with a client rank killed (SIGKILL) every
# KILL_EVERY rounds and restarted by fltk-launch (--restart), sampling every
# rank's goroutines, resident set and open files (FLTK_STATS_DIR, one line a
# second per process) to show they stay flat.
#
# Environment (defaults in brackets):
#   ROUNDS      rounds of the job                  [2000]
#   KILL_EVERY  kill a worker every this many rounds [100]
#   NP          ranks                              [5]
#   OUT         output directory                   [bench-results/soak]
#   FLTK_BIN    directory with fltk and fltk-launch [bin] (make build if missing)
#
# Prints, per rank, the samples nearest to every KILL_EVERY-th round (the
# process alive then; a restarted worker is a new process) and the spread of
# each column from round KILL_EVERY on; writes $OUT/samples.csv and
# $OUT/summary.txt. Exit 1 if the job fails.
set -euo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$script_dir/.."
ROUNDS=${ROUNDS:-2000}
KILL_EVERY=${KILL_EVERY:-100}
NP=${NP:-5}
OUT=${OUT:-bench-results/soak}
FLTK_BIN=${FLTK_BIN:-bin}
log() { printf '[soak] %s\n' "$*" >&2; }
for v in ROUNDS KILL_EVERY NP; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -lt 1 ]; then
        log "$v must be a positive integer, got '${!v}'"; exit 2
    fi
done
if [ "$NP" -lt 3 ]; then log "NP must be ≥ 3 (a federator and two workers)"; exit 2; fi
[ -x "$FLTK_BIN/fltk-launch" ] || make build >&2
[ -d data/mnist ] || make data >&2
rm -rf "$OUT"; mkdir -p "$OUT/stats"
OUT=$(cd "$OUT" && pwd)
cat > "$OUT/soak.toml" <<TOML
# scripts/soak.sh: a tiny model, many short rounds.
[job]
name = "soak"
world_size = $NP
[runtime]
heartbeat_interval = "100ms"
liveness_timeout = "1s"
on_rank_failure = "continue"
[federated]
rounds = $ROUNDS
clients = $((2 * (NP - 1)))
epochs_per_cycle = 0.005
[data]
path = "$PWD/data"
test_set = "odd-half"
[train]
net = "MNIST2NN"
batch_size = 20
learning_rate = 0.05
[output]
dir = "$OUT/results"
tensorboard = false
checkpoint_every = 0
TOML
restarts=$((ROUNDS / KILL_EVERY + 1))
log "fltk-launch -np $NP --restart $restarts $OUT/soak.toml ($ROUNDS rounds, a worker killed every $KILL_EVERY)"
FLTK_STATS_DIR="$OUT/stats" "$FLTK_BIN/fltk-launch" -np "$NP" --restart "$restarts" "$OUT/soak.toml" \
    > "$OUT/stdout.log" 2> "$OUT/stderr.log" &
launcher=$!
trap 'kill -TERM $launcher 2>/dev/null || true' EXIT INT TERM

# worker_pid R prints the pid of the launcher's child that is rank R.
worker_pid() {
    local p
    for p in $(pgrep -P "$launcher" || true); do
        if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "FLTK_RANK=$1"; then
            echo "$p"; return
        fi
    done
}
: > "$OUT/marks.csv"
next=$KILL_EVERY
victim=1
while kill -0 "$launcher" 2>/dev/null; do
    last=$(grep -oE "round [0-9]+/$ROUNDS" "$OUT/stdout.log" 2>/dev/null | tail -1 | sed -E 's/round ([0-9]+)\/.*/\1/' || true)
    if [ -n "$last" ] && [ "$last" -ge "$next" ]; then
        if [ "$next" -lt "$ROUNDS" ]; then
            echo "$next,$(date +%s%3N)" >> "$OUT/marks.csv"
            pid=$(worker_pid "$victim")
            if [ -n "$pid" ]; then
                kill -KILL "$pid" 2>/dev/null && log "round $last: killed rank $victim (pid $pid)"
            fi
            victim=$((victim % (NP - 1) + 1))
        fi
        next=$((next + KILL_EVERY))
    fi
    sleep 0.2
done
trap - EXIT INT TERM
rc=0
wait "$launcher" || rc=$?
log "fltk-launch exited $rc; $(grep -c 'restarting rank' "$OUT/stdout.log" "$OUT/stderr.log" | awk -F: '{s+=$2} END {print s}') restarts"
python3 - "$OUT" "$KILL_EVERY" <<'PY' | tee "$OUT/summary.txt"
import csv, glob, os, re, sys
out, every = sys.argv[1], int(sys.argv[2])
marks = [tuple(map(int, r)) for r in csv.reader(open(os.path.join(out, "marks.csv")))]
procs = {}  # rank -> [(pid, rows)]
for f in glob.glob(os.path.join(out, "stats", "rank*.csv")):
    m = re.match(r"rank(\d+)\.(\d+)\.csv", os.path.basename(f))
    rows = [r for r in csv.DictReader(open(f))]
    rows = [{k: int(v) for k, v in r.items()} for r in rows if r.get("unix_ms", "").isdigit()]
    if rows:
        procs.setdefault(int(m[1]), []).append((int(m[2]), rows))
cols = ["goroutines", "rss_kb", "fds", "heap_bytes"]
with open(os.path.join(out, "samples.csv"), "w") as sf:
    w = csv.writer(sf)
    w.writerow(["rank", "round", "pid"] + cols)
    print(f"{'rank':>4} {'samples':>7} " + " ".join(f"{c + ' min–max':>22}" for c in cols) + "   processes")
    for rank in sorted(procs):
        picked = []
        for rnd, t in marks:
            best = None
            for pid, rows in procs[rank]:
                if rows[0]["unix_ms"] <= t + 1000 and rows[-1]["unix_ms"] >= t - 1000:
                    r = min(rows, key=lambda r: abs(r["unix_ms"] - t))
                    if best is None or abs(r["unix_ms"] - t) < abs(best[1]["unix_ms"] - t):
                        best = (pid, r)
            if best:
                picked.append((rnd, best))
                w.writerow([rank, rnd, best[0]] + [best[1][c] for c in cols])
        if not picked:
            continue
        rng = []
        for c in cols:
            vals = [r[c] for _, (_, r) in picked]
            rng.append(f"{min(vals)}–{max(vals)}")
        print(f"{rank:>4} {len(picked):>7} " + " ".join(f"{x:>22}" for x in rng) + f"   {len(procs[rank])}")
PY
tail -2 "$OUT/stdout.log" >&2
exit $rc
