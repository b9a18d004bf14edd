#!/usr/bin/env bash
# End to end, feature pipelines named in the spec: per-family steps with fixed parameters, and a
# choice of pipelines that the search tunes like a hyperparameter. The trials record the steps and
# the choice, the manifest lists each step with its parameters, --resume keeps the choices, and
# the artifact predicts raw CSV rows exactly as the in-engine path does.
. "$(dirname "$0")/lib.sh"

raw_csv 11 "$TMP/raw.csv"
expect 0 "" -- "$AUTOML" import "$TMP/raw.csv" "$TMP/raw.h5" --target target --categorical size

cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/raw.h5",
  models = { "linear", "knn", "forest" },
  features = {
    linear = { { "impute", strategy = "most_frequent" }, { "onehot", max_levels = 2 }, "scale" },
    knn = automl.choice{ { "impute", "onehot" }, { "impute", "target_encode", "scale" } },
    default = "auto",
  },
  strategy = "tpe", seed = 3,
  budget = { trials = 30 },
  export = { to = "$TMP/repo", name = "raw" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --parallel 1
artifact=$(sed -n 's/^artifact: //p' "$TMP/out")
j="$TMP/run/trials.jsonl"
# every linear trial has exactly its three steps; forest keeps "auto": on this data with missing
# cells, native missing values (no steps) or mean imputation, and its defaults try both
[ "$(grep -c '"model":"linear"' "$j")" -gt 0 ] || fail "no linear trials"
[ "$(grep '"model":"linear"' "$j" | grep -vc '"pipeline":\["impute","onehot","scale"\]')" -eq 0 ] \
  || fail "a linear trial without impute, onehot, scale"
grep '"model":"forest"' "$j" | grep '"pipeline"' | grep -vq '"pipeline_choice":1,"pipeline":\["impute"\]' \
  && fail "forest got other feature steps than impute under default = auto"
grep '"model":"forest"' "$j" | grep -vq '"pipeline"' || fail "forest never ran on native missing values"
grep '"model":"forest"' "$j" | grep -q '"pipeline":\["impute"\]' || fail "forest never ran imputed"
# knn tried both of its pipelines, and none of the trials failed
grep '"model":"knn"' "$j" | grep -v pipeline_choice | grep -q '"pipeline":\["impute","onehot"\]' \
  || fail "knn never ran its first pipeline"
grep '"model":"knn"' "$j" | grep -q '"pipeline_choice":1,"pipeline":\["impute","target_encode","scale"\]' \
  || fail "knn never ran its second pipeline"
grep -q '"status":"failed"' "$j" && fail "failed trials: $(grep '"status":"failed"' "$j" | head -2)"

# the manifest lists the steps with their parameters (the fixed ones from the spec)
/usr/bin/python3 - "$artifact/manifest.json" <<'PY' || fail "manifest pipeline"
import json, sys
m = json.load(open(sys.argv[1]))
models = m["model"].get("members") or [dict(m["model"], pipeline=m["pipeline"])]
steps = [s for mm in models for s in mm["pipeline"]]
assert all("params" in s for s in steps), steps
lin = [mm for mm in models if mm.get("plugin") == "linear"]
for mm in lin:
    ps = {s["plugin"]: s["params"] for s in mm["pipeline"]}
    assert ps["impute"]["strategy"] == "most_frequent" and ps["onehot"]["max_levels"] == 2, ps
for mm in models: # a forest's imputation under "auto": means, no indicator columns
    if mm.get("plugin") == "forest" and mm["pipeline"]:
        ps = {s["plugin"]: s["params"] for s in mm["pipeline"]}
        assert ps["impute"]["strategy"] == "mean" and ps["impute"]["add_indicator"] is False, ps
PY

# the raw CSV gives the same predictions as the HDF5 file
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/raw.csv" -o "$TMP/p_csv.csv"
at_least "training accuracy" "$(score_of "$TMP/err")" 0.9
expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/raw.h5" -o "$TMP/p_h5.csv"
cmp -s "$TMP/p_csv.csv" "$TMP/p_h5.csv" || fail "raw CSV and HDF5 predictions differ"

# resume from a journal cut after 12 trials: the same 30 trials, choices included
head -12 "$j" > "$TMP/cut.jsonl"
mkdir -p "$TMP/run2" && cp "$TMP/cut.jsonl" "$TMP/run2/trials.jsonl"
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run2" --resume --parallel 1
strip() { sed 's/"seconds":[^,]*,"finished_at":[^,]*,"fit_seconds":[^,]*,//' "$1"; }
diff <(strip "$j") <(strip "$TMP/run2/trials.jsonl") > /dev/null || fail "resumed journal differs from the uninterrupted one"
finish
