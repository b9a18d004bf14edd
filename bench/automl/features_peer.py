#!/usr/bin/python3
"""The peer of issue 6's accuracy bars: scikit-learn's SimpleImputer + OneHotEncoder (categorical
columns, from /categorical_idx) + HistGradientBoosting pipeline, fitted on the training part of a
fixed split (split.py) and scored on the test part. Prints the accuracy.

  features_peer.py DIR NAME
"""
import sys

import h5py
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

d, name = sys.argv[1:3]
f_tr, f_te = h5py.File(f"{d}/{name}.train.h5", "r"), h5py.File(f"{d}/{name}.test.h5", "r")
Xtr, ytr, Xte, yte = f_tr["X"][()], f_tr["y"][()], f_te["X"][()], f_te["y"][()]
cat = list(f_tr["categorical_idx"][()]) if "categorical_idx" in f_tr else []
num = [j for j in range(Xtr.shape[1]) if j not in cat]
pre = ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), num),
    ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), cat),
])
model = make_pipeline(pre, HistGradientBoostingClassifier(random_state=0)).fit(Xtr, ytr)
print(f"{accuracy_score(yte, model.predict(Xte)):.4f}")
