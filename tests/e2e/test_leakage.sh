#!/usr/bin/env bash
# End to end, no leakage: feature steps are fitted on each trial's training rows only. A spy step
# (tests/plugins/spy_feature.c) logs the rows behind every fit and transform; column 0 holds the
# row number. For every fitted step, a transform either reuses its training rows or gets rows it
# never saw (the validation fold) — never a mix — and each fold's validation rows are exactly the
# rows its training fit lacked. Also with a holdout split and for the refit on all rows.
. "$(dirname "$0")/lib.sh"
TP=${AML_TEST_PLUGIN_DIR:-$AML_BUILD_DIR/test-plugins}
[ -f "$TP/spy.so" ] || { echo "SKIP: $TP/spy.so is not built"; exit 0; }

awk 'BEGIN { srand(5); print "row,x,target"
  for (i = 0; i < 150; i++) printf "%d,%.4f,%s\n", i, rand(), (rand() < 0.5 ? "a" : "b") }' > "$TMP/rows.csv"
"$AUTOML" import "$TMP/rows.csv" "$TMP/rows.h5" > /dev/null || fail "import"

for resampling in 'kind = "kfold", folds = 5' 'kind = "holdout"'; do
  cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/rows.h5",
  plugins = { "$TP/spy.so" },
  models = { "linear", "knn" },
  features = { "spy" },
  resampling = { $resampling },
  budget = { trials = 4 }, ensemble = false,
  export = { to = "$TMP/repo" },
}
LUA
  rm -f "$TMP/spy.log"
  AML_SPY_LOG="$TMP/spy.log" expect 0 "" -- "$AUTOML" search "$TMP/spec.lua" --out "$TMP/run-${resampling%%,*}"
  /usr/bin/python3 - "$TMP/spy.log" 150 <<'PY' || fail "leakage check ($resampling)"
import sys
fits, transforms = {}, {}
for line in open(sys.argv[1]):
    what, inst, *rows = line.split()
    rows = set(map(int, rows))
    if what == "fit":
        assert inst not in fits, "fitted twice: " + inst
        fits[inst] = rows
    else:
        transforms.setdefault(inst, []).append(rows)
n = int(sys.argv[2])
folds = refits = 0
for inst, fitted in fits.items():
    for rows in transforms.get(inst, []):
        if rows <= fitted:
            continue  # its own training rows
        assert not rows & fitted, "step %s transformed %d rows it was fitted on among new ones" % (inst, len(rows & fitted))
        assert rows | fitted == set(range(n)), "validation + training rows are not the data"
        folds += 1
    if len(fitted) == n:
        refits += 1
assert folds >= 4, "only %d validation transforms seen" % folds
assert refits >= 1, "no refit on all rows"
print("ok: %d fits, %d validation folds, %d refits" % (len(fits), folds, refits))
PY
done
finish
