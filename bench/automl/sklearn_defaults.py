#!/usr/bin/python3
"""scikit-learn 1.2's defaults on one dataset's split (split.py): HistGradientBoosting,
RandomForest, and LogisticRegression or Ridge behind imputation + scaling, each fitted on the
training part and scored on the test part (accuracy or R²). Used by peers.py and splits.sh;
on its own it prints one JSON object {"hgb": ..., "rf": ..., "linear": ...}; with --cv also
"cv" (each default's mean 5-fold CV score on the training part) and "picked_by_cv" (the test
score of the default a user picking by that CV would get).

  OMP_NUM_THREADS=2 sklearn_defaults.py DIR NAME TASK [--cv]
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
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
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


def models(task):
    """[(label, unfitted estimator)] for the three defaults."""
    clf = task == "classification"
    return [("hgb", HistGradientBoostingClassifier() if clf else HistGradientBoostingRegressor()),
            # scikit-learn 1.2's forests reject NaN: impute first
            ("rf", make_pipeline(SimpleImputer(), RandomForestClassifier(n_jobs=2, random_state=0) if clf
                                 else RandomForestRegressor(n_jobs=2, random_state=0))),
            ("linear", make_pipeline(SimpleImputer(), StandardScaler(),
                                     LogisticRegression(max_iter=1000) if clf else Ridge()))]


def defaults(Xtr, ytr, Xte, yte, task):
    """{label: (test score, fit seconds)} for the three defaults."""
    results = {}
    for label, model in models(task):
        t = time.time()
        model.fit(Xtr, ytr)
        results[label] = (score(task, yte, model.predict(Xte)), time.time() - t)
    return results


def cv_score(model, Xtr, ytr, task):
    """model's mean 5-fold CV score on the training part (shuffled folds, random_state 0,
    stratified for classification): the folds the Optuna peer tunes on, and those a user would
    pick a default by."""
    clf = task == "classification"
    cv = StratifiedKFold(5, shuffle=True, random_state=0) if clf else KFold(5, shuffle=True, random_state=0)
    return cross_val_score(model, Xtr, ytr, cv=cv, scoring="accuracy" if clf else "r2").mean()


def cv_scores(Xtr, ytr, task):
    """{label: cv_score} for the three defaults: how a user would pick one of them without the
    test part."""
    return {label: cv_score(model, Xtr, ytr, task) for label, model in models(task)}


if __name__ == "__main__":
    d, name, task = sys.argv[1:4]
    data = load(d, name, task)
    r = {k: v[0] for k, v in defaults(*data, task).items()}
    if "--cv" in sys.argv[4:]:
        cv = cv_scores(data[0], data[1], task)
        r["cv"] = cv
        r["picked_by_cv"] = r[max(cv, key=cv.get)]
    print(json.dumps(r))
