#!/usr/bin/env bash
# End to end: a journal write that fails (here a file size limit: the write is cut short, as on
# a full disk) stops the search with a message that says so (no "write failed: Success"), leaves
# no half line, and --resume then reads every trial written before it.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/diabetes.csv "$TMP/diabetes.h5" > /dev/null || fail "import"
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/diabetes.h5",
  models = { "linear" },
  budget = { trials = 30 },
  export = { to = "$TMP/repo", name = "journal" },
}
LUA
# 4 KiB per file: the journal's tenth line or so is cut short; SIGXFSZ ignored, so that the write
# returns what it wrote instead of killing the process.
(ulimit -f 4; trap '' XFSZ; exec "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --parallel 1) > "$TMP/out" 2> "$TMP/err"
status=$?
[ "$status" -eq 1 ] || fail "exit $status, expected 1 ($(cat "$TMP/err"))"
tail -1 "$TMP/err" | grep -qE "^automl: $TMP/run/trials.jsonl: write failed: short write, [0-9]+ of [0-9]+ bytes \(disk full\?\)$" ||
  fail "message: $(tail -1 "$TMP/err")"
grep -q "Success" "$TMP/err" && fail "'Success' in a failure: $(cat "$TMP/err")"
lines=$(wc -l < "$TMP/run/trials.jsonl")
[ "$lines" -ge 3 ] || fail "expected some whole lines before the failure, got $lines"
[ "$(tail -c 1 "$TMP/run/trials.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || fail "the journal ends with half a line"
[ "$(stat -c %s "$TMP/run/trials.jsonl")" -lt 4096 ] || fail "the journal is not below the limit"

# the journal reads back whole: every trial written is resumed, none is lost or garbled
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --resume --parallel 1
grep -q "resuming $lines finished trials" "$TMP/out" || fail "resume: $(head -1 "$TMP/out")"
[ "$(wc -l < "$TMP/run/trials.jsonl")" -eq 30 ] || fail "after resume: $(wc -l < "$TMP/run/trials.jsonl") lines, expected 30"
finish
