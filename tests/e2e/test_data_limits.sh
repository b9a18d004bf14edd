#!/usr/bin/env bash
# End to end: data inputs are never believed nor silently changed. Hostile HDF5 files (sizes the
# file does not back, values float32 cannot hold, text that is not UTF-8) are refused by
# `automl info` with one line and exit 2; `import` and `split` onto a full disk (a file size
# limit) fail with exit 1 and leave nothing; CSV cells that would change meaning are refused, and
# Latin-1 text imports with --encoding.
. "$(dirname "$0")/lib.sh"
h5=tests/data/h5
csv=tests/data/csv

# ---- HDF5 sizes are believed only when the file backs them ----
expect 2 "automl: $h5/huge_declared.h5: /X: declares 4611686018427387904 x 4 cells of 4 bytes, more than 2^64 bytes" -- \
  "$AUTOML" info $h5/huge_declared.h5
expect 2 "automl: $h5/unwritten_1e9.h5: /X: declares 1000000000 x 13 cells (48.4 GiB) but the file holds 0 bytes of them (never written, or the file is truncated)" -- \
  "$AUTOML" info $h5/unwritten_1e9.h5
expect 2 "automl: $h5/unwritten_3e8.h5: /X: declares 300000000 x 13 cells (29.1 GiB) but the file holds 0 bytes of them (never written, or the file is truncated)" -- \
  "$AUTOML" info $h5/unwritten_3e8.h5
expect 2 "automl: $h5/huge_categories.h5: /categories/a: declares 1099511627776 cells in 1073741824 chunks but only 0 of them are in the file (the rest would read as fill values, not data)" -- \
  "$AUTOML" info $h5/huge_categories.h5
expect 2 "automl: $h5/external_x.h5: /X: its data is stored in other files; only data inside the file is read" -- \
  "$AUTOML" info $h5/external_x.h5
# The memory limit, and how to change it.
expect 2 "automl: tests/data/iris.h5: /X: 150 x 4 cells need 4.7 KiB of memory, more than the limit of 1.0 KiB (AML_MAX_DATA_BYTES; set AML_MAX_DATA_BYTES to change it)" -- \
  env AML_MAX_DATA_BYTES=1K "$AUTOML" info tests/data/iris.h5
expect 0 "" -- env AML_MAX_DATA_BYTES=1M "$AUTOML" info tests/data/iris.h5
grep -qx "shape        150 rows x 4 features" "$TMP/out" || fail "iris under a 1M limit: $(cat "$TMP/out")"

# ---- values and text from HDF5 ----
expect 2 "automl: $h5/x_1e300.h5: /X: row 2, column 1 ('b') holds 1e+300; expected a finite number within float32's range (±3.4e38), or NaN for a missing value" -- \
  "$AUTOML" info $h5/x_1e300.h5
expect 2 "automl: $h5/latin1_level.h5: /categories/colour[1]: '\\xE9t\\xE9' is not UTF-8 (byte 0xE9 at offset 0); names and levels must be UTF-8 text" -- \
  "$AUTOML" info $h5/latin1_level.h5

# ---- a full disk: exit 1, one line, no file and no temporary left, no crash at exit ----
mkdir "$TMP/o"
full() { (trap '' XFSZ; ulimit -f "$1"; shift; exec "$@"); }
expect 1 "automl: $TMP/o/wine.h5: writing the HDF5 file failed: File too large" -- \
  full 8 "$AUTOML" import datasets/wine.csv "$TMP/o/wine.h5"
[ -z "$(ls -A "$TMP/o")" ] || fail "import onto a full disk left: $(ls -A "$TMP/o")"
expect 1 "automl: $TMP/o/train.h5: writing the HDF5 file failed: File too large" -- \
  full 8 "$AUTOML" split tests/data/Soybean.h5 "$TMP/o/train.h5" "$TMP/o/test.h5"
[ -z "$(ls -A "$TMP/o")" ] || fail "split onto a full disk left: $(ls -A "$TMP/o")"
# The training file fits, the test file (75% of the rows) does not: neither appears, and files
# from an earlier split stay as they were.
echo old > "$TMP/o/train.h5"
expect 1 "automl: $TMP/o/test.h5: writing the HDF5 file failed: File too large" -- \
  full 60 "$AUTOML" split tests/data/Soybean.h5 "$TMP/o/train.h5" "$TMP/o/test.h5" --test 0.75
[ "$(ls -A "$TMP/o")" = "train.h5" ] && [ "$(cat "$TMP/o/train.h5")" = old ] || fail "a failed split changed: $(ls -A "$TMP/o")"
rm -f "$TMP/o/train.h5"
expect 0 "" -- full 400 "$AUTOML" split tests/data/Soybean.h5 "$TMP/o/train.h5" "$TMP/o/test.h5" --test 0.75
[ "$(cat "$TMP/out")" = "wrote $TMP/o/train.h5 (171 rows) and $TMP/o/test.h5 (512 rows)" ] || fail "split: $(cat "$TMP/out")"
rm -f "$TMP"/o/*

# ---- CSV cells never change meaning silently ----
expect 2 "automl: $csv/nul_in_cell.csv:3: column 'x' (column 1): a NUL byte in the cell; a CSV file must be text (a UTF-16 file: pass --encoding UTF-16)" -- \
  "$AUTOML" import $csv/nul_in_cell.csv "$TMP/o/x.h5"
expect 2 "automl: $csv/inf_in_numeric.csv:3: column 'z' (column 2): 'inf' is not a finite number (an infinity, or beyond ±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one" -- \
  "$AUTOML" import $csv/inf_in_numeric.csv "$TMP/o/x.h5"
expect 2 "automl: $csv/overflow_1e400.csv:4: column 'z' (column 2): '-1e400' is not a finite number (an infinity, or beyond ±1.8e308); write a finite value, or leave the cell empty (or NA, NaN) for a missing one" -- \
  "$AUTOML" import $csv/overflow_1e400.csv "$TMP/o/x.h5"
[ -z "$(ls -A "$TMP/o")" ] || fail "refused imports left: $(ls -A "$TMP/o")"
expect 0 "" -- "$AUTOML" import $csv/signed_nan.csv "$TMP/o/x.h5"
grep -qx "  z                        numeric           -        3  every value a number" "$TMP/out" \
  || fail "-nan, NAN, +NaN as missing: $(cat "$TMP/out")"
rm -f "$TMP"/o/*

# ---- text: UTF-8, or converted from the encoding the user names ----
expect 2 "automl: $csv/latin1.csv:1: header, column 1: 'caf\\xE9' is not UTF-8 (byte 0xE9); pass the file's encoding with --encoding (e.g. --encoding latin1), or save it as UTF-8" -- \
  "$AUTOML" import $csv/latin1.csv "$TMP/o/x.h5"
expect 0 "" -- "$AUTOML" import $csv/latin1.csv "$TMP/o/x.h5" --encoding latin1
grep -qx "  café                     numeric           -        0  every value a number" "$TMP/out" || fail "latin1 name: $(cat "$TMP/out")"
grep -qx "  couleur                  categorical       3        0  text values" "$TMP/out" || fail "latin1 levels: $(cat "$TMP/out")"
expect 0 "" -- "$AUTOML" info "$TMP/o/x.h5"
grep -q "^     0  café  *numeric" "$TMP/out" || fail "latin1 name after import: $(cat "$TMP/out")"
expect 2 "automl: --encoding: unknown encoding 'klingon' (\`iconv -l\` lists them)" -- \
  "$AUTOML" import $csv/latin1.csv "$TMP/o/y.h5" --encoding klingon
expect 0 "" -- "$AUTOML" import --help
grep -q -- "--encoding NAME" "$TMP/out" || fail "import --help lacks --encoding"

finish
