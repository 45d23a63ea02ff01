"""Does a gdfast training release the GIL? Two trainings in two Python threads vs one alone.

    python benchmarks/threads_gil.py [--repeat 5] [--seconds 0.5]

For gdfast.train and, as the contrast, gdfast.reference.train (the NumPy loop, which holds the GIL
between its small NumPy calls), prints the wall time of one call alone, of two identical calls
started together in two threads, their ratio, and the process's CPU time / wall time during the
two-thread run. On a machine with >= 2 free cores a kernel that releases the GIL gives a ratio near
1.0 and cpu/wall near 2 (the two runs overlap); a GIL-bound loop gives ~2.0 and ~1.
All timings are the minimum over ``--repeat`` runs, measured in the same process; BLAS threads are
pinned to 1 (threadpoolctl, when installed) so NumPy's own threading does not blur the comparison.
"""
import argparse
import os
import threading
import time

import numpy as np
from timing import calibrate, interleaved, load_average  # first: puts the checkout's gdfast on sys.path

import gdfast  # noqa: E402
from gdfast import reference  # noqa: E402


def _pin_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(1)


def concurrent(fn, n_threads, cpu_ratios):
    """``n_threads`` calls of ``fn`` started together; appends process CPU time / wall time to ``cpu_ratios``."""
    def call():
        barrier = threading.Barrier(n_threads + 1)

        def run():
            barrier.wait()
            fn()

        threads = [threading.Thread(target=run) for _ in range(n_threads)]
        for t in threads:
            t.start()
        t0, c0 = time.perf_counter(), time.process_time()
        barrier.wait()
        for t in threads:
            t.join()
        cpu_ratios.append((time.process_time() - c0) / (time.perf_counter() - t0))
    return call


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.5, help="duration of one call alone")
    args = ap.parse_args()
    _limits = _pin_blas()  # noqa: F841 - kept alive for the whole run

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 32))
    Y = X @ rng.standard_normal((4, 32)).T
    W = np.zeros((4, 32))

    def gd(n):
        return lambda: gdfast.train(W, X, Y, num_iterations=n, learning_rate=1e-3, record_every=1000)

    def ref(n):
        return lambda: reference.train(W, X, Y, num_iterations=n, learning_rate=1e-3, record_every=1000)

    print(f"cores visible: {os.cpu_count()}, load average: {load_average()}")
    print(f"{'function':<18}{'iterations':>11}{'one alone (s)':>15}{'two threads (s)':>17}{'ratio':>7}"
          f"{'cpu/wall (two)':>16}")
    for name, make in (("gdfast.train", gd), ("reference.train", ref)):
        call, n = calibrate(make, args.seconds)
        cpu = {1: [], 2: []}
        times, _ = interleaved({k: concurrent(call, k, cpu[k]) for k in (1, 2)}, args.repeat)
        one, two = times[1].min(), times[2].min()
        cpu = cpu[2][1:][int(np.argmin(times[2]))]  # of the best two-thread run (the first was the warm-up)
        print(f"{name:<18}{n:>11}{one:>15.3f}{two:>17.3f}{two / one:>7.2f}{cpu:>16.2f}")
    print("ratio ~1 and cpu/wall ~2: the two calls ran in parallel (GIL released); ratio ~2 and cpu/wall ~1:\n"
          "serialised (GIL held, or no free core: check the load average above).")


if __name__ == "__main__":
    main()
