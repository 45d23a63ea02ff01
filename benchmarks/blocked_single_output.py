"""One training on all cores' workload: 75,000 x 100, one output, float64, full batch, 50 steps.

gdfast.train (its batch summed in fixed blocks, ``n_threads``) against NumPy's two-line update
``r = X @ w - y; w -= lr * (2 / n) * (X.T @ r)``, the two alternating repeat by repeat in this one
process. NumPy's BLAS is held to one thread (OPENBLAS/MKL/OMP... _NUM_THREADS=1 set before NumPy
is imported, unless already set), so the one-thread comparison is one thread against one thread,
timed with time.process_time (CPU time of the process). The n_threads=2 against n_threads=1
comparison is wall time (time.perf_counter). Prints the min and median of the per-repeat ratios;
writes no files.

    python benchmarks/blocked_single_output.py [--repeats 9] [--threads 2]
"""
import argparse
import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

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


def timed(clock, fn):
    start = clock()
    out = fn()
    return clock() - start, out


def summary(label, ratios):
    print(f"{label}: min {min(ratios):.3f}  median {statistics.median(ratios):.3f}  "
          f"(ratios over {len(ratios)} repeats: {', '.join(f'{r:.3f}' for r in ratios)})")


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

    cpu_ratios, wall_ratios = [], []
    cpu_np, cpu_gd, wall_1, wall_k = [], [], [], []
    for _ in range(args.repeats):
        t_np, _ = timed(time.process_time, lambda: numpy_update(w0, X, y))
        t_gd, _ = timed(time.process_time, lambda: gdfast_train(w0, X, y, 1))
        cpu_np.append(t_np)
        cpu_gd.append(t_gd)
        cpu_ratios.append(t_np / t_gd)
        t_1, _ = timed(time.perf_counter, lambda: gdfast_train(w0, X, y, 1))
        t_k, _ = timed(time.perf_counter, lambda: gdfast_train(w0, X, y, args.threads))
        wall_1.append(t_1)
        wall_k.append(t_k)
        wall_ratios.append(t_1 / t_k)
    print(f"CPU s per run, median: numpy {statistics.median(cpu_np):.3f}, gdfast n_threads=1 "
          f"{statistics.median(cpu_gd):.3f}")
    summary("numpy / gdfast (n_threads=1), CPU time", cpu_ratios)
    print(f"wall s per run, median: n_threads=1 {statistics.median(wall_1):.3f}, n_threads={args.threads} "
          f"{statistics.median(wall_k):.3f} (os.cpu_count() = {os.cpu_count()})")
    summary(f"gdfast n_threads=1 / n_threads={args.threads}, wall time", wall_ratios)


if __name__ == "__main__":
    main()
