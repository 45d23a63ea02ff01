"""A/B of the sweep's per-run row layout: cache-line padded rows (current) vs plain np.stack rows.

Times ``gdfast.sweep``'s executor (one ``advance_runs`` kernel call, 512 runs of the lesson's W1 problem,
10**4 updates each) with 1 and 2 threads, alternating the two layouts in one process; prints the min
and median of each. With plain rows, threads on adjacent runs write the same cache lines every update
(false sharing). Needs 2 free cores to say anything: the load average is printed.

    PYTHONPATH=. python benchmarks/sweep_rows_ab.py
"""
import os

import numpy as np
from timing import interleaved  # first: puts the checkout's gdfast on sys.path

from gdfast import _runs as sm, sweeps  # noqa: E402
from gdfast.lesson import INPUT, TARGET, W1  # noqa: E402


def main(repeat=6):
    plan = sweeps._plan(W1, INPUT, TARGET, np.logspace(-4, -1, 32), range(16), None, None, None,
                        dict(num_iterations=10**4, record_every=100))
    layouts = {"padded": (sm._run_rows, sm._aligned_stack), "plain": (np.stack, np.stack)}
    def call(name, n_threads):
        def run():
            sm._run_rows, sm._aligned_stack = layouts[name]
            sm.execute(plan.runs, plan.W, plan.X, plan.Y, None, None, n_threads)
        return run

    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    try:
        times, _ = interleaved({(name, n): call(name, n) for name in layouts for n in (1, 2)}, repeat)
    finally:
        sm._run_rows, sm._aligned_stack = layouts["padded"]
    print("load average after:  %.2f %.2f %.2f" % os.getloadavg())
    for (name, n_threads), t in times.items():
        print(f"{name:>6} rows, n_threads={n_threads}: min {min(t):.3f} s, median {np.median(t):.3f} s")


if __name__ == "__main__":
    main()
