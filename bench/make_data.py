"""Writes the benchmark datasets as train/test HDF5 pairs in the engine's schema (DESIGN.md 4):
/X float32 [rows, features], /y int64 class codes or float64 values.

  synth_clf  sklearn make_classification(200000 x 100, 30 informative, 2 classes, random_state=0)
  synth_reg  sklearn make_regression(200000 x 100, 30 informative, noise=10, random_state=0)
  digits     sklearn load_digits (1797 x 64, 10 classes)

Split: train_test_split(test_size=0.25, random_state=0), stratified for classification, the
split the project's benchmarks quote. Run with /usr/bin/python3 (scikit-learn 1.2.1, h5py)."""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.model_selection import train_test_split


def write(path, X, y):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("X", data=np.ascontiguousarray(X, dtype=np.float32))
        f.create_dataset("y", data=y)
    os.replace(tmp, path)


def split_and_write(out, name, X, y, classification):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=y if classification else None)
    write(os.path.join(out, name + "_train.h5"), Xtr, ytr)
    write(os.path.join(out, name + "_test.h5"), Xte, yte)


def main(out):
    os.makedirs(out, exist_ok=True)
    X, y = make_classification(n_samples=200000, n_features=100, n_informative=30, n_redundant=10,
                               n_classes=2, random_state=0)
    split_and_write(out, "synth_clf", X.astype(np.float32), y.astype(np.int64), True)
    X, y = make_regression(n_samples=200000, n_features=100, n_informative=30, noise=10.0, random_state=0)
    split_and_write(out, "synth_reg", X.astype(np.float32), y.astype(np.float64), False)
    d = load_digits()
    split_and_write(out, "digits", d.data.astype(np.float32), d.target.astype(np.int64), True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-data")
