"""Thread scaling of gdfast.sweep: the seed sweep (lesson W1, --runs learning rates from 1e-4 to
1e-1, 10^4 iterations each) with n_threads=1 and n_threads=2, alternated, many times; prints the
median and best-of times of the whole call and of the kernel call alone, and their ratios.

With two threads the runs go in lockstep as tasks of about half the runs each, one a thread
(``RunSet.lockstep_tasks``; tasks hold at most ``LOCKSTEP_LANES`` runs, so a larger sweep is cut
into more tasks, half of them a thread). A third call, timed in the same rotation, runs the first
half of the runs on one thread: one thread's share alone. Its kernel time is what the two-thread
kernel call would take if the two threads never slowed each other, so
``kernel(1 thread) / kernel(half the runs)`` bounds the kernel's two-thread speed-up from what the
shares cost (a task of fewer runs costs more per run: its per-update work outside the loops over
runs is the same).

    python benchmarks/sweep_threads.py [--runs 64] [--repeats 21] [--iterations 10000]

On a shared machine the best-of figures are the ones least disturbed by other processes.
"""
import argparse
import os
import time

import numpy as np
from timing import interleaved  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast import _train  # noqa: E402
from gdfast.lesson import INPUT, TARGET, W1  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=64)
    args = parser.parse_args(argv)
    lrs = np.logspace(-4, -1, args.runs)
    kernel = {1: [], 2: [], "half": []}  # seconds in the kernel during each sweep() call
    original = _train.advance_runs

    def timed(*a, **kw):
        # the kernel calls alone, inside the timed sweep() call (a clock, not a timing loop)
        t = time.perf_counter()
        out = original(*a, **kw)
        kernel["now"][-1] += time.perf_counter() - t
        return out

    def call(key, n, rates):
        def run():
            kernel["now"] = kernel[key]
            kernel[key].append(0.0)
            gdfast.sweep(W1, INPUT, TARGET, learning_rates=rates, num_iterations=args.iterations,
                         record_every=args.iterations, n_threads=n)
        return run

    # BLAS pinned to one thread: idle OpenBLAS worker threads spin and would compete for the cores.
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=1)
    try:
        _train.advance_runs = timed
        whole, _ = interleaved({1: call(1, 1, lrs), 2: call(2, 2, lrs), "half": call("half", 1, lrs[: -(-len(lrs) // 2)])},
                               args.repeats)
    finally:
        _train.advance_runs = original
        limits.restore_original_limits()
    # drop the warm-up call's kernel time
    a1 = np.column_stack([whole[1], kernel[1][1:]]) * 1e3
    a2 = np.column_stack([whole[2], kernel[2][1:]]) * 1e3
    print(f"load average before/after: see uptime; now {os.getloadavg()}")
    for label, k in (("whole sweep() call", 0), ("kernel (advance_runs) only", 1)):
        m1, m2 = np.median(a1[:, k]), np.median(a2[:, k])
        b1, b2 = a1[:, k].min(), a2[:, k].min()
        print(f"{label:26s}: 1 thread median {m1:6.2f} ms best {b1:6.2f} ms | 2 threads median {m2:6.2f} ms "
              f"best {b2:6.2f} ms | speed-up median {m1 / m2:4.2f}x best-of {b1 / b2:4.2f}x")
    # (the half call's runs are one thread's share of the two-thread call)
    half = np.array(kernel["half"][1:]) * 1e3
    k1 = a1[:, 1]
    print(f"kernel, one thread, the first {-(-args.runs // 2)} runs (one thread's share of the two-thread call): median "
          f"{np.median(half):6.2f} ms best {half.min():6.2f} ms | bound on the kernel's two-thread speed-up "
          f"(1 thread / this): median {np.median(k1) / np.median(half):4.2f}x best-of {k1.min() / half.min():4.2f}x")


if __name__ == "__main__":
    main()
