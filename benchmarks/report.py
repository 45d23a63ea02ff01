"""The reports of ``python benchmarks/run.py``: markdown table, notes, bar chart, README section.

Everything here reads a results dict (as saved in benchmark.json) and runs nothing, so that
``python benchmarks/run.py --from-json FILE`` rebuilds the reports of an earlier run.
"""
from __future__ import annotations

import json
import os

import numpy as np

from gdfast.bench import CHECK_TOL, FULL, QUICK
from gdfast.bench import format_ns as _fmt_ns
from peers import MBSWEEP_FLOOR, MBSWEEP_LOSS_FACTOR, SLOW_PEER_N

PEERS = [("numba", "Numba"), ("jax", "JAX"), ("torch_optim", "torch.optim"), ("torch_manual", "torch manual"),
         ("sklearn", "scikit-learn"), ("numpy", "NumPy two-line update"), ("c_limit", "C loop -O3 (limit)")]
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def _times(ns_min, ns_max):
    """'min (min-max)' of a contender's repeats; '–' when unknown (results of an older run)."""
    if ns_min is None:
        return "–", "–"
    return _fmt_ns(ns_min), (f"{_fmt_ns(ns_min)} – {_fmt_ns(ns_max)}" if ns_max is not None else "–")


def _ratio(median, lo, hi):
    if median is None:
        return "–"
    return f"{median:.2f}x ({lo:.2f}–{hi:.2f})" if lo is not None else f"{median:.2f}x"


def markdown_table(results):
    """The results as a markdown table, one line per contender of each workload.

    ``min``: the fastest repeat (ns per iteration); ``spread``: fastest – slowest repeat; ``time /
    gdfast``: the median over repeats of that repeat's time over gdfast's (above 1: gdfast is
    faster), with the smallest and largest repeat's ratio.
    """
    lines = ["| workload | dtype | contender | min | spread (min – max) | time / gdfast (median, min – max) |",
             "|---|---|---|---:|---:|---:|"]
    for r in results["rows"]:
        head = f"| {r['workload']} | {r['dtype']} "
        g_min, g_spread = _times(r.get("gdfast_min_ns", r["gdfast_ns"]), r.get("gdfast_max_ns"))
        lines.append(head + f"| **gdfast** | {g_min} | {g_spread} | 1 |")
        r_min, r_spread = _times(r.get("reference_min_ns", r["reference_ns"]), r.get("reference_max_ns"))
        lines.append(head + f"| NumPy reference (gdfast.reference) | {r_min} | {r_spread} "
                     f"| {_ratio(r['ratio'], r.get('ratio_min'), r.get('ratio_max'))} |")
        for key, label in PEERS:
            p = r["peers"].get(key)
            if p is None:
                continue
            if not p["ok"]:
                what = "mismatch" if p["note"].startswith("mismatch") else "error"
                lines.append(head + f"| {label} | {what} | – | – |")
                continue
            p_min, p_spread = _times(p.get("ns_min", p["ns"]), p.get("ns_max"))
            lines.append(head + f"| {label} | {p_min} | {p_spread} "
                         f"| {_ratio(p.get('ratio'), p.get('ratio_min'), p.get('ratio_max'))} |")
    lines.append("")
    lines.append("| memory | dtype | iterations | peak RSS | peak RSS of 10^3 iterations | difference |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for m in results["memory"]:
        lines.append(f"| record_every=1000 | {m['dtype']} | {m['n_long']:,} | {m['rss_long_kib']:,} KiB "
                     f"| {m['rss_short_kib']:,} KiB | {m['difference_kib']:+,} KiB |")
    return "\n".join(lines)


def notes_text(results):
    """The notes printed under the table: how each figure was measured, peers skipped."""
    cfg = QUICK if results["quick"] else FULL
    repeats = next((r["repeats"] for r in results["rows"] if "repeats" in r), cfg["repeats"])
    lines = [
        f"Times are per iteration (latency rows: per call; sweeps: per iteration of one configuration), "
        f"over {repeats} repeats in which gdfast, the NumPy reference and the peers are called in turn (the "
        "order rotating from repeat to repeat, one process), BLAS pinned to 1 thread (threadpoolctl), "
        "torch.set_num_threads(1), XLA single-threaded"
        + ("; every row where JAX takes part with the timing thread and XLA's thread pools pinned to one "
           "CPU (XLA's flags alone left JAX a second core)" if results.get("jax_on_one_cpu") else "")
        + ". min: the fastest repeat; spread: fastest – slowest repeat; time / gdfast: the "
        "median over the repeats of that repeat's time over gdfast's (above 1: gdfast is faster), and its "
        "smallest and largest value. Absolute times on a shared machine jump between levels; the ratios, "
        "taken repeat by repeat, are the figures to compare.",
        f"gdfast is timed over the full iteration counts (seed {cfg['seed_n']:,}, batch-4/64/512 "
        f"{cfg['batch_n'][4]:,}/{cfg['batch_n'][64]:,}/{cfg['batch_n'][512]:,}, sweep 64 x {cfg['sweep_n']:,}, "
        f"quad1d {cfg['quad_n']:,}, minibatch-sweep-64 64 x {cfg['mbsweep_epochs']:,} epochs, single-75kx100 "
        f"{cfg['single_n']:,}); the NumPy reference over fewer (seed {cfg['seed_n_ref']:,}, batch "
        f"{cfg['batch_n_ref'][4]:,}/{cfg['batch_n_ref'][64]:,}/{cfg['batch_n_ref'][512]:,}, sweep 64 x "
        f"{cfg['sweep_n_ref']:,}, quad1d {cfg['quad_n_ref']:,}, minibatch-sweep-64 64 x "
        f"{cfg['mbsweep_epochs_ref']:,}, single-75kx100 {cfg['single_n_ref']:,}) and scaled; so are PyTorch (seed: "
        f"{SLOW_PEER_N[bool(results['quick'])]:,}) and Numba on batch-d.",
        "Latency rows compare one gdfast call (validation included) with the NumPy one-liner in the note.",
        "Peers: each one's final weights are checked against gdfast's after the same iterations (np.allclose, "
        "rtol/atol " + ", ".join(f"{k}: {v[0]:g}/{v[1]:g}" for k, v in CHECK_TOL.items())
        + "; float32 Adam: atol 1e-3, see CHECK_TOL_ADAM, which also checks gdfast against the reference there) "
        "before its time is shown. JAX compile time is "
        "excluded (reported in the JSON). "
        "scikit-learn's SGDRegressor does per-sample SGD, so it only appears on persample-64.",
        "C loop -O3 (limit), on seed and sweep-64: gdfast's arithmetic written out in C (the operations of "
        "src/_linear.pxd's dot and mse_and_gradient and the plain-SGD update in the same order, one output after "
        "another on seed; the sweep's 64 runs in lockstep, runs innermost), compiled at run time with -O3 -march=native "
        "(where the compiler accepts it) -ffp-contract=off and no -ffast-math, called through ctypes; its final weights must be bit-equal to gdfast's before "
        "its time is shown. It leaves out gdfast's per-step bookkeeping (loss history, divergence rule).",
        "minibatch-sweep-64 (64 learning rates, 256 x 32, one output, batches of 32 shuffled every epoch, one "
        "seed): the peers shuffle with their own generators, so their weights cannot equal gdfast's; each "
        "run's final MSE on the whole data set must be within a factor "
        f"{MBSWEEP_LOSS_FACTOR:g} of gdfast's run with the same learning rate (below {MBSWEEP_FLOOR:g} x the "
        "initial MSE runs count as converged). gdfast's own runs with other seeds differ by under 5%; a "
        "learning rate 10% off fails.",
        "single-75kx100: 75,000 x 100, one output, full-batch SGD; the NumPy peer is a user's two-line update "
        "`W -= lr * 2/n * (X.T @ (X @ W - y))`, torch the same two lines under no_grad.",
    ]
    if any(r["workload"].endswith("(accumulate=float32)") for r in results["rows"]):
        lines.append(
            "Rows marked (accumulate=float32): the float32 workload of that name, gdfast trained with "
            "`accumulate=\"float32\"` (its full batches summed in float32 by BLAS sgemv/sgemm, see Numerics; "
            "the default sums in double); the NumPy reference and the peers are those of the row without the mark.")
    for dn in sorted({r["dtype"] for r in results["rows"]}, reverse=True):
        more = [r for r in results["rows"] if r["workload"].startswith("sweep-64 (") and r["dtype"] == dn]
        if more and more[0].get("speedup_vs_1_thread"):
            lines.append(f"Parallel sweep, {dn}: {more[0]['workload'][10:-1]} run the 64 configurations "
                         f"{more[0]['speedup_vs_1_thread']:.2f}x as fast as 1 thread (whole gdfast.sweep call, "
                         "Python set-up included; median of alternated 1- and 2-thread calls).")
    for name, why in sorted(results["peer_notes"].items()):
        lines.append(f"Skipped {name}: {why}.")
    for r in results["rows"]:
        for key, p in r["peers"].items():
            if not p["ok"]:
                lines.append(f"{key} on {r['workload']} {r['dtype']}: {p['note']}")
    if results.get("loadavg"):
        lines.append("Load average at the end: " + ", ".join(f"{x:.2f}" for x in results["loadavg"])
                     + f" on {results['cpu_count']} cores.")
    return "\n".join("- " + line for line in lines)


def bar_chart(results, path):
    """A PNG bar chart of the ratios (log scale), float64 and float32 side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for r in results["rows"]:
        if r["workload"] not in names:
            names.append(r["workload"])
    dtypes = sorted({r["dtype"] for r in results["rows"]}, reverse=True)
    ratio = {(r["workload"], r["dtype"]): r["ratio"] for r in results["rows"]}
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / max(1, len(dtypes))
    xs = np.arange(len(names))
    for k, dn in enumerate(dtypes):
        vals = [ratio.get((nm, dn), np.nan) for nm in names]
        bars = ax.bar(xs + (k - (len(dtypes) - 1) / 2) * width, vals, width, label=dn)
        for b, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=6)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("speed-up over the NumPy reference (x)")
    ax.set_title(f"gdfast {results['gdfast_version']}: NumPy reference time / gdfast time"
                 + (" (quick)" if results["quick"] else ""))
    ax.legend()
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(path, text):
    """Replace the lines between the START and END markers of ``path`` with ``text``."""
    with open(path) as fh:
        content = fh.read()
    if START not in content or END not in content:
        raise SystemExit(f"{path} has no '{START}' ... '{END}' section to update")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as fh:
        fh.write(head + START + "\n" + text.strip() + "\n" + END + tail)


def write(results, output, chart=None, readme=None, json_in=None):
    """Print the table and notes; write benchmark.json/.md/.png under ``output`` (and ``chart``, ``readme``)."""
    table = markdown_table(results)
    notes = notes_text(results)
    print()
    print(table)
    print()
    print(notes)
    out = os.path.abspath(output)
    os.makedirs(out, exist_ok=True)
    json_path = os.path.join(out, "benchmark.json")
    if not (json_in and os.path.abspath(json_in) == json_path):
        with open(json_path, "w") as fh:
            json.dump(results, fh, indent=1)
    with open(os.path.join(out, "benchmark.md"), "w") as fh:
        fh.write(table + "\n\n" + notes + "\n")
    charts = [os.path.join(out, "benchmark.png")]
    if chart:
        os.makedirs(os.path.dirname(os.path.abspath(chart)), exist_ok=True)
        charts.append(chart)
    for path in charts:
        bar_chart(results, path)
    if readme:
        update_readme(readme, table + "\n\n" + notes)
        print(f"updated the benchmark section of {readme}")
    written = [json_path, os.path.join(out, "benchmark.md")] + [os.path.abspath(c) for c in charts]
    print("\nwrote " + ", ".join(written) + f" ({results['seconds']:.0f} s)")
