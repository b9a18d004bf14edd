#!/usr/bin/env bash
# End to end: the wall-clock budget holds on a large table (issue 20), the whole command within
# budget + 5 % + 0.5 s: early trials are capped to a share of the budget, the refit is planned
# inside it, and when the winner's refit cannot fit, the winner's fold model is published and
# said so in summary.json and the manifest.
. "$(dirname "$0")/lib.sh"

awk -v rows=100000 -v seed=1 -f bench/budget/friedman.awk > "$TMP/f.csv"
"$AUTOML" import "$TMP/f.csv" "$TMP/f.h5" > /dev/null || fail "import"
rm -f "$TMP/f.csv"

# within_budget NAME BUDGET ELAPSED
within_budget() {
  awk -v e="$3" -v b="$2" 'BEGIN { exit !(e <= b * 1.05 + 0.5) }' || fail "$1: a $2 s budget took $3 s"
}
# json_string FILE KEY: the value of "KEY": "..." in FILE
json_string() { sed -n "s/^[[:space:]]*\"$2\":[[:space:]]*\"\(.*\)\",*\$/\1/p" "$1"; }
json_number() { sed -n "s/^[[:space:]]*\"$2\":[[:space:]]*\([-0-9.e]*\),*\$/\1/p" "$1"; }

# 1. Every family on 100 000 rows x 9 features, 5 s.
cat > "$TMP/all.lua" <<LUA
return automl.search { data = "$TMP/f.h5", export = { to = "$TMP/repo", name = "all" } }
LUA
start=$(date +%s.%N)
expect 0 "" -- "$AUTOML" search "$TMP/all.lua" --budget 5 --threads 2 --out "$TMP/run1"
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
within_budget "every family" 5 "$elapsed"
[ -s "$TMP/repo/all/1/model.bin" ] || fail "every family: no artifact"
refit=$(json_string "$TMP/run1/summary.json" refit)
best=$(json_number "$TMP/run1/summary.json" best_trial)
case "$refit" in
  "all rows" | "fold model: trial $best's model of split 1, fitted on "*) ;;
  *) fail "every family: summary.json refit is '$refit' (best trial $best)" ;;
esac
[ "$(json_string "$TMP/repo/all/1/manifest.json" refit)" = "$refit" ] ||
  fail "every family: the manifest's refit is '$(json_string "$TMP/repo/all/1/manifest.json" refit)', summary.json's '$refit'"

# 2. A winner whose refit cannot fit: large boosting models (1000 rounds of 255 leaves, no early
# stopping) validated on 95 % of the rows train on 5 000, so a refit on all 100 000 is planned
# at 20 times a trial's fit, well over half of a 5 s budget on any machine; the best trial's
# model of its split is published instead, at once.
cat > "$TMP/fold.lua" <<LUA
return automl.search {
  data = "$TMP/f.h5",
  models = { gbdt = { n_trees = 1000, max_leaves = 255, min_samples_leaf = 2, early_stopping_rounds = 0 } },
  resampling = { kind = "holdout", fraction = 0.95 },
  export = { to = "$TMP/repo", name = "fold" },
}
LUA
start=$(date +%s.%N)
expect 0 "" -- "$AUTOML" search "$TMP/fold.lua" --budget 5 --threads 2 --out "$TMP/run2"
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
within_budget "fold model" 5 "$elapsed"
best=$(json_number "$TMP/run2/summary.json" best_trial)
want="fold model: trial $best's model of split 1, fitted on 5000 of 100000 rows (no time to refit on all rows)"
[ "$(json_string "$TMP/run2/summary.json" refit)" = "$want" ] ||
  fail "fold model: summary.json refit is '$(json_string "$TMP/run2/summary.json" refit)', expected '$want'"
grep -qF "automl: publishing the $want" "$TMP/err" || fail "fold model: no notice on stderr: $(cat "$TMP/err")"
grep -qxF "refit: $want" "$TMP/out" || fail "fold model: no refit line after the artifact line: $(tail -3 "$TMP/out")"
[ "$(json_string "$TMP/repo/fold/1/manifest.json" refit)" = "$want" ] ||
  fail "fold model: the manifest's refit is '$(json_string "$TMP/repo/fold/1/manifest.json" refit)'"
[ -s "$TMP/repo/fold/1/model.bin" ] || fail "fold model: no artifact"
# the published model predicts
expect 0 "" -- "$AUTOML" predict "$TMP/repo/fold/1" "$TMP/f.h5" -o "$TMP/pred.csv"
[ "$(wc -l < "$TMP/pred.csv")" -eq 100001 ] || fail "fold model: $(wc -l < "$TMP/pred.csv") prediction lines"
finish
