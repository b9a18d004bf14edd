#!/usr/bin/env bash
# Packs what bench/scaling/run.sh needs on a bigger machine that has none of our Debian packages:
# the Release binaries and plugins, every shared library they load except the C library itself,
# and the data (digits, the gbdt bench's synth100000 and satellite). The pack is self-contained:
# LD_LIBRARY_PATH=PACK/deps PACK/bin/automl ... (the binaries find PACK/lib/automl/plugins).
# Also writes PACK.tar.xz (about 36 MB) to carry to the other machine:
#   mkdir -p /tmp/p && tar -xJf .scaling-pack.tar.xz -C /tmp/p && /tmp/p/run.sh
#   bench/scaling/pack.sh [BUILD_DIR] [PACK_DIR]      defaults: build, .scaling-pack
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
PACK="${2:-$ROOT/.scaling-pack}"
rm -rf "$PACK"
mkdir -p "$PACK/bin" "$PACK/lib/automl/plugins" "$PACK/deps" "$PACK/data"
cp "$BUILD/bin/automl" "$BUILD/bin/bench_gbdt" "$BUILD/bin/bench_forest" "$PACK/bin/"
cp "$BUILD"/lib/automl/plugins/*.so "$PACK/lib/automl/plugins/"
# the libraries, resolved here; the C runtime (libc, libm, libpthread, libdl, librt, the loader)
# stays the target's own
for f in "$PACK"/bin/* "$PACK"/lib/automl/plugins/*.so; do ldd "$f"; done |
  awk '$3 ~ /^\// { print $3 }' | sort -u |
  grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64)\.so' |
  while read -r lib; do cp -L "$lib" "$PACK/deps/"; done
"$BUILD/bin/automl" import "$ROOT/datasets/digits.csv" "$PACK/data/digits.h5" > /dev/null
DATA="$ROOT/bench/gbdt/data"
[ -f "$DATA/synth100000_train.h5" ] || /usr/bin/python3 "$ROOT/bench/gbdt/make_data.py" "$DATA" 100000
cp "$DATA"/synth100000_*.h5 "$DATA"/satellite_*.h5 "$DATA"/digits_*.h5 "$PACK/data/"
cp "$ROOT/bench/scaling/run.sh" "$ROOT/bench/scaling/hgb.py" "$PACK/"
tar -cJf "$PACK.tar.xz" -C "$PACK" .
du -sh "$PACK" "$PACK.tar.xz"
