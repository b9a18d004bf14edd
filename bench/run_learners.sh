#!/usr/bin/env bash
# Learners vs scikit-learn, one command: builds the bench driver and the plugins, writes the
# datasets (once), then for each of ROUNDS rounds runs automl's plugins and after them the
# scikit-learn peers (never at the same time) with the same thread count, and writes
# bench/RESULTS.md from the best time of each side over all rounds. Rounds alternate the two sides
# so both see the same background load on a shared machine. Takes about 3 minutes on 2 cores.
#
#   bench/run_learners.sh            BUILD_DIR=build-bench THREADS=2 ROUNDS=3 REPEAT=3 KNN_QUERIES=10000
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
REPEAT="${REPEAT:-3}"
KNN_QUERIES="${KNN_QUERIES:-10000}"
PY=/usr/bin/python3   # the peers live in Debian's python, not in whatever python3 is first on PATH
DATA="$BUILD_DIR/bench-data"
OUT="$BUILD_DIR/bench-out"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAML_BUILD_BENCH=ON > /dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_learners aml_model_linear aml_model_knn > /dev/null

if [ ! -f "$DATA/digits_test.h5" ]; then
  echo "writing datasets to $DATA" >&2
  "$PY" "$ROOT/bench/make_data.py" "$DATA"
fi
mkdir -p "$OUT"
rm -f "$OUT/automl.jsonl" "$OUT/sklearn.jsonl"
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS: automl plugins, $THREADS threads" >&2
  "$BUILD_DIR/bin/bench_learners" "$DATA" --threads "$THREADS" --repeat "$REPEAT" --knn-queries "$KNN_QUERIES" \
    | tee -a "$OUT/automl.jsonl" >&2
  echo "round $round/$ROUNDS: scikit-learn, $THREADS threads" >&2
  "$PY" "$ROOT/bench/peers.py" "$DATA" "$REPEAT" "$KNN_QUERIES" "$([ "$round" = 1 ] && echo 1 || echo 0)" \
    | tee -a "$OUT/sklearn.jsonl" >&2
done
"$PY" "$ROOT/bench/report.py" "$OUT/automl.jsonl" "$OUT/sklearn.jsonl" "$ROOT/bench/RESULTS.md"
echo "wrote $ROOT/bench/RESULTS.md" >&2
