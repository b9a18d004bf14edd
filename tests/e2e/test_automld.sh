#!/usr/bin/env bash
# End to end: the real automld on a free port over real HTTP. Predictions equal `automl predict`
# (KServe tensor and per-feature inputs with BYTES levels, TF Serving instances), a new version
# is swapped in, a corrupted one is refused and counted while the previous keeps serving,
# policies and labels from automld.json, exact 4xx errors, the bearer token, /metrics as
# Prometheus text with PSI drift that rises when served rows shift (and is published only once
# the window holds --drift-min-rows rows), and SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/automld_lib.sh"

versions_are() { http GET /v2/models/wine && grep -q "\"versions\": \[$1\]" "$TMP/body"; }

# rows_json CSV: the feature columns (all but the last) as JSON lists, one per line
rows_json() { tail -n +2 "$1" | awk -F, -v shift_by="${2:-0}" '{ s = "["; for (i = 1; i < NF; i++) s = s (i > 1 ? "," : "") (shift_by ? $i + shift_by : $i); print s "]" }'; }
# tf_to_csv: {"predictions": [{"label": L, "probabilities": [...]}, ...]} -> L,p,p,p lines
tf_to_csv() { sed -e 's/}, {/}\n{/g' "$1" | sed -n 's/.*"label": "\([^"]*\)", "probabilities": \[\([^]]*\)\]}.*/\1,\2/p' | sed 's/, /,/g' | awk 1; }
# kserve_to_csv FILE K: label and probabilities outputs -> L,p,...,p lines
kserve_to_csv() {
  sed -n 's/.*"name": "label", "datatype": "BYTES", "shape": \[[0-9]*\], "data": \[\([^]]*\)\].*/\1/p' "$1" |
    sed 's/", "/\n/g; s/"//g' > "$TMP/labels"
  sed -n 's/.*"name": "probabilities", "datatype": "FP64", "shape": \[[0-9]*, [0-9]*\], "data": \[\([^]]*\)\].*/\1/p' "$1" |
    sed 's/, /\n/g' | paste -d, $(printf -- '- %.0s' $(seq "$2")) > "$TMP/probas"
  paste -d, "$TMP/labels" "$TMP/probas"
}
# metric NAME_AND_LABELS: the value of one series in $TMP/metrics

REPO=$TMP/repo
mkdir -p "$REPO"
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5" --target target
expect 0 "" -- "$AUTOML" train "$TMP/wine.h5" --model linear --repo "$REPO" --name wine --threads 1
[ -s "$REPO/wine/1/reference.json" ] || fail "the exporter wrote no reference.json"
grep -q '"reference.json"' "$REPO/wine/1/manifest.json" || fail "reference.json is not checksummed in the manifest"

start_daemon "$TMP/d1.log" --repo "$REPO" --poll 0.2 --max-rows 600 --max-body 200000 --threads 2
wait_for "readiness" ready
http GET /v2/health/live
[ "$code" = 200 ] || fail "live -> $code"
http GET /v2
[ "$(cat "$TMP/body")" = '{"name": "automld", "version": "0.1.0", "extensions": []}' ] || fail "server metadata: $(cat "$TMP/body")"
wait_for "version 1" versions_are '"1"'
grep -q '"inputs": \[{"name": "alcohol", "datatype": "FP32", "shape": \[-1\]}' "$TMP/body" || fail "model metadata inputs: $(cat "$TMP/body")"
grep -q '{"name": "probabilities", "datatype": "FP64", "shape": \[-1, 3\]}' "$TMP/body" || fail "model metadata outputs"
http GET /v2/models/wine/versions/1/ready
[ "$code" = 200 ] || fail "model ready -> $code"

# ---- v1: predictions equal `automl predict` (TF instances and a KServe [n, d] tensor) ----
"$AUTOML" predict "$REPO/wine/1" datasets/wine.csv --proba -o "$TMP/pred1.csv" 2> /dev/null || fail "automl predict v1"
tail -n +2 "$TMP/pred1.csv" > "$TMP/want1"
rows_json datasets/wine.csv > "$TMP/rows"
{ printf '{"instances": ['; paste -sd, "$TMP/rows"; printf ']}'; } > "$TMP/tf.json"
http POST /v1/models/wine:predict "$TMP/tf.json"
[ "$code" = 200 ] || fail "TF predict -> $code $(head -c 300 "$TMP/body")"
tf_to_csv "$TMP/body" > "$TMP/got_tf1"
cmp -s "$TMP/got_tf1" "$TMP/want1" || fail "TF predictions differ from automl predict: $(diff "$TMP/got_tf1" "$TMP/want1" | head -3)"
n=$(wc -l < "$TMP/rows")
{ printf '{"id": "t1", "inputs": [{"name": "x", "datatype": "FP64", "shape": [%d, 13], "data": [' "$n"; paste -sd, "$TMP/rows"; printf ']}]}'; } > "$TMP/kv.json"
http POST /v2/models/wine/infer "$TMP/kv.json"
[ "$code" = 200 ] || fail "KServe infer -> $code $(head -c 300 "$TMP/body")"
grep -q '^{"model_name": "wine", "model_version": "1", "id": "t1", "outputs": ' "$TMP/body" || fail "infer header: $(head -c 200 "$TMP/body")"
kserve_to_csv "$TMP/body" 3 > "$TMP/got_kv1"
cmp -s "$TMP/got_kv1" "$TMP/want1" || fail "KServe predictions differ from automl predict: $(diff "$TMP/got_kv1" "$TMP/want1" | head -3)"
[ "$(wc -l < "$TMP/got_kv1")" -eq 178 ] || fail "KServe rows: $(wc -l < "$TMP/got_kv1")"

# ---- v2 published: swapped in, and its predictions equal automl predict on v2 ----
expect 0 "" -- "$AUTOML" train "$TMP/wine.h5" --model knn --set k=7 --repo "$REPO" --name wine --threads 1
wait_for "version 2 to be served" versions_are '"2"'
"$AUTOML" predict "$REPO/wine/2" datasets/wine.csv --proba -o "$TMP/pred2.csv" 2> /dev/null || fail "automl predict v2"
tail -n +2 "$TMP/pred2.csv" > "$TMP/want2"
http POST /v1/models/wine:predict "$TMP/tf.json"
tf_to_csv "$TMP/body" > "$TMP/got_tf2"
cmp -s "$TMP/got_tf2" "$TMP/want2" || fail "v2 predictions differ from automl predict"
cmp -s "$TMP/want1" "$TMP/want2" && fail "v1 and v2 predict identically: the swap test proves nothing"
expect_error 404 '{"error": "model '"'wine'"' has no version 1 loaded (serving 2)"}' GET /v2/models/wine/versions/1 ''

# ---- a corrupted v3: refused with a log line and a metric, v2 keeps serving ----
mkdir -p "$TMP/stage"
expect 0 "" -- "$AUTOML" train "$TMP/wine.h5" --model linear --set l2=10 --repo "$TMP/stage" --name wine --threads 1
cp -r "$TMP/stage/wine/1" "$REPO/wine/.tmp-3"
printf '\x5a' | dd of="$REPO/wine/.tmp-3/model.bin" bs=1 seek=200 conv=notrunc 2> /dev/null
mv "$REPO/wine/.tmp-3" "$REPO/wine/3"
kill -HUP "$PID"
wait_for "the refusal of version 3" grep -q "^automld: refused $REPO/wine/3: $REPO/wine/3/model.bin: checksum mismatch" "$TMP/d1.log"
versions_are '"2"' || fail "after the corrupt v3: $(cat "$TMP/body")"
http POST /v2/models/wine/infer "$TMP/kv.json"
grep -q '"model_version": "2"' "$TMP/body" || fail "infer after the corrupt v3: $(head -c 200 "$TMP/body")"
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
[ "$(metric 'automld_model_load_failures_total{model="wine"}')" = 1 ] || fail "load failures: $(grep load_failures "$TMP/metrics")"
http GET /v1/models/wine
grep -q '{"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}' "$TMP/body" || fail "TF status v2: $(cat "$TMP/body")"
grep -q '{"version": "3", "state": "END", "status": {"error_code": "UNKNOWN", "error_message": ".*checksum mismatch' "$TMP/body" || fail "TF status v3: $(cat "$TMP/body")"
sleep 0.5 # several polls: a refused version is not retried while its manifest is unchanged
[ "$(grep -c "refused $REPO/wine/3" "$TMP/d1.log")" = 1 ] || fail "the refused version was retried"

# ---- drift: no PSI below 500 rows (the default --drift-min-rows), near 0 for an in-distribution
# ---- stream that reaches it, above the alert threshold for shifted rows ----
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
[ "$(metric 'automld_drift_window_rows{model="wine",version="2"}')" = 356 ] || fail "drift window rows: $(grep window_rows "$TMP/metrics")"
[ "$(metric 'automld_drift_min_rows{model="wine",version="2"}')" = 500 ] || fail "min rows gauge: $(grep min_rows "$TMP/metrics")"
grep -q '^automld_feature_psi{model="wine",version="2",' "$TMP/metrics" && fail "PSI published on 356 rows: $(grep feature_psi "$TMP/metrics" | head -3)"
grep -q '^automld_prediction_psi{model="wine",version="2"}' "$TMP/metrics" && fail "prediction PSI published on 356 rows"
alert=$(metric 'automld_drift_psi_alert_threshold{model="wine",version="2"}')
[ "$alert" = 0.25 ] || fail "alert threshold gauge: '$alert'"
warn=$(metric 'automld_drift_psi_warn_threshold{model="wine",version="2"}')
# 500 rows drawn at random (with replacement) from the training rows: the window reaches 856 rows
rows_json datasets/wine.csv | awk 'BEGIN { srand(7) } { row[NR] = $0 } END { for (i = 0; i < 500; i++) print row[1 + int(rand() * NR)] }' > "$TMP/sampled"
{ printf '{"instances": ['; paste -sd, "$TMP/sampled"; printf ']}'; } > "$TMP/sampled.json"
http POST /v1/models/wine/versions/2:predict "$TMP/sampled.json"
[ "$code" = 200 ] || fail "sampled rows -> $code"
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
[ "$(grep -c '^automld_feature_psi{model="wine",version="2",' "$TMP/metrics")" = 13 ] || fail "feature PSI on 856 rows: $(grep feature_psi "$TMP/metrics")"
grep '^automld_feature_psi{model="wine",version="2",\|^automld_prediction_psi{model="wine",version="2"}' "$TMP/metrics" |
  awk -v w="$warn" '$NF + 0 >= w + 0 { print; bad = 1 } END { exit bad }' > "$TMP/noisy" ||
  fail "in-distribution rows read as drift (PSI >= $warn): $(cat "$TMP/noisy")"
[ -n "$(metric 'automld_prediction_psi{model="wine",version="2"}')" ] || fail "no prediction PSI on 856 rows"
rows_json datasets/wine.csv 1000 > "$TMP/shifted"
{ printf '{"instances": ['; cat "$TMP/shifted" "$TMP/shifted" "$TMP/shifted" | paste -sd,; printf ']}'; } > "$TMP/shifted.json"
http POST /v1/models/wine/versions/2:predict "$TMP/shifted.json"
[ "$code" = 200 ] || fail "shifted rows -> $code"
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
for f in alcohol malic_acid proline; do
  psi=$(metric "automld_feature_psi{model=\"wine\",version=\"2\",feature=\"$f\"}")
  awk -v p="$psi" -v a="$alert" 'BEGIN { exit !(p > a) }' || fail "PSI of $f after the shift = '$psi', expected > $alert"
done
[ "$(metric 'automld_drift_window_rows{model="wine",version="2"}')" = 1000 ] || fail "drift window rows: $(grep window_rows "$TMP/metrics")"
[ -n "$(metric 'automld_prediction_psi{model="wine",version="2"}')" ] || fail "no prediction PSI"

# ---- /metrics is Prometheus text: every line a comment or a sample ----
bad=$(grep -Ev '^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$' "$TMP/metrics" |
  grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (NaN|[+-]Inf|[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$')
[ -z "$bad" ] || fail "lines that are not Prometheus text: $bad"
ok=$(metric 'automld_requests_total{model="wine",version="2",code="200"}')
at_least "wine v2 200 responses" "${ok:-0}" 4
count=$(metric 'automld_request_duration_seconds_count{model="wine",version="2"}')
inf=$(metric 'automld_request_duration_seconds_bucket{model="wine",version="2",le="+Inf"}')
[ -n "$count" ] && [ "$count" = "$inf" ] || fail "histogram count $count, +Inf bucket $inf"
[ "$(metric 'automld_rows_predicted_total{model="wine",version="2"}')" = 1390 ] || fail "rows predicted: $(grep rows_predicted "$TMP/metrics")"
[ "$(metric 'automld_model_versions_loaded{model="wine"}')" = 1 ] || fail "versions loaded"

# ---- malformed requests: the status and the exact error ----
T13='"datatype": "FP32", "shape": [1, 13]'
ROW='[14.23,1.71,2.43,15.6,127.0,2.8,3.06,0.28,2.29,5.64,1.04,3.92,1065.0]'
expect_error 400 '{"error": "request body is not a JSON object"}' POST /v2/models/wine/infer '{"inputs": ['
expect_error 400 '{"error": "request body is not a JSON object (empty body)"}' POST /v2/models/wine/infer ''
expect_error 400 '{"error": "\"inputs\": expected a non-empty list of tensors"}' POST /v2/models/wine/infer '{"inputs": {}}'
expect_error 400 '{"error": "inputs[0] '"'x'"': shape [1, 13] needs 13 values, data has 12"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", '"$T13"', "data": [1,2,3,4,5,6,7,8,9,10,11,12]}]}'
expect_error 400 '{"error": "inputs[0] '"'x'"': shape [1, 13] needs 13 values, data has more"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", '"$T13"', "data": [1,2,3,4,5,6,7,8,9,10,11,12,13,14]}]}'
expect_error 400 '{"error": "inputs[0] '"'x'"': datatype \"UINT8\" is not supported (FP32, FP64, INT64 or BYTES)"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1, 13], "data": '"$ROW"'}]}'
expect_error 400 '{"error": "inputs[0]: datatype FP32 needs numbers, got the string \"a\" at element 1"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", '"$T13"', "data": [1,"a",3,4,5,6,7,8,9,10,11,12,13]}]}'
expect_error 400 '{"error": "inputs[0]: datatype INT64 needs integers, got 1.5 at element 0"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 13], "data": [1.5,2,3,4,5,6,7,8,9,10,11,12,13]}]}'
expect_error 400 '{"error": "inputs[0]: unknown input '"'color'"' (send one input per feature, named as in the model'"'"'s metadata, or one [n, 13] tensor)"}' \
  POST /v2/models/wine/infer '{"inputs": [{"name": "color", "datatype": "FP32", "shape": [1], "data": [1]}]}'
expect_error 400 '{"error": "missing input '"'malic_acid'"' (send one input per feature, or one [n, 13] tensor)"}' \
  POST /v2/models/wine/infer '{"inputs": [{"name": "alcohol", "datatype": "FP32", "shape": [1], "data": [13]}]}'
expect_error 400 '{"error": "inputs[0]: element 2 is out of range (send null for a missing value)"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", '"$T13"', "data": [1,2,1e400,4,5,6,7,8,9,10,11,12,13]}]}'
expect_error 400 '{"error": "inputs[0] '"'x'"': shape: expected [n] or [n, d]"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 13, 1], "data": '"$ROW"'}]}'
expect_error 400 '{"error": "outputs[0]: unknown output '"'scores'"' (this model has label, probabilities)"}' POST /v2/models/wine/infer \
  '{"inputs": [{"name": "x", '"$T13"', "data": '"$ROW"'}], "outputs": [{"name": "scores"}]}'
expect_error 404 '{"error": "model '"'nope'"' is not served"}' POST /v2/models/nope/infer '{}'
expect_error 404 '{"error": "model '"'wine'"' has no version 9 loaded (serving 2)"}' POST /v2/models/wine/versions/9/infer '{}'
expect_error 400 '{"error": "version '"'x'"' is not a positive integer"}' GET /v2/models/wine/versions/x/ready ''
expect_error 404 '{"error": "model '"'wine'"' has no label '"'canary'"'"}' POST /v1/models/wine/labels/canary:predict '{}'
expect_error 400 '{"error": "instances[1]: expected 13 values (one per feature), got 2"}' POST /v1/models/wine:predict \
  '{"instances": ['"$ROW"', [1, 2]]}'
expect_error 400 '{"error": "instances[0]: unknown feature '"'colour'"'"}' POST /v1/models/wine:predict \
  '{"instances": [{"alcohol": 1, "malic_acid": 1, "ash": 1, "alcalinity_of_ash": 1, "magnesium": 1, "total_phenols": 1, "flavanoids": 1, "nonflavanoid_phenols": 1, "proanthocyanins": 1, "color_intensity": 1, "hue": 1, "od280/od315_of_diluted_wines": 1, "proline": 1, "colour": 2}]}'
expect_error 400 '{"error": "instances[0]: missing feature '"'malic_acid'"'"}' POST /v1/models/wine:predict '{"instances": [{"alcohol": 1}]}'
expect_error 400 '{"error": "expected \"instances\" (a list of rows) or \"inputs\" (columns)"}' POST /v1/models/wine:predict '{"rows": []}'
expect_error 404 '{"error": "/v1/models/wine:classify: '"':classify'"' is not supported (use '"':predict'"')"}' POST /v1/models/wine:classify '{}'
expect_error 405 '{"error": "GET /v2/models/wine/infer: method not allowed (use POST)"}' GET /v2/models/wine/infer ''
expect_error 404 '{"error": "no route for GET /v3/models"}' GET /v3/models ''
{ printf '{"instances": ['; for _ in $(seq 601); do printf '%s,' "$ROW"; done; printf '%s]}' "$ROW"; } > "$TMP/many.json"
http POST /v1/models/wine:predict "$TMP/many.json"
[ "$code" = 413 ] || fail "602 rows -> $code, expected 413"
[ "$(cat "$TMP/body")" = '{"error": "request has 602 rows, the limit is 600 (--max-rows)"}' ] || fail "rows limit: $(cat "$TMP/body")"
{ printf '{"instances": ['; for _ in $(seq 4000); do printf '%s,' "$ROW"; done; printf '%s]}' "$ROW"; } > "$TMP/big.json"
http POST /v1/models/wine:predict "$TMP/big.json"
[ "$code" = 413 ] || fail "a body over --max-body -> $code, expected 413"
[ "$(cat "$TMP/body")" = '{"error": "request body is over the limit of 200000 bytes (--max-body)"}' ] || fail "body limit: $(cat "$TMP/body")"
http GET /v2/health/live
[ "$code" = 200 ] || fail "the daemon is not alive after the bad requests"

# ---- policy "all" and labels from automld.json (re-read when it changes) ----
echo '{"models": {"wine": {"policy": "all", "labels": {"stable": 1, "canary": 2}}}}' > "$REPO/automld.json"
wait_for "policy all" versions_are '"2", "1"'
http POST /v1/models/wine/labels/stable:predict "$TMP/tf.json"
tf_to_csv "$TMP/body" > "$TMP/got_stable"
cmp -s "$TMP/got_stable" "$TMP/want1" || fail "label stable does not serve v1"
http GET /v1/models/wine/labels/canary
grep -q '^{"model_version_status": \[{"version": "2", "state": "AVAILABLE"' "$TMP/body" || fail "label canary status: $(cat "$TMP/body")"
echo '{"models": {"wine": {"policy": "lastest"}}}' > "$REPO/automld.json"
wait_for "the bad config to be reported" grep -q 'automld.json: models.wine.policy: expected "latest", "all" or "specific", got "lastest"; keeping the previous config' "$TMP/d1.log"
versions_are '"2", "1"' || fail "a bad config changed the served versions"

# ---- categorical features: per-feature inputs, BYTES levels, an unknown level is missing ----
awk 'BEGIN { srand(7); print "x1,color,x2,target"; split("red green blue", c, " ");
  for (i = 0; i < 300; i++) { x = rand() * 4 - 2; k = int(rand() * 3) + 1; z = rand();
    printf "%.3f,%s,%.2f,%s\n", x, c[k], z, (x + (k == 1 ? 1 : (k == 2 ? -1 : 0)) + z * 0.3 > 0.2) ? "yes" : "no" } }' > "$TMP/cat.csv"
expect 0 "" -- "$AUTOML" import "$TMP/cat.csv" "$TMP/cat.h5" --target target
expect 0 "" -- "$AUTOML" train "$TMP/cat.h5" --model linear --repo "$REPO" --name shades --threads 1
printf 'x1,color,x2\n0.5,red,0.1\n-1.25,blue,0.9\n0.125,purple,0.5\n,green,0.3\n' > "$TMP/cat_rows.csv"
"$AUTOML" predict "$REPO/shades/1" "$TMP/cat_rows.csv" --proba -o "$TMP/cat_pred.csv" 2> /dev/null || fail "automl predict categorical"
tail -n +2 "$TMP/cat_pred.csv" > "$TMP/cat_want"
printf '%s' '{"inputs": [{"name": "color", "datatype": "BYTES", "shape": [4], "data": ["red", "blue", "purple", "green"]},
  {"name": "x2", "datatype": "FP64", "shape": [4, 1], "data": [[0.1], [0.9], [0.5], [0.3]]},
  {"name": "x1", "datatype": "FP32", "shape": [4], "data": [0.5, -1.25, 0.125, null]}]}' > "$TMP/cat.json"
wait_for "model shades" eval 'http GET /v2/models/shades && [ "$code" = 200 ]'
grep -q '{"name": "color", "datatype": "BYTES", "shape": \[-1\], "parameters": {"categories": \["blue", "green", "red"\]}}' "$TMP/body" ||
  fail "categorical metadata: $(cat "$TMP/body")"
http POST /v2/models/shades/infer "$TMP/cat.json"
kserve_to_csv "$TMP/body" 2 > "$TMP/cat_got"
cmp -s "$TMP/cat_got" "$TMP/cat_want" || fail "categorical predictions differ: $(diff "$TMP/cat_got" "$TMP/cat_want" | head -4)"
expect_error 400 '{"error": "inputs[0]: datatype BYTES is for categorical features; '"'x1'"' is numeric"}' POST /v2/models/shades/infer \
  '{"inputs": [{"name": "x1", "datatype": "BYTES", "shape": [1], "data": ["1"]}]}'

# ---- a search's artifact (an ensemble when it wins: no single plugin) serves like automl predict ----
expect 0 "" -- "$AUTOML" import datasets/breast_cancer.csv "$TMP/bc.h5" --target target
cat > "$TMP/bc.lua" <<LUA
return automl.search { data = automl.dataset("$TMP/bc.h5"), budget = { trials = 8 }, models = { "linear", "knn" },
                       seed = 1, export = { to = "$REPO", name = "bc" } }
LUA
expect 0 "" -- "$AUTOML" search "$TMP/bc.lua" --out "$TMP/bc_run" --threads 2
plugin=$(sed -n 's/^\t\t"plugin":\t"\(.*\)",$/\1/p' "$REPO/bc/1/manifest.json" | head -1)
[ -n "$plugin" ] || fail "no model plugin in the bc manifest"
"$AUTOML" predict "$REPO/bc/1" datasets/breast_cancer.csv --proba -o "$TMP/bc_pred.csv" 2> /dev/null || fail "automl predict bc"
tail -n +2 "$TMP/bc_pred.csv" > "$TMP/bc_want"
rows_json datasets/breast_cancer.csv > "$TMP/bc_rows"
{ printf '{"instances": ['; paste -sd, "$TMP/bc_rows"; printf ']}'; } > "$TMP/bc.json"
wait_for "model bc" eval 'http GET /v2/models/bc && [ "$code" = 200 ]'
grep -q "\"platform\": \"automl_$plugin\"" "$TMP/body" || fail "bc platform is not automl_$plugin: $(head -c 200 "$TMP/body")"
http POST /v1/models/bc:predict "$TMP/bc.json"
tf_to_csv "$TMP/body" > "$TMP/bc_got"
[ "$(wc -l < "$TMP/bc_got")" = 569 ] || fail "bc: $(wc -l < "$TMP/bc_got") predictions"
cmp -s "$TMP/bc_got" "$TMP/bc_want" || fail "bc ($plugin) predictions differ from automl predict"

# ---- SIGTERM drains: stops accepting, finishes the request in flight (a slow upload), exits 0 ----
{ printf '{"instances": ['; for _ in $(seq 399); do printf '%s,' "$ROW"; done; printf '%s]}' "$ROW"; } > "$TMP/slow.json"
curl -s -o "$TMP/slow.out" -w '%{http_code}' --limit-rate 12k -X POST --data-binary "@$TMP/slow.json" \
  "http://127.0.0.1:$PORT/v1/models/wine:predict" > "$TMP/slow.code" &
slow=$!
sleep 1
kill -TERM "$PID"
sleep 0.5
http GET /v2/health/live
[ "$code" = 000 ] || fail "a new connection during the drain -> $code, expected refused"
wait "$slow"
[ "$(cat "$TMP/slow.code")" = 200 ] || fail "the request in flight at SIGTERM -> $(cat "$TMP/slow.code")"
[ "$(grep -o '"label"' "$TMP/slow.out" | wc -l)" = 400 ] || fail "the request in flight got $(grep -o '"label"' "$TMP/slow.out" | wc -l) predictions"
wait "$PID"
rc=$?
[ "$rc" = 0 ] || fail "SIGTERM -> exit $rc"
grep -q '^automld: stopped$' "$TMP/d1.log" || fail "no clean stop: $(tail -3 "$TMP/d1.log")"

# ---- bearer token: 401 without it, the probes stay open; --poll 0: SIGHUP alone rescans ----
echo '{"models": {}}' > "$REPO/automld.json"
start_daemon "$TMP/d2.log" --repo "$REPO" --token s3cret --threads 1 --poll 0 --drift-window 4 --drift-min-rows 3
wait_for "readiness (token)" ready
expect 0 "" -- "$AUTOML" train "$TMP/cat.h5" --model knn --repo "$REPO" --name shades --threads 1
sleep 0.5
grep -q 'loaded .*/shades/2 ' "$TMP/d2.log" && fail "version 2 of shades loaded without a poll or SIGHUP"
kill -HUP "$PID"
wait_for "SIGHUP to load shades/2" grep -q "^automld: serving shades: versions 2 (policy latest)$" "$TMP/d2.log"
expect_error 401 '{"error": "missing or invalid bearer token (send Authorization: Bearer TOKEN)"}' GET /v2/models/wine ''
expect_error 401 '{"error": "missing or invalid bearer token (send Authorization: Bearer TOKEN)"}' POST /v1/models/wine:predict \
  "$(cat "$TMP/tf.json")"
http GET /metrics "" -H "Authorization: Bearer wrong"
[ "$code" = 401 ] || fail "a wrong token -> $code"
http GET /v2/models/wine "" -H "Authorization: Bearer s3cret"
[ "$code" = 200 ] || fail "the right token -> $code"
# --drift-min-rows 3: no PSI on 2 rows, PSI on 3
head -2 "$TMP/rows" | { printf '{"instances": ['; paste -sd,; printf ']}'; } > "$TMP/two.json"
http POST /v1/models/wine:predict "$TMP/two.json" -H "Authorization: Bearer s3cret"
[ "$code" = 200 ] || fail "two rows -> $code"
http GET /metrics "" -H "Authorization: Bearer s3cret"
cp "$TMP/body" "$TMP/metrics"
[ "$(grep '^automld_drift_min_rows{model="wine",' "$TMP/metrics" | awk '{ print $NF }')" = 3 ] || fail "--drift-min-rows 3: $(grep min_rows "$TMP/metrics")"
grep -q '^automld_feature_psi{model="wine"' "$TMP/metrics" && fail "PSI on 2 rows under --drift-min-rows 3"
head -1 "$TMP/rows" | { printf '{"instances": ['; paste -sd,; printf ']}'; } > "$TMP/one_row.json"
http POST /v1/models/wine:predict "$TMP/one_row.json" -H "Authorization: Bearer s3cret"
http GET /metrics "" -H "Authorization: Bearer s3cret"
cp "$TMP/body" "$TMP/metrics"
[ "$(grep -c '^automld_feature_psi{model="wine",' "$TMP/metrics")" = 13 ] || fail "PSI on 3 rows: $(grep -c feature_psi "$TMP/metrics")"
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM (token daemon) -> exit $?"

# ---- bad usage ----
expect 2 "automld: --port: expected an integer in [0, 65535], got 'x'" -- "$AUTOMLD" --repo "$REPO" --port x
expect 2 "automld: --drift-min-rows 500 exceeds --drift-window 100: the drift gauges would never appear; lower --drift-min-rows (PSI noise on n rows is about (bins - 1) / n)" \
  -- "$AUTOMLD" --repo "$REPO" --drift-window 100
expect 2 "automld: --drift-min-rows: expected an integer in [1, 10000000], got '0'" -- "$AUTOMLD" --repo "$REPO" --drift-min-rows 0
echo '{"models": {"wine": {"n": 0}}}' > "$TMP/bad.json"
expect 2 "automld: $TMP/bad.json: models.wine.n: expected an integer >= 1" -- "$AUTOMLD" --repo "$REPO" --config "$TMP/bad.json"
finish
