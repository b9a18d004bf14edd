#!/usr/bin/env bash
# End to end: `automl import` a shipped CSV, `automl info` the result, and the exit status and exact
# one-line message of each kind of bad input, with no output file left behind on failure.
set -u
cd "${AML_SOURCE_DIR:-$(dirname "$0")/../..}"
AUTOML=${AML_BUILD_DIR:+$AML_BUILD_DIR/bin/}automl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS EXPECTED_STDERR_LINE -- command...
expect() {
  local status=$1 message=$2
  shift 3
  "$@" > "$TMP/out" 2> "$TMP/err"
  local got=$?
  [ "$got" -eq "$status" ] || fail "$* -> exit $got, expected $status (stderr: $(cat "$TMP/err"))"
  if [ -n "$message" ]; then
    [ "$(cat "$TMP/err")" = "$message" ] || fail "$* -> stderr '$(cat "$TMP/err")', expected '$message'"
  fi
}

# no_files DIR: nothing (no .h5, no temporary) in DIR
no_files() {
  local left
  left=$(ls -A "$1")
  [ -z "$left" ] || fail "files left behind in $1: $left"
}

# ---- a good import, then info ----
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5"
[ "$(head -1 "$TMP/out")" = "wrote $TMP/wine.h5: 178 rows x 13 features, classification (3 classes), 0 categorical columns, 0 missing cells" ] \
  || fail "import summary: $(cat "$TMP/out")"
# then one line per column with what import decided and why
[ "$(wc -l < "$TMP/out")" -eq 16 ] || fail "import decisions: $(cat "$TMP/out")"
grep -qx "  alcohol                  numeric           -        0  every value a number" "$TMP/out" \
  || fail "import decision for alcohol: $(cat "$TMP/out")"
grep -qx "  target                   categorical       3        0  target, classification by integers with few distinct values (at most 50, under half the rows)" \
  "$TMP/out" || fail "import decision for the target: $(cat "$TMP/out")"
[ "$(ls -A "$TMP")" = "$(printf 'err\nout\nwine.h5')" ] || fail "unexpected files: $(ls -A "$TMP")"

expect 0 "" -- "$AUTOML" info "$TMP/wine.h5"
grep -qx "shape        178 rows x 13 features" "$TMP/out" || fail "info shape: $(cat "$TMP/out")"
grep -qx "task         classification (3 classes)" "$TMP/out" || fail "info task"
grep -qx "missing      0 cells (0.00%)" "$TMP/out" || fail "info missing"
grep -qx "    1  1            71   39.9%" "$TMP/out" || fail "info class balance: $(cat "$TMP/out")"
grep -qE "^fingerprint  [0-9a-f]{64}$" "$TMP/out" || fail "info fingerprint"
fp1=$(grep '^fingerprint' "$TMP/out")

# Importing the same CSV again gives the same fingerprint.
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine2.h5"
expect 0 "" -- "$AUTOML" info "$TMP/wine2.h5"
[ "$(grep '^fingerprint' "$TMP/out")" = "$fp1" ] || fail "re-import changed the fingerprint"
rm -f "$TMP/wine2.h5"

# Regression with missing cells, and the options.
expect 0 "" -- "$AUTOML" import datasets/PimaIndiansDiabetes2.csv "$TMP/pima.h5" --target target
[ "$(head -1 "$TMP/out")" = "wrote $TMP/pima.h5: 768 rows x 8 features, classification (2 classes), 0 categorical columns, 652 missing cells" ] \
  || fail "pima summary: $(cat "$TMP/out")"
expect 0 "" -- "$AUTOML" import datasets/iris.csv "$TMP/iris.h5" --task=regression --categorical 'sepal_length_(cm)'
[ "$(head -1 "$TMP/out")" = "wrote $TMP/iris.h5: 150 rows x 4 features, regression, 1 categorical columns, 0 missing cells" ] \
  || fail "iris options summary: $(cat "$TMP/out")"
grep -qx "  sepal_length_(cm)        categorical      35        0  --categorical" "$TMP/out" || fail "iris --categorical: $(cat "$TMP/out")"
grep -qx "  target                   numeric           -        0  target, regression by --task" "$TMP/out" || fail "iris --task: $(cat "$TMP/out")"
expect 0 "" -- "$AUTOML" info "$TMP/iris.h5"
grep -qx "     0  sepal_length_(cm)  categorical (35)           0" "$TMP/out" || fail "iris categorical: $(cat "$TMP/out")"
grep -qx "target: mean 1  std 0.819232  min 0  max 2" "$TMP/out" || fail "iris regression target: $(cat "$TMP/out")"
rm -f "$TMP"/*.h5

# ---- help ----
expect 0 "" -- "$AUTOML" import --help
grep -q -- "--categorical LIST" "$TMP/out" || fail "import --help lacks --categorical"
grep -q -- "--task TASK" "$TMP/out" || fail "import --help lacks --task"
expect 0 "" -- "$AUTOML" info --help
grep -q "ARTIFACT_DIR" "$TMP/out" || fail "info --help"

# ---- bad usage and bad input: exit 2, one line, nothing written ----
mkdir "$TMP/o"
bad=tests/data/csv
expect 2 "automl: import: expected DATA.csv DATA.h5 (see automl import --help)" -- "$AUTOML" import datasets/wine.csv
expect 2 "automl: import: unknown option '--bogus' (see automl import --help)" -- "$AUTOML" import --bogus datasets/wine.csv "$TMP/o/x.h5"
expect 2 "automl: import: --target needs a value (see automl import --help)" -- "$AUTOML" import datasets/wine.csv "$TMP/o/x.h5" --target
expect 2 "automl: import: --task: expected classification, regression or auto, got 'clustering'" -- \
  "$AUTOML" import datasets/wine.csv "$TMP/o/x.h5" --task clustering
expect 2 "automl: datasets/wine.csv: target column 'quality' is not in the header (columns: alcohol, malic_acid, ash, alcalinity_of_ash, magnesium, total_phenols, flavanoids, nonflavanoid_phenols, proanthocyanins, color_intensity, hue, od280/od315_of_diluted_wines, proline, target)" -- \
  "$AUTOML" import datasets/wine.csv "$TMP/o/x.h5" --target quality
expect 2 "automl: $bad/ragged.csv:4: expected 3 fields, got 4" -- "$AUTOML" import $bad/ragged.csv "$TMP/o/x.h5"
expect 2 "automl: $bad/missing_target.csv:3: missing target value in column 'y'" -- "$AUTOML" import $bad/missing_target.csv "$TMP/o/x.h5"
expect 2 "automl: $bad/empty.csv: empty file; expected a header row naming the columns" -- "$AUTOML" import $bad/empty.csv "$TMP/o/x.h5"
expect 2 "automl: $bad/forced.csv:4: column 'score' (column 3) is forced numeric but holds 'x'" -- \
  "$AUTOML" import $bad/forced.csv "$TMP/o/x.h5" --numeric score
expect 2 "automl: $TMP/nope.csv: cannot open: No such file or directory" -- "$AUTOML" import "$TMP/nope.csv" "$TMP/o/x.h5"
no_files "$TMP/o"

# A failed import keeps an existing output as it was.
echo "previous" > "$TMP/o/keep.h5"
expect 2 "" -- "$AUTOML" import $bad/ragged.csv "$TMP/o/keep.h5"
[ "$(cat "$TMP/o/keep.h5")" = "previous" ] || fail "a failed import replaced the existing output"
[ "$(ls -A "$TMP/o")" = "keep.h5" ] || fail "files left behind: $(ls -A "$TMP/o")"
rm -f "$TMP/o/keep.h5"

# An output that cannot be created: runtime failure (1), nothing left.
expect 1 "" -- "$AUTOML" import datasets/wine.csv "$TMP/o/missing_dir/x.h5"
grep -q "^automl: $TMP/o/missing_dir/x.h5.tmp.[0-9]*: cannot create: No such file or directory$" "$TMP/err" \
  || fail "unwritable output message: $(cat "$TMP/err")"
no_files "$TMP/o"
cp datasets/iris.csv "$TMP/o/same.csv"
expect 2 "automl: import: the output $TMP/o/same.csv is the input file; choose another path" -- \
  "$AUTOML" import "$TMP/o/same.csv" "$TMP/o/same.csv"
cmp -s "$TMP/o/same.csv" datasets/iris.csv || fail "the input was overwritten"
rm -f "$TMP/o/same.csv"

expect 2 "automl: info: expected one DATA.h5 or ARTIFACT_DIR (see automl info --help)" -- "$AUTOML" info
expect 2 "automl: datasets/wine.csv: not an HDF5 file (convert a CSV with \`automl import\`)" -- "$AUTOML" info datasets/wine.csv
expect 2 "automl: $TMP/none.h5: cannot open: No such file or directory" -- "$AUTOML" info "$TMP/none.h5"
expect 2 "automl: tests/data/h5/y_mismatch.h5: /y has 10 rows, /X has 12" -- "$AUTOML" info tests/data/h5/y_mismatch.h5

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "ok"
