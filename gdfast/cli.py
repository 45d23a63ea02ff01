"""The ``gdfast`` command line: ``gdfast demo`` runs both lessons through the compiled kernels, then an
optimizer race on Rosenbrock's valley."""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._version import __version__


def _demo(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import descend, lesson, reference, train

    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    print(f"gdfast {__version__} demo: both lessons through the compiled kernels\n")

    print("Lesson 3.1.1: gradient descent on f(x) = x**2 + 4x + 4 from x = 10, lr 0.1, 20 steps")
    xs, fs = lesson.gradient_descent_1d(x_start=10, learning_rate=0.1, num_iterations=20)
    for k in (0, 1, 2, 5, 10, 20):
        print(f"  step {k:2d}: x = {xs[k]:10.6f}   f(x) = {fs[k]:10.6f}")
    print(f"  the minimum is at x = {lesson.QUADRATIC.minimizer():g}")
    ax = lesson.plot_gradient_descent(xs, fs)
    path_png = os.path.join(out, "descent_1d.png")
    from matplotlib.figure import Figure

    fig1 = ax.figure
    assert isinstance(fig1, Figure)
    fig1.savefig(path_png, dpi=100)
    plt.close(fig1)
    print(f"  plot: {path_png}\n")

    print("An optimizer race on Rosenbrock's valley from (-1.5, 2), 2000 updates each (f and its gradient in the kernel)")
    from .functions import Rosenbrock
    from .optimizers import SGD
    from .plot import animate_paths, paths_2d

    rosen = Rosenbrock()
    racers: list[tuple[str, Any, float]] = [("SGD", "sgd", 1e-3), ("momentum 0.9", SGD(momentum=0.9), 2e-4),
                                            ("RMSprop", "rmsprop", 3e-3), ("Adam", "adam", 0.02)]
    race = {}
    for name, optimizer, lr in racers:
        race[f"{name}, lr {lr:g}"] = path = descend(rosen.gradient, [-1.5, 2.0], function=rosen, optimizer=optimizer,
                                                     learning_rate=lr, num_iterations=2000, record_every=10)
        assert path.f is not None  # (function= given)
        print(f"  {name:13s} lr {lr:<7g}: x = ({path.x[-1][0]:8.5f}, {path.x[-1][1]:8.5f})   f(x) = {path.f[-1]:.3e}")
    print("  the minimum is f(1, 1) = 0")
    ax = paths_2d(rosen, race, minimum=(1.0, 1.0), log_levels=True, n_points=120)
    ax.set_title("Optimizers on Rosenbrock's valley")
    race_png = os.path.join(out, "optimizer_race.png")
    fig2 = ax.figure
    assert isinstance(fig2, Figure)
    fig2.savefig(race_png, dpi=100)
    plt.close(fig2)
    if args.animate:
        race_gif = os.path.join(out, "optimizer_race.gif")
        animate_paths(rosen, race, race_gif, frames=40, fps=10, minimum=(1.0, 1.0), log_levels=True, n_points=120)
        plt.close("all")
        print(f"  plots: {race_png}, {race_gif}\n")
    else:
        print(f"  plot: {race_png}")
        print("  (--animate also saves the race as an animated GIF, about 10 s more)\n")

    print("Lesson 3.1: the linear layer W1 @ input and its MSE")
    step = lesson.one_update(args.learning_rate)
    print(f"  prediction            = {np.array2string(step['prediction'], precision=4)}")
    print(f"  initial loss          = {step['loss']:.6f}")
    print(f"  lesson's gradient     = {step['gradient']:.6f}  (mean((prediction - target) * input))")
    verdict = "under" if step["new_loss"] < lesson.LOSS_GOAL else "NOT under"
    print(f"  loss after one update = {step['new_loss']:.6f}  (learning rate {args.learning_rate}; "
          f"{verdict} the lesson's goal {lesson.LOSS_GOAL})")
    result = lesson.train_lesson(learning_rate=0.02, num_iterations=200)
    print(f"  loss after train()    = {result.loss:.3e}  (true gradient, lr 0.02, {result.n_iter} updates)")
    print(f"  prediction now        = {np.array2string(result.W @ lesson.INPUT, precision=4)}"
          f"  target {lesson.TARGET}")
    fig, ax = plt.subplots()
    ax.semilogy(np.arange(result.losses.size), result.losses, "b-")
    ax.set_xlabel("iteration")
    ax.set_ylabel("MSE")
    ax.set_title("Lesson 3.1: loss during gdfast.train")
    ax.grid(True, which="both")
    curve_png = os.path.join(out, "loss_curve.png")
    fig.savefig(curve_png, dpi=100)
    plt.close(fig)
    print(f"  loss curve: {curve_png}\n")

    n = args.iterations
    print(f"A long run: lesson 3.1 with plain SGD (lr 0.01), {n:,} iterations, record_every=1000")
    t = time.perf_counter()
    fast = train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.01, num_iterations=n, record_every=1000)
    t_fast = time.perf_counter() - t
    n_ref = max(1, min(n, args.reference_iterations))
    t = time.perf_counter()
    reference.train(lesson.W1, lesson.INPUT, lesson.TARGET, learning_rate=0.01, num_iterations=n_ref,
                    record_every=1000)
    t_ref = (time.perf_counter() - t) / n_ref * n
    print(f"  gdfast.train           : {t_fast:8.3f} s  ({t_fast / max(n, 1) * 1e9:8.1f} ns/iteration)")
    estimated = "" if n_ref == n else f", estimated from {n_ref:,} iterations"
    print(f"  gdfast.reference.train : {t_ref:8.3f} s  ({t_ref / max(n, 1) * 1e9:8.1f} ns/iteration{estimated})")
    print(f"  speed-up               : {t_ref / t_fast:8.1f}x   (final loss {fast.loss:.3e})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from . import _isa, _train

    print(f"gdfast {__version__}")
    print(f"  module      : {os.path.dirname(os.path.abspath(__file__))}")
    print(f"  python      : {sys.version.split()[0]} ({sys.platform})")
    print(f"  numpy       : {np.__version__}")
    print(f"  openmp      : {'yes' if _train.have_openmp() else 'no (sweeps run serially)'}")
    print(f"  max threads : {_train.max_threads()}")
    print(f"  kernels     : {_isa.describe()}")
    blas = os.environ.get("GDFAST_BLAS", "") != "0"
    print(f"  blas        : {'dgemm for large full batches' if blas else 'never (GDFAST_BLAS=0: portable loops only)'}")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


# Optional modules that add their own subcommand with ``register(subparsers)``.
_SUBCOMMAND_MODULES = ("bench",)


def build_parser() -> argparse.ArgumentParser:
    """The ``gdfast`` argument parser (every subcommand has ``--help``).

    Examples
    --------
    >>> from gdfast.cli import build_parser
    >>> args = build_parser().parse_args(["demo", "--output", "out", "--iterations", "1000"])
    >>> args.command, args.output, args.iterations
    ('demo', 'out', 1000)
    """
    parser = argparse.ArgumentParser(prog="gdfast", description="Gradient descent in compiled Cython kernels.")
    parser.add_argument("--version", action="version", version=f"gdfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    demo = sub.add_parser("demo", help="run both lessons through the kernels, save the plots, time a long run",
                          description="Run both lessons through the compiled kernels, save their plots "
                                      "under --output and time a long run against the NumPy reference.")
    demo.add_argument("--output", "-o", metavar="DIR", default="gdfast-demo",
                      help="folder for the PNG files (created if needed; default: %(default)s)")
    demo.add_argument("--learning-rate", type=_positive_float, default=0.03,
                      help="learning rate of lesson 3.1's single update (default: %(default)s)")
    demo.add_argument("--iterations", type=_positive_int, default=1_000_000,
                      help="iterations of the timed long run (default: %(default)s)")
    demo.add_argument("--reference-iterations", type=_positive_int, default=20_000,
                      help="iterations the NumPy reference is timed over (default: %(default)s)")
    demo.add_argument("--animate", action="store_true",
                      help="also save the optimizer race as an animated GIF (about 10 s more)")
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="print the version, the build's OpenMP support, thread count and kernel variant",
                          description="Print gdfast's version, where it is installed and how it was built: OpenMP, "
                                      "threads, BLAS, and the build of the kernels in use (x86-64 baseline, "
                                      "AVX2 or AVX-512; the environment variable GDFAST_ISA forces one).")
    info.set_defaults(func=_info)
    import importlib

    subparsers = {"demo": demo, "info": info}
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        subparsers[name] = module.register(sub)
    parser._gdfast_subparsers = subparsers  # type: ignore[attr-defined]  # read by main()
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gdfast`` console script; returns the exit status.

    0 on success, 2 for bad arguments (argparse's one-line ``gdfast: error: ...`` message), 1 when
    a file cannot be written.

    Examples
    --------
    >>> from gdfast.cli import main
    >>> main(["info"])  # doctest: +ELLIPSIS
    gdfast ...
    0
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse would report a subcommand's unknown option with the top-level usage; name the
        # subcommand's own usage instead (exits with status 2, as argparse does).
        subparser = getattr(parser, "_gdfast_subparsers", {}).get(getattr(args, "command", None), parser)
        subparser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.func(args)
        return status
    except OSError as exc:
        print(f"gdfast {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gdfast {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
