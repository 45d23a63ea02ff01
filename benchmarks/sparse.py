"""Per-epoch time of per-sample SGD on sparse CSR data: gdfast against scikit-learn's SGDClassifier.

A random CSR matrix of ``--n`` x ``--n`` (default 10^5 x 10^5) at ``--density`` (default 0.1%),
float64, binary labels (-1/+1 from a random linear model), logistic loss, L2 penalty alpha=1e-5,
constant learning rate 0.01, no intercept (scikit-learn decays the intercept's updates on sparse
data, gdfast does not), no shuffling, one thread. Each side is called with ``--epochs`` epochs
(default 5) and with twice as many; the per-epoch time is the difference of the two calls' times
over ``--epochs`` (so each side's fixed cost per call, validation and, for gdfast, the final loss on
all samples, drops out), and the fixed cost is the shorter call's time less its epochs:

- gdfast: ``gdfast.train(w0, X, y, loss="log_loss", batch_size=1, shuffle=False, num_epochs=epochs,
  penalty="l2", ...)``;
- scikit-learn: ``SGDClassifier(loss="log_loss", penalty="l2", learning_rate="constant",
  max_iter=epochs, tol=None, shuffle=False, fit_intercept=False, ...).fit(X, y)``.

Both answers are compared first (the weights after the epochs, to 1e-9 relative to their largest
entry); the timing counts only if they agree. The four calls are then timed interleaved (``timing.
interleaved``: the order rotating repeat by repeat) and the per-repeat ratios of the per-epoch
times (scikit-learn's over gdfast's) printed as median and min-max. Both are single-threaded code;
BLAS is held to one thread anyway. Writes no files.

When Numba is installed, a third side is timed the same way: ``limit``, the smallest loop that does
the same arithmetic (the row's dot product with the scaled weights, the logistic derivative and
loss, the L2 scale, the scatter of the update), compiled by Numba, with no options, records or
checks (its dot product is one plain chain, not gdfast's four). When gdfast is as fast as it or
faster, the per-sample bookkeeping is not where the time goes: the gathers and scatters into the
weights at the data's random columns are.

When a C compiler is found (``gcc``, ``cc`` or ``$CC``), a fourth side is timed the same way:
``floor``, the memory traffic of per-sample SGD on this data and nothing else, written in C and
compiled at run time with benchmarks/peers.py's flags (-O3 -march=native -ffp-contract=off): each
row's dot product with the weights (gathers at the row's columns, in four partial sums), a step of
fixed size whose sign depends on that product (no loss function, no L2 scale, no records), then the
scatter of the update into the same columns. It trains no model (its answer is not checked): it is
the time any implementation of exact per-sample SGD on this data needs at the least for its
gathers and scatters, on this machine, so scikit-learn / floor is the most that an implementation
can gain on scikit-learn here. (Prefetching the next row's weights, in a pass of its own or inside
the scatter, made this loop slower here.)

    python benchmarks/sparse.py [--repeats 7] [--epochs 5] [--n 100000] [--density 0.001]
"""
import argparse
import ctypes
import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from timing import interleaved, load_average  # noqa: E402  (puts this checkout first on sys.path)

import gdfast  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402

LR, ALPHA = 0.01, 1e-5
# Both sum each prediction over the row's entries in stored order and keep W as scale * w; they
# differ in the last bits (where the scale is folded, exp's rounding): after one epoch ~1e-15.
RTOL = 1e-9


def problem(n, density, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n, density=density, format="csr", dtype=np.float64, random_state=rng)
    w_true = rng.standard_normal(n)
    y = np.where(X @ w_true + 0.1 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def numba_limit():
    """The minimal per-sample loop, compiled by Numba (None when Numba is not installed)."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(fastmath=False, boundscheck=False, cache=False)
    def limit(data, indices, indptr, y, w, epochs, lr, alpha):
        wscale = 1.0
        loss_sum = 0.0
        for _ in range(epochs):
            for i in range(indptr.shape[0] - 1):
                p = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    p += data[k] * w[indices[k]]
                z = y[i] * (wscale * p)
                # log(1 + exp(-z)) and its derivative, as scikit-learn's Log loss (cut-offs at +-18)
                if z > 18.0:
                    loss, d = np.exp(-z), -np.exp(-z)
                elif z < -18.0:
                    loss, d = -z, -1.0
                else:
                    ez = np.exp(-z)
                    loss, d = np.log1p(ez), -ez / (1.0 + ez)
                loss_sum += loss
                wscale *= 1.0 - lr * alpha
                coef = lr * y[i] * d / wscale
                for k in range(indptr[i], indptr[i + 1]):
                    w[indices[k]] -= coef * data[k]
                if wscale < 1e-9:
                    w *= wscale
                    wscale = 1.0
        w *= wscale
        return loss_sum

    return limit


FLOOR_C = r"""
/* Per-sample SGD's memory traffic on CSR data (benchmarks/sparse.py, the floor): each row's dot
   product with w, gathered in four partial sums, a step of fixed size whose sign depends on it, and
   the scatter of the update into the row's columns. Returns the sum of the products (so that the
   compiler keeps them). */
double floor_epochs(const double* data, const int* indices, const int* indptr, long n_rows, double* w,
                    long epochs, double lr) {
    double total = 0.0;
    for (long e = 0; e < epochs; e++) {
        for (long i = 0; i < n_rows; i++) {
            long start = indptr[i], end = indptr[i + 1], k = start;
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            for (; k + 4 <= end; k += 4) {
                s0 += data[k] * w[indices[k]];
                s1 += data[k + 1] * w[indices[k + 1]];
                s2 += data[k + 2] * w[indices[k + 2]];
                s3 += data[k + 3] * w[indices[k + 3]];
            }
            for (; k < end; k++) s0 += data[k] * w[indices[k]];
            double p = (s0 + s1) + (s2 + s3);
            double step = lr * (p > 0.0 ? -0.5 : 0.5);
            total += p;
            for (k = start; k < end; k++) w[indices[k]] -= step * data[k];
        }
    }
    return total;
}
"""


def c_floor():
    """The floor loop (``FLOOR_C``) compiled at run time (``peers.compile_c``), as a ctypes function;
    None without a working C compiler."""
    from peers import compile_c

    lib, _ = compile_c(FLOOR_C, "floor")
    if lib is None:
        return None
    func = lib.floor_epochs
    func.restype = ctypes.c_double
    return func


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    X, y = problem(args.n, args.density)
    print(f"X: {X.shape[0]} x {X.shape[1]} CSR, {X.nnz} stored entries ({X.nnz / X.shape[0] / X.shape[1]:.3%}), "
          f"made in {time.perf_counter() - t0:.1f} s; load average {load_average()}")
    w0 = np.zeros(X.shape[1])

    def gdfast_run(epochs):
        return gdfast.train(w0, X, y, loss="log_loss", learning_rate=LR, batch_size=1, shuffle=False,
                            num_epochs=epochs, penalty="l2", alpha=ALPHA).W

    def sklearn_run(epochs):
        clf = SGDClassifier(loss="log_loss", penalty="l2", alpha=ALPHA, learning_rate="constant", eta0=LR,
                            max_iter=epochs, tol=None, shuffle=False, fit_intercept=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        return clf.coef_[0]

    limit = numba_limit()

    def limit_run(epochs):
        w = np.zeros(X.shape[1])
        limit(X.data, X.indices, X.indptr, y, w, epochs, LR, ALPHA)
        return w

    floor = c_floor()
    indices32, indptr32 = X.indices.astype(np.int32), X.indptr.astype(np.int32)

    def floor_run(epochs):
        w = np.zeros(X.shape[1])
        address = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
        floor(address(X.data), address(indices32), address(indptr32), ctypes.c_long(X.shape[0]), address(w),
              ctypes.c_long(epochs), ctypes.c_double(LR))
        return w

    e = args.epochs
    ours, theirs = gdfast_run(e), sklearn_run(e)
    answers = {"gdfast": ours}
    if limit is not None:
        answers["limit"] = limit_run(e)
    for name, answer in answers.items():
        gap = float(np.max(np.abs(answer - theirs)) / np.max(np.abs(theirs)))
        print(f"answers: max |{name} - scikit-learn| / max |coef| = {gap:.2e} (must be <= {RTOL:g})")
        if not gap <= RTOL:
            raise SystemExit("the answers differ: no timing")
    runs = {"gdfast": gdfast_run, "scikit-learn": sklearn_run}
    if limit is not None:
        runs["limit"] = limit_run
    if floor is not None:
        runs["floor"] = floor_run  # (its answer is no model: not checked)
    calls = {}
    for name, run in runs.items():
        calls[name] = lambda run=run: run(e)
        calls[f"{name} 2x"] = lambda run=run: run(2 * e)
    times, _ = interleaved(calls, args.repeats)
    per_epoch = {name: (times[f"{name} 2x"] - times[name]) / e for name in runs}
    fixed = {name: times[name] - e * per_epoch[name] for name in per_epoch}
    ratios = per_epoch["scikit-learn"] / per_epoch["gdfast"]
    print(f"per epoch ((time of {2 * e} epochs - time of {e}) / {e}), median of {args.repeats}: "
          + ", ".join(f"{name} {statistics.median(per_epoch[name]) * 1e3:.1f} ms" for name in per_epoch))
    print("fixed cost per call (time of a call less its epochs), median: "
          + ", ".join(f"{name} {statistics.median(fixed[name]) * 1e3:.1f} ms" for name in fixed))
    print(f"scikit-learn / gdfast per epoch: median {statistics.median(ratios):.2f}x (min {ratios.min():.2f}x, "
          f"max {ratios.max():.2f}x); load average {load_average()}")
    if limit is not None:
        bound = per_epoch["limit"] / per_epoch["gdfast"]
        print(f"limit / gdfast per epoch: median {statistics.median(bound):.2f}x (min {bound.min():.2f}x, "
              f"max {bound.max():.2f}x)")
    if floor is not None:
        for name in ("scikit-learn", "gdfast"):
            bound = per_epoch[name] / per_epoch["floor"]
            print(f"{name} / floor per epoch: median {statistics.median(bound):.2f}x (min {bound.min():.2f}x, "
                  f"max {bound.max():.2f}x)")


if __name__ == "__main__":
    main()
