"""Writes the "## mlp" section of bench/RESULTS.md from bench_mlp's and peer.py's JSON lines
(several alternating rounds: the best of each side is kept). Only that section is replaced.

    /usr/bin/python3 bench/mlp/report.py automl.jsonl sklearn.jsonl RESULTS.md LOADAVG_BEFORE
"""
import datetime
import json
import os
import platform
import subprocess
import sys


def lines_of(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.startswith("{")]


def cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def main():
    ours_lines, peer_lines, results = lines_of(sys.argv[1]), lines_of(sys.argv[2]), sys.argv[3]
    load_before = sys.argv[4] if len(sys.argv) > 4 else "?"
    threads = max(r["threads"] for r in ours_lines if r["what"] == "mlp_fit")
    fits = [r for r in ours_lines if r["what"] == "mlp_fit" and r["threads"] == threads]
    peaks = [r for r in ours_lines if r["what"] == "sgemm_peak" and r["threads"] == threads]
    ours = min(fits, key=lambda r: r["seconds"])
    ours_cpu = min(r["cpu_seconds"] for r in fits)
    peak = max(r["step_gflops"] for r in peaks)
    square = max(r["square1024_gflops"] for r in peaks)
    one = [r for r in ours_lines if r["what"] == "mlp_fit" and r["threads"] == 1] if threads > 1 else []
    one_peak = max([r["step_gflops"] for r in ours_lines if r["what"] == "sgemm_peak" and r["threads"] == 1] or [0])
    one_wall = max([r["gemm_gflop_per_epoch"] * r["epochs"] / r["seconds"] for r in one] or [0])
    one_cpu = max([r["gemm_gflop_per_epoch"] * r["epochs"] / r["cpu_seconds"] for r in one] or [0])
    shapes = {}
    for r in ours_lines:
        if r["what"] == "sgemm_shape":
            key = (r["op"], r["M"], r["N"], r["K"])
            best = max(v for k, v in r.items() if k.startswith("gflops_"))
            shapes[key] = max(shapes.get(key, 0), best)
    achieved = ours["gemm_gflop_per_epoch"] * ours["epochs"] / ours["seconds"]
    frac = achieved / peak
    # with CPU seconds (all threads): the GEMMs' share of the work, insensitive to waiting on a busy machine
    frac_cpu = ours["gemm_gflop_per_epoch"] * ours["epochs"] / ours_cpu / (peak / ours["threads"])
    peers = {}
    for r in peer_lines:  # per dtype: the record of the best wall time, and the best CPU time of all
        d = r["dtype"]
        best = peers.get(d)
        cpu = min(r["cpu_seconds"], best["cpu_best"]) if best else r["cpu_seconds"]
        if not best or r["seconds"] < best["seconds"]:
            peers[d] = dict(r)
        peers[d]["cpu_best"] = cpu
    load_after = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    cc = cmd(["cc", "--version"]).splitlines()
    rows = ["| side | dtype | fit s (best) | CPU s (best) | time ratio (ours/peer) | CPU ratio | test accuracy | "
            "accuracy gap | target (time <= 0.6x, accuracy within 1 %) |", "|---|---|---|---|---|---|---|---|---|",
            "| automl mlp | float32 | %.2f | %.2f | | | %.4f | | |" % (ours["seconds"], ours_cpu, ours["accuracy"])]
    met_all = frac >= 0.6
    for d in ("float64", "float32"):
        if d not in peers:
            continue
        p = peers[d]
        ratio, cratio = ours["seconds"] / p["seconds"], ours_cpu / p["cpu_best"]
        gap = ours["accuracy"] - p["accuracy"]
        ok = ratio <= 0.6 and gap >= -0.01
        met_all = met_all and ok
        rows.append("| scikit-learn MLPClassifier | %s | %.2f | %.2f | **%.2fx** | %.2fx | %.4f | %+.4f | %s |"
                    % (d, p["seconds"], p["cpu_best"], ratio, cratio, p["accuracy"], gap, "met" if ok else "MISSED"))
    section = [
        "## mlp", "",
        "Produced by `bench/mlp/run.sh` (builds the driver, writes the data once, then alternates rounds of the "
        "automl `mlp` plugin and scikit-learn's MLPClassifier, one after the other, never at the same time). "
        "Do not edit by hand; rerun.", "",
        "- date: %s UTC" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
        "- machine: %s, %s cores visible; %d threads for both sides (automl: host thread budget; peer: "
        "OMP_NUM_THREADS / OPENBLAS_NUM_THREADS)" % (cmd(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).strip() or platform.processor(),
                                                     os.cpu_count(), ours["threads"]),
        "- load average before / after: %s / %s. On a shared machine the wall times are noisy and a 2-thread "
        "GEMM waits for a descheduled partner: the CPU-time columns and the CPU-based fraction are the steadier "
        "figures" % (load_before, load_after),
        "- compiler: %s; build type Release (-O3; the plugin adds -fno-math-errno)" % (cc[0] if cc else "?"),
        "- BLAS: OpenBLAS OpenMP build (%s); peers: scikit-learn via Debian's numpy (/usr/bin/python3)"
        % cmd(["sh", "-c", "dpkg-query -W -f '${Version}' libopenblas0-openmp 2>/dev/null"]), "",
        "Task: %d x %d MNIST-like rows (bench/mlp/make_data.py), hidden \"%s\", batch %d, %d epochs, Adam "
        "(learning_rate 1e-3), l2 = alpha = 1e-4, no early stopping, no dropout; test on 10 000 held-out rows."
        % (ours["rows"], ours["features"], ours["hidden"], ours["batch"], ours["epochs"]), "",
        "### GEMM throughput", "",
        "| measure | GFLOP/s |", "|---|---|",
        "| SGEMM alone at the training step's shapes (each shape on 1 or %d threads, the faster) = peak | %.1f |"
        % (ours["threads"], peak),
        "| SGEMM 1024^3 alone, %d threads (reference) | %.1f |" % (ours["threads"], square),
        "| mlp fit: GEMM flops per epoch (%.1f GFLOP) x epochs / fit wall time | %.1f |"
        % (ours["gemm_gflop_per_epoch"], achieved),
        "| **fraction of peak (wall)** | **%.0f %%** (target >= 60 %%: %s) |" % (100 * frac, "met" if frac >= 0.6 else "MISSED"),
        "| fraction of peak by CPU time (GEMM work / all work of the fit) | %.0f %% |" % (100 * frac_cpu),
    ] + ([
        "| 1 thread: SGEMM alone at the step's shapes = peak | %.1f |" % one_peak,
        "| 1 thread: mlp fit, GEMM flops / wall time, / CPU time | %.1f / %.1f (%.0f %% / %.0f %% of peak) |" % (
            one_wall, one_cpu, 100 * one_wall / one_peak, 100 * one_cpu / one_peak),
    ] if one and one_peak > 0 else []) + ["",
        "Per shape (best GFLOP/s): " + ", ".join("%s %dx%dx%d %.0f" % (k[0], k[1], k[2], k[3], v)
                                                 for k, v in shapes.items()), "",
        "### Against scikit-learn", "",
    ] + rows + ["",
        "Targets: %s. scikit-learn runs StandardScaler + MLPClassifier(hidden_layer_sizes=(%s), batch_size=%d, "
        "max_iter=%d, solver='adam', learning_rate_init=1e-3, alpha=1e-4, early_stopping=False, tol=1e-30, "
        "n_iter_no_change=epochs+1), so it runs every epoch; on float32 input it trains in float32 (SGEMM), on "
        "float64 in float64 (DGEMM, numpy's default dtype)." % ("all met" if met_all else "not all met",
                                                              ours["hidden"].replace(":", ", "), ours["batch"],
                                                              ours["epochs"]), ""]
    text = open(results).read() if os.path.exists(results) else ""
    body = "\n".join(section)
    start = text.find("\n## mlp\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + "\n" + body + (text[end:] if end >= 0 else "\n")
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    open(results, "w").write(text)


if __name__ == "__main__":
    main()
