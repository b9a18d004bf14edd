#!/usr/bin/env bash
# End to end: an on_trial callback that never returns no longer holds the search: SIGINT and the
# wall-clock budget reach the Lua code within a second, the search exports the best trial so
# far, and the journal stays whole for --resume.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/diabetes.csv "$TMP/diabetes.h5" > /dev/null || fail "import"
cat > "$TMP/loop.lua" <<LUA
return automl.search {
  data = "$TMP/diabetes.h5",
  models = { "linear" },
  budget = { seconds = 60 },
  export = { to = "$TMP/repo", name = "loop" },
  on_trial = function(t)
    while true do pcall(function() while true do end end) end
  end,
}
LUA

# every line of the journal is whole JSON
journal_whole() {
  /usr/bin/python3 - "$1" <<'PY' || fail "$1 is not whole: $(tail -c 200 "$1")"
import json, sys
data = open(sys.argv[1], "rb").read()
assert data and data.endswith(b"\n")
for line in data.decode().splitlines():
    json.loads(line)
PY
}

# SIGINT: the callback is stopped, the best trial so far is exported (exit 0, as for any Ctrl-C)
"$AUTOML" search "$TMP/loop.lua" --out "$TMP/run" --parallel 1 > "$TMP/int.out" 2> "$TMP/int.err" &
pid=$!
for _ in $(seq 100); do [ -s "$TMP/run/trials.jsonl" ] && break; sleep 0.1; done
sleep 0.5 # the callback is now looping
kill -INT "$pid"
start=$(date +%s.%N)
wait "$pid"
status=$?
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
[ "$status" -eq 0 ] || fail "SIGINT: exit $status ($(cat "$TMP/int.err"))"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 3) }' || fail "SIGINT took $elapsed s to stop a looping on_trial"
grep -qxF "automl: $TMP/loop.lua:7: on_trial: interrupted (SIGINT)" "$TMP/int.err" || fail "SIGINT notice: $(cat "$TMP/int.err")"
grep -q "interrupted: exporting the best trial so far" "$TMP/int.err" || fail "no export notice"
[ -s "$TMP/repo/loop/1/model.bin" ] || fail "no artifact after SIGINT"
[ "$(wc -l < "$TMP/run/trials.jsonl")" -eq 1 ] || fail "expected 1 journaled trial, got $(wc -l < "$TMP/run/trials.jsonl")"
journal_whole "$TMP/run/trials.jsonl"

# the budget: 3 s, and the callback loops from the first trial on
sed -i 's/seconds = 60/seconds = 3/' "$TMP/loop.lua"
start=$(date +%s.%N)
expect 0 "" -- "$AUTOML" search "$TMP/loop.lua" --out "$TMP/run2" --parallel 1
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
awk -v e="$elapsed" 'BEGIN { exit !(e >= 2.9 && e <= 5) }' || fail "a 3 s budget with a looping on_trial took $elapsed s"
grep -qxF "automl: $TMP/loop.lua:7: on_trial: stopped: the search's time budget ran out while Lua code was running" "$TMP/err" ||
  fail "budget notice: $(cat "$TMP/err")"
[ -s "$TMP/repo/loop/2/model.bin" ] || fail "no artifact after the budget"
journal_whole "$TMP/run2/trials.jsonl"

# --resume reads both journals back
sed -i 's/while true do pcall(function() while true do end end) end/return/' "$TMP/loop.lua"
expect 0 "" -- "$AUTOML" search "$TMP/loop.lua" --out "$TMP/run" --resume --trials 3 --parallel 1
grep -q "resuming 1 finished trials" "$TMP/out" || fail "resume after SIGINT: $(head -1 "$TMP/out")"
finish
