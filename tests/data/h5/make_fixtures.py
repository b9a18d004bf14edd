# Writes the small HDF5 fixtures of tests/unit/test_hdf5_io.c with h5py (run by hand, once:
# /usr/bin/python3 tests/data/h5/make_fixtures.py). The tests read the committed files and do
# not need Python.
import os
import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


with h5py.File(path("x_1d.h5"), "w") as f:
    f["X"] = np.arange(4, dtype=np.float64)
    f["y"] = np.arange(4, dtype=np.int64)

with h5py.File(path("x_string.h5"), "w") as f:
    f["X"] = np.array([[b"a", b"b"], [b"c", b"d"]])

with h5py.File(path("no_x.h5"), "w") as f:
    f["y"] = np.arange(4, dtype=np.int64)

with h5py.File(path("y_mismatch.h5"), "w") as f:
    f["X"] = np.zeros((12, 2), dtype=np.float32)
    f["y"] = np.zeros(10, dtype=np.int64)

with h5py.File(path("y_nan_class.h5"), "w") as f:
    f["X"] = np.zeros((3, 1), dtype=np.float64)
    f["y"] = np.array([0.0, np.nan, 1.0])
    f.attrs["task"] = "classification"

with h5py.File(path("bad_feature_types.h5"), "w") as f:
    f["X"] = np.zeros((2, 2), dtype=np.float64)
    f["y"] = np.array([0.5, 1.5])
    f["feature_types"] = np.array([b"numeric", b"numerical"])

with h5py.File(path("bad_categorical_idx.h5"), "w") as f:
    f["X"] = np.zeros((2, 2), dtype=np.float64)
    f["y"] = np.array([0, 1])
    f["categorical_idx"] = np.array([0, 2], dtype=np.int64)

with h5py.File(path("categorical_fraction.h5"), "w") as f:
    f["X"] = np.array([[0.0, 1.0], [0.5, 2.0]])
    f["y"] = np.array([0, 1])
    f["categorical_idx"] = np.array([0], dtype=np.int64)

with h5py.File(path("target_names_short.h5"), "w") as f:
    f["X"] = np.zeros((3, 1), dtype=np.float32)
    f["y"] = np.array([0, 1, 5])
    f["target_names"] = np.array([b"a", b"b"])

# Fixed-length (numpy 'S') strings, float32 X, int32 y with gaps in the codes, categories by
# name, target names, weights, and the "target" attribute: everything the reader accepts.
with h5py.File(path("full_fixed.h5"), "w") as f:
    f["X"] = np.array([[1.5, 0, np.nan], [2.5, 1, 7], [np.nan, 2, 8], [4.0, np.nan, 9]], dtype=np.float32)
    f["y"] = np.array([3, 1, 3, 7], dtype=np.int32)
    f["feature_names"] = np.array([b"length", b"colour", b"count"])
    f["feature_types"] = np.array([b"numeric", b"categorical", b"numeric"])
    f["categories/colour"] = np.array([b"red", b"green", b"blue"])
    f["target_names"] = np.array([b"c0", b"c1", b"c2", b"c3", b"c4", b"c5", b"c6", b"c7"])
    f["weights"] = np.array([1, 2, 0.5, 1], dtype=np.float64)
    f.attrs["target"] = "kind"

# Regression with float64 y and no optional datasets at all.
with h5py.File(path("minimal_regression.h5"), "w") as f:
    f["X"] = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float64)
    f["y"] = np.array([0.25, -1.5, 3.0])

# No /y: rows to predict.
with h5py.File(path("no_target.h5"), "w") as f:
    f["X"] = np.array([[1, 2], [3, 4]], dtype=np.float64)
    f["feature_names"] = ["a", "b"]

with open(path("not_hdf5.h5"), "w") as f:
    f.write("a,b,target\n1,2,3\n")
