#!/usr/bin/env bash
# End to end: automld against hostile requests and artifacts, over real HTTP. Every KServe input is
# checked (a bad second input is a 400 counted as an error, not an empty 200); strings in JSON
# answers and in /metrics are valid UTF-8 whatever bytes the model's names hold; a model whose
# prediction width differs from its class list is refused, never indexed past; --token-file keeps
# the token out of ps; a config that is a FIFO does not hang the daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/automld_lib.sh"

# valid_utf8 FILE: the file decodes as UTF-8 (strict)
valid_utf8() { /usr/bin/python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" 2> /dev/null; }

REPO=$TMP/repo
mkdir -p "$REPO"
expect 0 "" -- "$AUTOML" import datasets/wine.csv "$TMP/wine.h5" --target target
expect 0 "" -- "$AUTOML" train "$TMP/wine.h5" --model linear --repo "$REPO" --name wine --threads 1

# ---- a model whose names are not UTF-8: a feature name, category levels and class labels ----
# Made the way a user makes one (automl import of a Latin-1 CSV); if the importer ever refuses such
# bytes, the same names are written into a copy of the wine artifact's manifest instead.
awk 'BEGIN { srand(3); printf "x1,col\xff,target\n"
  for (i = 0; i < 200; i++) { x = rand(); k = int(rand() * 4)
    c = (k == 0 ? "r\xe9d" : (k == 1 ? "gr\xc3\xa9en" : (k == 2 ? "bl\xedue" : "s\xed\xa0\x80\xc0\xafx")))
    printf "%.3f,%s,%s\n", x, c, (x + k * 0.3 > 0.6) ? "y\xe9s" : "no" } }' > "$TMP/latin1.csv"
if "$AUTOML" import "$TMP/latin1.csv" "$TMP/latin1.h5" --target target > /dev/null 2>&1; then
  expect 0 "" -- "$AUTOML" train "$TMP/latin1.h5" --model linear --repo "$REPO" --name latin1 --threads 1
  LATIN1_FEATURE=x1
else
  mkdir -p "$REPO/latin1" && cp -r "$REPO/wine/1" "$REPO/latin1/1"
  /usr/bin/python3 - "$REPO/latin1/1/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["input"]["features"][0]["name"] = "@FEATURE@"
m["classes"][0] = "@CLASS@"
b = json.dumps(m, indent="\t").encode()
open(p, "wb").write(b.replace(b"@FEATURE@", b"col\xff").replace(b"@CLASS@", b"y\xe9s"))
PY
  (cd "$REPO/latin1/1" && sha256sum manifest.json > manifest.json.sha256) # resealed: the tamper is the point
  LATIN1_FEATURE=malic_acid
fi

# ---- a model that predicts 3 values per row with a class list of 2 (a tampered manifest) ----
mkdir -p "$REPO/narrow" && cp -r "$REPO/wine/1" "$REPO/narrow/1"
/usr/bin/python3 - "$REPO/narrow/1/manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["classes"] = m["classes"][:2]
open(p, "w").write(json.dumps(m, indent="\t"))
PY
(cd "$REPO/narrow/1" && sha256sum manifest.json > manifest.json.sha256) # resealed: the tamper is the point

start_daemon "$TMP/d1.log" --repo "$REPO" --poll 0.2 --threads 2 --drift-min-rows 1 # the drift labels on one row
wait_for "readiness" ready
wait_for "model wine" eval 'http GET /v2/models/wine && [ "$code" = 200 ]'

# ---- every KServe input is checked: the second (or a later) one too ----
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
ok_before=$(metric 'automld_requests_total{model="wine",version="1",code="200"}')
A='{"name": "alcohol", "datatype": "FP32", "shape": [1], "data": [13.2]}'
expect_error 400 '{"error": "inputs[1] '"'malic_acid'"': datatype \"BOOL\" is not supported (FP32, FP64, INT64 or BYTES)"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": "malic_acid", "datatype": "BOOL", "shape": [1], "data": [true]}]}'
expect_error 400 '{"error": "inputs[2] '"'ash'"': datatype \"INT32\" is not supported (FP32, FP64, INT64 or BYTES)"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": "malic_acid", "datatype": "FP32", "shape": [1], "data": [1.7]}, {"name": "ash", "datatype": "INT32", "shape": [1], "data": [2]}]}'
expect_error 400 '{"error": "inputs[1] '"'malic_acid'"': \"shape\" is missing (an input is {\"name\", \"datatype\", \"shape\", \"data\"})"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": "malic_acid", "datatype": "FP32", "data": [1.7]}]}'
expect_error 400 '{"error": "inputs[1] '"'malic_acid'"': \"data\" is missing (an input is {\"name\", \"datatype\", \"shape\", \"data\"})"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": "malic_acid", "datatype": "FP32", "shape": [1]}]}'
expect_error 400 '{"error": "inputs[1] '"'malic_acid'"': data: expected a list"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": "malic_acid", "datatype": "FP32", "shape": [1], "data": null}]}'
expect_error 400 '{"error": "inputs[1]: name: expected a string"}' \
  POST /v2/models/wine/infer '{"inputs": ['"$A"', {"name": 7, "datatype": "FP32", "shape": [1], "data": [1]}]}'
expect_error 400 '{"error": "inputs[1] '"'malic_acid'"': shape [2] needs 2 values, data has 1"}' \
  POST /v2/models/wine/infer '{"inputs": [{"name": "alcohol", "datatype": "FP32", "shape": [2], "data": [13.2, 12]}, {"name": "malic_acid", "datatype": "FP32", "shape": [2], "data": [1.7]}]}'
# TF Serving columns: a later column is checked as well
expect_error 400 '{"error": "inputs[1]: element 0: expected a number, a string or null"}' \
  POST /v1/models/wine:predict '{"inputs": {"alcohol": [13.2], "malic_acid": [true]}}'
# More inputs or keys than features is refused before any per-input work (no quadratic walk)
many=$(for f in $(seq 14); do printf '{"name": "f%d", "datatype": "FP32", "shape": [1], "data": [1]},' "$f"; done)
expect_error 400 '{"error": "\"inputs\": 14 inputs, the model has 13 features (send one input per feature, or one [n, 13] tensor)"}' \
  POST /v2/models/wine/infer '{"inputs": ['"${many%,}"']}'
W13='"alcohol": 1, "malic_acid": 1, "ash": 1, "alcalinity_of_ash": 1, "magnesium": 1, "total_phenols": 1, "flavanoids": 1, "nonflavanoid_phenols": 1, "proanthocyanins": 1, "color_intensity": 1, "hue": 1, "od280/od315_of_diluted_wines": 1, "proline": 1'
expect_error 400 '{"error": "instances[0]: a feature is given twice (14 fields, 13 features)"}' \
  POST /v1/models/wine:predict '{"instances": [{'"$W13"', "ash": 2}]}'
expect_error 400 '{"error": "inputs: a feature is given twice (14 columns, 13 features)"}' \
  POST /v1/models/wine:predict '{"inputs": {'"$(printf '%s' "$W13" | sed 's/: 1/: [1]/g')"', "ash": [2]}}'
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
[ "$(metric 'automld_requests_total{model="wine",version="1",code="400"}')" = 11 ] ||
  fail "400s counted: $(grep 'automld_requests_total{model="wine"' "$TMP/metrics")"
[ "$(metric 'automld_request_errors_total{model="wine",version="1",code="400"}')" = 11 ] || fail "errors counted"
[ "$(metric 'automld_requests_total{model="wine",version="1",code="200"}')" = "$ok_before" ] ||
  fail "a bad request was answered 200: $(grep 'code="200"' "$TMP/metrics")"
[ -z "$(metric 'automld_rows_predicted_total{model="wine",version="1"}')" ] ||
  [ "$(metric 'automld_rows_predicted_total{model="wine",version="1"}')" = 0 ] || fail "rows predicted for bad requests"

# ---- names that are not UTF-8: metadata, predictions and /metrics stay valid UTF-8 ----
R=$'\xef\xbf\xbd' # U+FFFD
wait_for "model latin1" eval 'http GET /v2/models/latin1 && [ "$code" = 200 ]'
cp "$TMP/body" "$TMP/latin1_meta.json"
/usr/bin/python3 -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$TMP/latin1_meta.json" ||
  fail "latin1 metadata is not valid UTF-8 JSON: $(od -c "$TMP/latin1_meta.json" | head -5)"
grep -qF "{\"name\": \"col${R}\"" "$TMP/latin1_meta.json" || fail "feature name not replaced: $(cat "$TMP/latin1_meta.json")"
grep -qF "\"y${R}s\"" "$TMP/latin1_meta.json" || fail "class name not replaced: $(cat "$TMP/latin1_meta.json")"
if [ "$LATIN1_FEATURE" = x1 ]; then
  # a Latin-1 byte, UTF-8 kept as is, a surrogate (ED A0 80) and an overlong '/' (C0 AF): one
  # U+FFFD per byte that does not start a well-formed sequence
  grep -qF "\"categories\": [\"bl${R}ue\", \"gr"$'\xc3\xa9'"en\", \"r${R}d\", \"s${R}${R}${R}${R}${R}x\"]" "$TMP/latin1_meta.json" ||
    fail "levels (valid UTF-8 kept, invalid bytes replaced): $(cat "$TMP/latin1_meta.json")"
  printf '{"instances": [{"x1": 0.9, "col\xff": "r\xe9d"}, {"x1": 0.1, "col\xff": null}]}' > "$TMP/latin1_req.json"
else
  printf '{"instances": [[13.2,1.7,2.4,15,127,2.8,3,0.3,2.3,5.6,1,3.9,1065]]}' > "$TMP/latin1_req.json"
fi
http POST /v1/models/latin1:predict "$TMP/latin1_req.json"
[ "$code" = 200 ] || fail "latin1 predict -> $code $(cat "$TMP/body")"
valid_utf8 "$TMP/body" || fail "latin1 predictions are not valid UTF-8: $(od -c "$TMP/body" | head -5)"
curl -s "http://127.0.0.1:$PORT/metrics" > "$TMP/metrics"
valid_utf8 "$TMP/metrics" || fail "/metrics is not valid UTF-8: $(grep -a latin1 "$TMP/metrics" | od -c | head)"
grep -qF "automld_feature_psi{model=\"latin1\",version=\"1\",feature=\"col${R}\"} " "$TMP/metrics" ||
  [ "$LATIN1_FEATURE" != x1 ] || fail "drift label of the latin1 feature: $(grep -a 'feature_psi{model="latin1"' "$TMP/metrics")"
bad=$(grep -Ev '^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$' "$TMP/metrics" |
  grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? (NaN|[+-]Inf|[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$')
[ -z "$bad" ] || fail "lines that are not Prometheus text: $bad"

# ---- prediction width against the class list: refused at load, never indexed past ----
wait_for "the refusal of narrow/1" grep -q "^automld: refused $REPO/narrow/1: " "$TMP/d1.log"
{ printf '{"instances": ['; tail -n +2 datasets/wine.csv | cut -d, -f1-13 | sed 's/^/[/; s/$/]/' | paste -sd,; printf ']}'; } > "$TMP/all.json"
expect_error 404 '{"error": "model '"'narrow'"' has no version loaded"}' POST /v1/models/narrow:predict "$(cat "$TMP/all.json")"
http GET /v2/health/live
[ "$code" = 200 ] || fail "the daemon is not alive after the narrow model: $(tail -3 "$TMP/d1.log")"

# ---- a config that is a FIFO is refused, not waited on ----
mkfifo "$REPO/automld.json"
wait_for "the FIFO config to be refused" grep -q "^automld: $REPO/automld.json: not a regular file (a FIFO); keeping the previous config$" "$TMP/d1.log"
http GET /v2/models/wine
[ "$code" = 200 ] || fail "after the FIFO config -> $code"
rm -f "$REPO/automld.json"
start=$(date +%s.%N)
kill -TERM "$PID"
wait "$PID"
rc=$?
[ "$rc" = 0 ] || fail "SIGTERM -> exit $rc ($(tail -3 "$TMP/d1.log"))"
mkfifo "$TMP/fifo.json"
expect 2 "automld: $TMP/fifo.json: not a regular file (a FIFO)" -- timeout -s KILL 10 "$AUTOMLD" --repo "$REPO" --config "$TMP/fifo.json"

# ---- --token-file: the token is not on the command line; errors name the file ----
printf 's3cret-from-file\n' > "$TMP/token"
chmod 600 "$TMP/token"
start_daemon "$TMP/d2.log" --repo "$REPO" --token-file "$TMP/token" --threads 1
wait_for "readiness (token file)" ready
tr '\0' ' ' < "/proc/$PID/cmdline" > "$TMP/cmdline"
grep -q 's3cret' "$TMP/cmdline" && fail "the token is visible in the command line: $(cat "$TMP/cmdline")"
expect_error 401 '{"error": "missing or invalid bearer token (send Authorization: Bearer TOKEN)"}' GET /v2/models/wine ''
http GET /v2/models/wine "" -H "Authorization: Bearer s3cret-from-file"
[ "$code" = 200 ] || fail "the token from the file -> $code"
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM (token file daemon) -> exit $?"
expect 2 "automld: --token-file: $TMP/nope: cannot open: No such file or directory" -- "$AUTOMLD" --repo "$REPO" --token-file "$TMP/nope"
: > "$TMP/empty"
expect 2 "automld: --token-file: $TMP/empty: the file is empty (expected the token on one line)" -- \
  "$AUTOMLD" --repo "$REPO" --token-file "$TMP/empty"
printf 'two\nlines\n' > "$TMP/two"
expect 2 "automld: --token-file: $TMP/two: byte 4 is a control character (expected the token on one line)" -- \
  "$AUTOMLD" --repo "$REPO" --token-file "$TMP/two"
head -c 5000 /dev/zero | tr '\0' a > "$TMP/big"
expect 2 "automld: --token-file: $TMP/big: 5000 bytes, more than the limit of 4096" -- "$AUTOMLD" --repo "$REPO" --token-file "$TMP/big"
mkfifo "$TMP/token.fifo"
expect 2 "automld: --token-file: $TMP/token.fifo: not a regular file (a FIFO)" -- timeout -s KILL 10 "$AUTOMLD" --repo "$REPO" --token-file "$TMP/token.fifo"
expect 2 "automld: --token and --token-file: give one of them" -- "$AUTOMLD" --repo "$REPO" --token x --token-file "$TMP/token"
"$AUTOMLD" --help > "$TMP/help" 2>&1
grep -q -- '--token TOKEN         the same with the token on the command line, where every user of the' "$TMP/help" ||
  fail "--help does not say that --token is visible to other users"
finish
