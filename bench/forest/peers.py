"""scikit-learn peers of the forest benchmark: RandomForestClassifier and ExtraTreesClassifier
(200 trees, n_jobs=THREADS, their defaults otherwise) on the files bench/forest/make_data.py
wrote. Prints one JSON line per measurement: best fit wall time of R fits, the process CPU time
of that fit, and the test accuracy of the last fit.

  /usr/bin/python3 bench/forest/peers.py DATA_DIR THREADS REPEAT [--only DATASET/LEARNER]"""
import json
import os
import sys
import time

import h5py
import numpy as np
import sklearn
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier


def load(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["X"], dtype=np.float32), np.asarray(f["y"])


def main(data, threads, repeat, only):
    print(json.dumps({"side": "sklearn", "version": sklearn.__version__, "numpy": np.__version__}), flush=True)
    for ds in ("satellite", "digits"):
        Xtr, ytr = load(os.path.join(data, ds + "_train.h5"))
        Xte, yte = load(os.path.join(data, ds + "_test.h5"))
        for learner, cls in (("rf", RandomForestClassifier), ("et", ExtraTreesClassifier)):
            if only and only != ds + "/" + learner:
                continue
            best, best_cpu, score = float("inf"), float("inf"), float("nan")
            for r in range(repeat):
                m = cls(n_estimators=200, n_jobs=threads, random_state=r)
                t0, c0 = time.perf_counter(), time.process_time()
                m.fit(Xtr, ytr)
                t, tc = time.perf_counter() - t0, time.process_time() - c0
                if t < best:
                    best, best_cpu = t, tc
                score = float((m.predict(Xte) == yte).mean())
            print(json.dumps({"side": "sklearn", "dataset": ds, "learner": learner, "train_rows": len(ytr),
                              "eval_rows": len(yte), "features": Xtr.shape[1], "threads": threads,
                              "seconds": best, "cpu_seconds": best_cpu, "score": score}), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = args[i + 1]
        del args[i:i + 2]
    main(args[0], int(args[1]), int(args[2]), only)
