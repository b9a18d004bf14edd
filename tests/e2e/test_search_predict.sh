#!/usr/bin/env bash
# End to end: import, split, search a spec, predict with the exported artifact (reproducing the
# refit model's predictions exactly), info, train, and a corrupted or truncated artifact refused.
. "$(dirname "$0")/lib.sh"

expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5" --target target
expect 0 "" -- "$AUTOML" split "$TMP/wine.h5" "$TMP/train.h5" "$TMP/test.h5" --test 0.25 --seed 0
[ "$(cat "$TMP/out")" = "wrote $TMP/train.h5 (133 rows) and $TMP/test.h5 (45 rows)" ] || fail "split: $(cat "$TMP/out")"

cat > "$TMP/wine.lua" <<LUA
return automl.search {
  data = automl.dataset("$TMP/train.h5"),
  budget = { trials = 12 },
  models = { "linear", "knn" },
  seed = 3,
  export = { to = "$TMP/repo", name = "wine" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/wine.lua" --threads 2 --out "$TMP/run"
cp "$TMP/out" "$TMP/search.out"
artifact=$(sed -n 's/^artifact: //p' "$TMP/search.out")
[ "$artifact" = "$TMP/repo/wine/1" ] || fail "artifact line: $(cat "$TMP/search.out")"
for f in trials.jsonl leaderboard.csv summary.json refit_predictions.csv artifact.txt report.html; do
  [ -s "$TMP/run/$f" ] || fail "run dir lacks $f"
done
[ "$(wc -l < "$TMP/run/trials.jsonl")" -eq 12 ] || fail "journal has $(wc -l < "$TMP/run/trials.jsonl") lines, expected 12"
[ "$(grep -c '^[0-9]*,[0-9]' "$TMP/run/leaderboard.csv")" -eq 12 ] || fail "leaderboard.csv trial rows"
grep -q '^rank,trial,model,status,accuracy,' "$TMP/run/leaderboard.csv" || fail "leaderboard header"
grep -q '^1 ' "$TMP/search.out" || fail "no leaderboard table on stdout"
[ -s "$artifact/manifest.json" ] && [ -s "$artifact/model.bin" ] || fail "artifact files"
ls -A "$TMP/repo/wine" | grep -q '^\.tmp' && fail "temporary directory left in the repository"

# report.html: one well-formed page, self-contained, showing the leaderboard's best trial score
r="$TMP/run/report.html"
head -c 15 "$r" | grep -q '^<!DOCTYPE html>' && tail -1 "$r" | grep -q '</body></html>$' || fail "report.html is not a whole page"
[ "$(grep -o '<svg' "$r" | wc -l)" -ge 2 ] && [ "$(grep -o '<svg' "$r" | wc -l)" -eq "$(grep -o '</svg>' "$r" | wc -l)" ] || fail "report.html: unbalanced or missing SVG plots"
for tag in table tr h2 p; do
  [ "$(grep -o "<$tag[ >]" "$r" | wc -l)" -eq "$(grep -o "</$tag>" "$r" | wc -l)" ] || fail "report.html: unbalanced <$tag>"
done
grep -q -E 'src=|href=|<script' "$r" && fail "report.html loads something from outside or runs scripts"
best=$(awk -F, '$1 == 1 { printf "%.4f", $5 }' "$TMP/run/leaderboard.csv")
grep -q "<b id='best-score'>$best</b>" "$r" || fail "report.html does not show the best score $best"

# predict on the training file reproduces the refit model's predictions byte for byte
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/train.h5" --proba -o "$TMP/pred_train.csv"
cmp -s "$TMP/pred_train.csv" "$TMP/run/refit_predictions.csv" || fail "predict differs from the refit predictions"

# held-out accuracy, printed because the test file holds the target
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/test.h5" -o "$TMP/pred.csv"
[ "$(head -1 "$TMP/pred.csv")" = "prediction" ] || fail "predict header"
[ "$(wc -l < "$TMP/pred.csv")" -eq 46 ] || fail "one prediction per row"
at_least "wine held-out accuracy" "$(score_of "$TMP/err")" 0.90

# an ensemble of a forest and linear models: each member's probabilities are calibrated by its own
# temperature, which the artifact keeps (the manifest lists them; predict reproduces the refit)
expect 0 "" -- "$AUTOML" import datasets/breast_cancer.csv "$TMP/bc.h5" --target target
cat > "$TMP/bc.lua" <<LUA
return automl.search { data = "$TMP/bc.h5", budget = { trials = 8 }, models = { "linear", "forest" }, seed = 1,
                       export = { to = "$TMP/repo", name = "bc" } }
LUA
expect 0 "" -- "$AUTOML" search "$TMP/bc.lua" --threads 2 --out "$TMP/bc_run"
m="$TMP/repo/bc/1/manifest.json"
grep -q '"plugin":	"ensemble"' "$m" || fail "breast_cancer: no ensemble won: $(sed -n 3p "$TMP/out")"
members=$(grep -c '"weight":' "$m") temps=$(grep -c '"temperature":' "$m")
[ "$members" -ge 2 ] && [ "$temps" = "$members" ] || fail "ensemble: $members members, $temps temperatures"
forest_t=$(awk '/"plugin":\t"forest"/ { f = 1 } f && /"temperature":/ { gsub(/[^0-9.]/, "", $2); print $2; exit }' "$m")
awk -v t="$forest_t" 'BEGIN { exit !(t > 0 && t < 1) }' || fail "the forest's votes are not sharpened: temperature '$forest_t'"
# a 1.x reader would ignore the temperatures and predict differently: the blob is format 2.0, which
# it refuses; a single model's blob stays 1.0
grep -q '"blob_format_version":	"2.0"' "$m" || fail "a tempered ensemble's blob is not format 2.0"
grep -q '"blob_format_version":	"1.0"' "$artifact/manifest.json" || fail "a single model's blob is not format 1.0"
[ "$(od -An -tu4 -j8 -N4 "$TMP/repo/bc/1/model.bin" | tr -d ' ')" = 2 ] || fail "model.bin header: format major is not 2"
expect 0 "" -- "$AUTOML" predict "$TMP/repo/bc/1" "$TMP/bc.h5" --proba -o "$TMP/bc_pred.csv"
cmp -s "$TMP/bc_pred.csv" "$TMP/bc_run/refit_predictions.csv" || fail "ensemble: predict differs from the refit predictions"

# predict from the CSV by header name gives the same predictions as from HDF5
expect 0 "" -- "$AUTOML" predict "$artifact" datasets/wine.csv -o "$TMP/pred_csv.csv"
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/wine.h5" -o "$TMP/pred_h5.csv"
cmp -s "$TMP/pred_csv.csv" "$TMP/pred_h5.csv" || fail "CSV and HDF5 inputs predict differently"

# info on the artifact verifies and summarises it
expect 0 "" -- "$AUTOML" info "$artifact"
grep -q '^artifact       .* (checksums verified)$' "$TMP/out" || fail "info artifact: $(cat "$TMP/out")"
grep -q '^task           "classification"$' "$TMP/out" || fail "info task"

# train: one configuration, exported as the next version
expect 0 "" -- "$AUTOML" train "$TMP/train.h5" --model knn --set k=7,weights=distance --repo "$TMP/repo" --name wine
[ "$(sed -n 's/^artifact: //p' "$TMP/out")" = "$TMP/repo/wine/2" ] || fail "train artifact: $(cat "$TMP/out")"
grep -q '"k":	7' "$TMP/repo/wine/2/manifest.json" || fail "train params in manifest"
expect 2 "automl: knn.k: expected an integer in [1, 50], got '0'" -- \
  "$AUTOML" train "$TMP/train.h5" --model knn --set k=0 --repo "$TMP/repo"
expect 2 "automl: train: --model: no model plugin named 'gbm' (see automl plugins)" -- \
  "$AUTOML" train "$TMP/train.h5" --model gbm --repo "$TMP/repo"
[ -d "$TMP/repo/wine/3" ] && fail "a failed train published a version"

# a journal is never overwritten: a second search into the same run dir needs --resume
expect 2 "automl: $TMP/run/trials.jsonl: a journal of an earlier search is there; pass --resume to continue it or choose another --out" -- \
  "$AUTOML" search "$TMP/wine.lua" --out "$TMP/run"

# corrupted, truncated, foreign and too-new artifacts are refused with a clear message
cp -r "$artifact" "$TMP/bad1"
printf '\x01' | dd of="$TMP/bad1/model.bin" bs=1 seek=100 conv=notrunc 2> /dev/null
expect 2 "" -- "$AUTOML" predict "$TMP/bad1" "$TMP/test.h5"
grep -q "^automl: $TMP/bad1/model.bin: checksum mismatch" "$TMP/err" || fail "corrupt blob: $(cat "$TMP/err")"
cp -r "$artifact" "$TMP/bad2"
truncate -s 50 "$TMP/bad2/model.bin"
expect 2 "" -- "$AUTOML" predict "$TMP/bad2" "$TMP/test.h5"
grep -q "checksum mismatch" "$TMP/err" || fail "truncated blob: $(cat "$TMP/err")"
cp -r "$artifact" "$TMP/bad3"
head -c 40 "$artifact/manifest.json" > "$TMP/bad3/manifest.json"
expect 2 "automl: $TMP/bad3/manifest.json: not valid JSON (truncated or corrupt manifest)" -- \
  "$AUTOML" predict "$TMP/bad3" "$TMP/test.h5"
cp -r "$artifact" "$TMP/bad4"
sed -i 's/"format_version":	"1.1"/"format_version":	"2.0"/' "$TMP/bad4/manifest.json"
expect 2 "automl: $TMP/bad4/manifest.json: artifact format 2.0 is newer than this automl reads (1.x); upgrade automl" -- \
  "$AUTOML" predict "$TMP/bad4" "$TMP/test.h5"
expect 2 "automl: $TMP: not an artifact: no readable manifest.json" -- "$AUTOML" predict "$TMP" "$TMP/test.h5"
# data with other features than the model's
"$AUTOML" import datasets/iris.csv "$TMP/iris.h5" > /dev/null
expect 2 "automl: $TMP/iris.h5: has 4 features, the model expects 13 (alcohol ...)" -- \
  "$AUTOML" predict "$artifact" "$TMP/iris.h5"

# data.drop: the named features are gone before the search, and the artifact's inputs say so
cols=$(sed -n 1p datasets/iris.csv)
keep1=$(echo "$cols" | cut -d, -f1) drop2=$(echo "$cols" | cut -d, -f2) drop3=$(echo "$cols" | cut -d, -f3) keep4=$(echo "$cols" | cut -d, -f4)
cat > "$TMP/drop.lua" <<LUA
return automl.search {
  data = automl.dataset{ path = "$TMP/iris.h5", drop = { "$drop2", "$drop3" } },
  budget = { trials = 1 }, models = { "linear" }, ensemble = false,
  export = { to = "$TMP/droprepo", name = "iris" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/drop.lua" --out "$TMP/droprun"
grep -q "^search: $TMP/iris.h5: 150 rows x 2 features" "$TMP/out" || fail "data.drop: $(sed -n 1p "$TMP/out")"
/usr/bin/python3 - "$TMP/droprepo/iris/1/manifest.json" "$keep1" "$keep4" <<'PY' || fail "data.drop: the manifest's inputs"
import json, sys
m = json.load(open(sys.argv[1]))
names = [f["name"] for f in m["input"]["features"]]
assert names == sys.argv[2:4], names
PY
sed -i "s/\"$drop3\" }/\"$drop3\", \"no_such_column\" }/" "$TMP/drop.lua"
expect 2 "automl: $TMP/iris.h5: data.drop: no feature named 'no_such_column'" -- \
  "$AUTOML" search "$TMP/drop.lua" --out "$TMP/droprun2"
finish
