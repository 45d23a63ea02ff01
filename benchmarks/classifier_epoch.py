"""Per-epoch time of per-sample SGD on dense data, binary logistic loss: gdfast against SGDClassifier.

``--n`` x ``--features`` (default 10^5 x 100) float64 standard normal X, labels -1/+1 from a noisy
random linear model, logistic loss, no penalty, constant learning rate 0.001, an intercept, no
shuffling, one thread:

- gdfast: ``gdfast.train(w0, X, y, loss="log_loss", batch_size=1, shuffle=False, fit_intercept=True,
  num_epochs=e, ...)``;
- scikit-learn: ``SGDClassifier(loss="log_loss", penalty=None, learning_rate="constant", eta0=0.001,
  max_iter=e, tol=None, shuffle=False).fit(X, y)``.

Both answers are compared first (weights and intercept after ``--epochs`` epochs, to 1e-9 of the
largest weight); the timing counts only if they agree. Each side's per-epoch time is the difference
of a call of 1 + ``--epochs`` epochs and a call of 1 epoch, over ``--epochs``: each side's fixed cost
per call (input checks, and for gdfast the final loss on all samples) cancels. The four calls are
timed interleaved (``timing.interleaved``: the order rotating repeat by repeat) and each repeat's
ratio (scikit-learn's per-epoch time over gdfast's) is printed as median and min-max. Writes no files.

    python benchmarks/classifier_epoch.py [--repeats 7] [--epochs 4] [--n 100000] [--features 100]
"""
import argparse
import os

for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_name, "1")

import statistics  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from timing import interleaved, load_average  # noqa: E402  (puts this checkout first on sys.path)

import gdfast  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402

LR = 0.001
# The same per-sample arithmetic in another summation order for each prediction (gdfast: four
# partial sums; scikit-learn: one): ~1e-15 after a few epochs.
RTOL = 1e-9


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.features))
    y = np.where(X @ rng.standard_normal(args.features) + 0.5 * rng.standard_normal(args.n) > 0, 1.0, -1.0)
    Y = y[:, None]
    w0 = np.zeros((1, args.features))

    def ours(epochs):
        def call():
            r = gdfast.train(w0, X, Y, loss="log_loss", learning_rate=LR, batch_size=1, shuffle=False,
                             fit_intercept=True, num_epochs=epochs)
            return r.W[0], r.b
        return call

    def theirs(epochs):
        def call():
            clf = SGDClassifier(loss="log_loss", penalty=None, learning_rate="constant", eta0=LR, max_iter=epochs,
                                tol=None, shuffle=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            return clf.coef_[0], clf.intercept_
        return call

    e = args.epochs
    (w_ours, b_ours), (w_theirs, b_theirs) = ours(e)(), theirs(e)()
    scale = float(np.max(np.abs(w_theirs)))
    gap = max(float(np.max(np.abs(w_ours - w_theirs))), float(np.max(np.abs(b_ours - b_theirs)))) / scale
    print(f"X: {args.n} x {args.features} float64; answers after {e} epochs: max |gdfast - scikit-learn| / "
          f"max |coef| = {gap:.2e} (must be <= {RTOL:g}); load average {load_average()}")
    if not gap <= RTOL:
        raise SystemExit("the two answers differ: no timing")
    times, _ = interleaved({"gdfast 1": ours(1), "gdfast 1+e": ours(1 + e),
                            "scikit-learn 1": theirs(1), "scikit-learn 1+e": theirs(1 + e)}, args.repeats)
    g = (times["gdfast 1+e"] - times["gdfast 1"]) / e
    s = (times["scikit-learn 1+e"] - times["scikit-learn 1"]) / e
    ratios = s / g
    print(f"per epoch, median of {args.repeats}: gdfast {statistics.median(g) * 1e3:.1f} ms, "
          f"scikit-learn {statistics.median(s) * 1e3:.1f} ms")
    print(f"scikit-learn / gdfast: median {statistics.median(ratios):.2f}x (min {ratios.min():.2f}x, "
          f"max {ratios.max():.2f}x); load average {load_average()}")


if __name__ == "__main__":
    main()
