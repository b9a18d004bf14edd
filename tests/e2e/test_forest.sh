#!/usr/bin/env bash
# End to end: the forest plugin through the generic CLI: train random forest and extra trees with
# --set, predict held-out rows (quality bars on breast_cancer and diabetes), the OOB line, exact
# refusals of bad --set values, a search over forest alone, and a search with no models list
# that picks forest up with every other plugin.
. "$(dirname "$0")/lib.sh"

expect 0 "" -- "$AUTOML" import datasets/breast_cancer.csv "$TMP/bc.h5"
expect 0 "" -- "$AUTOML" split "$TMP/bc.h5" "$TMP/train.h5" "$TMP/test.h5" --test 0.25 --seed 0

# extra trees, 300 of them, through --set
expect 0 "" -- "$AUTOML" train "$TMP/train.h5" --model forest --set n_trees=300,extra=true --threads 2 \
  --repo "$TMP/repo" --name bc
grep -qx "artifact: $TMP/repo/bc/1" "$TMP/out" || fail "train output: $(cat "$TMP/out")"
expect 0 "" -- "$AUTOML" info "$TMP/repo/bc/1"
grep -q '^params .*"n_trees":300,.*"extra":true' "$TMP/out" || fail "artifact params: $(grep params "$TMP/out")"
grep -q '^model  *forest 1\.0\.0$' "$TMP/out" || fail "artifact model: $(grep model "$TMP/out")"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/1" "$TMP/test.h5" --proba -o "$TMP/pred.csv"
at_least "extra trees held-out accuracy on breast_cancer" "$(score_of "$TMP/err")" 0.95
[ "$(head -1 "$TMP/pred.csv")" = "prediction,p_0,p_1" ] || fail "predict --proba header: $(head -1 "$TMP/pred.csv")"
awk -F, 'NR > 1 { s = $2 + $3; if (s < 0.999999 || s > 1.000001) bad++ } END { exit bad > 0 }' "$TMP/pred.csv" \
  || fail "probabilities do not sum to 1"

# the default random forest logs its out-of-bag score at info level
expect 0 "" -- "$AUTOML" train "$TMP/train.h5" --model forest --threads 2 --repo "$TMP/repo" --name bc
grep -q "^automl: info: forest: out-of-bag accuracy 0\.9[0-9]* on 427 of 427 rows (200 trees)$" "$TMP/err" \
  || fail "no OOB line: $(cat "$TMP/err")"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/2" "$TMP/test.h5" -o "$TMP/pred2.csv"
at_least "random forest held-out accuracy on breast_cancer" "$(score_of "$TMP/err")" 0.95

# the same model from 1 and 2 threads: identical predictions
expect 0 "" -- "$AUTOML" train "$TMP/train.h5" --model forest --threads 1 --repo "$TMP/repo" --name bc
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/3" "$TMP/test.h5" --proba -o "$TMP/pred3.csv"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/2" "$TMP/test.h5" --proba -o "$TMP/pred2p.csv"
cmp -s "$TMP/pred3.csv" "$TMP/pred2p.csv" || fail "1 and 2 threads gave different forests"

# bad values: one line each, exit 2
expect 2 "automl: forest.n_trees: expected an integer in [10, 1000], got '5'" -- \
  "$AUTOML" train "$TMP/train.h5" --model forest --set n_trees=5
expect 2 "automl: forest.extra: expected true or false, got 'maybe'" -- \
  "$AUTOML" train "$TMP/train.h5" --model forest --set extra=maybe
expect 2 "automl: forest.criterion: expected one of gini, entropy, got 'mse'" -- \
  "$AUTOML" train "$TMP/train.h5" --model forest --set criterion=mse

# regression
expect 0 "" -- "$AUTOML" import datasets/diabetes.csv "$TMP/diabetes.h5"
expect 0 "" -- "$AUTOML" split "$TMP/diabetes.h5" "$TMP/dtrain.h5" "$TMP/dtest.h5" --test 0.25 --seed 0
expect 0 "" -- "$AUTOML" train "$TMP/dtrain.h5" --model forest --set n_trees=100 --threads 2 --repo "$TMP/repo" \
  --name diabetes
grep -q "^automl: info: forest: out-of-bag r2 0\.[3-5]" "$TMP/err" || fail "no OOB r2 line: $(cat "$TMP/err")"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/diabetes/1" "$TMP/dtest.h5" -o "$TMP/dpred.csv"
at_least "forest held-out r2 on diabetes" "$(score_of "$TMP/err")" 0.35

# a search over forest alone, and one with no models list, which uses forest too
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5"
cat > "$TMP/forest.lua" <<LUA
return automl.search {
  data = automl.dataset("$TMP/wine.h5"),
  budget = { trials = 4 },
  models = { forest = { n_trees = automl.int(10, 60), extra = automl.choice{ true, false } } },
  seed = 1,
  export = { to = "$TMP/repo", name = "wine" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/forest.lua" --threads 2 --out "$TMP/run1"
[ "$(grep -c '"model":"forest"' "$TMP/run1/trials.jsonl")" -eq 4 ] || fail "forest-only search: $(cat "$TMP/run1/trials.jsonl")"
grep -q '^best: .* 0\.9[0-9]* (4 trials, 0 failed' "$TMP/out" || fail "forest-only search: $(cat "$TMP/out")"
cat > "$TMP/all.lua" <<LUA
return automl.search {
  data = automl.dataset("$TMP/wine.h5"),
  budget = { trials = 12 },
  seed = 2,
  export = { to = "$TMP/repo", name = "wine_all" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/all.lua" --threads 2 --out "$TMP/run2"
grep -q '"model":"forest"' "$TMP/run2/trials.jsonl" || fail "a search with no models list did not try forest"
finish
