#!/usr/bin/env bash
# Regenerates the seed corpora of fuzz_artifact.c and fuzz_blob.c from real artifacts, made by the
# build's automl on the shipped datasets: every model plugin, every feature plugin in a pipeline,
# a regression, a tempered ensemble; plus the reproducers of issue 22's artifact defects (manifest
# fields that disagree with the blob, a bad format_version, 100 000 category levels, an ensemble
# member whose task differs). Usage: tests/fuzz/artifact_seeds.sh [BUILD_DIR]   (default: build)
# The container formats are described at the top of each harness. Files it does not make stay:
# blob/repro_knn_mean_overflows_float is a mutation fuzz_blob found (a mean beyond float range:
# every distance infinite, no neighbour ranked, the vote read label[-1]).
set -euo pipefail
cd "$(dirname "$0")/../.."
AUTOML=${1:-build}/bin/automl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
OUT_A=tests/fuzz/corpus/artifact OUT_B=tests/fuzz/corpus/blob
mkdir -p "$OUT_A" "$OUT_B"

# A small table with a string category, an integer category and missing cells (as tests/e2e's raw_csv).
awk 'BEGIN { srand(5); print "x,colour,size,target"; split("red green blue", c, " ")
  for (i = 0; i < 120; i++) { col = c[1 + i % 3]; x = rand() * 10
    y = (col == "red" || (col == "blue" && x > 5)) ? "yes" : "no"
    printf "%s,%s,%d,%s\n", (i % 17 == 0) ? "?" : sprintf("%.3f", x), (i % 23 == 0) ? "NA" : col, int(rand() * 3), y } }' > "$TMP/raw.csv"
"$AUTOML" import "$TMP/raw.csv" "$TMP/raw.h5" --target target --categorical size > /dev/null
cp datasets/iris.h5 "$TMP/iris.h5"
cp datasets/BostonHousing.h5 "$TMP/boston.h5"

# search NAME DATA MODEL STEPS: one trial of MODEL with the feature STEPS (a Lua list), exported.
search() {
  cat > "$TMP/$1.lua" <<LUA
return automl.search { data = "$2", models = { "$3" }, features = { $3 = $4 }, budget = { trials = 1 },
                       ensemble = false, seed = 1, export = { to = "$TMP/repo", name = "$1" } }
LUA
  "$AUTOML" search "$TMP/$1.lua" --out "$TMP/run_$1" --threads 1 > /dev/null 2>&1
}
search linear_pipeline "$TMP/raw.h5" linear '{ "impute", "onehot", "scale" }'
search knn_target_encode "$TMP/raw.h5" knn '{ "impute", "target_encode", "scale" }'
search mlp_pca "$TMP/raw.h5" mlp '{ "impute", "onehot", "pca" }'
search gbdt_select "$TMP/raw.h5" gbdt '{ "impute", "select" }'
search forest_raw "$TMP/raw.h5" forest '{}'
search naive_bayes_impute "$TMP/raw.h5" naive_bayes '{ "impute" }'
search discriminant_scale "$TMP/raw.h5" discriminant '{ "impute", "onehot", "scale" }'
for m in linear knn forest gbdt mlp naive_bayes discriminant; do
  set=()
  case $m in forest | gbdt) set=(--set n_trees=10) ;; esac # small blobs fuzz faster
  "$AUTOML" train "$TMP/iris.h5" --model "$m" "${set[@]}" --repo "$TMP/repo" --name "iris_$m" --threads 1 > /dev/null
done
for m in linear gbdt knn; do
  "$AUTOML" train "$TMP/boston.h5" --model "$m" --repo "$TMP/repo" --name "boston_$m" --threads 1 > /dev/null
done
cat > "$TMP/ens.lua" <<LUA
return automl.search { data = "$TMP/iris.h5", models = { "linear", "forest" }, budget = { trials = 6 }, seed = 1,
                       export = { to = "$TMP/repo", name = "ensemble" } }
LUA
"$AUTOML" search "$TMP/ens.lua" --out "$TMP/run_ens" --threads 1 > /dev/null 2>&1

/usr/bin/python3 - "$TMP/repo" "$OUT_A" "$OUT_B" <<'PY'
import hashlib, json, os, struct, sys
repo, out_a, out_b = sys.argv[1:4]
PLUGINS = ["linear", "knn", "forest", "gbdt", "mlp", "naive_bayes", "discriminant",
           "impute", "scale", "onehot", "pca", "select", "target_encode"]  # fuzz_blob.c's table

def take_str(b, o):
    n, = struct.unpack_from("<I", b, o)
    return b[o + 4:o + 4 + n].decode(), o + 4 + n

def blob_seed(name, plugin, kind, n_classes, flags, payload):
    if plugin not in PLUGINS or not 1 <= len(flags) <= 256:
        return
    head = bytes([PLUGINS.index(plugin), 0 if kind == 1 else 1, n_classes & 255, len(flags) - 1]) + bytes(flags)
    open(os.path.join(out_b, name), "wb").write(head + payload)

def walk_blob(b, tag):
    """Every plugin payload in a framed model blob (model.h), with the task it is loaded with."""
    o = 8
    major, minor, kind, n_classes = struct.unpack_from("<4I", b, o); o += 16
    nf, = struct.unpack_from("<q", b, o); o += 8
    flags = b[o:o + nf]; o += nf
    name, o = take_str(b, o); _, o = take_str(b, o); _, o = take_str(b, o)
    steps, = struct.unpack_from("<I", b, o); o += 4
    for i in range(steps):
        step, o = take_str(b, o); _, o = take_str(b, o)
        cols, = struct.unpack_from("<q", b, o); o += 8
        sflags = b[o:o + cols]; o += cols
        n, = struct.unpack_from("<Q", b, o); o += 8
        blob_seed("%s_step%d_%s" % (tag, i, step), step, kind, n_classes, sflags, b[o:o + n]); o += n
    if steps:
        cols, = struct.unpack_from("<q", b, o); o += 8
        flags = b[o:o + cols]; o += cols
    n, = struct.unpack_from("<Q", b, o); o += 8
    payload = b[o:o + n]
    if name == "ensemble":
        count, = struct.unpack_from("<I", payload, 0); p = 4
        for k in range(count):
            m, = struct.unpack_from("<Q", payload, p); p += 8
            walk_blob(payload[p:p + m], "%s_member%d" % (tag, k)); p += m
    else:
        blob_seed("%s_%s" % (tag, name), name, kind, n_classes, flags, payload)
        if len(payload) > 8:
            blob_seed("%s_%s_truncated" % (tag, name), name, kind, n_classes, flags, payload[:len(payload) // 2])

def artifact(path, manifest, blob):
    # The container holds manifest.json and model.bin only: reference.json leaves the file list.
    if isinstance(manifest, bytes):
        manifest = json.loads(manifest)
    manifest["files"].pop("reference.json", None)
    text = json.dumps(manifest, indent="\t").encode()
    open(os.path.join(out_a, path), "wb").write(text + b"\0" + blob)

def reseal(b):  # the blob's trailing sha256 (fuzz_artifact reseals only the outer one)
    return b[:-32] + hashlib.sha256(b[:-32]).digest()

arts = {}
for name in sorted(os.listdir(repo)):
    d = os.path.join(repo, name, "1")
    text = open(os.path.join(d, "manifest.json"), "rb").read()
    blob = open(os.path.join(d, "model.bin"), "rb").read()
    arts[name] = (json.loads(text), blob)
    artifact(name, text, blob)
    walk_blob(blob, name)

# Reproducers of issue 22 (each was a crash, a hang or a wrong answer before the fix).
m, blob = arts["iris_knn"]
def variant(tag, edit, base=m, b=blob):
    v = json.loads(json.dumps(base)); edit(v); artifact(tag, v, b)
variant("repro_classes_empty", lambda v: v.update(classes=[]))                      # fputs(NULL)
variant("repro_classes_1000", lambda v: v.update(classes=["c%d" % i for i in range(1000)]))  # heap overflow
variant("repro_classes_renamed", lambda v: v.update(classes=v["classes"][::-1]))
variant("repro_task_regression", lambda v: (v.update(task="regression"), v.pop("classes")))
variant("repro_format_version_abc", lambda v: v.update(format_version="abc"))      # atoi: format 1
variant("repro_format_version_2", lambda v: v.update(format_version="2.0"))
variant("repro_n_features", lambda v: v["input"]["features"].pop())
variant("repro_type_flip", lambda v: v["input"]["features"][0].update(type="categorical"))
variant("repro_model_plugin", lambda v: v["model"].update(plugin="gbdt"))
variant("repro_files_dotdot", lambda v: v["files"].update({"..": {"sha256": "0" * 64}}))
variant("repro_legacy_1_0", lambda v: v.update(format_version="1.0"))
rm, rblob = arts["linear_pipeline"]
def levels(v):
    f = [f for f in v["input"]["features"] if f["type"] == "categorical"][0]
    f["categories"] = f.get("categories", []) + [str(i) for i in range(100000)]
variant("repro_levels_100000", levels, rm, rblob)                                 # quadratic: 11 s
# An ensemble whose first member claims 4 classes: it predicts into a buffer sized for 3.
em, eblob = arts["ensemble"]
o = 8 + 16; nf, = struct.unpack_from("<q", eblob, o); o += 8 + nf
for _ in range(3):
    n, = struct.unpack_from("<I", eblob, o); o += 4 + n
o += 4 + 8  # no pipeline, the payload length
count, = struct.unpack_from("<I", eblob, o); mlen, = struct.unpack_from("<Q", eblob, o + 4)
start = o + 12
member = bytearray(eblob[start:start + mlen]); struct.pack_into("<I", member, 20, 4)
bad = bytearray(eblob); bad[start:start + mlen] = reseal(bytes(member))
artifact("repro_ensemble_member_classes", em, reseal(bytes(bad)))
# A knn blob with a NaN standardisation mean, and one with a NaN stored row: every distance NaN,
# no neighbour ranked, and the vote read label[-1] (found by fuzz_blob).
knn = bytearray(open(os.path.join(out_b, "iris_knn_knn"), "rb").read())
at = 4 + knn[3] + 1 + 48 + 8  # fuzz_blob's header, knn's blob_header and blob_metric: mean[0]
nan_mean = bytearray(knn); struct.pack_into("<d", nan_mean, at, float("nan"))
open(os.path.join(out_b, "repro_knn_nan_mean"), "wb").write(nan_mean)
nan_row = bytearray(knn); struct.pack_into("<f", nan_row, at + 2 * 8 * (knn[3] + 1), float("nan"))
open(os.path.join(out_b, "repro_knn_nan_row"), "wb").write(nan_row)
PY
echo "artifact: $(ls "$OUT_A" | wc -l) seeds, blob: $(ls "$OUT_B" | wc -l) seeds"
