#!/usr/bin/env bash
# Runs every libFuzzer target for MINUTES each, one after the other, merges what each run found
# into its committed corpus (tests/fuzz/corpus/<target>/, -merge=1 keeps only inputs that add
# coverage), and prints per target the executions and the coverage libFuzzer reached.
#   bench/fuzz.sh MINUTES [TARGET...]      (default: every tests/fuzz/fuzz_*.c)
# Builds build-fuzz with clang (-DAML_BUILD_FUZZERS=ON: -fsanitize=fuzzer,address,undefined).
# libFuzzer runs in fork mode (-fork=1 -ignore_crashes=1 ...): a crash, timeout or OOM is kept as
# build-fuzz/out/<target>/crash-* (timeout-*, oom-*) and the run goes on, so one campaign finds
# more than the first; reproducers already committed to the corpus (open defects) are named as
# known. Add a new one to the corpus with a descriptive name once it is understood.
# Env: JOBS (build jobs, default nproc), FUZZ_FLAGS (extra libFuzzer flags), NICE (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MINUTES=${1:?usage: bench/fuzz.sh MINUTES [TARGET...]}
shift
SECS=$(awk -v m="$MINUTES" 'BEGIN { s = int(m * 60); print (s > 0 ? s : 1) }')
JOBS=${JOBS:-$(nproc)}
NICE=${NICE:-10}

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAML_BUILD_FUZZERS=ON \
  -DAML_BUILD_BENCH=OFF > /dev/null
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/fuzz_*.c; do
    t=${f#tests/fuzz/fuzz_}
    targets+=("${t%.c}")
  done
fi
# The plugins are loaded at run time (by path): build them with the fuzz binaries.
plugins=$(sed -n 's/^aml_add_plugin(\([a-z0-9_]*\).*/\1/p' plugins/*/*/CMakeLists.txt)
nice -n "$NICE" cmake --build build-fuzz -j"$JOBS" --target $plugins $(printf 'fuzz_%s ' "${targets[@]}") > /dev/null

# Leaks: OpenBLAS and libgomp keep their pools at exit (tests/lsan.supp); the sanitizers stop on
# the first report, and libFuzzer keeps the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

OUT=$ROOT/build-fuzz/out
summary=()
crashes=()
for t in "${targets[@]}"; do
  corpus=$ROOT/tests/fuzz/corpus/$t
  work=$OUT/$t
  rm -rf "$work"
  mkdir -p "$work/new"
  log=$work/fuzz.log
  echo "fuzz: $t for $MINUTES min (log $log)" >&2
  # New inputs go to work/new; the committed corpus is only read, then merged into below.
  # -rss_limit_mb and -timeout bound each input (a slow or huge input is a finding too).
  rc=0
  nice -n "$NICE" "$ROOT/build-fuzz/fuzz/fuzz_$t" "$work/new" "$corpus" -max_total_time="$SECS" \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -rss_limit_mb=2048 -timeout=20 -max_len=65536 -artifact_prefix="$work/" ${FUZZ_FLAGS:-} > "$log" 2>&1 || rc=$?
  # The last status line of fork mode: "#N: cov: C ft: F corp: K exec/s E oom/timeout/crash: ...".
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  execs=$(sed -n 's/^#\([0-9]*\):.*/\1/p' <<< "$last")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  eps=$(sed -n 's/.* exec\/s \([0-9]*\).*/\1/p' <<< "$last")
  before=$(find "$corpus" -type f | wc -l)
  nice -n "$NICE" "$ROOT/build-fuzz/fuzz/fuzz_$t" -merge=1 -rss_limit_mb=2048 -timeout=20 "$corpus" "$work/new" \
    >> "$work/merge.log" 2>&1 || echo "fuzz: $t: merge failed (see $work/merge.log)" >&2
  after=$(find "$corpus" -type f | wc -l)
  status=ok
  [ "$rc" = 0 ] || status="stopped (exit $rc)"
  for a in "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-*; do
    [ -e "$a" ] || continue
    sum=$(sha1sum < "$a" | cut -d' ' -f1)
    known=$(cd "$corpus" && sha1sum -- * | sed -n "s/^$sum  //p" | head -1)
    if [ -n "$known" ]; then
      crashes+=("$t: $(basename "$a"): known, corpus/$t/$known")
    else
      crashes+=("$t: $a")
      status="FOUND $(basename "$a")"
    fi
  done
  summary+=("$(printf '%-13s %6s min  execs %-10s exec/s %-6s cov %-6s ft %-6s corpus %d -> %d  %s' "$t" "$MINUTES" \
    "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after" "$status")")
done

echo
echo "fuzz: $(date -u '+%Y-%m-%d %H:%M UTC'), $(clang --version | head -1), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summary[@]}"
if [ ${#crashes[@]} -gt 0 ]; then
  echo "crashes (reproduce: build-fuzz/fuzz/fuzz_TARGET FILE; the stacks are in build-fuzz/out/TARGET/fuzz.log):"
  printf '  %s\n' "${crashes[@]}"
fi
