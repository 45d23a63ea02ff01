"""
The benchmark table against the peers
=====================================

``python benchmarks/run.py`` times gdfast against its NumPy twin :mod:`gdfast.reference` and,
when installed, Numba, JAX, PyTorch and scikit-learn, each workload interleaved repeat by repeat in
one process, each peer's answer checked against gdfast's before its time counts. Timing takes
minutes, so this example does not measure anything: it reads the results file the script wrote
(``benchmark_results.json``, next to this example, made by
``python benchmarks/run.py --json examples/benchmark_results.json``) and draws it.
"""

# %%
# Where and when it was measured
# ------------------------------
# The file carries its own metadata: the machine, the date, the load and the command.

import json
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

here = os.path.dirname(os.path.abspath(sys.argv[0]))  # this example's folder (also when run by the docs build)
with open(os.path.join(here, "benchmark_results.json")) as fh:
    results = json.load(fh)

print(f"command:  {results['command']}")
print(f"date:     {results['date']}")
print(f"machine:  {results['cpu']}, {results['cpu_count']} cores, {results['platform']}")
print(f"software: gdfast {results['gdfast_version']}, Python {results['python']}, NumPy {results['numpy']}")
print("load average before / after: " + ", ".join(f"{x:.2f}" for x in results["loadavg_before"])
      + " / " + ", ".join(f"{x:.2f}" for x in results["loadavg"]))
print(f"the whole run took {results['seconds']:.0f} s")

# %%
# The table
# ---------
# One row per workload and contender: the median over the repeats of that repeat's time divided
# by gdfast's (above 1: gdfast is faster), with its smallest and largest value. Times on a shared
# machine jump between levels; ratios taken repeat by repeat are the figures to compare.

NAMES = {"reference": "NumPy reference", "numba": "Numba", "jax": "JAX", "torch_optim": "torch.optim",
         "torch_manual": "torch manual", "sklearn": "scikit-learn", "c_limit": "C loop -O3 (limit)",
         "numpy": "NumPy two-line update"}
table = []  # (workload, contender, median ratio, min, max)
for row in results["rows"]:
    if row["dtype"] != "float64":
        continue
    table.append((row["workload"], "NumPy reference", row["ratio"], row["ratio_min"], row["ratio_max"]))
    for name, peer in row["peers"].items():
        if peer.get("ok") and peer.get("ratio") is not None:
            table.append((row["workload"], NAMES.get(name, name), peer["ratio"], peer["ratio_min"], peer["ratio_max"]))

print(f"{'workload':22s} {'contender':22s} {'time / gdfast':>14s}  (min - max)")
for workload, who, ratio, low, high in table:
    print(f"{workload:22s} {who:22s} {ratio:13.2f}x  ({low:.2f} - {high:.2f})")

# %%
# Each ratio is a median of per-repeat ratios, so it lies within its own spread; and a peer only
# appears when its answer matched gdfast's (``ok``), which the script checked before timing it.

for workload, who, ratio, low, high in table:
    assert low <= ratio <= high, (workload, who)
for row in results["rows"]:
    for name, peer in row["peers"].items():
        assert peer.get("ratio") is None or peer["ok"], (row["workload"], name)

# %%
# The chart
# ---------
# Time relative to gdfast on a log axis, float64 workloads without the single-call latency rows.
# Bars right of 1 are slower than gdfast, left of 1 faster.

rows = [t for t in table if not t[0].startswith("latency")]
workloads = list(dict.fromkeys(t[0] for t in rows))
contenders = list(dict.fromkeys(t[1] for t in rows))
height = 0.8 / len(contenders)
fig, ax = plt.subplots(figsize=(9, 0.55 * len(workloads) + 1.5))
for k, who in enumerate(contenders):
    ys, xs, errs = [], [], []
    for i, w in enumerate(workloads):
        for workload, name, ratio, low, high in rows:
            if workload == w and name == who:
                ys.append(i + (k - (len(contenders) - 1) / 2) * height)
                xs.append(ratio)
                errs.append([ratio - low, high - ratio])
    ax.barh(ys, xs, height=height, xerr=np.array(errs).T if errs else None, label=who, capsize=0,
            error_kw={"lw": 0.6})
ax.axvline(1, color="k", lw=1)
ax.set_xscale("log")
ax.set_yticks(range(len(workloads)), workloads)
ax.invert_yaxis()
ax.set_xlabel("time / gdfast's time (median of repeats; bar: min - max)")
ax.set_title(f"float64 workloads, {results['cpu_count']} cores, {results['date'][:10]}")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()
