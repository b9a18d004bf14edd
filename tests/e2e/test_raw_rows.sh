#!/usr/bin/env bash
# End to end, real-world rows: a CSV with string categories and missing markers is imported,
# searched (the artifact holds the feature pipeline), and `automl predict` takes the raw CSV —
# by header name, with unseen levels, extra columns warned about, a missing column refused, and the
# score printed when the target is there — giving the same predictions as the HDF5 path.
. "$(dirname "$0")/lib.sh"

raw_csv 7 "$TMP/raw.csv"
expect 0 "" -- "$AUTOML" import "$TMP/raw.csv" "$TMP/raw.h5" --target target --categorical size
grep -q "categorical" "$TMP/out" || fail "import summary: $(cat "$TMP/out")"
"$AUTOML" info "$TMP/raw.h5" > "$TMP/info"
grep -q "colour .*categorical" "$TMP/info" || fail "colour not categorical: $(cat "$TMP/info")"

cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/raw.h5",
  models = { "linear", "knn", "forest" },
  budget = { trials = 12 },
  export = { to = "$TMP/repo", name = "raw" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run"
artifact=$(sed -n 's/^artifact: //p' "$TMP/out")
grep -q '"pipeline":\["impute","onehot"\]' "$TMP/run/trials.jsonl" || fail "linear/knn trials got no impute+onehot pipeline"

# the raw CSV and the HDF5 give the same predictions; the target column gives a score
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/raw.csv" -o "$TMP/p_csv.csv"
grep -q "^accuracy on $TMP/raw.csv: " "$TMP/err" || fail "no score from the CSV's target: $(cat "$TMP/err")"
at_least "training accuracy" "$(score_of "$TMP/err")" 0.9
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/raw.h5" -o "$TMP/p_h5.csv"
cmp -s "$TMP/p_csv.csv" "$TMP/p_h5.csv" || fail "raw CSV and HDF5 predictions differ"

# columns in another order, an unseen level, an extra column, no target
{ echo "size,colour,x,note"; echo "1,purple,2.5,hello"; echo "0,red,?,x"; echo "2,,7,y"; } > "$TMP/new.csv"
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/new.csv" -o "$TMP/p_new.csv"
[ "$(wc -l < "$TMP/p_new.csv")" -eq 4 ] || fail "three rows in, $(($(wc -l < "$TMP/p_new.csv") - 1)) out"
[ "$(sed -n 3p "$TMP/p_new.csv")" = "yes" ] || fail "a red row should be yes: $(cat "$TMP/p_new.csv")"
grep -q "ignoring columns the model does not use: note" "$TMP/err" || fail "no warning for the extra column: $(cat "$TMP/err")"
# a missing column is refused, naming it
{ echo "x,size"; echo "1,2"; } > "$TMP/bad.csv"
expect 2 "" -- "$AUTOML" predict "$artifact" "$TMP/bad.csv"
grep -q "colour" "$TMP/err" || fail "missing column not named: $(cat "$TMP/err")"
finish
