#!/usr/bin/env bash
# bench-multihost-fl.sh — federated rounds across test hosts on one machine:
# 3 network namespaces (scripts/netns.sh) × 3 ranks (rank 0 the federator,
# ranks 1..8 one client each), links shaped with tc tbf to RATE, the McMahan
# MNIST CNN trained with fltk-launch --hosts, once per codec in CODECS:
# "none" (float32 updates) and "int8z" (int8 + zstd updates; the workers
# keep error feedback automatically under a lossy codec, trainer/fed). One
# job per codec, alternating over RUNS; the veth byte counters read before
# and after each job give the bytes that crossed each host's link. A
# benchmark, not a test; root. Needs MNIST in data/ (make data).
#
#   scripts/bench-multihost-fl.sh
#
# Environment (defaults in brackets):
#   RATE        tc rate of the links                          [100mbit]
#   CODECS      collective.codec values, one job each         ["none int8z"]
#   RUNS        jobs per codec (alternating)                  [1]
#   ROUNDS      federated rounds per job                      [3]
#   EPOCHS      federated.epochs_per_cycle (of each client's 7,500 images) [0.25]
#   HOSTS SLOTS hosts and ranks per host                      [3 3]
#   DATA        prepared data directory                       [data]
#   OUT         output directory                              [bench-multihost-fl]
#   RUN_TIMEOUT seconds per job                               [1200]
#
# Outputs in $OUT: rounds.csv (codec,run,round,test_accuracy,round_seconds,
# train_seconds,comm_seconds,bytes_up,bytes_down,compression_up: metrics.csv
# of each job), links.csv (codec,run,rounds,host,out_bytes,in_bytes: bytes
# that crossed host's link during the whole job, start-up, final evaluation
# and checkpoint included), table.md, the jobs' configs, logs/ and
# results/CODEC-rRUN/ (metrics.csv, clients.csv, …).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
invocation="$0${*:+ $*}"
cd "$repo_root"

RATE=${RATE:-100mbit}
CODECS=${CODECS:-"none int8z"}
RUNS=${RUNS:-1}
ROUNDS=${ROUNDS:-3}
EPOCHS=${EPOCHS:-0.25}
HOSTS=${HOSTS:-3}
SLOTS=${SLOTS:-3}
DATA=${DATA:-data}
OUT=${OUT:-bench-multihost-fl}
RUN_TIMEOUT=${RUN_TIMEOUT:-1200}
NETNS="$script_dir/netns.sh"
NP=$((HOSTS * SLOTS))

log() { printf '[bench-multihost-fl] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -f "$DATA/mnist/train-images-idx3-ubyte" ] || [ -f "$DATA/mnist/train-images-idx3-ubyte.gz" ] ||
    [ -d "$DATA/mnist" ] || die "MNIST missing in $DATA (make data)"
DATA=$(realpath "$DATA")
"$NETNS" deps
if [ ! -x bin/fltk ] || [ ! -x bin/fltk-launch ]; then
    log "fltk binaries missing: make build"
    make build
fi
FLTK_LAUNCH=$(realpath bin/fltk-launch)

mkdir -p "$OUT/logs" "$OUT/results"
OUT=$(realpath "$OUT")
echo "codec,run,round,test_accuracy,round_seconds,train_seconds,comm_seconds,bytes_up,bytes_down,compression_up" >"$OUT/rounds.csv"
echo "codec,run,rounds,host,out_bytes,in_bytes" >"$OUT/links.csv"
: >"$OUT/commands.txt"

tag="fl$((RANDOM % 10000))"
cleanup() { "$NETNS" down "$tag" || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

log "netns.sh up $tag $HOSTS $RATE"
env_out=$("$NETNS" up "$tag" "$HOSTS" "$RATE")
eval "$env_out"
read -r -a addrs <<<"$NETNS_ADDRS"
hostlist=""
for a in "${addrs[@]}"; do hostlist+="${hostlist:+,}$a:$SLOTS"; done

# config CODEC RUN: the job's configuration (McMahan's CNN, IID, one client
# per worker rank, plain SGD with batch 10).
config() {
    cat <<EOF
# Written by scripts/bench-multihost-fl.sh: MNIST CNN (McMahan et al.
# 2017), one IID client per worker rank, codec $1.
[job]
name = "fl-$1-r$2"
world_size = $NP
seed = 1

[collective]
codec = "$1"

[federated]
rounds = $ROUNDS
epochs_per_cycle = $EPOCHS
strategy = "fedavg"

[data]
dataset = "mnist"
path = "$DATA"
sampler = "iid"

[train]
net = "MNISTCNN"
batch_size = 10
optimizer = "sgd"
learning_rate = 0.1

[output]
dir = "$OUT/results"
EOF
}

failures=0
for ((run = 1; run <= RUNS; run++)); do
    for codec in $CODECS; do
        name="$codec-r$run"
        cfg="$OUT/fl-$name.toml"
        config "$codec" "$run" >"$cfg"
        cmd=(timeout -k 10 "$RUN_TIMEOUT" "$FLTK_LAUNCH" -np "$NP" --hosts "$hostlist" --ssh "$NETNS_SSH"
            --iface "$NETNS_SUBNET" "$cfg")
        printf '%q ' "${cmd[@]}" >>"$OUT/commands.txt"
        echo >>"$OUT/commands.txt"
        before=$("$NETNS" bytes "$tag")
        t0=$SECONDS
        rc=0
        "${cmd[@]}" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" || rc=$?
        wall=$((SECONDS - t0))
        after=$("$NETNS" bytes "$tag")
        metrics="$OUT/results/fl-$name/metrics.csv"
        if [ "$rc" -ne 0 ] || [ ! -f "$metrics" ]; then
            log "$name: FAILED (exit $rc); last lines:"
            tail -n 15 "$OUT/logs/$name.err" "$OUT/logs/$name.out" >&2 || true
            failures=$((failures + 1))
            continue
        fi
        awk -F, -v p="$codec,$run" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            { print p "," $c["round"] "," $c["test_accuracy"] "," $c["round_seconds"] "," $c["train_seconds"] "," \
                $c["comm_seconds"] "," $c["bytes_up"] "," $c["bytes_down"] "," $c["compression_up"] }' "$metrics" >>"$OUT/rounds.csv"
        rounds=$(($(wc -l <"$metrics") - 1))
        paste -d, <(tail -n +2 <<<"$before") <(tail -n +2 <<<"$after") |
            awk -F, -v p="$codec,$run,$rounds" '{ printf "%s,%s,%d,%d\n", p, $1, $9 - $4, $10 - $5 }' >>"$OUT/links.csv"
        log "$name: $rounds rounds in $wall s, final accuracy $(tail -n 1 "$metrics" | cut -d, -f2)"
    done
done

# ---------------------------------------------------------------- table
{
    echo "# federated MNIST CNN across $HOSTS namespace hosts × $SLOTS ranks at $RATE"
    echo
    echo "- command: \`RATE=$RATE CODECS=\"$CODECS\" RUNS=$RUNS ROUNDS=$ROUNDS EPOCHS=$EPOCHS HOSTS=$HOSTS SLOTS=$SLOTS $invocation\`"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); nproc: $(nproc); kernel: $(uname -r); fltk revision: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- $NP ranks: federator + $((NP - 1)) clients (one each, IID, 7,500 images), MNISTCNN, batch 10, SGD lr 0.1, epochs_per_cycle $EPOCHS"
    echo "- per round from metrics.csv (mean over rounds and runs): round/train/comm seconds, bytes_up (all workers' updates, on the wire) and bytes_down (the broadcast)"
    echo "- link MB/round: the veth bytes of the whole job (start-up and final checkpoint included) / rounds, busiest host (out or in), and h0 (the federator's host) out/in"
    [ "$failures" -gt 0 ] && echo "- WARNING: $failures job(s) failed, see $OUT/logs/"
    echo
    echo "| codec | runs | round s | train s | comm s | bytes up/round | bytes down/round | compression up | final accuracy | busiest link MB/round | h0 out/in MB/round |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F, -v codecs="$CODECS" '
        FILENAME ~ /rounds.csv$/ && FNR > 1 {
            n[$1]++; rs[$1] += $5; ts[$1] += $6; cs[$1] += $7; up[$1] += $8; dn[$1] += $9; cu[$1] += $10
            runs[$1, $2] = 1; last[$1, $2] = $4; next
        }
        FILENAME ~ /links.csv$/ && FNR > 1 {
            x = ($5 > $6 ? $5 : $6) / $3
            if (!(($1, $2) in busy) || x > busy[$1, $2]) busy[$1, $2] = x
            if ($4 ~ /-h0$/) { h0o[$1] += $5 / $3; h0i[$1] += $6 / $3; nh[$1]++ }
        }
        END {
            nc = split(codecs, C, " ")
            for (i = 1; i <= nc; i++) {
                c = C[i]; if (!(c in n)) continue
                nr = 0; acc = ""; lk = 0; nl = 0
                for (k in runs) { split(k, kk, SUBSEP); if (kk[1] == c) { nr++; acc = acc (acc == "" ? "" : ", ") sprintf("%.4f", last[k]) } }
                for (k in busy) { split(k, kk, SUBSEP); if (kk[1] == c) { lk += busy[k]; nl++ } }
                printf "| %s | %d | %.1f | %.1f | %.1f | %.2f MB | %.2f MB | %.2f | %s | %.2f | %.2f / %.2f |\n", c, nr,
                    rs[c] / n[c], ts[c] / n[c], cs[c] / n[c], up[c] / n[c] / 1e6, dn[c] / n[c] / 1e6, cu[c] / n[c], acc,
                    (nl ? lk / nl / 1e6 : 0), (nh[c] ? h0o[c] / nh[c] / 1e6 : 0), (nh[c] ? h0i[c] / nh[c] / 1e6 : 0)
            }
        }' "$OUT/rounds.csv" "$OUT/links.csv"
    echo
    echo "Per round (rounds.csv):"
    echo
    sed 's/^/    /' "$OUT/rounds.csv"
    echo
    echo "Bytes per host link over each whole job (links.csv):"
    echo
    sed 's/^/    /' "$OUT/links.csv"
} >"$OUT/table.md"
cat "$OUT/table.md"
log "wrote $OUT/table.md"
[ "$failures" -eq 0 ]
