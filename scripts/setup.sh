#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to an installed automl: installs the Debian packages
# (DESIGN.md §2), builds everything, installs automl and its plugins on the PATH, and imports the
# shipped CSV datasets into datasets/*.h5.
#   scripts/setup.sh            everything
#   scripts/setup.sh --deps     only the packages
#   PREFIX=/opt/automl scripts/setup.sh    install elsewhere (default /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config
  libopenblas-openmp-dev liblapack-dev   # BLAS/LAPACK, OpenMP build
  libhdf5-dev liblua5.4-dev libcjson-dev libcsv-dev libssl-dev libmicrohttpd-dev
  libcmocka-dev curl                     # unit tests; curl for the automld end-to-end test
  clang libclang-rt-14-dev libomp-14-dev # bench/fuzz.sh: libFuzzer binaries (clang's runtimes, OpenMP)
  python3-sklearn python3-xgboost python3-optuna python3-h5py wrk   # peers, benchmarks only
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "${1:-}" = "--deps" ] && exit 0

JOBS=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"

PREFIX=${PREFIX:-/usr/local}
SUDO=""; [ -w "$PREFIX" ] || SUDO="sudo"
$SUDO cmake --install build --prefix "$PREFIX" > /dev/null
$SUDO ldconfig 2>/dev/null || true
echo "setup: installed $PREFIX/bin/automl with plugins in $PREFIX/lib/automl/plugins"

for csv in datasets/*.csv; do
  h5=${csv%.csv}.h5
  [ "$h5" -nt "$csv" ] || build/bin/automl import "$csv" "$h5" --target target | sed -n 1p # the summary line (sed reads it all: no SIGPIPE under pipefail)
done
