"""Test R² and fit time of GDRegressor's defaults (and candidates) against SGDRegressor's defaults.

TABLE

Five problems, each split 75/25 (``random_state=0``): diabetes, breast_cancer (its 0/1 target as a
regression target), linnerud (3 targets; ``SGDRegressor`` fits one target at a time, through
``MultiOutputRegressor``, and the score is the mean R² of the three), friedman1
(``make_friedman1``, 2000 samples, noise 1) and a synthetic linear set of 10^5 x 100 (standard
normal X and weights, y = X @ w + a standard normal noise: the least-squares R² is about 0.99).
StandardScaler is fitted on the training part of X, and of y too (so one learning rate suits every
problem; R² does not change under the affine map of y, and every estimator gets the same scaled
data). Each estimator is fitted with ``random_state`` 0, 1 and 2 and scored on the test part (mean
and worst R²). Fit time is measured INTERLEAVED: each round fits SGDRegressor and then every
candidate on the same data, and a candidate's time ratio is its time over SGDRegressor's of the
same round; the table prints the median ratio over the rounds (seeds x repeats) and its range
(min-max). Ratios below 1 are faster than SGDRegressor().

The streaming rows feed the training part of the 10^5 x 100 set to ``partial_fit`` in chunks of
1000 rows (in order; one pass, then three passes) and print the test R², next to
``SGDRegressor().partial_fit`` fed the same chunks, and the least-squares R² (np.linalg.lstsq).

Every gdfast candidate trains ``loss="mse"``, the mean of r**2: twice scikit-learn's
``squared_error`` (r**2 / 2), so ``learning_rate=0.005`` takes the steps of scikit-learn's
``eta0=0.01``.

Run: ``python benchmarks/regressor_defaults.py`` (a few minutes on one core; ``--quick`` drops
the 10^5 x 100 set to 2 x 10^4 rows and does one repeat; ``--repeats N``). Single-threaded (both
libraries run the per-sample loop on one thread).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_linnerud, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputRegressor
from sklearn.preprocessing import StandardScaler

from gdfast import GDRegressor


def synthetic(n_samples: int, n_features: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = X @ w + noise, X, w and noise standard normal."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    return X, X @ rng.standard_normal(n_features) + rng.standard_normal(n_samples)


def problems(n_large: int):
    yield "diabetes", *load_diabetes(return_X_y=True)
    yield "breast_cancer", *load_breast_cancer(return_X_y=True)
    yield "linnerud", *load_linnerud(return_X_y=True)
    yield "friedman1", *make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    yield f"linear {n_large // 1000}k x 100", *synthetic(n_large)


def split_scaled(X: np.ndarray, y: np.ndarray):
    """75/25 split (random_state=0), X and y standardised on the training part."""
    X_tr, X_te, y_tr, y_te = train_test_split(X, y.astype(np.float64), test_size=0.25, random_state=0)
    xs = StandardScaler().fit(X_tr)
    ys = StandardScaler().fit(y_tr.reshape(len(y_tr), -1))
    y_tr = ys.transform(y_tr.reshape(len(y_tr), -1)).reshape(y_tr.shape)
    y_te = ys.transform(y_te.reshape(len(y_te), -1)).reshape(y_te.shape)
    return xs.transform(X_tr), xs.transform(X_te), y_tr, y_te


def sgd_regressor(seed: int, multi: bool):
    est = SGDRegressor(random_state=seed)
    return MultiOutputRegressor(est) if multi else est


REFERENCE = "SGDRegressor()"
CANDIDATES = {
    "batch 1, invscaling 0.005, tol 1e-4": dict(batch_size=1, schedule="invscaling", learning_rate=0.005, tol=1e-4),
    "batch 1, invscaling 0.005, tol 2e-3": dict(batch_size=1, schedule="invscaling", learning_rate=0.005, tol=2e-3),
    "  same + l2 (SGDRegressor's settings)": dict(batch_size=1, schedule="invscaling", learning_rate=0.005, tol=2e-3,
                                                  penalty="l2"),
    "batch 1, constant 0.001, tol 1e-3": dict(batch_size=1, schedule=None, learning_rate=0.001, tol=1e-3),
    "batch 1, invscaling 0.005, average": dict(batch_size=1, schedule="invscaling", learning_rate=0.005, tol=2e-3,
                                               average=True),
    "batch 16, constant 0.02, average": dict(batch_size=16, schedule=None, learning_rate=0.02, tol=2e-3,
                                             average=True),
    "batch 32, constant 0.05, tol 1e-3": dict(batch_size=32, schedule=None, learning_rate=0.05, tol=1e-3),
    "batch 32, adam 0.01, tol 1e-3": dict(batch_size=32, schedule=None, optimizer="adam", learning_rate=0.01,
                                          tol=1e-3),
    "full batch, 0.01, tol 1e-4 (old)": dict(batch_size=None, schedule=None, learning_rate=0.01, tol=1e-4),
    "GDRegressor() (batch 8, invscaling)": dict(),
}


def epochs(est) -> float:
    """Epochs of the fit (the mean over the targets of a MultiOutputRegressor)."""
    return float(np.mean([e.n_iter_ for e in est.estimators_])) if hasattr(est, "estimators_") else est.n_iter_


def fit_timed(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X, y)
        return est, time.perf_counter() - t0


def compare(names, n_large: int, repeats: int) -> None:
    print(f"{'problem':18s} {'estimator':38s} {'mean R2':>8s} {'min R2':>8s} {'epochs':>6s} {'time ratio':>10s} "
          f"{'(min-max)':>13s} {'SGD s':>7s}")
    for problem, X, y in problems(n_large):
        X_tr, X_te, y_tr, y_te = split_scaled(X, y)
        cands = {k: v for k, v in CANDIDATES.items() if not names or k in names}
        scores: dict[str, list[float]] = {k: [] for k in [REFERENCE, *cands]}
        n_epochs: dict[str, list[float]] = {k: [] for k in [REFERENCE, *cands]}
        ratios: dict[str, list[float]] = {k: [] for k in cands}
        ref_times = []
        for seed in range(3):
            for rep in range(repeats):
                est, t_ref = fit_timed(sgd_regressor(seed, y_tr.ndim == 2), X_tr, y_tr)
                ref_times.append(t_ref)
                if rep == 0:
                    scores[REFERENCE].append(est.score(X_te, y_te))
                    n_epochs[REFERENCE].append(epochs(est))
                for name, kw in cands.items():
                    est, t = fit_timed(GDRegressor(random_state=seed, **kw), X_tr, y_tr)
                    ratios[name].append(t / t_ref)
                    if rep == 0:
                        scores[name].append(est.score(X_te, y_te))
                        n_epochs[name].append(epochs(est))
        for name, sc in scores.items():
            r = ratios.get(name)
            timing = (f"{np.median(r):10.2f} {f'({min(r):.2f}-{max(r):.2f})':>13s}" if r
                      else f"{1.0:10.2f} {'':13s} {np.median(ref_times):7.3f}")
            print(f"{problem:18s} {name:38s} {np.mean(sc):8.4f} {np.min(sc):8.4f} {np.median(n_epochs[name]):6.0f} "
                  f"{timing}", flush=True)


def stream(n_large: int, passes_list=(1, 3), chunk: int = 1000) -> None:
    X_tr, X_te, y_tr, y_te = split_scaled(*synthetic(n_large))
    w, *_ = np.linalg.lstsq(np.c_[X_tr, np.ones(len(X_tr))], y_tr, rcond=None)
    resid = y_te - np.c_[X_te, np.ones(len(X_te))] @ w
    print(f"streaming {n_large // 1000}k x 100 in chunks of {chunk}: least-squares test R2 "
          f"{1 - resid @ resid / np.sum((y_te - y_te.mean()) ** 2):.4f}")
    makers = {
        "SGDRegressor().partial_fit": lambda: SGDRegressor(random_state=0),
        "GDRegressor().partial_fit": lambda: GDRegressor(random_state=0),
        "GDRegressor(old defaults: full batch)": lambda: GDRegressor(random_state=0, batch_size=None, schedule=None,
                                                               learning_rate=0.01, tol=1e-4),
    }
    for passes in passes_list:
        for name, make in makers.items():
            est = make()
            t0 = time.perf_counter()
            for _ in range(passes):
                for start in range(0, len(X_tr), chunk):
                    est.partial_fit(X_tr[start:start + chunk], y_tr[start:start + chunk])
            elapsed = time.perf_counter() - t0
            print(f"  {passes} pass(es)  {name:36s} test R2 {est.score(X_te, y_te):8.4f}  {elapsed:6.2f} s",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="*", help="names of CANDIDATES to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="2 x 10^4 rows instead of 10^5, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per seed (default 3; quick 1)")
    parser.add_argument("--no-stream", action="store_true")
    args = parser.parse_args()
    n_large = 20_000 if args.quick else 100_000
    repeats = args.repeats or (1 if args.quick else 3)
    compare(args.candidates, n_large, repeats)
    if not args.no_stream:
        stream(n_large)


if __name__ == "__main__":
    main()
