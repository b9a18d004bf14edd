#!/usr/bin/python3
"""The peers of the AutoML benchmark, on one dataset's fixed split, one after the other:
  optuna  — Optuna 3.1 TPE (seed 0) over XGBoost 1.7 hist hyperparameters, 5-fold CV on the
            training part, stopped at the budget (checked between trials, as Optuna does), then
            the best configuration refitted on the training part and scored on the test part;
  sklearn — scikit-learn 1.2 defaults (sklearn_defaults.py: HistGradientBoosting, RandomForest,
            and LogisticRegression or Ridge behind imputation + scaling), each fitted on the
            training part; the best test score of the three is reported (generous to the peer).
Prints one JSON object (Optuna's alone with --optuna-only, for splits.sh, which fits the defaults
itself).

  OMP_NUM_THREADS=2 peers.py DIR NAME TASK BUDGET_SECONDS [--optuna-only]
"""
import json
import sys
import time

import optuna
import xgboost as xgb

from sklearn_defaults import cv_score, defaults, load, score

d, name, task, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
Xtr, ytr, Xte, yte = load(d, name, task)
clf = task == "classification"
optuna.logging.set_verbosity(optuna.logging.WARNING)


def xgb_model(p):
    common = dict(tree_method="hist", n_jobs=2, random_state=0, **p)
    return xgb.XGBClassifier(**common) if clf else xgb.XGBRegressor(**common)


def objective(trial):
    p = dict(n_estimators=trial.suggest_int("n_estimators", 50, 500, log=True),
             max_depth=trial.suggest_int("max_depth", 2, 12),
             learning_rate=trial.suggest_float("learning_rate", 0.01, 0.5, log=True),
             subsample=trial.suggest_float("subsample", 0.5, 1.0),
             colsample_bytree=trial.suggest_float("colsample_bytree", 0.3, 1.0),
             min_child_weight=trial.suggest_float("min_child_weight", 0.5, 20, log=True),
             reg_lambda=trial.suggest_float("reg_lambda", 1e-3, 10, log=True),
             reg_alpha=trial.suggest_float("reg_alpha", 1e-3, 10, log=True))
    return cv_score(xgb_model(p), Xtr, ytr, task)


t0 = time.time()
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, timeout=budget)
best = xgb_model(study.best_params).fit(Xtr, ytr)
optuna_score = score(task, yte, best.predict(Xte))
optuna_wall = time.time() - t0

out = dict(optuna=optuna_score, optuna_trials=len(study.trials), optuna_wall=optuna_wall)
if sys.argv[5:] != ["--optuna-only"]:
    results = defaults(Xtr, ytr, Xte, yte, task)
    best_label = max(results, key=lambda k: results[k][0])
    out.update(sklearn=results[best_label][0], sklearn_model=best_label,
               sklearn_scores={k: v[0] for k, v in results.items()})
print(json.dumps(out))
