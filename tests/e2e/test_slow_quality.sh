#!/usr/bin/env bash
# The quality bars of the first release, as a user would check them: `automl search` with a 20 s
# budget on 2 threads, on the 75 % training part of a stratified split (seed 0); the exported
# model's score on the held-out 25 %: accuracy >= 0.95 on wine, breast_cancer and digits,
# R² >= 0.40 on diabetes.
. "$(dirname "$0")/lib.sh"

check() {
  local name=$1 bar=$2
  "$AUTOML" import "datasets/$name.csv" "$TMP/$name.h5" > /dev/null || fail "$name: import"
  "$AUTOML" split "$TMP/$name.h5" "$TMP/$name.train.h5" "$TMP/$name.test.h5" --test 0.25 --seed 0 > /dev/null
  sed -e "s|datasets/$name.h5|$TMP/$name.train.h5|" -e "s|to = \"models\"|to = \"$TMP/repo\"|" \
    "scripts/$name.lua" > "$TMP/$name.lua"
  expect 0 "" -- "$AUTOML" search "$TMP/$name.lua" --budget 20 --threads 2 --out "$TMP/run-$name"
  local artifact
  artifact=$(sed -n 's/^artifact: //p' "$TMP/out")
  expect 0 "" -- "$AUTOML" predict "$artifact" "$TMP/$name.test.h5" -o "$TMP/$name.pred.csv"
  local score
  score=$(score_of "$TMP/err")
  echo "$name: held-out $(cut -d' ' -f1 "$TMP/err") $score (bar $bar)"
  at_least "$name held-out score" "$score" "$bar"
}

check wine 0.95
check breast_cancer 0.95
check digits 0.95
check diabetes 0.40
finish
