#!/usr/bin/python3
"""scikit-learn 1.2's defaults on one dataset's split (split.py): HistGradientBoosting,
RandomForest, and LogisticRegression or Ridge behind imputation + scaling, each fitted on the
training part and scored on the test part (accuracy or R²). Used by peers.py and splits.sh;
on its own it prints one JSON object {"hgb": ..., "rf": ..., "linear": ...}.

  OMP_NUM_THREADS=2 sklearn_defaults.py DIR NAME TASK
"""
import json
import sys
import time

import h5py
import numpy as np
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler


def load(d, name, task):
    """(Xtr, ytr, Xte, yte) of the split, class labels encoded as 0..k-1."""
    part = lambda p: [h5py.File(f"{d}/{name}.{p}.h5", "r")[k][()] for k in ("X", "y")]
    Xtr, ytr = part("train")
    Xte, yte = part("test")
    if task == "classification":
        enc = LabelEncoder().fit(np.concatenate([ytr, yte]))
        ytr, yte = enc.transform(ytr), enc.transform(yte)
    return Xtr, ytr, Xte, yte


def score(task, y, p):
    return accuracy_score(y, p) if task == "classification" else r2_score(y, p)


def defaults(Xtr, ytr, Xte, yte, task):
    """{label: (test score, fit seconds)} for the three defaults."""
    clf = task == "classification"
    results = {}
    for label, model in (
            ("hgb", HistGradientBoostingClassifier() if clf else HistGradientBoostingRegressor()),
            # scikit-learn 1.2's forests reject NaN: impute first
            ("rf", make_pipeline(SimpleImputer(), RandomForestClassifier(n_jobs=2, random_state=0) if clf
                                 else RandomForestRegressor(n_jobs=2, random_state=0))),
            ("linear", make_pipeline(SimpleImputer(), StandardScaler(),
                                     LogisticRegression(max_iter=1000) if clf else Ridge()))):
        t = time.time()
        model.fit(Xtr, ytr)
        results[label] = (score(task, yte, model.predict(Xte)), time.time() - t)
    return results


if __name__ == "__main__":
    d, name, task = sys.argv[1:4]
    r = defaults(*load(d, name, task), task)
    print(json.dumps({k: v[0] for k, v in r.items()}))
