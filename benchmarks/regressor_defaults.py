"""Test R² and fit time of GDRegressor's defaults (and candidates) against SGDRegressor's defaults.

Measured with ``python benchmarks/regressor_defaults.py`` (scikit-learn 1.9, x86-64, the
baseline-ISA build, one thread, on a 2-core VM shared with other jobs: load average 4.5 to 4.9,
so single timings of the millisecond fits spread from 0.2x to 7x; the medians are the figures to
read; the streaming times are single runs, not interleaved; the fits were alternated in a fixed
order by an earlier version of this script, which now times them through ``timing.interleaved``,
whose order rotates, with the ratio computed the same way, repeat by repeat)::

    problem            estimator                               mean R2   min R2 epochs time ratio     (min-max)   SGD s
    diabetes           SGDRegressor()                           0.3532   0.3518     10       1.00                 0.006
    diabetes           batch 1, invscaling 0.005, tol 1e-4      0.3506   0.3502     19       1.22  (0.42-12.84)
    diabetes           batch 1, invscaling 0.005, tol 2e-3      0.3535   0.3520     10       1.06   (0.23-5.20)
    diabetes             same + l2 (SGDRegressor's settings)    0.3536   0.3520     10       0.99   (0.28-3.24)
    diabetes           batch 1, constant 0.001, tol 1e-3        0.3516   0.3503     10       0.97   (0.19-5.21)
    diabetes           batch 1, invscaling 0.005, average       0.3712   0.3706     10       1.01   (0.27-3.28)
    diabetes           batch 16, constant 0.02, average         0.3712   0.3696      9       0.95   (0.17-3.58)
    diabetes           batch 32, constant 0.05, tol 1e-3        0.3451   0.3416     10       0.97   (0.23-4.53)
    diabetes           batch 32, adam 0.01, tol 1e-3            0.3523   0.3492     14       0.87   (0.18-3.44)
    diabetes           full batch, 0.01, tol 1e-4 (old)         0.3686   0.3686    123       1.25   (0.38-5.57)
    diabetes           GDRegressor() (batch 8, invscaling)      0.3560   0.3550     10       0.97   (0.32-3.19)
    breast_cancer      SGDRegressor()                           0.7278   0.7265     16       1.00                 0.008
    breast_cancer      batch 1, invscaling 0.005, tol 1e-4      0.7340   0.7336     44       1.63   (0.32-6.22)
    breast_cancer      batch 1, invscaling 0.005, tol 2e-3      0.7312   0.7295     19       1.11   (0.18-4.10)
    breast_cancer        same + l2 (SGDRegressor's settings)    0.7312   0.7295     19       1.08   (0.28-7.09)
    breast_cancer      batch 1, constant 0.001, tol 1e-3        0.7312   0.7273     29       1.07   (0.22-4.13)
    breast_cancer      batch 1, invscaling 0.005, average       0.7250   0.7246     19       1.22   (0.65-4.12)
    breast_cancer      batch 16, constant 0.02, average         0.7305   0.7290     19       0.99   (0.20-3.64)
    breast_cancer      batch 32, constant 0.05, tol 1e-3        0.6690   0.5664     18       0.96   (0.19-2.61)
    breast_cancer      batch 32, adam 0.01, tol 1e-3            0.7289   0.7250     31       1.01   (0.23-2.54)
    breast_cancer      full batch, 0.01, tol 1e-4 (old)         0.7153   0.7153    153       1.96   (0.82-7.49)
    breast_cancer      GDRegressor() (batch 8, invscaling)      0.7292   0.7280     19       0.98   (0.19-3.37)
    linnerud           SGDRegressor()                          -0.8442  -0.8456     27       1.00                 0.023
    linnerud           batch 1, invscaling 0.005, tol 1e-4     -0.9212  -0.9222    351       0.30   (0.08-1.53)
    linnerud           batch 1, invscaling 0.005, tol 2e-3     -0.8157  -0.8177     37       0.28   (0.07-0.75)
    linnerud             same + l2 (SGDRegressor's settings)   -0.8157  -0.8177     37       0.23   (0.07-0.53)
    linnerud           batch 1, constant 0.001, tol 1e-3       -0.8334  -0.8335     70       0.26   (0.06-1.05)
    linnerud           batch 1, invscaling 0.005, average      -0.8006  -0.8024     37       0.26   (0.05-0.85)
    linnerud           batch 16, constant 0.02, average        -0.7986  -0.7986     44       0.13   (0.04-0.76)
    linnerud           batch 32, constant 0.05, tol 1e-3       -0.8885  -0.8885     55       0.24   (0.06-0.56)
    linnerud           batch 32, adam 0.01, tol 1e-3           -0.9637  -0.9637     78       0.25   (0.05-0.65)
    linnerud           full batch, 0.01, tol 1e-4 (old)        -0.9306  -0.9306    444       0.28   (0.04-0.67)
    linnerud           GDRegressor() (batch 8, invscaling)     -0.8158  -0.8174     43       0.18   (0.04-0.74)
    friedman1          SGDRegressor()                           0.7089   0.7086      7       1.00                 0.008
    friedman1          batch 1, invscaling 0.005, tol 1e-4      0.7088   0.7085     11       1.37   (0.41-4.72)
    friedman1          batch 1, invscaling 0.005, tol 2e-3      0.7088   0.7086      7       1.07   (0.41-5.73)
    friedman1            same + l2 (SGDRegressor's settings)    0.7088   0.7086      7       1.01   (0.33-3.56)
    friedman1          batch 1, constant 0.001, tol 1e-3        0.7076   0.7070      7       0.97   (0.37-3.56)
    friedman1          batch 1, invscaling 0.005, average       0.7109   0.7108      7       1.07   (0.41-4.26)
    friedman1          batch 16, constant 0.02, average         0.7110   0.7109      7       0.89   (0.20-2.39)
    friedman1          batch 32, constant 0.05, tol 1e-3        0.7069   0.7059      7       0.86   (0.21-2.49)
    friedman1          batch 32, adam 0.01, tol 1e-3            0.7082   0.7081      8       0.93   (0.20-3.21)
    friedman1          full batch, 0.01, tol 1e-4 (old)         0.7110   0.7110    151       2.49   (1.34-6.36)
    friedman1          GDRegressor() (batch 8, invscaling)      0.7089   0.7088      7       0.89   (0.27-3.00)
    linear 100k x 100  SGDRegressor()                           0.9913   0.9913      7       1.00                 0.908
    linear 100k x 100  batch 1, invscaling 0.005, tol 1e-4      0.9914   0.9914      7       0.96   (0.89-1.09)
    linear 100k x 100  batch 1, invscaling 0.005, tol 2e-3      0.9914   0.9914      7       0.89   (0.84-1.09)
    linear 100k x 100    same + l2 (SGDRegressor's settings)    0.9914   0.9914      7       1.08   (0.94-1.31)
    linear 100k x 100  batch 1, constant 0.001, tol 1e-3        0.9907   0.9907      7       0.88   (0.75-1.10)
    linear 100k x 100  batch 1, invscaling 0.005, average       0.9915   0.9915      7       1.12   (0.91-1.39)
    linear 100k x 100  batch 16, constant 0.02, average         0.9915   0.9915      7       0.77   (0.64-0.84)
    linear 100k x 100  batch 32, constant 0.05, tol 1e-3        0.9900   0.9899      7       0.74   (0.65-0.92)
    linear 100k x 100  batch 32, adam 0.01, tol 1e-3            0.9784   0.9764      7       0.80   (0.62-0.94)
    linear 100k x 100  full batch, 0.01, tol 1e-4 (old)         0.9896   0.9896    153       3.03   (2.84-3.70)
    linear 100k x 100  GDRegressor() (batch 8, invscaling)      0.9914   0.9914      7       0.74   (0.64-0.94)
    streaming 100k x 100 in chunks of 1000: least-squares test R2 0.9915
      1 pass(es)  SGDRegressor().partial_fit           test R2   0.9912    0.33 s
      1 pass(es)  GDRegressor().partial_fit            test R2   0.9913    0.45 s
      1 pass(es)  GDRegressor(old defaults: full batch) test R2   0.9453    0.52 s
      3 pass(es)  SGDRegressor().partial_fit           test R2   0.9913    0.67 s
      3 pass(es)  GDRegressor().partial_fit            test R2   0.9913    0.93 s
      3 pass(es)  GDRegressor(old defaults: full batch) test R2   0.9914    1.14 s

GDRegressor's defaults are the row ``GDRegressor()``: mini-batches of 8, ``learning_rate=0.02``
with the inverse-scaling schedule, ``tol=2e-3`` (``SGDRegressor``'s ``tol=1e-3`` in units of
``mse``). Its test R² is at least ``SGDRegressor()``'s on every set (mean and worst seed; friedman1
equal to 4 digits), in a similar number of epochs (16 -> 19 on breast_cancer, 27 -> 43 on
linnerud), with median fit times of 0.18-0.98 times ``SGDRegressor()``'s (an earlier run on the
same machine: 0.27-1.10). The per-sample rows reach the same R² but cost more per epoch (one update
per sample) on the small sets; batch 32 loses R² with plain SGD (breast_cancer, 10^5 x 100) and
with Adam (diabetes, 10^5 x 100); of the averaged rows, the per-sample one falls under SGDRegressor() on
breast_cancer, and batch 16 is no better than the defaults. The old full-batch defaults needed 10 to 22 times the
epochs and 1.3 to 3.0 times the time (linnerud aside, where MultiOutputRegressor's three fits
dominate), and their ``partial_fit`` takes one step per chunk: one pass of the stream ends at R²
0.945 where the defaults reach SGDRegressor's 0.991 (least squares: 0.9915). ``partial_fit``'s
fixed cost per call (input checks, copying the training state) is larger than ``SGDRegressor``'s:
on chunks of 1000 rows a pass took 1.4 times as long (0.45 s against 0.33 s).

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
the 10^5 x 100 set to 2 x 10^4 rows and does one repeat; ``--repeats N``: timed fits per seed,
default 3, five times as many on the small sets). Single-threaded (both
libraries run the per-sample loop on one thread).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from timing import interleaved, load_average  # first: puts this checkout's gdfast on sys.path
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


def fitted(est, X, y):
    """``est`` fitted on (X, y), convergence warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def compare(names, n_large: int, repeats: int) -> None:
    print(f"load average {load_average()}")
    print(f"{'problem':18s} {'estimator':38s} {'mean R2':>8s} {'min R2':>8s} {'epochs':>6s} {'time ratio':>10s} "
          f"{'(min-max)':>13s} {'SGD s':>7s}")
    for problem, X, y in problems(n_large):
        X_tr, X_te, y_tr, y_te = split_scaled(X, y)
        cands = {k: v for k, v in CANDIDATES.items() if not names or k in names}
        scores: dict[str, list[float]] = {k: [] for k in [REFERENCE, *cands]}
        n_epochs: dict[str, list[float]] = {k: [] for k in [REFERENCE, *cands]}
        ratios: dict[str, list[float]] = {k: [] for k in cands}
        ref_times: list[float] = []
        reps = repeats if len(X_tr) > 10_000 else 5 * repeats  # (small sets: fits of milliseconds)
        multi = y_tr.ndim == 2
        for seed in range(3):
            fits = {REFERENCE: lambda seed=seed: fitted(sgd_regressor(seed, multi), X_tr, y_tr)}
            for name, kw in cands.items():
                fits[name] = lambda seed=seed, kw=kw: fitted(GDRegressor(random_state=seed, **kw), X_tr, y_tr)
            # timing.interleaved: every fit once untimed, then once per repeat in a rotating order; a
            # candidate's ratio is its time over SGDRegressor's in the same repeat
            times, last = interleaved(fits, reps)
            ref_times.extend(times[REFERENCE])
            for name, est in last.items():
                scores[name].append(est.score(X_te, y_te))
                n_epochs[name].append(epochs(est))
            for name in cands:
                ratios[name].extend(np.asarray(times[name]) / np.asarray(times[REFERENCE]))
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
            print(f"  {passes} pass(es)  {name:38s} test R2 {est.score(X_te, y_te):8.4f}  {elapsed:6.2f} s",
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
