"""scikit-learn's MLPClassifier on the same MNIST-like data as bench_mlp, same architecture, batch,
epochs, Adam settings and L2, with early stopping off and a tolerance that never stops it early.
Inputs go through StandardScaler first (the automl plugin standardises inside the model), inside
the timed fit. Prints one JSON line per dtype (float32: the file's; float64: numpy's default).

    /usr/bin/python3 bench/mlp/peer.py DATA_DIR EPOCHS REPEAT [HIDDEN] [BATCH]
"""
import json
import os
import sys
import time
import warnings

import h5py
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(path):
    with h5py.File(path, "r") as f:
        return f["X"][()], f["y"][()]


def main():
    data, epochs, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hidden = sys.argv[4] if len(sys.argv) > 4 else "256:128"
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    layers = tuple(int(w) for w in hidden.split(":"))
    Xtr, ytr = load(os.path.join(data, "mnistlike_train.h5"))
    Xte, yte = load(os.path.join(data, "mnistlike_test.h5"))
    warnings.simplefilter("ignore", ConvergenceWarning)
    for dtype in (np.float32, np.float64):
        Xa, Xb = Xtr.astype(dtype), Xte.astype(dtype)
        best, best_cpu, acc = float("inf"), float("inf"), 0.0
        for r in range(repeat):
            model = make_pipeline(
                StandardScaler(),
                MLPClassifier(hidden_layer_sizes=layers, batch_size=batch, max_iter=epochs, solver="adam",
                              learning_rate_init=1e-3, alpha=1e-4, early_stopping=False, tol=1e-30,
                              n_iter_no_change=epochs + 1, shuffle=True, random_state=r))
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(Xa, ytr)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            best, best_cpu = min(best, dt), min(best_cpu, dc)
            acc = float((model.predict(Xb) == yte).mean())
            n_iter = model[-1].n_iter_
            print(f"scikit-learn MLP {np.dtype(dtype).name} fit {r + 1}/{repeat}: {dt:.3f} s, {dc:.3f} s CPU, "
                  f"{n_iter} epochs, test accuracy {acc:.4f}", file=sys.stderr)
        print(json.dumps({"what": "mlp_fit", "side": "sklearn", "dtype": np.dtype(dtype).name, "hidden": hidden,
                          "batch": batch, "epochs": int(n_iter), "seconds": round(best, 4),
                          "cpu_seconds": round(best_cpu, 4), "accuracy": round(acc, 4)}), flush=True)


if __name__ == "__main__":
    main()
