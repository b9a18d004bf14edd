#!/usr/bin/env bash
# End to end: `automl search DATA` without a spec (a CSV imported into the run directory, the
# spec it ran printed and saved, --print-spec, the saved spec running the same search), and
# --json keeping stdout a single JSON document with every human line on stderr.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
ABS_AUTOML=$(realpath "$(command -v "$AUTOML")")

# ---- --print-spec: the spec, nothing searched or written ----
mkdir -p "$TMP/cwd"
IRIS=$PWD/datasets/iris.csv
(cd "$TMP/cwd" && "$ABS_AUTOML" search "$IRIS" --target target --trials 6 --seed 3 --threads 2 --repo "$TMP/repo" \
  --print-spec > "$TMP/printed.lua" 2> "$TMP/err")
[ $? = 0 ] || fail "--print-spec -> exit $? ($(cat "$TMP/err"))"
[ -z "$(ls -A "$TMP/cwd")" ] || fail "--print-spec wrote $(ls -A "$TMP/cwd")"
[ ! -e "$TMP/repo" ] || fail "--print-spec exported"
[ ! -s "$TMP/err" ] || fail "--print-spec stderr: $(cat "$TMP/err")"
grep -qxF "  data = automl.dataset { path = \"$PWD/datasets/iris.csv\", target = \"target\" }," "$TMP/printed.lua" ||
  fail "printed data line: $(cat "$TMP/printed.lua")"
grep -qxF "  budget = { trials = 6 }," "$TMP/printed.lua" || fail "printed budget: $(cat "$TMP/printed.lua")"
grep -qxF "  seed = 3," "$TMP/printed.lua" || fail "printed seed: $(cat "$TMP/printed.lua")"
grep -qxF "  export = { to = \"$TMP/repo\", name = \"iris\" }," "$TMP/printed.lua" || fail "printed export: $(cat "$TMP/printed.lua")"

# ---- the search itself, --json: stdout is one JSON document, the human lines on stderr ----
(cd "$TMP/cwd" && "$ABS_AUTOML" search "$IRIS" --target target --trials 6 --seed 3 --threads 2 --repo "$TMP/repo" \
  --out "$TMP/run1" --json > "$TMP/json1" 2> "$TMP/err1")
[ $? = 0 ] || fail "search iris.csv --json -> exit $? ($(cat "$TMP/err1"))"
$PY -c 'import json,sys; json.load(sys.stdin)' < "$TMP/json1" || fail "stdout is not one JSON document: $(cat "$TMP/json1")"
keys=$($PY -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))))' < "$TMP/json1")
[ "$keys" = "artifact best_model best_score best_trial dataset failed fingerprint metric parallel_trials refit resumed run_dir seconds task threads trials" ] ||
  fail "summary keys: $keys"
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
[ "$(field "$TMP/json1" artifact)" = "$TMP/repo/iris/1" ] || fail "artifact: $(cat "$TMP/json1")"
[ "$(field "$TMP/json1" dataset)" = "$TMP/run1/iris.h5" ] || fail "imported into the run dir: $(cat "$TMP/json1")"
[ "$(field "$TMP/json1" trials)" = 6 ] || fail "trials: $(cat "$TMP/json1")"
[ "$(field "$TMP/json1" task)" = classification ] || fail "task: $(cat "$TMP/json1")"
$PY -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$TMP/json1" "$TMP/run1/summary.json" ||
  fail "stdout differs from summary.json"
for line in "^import: $IRIS -> $TMP/run1/iris.h5: 150 rows x 4 features, target target, classification (3 classes)$" \
  "^spec (saved as $TMP/run1/spec.lua; " '^search: ' '^rank  trial' '^best: ' "^run: $TMP/run1$" "^artifact: $TMP/repo/iris/1$"; do
  grep -q "$line" "$TMP/err1" || fail "stderr lacks '$line': $(cat "$TMP/err1")"
done
cmp -s "$TMP/printed.lua" "$TMP/run1/spec.lua" || fail "the saved spec differs from --print-spec's: $(diff "$TMP/printed.lua" "$TMP/run1/spec.lua")"

# ---- the printed spec, saved to a file, runs the same search ----
cp "$TMP/printed.lua" "$TMP/mine.lua"
"$AUTOML" search "$TMP/mine.lua" --threads 2 --out "$TMP/run2" --json > "$TMP/json2" 2> "$TMP/err2"
[ $? = 0 ] || fail "search mine.lua -> exit $? ($(cat "$TMP/err2"))"
for k in fingerprint task metric best_model best_score best_trial trials; do
  [ "$(field "$TMP/json1" $k)" = "$(field "$TMP/json2" $k)" ] || fail "$k: $(field "$TMP/json1" $k) vs $(field "$TMP/json2" $k)"
done
[ "$(field "$TMP/json2" artifact)" = "$TMP/repo/iris/2" ] || fail "second artifact: $(cat "$TMP/json2")"
cut -d, -f1-6 "$TMP/run1/leaderboard.csv" > "$TMP/lb1"
cut -d, -f1-6 "$TMP/run2/leaderboard.csv" > "$TMP/lb2"
cmp -s "$TMP/lb1" "$TMP/lb2" || fail "leaderboards differ: $(diff "$TMP/lb1" "$TMP/lb2")"

# ---- without --json, stdout holds the human lines as before ----
"$AUTOML" search "$TMP/mine.lua" --threads 2 --out "$TMP/run3" > "$TMP/out3" 2> "$TMP/err3"
[ $? = 0 ] || fail "search mine.lua -> exit $? ($(cat "$TMP/err3"))"
for line in '^search: ' '^rank  trial' '^best: ' "^run: $TMP/run3$" "^artifact: $TMP/repo/iris/3$"; do
  grep -q "$line" "$TMP/out3" || fail "stdout lacks '$line': $(cat "$TMP/out3")"
done
grep -q '^{' "$TMP/out3" && fail "JSON on stdout without --json"

# ---- --json: what a spec prints goes to stderr too ----
{ echo 'print("hello from the spec")'; cat "$TMP/mine.lua"; } > "$TMP/chatty.lua"
"$AUTOML" search "$TMP/chatty.lua" --trials 2 --out "$TMP/run7" --json > "$TMP/json7" 2> "$TMP/err7"
[ $? = 0 ] || fail "search chatty.lua -> exit $? ($(cat "$TMP/err7"))"
$PY -c 'import json,sys; json.load(sys.stdin)' < "$TMP/json7" || fail "a spec's print() reached stdout: $(cat "$TMP/json7")"
grep -qx "hello from the spec" "$TMP/err7" || fail "the spec's print() is lost: $(cat "$TMP/err7")"

# ---- an HDF5 dataset needs no --target; mistakes are usage errors ----
"$AUTOML" import datasets/iris.csv "$TMP/iris.h5" > /dev/null || fail "import iris"
"$AUTOML" search "$TMP/iris.h5" --trials 3 --threads 2 --repo "$TMP/repo" --name iris_h5 --out "$TMP/run4" > "$TMP/out4" 2> "$TMP/err4"
[ $? = 0 ] || fail "search iris.h5 -> exit $? ($(cat "$TMP/err4"))"
grep -q "^artifact: $TMP/repo/iris_h5/1$" "$TMP/out4" || fail "h5 artifact: $(cat "$TMP/out4")"
grep -q '^import: ' "$TMP/out4" && fail "an HDF5 dataset was imported again"
expect 2 "automl: search: --target: $TMP/iris.h5 is an HDF5 dataset, whose target was chosen at import (automl import --target); give the CSV instead" \
  -- "$AUTOML" search "$TMP/iris.h5" --target target
expect 2 "automl: search: --target is for \`automl search DATA\` (no spec); scripts/iris.lua is a spec, which says it itself" \
  -- "$AUTOML" search scripts/iris.lua --target target
expect 2 "automl: search: --task: expected auto, classification or regression, got 'ranking'" \
  -- "$AUTOML" search datasets/iris.csv --task ranking
expect 2 "automl: search: $TMP/none.csv: No such file or directory (expected a spec .lua, a CSV table or an HDF5 dataset)" \
  -- "$AUTOML" search "$TMP/none.csv"
expect 2 "automl: datasets/iris.csv: target column 'species' is not in the header (columns: sepal_length_(cm), sepal_width_(cm), petal_length_(cm), petal_width_(cm), target)" \
  -- "$AUTOML" search datasets/iris.csv --target species --out "$TMP/run5"
[ ! -e "$TMP/run5" ] || fail "a failed import left $(ls -A "$TMP/run5")"
expect 2 "" -- "$AUTOML" search datasets/iris.csv --metric rmsle --print-spec
grep -q "metric: must be one of auto, " "$TMP/err" || fail "--metric rmsle: $(cat "$TMP/err")"
[ ! -s "$TMP/out" ] || fail "a refused spec was printed: $(cat "$TMP/out")"

# ---- a spec whose data is a CSV: imported into the run directory with its target and task ----
cp datasets/iris.csv "$TMP/my iris.csv"
cat > "$TMP/csv.lua" <<LUA
return automl.search {
  data = automl.dataset { path = "$TMP/my iris.csv", target = "target" },
  task = "classification", budget = { trials = 3 }, export = { to = "$TMP/repo", name = "iris_csv" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/csv.lua" --threads 2 --out "$TMP/run6"
grep -qxF "import: $TMP/my iris.csv -> $TMP/run6/my_iris.h5: 150 rows x 4 features, target target, classification (3 classes)" "$TMP/out" ||
  fail "spec with CSV data: $(cat "$TMP/out")"
grep -q "^artifact: $TMP/repo/iris_csv/1$" "$TMP/out" || fail "spec with CSV data: $(cat "$TMP/out")"
# the data form names the model after the file, made a plain name
expect 0 "" -- "$AUTOML" search "$TMP/my iris.csv" --trials 2 --print-spec
grep -qxF "  export = { to = \"models\", name = \"my_iris\" }," "$TMP/out" || fail "export name of 'my iris.csv': $(cat "$TMP/out")"
finish
