"""Writes the forest benchmark datasets as train/test HDF5 pairs in the engine's schema
(DESIGN.md 4): /X float32 [rows, features], /y int64 class codes.

  satellite  /work/shared/datasets/Satellite.h5 (6435 x 36, 6 classes; Landsat, mlbench)
  digits     sklearn load_digits (1797 x 64, 10 classes)

Split: train_test_split(test_size=0.25, random_state=0, stratify=y), written once and read by
both sides. Run with /usr/bin/python3 (scikit-learn 1.2.1, h5py)."""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SATELLITE = "/work/shared/datasets/Satellite.h5"


def write(path, X, y):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("X", data=np.ascontiguousarray(X, dtype=np.float32))
        f.create_dataset("y", data=np.asarray(y, dtype=np.int64))
    os.replace(tmp, path)


def split_and_write(out, name, X, y):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    write(os.path.join(out, name + "_train.h5"), Xtr, ytr)
    write(os.path.join(out, name + "_test.h5"), Xte, yte)


def main(out):
    os.makedirs(out, exist_ok=True)
    with h5py.File(SATELLITE, "r") as f:
        X = np.asarray(f["X"], dtype=np.float32)
        y = np.asarray(f["y"])
    # class codes 0..k-1 in order of the original codes
    _, y = np.unique(y, return_inverse=True)
    split_and_write(out, "satellite", X, y)
    d = load_digits()
    split_and_write(out, "digits", d.data.astype(np.float32), d.target)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-data")
