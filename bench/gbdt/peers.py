"""XGBoost 1.7 (tree_method=hist) and scikit-learn 1.2 HistGradientBoosting on the gbdt bench data,
with the settings of the issue: 2 threads, 256 bins (255 for scikit-learn, its maximum), depth 6
(63 leaves for the leaf-capped learners), learning rate 0.1, N trees, no early stopping. Fit time
includes building XGBoost's DMatrix (its bins are built inside train). One JSON line per run.

    /usr/bin/python3 bench/gbdt/peers.py DATA_DIR NAME TREES THREADS [--predict] [--no-sklearn]"""
import json
import os
import sys
import time

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        return np.ascontiguousarray(f["X"][:], dtype=np.float32), f["y"][:].astype(np.int64)


def main():
    out_dir, name, trees, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    predict = "--predict" in sys.argv
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    Xtr, ytr = load(os.path.join(out_dir, name + "_train.h5"))
    Xte, yte = load(os.path.join(out_dir, name + "_test.h5"))
    k = int(ytr.max()) + 1

    def score(p):
        if k == 2:
            return "auc", roc_auc_score(yte, p if p.ndim == 1 else p[:, 1])
        return "accuracy", accuracy_score(yte, p.argmax(axis=1))

    params = {"tree_method": "hist", "nthread": threads, "max_bin": 256, "max_depth": 6, "eta": 0.1,
              "objective": "binary:logistic" if k == 2 else "multi:softprob", "verbosity": 0}
    if k > 2:
        params["num_class"] = k
    t0, c0 = time.perf_counter(), time.process_time()
    dtrain = xgb.DMatrix(Xtr, label=ytr, nthread=threads)
    booster = xgb.train(params, dtrain, num_boost_round=trees)
    t, ct = time.perf_counter() - t0, time.process_time() - c0
    p = booster.predict(xgb.DMatrix(Xte, nthread=threads))
    metric, s = score(p)
    rec = {"dataset": name, "side": "xgboost", "fit_s": round(t, 4), "fit_cpu_s": round(ct, 4), "metric": metric,
           "score": round(float(s), 6), "trees": trees, "threads": threads}
    if predict:
        booster.set_param({"nthread": 1})
        Q = np.ascontiguousarray(np.resize(Xte, (100000, Xte.shape[1])))
        best = min(timed(lambda: booster.inplace_predict(Q)) for _ in range(3))
        row = Q[:1]
        n1 = 2000
        t1 = min(timed(lambda: [booster.inplace_predict(Q[i:i + 1]) for i in range(n1)]) for _ in range(2))
        rec["predict_batch_us_row"] = round(1e6 * best / len(Q), 4)
        rec["predict_row_us"] = round(1e6 * t1 / n1, 4)
        del row
    print(json.dumps(rec), flush=True)
    if "--no-sklearn" in sys.argv:
        return
    hgb = HistGradientBoostingClassifier(max_iter=trees, learning_rate=0.1, max_leaf_nodes=63, max_depth=6,
                                         max_bins=255, early_stopping=False, random_state=0)
    t0, c0 = time.perf_counter(), time.process_time()
    hgb.fit(Xtr, ytr)
    t, ct = time.perf_counter() - t0, time.process_time() - c0
    metric, s = score(hgb.predict_proba(Xte))
    print(json.dumps({"dataset": name, "side": "sklearn_hgb", "fit_s": round(t, 4), "fit_cpu_s": round(ct, 4),
                      "metric": metric, "score": round(float(s), 6), "trees": trees, "threads": threads}), flush=True)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
