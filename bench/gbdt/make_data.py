"""Writes the gbdt benchmark datasets once as HDF5 (/X float32, /y int64), read by both sides:
synth (make_classification, binary, 50 features, fixed seed; N training rows + N/4 test rows),
digits (datasets/digits.csv) and Satellite (/work/shared/datasets/Satellite.h5), each split
75/25 stratified with random_state=0.

    /usr/bin/python3 bench/gbdt/make_data.py OUT_DIR N_TRAIN"""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split


def write(path, X, y):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("X", data=np.ascontiguousarray(X, dtype=np.float32))
        f.create_dataset("y", data=np.asarray(y, dtype=np.int64))
    os.replace(tmp, path)


def split(name, X, y, out):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    write(os.path.join(out, name + "_train.h5"), Xtr, ytr)
    write(os.path.join(out, name + "_test.h5"), Xte, yte)


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    name = "synth%d" % n
    if not os.path.exists(os.path.join(out, name + "_test.h5")):
        X, y = make_classification(n_samples=n + n // 4, n_features=50, n_informative=20, n_redundant=10,
                                   n_clusters_per_class=4, flip_y=0.02, class_sep=0.8, random_state=0)
        X = X.astype(np.float32)
        write(os.path.join(out, name + "_train.h5"), X[:n], y[:n])
        write(os.path.join(out, name + "_test.h5"), X[n:], y[n:])
    if not os.path.exists(os.path.join(out, "digits_test.h5")):
        d = np.loadtxt(os.path.join(root, "datasets", "digits.csv"), delimiter=",", skiprows=1)
        split("digits", d[:, :-1], d[:, -1].astype(np.int64), out)
    if not os.path.exists(os.path.join(out, "satellite_test.h5")):
        with h5py.File("/work/shared/datasets/Satellite.h5", "r") as f:
            X, y = f["X"][:], np.unique(f["y"][:], return_inverse=True)[1]
        split("satellite", X, y, out)


if __name__ == "__main__":
    main()
