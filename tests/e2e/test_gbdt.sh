#!/usr/bin/env bash
# End to end with the gbdt plugin: `automl train --model gbdt --set ...` exports an artifact whose
# held-out accuracy clears a bar, a regression loss by name, parameters refused with their range,
# and a search over gbdt alone (resumable fits in successive halving included) that exports it.
. "$(dirname "$0")/lib.sh"

expect 0 "" -- "$AUTOML" import datasets/breast_cancer.csv "$TMP/bc.h5"
expect 0 "" -- "$AUTOML" split "$TMP/bc.h5" "$TMP/train.h5" "$TMP/test.h5" --test 0.25 --seed 0
expect 0 "" -- "$AUTOML" train "$TMP/train.h5" --model gbdt --set n_trees=200,learning_rate=0.05 \
  --threads 2 --repo "$TMP/repo" --name bc
[ "$(sed -n 's/^artifact: //p' "$TMP/out")" = "$TMP/repo/bc/1" ] || fail "train artifact: $(cat "$TMP/out")"
grep -q '"n_trees":	200' "$TMP/repo/bc/1/manifest.json" || fail "n_trees in manifest"
grep -q '"learning_rate":	0.05' "$TMP/repo/bc/1/manifest.json" || fail "learning_rate in manifest"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/1" "$TMP/test.h5" -o "$TMP/pred.csv"
[ "$(wc -l < "$TMP/pred.csv")" -eq 143 ] || fail "one prediction per row"
at_least "breast_cancer gbdt held-out accuracy" "$(score_of "$TMP/err")" 0.95
# the same predictions from 1 and 2 threads
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/1" "$TMP/test.h5" --proba --threads 1 -o "$TMP/p1.csv"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/1" "$TMP/test.h5" --proba --threads 2 -o "$TMP/p2.csv"
cmp -s "$TMP/p1.csv" "$TMP/p2.csv" || fail "predictions depend on the thread count"

expect 2 "automl: gbdt.max_leaves: expected an integer in [4, 255], got '1'" -- \
  "$AUTOML" train "$TMP/train.h5" --model gbdt --set max_leaves=1 --repo "$TMP/repo"
expect 2 "automl: gbdt.loss: expected one of auto, squared, absolute, huber, got 'quantile'" -- \
  "$AUTOML" train "$TMP/train.h5" --model gbdt --set loss=quantile --repo "$TMP/repo"

# regression with the Huber loss
expect 0 "" -- "$AUTOML" import datasets/BostonHousing.csv "$TMP/boston.h5"
expect 0 "" -- "$AUTOML" split "$TMP/boston.h5" "$TMP/btrain.h5" "$TMP/btest.h5" --test 0.25 --seed 0
expect 0 "" -- "$AUTOML" train "$TMP/btrain.h5" --model gbdt --set loss=huber --repo "$TMP/repo" --name boston
expect 0 "" -- "$AUTOML" predict "$TMP/repo/boston/1" "$TMP/btest.h5" -o "$TMP/bpred.csv"
at_least "BostonHousing gbdt (huber) held-out r2" "$(score_of "$TMP/err")" 0.75

# a search over gbdt alone
cat > "$TMP/bc.lua" <<LUA
return automl.search {
  data = automl.dataset("$TMP/train.h5"),
  budget = { trials = 6 },
  models = { gbdt = { n_trees = automl.int(20, 200) } },
  seed = 2,
  export = { to = "$TMP/repo", name = "bcs" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/bc.lua" --threads 2 --out "$TMP/run"
grep -q ',gbdt,' "$TMP/run/leaderboard.csv" || fail "no gbdt trial in the leaderboard"
artifact=$(sed -n 's/^artifact: //p' "$TMP/out")
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/test.h5" -o "$TMP/spred.csv"
at_least "breast_cancer searched gbdt held-out accuracy" "$(score_of "$TMP/err")" 0.94

# early stopping (off by default): a fast learning rate stops long before 1000 trees on every
# fold's held-out tenth; the journal keeps the share of trees used and the refit on all rows
# grows about that many, not 1000
cat > "$TMP/es.lua" <<LUA
return automl.search {
  data = automl.dataset("$TMP/train.h5"),
  budget = { trials = 1 }, ensemble = false,
  models = { gbdt = { n_trees = 1000, learning_rate = 0.3, early_stopping_rounds = 20 } },
  export = { to = "$TMP/repo", name = "es" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/es.lua" --threads 2 --out "$TMP/esrun"
used=$(sed -n 's/.*"used_resource":\([0-9.e-]*\).*/\1/p' "$TMP/esrun/trials.jsonl")
awk -v u="$used" 'BEGIN { exit !(u > 0 && u < 0.2) }' || fail "used_resource '$used', expected early stopping below 200 of 1000 trees"
artifact=$(sed -n 's/^artifact: //p' "$TMP/out")
/usr/bin/python3 - "$artifact/manifest.json" "$used" <<'PY' || fail "the refit's resource in the manifest"
import json, sys
m = json.load(open(sys.argv[1]))["model"]
used = float(sys.argv[2])
assert m["plugin"] == "gbdt" and 0 < m["resource"] <= min(1, 1.5 * used), m
PY
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/test.h5" -o /dev/null
at_least "breast_cancer early-stopped gbdt held-out accuracy" "$(score_of "$TMP/err")" 0.93
finish
