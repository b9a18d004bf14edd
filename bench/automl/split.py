#!/usr/bin/python3
"""Writes the fixed 75/25 split (train_test_split, random_state=0 or SEED, stratified for
classification) of one dataset as two HDF5 files in automl's schema, read by automl and by the
peers alike.

  split.py DATA.h5 OUT_DIR NAME [SEED]    (DATA.h5: an automl- or h5py-written table with /X and /y)
"""
import sys

import h5py
import numpy as np
from sklearn.model_selection import train_test_split

src, out, name = sys.argv[1:4]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
with h5py.File(src, "r") as f:
    X = f["X"][()].astype(np.float32)
    y = f["y"][()]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["feature_names"][()]] if "feature_names" in f else None
    cat = f["categorical_idx"][()] if "categorical_idx" in f else None
classification = np.issubdtype(y.dtype, np.integer)
tr, te = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed,
                          stratify=y if classification else None)
for part, idx in (("train", tr), ("test", te)):
    with h5py.File(f"{out}/{name}.{part}.h5", "w") as g:
        g["X"] = X[idx]
        g["y"] = y[idx].astype(np.int64 if classification else np.float64)
        if names is not None:
            g["feature_names"] = np.array(names, dtype=h5py.string_dtype())
        if cat is not None and len(cat):
            g["categorical_idx"] = np.asarray(cat, dtype=np.int64)
print("classification" if classification else "regression")
