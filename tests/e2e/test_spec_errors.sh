#!/usr/bin/env bash
# End to end: every bad spec in tests/specs makes `automl search` exit 2 with exactly one line,
# "FILE:LINE: field: what was expected", and start no run; bad command-line options too.
. "$(dirname "$0")/lib.sh"

for spec in tests/specs/bad_*.lua; do
  want="$spec$(sed -n '1s/^-- expect: //p' "$spec")"
  # The list of available models grows with the plugins built: compare up to it.
  case "$want" in
    *"(available: "*)
      expect 2 "" -- "$AUTOML" search "$spec" --out "$TMP/run"
      case "$(cat "$TMP/err")" in "${want%%(available: *}(available: "*) ;; *) fail "$spec: $(cat "$TMP/err")" ;; esac ;;
    *) expect 2 "$want" -- "$AUTOML" search "$spec" --out "$TMP/run" ;;
  esac
  [ -e "$TMP/run" ] && { fail "$spec: a run directory was created"; rm -rf "$TMP/run"; }
done

# a runtime error inside on_trial stops the search with exit 2 and names the callback's line
cat > "$TMP/cb.lua" <<'LUA'
return automl.search {
  data = "DATA",
  budget = { trials = 3 },
  models = { "linear" },
  on_trial = function(t)
    error("boom in trial " .. t.id)
  end,
}
LUA
"$AUTOML" import datasets/diabetes.csv "$TMP/diabetes.h5" > /dev/null
sed -i "s|DATA|$TMP/diabetes.h5|" "$TMP/cb.lua"
# (progress lines may come first on stderr; the error is the last line)
expect 2 "" -- "$AUTOML" search "$TMP/cb.lua" --out "$TMP/cbrun" --parallel 1
[ "$(tail -1 "$TMP/err")" = "automl: $TMP/cb.lua:6: on_trial: boom in trial 0" ] || fail "on_trial error: $(cat "$TMP/err")"
grep -v '^automl: \[' "$TMP/err" | grep -vq "on_trial: boom" && fail "more than one error line: $(cat "$TMP/err")"

# on_trial returning "stop" ends the search after that trial, and it still exports
sed -i 's|error("boom in trial " .. t.id)|if t.id == 1 then return "stop" end|' "$TMP/cb.lua"
expect 0 "" -- "$AUTOML" search "$TMP/cb.lua" --out "$TMP/cbrun2" --parallel 1
[ "$(wc -l < "$TMP/cbrun2/trials.jsonl")" -eq 2 ] || fail "on_trial stop: $(wc -l < "$TMP/cbrun2/trials.jsonl") trials, expected 2"
grep -q '^artifact: ' "$TMP/out" || fail "no export after on_trial stop"

# warm_start: the user's fixed configurations are the first trials; a range there is refused
cat > "$TMP/warm.lua" <<LUA
return automl.search {
  data = "$TMP/diabetes.h5",
  models = { "knn", "linear" },
  budget = { trials = 3 },
  warm_start = { { model = "knn", k = 7, weights = "distance" }, { model = "linear", l2 = 0.5 } },
  export = { to = "$TMP/repo", name = "warm" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/warm.lua" --out "$TMP/warmrun" --parallel 1
head -1 "$TMP/warmrun/trials.jsonl" | grep -q '^{"trial":0,"model":"knn","params":{"k":7,"weights":"distance",' || fail "warm_start[1] is not trial 0: $(head -1 "$TMP/warmrun/trials.jsonl")"
sed -n 2p "$TMP/warmrun/trials.jsonl" | grep -q '"model":"linear","params":{"l2":0.5,' || fail "warm_start[2] is not trial 1"
sed -i 's/k = 7,/k = automl.int(1, 9),/' "$TMP/warm.lua"
expect 2 "" -- "$AUTOML" search "$TMP/warm.lua" --out "$TMP/warmrun2"
grep -q "^$TMP/warm.lua:5: warm_start\[1\].k: expected a fixed value, not a range$" "$TMP/err" || fail "warm_start range: $(cat "$TMP/err")"

expect 2 "automl: search: --budget: expected a number in [0.001, 2592000], got 'abc'" -- "$AUTOML" search tests/specs/good_regression.lua --budget abc
expect 2 "automl: search: unknown option '--bogus' (see automl search --help)" -- "$AUTOML" search tests/specs/good_regression.lua --bogus
expect 2 "automl: search: --resume needs --out RUN_DIR (the run to continue)" -- "$AUTOML" search tests/specs/good_regression.lua --resume
expect 0 "" -- "$AUTOML" search --help
grep -q -- '--resume' "$TMP/out" || fail "search --help does not explain --resume"
for cmd in import info search train predict plugins split; do
  expect 0 "" -- "$AUTOML" "$cmd" --help
  grep -q "^usage: automl $cmd" "$TMP/out" || fail "automl $cmd --help: $(head -1 "$TMP/out")"
done
expect 2 "automl: unknown command 'serch' (try automl --help)" -- "$AUTOML" serch
finish
