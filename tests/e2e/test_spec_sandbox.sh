#!/usr/bin/env bash
# End to end: a spec runs in a sandbox (no processes, files or native libraries) unless
# `automl search --unsafe-spec`; a spec that loops before returning its search is stopped by
# SIGINT and by --budget; counts given on the command line are bounded.
. "$(dirname "$0")/lib.sh"

"$AUTOML" import datasets/diabetes.csv "$TMP/diabetes.h5" > /dev/null || fail "import"
hint="is not available in the spec sandbox (run automl search --unsafe-spec to give the spec the full Lua standard library)"

# os.execute: refused in the sandbox, naming the file and line; allowed with --unsafe-spec
cat > "$TMP/exec.lua" <<LUA
local data = "$TMP/diabetes.h5"
os.execute("touch $TMP/escaped")
return automl.search { data = data, models = { "linear" }, budget = { trials = 1 },
                       export = { to = "$TMP/repo", name = "exec" } }
LUA
expect 2 "$TMP/exec.lua:2: os.execute $hint" -- "$AUTOML" search "$TMP/exec.lua" --out "$TMP/run"
[ -e "$TMP/escaped" ] && fail "os.execute ran in the sandbox"
[ -e "$TMP/run" ] && fail "a run directory was created"
expect 0 "" -- "$AUTOML" search "$TMP/exec.lua" --out "$TMP/run" --unsafe-spec
[ -e "$TMP/escaped" ] || fail "--unsafe-spec: os.execute did not run"
[ -s "$TMP/repo/exec/1/model.bin" ] || fail "--unsafe-spec: no artifact"

# io.popen and package.loadlib too, whatever the way they are reached
printf 'local popen = io["po" .. "pen"]\nreturn popen("id")\n' > "$TMP/popen.lua"
expect 2 "$TMP/popen.lua:1: io.popen $hint" -- "$AUTOML" search "$TMP/popen.lua"
printf 'local lib = package\nlocal f = lib.loadlib("libc.so.6", "system")\n' > "$TMP/loadlib.lua"
expect 2 "$TMP/loadlib.lua:2: package.loadlib $hint" -- "$AUTOML" search "$TMP/loadlib.lua"

# a precompiled spec is refused (Lua does not verify bytecode)
printf '\033Lua\124\000garbage' > "$TMP/binary.lua"
expect 2 "$TMP/binary.lua: a precompiled (binary) Lua chunk is refused: a spec must be Lua source text" -- \
  "$AUTOML" search "$TMP/binary.lua"

# a spec that never returns: --budget stops it, and so does SIGINT (exit 1, nothing created)
printf 'local n = 0\nwhile true do n = n + 1 end\n' > "$TMP/loop.lua"
start=$(date +%s.%N)
expect 1 "$TMP/loop.lua:2: stopped: the search's time budget ran out while Lua code was running" -- \
  "$AUTOML" search "$TMP/loop.lua" --budget 2 --out "$TMP/looprun"
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
awk -v e="$elapsed" 'BEGIN { exit !(e >= 1.9 && e <= 4) }' || fail "a looping spec with --budget 2 ran $elapsed s"
"$AUTOML" search "$TMP/loop.lua" --out "$TMP/looprun" > "$TMP/int.out" 2> "$TMP/int.err" &
pid=$!
sleep 1
kill -INT "$pid"
start=$(date +%s.%N)
wait "$pid"
status=$?
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')
[ "$status" -eq 1 ] || fail "SIGINT in a looping spec: exit $status, expected 1"
[ "$(cat "$TMP/int.err")" = "$TMP/loop.lua:2: interrupted (SIGINT)" ] || fail "SIGINT in a looping spec: $(cat "$TMP/int.err")"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 1.5) }' || fail "SIGINT took $elapsed s to stop a looping spec"
[ -e "$TMP/looprun" ] && fail "a looping spec left a run directory"

# counts on the command line are bounded too
good=tests/specs/good_regression.lua
expect 2 "automl: search: --threads: expected an integer in [1, 1024], got '1000000'" -- "$AUTOML" search $good --threads 1000000
expect 2 "automl: search: --threads: expected an integer in [1, 1024], got '1e6'" -- "$AUTOML" search $good --threads 1e6
expect 2 "automl: search: --parallel: expected an integer in [1, 1024], got '0'" -- "$AUTOML" search $good --parallel 0
expect 2 "automl: search: --trials: expected an integer in [1, 1000000000], got '99999999999999999999'" -- \
  "$AUTOML" search $good --trials 99999999999999999999
expect 2 "automl: search: --seed: expected an integer in [0, 9223372036854775807], got '1e30'" -- "$AUTOML" search $good --seed 1e30
expect 2 "automl: search: --budget: expected a number in [0.001, 2592000], got '1e300'" -- "$AUTOML" search $good --budget 1e300
finish
