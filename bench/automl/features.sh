#!/usr/bin/env bash
# Issue 6's accuracy bars: automl search (30 s, 2 threads, features = "auto") on raw tables with
# missing cells and categorical columns, against scikit-learn's SimpleImputer + OneHotEncoder +
# HistGradientBoosting pipeline on the same fixed 75/25 split. Needs ../shared/datasets.
#   bench/automl/features.sh [BUDGET]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${1:-30}
AUTOML=${AUTOML:-build/bin/automl}
export OMP_NUM_THREADS=2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "| dataset | bar | automl | sklearn impute+onehot+HGB | automl >= bar | automl >= peer |"
echo "|---|---|---|---|---|---|"
for pair in Soybean:0.90 HouseVotes84:0.94 PimaIndiansDiabetes2:0.74 BreastCancer:0.95; do
  n=${pair%%:*} bar=${pair##*:}
  /usr/bin/python3 bench/automl/split.py "../shared/datasets/$n.h5" "$WORK" "$n" > /dev/null
  cat > "$WORK/$n.lua" <<LUA
return automl.search { data = "$WORK/$n.train.h5", budget = { seconds = $BUDGET }, seed = 0,
  features = "auto", export = { to = "$WORK/repo", name = "$n" } }
LUA
  "$AUTOML" search "$WORK/$n.lua" --threads 2 --out "$WORK/run-$n" > "$WORK/out" 2> /dev/null
  "$AUTOML" predict "$(sed -n 's/^artifact: //p' "$WORK/out")" "$WORK/$n.test.h5" -o /dev/null 2> "$WORK/err"
  ours=$(printf %.4f "$(sed -n 's/^accuracy on .*: \([0-9.]*\)$/\1/p' "$WORK/err")") # the peer's precision
  peer=$(/usr/bin/python3 bench/automl/features_peer.py "$WORK" "$n")
  echo "| $n | $bar | $ours | $peer | $(awk -v a="$ours" -v b="$bar" 'BEGIN{print (a>=b)?"yes":"NO"}') | $(awk -v a="$ours" -v b="$peer" 'BEGIN{print (a>=b)?"yes":"NO"}') |"
done
