# Writes the hostile HDF5 fixtures of tests/unit/test_hdf5_io.c and tests/e2e/test_data_limits.sh
# with h5py (run by hand, once: /usr/bin/python3 tests/data/h5/make_hostile.py): files whose
# declared sizes are not backed by data, values float32 cannot hold, and text that is not UTF-8.
# Each is also a seed of the hdf5 fuzz corpus (tests/fuzz/corpus/hdf5/). The tests read the
# committed files and do not need Python.
import os
import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


def small_xy(f):
    f["X"] = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    f["y"] = np.array([0, 1, 0])


# 2^62 x 4 float32 cells declared in a 1.4 KB file (chunked, no chunk written): n * p overflows.
with h5py.File(path("huge_declared.h5"), "w") as f:
    f.create_dataset("X", shape=(2**62, 4), dtype="f4", chunks=(1024, 4))

# 1e9 x 13 float32 (52 GB) declared, contiguous, never written: reads would be the fill value.
with h5py.File(path("unwritten_1e9.h5"), "w") as f:
    f.create_dataset("X", shape=(10**9, 13), dtype="f4")

# 3e8 x 13 (15.6 GB as float32): fits in some machines' memory, but not in the file.
with h5py.File(path("unwritten_3e8.h5"), "w") as f:
    f.create_dataset("X", shape=(3 * 10**8, 13), dtype="f8")

# Chunked, 1 of 10 chunks written: the other 90 rows would silently read as zeros.
with h5py.File(path("partial_chunks.h5"), "w") as f:
    x = f.create_dataset("X", shape=(100, 2), dtype="f4", chunks=(10, 2))
    x[0:10] = np.ones((10, 2), dtype=np.float32)

# A valid file whose /X is compressed 1000:1 (gzip, all chunks written): must load.
with h5py.File(path("gzip_zeros.h5"), "w") as f:
    f.create_dataset("X", data=np.zeros((20000, 5), dtype=np.float64), chunks=(5000, 5), compression="gzip")
    f.create_dataset("y", data=np.zeros(20000), chunks=(5000,), compression="gzip")

# /y and /weights declared but never written.
with h5py.File(path("unwritten_y.h5"), "w") as f:
    f["X"] = np.zeros((3, 2))
    f.create_dataset("y", shape=(3,), dtype="i8")
with h5py.File(path("unwritten_weights.h5"), "w") as f:
    small_xy(f)
    f.create_dataset("weights", shape=(3,), dtype="f8")

# 2^40 category levels and target names declared, none written.
with h5py.File(path("huge_categories.h5"), "w") as f:
    small_xy(f)
    f["feature_names"] = ["a", "b"]
    f.create_dataset("categories/a", shape=(2**40,), dtype=h5py.string_dtype(), chunks=(1024,))
with h5py.File(path("huge_target_names.h5"), "w") as f:
    small_xy(f)
    f.create_dataset("target_names", shape=(2**40,), dtype="S8", chunks=(1024,))

# Data outside the file: an external raw file (here /etc/hostname) read as /X.
with h5py.File(path("external_x.h5"), "w") as f:
    f.create_dataset("X", shape=(1, 2), dtype="f4", external=[("/etc/hostname", 0, 8)])

# float64 values float32 cannot hold (1e300 would become inf), and an infinity.
with h5py.File(path("x_1e300.h5"), "w") as f:
    f["X"] = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 1e300]])
    f["y"] = np.array([0, 1, 0])
    f["feature_names"] = ["a", "b"]
with h5py.File(path("x_inf.h5"), "w") as f:
    f["X"] = np.array([[1.0, -np.inf], [3.0, 4.0]])
with h5py.File(path("weights_1e300.h5"), "w") as f:
    small_xy(f)
    f["weights"] = np.array([1.0, 1e300, 1.0])

# Latin-1 bytes where UTF-8 text is expected: a feature name, a level, a class name, the target.
with h5py.File(path("latin1_feature_name.h5"), "w") as f:
    small_xy(f)
    f["feature_names"] = np.array([b"caf\xe9", b"b"])
with h5py.File(path("latin1_level.h5"), "w") as f:
    f["X"] = np.array([[0.0, 2.0], [1.0, 4.0]])
    f["feature_names"] = [b"colour", b"b"]
    f["categories/colour"] = np.array([b"rouge", b"\xe9t\xe9"])
with h5py.File(path("latin1_target_names.h5"), "w") as f:
    small_xy(f)
    f["target_names"] = np.array([b"oui", b"\xe9t\xe9"])
with h5py.File(path("latin1_target_attr.h5"), "w") as f:
    small_xy(f)
    f.attrs["target"] = np.bytes_(b"r\xe9sultat")

# Two codes naming the same level: a model would merge them when it reads text back.
with h5py.File(path("duplicate_levels.h5"), "w") as f:
    f["X"] = np.array([[0.0, 2.0], [1.0, 4.0]])
    f["feature_names"] = [b"colour", b"b"]
    f["categories/colour"] = np.array([b"red", b"red"])
