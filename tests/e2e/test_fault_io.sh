#!/usr/bin/env bash
# End to end, as SQLite tests I/O errors: every write, fsync and rename that `automl import`,
# `automl split` and `automl search` make under their output directories is made to fail in turn
# (tests/fault/fault_io.c, preloaded), with ENOSPC or EIO in turn. Each time the command must exit 1 or 2
# with an "automl: " message (never 0, never a signal), leave no output file and no artifact
# version half-visible, and a search must then `--resume` to the leaderboard and model bytes of a
# run that saw no fault.
. "$(dirname "$0")/lib.sh"

PRELOAD=$(realpath "${AML_BUILD_DIR:-build}/test-fault/fault_io.so" 2> /dev/null)
[ -f "$PRELOAD" ] || { fail "no test-fault/fault_io.so in the build (the aml_fault_io target)"; finish; }
# Under AddressSanitizer the preload comes ahead of the sanitizer's runtime: allow it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
W="$TMP/w"

# faulty OP N ERRNO -- command...: runs the command with the Nth OP under $W failing.
faulty() {
  local op=$1 n=$2 err=$3
  shift 4
  LD_PRELOAD="$PRELOAD" AML_FAULT_PATH="$W" AML_FAULT_OP="$op" AML_FAULT_N="$n" AML_FAULT_ERRNO="$err" \
    "$@" > "$TMP/out" 2> "$TMP/err"
  local got=$?
  echo >> "$TMP/runs"
  echo "$got"
}

# count OP -- command...: how many OP calls the command makes under $W when nothing fails.
count() {
  local op=$1
  shift 2
  rm -f "$TMP/log"
  LD_PRELOAD="$PRELOAD" AML_FAULT_PATH="$W" AML_FAULT_LOG="$TMP/log" "$@" > /dev/null 2>&1 \
    || fail "$* failed with no fault injected"
  grep -c "^$op " "$TMP/log" 2> /dev/null || echo 0
}

# failed_cleanly WHAT STATUS: exit 1 or 2, the last line on stderr an "automl: " message (not a
# progress line) naming what failed.
failed_cleanly() {
  case $2 in
    1 | 2) tail -1 "$TMP/err" | grep -q '^automl: [^[]' || fail "$1: exit $2 without an automl: message last ($(cat "$TMP/err"))" ;;
    0) fail "$1: exit 0 although a write failed" ;;
    *) fail "$1: exit $2 ($(tail -3 "$TMP/err"))" ;;
  esac
}

# ---- import and split: the HDF5 writer ----
"$AUTOML" import datasets/iris.csv "$TMP/iris.h5" > /dev/null || fail "import"
for cmd in import split; do
  if [ $cmd = import ]; then set -- "$AUTOML" import datasets/iris.csv "$W/out.h5"
  else set -- "$AUTOML" split "$TMP/iris.h5" "$W/train.h5" "$W/test.h5" --test 0.25 --seed 0; fi
  for op in write fsync rename; do
    rm -rf "$W"; mkdir -p "$W"
    total=$(count $op -- "$@")
    [ "$op" = write ] && [ "$total" -lt 1 ] && fail "$cmd: no write counted under $W"
    for n in $(seq 1 "$total"); do
      err=ENOSPC; [ $((n % 2)) -eq 0 ] && err=EIO
      rm -rf "$W"; mkdir -p "$W"
      rc=$(faulty $op "$n" $err -- "$@")
      failed_cleanly "$cmd, $op #$n of $total ($err)" "$rc"
      left=$(ls -A "$W")
      [ -z "$left" ] || fail "$cmd, $op #$n of $total ($err): left $left"
    done
  done
done

# ---- search: the journal, the run directory's files and the artifact writer ----
cat > "$TMP/spec.lua" <<LUA
return automl.search {
  data = "$TMP/iris.h5",
  budget = { trials = 4 },
  models = { "linear", "knn" },
  seed = 3,
  export = { to = "$W/repo", name = "iris" },
}
LUA
board() { cut -d, -f1-7,10 "$1"; }
search() { "$AUTOML" search "$TMP/spec.lua" --out "$W/run" --threads 1 "$@"; }
rm -rf "$W"; mkdir -p "$W"
search > /dev/null 2>&1 || fail "search with no fault"
board "$W/run/leaderboard.csv" > "$TMP/board.ref"
cp "$W/repo/iris/1/model.bin" "$TMP/model.ref" || fail "no model.bin in the reference artifact"

# every published version is whole: automl info reads it (checksums verified)
versions_whole() {
  local v
  for v in "$W"/repo/iris/*; do
    [ -e "$v" ] || continue
    case ${v##*/} in
      *[!0-9]*) ;; # a temporary: the next writer removes it
      *) "$AUTOML" info "$v" > /dev/null 2>&1 || fail "$1: version ${v##*/} is half-visible" ;;
    esac
  done
}

for op in write fsync rename; do
  rm -rf "$W"; mkdir -p "$W"
  total=$(count $op -- search)
  [ "$total" -ge 1 ] || fail "search: no $op counted under $W"
  for n in $(seq 1 "$total"); do
    err=ENOSPC; [ $((n % 2)) -eq 0 ] && err=EIO
    what="search, $op #$n of $total ($err)"
    rm -rf "$W"; mkdir -p "$W"
    rc=$(faulty $op "$n" $err -- search)
    failed_cleanly "$what" "$rc"
    versions_whole "$what"
    search --resume > "$TMP/out" 2> "$TMP/err" || { fail "$what: --resume failed: $(cat "$TMP/err")"; continue; }
    versions_whole "$what, resumed"
    cmp -s <(board "$W/run/leaderboard.csv") "$TMP/board.ref" || fail "$what: the resumed leaderboard differs"
    latest=$(ls "$W/repo/iris" | grep -x '[0-9]*' | sort -n | tail -1)
    cmp -s "$W/repo/iris/$latest/model.bin" "$TMP/model.ref" || fail "$what: the resumed model differs"
    tmps=$(ls -A "$W/repo/iris" | grep -v -x '[0-9]*')
    [ -z "$tmps" ] || fail "$what: temporaries left after the resume: $tmps"
  done
done
echo "$(wc -l < "$TMP/runs") faulty runs"
finish
