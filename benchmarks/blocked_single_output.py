"""One training on all cores' workload: 75,000 x 100, one output, float64, full batch, 50 steps.

gdfast.train (its batch summed in fixed blocks, ``n_threads``) against NumPy's two-line update
``r = X @ w - y; w -= lr * (2 / n) * (X.T @ r)``, the two alternating repeat by repeat in this one
process (``timing.interleaved``: wall time, the order rotating repeat by repeat). NumPy's BLAS is
held to one thread (OPENBLAS/MKL/... _NUM_THREADS=1 set before NumPy is imported, unless already
set), so the one-thread comparison is one thread against one thread; gdfast with ``--threads``
threads is timed in the same rotation. Prints the min, median and max of the per-repeat ratios and
the load average; writes no files.

What the machine allows is timed in the same rotation. First, gdfast's blocked arithmetic written
out as a plain C loop (``BLOCKED_C``: the same blocks, the same sums in the same order, so its
weights must be bit-equal to gdfast's before its time counts), compiled at run time at -O3 with
OpenMP (as the "limit" rows of ``benchmarks/run.py``) and run on one thread and on ``--threads``
threads: what this arithmetic gets from more cores without gdfast's code around it. Second, a
probe that only reads X (``read_all``), on one thread and on ``--threads``: the rate at which the
machine delivers X, printed beside the rate at which each gdfast step reads it. (No C compiler or
OpenMP: the script says so and times the rest.)

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
from peers import C_DOT, bit_equal, compile_c  # noqa: E402

N_SAMPLES, N_FEATURES, N_STEPS, LR = 75_000, 100, 50, 0.1
# gdfast's blocked sums and NumPy's BLAS sums differ in order only: after 50 steps the weights agree
# to ~1e-13 relative; 1e-9 leaves room for other BLAS builds without hiding a wrong gradient.
RTOL, ATOL = 1e-9, 1e-12


# gdfast's full-batch step for this problem (src/_linear.pxd: block_partial_into, blocks_reduce; the
# plain-SGD step of src/_optimizers.pxd), one output, no intercept, float64: blocks of BLOCK_ROWS
# consecutive rows, each summed from +0.0 in one pass over its rows two at a time (the predictions by
# dot's four partial sums, peers.C_DOT; r = p - y, loss += r * r, c = 2 r, then the gradient row
# += c0 x0 then += c1 x1, a zero c skipped); the blocks added in block order, scaled by 1 / (sum of
# the rows' unit weights), and w -= lr * g. The blocks are computed on n_threads OpenMP threads (dynamic, one
# block at a time, as gdfast), and their sums do not depend on which thread computed them.
BLOCK_ROWS = 4096  # gdfast's blocks (gdfast._train.block_rows()): other blocks would be other sums
BLOCKED_C = f"#define BLOCK_ROWS {BLOCK_ROWS}\n" + C_DOT.format(T="double", S="f64") + r"""
static void block(const double* w, const double* X, const double* y, long start, long stop, long d, double* out) {
    double loss = 0.0, weights = 0.0;
    long i, k;
    for (k = 0; k < d; k++) out[k] = 0.0;
    for (i = start; i + 2 <= stop; i += 2) {
        const double* x0 = X + i * d;
        const double* x1 = x0 + d;
        double r0 = dot_f64(w, x0, d) - y[i], r1 = dot_f64(w, x1, d) - y[i + 1];
        double c0 = 2.0 * r0, c1 = 2.0 * r1;
        weights += 1.0; loss += r0 * r0;
        weights += 1.0; loss += r1 * r1;
        if (c0 != 0.0 && c1 != 0.0) { for (k = 0; k < d; k++) out[k] = (out[k] + c0 * x0[k]) + c1 * x1[k]; }
        else if (c0 != 0.0) { for (k = 0; k < d; k++) out[k] += c0 * x0[k]; }
        else if (c1 != 0.0) { for (k = 0; k < d; k++) out[k] += c1 * x1[k]; }
    }
    if (i < stop) {
        const double* x0 = X + i * d;
        double r0 = dot_f64(w, x0, d) - y[i], c0 = 2.0 * r0;
        weights += 1.0; loss += r0 * r0;
        if (c0 != 0.0) { for (k = 0; k < d; k++) out[k] += c0 * x0[k]; }
    }
    out[d] = loss;
    out[d + 1] = weights;
}
/* The sum of X's n values read n_reps times on n_threads threads, in any order: the memory read
   rate probe (omp simd lets the compiler reorder the sum, so the adds never bound the rate). */
double read_all(const double* X, long n, long n_reps, int n_threads) {
    double total = 0.0;
    for (long rep = 0; rep < n_reps; rep++) {
        double s = 0.0;
        #pragma omp parallel for num_threads(n_threads) schedule(static) reduction(+:s)
        for (long start = 0; start < n; start += 65536) {
            long stop = start + 65536 < n ? start + 65536 : n;
            double part = 0.0;
            #pragma omp simd reduction(+:part)
            for (long i = start; i < stop; i++) part += X[i];
            s += part;
        }
        total += s;
    }
    return total;
}
/* n_steps full-batch steps of w (d,) on X (n, d), y (n,); partials: (n_blocks, d + 2) doubles. */
void train(double* w, const double* X, const double* y, long n, long d, double lr, long n_steps, int n_threads,
           double* partials, double* grad) {
    long n_blocks = (n + BLOCK_ROWS - 1) / BLOCK_ROWS, b, k, t;
    for (t = 0; t < n_steps; t++) {
        if (n_threads > 1) {
            #pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1)
            for (b = 0; b < n_blocks; b++)
                block(w, X, y, b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS < n ? (b + 1) * BLOCK_ROWS : n, d,
                      partials + b * (d + 2));
        } else {
            for (b = 0; b < n_blocks; b++)
                block(w, X, y, b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS < n ? (b + 1) * BLOCK_ROWS : n, d,
                      partials + b * (d + 2));
        }
        double weights = partials[d + 1], scale;
        for (k = 0; k < d; k++) grad[k] = partials[k];
        for (b = 1; b < n_blocks; b++) {
            for (k = 0; k < d; k++) grad[k] += partials[b * (d + 2) + k];
            weights += partials[b * (d + 2) + d + 1];
        }
        scale = weights > 0.0 ? 1.0 / (1.0 * weights) : 0.0;
        for (k = 0; k < d; k++) grad[k] *= scale;
        for (k = 0; k < d; k++) w[k] = w[k] - lr * grad[k];
    }
}
"""


def c_loop():
    """``((train, read_all), compiler description)`` of the compiled BLOCKED_C, or ``(None, why not)``:
    ``train(w0, X, y, n_threads, lr=LR, n_steps=N_STEPS) -> w``; ``read_all(X, n_threads)`` sums X's
    values N_STEPS times."""
    import ctypes

    lib, desc = compile_c(BLOCKED_C, "blocked", extra_flags=("-fopenmp",))
    if lib is None:
        return None, desc
    lib.train.restype = None

    def ptr(a):
        return a.ctypes.data_as(ctypes.c_void_p)

    def train(w0, X, y, n_threads, lr=LR, n_steps=N_STEPS):
        # (X, y and w0: C-contiguous float64, as this script makes them)
        n, d = X.shape
        w, partials, grad = w0.copy(), np.empty(-(-n // BLOCK_ROWS) * (d + 2)), np.empty(d)
        lib.train(ptr(w), ptr(X), ptr(y), ctypes.c_long(n), ctypes.c_long(d), ctypes.c_double(lr),
                  ctypes.c_long(n_steps), ctypes.c_int(n_threads), ptr(partials), ptr(grad))
        return w

    lib.read_all.restype = ctypes.c_double

    def read_all(X, n_threads):
        return lib.read_all(ptr(X), ctypes.c_long(X.size), ctypes.c_long(N_STEPS), ctypes.c_int(n_threads))

    return (train, read_all), desc


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
    assert bit_equal(w_1, w_k), "n_threads changed the bits"
    print(f"{N_SAMPLES} x {N_FEATURES}, one output, float64, full batch, {N_STEPS} steps; "
          f"max |gdfast - numpy| = {np.abs(w_1 - w_np).max():.2e} (allclose rtol={RTOL}, atol={ATOL}); "
          f"n_threads={args.threads} bit-identical to 1")

    calls = {
        "numpy": lambda: numpy_update(w0, X, y),
        "gdfast-1": lambda: gdfast_train(w0, X, y, 1),
        "gdfast-k": lambda: gdfast_train(w0, X, y, args.threads),
    }
    compiled, desc = c_loop()
    loop, read_all = compiled if compiled is not None else (None, None)
    if loop is None:
        print(f"no C loop: {desc}")
    elif not (bit_equal(loop(w0, X, y, 1), w_1) and bit_equal(loop(w0, X, y, args.threads), w_1)):
        print("C loop: its weights are not bit-equal to gdfast's; not timed")
    else:
        print(f"C loop: bit-equal to gdfast on 1 and {args.threads} threads; {desc}")
        calls["c-1"] = lambda: loop(w0, X, y, 1)
        calls["c-k"] = lambda: loop(w0, X, y, args.threads)
        if not np.isclose(read_all(X, 1), N_STEPS * X.sum()):
            raise AssertionError("the read probe's sum is wrong")
        calls["read-1"] = lambda: read_all(X, 1)
        calls["read-k"] = lambda: read_all(X, args.threads)
    times, _ = interleaved(calls, args.repeats)
    print(f"wall s per run, median: numpy {np.median(times['numpy']):.3f}, gdfast n_threads=1 "
          f"{np.median(times['gdfast-1']):.3f}, n_threads={args.threads} {np.median(times['gdfast-k']):.3f} "
          f"(os.cpu_count() = {os.cpu_count()})")
    summary("numpy / gdfast (n_threads=1)", list(times["numpy"] / times["gdfast-1"]))
    summary(f"gdfast n_threads=1 / n_threads={args.threads}", list(times["gdfast-1"] / times["gdfast-k"]))
    if "c-1" in times:
        summary(f"C loop 1 thread / {args.threads} threads", list(times["c-1"] / times["c-k"]))
        summary("C loop / gdfast, 1 thread", list(times["c-1"] / times["gdfast-1"]))
        summary(f"C loop / gdfast, {args.threads} threads", list(times["c-k"] / times["gdfast-k"]))
        # X read once per step: its bytes over the time of a step, against the read probe's rate
        rate = {name: X.nbytes * N_STEPS / times[name] / 1e9 for name in ("gdfast-1", "gdfast-k", "read-1", "read-k")}
        print("X read, GB/s (median, best): " + " | ".join(
            f"{label} {np.median(rate[name]):.1f}, {rate[name].max():.1f}" for name, label in (
                ("gdfast-1", "gdfast n_threads=1"), ("gdfast-k", f"n_threads={args.threads}"),
                ("read-1", "read probe 1 thread"), ("read-k", f"{args.threads} threads"))))
    print(f"load average: {load_average()}")

if __name__ == "__main__":
    main()
