#!/usr/bin/env bash
# fltk-side-by-side.sh — the seed's own experiment on fltk: FashionMNIST-CNN,
# 2 clients, 3 rounds, batch 16, SGD lr 0.001 momentum 0.9, FLTK's mean of
# the models, tested on the 5,000 odd-indexed test images
# (configs/fltk-fashion-mnist.toml). Prints the wall time and the accuracy
# per round beside the Python FLTK v0.3.1's (PyTorch 1.13, one thread per
# process, quiet 2-core machine: 34.0–34.4 s; 86.82 / 88.10 / 88.88 %).
#
#   scripts/fltk-side-by-side.sh [--openblas]
set -euo pipefail
cd "$(dirname "$0")/.."

target=build
if [ "${1:-}" = --openblas ]; then
	target=build-openblas
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--openblas]" >&2
	exit 2
fi
make --no-print-directory data "$target" >&2
start=$(date +%s.%N)
bin/fltk-launch -np 3 configs/fltk-fashion-mnist.toml | grep --line-buffered -E '^\[0\] (round|fed:)' >&2
end=$(date +%s.%N)
metrics=results/fltk-fashion-mnist/metrics.csv
awk -F, -v wall="$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')" '
	BEGIN { split("86.82 88.10 88.88", fltk, " ") }
	NR > 1 { acc[$1] = 100 * $2; train[$1] = $6 }
	END {
		printf "\n%-6s %14s %14s %16s\n", "round", "FLTK accuracy", "fltk accuracy", "fltk train (s)"
		for (r = 1; r <= 3; r++) printf "%-6d %13.2f%% %13.2f%% %16.1f\n", r, fltk[r], acc[r], train[r]
		printf "\nwall time, launch to exit: FLTK 34.0-34.4 s (quiet machine), fltk %s s\n", wall
	}' "$metrics"
