"""Regenerate the README's figures under docs/ (never edit those PNGs by hand).

Usage: ``python docs/make_figures.py [--output DIR]`` (default: the folder of this script).
Everything is seeded and the PNGs carry no timestamp, so a rerun gives the same files.
"""
from __future__ import annotations

import argparse
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gdfast  # noqa: E402
from gdfast import lesson, plot  # noqa: E402

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
    """Plain gradient descent zig-zagging down an ill-conditioned valley f = x**2 + 10 y**2."""
    def f(p):
        return p[0] ** 2 + 10 * p[1] ** 2

    def grad(p):
        return np.array([2 * p[0], 20 * p[1]])

    path = gdfast.descend(grad, [4.0, 1.5], learning_rate=0.09, num_iterations=25)
    ax = plot.contour_2d(f, path, levels=15)
    ax.set_title("descend on x² + 10·y², learning rate 0.09")
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


FIGURES = [lesson_descent, loss_curves, contour, lr_sweep]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", metavar="DIR", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args(argv)
    os.makedirs(args.output, exist_ok=True)
    paths = [make(args.output) for make in FIGURES]
    for p in paths:
        print(p)
    return paths


if __name__ == "__main__":
    main()
