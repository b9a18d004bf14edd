#!/usr/bin/env bash
# The AutoML benchmark: for every dataset (datasets/*.csv, and ../shared/datasets/*.h5 when it is
# there), the fixed 75/25 split (stratified, random_state 0), and at each budget: automl search
# on 2 threads, Optuna TPE over XGBoost with the same budget, and the best scikit-learn default —
# one after the other, never at the same time. Held-out accuracy (classification) or R²
# (regression). Writes bench/automl/results-<budget>.csv, plot-<budget>.svg and a section of
# bench/RESULTS.md via report.py, and searches-<budget>.txt: each search's ensemble and best
# lines (its members and trial count), so that an odd score can be looked at after the run.
#   bench/automl/run.sh [BUDGETS (default "10 60")] [DATASET ...]
# PEERS_FROM=DIR reuses the peers' scores from DIR/results-<budget>.csv (the same splits, an earlier
# run) and runs automl only, writing to a scratch directory instead: for trying engine changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGETS=${1:-"10 60"}
shift || true
AUTOML=${AUTOML:-build/bin/automl}
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

. bench/automl/sources.sh "$@"

for budget in $BUDGETS; do
  out=bench/automl/results-$budget.csv
  searches=bench/automl/searches-$budget.txt
  [ -n "${PEERS_FROM:-}" ] && out=$WORK/results-$budget.csv searches=$WORK/searches-$budget.txt
  : > "$searches"
  echo "dataset,task,metric,automl,optuna_xgboost,optuna_trials,sklearn_best,sklearn_model,automl_seconds,automl_model" > "$out"
  for n in "${names[@]}"; do
    task=$(/usr/bin/python3 bench/automl/split.py "${SOURCE[$n]}" "$WORK" "$n")
    metric=$([ "$task" = classification ] && echo accuracy || echo r2)
    cat > "$WORK/$n.lua" <<LUA
return automl.search {
  data = "$WORK/$n.train.h5",
  metric = "$metric",
  budget = { seconds = $budget },
  seed = 0,
  export = { to = "$WORK/repo", name = "$n" },
}
LUA
    start=$(date +%s.%N)
    "$AUTOML" search "$WORK/$n.lua" --threads 2 --out "$WORK/run-$n-$budget" > "$WORK/search.out" 2> "$WORK/search.err" || { echo "$n: search failed: $(tail -1 "$WORK/search.err")"; continue; }
    secs=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    { echo "$n"; grep -E '^- |^best: ' "$WORK/search.out" || true; } >> "$searches"
    artifact=$(sed -n 's/^artifact: //p' "$WORK/search.out")
    model=$(sed -n 's/^best: \([a-z_]*\) .*/\1/p' "$WORK/search.out")
    "$AUTOML" predict "$artifact" "$WORK/$n.test.h5" -o /dev/null 2> "$WORK/predict.err" ||
      { echo "$n: predict failed: $(tail -1 "$WORK/predict.err")"; continue; }
    ours=$(sed -n 's/^[a-z_0-9]* on .*: \([-0-9.e]*\)$/\1/p' "$WORK/predict.err")
    if [ -n "${PEERS_FROM:-}" ]; then
      peers=$(awk -F, -v n="$n" '$1 == n { printf "{\"optuna\": %s, \"optuna_trials\": %s, \"sklearn\": %s, \"sklearn_model\": \"%s\"}", $5, $6, $7, $8 }' \
        "$PEERS_FROM/results-$budget.csv")
      [ -n "$peers" ] || { echo "$n: no peer scores in $PEERS_FROM/results-$budget.csv"; continue; }
    else
      peers=$(/usr/bin/python3 bench/automl/peers.py "$WORK" "$n" "$task" "$budget")
    fi
    /usr/bin/python3 - "$n" "$task" "$metric" "$ours" "$secs" "$model" "$peers" >> "$out" <<'PY'
import json, sys
n, task, metric, ours, secs, model, peers = sys.argv[1:8]
p = json.loads(peers)
print(f"{n},{task},{metric},{float(ours):.4f},{p['optuna']:.4f},{p['optuna_trials']},{p['sklearn']:.4f},{p['sklearn_model']},{secs},{model}")
PY
    tail -1 "$out"
  done
done
if [ -n "${PEERS_FROM:-}" ]; then
  for budget in $BUDGETS; do
    awk -F, 'NR > 1 { n++; w += $4 >= $7 - 1e-9; o += $4 >= $5 - 1e-9; printf "%-22s automl %s  optuna %s  sklearn %s (%s)  %s\n", $1, $4, $5, $7, $8, $10 }
      END { printf "%d s: >= best sklearn default on %d/%d, >= optuna on %d/%d\n", '"$budget"', w, n, o, n }' "$WORK/results-$budget.csv"
  done
  exit 0
fi
/usr/bin/python3 bench/automl/report.py $BUDGETS
