"""Regenerate the README's figures under docs/ (never edit those PNGs by hand).

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


FIGURES = [lesson_descent, loss_curves, contour, lr_sweep, optimizers]


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
