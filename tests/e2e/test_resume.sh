#!/usr/bin/env bash
# End to end: kill -9 in the middle of a search, then --resume. No finished trial may be lost
# (every journal line from before the kill is still there, unchanged) or redone (every trial id
# appears exactly once), and a line torn by a crash mid-write is cut off, not misread.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/digits.csv "$TMP/digits.h5" > /dev/null || fail "import"
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/digits.h5",
  budget = { trials = 150 },
  models = { "knn", "linear" },
  seed = 7,
  export = { to = "$TMP/repo", name = "digits" },
}
LUA
"$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --threads 2 > "$TMP/first.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$TMP/run/trials.jsonl" ] && [ "$(wc -l < "$TMP/run/trials.jsonl")" -ge 20 ] && break
  sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2> /dev/null
before=$(wc -l < "$TMP/run/trials.jsonl")
[ "$before" -ge 20 ] && [ "$before" -lt 150 ] || fail "killed with $before trials journaled (expected 20..149)"
head -n "$before" "$TMP/run/trials.jsonl" > "$TMP/before.jsonl"
[ -d "$TMP/repo" ] && fail "an artifact was published before the kill"

# a crash in the middle of a write leaves a torn line: resume must cut it
printf '{"trial":9999,"model":"knn","par' >> "$TMP/run/trials.jsonl"

expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run" --threads 2 --resume
grep -q "resuming $before finished trials" "$TMP/out" || fail "resume banner: $(head -1 "$TMP/out")"
grep -q "^best: .*(150 trials\|^best: .*($((150 - before)) trials, .* $before resumed)" "$TMP/out" || fail "summary: $(grep '^best' "$TMP/out")"
after=$(wc -l < "$TMP/run/trials.jsonl")
[ "$after" -eq 150 ] || fail "journal has $after lines after resume, expected 150"
head -n "$before" "$TMP/run/trials.jsonl" | cmp -s - "$TMP/before.jsonl" || fail "lines from before the kill changed"
ids=$(sed 's/^{"trial":\([0-9]*\),.*/\1/' "$TMP/run/trials.jsonl" | sort -n | uniq)
[ "$(echo "$ids" | wc -l)" -eq 150 ] || fail "trial ids are not unique: some trial was redone"
[ "$(echo "$ids" | head -1)" -eq 0 ] && [ "$(echo "$ids" | tail -1)" -eq 149 ] || fail "trial ids are not 0..149"
grep -q '"trial":9999' "$TMP/run/trials.jsonl" && fail "the torn line survived"
[ "$(grep -c '^[0-9]*,[0-9]' "$TMP/run/leaderboard.csv")" -eq 150 ] || fail "leaderboard after resume: $(grep -c '^[0-9]*,[0-9]' "$TMP/run/leaderboard.csv") trial rows"
[ -s "$TMP/repo/digits/1/manifest.json" ] || fail "no artifact after resume"

# a journal of another dataset is refused, naming the line
"$AUTOML" import datasets/wine.csv "$TMP/wine.h5" > /dev/null
sed "s|$TMP/digits.h5|$TMP/wine.h5|" "$TMP/spec.lua" > "$TMP/wine.lua"
expect 2 "" -- "$AUTOML" search "$TMP/wine.lua" --out "$TMP/run" --resume
grep -q "^automl: $TMP/run/trials.jsonl:1: the journal belongs to another dataset" "$TMP/err" || fail "foreign journal: $(cat "$TMP/err")"
finish
