#!/usr/bin/env bash
# fltk-side-by-side.sh — the seed's own experiment on fltk: FashionMNIST-CNN,
# 2 clients, 3 rounds, batch 16, SGD lr 0.001 momentum 0.9, FLTK's mean of
# the models, tested on the 5,000 odd-indexed test images
# (configs/fltk-fashion-mnist.toml). Prints the wall time and the accuracy
# per round beside the Python FLTK v0.3.1's (PyTorch 1.13, one thread per
# process, quiet 2-core machine: 34.0–34.4 s; 86.82 / 88.10 / 88.88 %).
#
#   scripts/fltk-side-by-side.sh [--openblas] [--seeds 1,2,3]
#
# --seeds runs fltk once per seed (job.seed: initial weights, shuffling)
# and then scripts/fltk_replica.py — FLTK's experiment in PyTorch, as
# v0.3.1 runs it — with the same seeds (it needs Debian's python3-torch:
# apt-get install python3-torch), and prints both per seed and their means:
# FLTK's one published run cannot tell a difference from the seed-to-seed
# spread (docs/training.md has the measured spread).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
target=build
seeds=""
while [ $# -gt 0 ]; do
	case "$1" in
	--openblas) target=build-openblas; shift ;;
	--seeds)
		[ $# -ge 2 ] || { usage >&2; exit 2; }
		seeds=$2
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
case "$seeds" in *[!0-9,]*) echo "--seeds wants a comma-separated list of integers, got '$seeds'" >&2; exit 2 ;; esac
make --no-print-directory data "$target" >&2
metrics=results/fltk-fashion-mnist/metrics.csv

# run_fltk CONFIG: runs the experiment and prints "acc1,acc2,acc3,train1,train2,train3,wall".
run_fltk() {
	local start end
	start=$(date +%s.%N)
	bin/fltk-launch -np 3 "$1" | grep --line-buffered -E '^\[0\] (round|fed:)' >&2
	end=$(date +%s.%N)
	awk -F, -v wall="$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')" '
		NR > 1 { acc[$1] = 100 * $2; train[$1] = $6 }
		END { printf "%.2f,%.2f,%.2f,%.1f,%.1f,%.1f,%s\n", acc[1], acc[2], acc[3], train[1], train[2], train[3], wall }' "$metrics"
}

if [ -z "$seeds" ]; then
	IFS=, read -r a1 a2 a3 t1 t2 t3 wall <<<"$(run_fltk configs/fltk-fashion-mnist.toml)"
	printf "\n%-6s %14s %14s %16s\n" round "FLTK accuracy" "fltk accuracy" "fltk train (s)"
	printf "%-6d %13.2f%% %13.2f%% %16.1f\n" 1 86.82 "$a1" "$t1" 2 88.10 "$a2" "$t2" 3 88.88 "$a3" "$t3"
	printf "\nwall time, launch to exit: FLTK 34.0-34.4 s (quiet machine), fltk %s s\n" "$wall"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/fltk.csv"
IFS=, read -r -a seed_list <<<"$seeds"
for s in "${seed_list[@]}"; do
	sed "s/^seed = .*/seed = $s/" configs/fltk-fashion-mnist.toml >"$tmp/seed$s.toml"
	echo "$s,$(run_fltk "$tmp/seed$s.toml")" >>"$tmp/fltk.csv"
done
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "fltk-side-by-side.sh: $PY cannot import torch: apt-get install python3-torch for the PyTorch replica" >&2
	exit 1
fi
"$PY" scripts/fltk_replica.py --seeds "$seeds" | tail -n +2 >"$tmp/replica.csv"
awk -F, '
	FNR == 1 { file++ }
	file == 1 { for (r = 1; r <= 3; r++) { f[$1, r] = $(r + 1); fs[r] += $(r + 1) }; wall[$1] = $8; n++; seeds[n] = $1 }
	file == 2 { for (r = 1; r <= 3; r++) { p[$1, r] = $(r + 1); ps[r] += $(r + 1) } }
	END {
		printf "\n%-5s %-26s %-26s %s\n", "seed", "fltk accuracy (r1 r2 r3)", "PyTorch replica (r1 r2 r3)", "fltk wall (s)"
		for (i = 1; i <= n; i++) {
			s = seeds[i]
			printf "%-5s %6.2f %6.2f %6.2f        %6.2f %6.2f %6.2f        %s\n", s, f[s, 1], f[s, 2], f[s, 3], p[s, 1], p[s, 2], p[s, 3], wall[s]
		}
		printf "%-5s %6.2f %6.2f %6.2f        %6.2f %6.2f %6.2f\n", "mean", fs[1] / n, fs[2] / n, fs[3] / n, ps[1] / n, ps[2] / n, ps[3] / n
		printf "\nFLTK v0.3.1 published one run: 86.82 88.10 88.88 in 34.0-34.4 s (quiet 2-core machine)\n"
	}' "$tmp/fltk.csv" "$tmp/replica.csv"
