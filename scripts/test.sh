#!/usr/bin/env bash
# The test command (what .ci/run runs): builds the project twice — a normal build and an
# address+undefined sanitizer build — and runs every CTest test (unit and end-to-end) on both.
#   scripts/test.sh             both builds
#   scripts/test.sh --quick     normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

# A fresh machine gets the packages first (the same script as the README's setup command).
command -v cmake > /dev/null && pkg-config --exists libcjson cmocka 2> /dev/null || scripts/setup.sh --deps

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
fi
echo "test: all tests passed"
