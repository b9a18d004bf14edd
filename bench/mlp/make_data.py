"""Writes the MLP benchmark data: a 60 000 x 784 training set and a 10 000 x 784 test set made from
scikit-learn's 8x8 digits, upsampled to 28x28 (bilinear), shifted by up to 2 pixels, scaled in
intensity and perturbed with Gaussian noise (fixed seed). Training rows come from 75 % of the
digit images, test rows from the other 25 %, so the test measures generalisation, not recall.

    /usr/bin/python3 bench/mlp/make_data.py OUT_DIR      -> OUT_DIR/mnistlike_{train,test}.h5
"""
import os
import sys

import h5py
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def upsample(images):
    """Bilinear 8x8 -> 28x28, values in [0, 1]."""
    src = np.linspace(0, 7, 28)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, 7)
    f = src - i0
    img = images / 16.0
    rows = img[:, i0, :] * (1 - f)[None, :, None] + img[:, i1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]


def make(images, labels, n, rng):
    pick = rng.integers(0, len(images), n)
    base = upsample(images[pick])
    out = np.zeros((n, 28, 28), dtype=np.float32)
    shifts = rng.integers(-2, 3, size=(n, 2))
    for i in range(n):
        out[i] = np.roll(base[i], tuple(shifts[i]), axis=(0, 1))
    out *= rng.uniform(0.8, 1.2, size=(n, 1, 1)).astype(np.float32)
    out += rng.normal(0, 0.1, size=out.shape).astype(np.float32)
    np.clip(out, 0, 1, out=out)
    return out.reshape(n, 784), labels[pick].astype(np.int32)


def write(path, X, y):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X.astype(np.float32))
        f.create_dataset("y", data=y)
        f.create_dataset("target_names", data=np.array([str(c).encode() for c in range(10)]))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    d = load_digits()
    img_tr, img_te, y_tr, y_te = train_test_split(d.images, d.target, test_size=0.25, random_state=0,
                                                  stratify=d.target)
    rng = np.random.default_rng(0)
    Xtr, ytr = make(img_tr, y_tr, 60000, rng)
    Xte, yte = make(img_te, y_te, 10000, rng)
    write(os.path.join(out, "mnistlike_train.h5"), Xtr, ytr)
    write(os.path.join(out, "mnistlike_test.h5"), Xte, yte)
    print(f"wrote {out}/mnistlike_{{train,test}}.h5: {Xtr.shape} / {Xte.shape}", file=sys.stderr)


if __name__ == "__main__":
    main()
