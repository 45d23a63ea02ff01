"""Plots of gdfast runs with matplotlib: loss curves, descent paths and learning-rate sweeps.

Every function draws on ``ax`` (a new figure's Axes when None), returns the Axes and never calls
``plt.show()``: call it yourself, or ``ax.figure.savefig(...)``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .descent import DescentPath
from .sweeps import SweepResult
from .training import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["loss_curves", "path_1d", "contour_2d", "lr_sweep"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots()
    return new_ax


def _curve(item: Any, epochs: bool) -> np.ndarray:
    if isinstance(item, TrainResult):
        return item.epoch_losses if epochs else item.losses
    if hasattr(item, "loss_curve_"):  # a fitted GDRegressor (or any scikit-learn model with one)
        return np.asarray(item.loss_curve_, dtype=float)
    arr = np.asarray(item, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"a loss curve must be 1-D; got shape {arr.shape}")
    return arr


def loss_curves(
    results: Any,
    labels: Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
    log: bool = True,
    epochs: bool = False,
    record_every: int = 1,
) -> Axes:
    """Loss against update (or epoch) for one or several runs, on one Axes.

    Parameters
    ----------
    results : TrainResult, SweepResult, fitted GDRegressor, 1-D array, or a sequence of these
        Each gives one curve: ``result.losses`` (``epoch_losses`` with ``epochs=True``), a
        regressor's ``loss_curve_``, or the values themselves. A SweepResult gives one curve per run.
    labels : sequence of str, optional
        One legend entry per curve (a SweepResult labels its runs by their configs).
    ax : matplotlib Axes, optional
    log : bool, default True
        Logarithmic loss axis.
    epochs : bool, default False
        Plot the mean loss of each epoch instead of the recorded per-update losses.
    record_every : int, default 1
        The ``record_every`` the runs were trained with (scales the update axis).

    Returns
    -------
    matplotlib.axes.Axes
        One line per curve, in the order of ``results``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> runs = [gdfast.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=50) for lr in (0.005, 0.02)]
    >>> ax = gdfast.plot.loss_curves(runs, labels=["lr 0.005", "lr 0.02"])
    >>> len(ax.lines), ax.get_yscale(), ax.get_legend().get_texts()[1].get_text()
    (2, 'log', 'lr 0.02')
    """
    if isinstance(results, SweepResult):
        items: list[Any] = list(results.results)
        if labels is None:
            labels = [", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items())
                      for c in results.configs]
    elif isinstance(results, (TrainResult, np.ndarray)) or hasattr(results, "loss_curve_"):
        items = [results]
    else:
        items = list(results)
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"labels must have one entry per curve ({len(items)}); got {len(labels)}")
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1; got {record_every}")
    ax = _axes(ax)
    for i, item in enumerate(items):
        y = _curve(item, epochs)
        step = 1 if epochs or hasattr(item, "loss_curve_") else record_every
        ax.plot(np.arange(y.size) * step, y, label=None if labels is None else labels[i])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if epochs else "update")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    if labels is not None:
        ax.legend()
    return ax


def path_1d(
    path: DescentPath,
    function: Callable[[Any], Any],
    *,
    ax: Axes | None = None,
    x_range: tuple[float, float] | None = None,
    n_points: int = 400,
) -> Axes:
    """A 1-D descent path (blue dots) over its function (red curve), as in lesson 3.1.1.

    Parameters
    ----------
    path : DescentPath
        A 1-D path from :func:`gdfast.descend` (``path.x`` of shape (n + 1,)).
    function : callable
        ``function(x)`` for an array ``x`` (element-wise), e.g. a :class:`gdfast.Quadratic`.
    ax : matplotlib Axes, optional
    x_range : (float, float), optional
        Interval of the function's curve; default: the path's span with a 20% margin on each side.
    n_points : int, default 400

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[0]`` is the function, ``ax.lines[1]`` the path.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    >>> ax = gdfast.plot.path_1d(path, f)
    >>> ax.lines[1].get_xydata()[0].tolist()
    [10.0, 144.0]
    """
    x = np.asarray(path.x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"path_1d needs a 1-D path (path.x of shape (n,)); got {x.shape}; see contour_2d")
    f = np.asarray(path.f, dtype=float) if path.f is not None else np.asarray(function(x), dtype=float)
    if x_range is None:
        lo, hi = float(x.min()), float(x.max())
        margin = 0.2 * (hi - lo) if hi > lo else 1.0
        x_range = (lo - margin, hi + margin)
    ax = _axes(ax)
    grid = np.linspace(x_range[0], x_range[1], n_points)
    ax.plot(grid, np.asarray(function(grid), dtype=float), "r-", label="f(x)")
    ax.plot(x, f, "bo-", markersize=4, label=f"descent ({path.n_iter} updates)")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return ax


def _grid_values(function: Callable[[Any], Any], xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """``function`` on a grid: one vectorised call on shape (2, ny, nx) when it supports it."""
    try:
        z = np.asarray(function(np.stack([xx, yy])), dtype=float)
    except Exception:  # noqa: BLE001 - not vectorised: fall back to one call per point
        z = None
    if z is not None and z.shape == (2,) + xx.shape:
        summed: np.ndarray = z.sum(axis=0)
        return summed  # an element-wise function (e.g. a Quadratic): the separable sum
    if z is not None and z.shape == xx.shape:
        return z
    out = np.empty(xx.shape)
    for idx in np.ndindex(xx.shape):
        value = np.asarray(function(np.array([xx[idx], yy[idx]])), dtype=float)
        out[idx] = value.sum() if value.shape == (2,) else float(value)
    return out


def contour_2d(
    function: Callable[[Any], Any],
    path: DescentPath | None = None,
    *,
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int = 30,
    n_points: int = 200,
    log_levels: bool = False,
) -> Axes:
    """Contour lines of a two-parameter function with a descent path drawn over them.

    Parameters
    ----------
    function : callable
        ``function(p)`` for a point ``p = [x, y]``, giving a scalar. Functions that also accept
        ``p`` of shape (2, ny, nx) are evaluated in one call. A function that returns one value per
        coordinate (e.g. a :class:`gdfast.Quadratic`, applied element-wise) is summed.
    path : DescentPath, optional
        A path from :func:`gdfast.descend` with ``path.x`` of shape (n + 1, 2).
    ax : matplotlib Axes, optional
    xlim, ylim : (float, float), optional
        Default: the path's span with a 20% margin (or [-1, 1] without a path).
    levels : int, default 30
    n_points : int, default 200
        Grid points per axis.
    log_levels : bool, default False
        Space the contour levels logarithmically (for ill-conditioned valleys).

    Returns
    -------
    matplotlib.axes.Axes
        The path is ``ax.lines[0]`` (start marked by a square, end by a star).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, gdfast
    >>> f = lambda p: p[0] ** 2 + 5 * p[1] ** 2
    >>> grad = lambda p: np.array([2 * p[0], 10 * p[1]])
    >>> path = gdfast.descend(grad, [4.0, 2.0], learning_rate=0.15, num_iterations=15)
    >>> ax = gdfast.plot.contour_2d(f, path)
    >>> ax.lines[0].get_xydata()[:2].round(2).tolist()
    [[4.0, 2.0], [2.8, -1.0]]
    """
    pts = None
    if path is not None:
        pts = np.asarray(path.x, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"contour_2d needs a 2-D path (path.x of shape (n, 2)); got {pts.shape}")

    def span(values: np.ndarray | None) -> tuple[float, float]:
        if values is None:
            return (-1.0, 1.0)
        lo, hi = float(values.min()), float(values.max())
        margin = 0.2 * (hi - lo) if hi > lo else 1.0
        return (lo - margin, hi + margin)

    xlim = xlim if xlim is not None else span(None if pts is None else pts[:, 0])
    ylim = ylim if ylim is not None else span(None if pts is None else pts[:, 1])
    xx, yy = np.meshgrid(np.linspace(*xlim, n_points), np.linspace(*ylim, n_points))
    zz = _grid_values(function, xx, yy)
    ax = _axes(ax)
    if log_levels:
        lo = max(float(zz.min()), 1e-12 * max(float(zz.max()), 1e-300))
        lvl: Any = np.geomspace(lo, float(zz.max()), levels) if zz.max() > lo else levels
    else:
        lvl = levels
    cs = ax.contour(xx, yy, zz, levels=lvl, cmap="viridis", linewidths=0.8)
    ax.figure.colorbar(cs, ax=ax, label="f")
    if pts is not None:
        ax.plot(pts[:, 0], pts[:, 1], "-o", color="crimson", markersize=3, linewidth=1.2,
                label=f"descent ({len(pts) - 1} updates)")
        ax.plot(pts[0, 0], pts[0, 1], "s", color="black", markersize=6, label="start")
        ax.plot(pts[-1, 0], pts[-1, 1], "*", color="gold", markeredgecolor="black", markersize=12, label="end")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    return ax


def _decade_ticks(ax: Axes, max_ticks: int = 15) -> None:
    """Log y ticks a round number of decades apart (1, 2, 5, 10, 20, 50, ...), at most ``max_ticks``.

    matplotlib's default locator spaces the ticks of a range of hundreds of decades by an arbitrary
    count (36 decades, say); powers of ten at a round step read at a glance.
    """
    from matplotlib.ticker import FixedLocator, LogFormatterSciNotation, NullLocator

    low, high = ax.get_ylim()
    if not (low > 0 and high > low):
        return
    lo, hi = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if (hi - lo) / s <= max_ticks)
    if step == 1:
        return  # matplotlib's own decade ticks (with minor ticks) are fine
    first = -(-lo // step) * step
    ax.yaxis.set_major_locator(FixedLocator([10.0**k for k in range(first, hi + 1, step)]))
    ax.yaxis.set_major_formatter(LogFormatterSciNotation())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(low, high)


def lr_sweep(
    result: SweepResult,
    *,
    ax: Axes | None = None,
    log: bool = True,
    marker: str = "o",
) -> Axes:
    """Final loss against learning rate, from a :func:`gdfast.sweep` over ``learning_rates``.

    Runs that differ in anything else (seed, start point, configs) give one curve each, labelled
    by what differs. Diverged runs are drawn as red crosses above the highest finite loss; on a
    log axis, a final loss of exactly 0 is drawn at a tenth of the smallest positive one.

    Parameters
    ----------
    result : SweepResult
        Every run's config must hold a ``learning_rate``.
    ax : matplotlib Axes, optional
    log : bool, default True
        Logarithmic axes (both).
    marker : str, default "o"

    Returns
    -------
    matplotlib.axes.Axes
        One line per group of runs (the non-diverged ones, by increasing learning rate), then
        the diverged runs' crosses, if any.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01, 0.03], num_iterations=100)
    >>> ax = gdfast.plot.lr_sweep(res)
    >>> ax.lines[0].get_xdata().tolist()
    [0.001, 0.01, 0.03]
    """
    if not isinstance(result, SweepResult):
        raise TypeError(f"result must be a SweepResult (from gdfast.sweep); got {type(result).__name__}")
    if any("learning_rate" not in c for c in result.configs):
        raise ValueError("every run of the sweep needs a learning_rate (sweep(..., learning_rates=[...]))")
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, cfg in enumerate(result.configs):
        key = tuple(sorted((k, repr(v)) for k, v in cfg.items() if k != "learning_rate"))
        groups.setdefault(key, []).append(i)
    ax = _axes(ax)
    losses = result.loss
    diverged = result.diverged
    finite = losses[~diverged & np.isfinite(losses)]
    if log and finite.size and (finite <= 0).any():
        # Runs that reached a loss of exactly 0 are drawn at a tenth of the smallest positive loss.
        positive = finite[finite > 0]
        floor = float(positive.min()) / 10 if positive.size else 1e-300
        losses = np.where(losses > 0, losses, floor)
    for key, idx in groups.items():
        lr = np.array([result.configs[i]["learning_rate"] for i in idx], dtype=float)
        order = np.argsort(lr)
        sel = np.array(idx)[order]
        ok = ~diverged[sel]
        label = ", ".join(f"{k}={v}" for k, v in key) or None
        ax.plot(lr[order][ok], losses[sel][ok], marker=marker, label=label)
    if diverged.any():
        top = float(finite.max()) * (10.0 if log else 1.1) if finite.size else 1.0
        lrs = np.array([c["learning_rate"] for c in result.configs], dtype=float)
        ax.plot(lrs[diverged], np.full(int(diverged.sum()), top), "x", color="red", markersize=9,
                markeredgewidth=2, label="diverged")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        _decade_ticks(ax)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final loss")
    ax.grid(True, which="both", alpha=0.3)
    if len(groups) > 1 or diverged.any():
        ax.legend()
    return ax
