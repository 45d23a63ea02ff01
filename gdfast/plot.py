"""Plots of gdfast runs with matplotlib: loss curves, descent paths (one, or an optimizer race, drawn or
animated) and learning-rate sweeps.

Every function but ``animate_paths`` (which returns the animation) draws on ``ax`` (a new figure's Axes
when None), returns the Axes and never calls ``plt.show()``: call it yourself, or ``ax.figure.savefig(...)``.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .descent import DescentPath
from .sweeps import SweepResult
from .training import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.animation import FuncAnimation
    from matplotlib.axes import Axes

__all__ = ["loss_curves", "path_1d", "contour_2d", "paths_2d", "animate_paths", "lr_sweep"]


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
        Space the contour levels logarithmically, over at most six decades below the largest value
        (for ill-conditioned valleys).

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
    xlim, ylim = _limits([] if pts is None else [pts], xlim, ylim)
    ax = _axes(ax)
    _draw_contours(ax, function, xlim, ylim, levels, n_points, log_levels)
    if pts is not None:
        ax.plot(pts[:, 0], pts[:, 1], "-o", color="crimson", markersize=3, linewidth=1.2,
                label=f"descent ({len(pts) - 1} updates)")
        ax.plot(pts[0, 0], pts[0, 1], "s", color="black", markersize=6, label="start")
        ax.plot(pts[-1, 0], pts[-1, 1], "*", color="gold", markeredgecolor="black", markersize=12, label="end")
        ax.legend(loc="best", fontsize="small")
    return ax


def _limits(points: Sequence[np.ndarray], xlim: tuple[float, float] | None,
            ylim: tuple[float, float] | None) -> tuple[tuple[float, float], tuple[float, float]]:
    """The given limits, else the span of all the points with a 20% margin ([-1, 1] without points)."""

    def span(axis: int) -> tuple[float, float]:
        if not points:
            return (-1.0, 1.0)
        lo = min(float(p[:, axis].min()) for p in points)
        hi = max(float(p[:, axis].max()) for p in points)
        margin = 0.2 * (hi - lo) if hi > lo else 1.0
        return (lo - margin, hi + margin)

    return (xlim if xlim is not None else span(0)), (ylim if ylim is not None else span(1))


def _draw_contours(ax: Axes, function: Callable[[Any], Any], xlim: tuple[float, float], ylim: tuple[float, float],
                   levels: int, n_points: int, log_levels: bool) -> None:
    """Contour lines of ``function`` over the box with a colour bar, limits and axis labels."""
    xx, yy = np.meshgrid(np.linspace(*xlim, n_points), np.linspace(*ylim, n_points))
    zz = _grid_values(function, xx, yy)
    if log_levels:
        lo = max(float(zz.min()), 1e-6 * max(float(zz.max()), 1e-300))  # six decades at most
        lvl: Any = np.geomspace(lo, float(zz.max()), levels) if zz.max() > lo else levels
    else:
        lvl = levels
    cs = ax.contour(xx, yy, zz, levels=lvl, cmap="viridis", linewidths=0.8)
    ax.figure.colorbar(cs, ax=ax, label="f", format="%.3g")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")


def _labelled_paths(paths: Mapping[str, DescentPath] | Sequence[DescentPath], caller: str) -> list[tuple[str, DescentPath]]:
    """(label, path) pairs of a mapping or a sequence of 2-D DescentPaths (labels "path 0", ...)."""
    if isinstance(paths, Mapping):
        items = [(str(label), path) for label, path in paths.items()]
    elif isinstance(paths, Sequence) and not isinstance(paths, (str, bytes)):
        items = [(f"path {i}", path) for i, path in enumerate(paths)]
    else:
        raise TypeError(f"{caller}: paths must be a dict {{label: DescentPath}} or a list of DescentPath; "
                        f"got {type(paths).__name__}")
    if not items:
        raise ValueError(f"{caller}: paths is empty; pass at least one DescentPath")
    for label, path in items:
        if not isinstance(path, DescentPath):
            raise TypeError(f"{caller}: paths[{label!r}] must be a DescentPath (from gdfast.descend); "
                            f"got {type(path).__name__}")
        shape = np.shape(path.x)
        if len(shape) != 2 or shape[1] != 2:
            raise ValueError(f"{caller}: paths[{label!r}] is not a 2-D path (path.x of shape (n, 2)); got {shape}")
    return items


def paths_2d(
    function: Callable[[Any], Any],
    paths: Mapping[str, DescentPath] | Sequence[DescentPath],
    *,
    ax: Axes | None = None,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int = 30,
    n_points: int = 200,
    log_levels: bool = False,
    minimum: Sequence[float] | None = None,
) -> Axes:
    """Several descent paths on one contour plot: an optimizer race on a two-parameter function.

    Parameters
    ----------
    function : callable
        ``function(p)`` for a point ``p = [x, y]``, as in :func:`contour_2d`.
    paths : dict {label: DescentPath} or list of DescentPath
        Paths from :func:`gdfast.descend` with ``path.x`` of shape (n + 1, 2), drawn in order, each
        in its own colour; a list gets the labels "path 0", "path 1", ...
    ax : matplotlib Axes, optional
    xlim, ylim : (float, float), optional
        Default: the span of all the paths with a 20% margin.
    levels, n_points, log_levels
        As in :func:`contour_2d`.
    minimum : (float, float), optional
        A known minimum, marked with a black cross.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.lines[i]`` is the i-th path (its label ends with its update count); each path's end
        point is a dot of the same colour, the common start a black square.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, gdfast
    >>> f = lambda p: p[0] ** 2 + 5 * p[1] ** 2
    >>> grad = lambda p: np.array([2 * p[0], 10 * p[1]])
    >>> race = {name: gdfast.descend(grad, [4.0, 2.0], learning_rate=0.1, num_iterations=30, optimizer=name)
    ...         for name in ("sgd", "adam")}
    >>> ax = gdfast.plot.paths_2d(f, race, minimum=(0, 0))
    >>> [line.get_label() for line in ax.lines[:2]]
    ['sgd (30 updates)', 'adam (30 updates)']
    """
    items = _labelled_paths(paths, "paths_2d")
    points = [np.asarray(path.x, dtype=float) for _, path in items]
    xlim, ylim = _limits(points, xlim, ylim)
    ax = _axes(ax)
    _draw_contours(ax, function, xlim, ylim, levels, n_points, log_levels)
    colors = [f"C{i % 10}" for i in range(len(items))]
    for (label, path), pts, color in zip(items, points, colors):
        ax.plot(pts[:, 0], pts[:, 1], "-", color=color, linewidth=1.5, label=f"{label} ({path.n_iter} updates)")
    for pts, color in zip(points, colors):
        ax.plot(pts[-1, 0], pts[-1, 1], "o", color=color, markeredgecolor="black", markersize=6)
    starts = np.array([pts[0] for pts in points])
    ax.plot(starts[:, 0], starts[:, 1], "s", color="black", markersize=6, linestyle="none", label="start")
    if minimum is not None:
        ax.plot(float(minimum[0]), float(minimum[1]), "x", color="black", markersize=10, markeredgewidth=2,
                linestyle="none", label="minimum")
    ax.legend(loc="best", fontsize="small")
    return ax


def animate_paths(
    function: Callable[[Any], Any],
    paths: Mapping[str, DescentPath] | Sequence[DescentPath],
    filename: str | os.PathLike[str] | None = None,
    *,
    frames: int = 60,
    fps: int = 15,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    levels: int = 30,
    n_points: int = 200,
    log_levels: bool = False,
    minimum: Sequence[float] | None = None,
    dpi: int = 80,
) -> FuncAnimation:
    """An animation of :func:`paths_2d`: every path advances by the same number of updates a frame.

    Frame k (0-based) shows each path's recorded points after at most ``k / (frames - 1)`` of the
    longest run's updates (``path.steps``), so the paths race update for update; the last frame is
    :func:`paths_2d`'s picture.

    Parameters
    ----------
    function, paths, xlim, ylim, levels, n_points, log_levels, minimum
        As in :func:`paths_2d`.
    filename : str or path-like, optional
        Where to save it: ``.gif`` (written with Pillow, which matplotlib requires) or ``.mp4`` (needs
        ffmpeg on the PATH: a ValueError says so when it is missing). None: not saved.
    frames : int, default 60
        Number of frames (>= 2).
    fps : int, default 15
        Frames per second of the saved file.
    dpi : int, default 80
        Resolution of the saved file.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        ``anim.save(...)`` writes it again (any matplotlib writer); in a notebook,
        ``IPython.display.HTML(anim.to_jshtml())`` plays it.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, gdfast
    >>> f = lambda p: p[0] ** 2 + 5 * p[1] ** 2
    >>> grad = lambda p: np.array([2 * p[0], 10 * p[1]])
    >>> race = {name: gdfast.descend(grad, [4.0, 2.0], learning_rate=0.1, num_iterations=30, optimizer=name)
    ...         for name in ("sgd", "adam")}
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     gif = os.path.join(folder, "race.gif")
    ...     anim = gdfast.plot.animate_paths(f, race, gif, frames=4)
    ...     os.path.getsize(gif) > 0
    True
    """
    from matplotlib.animation import FuncAnimation

    items = _labelled_paths(paths, "animate_paths")
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 2:
        raise ValueError(f"animate_paths: frames must be an integer >= 2; got {frames!r}")
    if isinstance(fps, bool) or not isinstance(fps, (int, np.integer)) or fps < 1:
        raise ValueError(f"animate_paths: fps must be an integer >= 1; got {fps!r}")
    suffix = None
    if filename is not None:
        suffix = os.path.splitext(os.fspath(filename))[1].lower()
        if suffix not in (".gif", ".mp4"):
            raise ValueError(f"animate_paths: filename must end in .gif or .mp4; got {os.fspath(filename)!r}")
        if suffix == ".mp4":
            from matplotlib import animation

            if not animation.writers.is_available("ffmpeg"):
                raise ValueError("animate_paths: saving .mp4 needs ffmpeg on the PATH, which was not found; "
                                 "save as .gif instead (Pillow)")
    ax = paths_2d(function, dict(items), xlim=xlim, ylim=ylim, levels=levels, n_points=n_points,
                  log_levels=log_levels, minimum=minimum)
    lines = ax.lines[:len(items)]
    ends = ax.lines[len(items):2 * len(items)]
    points = [np.asarray(path.x, dtype=float) for _, path in items]
    steps = [np.asarray(path.steps) for _, path in items]
    longest = max(int(s[-1]) for s in steps)

    def draw(k: int) -> list[Any]:
        limit = longest * k / (frames - 1)
        for line, end, pts, st in zip(lines, ends, points, steps):
            shown = pts[: int(np.searchsorted(st, limit, side="right"))]
            line.set_data(shown[:, 0], shown[:, 1])
            end.set_data(shown[-1:, 0], shown[-1:, 1])
        return [*lines, *ends]

    fig = ax.figure
    anim = FuncAnimation(fig, draw, frames=frames, interval=1000 / fps, blit=False)  # type: ignore[arg-type]
    if filename is not None:
        if suffix == ".gif":
            from matplotlib.animation import PillowWriter

            anim.save(os.fspath(filename), writer=PillowWriter(fps=fps), dpi=dpi)
        else:
            anim.save(os.fspath(filename), writer="ffmpeg", fps=fps, dpi=dpi)
    return anim


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
