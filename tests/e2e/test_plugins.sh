#!/usr/bin/env bash
# End to end: `automl plugins` lists the built-in plugins from the build tree, adds those of
# AML_PLUGIN_PATH, and names every refused file with its reason; a spec can name a plugin
# directory, and a search then uses its model.
. "$(dirname "$0")/lib.sh"
TP=${AML_TEST_PLUGIN_DIR:-$AML_BUILD_DIR/test-plugins}

expect 0 "" -- "$AUTOML" plugins
for p in "exporter  native" "model     knn" "model     linear"; do
  grep -q "^$p " "$TMP/out" || fail "automl plugins lacks '$p'"
done
grep -q "^refused" "$TMP/out" && fail "built-in plugins refused: $(grep refused "$TMP/out")"

AML_PLUGIN_PATH=$TP expect 0 "" -- "$AUTOML" plugins
grep -q "^model     test_constant  0.0.1    1.2   $TP/good.so$" "$TMP/out" || fail "good test plugin not listed: $(cat "$TMP/out")"
grep -qx "refused   $TP/wrong_major.so: plugin ABI major version 2, this automl speaks 1" "$TMP/out" || fail "wrong major"
grep -qx "refused   $TP/newer_minor.so: plugin needs ABI 1.3, newer than this automl's 1.2" "$TMP/out" || fail "newer minor"
grep -qx "refused   $TP/missing_symbol.so: cannot load: undefined symbol: aml_test_symbol_that_does_not_exist" "$TMP/out" || fail "missing symbol"
grep -qx "refused   $TP/no_entry.so: not an automl plugin: no symbol 'aml_plugin_entry'" "$TMP/out" || fail "no entry"
grep -qx "refused   $TP/incomplete_vtable.so: model plugin 'test_constant' has an incomplete vtable" "$TMP/out" || fail "incomplete vtable"
[ "$(grep -c '^refused' "$TMP/out")" -eq 6 ] || fail "expected 6 refusals"

expect 0 "" -- "$AUTOML" plugins --params
grep -q "^          l2 .*float.*log" "$TMP/out" || fail "plugins --params lacks linear's l2"

# a spec naming the plugin directory can search with the plugin's model
"$AUTOML" import datasets/iris.csv "$TMP/iris.h5" > /dev/null
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/iris.h5",
  plugins = { "$TP/good.so" },
  models = { "test_constant" },
  budget = { trials = 2 },
  export = { to = "$TMP/repo", name = "iris" },
}
LUA
expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run"
grep -q "^best: test_constant 0.3333 " "$TMP/out" || fail "search with a spec-named plugin: $(grep best "$TMP/out")"
# the artifact needs that plugin: without it, predict says which plugin is missing
expect 2 "automl: $TMP/repo/iris/1/model.bin: needs model plugin 'test_constant' (version 0.0.1), which is not installed" -- \
  "$AUTOML" predict "$TMP/repo/iris/1" "$TMP/iris.h5"
AML_PLUGIN_PATH=$TP/good.so expect 0 "" -- "$AUTOML" predict "$TMP/repo/iris/1" "$TMP/iris.h5" -o "$TMP/pred.csv"
finish
