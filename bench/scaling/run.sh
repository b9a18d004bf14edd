#!/usr/bin/env bash
# Thread scaling on a many-core machine, from a pack made by bench/scaling/pack.sh:
#  - gbdt fit (synth100000: 100 000 x 50, 100 trees, depth 6, 63 leaves) at 1, 2, 4, 8, 16 threads,
#    and scikit-learn's HistGradientBoosting at the same settings when a python3 with it is there;
#  - forest fit (satellite) at the same thread counts;
#  - search throughput: 400 random trials on digits (knn + linear, 5-fold CV), P parallel trials
#    on P threads, P = 1, 2, 4, 8, 16;
#  - a 15 s `auto` search on digits (every model) at 1 and 16 threads: trials done and the score.
# Prints key=value lines; writes them to $OUT/scaling.txt too when OUT is set.
#   PACK/run.sh [THREADS...]
set -uo pipefail
PACK="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$PACK/deps${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPENBLAS_NUM_THREADS=1
THREADS=("${@:-1 2 4 8 16}")
read -r -a THREADS <<< "${THREADS[*]}"
LOG="${OUT:-/tmp}/scaling.txt"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
say "machine=$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
say "date=$(date -u +%Y-%m-%dT%H:%MZ)"
TMP=$(mktemp -d)
for t in "${THREADS[@]}"; do
  say "gbdt threads=$t $(OMP_NUM_THREADS=$t "$PACK/bin/bench_gbdt" "$PACK/data" synth100000 --threads "$t" --repeat 2 --trees 100 --depth 6 --leaves 63 --plugins "$PACK/lib/automl/plugins" 2>&1 | tail -1)"
  if python3 -c "import sklearn, h5py" 2> /dev/null; then
    say "$(python3 "$PACK/hgb.py" "$PACK/data/synth100000" "$t" 2>&1 | tail -1)"
  fi
done
for t in "${THREADS[@]}"; do
  say "forest threads=$t $("$PACK/bin/bench_forest" "$PACK/data" --threads "$t" --repeat 1 --only satellite/rf --plugins "$PACK/lib/automl/plugins" 2>&1 | tail -1)"
done
cat > "$TMP/random.lua" <<LUA
return automl.search {
  data = "$PACK/data/digits.h5", budget = { trials = 400 }, strategy = "random",
  models = { "knn", "linear" }, seed = 1, export = { to = "$TMP/repo", name = "digits" },
}
LUA
for p in "${THREADS[@]}"; do
  s=$(date +%s.%N)
  "$PACK/bin/automl" search "$TMP/random.lua" --parallel "$p" --threads "$p" --out "$TMP/run-$p" > /dev/null 2>&1
  e=$(date +%s.%N)
  say "search_random parallel=$p trials=400 seconds=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }') trials_per_s=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", 400 / (e - s) }')"
done
cat > "$TMP/auto.lua" <<LUA
return automl.search {
  data = "$PACK/data/digits.h5", budget = { seconds = 15 }, seed = 1,
  export = { to = "$TMP/repo", name = "digits" },
}
LUA
for p in 1 16; do
  line=$("$PACK/bin/automl" search "$TMP/auto.lua" --threads "$p" --out "$TMP/auto-$p" 2>&1 | grep '^best:')
  say "search_auto threads=$p $line"
done
rm -rf "$TMP"
