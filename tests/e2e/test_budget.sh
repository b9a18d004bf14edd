#!/usr/bin/env bash
# End to end: a wall-clock budget is honoured within max(2 s, 5 %), refit and export included,
# with trials running in parallel; SIGINT stops early and still exports the best trial.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/digits.csv "$TMP/digits.h5" > /dev/null || fail "import"
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/digits.h5",
  budget = { seconds = 6 },
  models = { "knn", "linear" },
  export = { to = "$TMP/repo", name = "digits" },
}
LUA
start=$(date +%s.%N)
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --threads 2
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
awk -v e="$elapsed" 'BEGIN { exit !(e >= 4 && e <= 8) }' || fail "a 6 s budget took $elapsed s"
grep -q "; 2 parallel trials x 1 thread" "$TMP/out" || fail "expected 2 parallel trials: $(head -1 "$TMP/out")"
[ -s "$TMP/repo/digits/1/model.bin" ] || fail "no artifact"

# Ctrl-C: stops within a second or two and exports the best so far
sed -i 's/seconds = 6/seconds = 60/' "$TMP/spec.lua"
"$AUTOML" search "$TMP/spec.lua" --out "$TMP/run2" > "$TMP/int.out" 2> "$TMP/int.err" &
pid=$!
sleep 3
kill -INT "$pid"
start=$(date +%s.%N)
wait "$pid"
status=$?
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
[ "$status" -eq 0 ] || fail "SIGINT: exit $status ($(cat "$TMP/int.err"))"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 3) }' || fail "SIGINT took $elapsed s to stop"
grep -q "interrupted: exporting the best trial so far" "$TMP/int.err" || fail "no interrupt notice"
[ -s "$TMP/repo/digits/2/model.bin" ] || fail "no artifact after SIGINT"
finish
