#!/usr/bin/env bash
# End to end: with a trial budget and a seed, the leaderboard (ranks, trials, scores, parameters)
# and the exported model's bytes are the same for --threads 1 and --threads 2, and a search killed
# with kill -9 and resumed exports exactly the same model as an uninterrupted one.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/digits.csv "$TMP/digits.h5" > /dev/null || fail "import"
spec() { # name strategy
  cat > "$TMP/$1.lua" <<LUA
return automl.search {
  data = "$TMP/digits.h5",
  models = { "linear", "knn" },
  budget = { trials = 80 },
  strategy = "$2",
  seed = 11,
  export = { to = "$TMP/repo-$1", name = "digits" },
}
LUA
}
# the columns that must match: rank, trial, model, status, score, std, folds, params
board() { cut -d, -f1-7,10 "$1"; }

for strategy in auto tpe; do
  spec "$strategy-1" "$strategy"
  spec "$strategy-2" "$strategy"
  expect 0 "" -- "$AUTOML" search "$TMP/$strategy-1.lua" --threads 1 --out "$TMP/run-$strategy-1"
  expect 0 "" -- "$AUTOML" search "$TMP/$strategy-2.lua" --threads 2 --out "$TMP/run-$strategy-2"
  cmp -s <(board "$TMP/run-$strategy-1/leaderboard.csv") <(board "$TMP/run-$strategy-2/leaderboard.csv") \
    || fail "$strategy: leaderboards differ between 1 and 2 threads"
  cmp -s "$TMP/repo-$strategy-1/digits/1/model.bin" "$TMP/repo-$strategy-2/digits/1/model.bin" \
    || fail "$strategy: model bytes differ between 1 and 2 threads"
done

# kill -9 mid-search, resume: the same artifact as the uninterrupted run
spec killed auto
"$AUTOML" search "$TMP/killed.lua" --threads 2 --out "$TMP/run-killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$TMP/run-killed/trials.jsonl" ] && [ "$(wc -l < "$TMP/run-killed/trials.jsonl")" -ge 15 ] && break
  sleep 0.02
done
kill -9 "$pid"
wait "$pid" 2> /dev/null
n=$(wc -l < "$TMP/run-killed/trials.jsonl")
[ "$n" -lt 80 ] || fail "the search finished before the kill ($n trials)"
expect 0 "" -- "$AUTOML" search "$TMP/killed.lua" --threads 2 --out "$TMP/run-killed" --resume
cmp -s "$TMP/repo-killed/digits/1/model.bin" "$TMP/repo-auto-1/digits/1/model.bin" \
  || fail "the resumed search exported a different model than the uninterrupted one"
cmp -s <(board "$TMP/run-killed/leaderboard.csv") <(board "$TMP/run-auto-1/leaderboard.csv") \
  || fail "the resumed search's leaderboard differs"
[ -n "${KEEP:-}" ] && cp -r "$TMP" /tmp/keep_det
finish
