"""Does a gdfast training release the GIL? Two trainings in two Python threads vs one alone.

    python benchmarks/threads_gil.py [--repeat 5] [--seconds 0.5]

For gdfast.train and, as the contrast, gdfast.reference.train (the NumPy loop, which holds the GIL
between its small NumPy calls), prints the wall time of one call alone, of two identical calls
started together in two threads, and their ratio. On a machine with >= 2 free cores a kernel that
releases the GIL gives a ratio near 1.0 (the two runs overlap); a GIL-bound loop gives ~2.0.
All timings are the minimum over ``--repeat`` runs, measured in the same process; BLAS threads are
pinned to 1 (threadpoolctl, when installed) so NumPy's own threading does not blur the comparison.
"""
import argparse
import os
import threading
import time

import numpy as np

import gdfast
from gdfast import reference


def _pin_blas():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(1)


def wall(fn, n_threads, repeat):
    best = float("inf")
    for _ in range(repeat):
        barrier = threading.Barrier(n_threads + 1)

        def run():
            barrier.wait()
            fn()

        threads = [threading.Thread(target=run) for _ in range(n_threads)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        best = min(best, time.perf_counter() - t0)
    return best


def calibrated(make_call, seconds):
    """A call of about ``seconds`` (the iteration count scaled from a short probe)."""
    n = 100
    while True:
        t0 = time.perf_counter()
        make_call(n)()
        dt = time.perf_counter() - t0
        if dt > 0.05 or n > 10**8:
            return make_call(max(1, int(n * seconds / dt))), max(1, int(n * seconds / dt))
        n *= 4


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

    print(f"cores visible: {os.cpu_count()}, load average: {os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'}")
    print(f"{'function':<22}{'iterations':>12}{'one alone (s)':>16}{'two threads (s)':>18}{'ratio':>8}")
    for name, make in (("gdfast.train", gd), ("reference.train", ref)):
        call, n = calibrated(make, args.seconds)
        one = wall(call, 1, args.repeat)
        two = wall(call, 2, args.repeat)
        print(f"{name:<22}{n:>12}{one:>16.3f}{two:>18.3f}{two / one:>8.2f}")


if __name__ == "__main__":
    main()
