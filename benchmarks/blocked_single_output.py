"""One training on all cores' workload: 75,000 x 100, one output, float64, full batch, 50 steps.

gdfast.train (its batch summed in fixed blocks, ``n_threads``) against NumPy's two-line update
``r = X @ w - y; w -= lr * (2 / n) * (X.T @ r)``, the two alternating repeat by repeat in this one
process (``timing.interleaved``: wall time, the order rotating repeat by repeat). NumPy's BLAS is
held to one thread (OPENBLAS/MKL/... _NUM_THREADS=1 set before NumPy is imported, unless already
set), so the one-thread comparison is one thread against one thread; gdfast with ``--threads``
threads is timed in the same rotation. Prints the min, median and max of the per-repeat ratios and
the load average; writes no files.

    python benchmarks/blocked_single_output.py [--repeats 9] [--threads 2]
"""
import argparse
import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics  # noqa: E402

import numpy as np  # noqa: E402
from timing import interleaved, load_average  # noqa: E402  (puts this checkout first on sys.path)

import gdfast  # noqa: E402

N_SAMPLES, N_FEATURES, N_STEPS, LR = 75_000, 100, 50, 0.1
# gdfast's blocked sums and NumPy's BLAS sums differ in order only: after 50 steps the weights agree
# to ~1e-13 relative; 1e-9 leaves room for other BLAS builds without hiding a wrong gradient.
RTOL, ATOL = 1e-9, 1e-12


def numpy_update(w0, X, y):
    w = w0.copy()
    n = X.shape[0]
    for _ in range(N_STEPS):
        r = X @ w - y
        w -= LR * (2 / n) * (X.T @ r)
    return w


def gdfast_train(w0, X, y, n_threads):
    return gdfast.train(w0, X, y, learning_rate=LR, num_iterations=N_STEPS, n_threads=n_threads).W


def summary(label, ratios):
    print(f"{label}: min {min(ratios):.3f}  median {statistics.median(ratios):.3f}  max {max(ratios):.3f} "
          f"({len(ratios)} repeats)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    y = X @ rng.standard_normal(N_FEATURES) + 0.1 * rng.standard_normal(N_SAMPLES)
    w0 = np.zeros(N_FEATURES)

    # The answers first: a timing only counts when both computed the same thing.
    w_np = numpy_update(w0, X, y)
    w_1 = gdfast_train(w0, X, y, 1)
    w_k = gdfast_train(w0, X, y, args.threads)
    assert np.allclose(w_1, w_np, rtol=RTOL, atol=ATOL), np.abs(w_1 - w_np).max()
    assert np.array_equal(w_1, w_k), "n_threads changed the bits"
    print(f"{N_SAMPLES} x {N_FEATURES}, one output, float64, full batch, {N_STEPS} steps; "
          f"max |gdfast - numpy| = {np.abs(w_1 - w_np).max():.2e} (allclose rtol={RTOL}, atol={ATOL}); "
          f"n_threads={args.threads} bit-identical to 1")

    times, _ = interleaved({
        "numpy": lambda: numpy_update(w0, X, y),
        "gdfast-1": lambda: gdfast_train(w0, X, y, 1),
        "gdfast-k": lambda: gdfast_train(w0, X, y, args.threads),
    }, args.repeats)
    print(f"wall s per run, median: numpy {np.median(times['numpy']):.3f}, gdfast n_threads=1 "
          f"{np.median(times['gdfast-1']):.3f}, n_threads={args.threads} {np.median(times['gdfast-k']):.3f} "
          f"(os.cpu_count() = {os.cpu_count()})")
    summary("numpy / gdfast (n_threads=1)", list(times["numpy"] / times["gdfast-1"]))
    summary(f"gdfast n_threads=1 / n_threads={args.threads}", list(times["gdfast-1"] / times["gdfast-k"]))
    print(f"load average: {load_average()}")

if __name__ == "__main__":
    main()
