#!/usr/bin/env bash
# Forest vs scikit-learn, one command: builds the bench driver and the plugin, writes the
# datasets (once), then for each of ROUNDS rounds runs automl's forest plugin and after it
# scikit-learn's RandomForestClassifier / ExtraTreesClassifier (never at the same time) with the
# same thread count, and writes the "## forest" section of bench/RESULTS.md from the best time of
# each side over all rounds. Takes about a minute on 2 idle cores.
#
#   bench/forest/run.sh            BUILD_DIR=build-forest THREADS=2 ROUNDS=3 REPEAT=3
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-forest}"
BUILD_TYPE="${BUILD_TYPE:-Release}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
REPEAT="${REPEAT:-3}"
PY=/usr/bin/python3   # the peers live in Debian's python, not in whatever python3 is first on PATH
DATA="$BUILD_DIR/bench-forest-data"
OUT="$BUILD_DIR/bench-forest-out"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DAML_BUILD_BENCH=ON > /dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_forest aml_model_forest > /dev/null

if [ ! -f "$DATA/digits_test.h5" ] || [ ! -f "$DATA/satellite_test.h5" ]; then
  echo "writing datasets to $DATA" >&2
  "$PY" "$ROOT/bench/forest/make_data.py" "$DATA"
fi
mkdir -p "$OUT"
rm -f "$OUT/automl.jsonl" "$OUT/sklearn.jsonl"
export OMP_NUM_THREADS="$THREADS"
loads=""
for round in $(seq 1 "$ROUNDS"); do
  loads="$loads${loads:+; }$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "round $round/$ROUNDS: automl forest, $THREADS threads (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$BUILD_DIR/bin/bench_forest" "$DATA" --threads "$THREADS" --repeat "$REPEAT" | tee -a "$OUT/automl.jsonl" >&2
  echo "round $round/$ROUNDS: scikit-learn, $THREADS threads" >&2
  "$PY" "$ROOT/bench/forest/peers.py" "$DATA" "$THREADS" "$REPEAT" | tee -a "$OUT/sklearn.jsonl" >&2
done
"$PY" "$ROOT/bench/forest/report.py" "$OUT/automl.jsonl" "$OUT/sklearn.jsonl" "$ROOT/bench/RESULTS.md" "$loads" \
  "$BUILD_TYPE"
echo "wrote the forest section of $ROOT/bench/RESULTS.md" >&2
