#!/usr/bin/env bash
# bench-compose.sh — the same job under fltk-launch and under Docker Compose.
#
# Usage: scripts/bench-compose.sh [CONFIG]     (default configs/fltk-fashion-mnist.toml)
#
# Environment: RUNS (default 1) rounds of the three modes, interleaved;
# NP ranks (default 3, the seed's world size); COMPOSE (default
# docker-compose; "docker compose" for Compose v2).
#
# Modes, each from a copy of CONFIG:
#   launch        bin/fltk-launch -np NP CONFIG (no limits)
#   compose       fltk-launch compose -np NP, FLTK's profiles (client 1 slow
#                 0.5 CPU, client 2 medium 0.75, others default 1.25)
#   compose-slow  the same with every client slow (deploy.profiles = ["slow"])
# Each compose run is its own project (bc-XXXX), removed with down -v.
# Prints mode, wall seconds (launch: the fltk-launch process; compose: "up"
# from start to end, containers created and started included), mean and
# each round's round_seconds from metrics.csv, the last test accuracy.
# Needs make build and make image first.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
cd "$repo_root"
config=${1:-configs/fltk-fashion-mnist.toml}
runs=${RUNS:-1}
np=${NP:-3}
read -r -a compose <<<"${COMPOSE:-docker-compose}"

[[ -x bin/fltk-launch && -x bin/fltk ]] || { echo "bench-compose: run make build first" >&2; exit 1; }
docker image inspect fltk:latest >/dev/null || { echo "bench-compose: run make image first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/fltk-bench-compose.XXXXXX")
projects=()
cleanup() {
    for p in "${projects[@]}"; do
        "${compose[@]}" -p "$p" -f "$work/$p/docker-compose.yml" down -v -t 5 >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# summary DIR: mean round seconds, the rounds' seconds, last accuracy, from DIR/metrics.csv.
summary() {
    awk -F, 'NR > 1 { n++; s += $5; r = r (r ? " " : "") sprintf("%.1f", $5); acc = $2 }
        END { printf "%.2f\t%s\t%.2f%%\n", s / n, r, 100 * acc }' "$1/metrics.csv"
}

name=$(awk -F'"' '/^name *=/ { print $2; exit }' "$config")
printf 'mode\trun\twall_s\tmean_round_s\trounds_s\taccuracy\n'
for run in $(seq 1 "$runs"); do
    # launch
    d=$work/launch-$run
    mkdir -p "$d"
    { cat "$config"; printf '\n[output]\ndir = "%s"\n' "$d/results"; } >"$d/job.toml"
    t0=$(now)
    bin/fltk-launch -np "$np" "$d/job.toml" >"$d/out.log" 2>&1
    t1=$(now)
    printf 'launch\t%d\t%s\t%s\n' "$run" "$(elapsed "$t0" "$t1")" "$(summary "$d/results/$name")"

    for mode in compose compose-slow; do
        p=bc-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
        d=$work/$p
        mkdir -p "$d"
        cp "$config" "$d/job.toml"
        [[ $mode == compose-slow ]] && printf '\n[deploy]\nprofiles = ["slow"]\n' >>"$d/job.toml"
        chmod 0644 "$d/job.toml"
        bin/fltk-launch compose -np "$np" -o "$d/docker-compose.yml" "$d/job.toml" >/dev/null
        projects+=("$p")
        t0=$(now)
        "${compose[@]}" -p "$p" -f "$d/docker-compose.yml" up --no-color --exit-code-from federator federator >"$d/out.log" 2>&1
        t1=$(now)
        docker cp "$("${compose[@]}" -p "$p" -f "$d/docker-compose.yml" ps -a -q federator):/fltk/results" "$d/" 2>/dev/null
        printf '%s\t%d\t%s\t%s\n' "$mode" "$run" "$(elapsed "$t0" "$t1")" "$(summary "$d/results/$name")"
        "${compose[@]}" -p "$p" -f "$d/docker-compose.yml" down -v -t 5 >/dev/null 2>&1
    done
done
