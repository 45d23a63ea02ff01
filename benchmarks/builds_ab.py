"""Two builds of gdfast side by side: ``gdfast bench`` of each, interleaved, row by row.

Usage: ``python benchmarks/builds_ab.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 5] [--full]``, where each
checkout holds a build in place (``python setup.py build_ext --inplace``). The two builds cannot
share one process (both are the package ``gdfast``), so each round runs ``python -m gdfast bench``
once in each checkout, the order alternating from round to round (old, new, new, old, ...): drifts
of a shared machine's speed then hit both alike. For each workload row it prints the median over
the rounds of gdfast's time per iteration in each build, and new / old with its spread (min-max of
the per-round ratios; > 1 is slower). Every row's answer is checked against the NumPy twin by
``gdfast bench`` itself before its time counts.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import numpy as np

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
ROW = re.compile(r"^(?P<name>\S.*?)\s{2,}(?P<dtype>float32|float64)\s+(?P<value>[\d.]+)\s+(?P<unit>ns|µs|us|ms|s)\s")


def bench_rows(checkout: str, full: bool) -> dict[tuple[str, str], float]:
    """Seconds per iteration of gdfast for each (workload, dtype) row of one ``gdfast bench`` run."""
    command = [sys.executable, "-m", "gdfast", "bench", "--threads", "1"] + ([] if full else ["--quick"])
    env = dict(os.environ, PYTHONPATH=checkout)
    where = subprocess.run([sys.executable, "-c", "import gdfast, os; print(os.path.dirname(gdfast.__file__))"],
                           cwd=checkout, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.samefile(where, os.path.join(checkout, "gdfast")):
        raise SystemExit(f"{checkout}: python imports the gdfast of {where}, not this checkout's")
    out = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            rows[(m["name"].strip(), m["dtype"])] = float(m["value"]) * UNITS[m["unit"]]
    if not rows:
        raise SystemExit(f"{checkout}: no rows in the output of gdfast bench:\n{out}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="gdfast bench without --quick")
    args = parser.parse_args()
    old, new = os.path.abspath(args.old), os.path.abspath(args.new)
    runs: dict[str, list[dict[tuple[str, str], float]]] = {old: [], new: []}
    for r in range(args.rounds):
        for checkout in ((old, new) if r % 2 == 0 else (new, old)):
            runs[checkout].append(bench_rows(checkout, args.full))
            print(f"round {r + 1}/{args.rounds}: {os.path.basename(checkout)} done", file=sys.stderr)
    print(f"gdfast bench, {args.rounds} interleaved rounds; time per iteration, median over rounds")
    print(f"{'workload':22s}{'dtype':9s}{'old':>11s}{'new':>11s}   new/old  (min-max of rounds)")
    worst = 0.0
    for key in runs[old][0]:
        if not all(key in rows for rows in runs[old] + runs[new]):
            continue
        a = np.array([rows[key] for rows in runs[old]])
        b = np.array([rows[key] for rows in runs[new]])
        ratios = b / a
        ratio = float(np.median(b) / np.median(a))
        worst = max(worst, ratio)
        print(f"{key[0]:22s}{key[1]:9s}{np.median(a) * 1e6:9.3f}µs{np.median(b) * 1e6:9.3f}µs   "
              f"{ratio:6.3f}   ({ratios.min():.3f}-{ratios.max():.3f})")
    print(f"slowest row: new/old = {worst:.3f}")


if __name__ == "__main__":
    main()
