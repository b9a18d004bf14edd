#!/usr/bin/env bash
# End to end, artifacts are whole or refused: manifest.json is covered by manifest.json.sha256; a
# resealed manifest that disagrees with the model blob (classes, task, features, types, plugin) is
# refused; versions are parsed strictly; only regular files within the size limits are read (a
# FIFO or /dev/zero cannot wedge or flood the reader); 100 000 category levels load quickly; a
# format 1.0 artifact (no manifest checksum) still loads; stale .tmp-PID exports are removed.
. "$(dirname "$0")/lib.sh"

raw_csv 11 "$TMP/raw.csv"
expect 0 "" -- "$AUTOML" import "$TMP/raw.csv" "$TMP/raw.h5" --target target --categorical size
expect 0 "" -- "$AUTOML" train "$TMP/raw.h5" --model linear --repo "$TMP/repo" --name raw
good="$TMP/repo/raw/1"
[ "$(cat "$good/manifest.json.sha256")" = "$(cd "$good" && sha256sum manifest.json)" ] ||
  fail "manifest.json.sha256 is not sha256sum's line for manifest.json: $(cat "$good/manifest.json.sha256")"
(cd "$good" && sha256sum -c --quiet manifest.json.sha256) || fail "sha256sum -c does not accept the manifest"
grep -q '"format_version":	"1.1"' "$good/manifest.json" || fail "not format 1.1"
expect 0 "" -- "$AUTOML" predict "$good" "$TMP/raw.csv" -o "$TMP/want.csv"
expect 0 "" -- "$AUTOML" info "$good"
grep -q "^artifact       $good (checksums verified)$" "$TMP/out" || fail "info: $(head -1 "$TMP/out")"

# edit COPY PYTHON: a copy of the good artifact whose manifest (m) PYTHON changes; resealed when
# RESEAL=1. The copy's path is in $art.
n=0
edit() {
  n=$((n + 1))
  art="$TMP/a$n"
  cp -r "$good" "$art"
  /usr/bin/python3 - "$art/manifest.json" "$1" <<'PY' || fail "edit $n: python"
import json, sys
path, code = sys.argv[1], sys.argv[2]
m = json.load(open(path))
exec(code)
open(path, "w").write(json.dumps(m, indent="\t"))
PY
  if [ "${RESEAL:-0}" = 1 ]; then (cd "$art" && sha256sum manifest.json > manifest.json.sha256); fi
}
# refused ART MESSAGE: predict and info both exit 2 with exactly "automl: MESSAGE"
refused() {
  expect 2 "automl: $2" -- timeout 20 "$AUTOML" predict "$1" "$TMP/raw.csv" -o "$TMP/p.csv"
  expect 2 "automl: $2" -- timeout 20 "$AUTOML" info "$1"
}
mismatch() {
  expect 2 "" -- "$AUTOML" predict "$1" "$TMP/raw.csv"
  grep -q "^automl: $1/manifest.json: checksum mismatch (manifest.json.sha256 has [0-9a-f]\{12\}\.\.\., file has [0-9a-f]\{12\}\.\.\.): the manifest is corrupt or was modified$" "$TMP/err" ||
    fail "edited manifest accepted or wrong message: $(cat "$TMP/err")"
}

# ---- any edit without resealing is refused, naming the manifest ----
edit 'm["classes"] = ["no", "yes"][::-1]'
mismatch "$art"
edit 'm["metrics"]["accuracy"] = 1.0'
mismatch "$art"
edit 'm["task"] = "regression"'
mismatch "$art"
cp -r "$good" "$TMP/nosum" && rm "$TMP/nosum/manifest.json.sha256"
refused "$TMP/nosum" "$TMP/nosum/manifest.json.sha256: missing (a format 1.1 artifact has one): the artifact is incomplete or was modified"
cp -r "$good" "$TMP/badsum" && echo "not a checksum" > "$TMP/badsum/manifest.json.sha256"
refused "$TMP/badsum" "$TMP/badsum/manifest.json.sha256: expected \"<64 hex digits>  manifest.json\" (sha256sum's format)"

# ---- resealed, the manifest must still agree with the model blob ----
RESEAL=1
edit 'm["classes"] = []' # was a segfault: fputs(NULL) in aml_predictions_write_csv
refused "$art" "$art/manifest.json: classes: lists 0 classes, the model blob has 2"
edit 'm["classes"] = ["c%d" % i for i in range(1000)]' # was a heap overflow in aml_argmax
refused "$art" "$art/manifest.json: classes: lists 1000 classes, the model blob has 2"
edit 'm["classes"] = "yes"'
refused "$art" "$art/manifest.json: classes: expected an array of 2 class labels (strings)"
edit 'm["task"] = "regression"; del m["classes"]' # was accepted: wrong answers
refused "$art" "$art/manifest.json: task: \"regression\", the model blob is a classification model"
edit 'm["task"] = "ranking"'
refused "$art" "$art/manifest.json: task: expected \"classification\" or \"regression\""
edit 'm["input"]["features"].pop()'
refused "$art" "$art/manifest.json: input.features: lists 2 features, the model blob has 3"
edit 'm["input"]["n_features"] = 7'
refused "$art" "$art/manifest.json: input.n_features: expected 3 (the features listed)"
edit 'f = [f for f in m["input"]["features"] if f["name"] == "colour"][0]; f["type"] = "numeric"; del f["categories"]'
refused "$art" "$art/manifest.json: input.features[1] ('colour').type: \"numeric\", the model blob has it categorical"
edit 'm["input"]["features"][0]["categories"] = ["a"]'
refused "$art" "$art/manifest.json: input.features[0] ('x').categories: expected none on a numeric feature"
edit 'm["input"]["features"][2]["name"] = "x"'
refused "$art" "$art/manifest.json: input.features: the name 'x' occurs twice"
edit 'm["model"]["plugin"] = "knn"'
refused "$art" "$art/manifest.json: model.plugin: expected \"linear\" (the model blob's)"
edit 'm["files"]["../raw.csv"] = {"sha256": "0" * 64}'
refused "$art" "$art/manifest.json: files.../raw.csv: expected a file name, once, with {\"sha256\": ...}"
cp -r "$good" "$TMP/trail" && echo '{}' >> "$TMP/trail/manifest.json" && (cd "$TMP/trail" && sha256sum manifest.json > manifest.json.sha256)
refused "$TMP/trail" "$TMP/trail/manifest.json: not valid JSON (truncated or corrupt manifest)" # was: read up to the first value
edit 'del m["files"]["model.bin"]'
refused "$art" "$art/manifest.json: files: the model blob 'model.bin' is not listed"

# ---- versions are parsed strictly (atoi read "abc" as 0, "1x" as 1) ----
for v in abc 1x "" " 1.0" 1 1.0.0 -1.0 +1.0 0.9 99999999999.0; do
  edit "m['format_version'] = '$v'"
  refused "$art" "$art/manifest.json: format_version: expected \"MAJOR.MINOR\" (e.g. \"1.1\"), got \"$v\""
done
edit 'm["format_version"] = "2.0"'
refused "$art" "$art/manifest.json: artifact format 2.0 is newer than this automl reads (1.x); upgrade automl"
edit 'm["format_version"] = "1.7"' # a newer minor of the same major is read
expect 0 "" -- "$AUTOML" predict "$art" "$TMP/raw.csv" -o "$TMP/p.csv"
cmp -s "$TMP/p.csv" "$TMP/want.csv" || fail "format 1.7: predictions differ"
RESEAL=0

# ---- a format 1.0 artifact (written before manifest.json.sha256) is still read, and said so ----
edit 'm["format_version"] = "1.0"'
rm "$art/manifest.json.sha256"
expect 0 "" -- "$AUTOML" predict "$art" "$TMP/raw.csv" -o "$TMP/p.csv"
cmp -s "$TMP/p.csv" "$TMP/want.csv" || fail "format 1.0: predictions differ"
expect 0 "" -- "$AUTOML" info "$art"
grep -q "^artifact       $art (files verified; format 1.0: manifest.json has no checksum)$" "$TMP/out" ||
  fail "info on 1.0: $(head -1 "$TMP/out")"
# ... but its fields are still checked against the blob
edit 'm["format_version"] = "1.0"; m["classes"] = []'
rm "$art/manifest.json.sha256"
refused "$art" "$art/manifest.json: classes: lists 0 classes, the model blob has 2"

# ---- only regular files, within the size limits ----
cp -r "$good" "$TMP/fifo" && rm "$TMP/fifo/manifest.json" && mkfifo "$TMP/fifo/manifest.json"
refused "$TMP/fifo" "$TMP/fifo/manifest.json: not a regular file (a FIFO)" # was: wedged
cp -r "$good" "$TMP/zero" && ln -sf /dev/zero "$TMP/zero/manifest.json"
refused "$TMP/zero" "$TMP/zero/manifest.json: not a regular file (a device)" # was: grew to gigabytes
cp -r "$good" "$TMP/zblob" && ln -sf /dev/zero "$TMP/zblob/model.bin"
refused "$TMP/zblob" "$TMP/zblob/model.bin: not a regular file (a device)"
cp -r "$good" "$TMP/fblob" && rm "$TMP/fblob/model.bin" && mkfifo "$TMP/fblob/model.bin"
refused "$TMP/fblob" "$TMP/fblob/model.bin: not a regular file (a FIFO)"
cp -r "$good" "$TMP/dsum" && rm "$TMP/dsum/manifest.json.sha256" && mkdir "$TMP/dsum/manifest.json.sha256"
refused "$TMP/dsum" "$TMP/dsum/manifest.json.sha256: not a regular file (a directory)"
RESEAL=1
edit 'del m["files"]["reference.json"]' # automld would read it unchecked: wedged on a FIFO
RESEAL=0
rm "$art/reference.json" && mkfifo "$art/reference.json"
refused "$art" "$art/reference.json: not listed in the manifest's files, so not covered by a checksum"
cp -r "$good" "$TMP/big" && truncate -s 65M "$TMP/big/manifest.json"
refused "$TMP/big" "$TMP/big/manifest.json: 68157440 bytes, more than the limit of 67108864"

# ---- 100 000 category levels load in linear time (was quadratic: 11 s) ----
RESEAL=1
edit 'f = [f for f in m["input"]["features"] if f["name"] == "colour"][0]; f["categories"] += ["level%06d" % i for i in range(100000)]'
start=$(date +%s.%N)
expect 0 "" -- timeout 60 "$AUTOML" info "$art"
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
awk -v t="$took" 'BEGIN { exit !(t < 3) }' || fail "100 000 levels: info took $took s, expected < 3 s"
grep -q '^features       3 (2 categorical)$' "$TMP/out" || fail "100 000 levels: $(grep features "$TMP/out")"
RESEAL=0

# ---- stale .tmp-PID exports (a writer killed mid-export) are removed by the next writer ----
sh -c 'exit 0' &
dead=$!
wait "$dead"
mkdir -p "$TMP/repo/raw/.tmp-$dead" "$TMP/repo/raw/.tmp-$$"
head -c 100 "$good/model.bin" > "$TMP/repo/raw/.tmp-$dead/model.bin.tmp.$dead"
echo '{"format": "automl-art' > "$TMP/repo/raw/.tmp-$$/manifest.json"
expect 0 "" -- "$AUTOML" train "$TMP/raw.h5" --model linear --repo "$TMP/repo" --name raw
[ "$(sed -n 's/^artifact: //p' "$TMP/out")" = "$TMP/repo/raw/2" ] || fail "train: $(cat "$TMP/out")"
[ -e "$TMP/repo/raw/.tmp-$dead" ] && fail "the dead writer's .tmp-$dead was not removed"
[ -e "$TMP/repo/raw/.tmp-$$" ] || fail "a live process's .tmp-$$ was removed"
[ "$(ls -A "$TMP/repo/raw" | tr '\n' ' ')" = ".tmp-$$ 1 2 " ] || fail "repository: $(ls -A "$TMP/repo/raw")"
# a writer killed with -9 at any moment: what is published is whole, what is not is a .tmp-PID
for delay in 0.05 0.1 0.15 0.2 0.3; do
  "$AUTOML" train "$TMP/raw.h5" --model linear --repo "$TMP/kill" --name raw > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
done
expect 0 "" -- "$AUTOML" train "$TMP/raw.h5" --model linear --repo "$TMP/kill" --name raw
ls -A "$TMP/kill/raw" | grep -q '^\.tmp-' && fail "stale exports left after the next writer: $(ls -A "$TMP/kill/raw")"
for v in "$TMP"/kill/raw/*; do
  expect 0 "" -- "$AUTOML" info "$v"
done
finish
