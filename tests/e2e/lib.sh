# Shared by the end-to-end tests: run from the repository root with the build's automl, a
# temporary directory removed at exit, and assertions that count failures.
set -u
cd "${AML_SOURCE_DIR:-$(dirname "$0")/../..}"
AUTOML=${AML_BUILD_DIR:+$AML_BUILD_DIR/bin/}automl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS EXPECTED_STDERR -- command...   (an empty EXPECTED_STDERR is not checked)
expect() {
  local status=$1 message=$2
  shift 3
  "$@" > "$TMP/out" 2> "$TMP/err"
  local got=$?
  [ "$got" -eq "$status" ] || fail "$* -> exit $got, expected $status (stderr: $(cat "$TMP/err"))"
  if [ -n "$message" ]; then
    [ "$(cat "$TMP/err")" = "$message" ] || fail "$* -> stderr '$(cat "$TMP/err")', expected '$message'"
  fi
}

# at_least NAME VALUE BAR: VALUE >= BAR (floating point)
at_least() {
  awk -v v="$2" -v b="$3" 'BEGIN { exit !(v + 0 >= b + 0) }' || fail "$1 = $2, expected >= $3"
}

# score_of FILE: the number at the end of "metric on DATA: SCORE" in a predict stderr file
score_of() { sed -n 's/^[a-z_0-9]* on .*: \([-0-9.e]*\)$/\1/p' "$1"; }

# raw_csv SEED FILE: 300 raw rows whose class ("yes"/"no") follows the colour (a quoted string
# category with NA) and x (numeric with '?'), plus a small integer column, size.
raw_csv() {
  awk -v seed="$1" 'BEGIN {
    srand(seed); print "x,colour,size,target"
    split("red green blue", colours, " ")
    for (i = 0; i < 300; i++) {
      c = colours[1 + i % 3]; x = rand() * 10
      y = (c == "red" || (c == "blue" && x > 5)) ? "yes" : "no"
      xs = (i % 17 == 0) ? "?" : sprintf("%.3f", x)
      cs = (i % 23 == 0) ? "NA" : c
      printf "%s,\"%s\",%d,%s\n", xs, cs, int(rand() * 3), y
    }
  }' > "$2"
}

finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
  fi
  echo "ok"
}
