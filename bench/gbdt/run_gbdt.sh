#!/usr/bin/env bash
# gbdt vs XGBoost 1.7 (hist) and scikit-learn 1.2 HistGradientBoosting, one command: builds the
# driver and the plugin, writes the datasets once (bench/gbdt/data, gitignored), then for each of
# ROUNDS rounds runs automl's gbdt and after it the peers (never at the same time, alternating so
# both see the same background load), and writes the "## gbdt" section of bench/RESULTS.md from
# the best time of each side.
#
#   bench/gbdt/run_gbdt.sh        N=1000000 ROUNDS=2 THREADS=2 BUILD_DIR=build-gbdt-bench
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-gbdt-bench}"
N="${N:-1000000}"
ROUNDS="${ROUNDS:-2}"
THREADS="${THREADS:-2}"
PY=/usr/bin/python3   # the peers live in Debian's python
DATA="$ROOT/bench/gbdt/data"
OUT="$BUILD_DIR/gbdt-bench-out"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DAML_BUILD_BENCH=ON > /dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_gbdt aml_model_gbdt > /dev/null
"$PY" "$ROOT/bench/gbdt/make_data.py" "$DATA" "$N"
mkdir -p "$OUT"
rm -f "$OUT/automl.jsonl" "$OUT/peers.jsonl"
# Passive waiting for every side (ours, XGBoost and scikit-learn all use libgomp): on a shared,
# oversubscribed machine spinning threads time each other out; on an idle one, set
# OMP_WAIT_POLICY=active to measure the default.
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
SYN="synth$N"
for round in $(seq 1 "$ROUNDS"); do
  for ds in "$SYN" digits satellite; do
    trees=200 extra=""
    [ "$ds" = "$SYN" ] && trees=100 extra="--predict"
    rep=3
    [ "$ds" = "$SYN" ] && rep=1
    echo "round $round/$ROUNDS: $ds: automl gbdt" >&2
    /usr/bin/time -v "$BUILD_DIR/bin/bench_gbdt" "$DATA" "$ds" --threads "$THREADS" --repeat "$rep" --trees "$trees" \
      --depth 6 --leaves 63 $extra 2> "$OUT/time_$ds.txt" | tee -a "$OUT/automl.jsonl" >&2
    grep -E "Maximum resident" "$OUT/time_$ds.txt" >&2 || true
    echo "round $round/$ROUNDS: $ds: xgboost, sklearn" >&2
    skl=""
    [ "$ds" != "$SYN" ] && skl="--no-sklearn"
    [ "$ds" = "$SYN" ] && [ "$round" -gt 1 ] && extra=""
    "$PY" "$ROOT/bench/gbdt/peers.py" "$DATA" "$ds" "$trees" "$THREADS" $extra $skl | tee -a "$OUT/peers.jsonl" >&2
  done
done
"$PY" "$ROOT/bench/gbdt/report.py" "$OUT/automl.jsonl" "$OUT/peers.jsonl" "$ROOT/bench/RESULTS.md" "$SYN"
echo "wrote the gbdt section of $ROOT/bench/RESULTS.md" >&2
