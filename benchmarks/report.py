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
from peers import SLOW_PEER_N

PEER_COLUMNS = [("numba", "Numba"), ("jax", "JAX"), ("torch_optim", "torch.optim"),
                ("torch_manual", "torch manual"), ("sklearn", "sklearn")]
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"


def markdown_table(results):
    """The results as a markdown table (ns per iteration; ratio = reference / gdfast)."""
    lines = ["| workload | dtype | gdfast | NumPy reference | ratio | "
             + " | ".join(label for _, label in PEER_COLUMNS) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(PEER_COLUMNS)]
    for r in results["rows"]:
        cells = []
        for key, _ in PEER_COLUMNS:
            p = r["peers"].get(key)
            if p is None:
                cells.append("–")
            elif not p["ok"]:
                cells.append("mismatch" if p["note"].startswith("mismatch") else "error")
            else:
                cells.append(_fmt_ns(p["ns"]))
        lines.append(f"| {r['workload']} | {r['dtype']} | {_fmt_ns(r['gdfast_ns'])} | {_fmt_ns(r['reference_ns'])} "
                     f"| {r['ratio']:.1f}x | " + " | ".join(cells) + " |")
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
    lines = [
        "Times are per iteration (latency rows: per call), median of repeats in which gdfast, the NumPy "
        "reference and the peers are called in turn, BLAS pinned to 1 thread (threadpoolctl), "
        "torch.set_num_threads(1), XLA single-threaded; ratio = NumPy reference / gdfast (median over the "
        "repeats of each repeat's ratio).",
        f"gdfast is timed over the full iteration counts (seed {cfg['seed_n']:,}, batch-4/64/512 "
        f"{cfg['batch_n'][4]:,}/{cfg['batch_n'][64]:,}/{cfg['batch_n'][512]:,}, sweep 64 x {cfg['sweep_n']:,}, "
        f"quad1d {cfg['quad_n']:,}); the NumPy reference over fewer (seed {cfg['seed_n_ref']:,}, batch "
        f"{cfg['batch_n_ref'][4]:,}/{cfg['batch_n_ref'][64]:,}/{cfg['batch_n_ref'][512]:,}, sweep 64 x "
        f"{cfg['sweep_n_ref']:,}, quad1d {cfg['quad_n_ref']:,}) and scaled; so are PyTorch (seed: "
        f"{SLOW_PEER_N[bool(results['quick'])]:,}) and Numba on batch-d.",
        "Latency rows compare one gdfast call (validation included) with the NumPy one-liner in the note.",
        "Peers: each one's final weights are checked against gdfast's after the same iterations (np.allclose, "
        "rtol/atol " + ", ".join(f"{k}: {v[0]:g}/{v[1]:g}" for k, v in CHECK_TOL.items())
        + "; float32 Adam: atol 1e-3, see CHECK_TOL_ADAM) before its time is shown. JAX compile time is "
        "excluded (reported in the JSON). "
        "scikit-learn's SGDRegressor does per-sample SGD, so it only appears on persample-64.",
    ]
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
