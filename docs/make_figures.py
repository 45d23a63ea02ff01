"""Regenerate the figures of the README and the user guide under docs/ (never edit those PNGs by hand).

Usage: ``python docs/make_figures.py [--output DIR | --update]``. By default the figures go to a
folder in the system's temporary directory (printed), so a run never rewrites tracked files;
``--update`` writes them into docs/, next to this script, for a commit.
Everything is seeded and the PNGs carry no timestamp, so a rerun gives the same files.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings

import matplotlib
import matplotlib.colors

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's gdfast
import gdfast  # noqa: E402
from gdfast import lesson, plot  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(tempfile.gettempdir(), "gdfast-figures")
DPI = 90
METADATA = {"Software": None}  # no matplotlib version/date in the file: reruns are byte-stable


def _save(ax, path: str) -> str:
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, metadata=METADATA)
    plt.close(fig)
    return path


def lesson_descent(out: str) -> str:
    """Lesson 3.1.1: the notebook's figure, the path computed by the compiled kernel."""
    xs, fs = lesson.gradient_descent_1d(x_start=10, learning_rate=0.1, num_iterations=20)
    return _save(lesson.plot_gradient_descent(xs, fs), os.path.join(out, "lesson_descent_1d.png"))


def loss_curves(out: str) -> str:
    """Lesson 3.1 trained by gdfast.train with three optimizers: the loss curves on one log axis."""
    runs = {
        "SGD, lr 0.02": gdfast.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.02,
                                     num_iterations=150),
        "SGD + momentum 0.9, lr 0.005": gdfast.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.005,
                                                      optimizer=gdfast.SGD(momentum=0.9), num_iterations=150),
        "Adam, lr 0.05": gdfast.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.05,
                                      optimizer="adam", num_iterations=150),
    }
    ax = plot.loss_curves(list(runs.values()), labels=list(runs))
    ax.set_title("Lesson 3.1: loss during gdfast.train")
    return _save(ax, os.path.join(out, "loss_curves.png"))


def contour(out: str) -> str:
    """Plain gradient descent zig-zagging down an ill-conditioned valley f = x[0]**2 + 10 x[1]**2."""
    def f(p):
        return p[0] ** 2 + 10 * p[1] ** 2

    def grad(p):
        return np.array([2 * p[0], 20 * p[1]])

    path = gdfast.descend(grad, [4.0, 1.5], learning_rate=0.09, num_iterations=25)
    ax = plot.contour_2d(f, path, levels=15)
    ax.set_title("descend on x[0]² + 10·x[1]², learning rate 0.09")
    return _save(ax, os.path.join(out, "descent_contour.png"))


def lr_sweep(out: str) -> str:
    """Final loss of lesson 3.1 after 200 updates for 25 learning rates (one sweep call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the largest rates diverge, on purpose
        res = gdfast.sweep(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rates=np.geomspace(1e-4, 1.0, 25),
                           num_iterations=200)
    ax = plot.lr_sweep(res)
    ax.set_title("Lesson 3.1: final loss after 200 updates vs learning rate")
    return _save(ax, os.path.join(out, "lr_sweep.png"))


OPTIMIZER_RUNS = [  # each learning rate a reasonable setting for its optimizer, not tuned to flatter one
    ("SGD (lr=5)", gdfast.SGD(), 5.0),
    ("SGD momentum 0.9, Nesterov (lr=1)", gdfast.SGD(momentum=0.9, nesterov=True), 1.0),
    ("Adam (lr=0.05)", gdfast.Adam(), 0.05),
    ("AdamW wd=0.01 (lr=0.05)", gdfast.AdamW(weight_decay=0.01), 0.05),
    ("RMSprop (lr=0.01)", gdfast.RMSprop(), 0.01),
    ("Adagrad (lr=0.5)", gdfast.Adagrad(), 0.5),
]


def optimizers(out: str) -> str:
    """Every optimizer on one least-squares problem (W 64x64, 256 noisy samples), full batch from W = 0,
    with the least-squares optimum as a floor."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64))
    Y = X @ rng.standard_normal((64, 64)).T + 0.1 * rng.standard_normal((256, 64))
    W0 = np.zeros((64, 64))
    floor = gdfast.mse(gdfast.predict(np.linalg.lstsq(X, Y, rcond=None)[0].T, X), Y)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, optimizer, lr in OPTIMIZER_RUNS:
        result = gdfast.train(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=500)
        ax.plot(np.arange(result.losses.size), result.losses, label=label, lw=1.6)
    ax.axhline(floor, color="k", ls=":", lw=1, label=f"least-squares optimum ({floor:.4f})")
    ax.set_yscale("log")
    ax.set_xlabel("update")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("gdfast optimizers: W 64x64, 256 samples, full batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(ax, os.path.join(out, "optimizers.png"))


def classifier_boundaries(out: str) -> str:
    """GDClassifier on three overlapping 2-D blobs: one-vs-rest and multinomial decision regions side by side."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=300, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]], cluster_std=1.3,
                      random_state=0)
    xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 1, X[:, 0].max() + 1, 300),
                         np.linspace(X[:, 1].min() - 1, X[:, 1].max() + 1, 300))
    grid = np.c_[xx.ravel(), yy.ravel()]
    colours = ["tab:blue", "tab:orange", "tab:green"]
    cmap = matplotlib.colors.ListedColormap(colours)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    for ax, multi_class in zip(axes, ["ovr", "multinomial"]):
        clf = gdfast.GDClassifier(multi_class=multi_class, random_state=0).fit(X, y)
        regions = clf.predict(grid).reshape(xx.shape)
        ax.contourf(xx, yy, regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap=cmap, alpha=0.25)
        ax.contour(xx, yy, regions, levels=[0.5, 1.5], colors="k", linewidths=0.8)
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, s=14, edgecolors="k", linewidths=0.3)
        ax.set_title(f"GDClassifier(multi_class={multi_class!r})\ntraining accuracy {clf.score(X, y):.3f}")
        ax.set_xlabel("x[0]")
    axes[0].set_ylabel("x[1]")
    return _save(axes[0], os.path.join(out, "classifier_boundaries.png"))


def lasso_path_data(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The L1 path of the standardised diabetes data: gdfast's coefficients for each alpha (full-batch
    proximal steps, each run started from the previous alpha's solution), and scikit-learn's
    ``lasso_path`` at alpha / 2 (its squared error is half gdfast's mse). Returns (alphas, gdfast, sklearn),
    the coefficients of shape (n_alphas, n_features). 5000 updates per alpha leave gdfast within ~1e-4 of
    lasso_path (coefficients up to ~37; a fraction of a pixel), with the same zeros; tests/test_penalty.py
    runs this mapping to 1e-6."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import lasso_path

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = y - y.mean()
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(X.T @ X / X.shape[0]).max())  # 1 / L of the mean squared error
    W = np.zeros(X.shape[1])
    ours = []
    for alpha in alphas:
        W = gdfast.train(W, X, y, penalty="l1", alpha=float(alpha), learning_rate=lr, num_iterations=5000).W
        ours.append(W)
    _, theirs, _ = lasso_path(X, y, alphas=alphas / 2.0, tol=1e-12, max_iter=100_000)
    return alphas, np.array(ours), theirs.T


LASSO_ALPHAS = np.geomspace(100.0, 0.01, 40)


def l1_path(out: str) -> str:
    """Coefficients of penalty="l1" against alpha on the diabetes data, scikit-learn's lasso_path dashed on top."""
    from sklearn.datasets import load_diabetes

    names = load_diabetes().feature_names
    alphas, ours, theirs = lasso_path_data(LASSO_ALPHAS)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for j, name in enumerate(names):
        line, = ax.plot(alphas, ours[:, j], lw=1.8, label=name)
        ax.plot(alphas, theirs[:, j], ls="--", color="k", lw=0.7)
    ax.plot([], [], ls="--", color="k", lw=0.7, label="sklearn lasso_path(alpha / 2)")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("alpha (penalty=\"l1\")")
    ax.set_ylabel("coefficient")
    ax.set_title("L1 path on the diabetes data (standardised): exact zeros as alpha grows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(ax, os.path.join(out, "l1_path.png"))


def optimizer_race(out: str) -> str:
    """Four optimizers from (-1.5, 2) on Rosenbrock's valley, 2000 updates each, f and its gradient in the kernel."""
    from gdfast.functions import Rosenbrock

    f = Rosenbrock()
    race = {name: gdfast.descend(f.gradient, [-1.5, 2.0], function=f, optimizer=opt, learning_rate=lr,
                                 num_iterations=2000, record_every=10)
            for name, opt, lr in [("SGD, lr 1e-3", "sgd", 1e-3), ("momentum 0.9, lr 2e-4", gdfast.SGD(momentum=0.9), 2e-4),
                                  ("RMSprop, lr 3e-3", "rmsprop", 3e-3), ("Adam, lr 0.02", "adam", 0.02)]}
    ax = plot.paths_2d(lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2, race, minimum=(1.0, 1.0),
                       log_levels=True)
    ax.set_title("Optimizers on Rosenbrock's valley (2000 updates each)")
    return _save(ax, os.path.join(out, "optimizer_race.png"))


FIGURES = [lesson_descent, loss_curves, contour, lr_sweep, optimizers, classifier_boundaries, l1_path, optimizer_race]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", "-o", metavar="DIR", default=DEFAULT_OUTPUT,
                       help="folder for the PNG files (default: %(default)s)")
    where.add_argument("--update", action="store_true", help="write into docs/ (the README's figures)")
    args = parser.parse_args(argv)
    out = HERE if args.update else os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    paths = [make(out) for make in FIGURES]
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    main(sys.argv[1:])
