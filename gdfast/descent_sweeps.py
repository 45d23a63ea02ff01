"""Many descents of one function at once: start points x optimizers x learning rates.

:func:`descend_sweep` is :func:`gdfast.descend` over a grid of configurations, the runs spread
over threads. A run whose gradient takes the compiled path (a :class:`gdfast.Quadratic`'s, and any
other function the kernel knows) holds the GIL only while it is set up, so the runs go side by
side; a Python gradient holds the GIL at every step, so its runs take turns. Each run is one
``descend`` call from start to end: its path equals that call's, bit for bit, whatever
``n_threads``.
"""
from __future__ import annotations

import itertools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ._validation import as_array, check_int
from .descent import DescentPath, descend
from .optimizers import Optimizer
from .schedules import Schedule

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DescentSweepResult", "descend_sweep"]


@dataclass(frozen=True)
class DescentSweepResult:
    """The paths of :func:`descend_sweep`, one per configuration, in configuration order.

    Attributes
    ----------
    configs : list of dict
        Each run's ``start`` (index into ``starts``), ``optimizer`` (as given; an optimizer object as
        its ``repr``) and ``learning_rate``.
    paths : list of DescentPath
        Each run's path (what :func:`gdfast.descend` returns for that configuration).

    Examples
    --------
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> res = gdfast.descend_sweep(f.gradient, [10.0, -5.0], learning_rates=[0.1, 0.5],
    ...                            num_iterations=20, function=f)
    >>> len(res), res.x.shape, res.to_records()[1]["learning_rate"], float(res.x[1])
    (4, (4,), 0.5, -2.0)
    """

    configs: list[dict[str, Any]]
    paths: list[DescentPath]

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        """A few lines: how the runs ended and the best final value (not the arrays)."""
        statuses: dict[str, int] = {}
        for p in self.paths:
            statuses[p.status] = statuses.get(p.status, 0) + 1
        ended = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        lines = [f"DescentSweepResult({len(self)} runs: {ended};"]
        f = self.f
        if f is not None and np.isfinite(f).any():
            best = self.best()
            lines.append(f"                   f min {f[best]:.4g} (run {best}: {self.configs[best]});")
        lines.append("                   per run: .configs[i], .paths[i]; tables: .to_records(), .to_dataframe())")
        return "\n".join(lines)

    @property
    def x(self) -> np.ndarray:
        """Final points, shape (n_runs,) for scalar starts, else (n_runs, dim)."""
        return np.stack([p.x[-1] for p in self.paths])

    @property
    def f(self) -> np.ndarray | None:
        """Final values of ``function`` (summed over the coordinates of an element-wise function such
        as a Quadratic on a vector), or None without ``function``."""
        if self.paths[0].f is None:
            return None
        return np.array([float(np.sum(p.f[-1])) for p in self.paths if p.f is not None])

    @property
    def n_iter(self) -> np.ndarray:
        """Updates done by each run."""
        return np.array([p.n_iter for p in self.paths])

    @property
    def status(self) -> np.ndarray:
        """Each run's status: ``"converged"``, ``"diverged"`` or ``"max_iter"``."""
        return np.array([p.status for p in self.paths])

    def best(self) -> int:
        """Index of the run with the lowest finite final ``f``.

        Raises
        ------
        ValueError
            Without ``function`` (nothing to compare), or when no run ended on a finite value.
        """
        f = self.f
        if f is None:
            raise ValueError("best() compares final values: pass function= to descend_sweep")
        finite = np.isfinite(f)
        if not finite.any():
            raise ValueError("no run ended on a finite value of function")
        return int(np.nanargmin(np.where(finite, f, np.nan)))

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per run: its config plus the final ``x`` (a float or a list), ``f`` (when
        known), ``n_iter``, ``converged``, ``diverged`` and ``status``."""
        f = self.f
        rows = []
        for i, (cfg, p) in enumerate(zip(self.configs, self.paths)):
            row = {**cfg, "x": p.x[-1].tolist()}
            if f is not None:
                row["f"] = float(f[i])
            row.update(n_iter=p.n_iter, converged=p.converged, diverged=p.diverged, status=p.status)
            rows.append(row)
        return rows

    def to_dataframe(self) -> pd.DataFrame:
        """The rows of :meth:`to_records` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "DescentSweepResult.to_dataframe needs pandas: pip install pandas (to_records() gives the "
                "same rows as a list of dicts without it)"
            ) from None
        return pd.DataFrame.from_records(self.to_records())


def _starts(starts: Any) -> list[Any]:
    """The start points as a list of floats (scalar starts) or of 1-D float arrays of one length."""
    if isinstance(starts, (str, bytes)) or not isinstance(starts, (Sequence, np.ndarray)):
        raise TypeError(f"starts must be a sequence of start points (scalars or 1-D arrays); got {type(starts).__name__}")
    points = [as_array(f"starts[{i}]", s) for i, s in enumerate(starts)]
    if not points:
        raise ValueError("starts is empty; pass at least one start point")
    shapes = {p.shape for p in points}
    if len(shapes) > 1:
        raise ValueError(f"starts must all have one shape (one dimension); got shapes {sorted(shapes)}")
    if points[0].ndim > 1:
        raise ValueError(f"each start point must be a scalar or 1-D; got shape {points[0].shape}")
    return [p.item() if p.ndim == 0 else p for p in points]


def descend_sweep(
    gradient: Callable[[Any], Any],
    starts: Sequence[Any] | np.ndarray,
    *,
    learning_rates: Sequence[float] | np.ndarray,
    num_iterations: int,
    optimizers: Sequence[Optimizer | str] = ("sgd",),
    function: Callable[[Any], Any] | None = None,
    schedule: Schedule | str | None = None,
    grad_tol: float | None = None,
    record_every: int | None = None,
    n_threads: int | None = None,
) -> DescentSweepResult:
    """:func:`gdfast.descend` from every start point, with every optimizer and learning rate.

    The runs are the cartesian product ``starts`` x ``optimizers`` x ``learning_rates`` (the last
    varying fastest), on ``n_threads`` threads. Each run is the ``descend`` call with those options
    (the others shared), so its path equals that call's, bit for bit, whatever ``n_threads``. A
    diverging run is not an error and issues no warning: its row says ``diverged``.

    Parameters
    ----------
    gradient : callable
        As in :func:`gdfast.descend`; the compiled path's runs go side by side on the threads, a
        Python gradient's take turns (it holds the GIL).
    starts : sequence of float or of 1-D array_like
        Start points, all of one shape.
    learning_rates : sequence of float
        Each finite and > 0.
    num_iterations : int
        Maximum number of updates of each run.
    optimizers : sequence of str or gdfast optimizer, default ("sgd",)
        As ``descend``'s ``optimizer``.
    function, schedule, grad_tol
        As in :func:`gdfast.descend`, shared by all runs.
    record_every : int, optional
        As in :func:`gdfast.descend`. Default: ``num_iterations``, so each path keeps its start and
        its end only (a large sweep's memory stays small).
    n_threads : int, optional
        Threads (>= 1). Default: the number of CPUs.

    Returns
    -------
    DescentSweepResult

    Examples
    --------
    Lesson 3.1.1's function from three starts, plain SGD and Adam, two rates each:

    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> res = gdfast.descend_sweep(f.gradient, [10.0, 0.0, -7.0], optimizers=["sgd", "adam"],
    ...                            learning_rates=[0.1, 0.5], num_iterations=200, function=f, grad_tol=1e-8)
    >>> len(res), res.configs[7]
    (12, {'start': 1, 'optimizer': 'adam', 'learning_rate': 0.5})
    >>> best = res.best(); res.configs[best]["optimizer"], abs(float(res.x[best]) + 2) < 1e-8
    ('sgd', True)
    """
    if not callable(gradient):
        raise TypeError(f"gradient must be callable; got {type(gradient).__name__}")
    points = _starts(starts)
    if isinstance(learning_rates, (str, bytes)) or not isinstance(learning_rates, (Sequence, np.ndarray)):
        raise TypeError(f"learning_rates must be a sequence of floats; got {type(learning_rates).__name__}")
    rates = [float(lr) for lr in np.asarray(learning_rates, dtype=float).reshape(-1)]
    if not rates:
        raise ValueError("learning_rates is empty; pass at least one learning rate")
    if isinstance(optimizers, (str, bytes, Optimizer)) or not isinstance(optimizers, Sequence):
        raise TypeError(f"optimizers must be a sequence (e.g. ['sgd', 'adam']); got {optimizers!r}")
    if not optimizers:
        raise ValueError("optimizers is empty; pass at least one optimizer")
    n = check_int(num_iterations, "num_iterations", low=0)
    every = max(1, n) if record_every is None else record_every
    if n_threads is None:
        n_threads = os.cpu_count() or 1
    threads = check_int(n_threads, "n_threads", low=1)

    grid = list(itertools.product(range(len(points)), range(len(optimizers)), rates))
    configs = [{"start": s, "optimizer": optimizers[o] if isinstance(optimizers[o], str) else repr(optimizers[o]),
                "learning_rate": lr} for s, o, lr in grid]

    def run(index: int) -> DescentPath:
        s, o, lr = grid[index]
        return descend(gradient, points[s], learning_rate=lr, num_iterations=num_iterations, function=function,
                       optimizer=optimizers[o], schedule=schedule, grad_tol=grad_tol, record_every=every)

    # The first run in this thread checks every shared option (a bad one raises here, once); its
    # path is kept. The divergence warning is silenced for the sweep's duration (rows report it).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="descend: the path left the finite numbers", category=RuntimeWarning)
        first = run(0)
        if threads == 1 or len(grid) == 1:
            rest = [run(i) for i in range(1, len(grid))]
        else:
            with ThreadPoolExecutor(max_workers=min(threads, len(grid) - 1)) as pool:
                rest = list(pool.map(run, range(1, len(grid))))
    return DescentSweepResult(configs=configs, paths=[first, *rest])
