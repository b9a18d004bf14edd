"""scikit-learn HistGradientBoosting on the gbdt bench data at a given thread count, with the same
settings as bench/gbdt/peers.py (100 trees, depth 6, 63 leaves, 255 bins, no early stopping): the
reference for bench/scaling/run.sh. Prints one line: fit seconds and AUC."""
import os
import sys
import time

threads = sys.argv[2]
os.environ["OMP_NUM_THREADS"] = threads
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["X"], dtype=np.float32), np.asarray(f["y"])


Xtr, ytr = load(sys.argv[1] + "_train.h5")
Xte, yte = load(sys.argv[1] + "_test.h5")
hgb = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=63, max_depth=6,
                                     max_bins=255, early_stopping=False, random_state=0)
t0 = time.perf_counter()
hgb.fit(Xtr, ytr)
t = time.perf_counter() - t0
print("sklearn_hgb threads=%s fit_s=%.3f auc=%.4f" % (threads, t, roc_auc_score(yte, hgb.predict_proba(Xte)[:, 1])))
