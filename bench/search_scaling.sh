#!/usr/bin/env bash
# Search throughput: the same N trials on digits (knn + linear, 5-fold CV) with 1 trial at a time
# on 1 thread, then 2 parallel trials on 2 threads; prints trials per second and the ratio
# (target >= 1.6). Run on an otherwise idle machine.
#   bench/search_scaling.sh [N_TRIALS] [BUILD_DIR] [STRATEGY]
# STRATEGY (default random) is the spec's: random measures the engine's parallel trial throughput;
# auto adds the synchronous halving rungs, whose barriers leave a worker idle at each rung's end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
AUTOML=${2:-build}/bin/automl
STRATEGY=${3:-random}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$AUTOML" import datasets/digits.csv "$TMP/digits.h5" > /dev/null
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/digits.h5",
  budget = { trials = $N },
  strategy = "$STRATEGY",
  models = { "knn", "linear" },
  seed = 1,
  export = { to = "$TMP/repo", name = "digits" },
}
LUA
rate() { # parallel threads
  local s e
  s=$(date +%s.%N)
  "$AUTOML" search "$TMP/spec.lua" --parallel "$1" --threads "$2" --out "$TMP/run-$1" > /dev/null 2>&1
  e=$(date +%s.%N)
  awk -v n="$N" -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", n / (e - s) }'
}
r1=$(rate 1 1)
r2=$(rate 2 2)
echo "digits, $N trials, strategy $STRATEGY: 1 trial x 1 thread: $r1 trials/s; 2 parallel trials x 1 thread: $r2 trials/s; ratio $(awk -v a="$r2" -v b="$r1" 'BEGIN { printf "%.2f", a / b }')"
