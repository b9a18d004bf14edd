#!/usr/bin/env bash
# The test command (what .ci/run runs): builds the project three times — a normal build, an
# address+undefined sanitizer build and a thread sanitizer build — and runs every CTest test (unit,
# end-to-end, and the fuzz corpora's replays, label fuzz-replay) on the first two, and the tests
# where threads meet (the search's workers, the daemon's) on the third.
#   scripts/test.sh             all three builds
#   scripts/test.sh --quick     normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

# The packages first (the same script as the README's setup command): it installs only what
# dpkg does not list, so on a machine that has them all this costs a second.
scripts/setup.sh --deps

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAML_WERROR=ON > /dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure -j"$JOBS")

if [ "${1:-}" != "--quick" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAML_SANITIZE=ON -DAML_WERROR=ON -DAML_BUILD_BENCH=OFF > /dev/null
  cmake --build build-asan -j"$JOBS"
  # OpenBLAS and libgomp keep thread pools alive at exit; leaks there are not ours.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest --output-on-failure -j"$JOBS" -LE slow)
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

  # ThreadSanitizer (gcc): the search's worker threads (test_search_parts, and two automl searches
  # with 2 workers in e2e_test_search_predict) and automld's HTTP and watcher threads
  # (e2e_test_automld): about 45 s on 2 cores. e2e_test_resume is left out: its 150 trials on
  # digits take minutes under TSan and add no thread code path the searches above do not run. gcc's libgomp is not instrumented, so TSan cannot see its barriers: every
  # OpenMP region runs on one thread (OMP_THREAD_LIMIT=1 caps even num_threads(n) clauses and
  # omp_set_num_threads; OpenBLAS's OpenMP build obeys it too). The pthreads stay concurrent.
  # tests/tsan.supp lists third-party reports only; any other report fails the test (exit 66).
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAML_WERROR=ON -DAML_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=thread > /dev/null
  cmake --build build-tsan -j"$JOBS"
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:exitcode=66:second_deadlock_stack=1"
  export OMP_NUM_THREADS=1 OMP_THREAD_LIMIT=1 OPENBLAS_NUM_THREADS=1
  (cd build-tsan && ctest --output-on-failure -j"$JOBS" -R '^(test_search_parts|e2e_test_search_predict|e2e_test_automld)$')
fi
echo "test: all tests passed"
