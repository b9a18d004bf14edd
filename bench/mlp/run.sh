#!/usr/bin/env bash
# MLP vs scikit-learn, one command: builds bench_mlp and the mlp plugin, writes the MNIST-like data
# (once), then for each of ROUNDS rounds runs the automl plugin and after it scikit-learn's
# MLPClassifier (never at the same time) with the same thread count, and writes the "## mlp"
# section of bench/RESULTS.md from the best of each side. About 2 x ROUNDS minutes on 2 idle cores.
#
#   bench/mlp/run.sh          BUILD_DIR=build-bench THREADS=2 ROUNDS=2 EPOCHS=10
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
EPOCHS="${EPOCHS:-10}"
PY=/usr/bin/python3   # the peers live in Debian's python, not in whatever python3 is first on PATH
DATA="$BUILD_DIR/bench-mlp-data"
OUT="$BUILD_DIR/bench-mlp-out"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DAML_BUILD_BENCH=ON > /dev/null
cmake --build "$BUILD_DIR" -j2 --target bench_mlp aml_model_mlp > /dev/null
if [ ! -f "$DATA/mnistlike_test.h5" ]; then
  echo "writing the MNIST-like data to $DATA" >&2
  "$PY" "$ROOT/bench/mlp/make_data.py" "$DATA"
fi
mkdir -p "$OUT"
rm -f "$OUT/automl.jsonl" "$OUT/sklearn.jsonl"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
export OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS: automl mlp, $THREADS threads" >&2
  "$BUILD_DIR/bin/bench_mlp" "$DATA" --threads "$THREADS" --epochs "$EPOCHS" --repeat 1 | tee -a "$OUT/automl.jsonl" >&2
  if [ "$THREADS" != 1 ]; then  # one thread too: the overhead outside the GEMMs, free of waits between threads
    echo "round $round/$ROUNDS: automl mlp, 1 thread" >&2
    "$BUILD_DIR/bin/bench_mlp" "$DATA" --threads 1 --epochs "$EPOCHS" --repeat 1 | tee -a "$OUT/automl.jsonl" >&2
  fi
  echo "round $round/$ROUNDS: scikit-learn MLPClassifier, $THREADS threads" >&2
  "$PY" "$ROOT/bench/mlp/peer.py" "$DATA" "$EPOCHS" 1 | tee -a "$OUT/sklearn.jsonl" >&2
done
"$PY" "$ROOT/bench/mlp/report.py" "$OUT/automl.jsonl" "$OUT/sklearn.jsonl" "$ROOT/bench/RESULTS.md" "$LOAD_BEFORE"
echo "wrote the mlp section of $ROOT/bench/RESULTS.md" >&2
