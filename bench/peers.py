"""scikit-learn peers of bench_learners: the same datasets, splits, settings and timing rules
(best of R runs of the timed call alone), one JSON line per measurement.

  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/peers.py DATA_DIR [repeat] [knn_queries] [raw]

LogisticRegression(lbfgs, C=1, tol=1e-4, max_iter=200) and Ridge(alpha=1) on the raw features, as
a user calls them (the automl plugin standardises internally); KNeighborsClassifier(n_neighbors=5,
algorithm='brute') behind a StandardScaler, so both sides find the same neighbours (the automl
plugin standardises too). The raw-feature kNN accuracy is reported as raw_score (not timed)."""
import json
import os
import sys
import time
import warnings

import h5py
import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore", category=ConvergenceWarning)


def load(d, name, part):
    with h5py.File(os.path.join(d, f"{name}_{part}.h5"), "r") as f:
        return f["X"][()], f["y"][()]


def report(dataset, learner, phase, ntr, nev, nf, seconds, cpu_seconds, score, extra=None):
    row = {"side": "sklearn", "dataset": dataset, "learner": learner, "phase": phase, "train_rows": int(ntr),
           "eval_rows": int(nev), "features": int(nf), "threads": int(os.environ.get("OMP_NUM_THREADS", "0")),
           "seconds": seconds, "cpu_seconds": cpu_seconds, "score": float(score)}
    if extra:
        row.update(extra)
    print(json.dumps(row), flush=True)


def bench_fit(d, dataset, learner, make, repeat):
    Xtr, ytr = load(d, dataset, "train")
    Xte, yte = load(d, dataset, "test")
    best, best_cpu, model = float("inf"), float("inf"), None
    for _ in range(repeat):
        model = make()
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(Xtr, ytr)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    extra = {"n_iter": int(np.max(model.n_iter_))} if hasattr(model, "n_iter_") and model.n_iter_ is not None else None
    report(dataset, learner, "fit", len(ytr), len(yte), Xtr.shape[1], best, best_cpu, model.score(Xte, yte), extra)


def bench_knn(d, dataset, repeat, queries, raw_score):
    Xtr, ytr = load(d, dataset, "train")
    Xte, yte = load(d, dataset, "test")
    if queries and queries < len(yte):
        Xte, yte = Xte[:queries], yte[:queries]
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5, algorithm="brute")).fit(Xtr, ytr)
    best, best_cpu, pred = float("inf"), float("inf"), None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        pred = model.predict(Xte)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    extra = None
    if raw_score:
        raw = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(Xtr, ytr).predict(Xte)
        extra = {"raw_score": float(np.mean(raw == yte))}
    report(dataset, "knn", "predict", len(ytr), len(yte), Xtr.shape[1], best, best_cpu, np.mean(pred == yte), extra)


def main():
    d = sys.argv[1]
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    queries = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    raw_score = len(sys.argv) > 4 and sys.argv[4] == "1"  # also score kNN on unscaled features (untimed)
    logistic = lambda: LogisticRegression(C=1.0, tol=1e-4, max_iter=200, solver="lbfgs")
    bench_fit(d, "synth_clf", "logistic", logistic, repeat)
    bench_fit(d, "synth_reg", "ridge", lambda: Ridge(alpha=1.0), repeat)
    bench_knn(d, "synth_clf", min(repeat, 2), queries, raw_score)
    bench_fit(d, "digits", "logistic", logistic, repeat * 3)
    bench_knn(d, "digits", repeat * 3, 0, raw_score)
    print(json.dumps({"side": "sklearn", "version": sklearn.__version__, "numpy": np.__version__}), flush=True)


if __name__ == "__main__":
    main()
