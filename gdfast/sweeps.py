"""``gdfast.sweep``: many independent trainings in one kernel call, spread over cores (OpenMP).

This module (``gdfast.sweeps``) validates a sweep and plans its runs; ``gdfast._runs`` executes a
plan, locally or in the Dask tasks of ``gdfast._distributed``."""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, fields
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from ._engine import (
    LOSS_ALIASES, MULTINOMIAL, RENAMED_OPTIONS, TrainOptions, check_accumulate, check_sparse_options, check_targets,
    class_targets, draw_seed, draw_seeds, initial_bias, local_threads,
)
from ._validation import as_array, as_float, check_int, prepare_sample_weight, prepare_samples
from ._runs import Plan, Run, execute
from ._sparse import CSRData, is_sparse, prepare_sparse_samples
from .training import RunResults, TrainResult, single_output

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sweep", "SweepResult", "grid", "expand_configs"]


@dataclass(frozen=True, repr=False)
class SweepResult:
    """Stacked results of :func:`sweep`, one entry per configuration, in configuration order.

    Attributes
    ----------
    configs : list of dict
        The options that vary between runs (``learning_rate``, ``seed``, ``initial_weights`` index, and
        whatever ``configs`` gave), one dict per run.
    results : sequence of TrainResult
        The full result of each run (identical to a :func:`gdfast.train` call with the same options).
        A run's TrainResult is made when first asked for; ``W``, ``loss`` and the other stacked
        fields below do not make them.

    Examples
    --------
    >>> import gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01], num_iterations=10)
    >>> len(res), res.W.shape, res.losses.shape, res.to_records()[1]["learning_rate"]
    (2, (2, 4, 4), (2, 10), 0.01)
    """

    configs: list[dict[str, Any]]
    results: Sequence[TrainResult]

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        """A few lines: how the runs ended, the spread of their losses, the shapes (not the arrays)."""
        n = len(self.results)
        statuses: dict[str, int] = {}
        for status in self._stacked("status").tolist():
            statuses[status] = statuses.get(status, 0) + 1
        ended = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        loss = self.loss
        finite = np.isfinite(loss)
        spread = "no finite loss"
        if finite.any():
            best = int(np.nanargmin(np.where(finite, loss, np.nan)))
            spread = (f"loss min {loss[best]:.4g} (run {best}: {self.configs[best]}), median "
                      f"{np.median(loss[finite]):.4g}, max {loss[finite].max():.4g}")
        return "\n".join([
            f"SweepResult({n} runs: {ended};",
            f"            {spread};",
            f"            W: {self.W.dtype} {self.W.shape}, losses: {self.losses.shape};",
            "            per run: .configs[i], .results[i]; tables: .to_records(), .to_dataframe())",
        ])

    def _stacked(self, name: str) -> np.ndarray:
        """``np.array([getattr(r, name) for r in self.results])`` (a new array), from the run set's
        arrays when the results came from one (``RunResults.stacked``)."""
        if isinstance(self.results, RunResults):
            return self.results.stacked(name)
        return np.array([getattr(r, name) for r in self.results])

    @property
    def W(self) -> np.ndarray:
        """Final weights, shape (n_configs, n_outputs, n_features)."""
        return self._stacked("W")

    @property
    def b(self) -> np.ndarray | None:
        """Final biases, shape (n_configs, n_outputs), or None without an intercept."""
        if isinstance(self.results, RunResults):
            return self.results.stacked("b") if self.results.has_bias else None
        biases = [r.b for r in self.results if r.b is not None]
        return np.stack(biases) if len(biases) == len(self.results) else None

    @property
    def loss(self) -> np.ndarray:
        """Final loss of each run."""
        return self._stacked("loss")

    @property
    def n_iter(self) -> np.ndarray:
        return self._stacked("n_iter")

    @property
    def converged(self) -> np.ndarray:
        return self._stacked("converged")

    @property
    def diverged(self) -> np.ndarray:
        return self._stacked("diverged")

    @property
    def losses(self) -> np.ndarray:
        """Loss histories, shape (n_configs, longest), padded with NaN after a run's end."""
        histories = (self.results.histories() if isinstance(self.results, RunResults)
                     else [r.losses for r in self.results])
        longest = max(h.size for h in histories)
        out = np.full((len(histories), longest), np.nan)
        for i, h in enumerate(histories):
            out[i, : h.size] = h
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per run: its config plus final loss, n_iter, converged, diverged, status."""
        columns = zip(*(self._stacked(name).tolist() for name in ("loss", "n_iter", "converged", "diverged", "status")))
        return [
            {**cfg, "loss": loss, "n_iter": n_iter, "converged": converged, "diverged": diverged, "status": status}
            for cfg, (loss, n_iter, converged, diverged, status) in zip(self.configs, columns)
        ]

    def to_dataframe(self) -> pd.DataFrame:
        """The rows of :meth:`to_records` as a pandas DataFrame (needs pandas).

        Examples
        --------
        >>> import gdfast
        >>> from gdfast.lesson import INPUT, TARGET, W1
        >>> res = gdfast.sweep(W1, INPUT, TARGET, configs=gdfast.grid(learning_rate=[0.01, 0.05]),
        ...                    num_iterations=100)
        >>> df = res.to_dataframe()  # doctest: +SKIP
        >>> list(df.columns)  # doctest: +SKIP
        ['learning_rate', 'loss', 'n_iter', 'converged', 'diverged', 'status']
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "SweepResult.to_dataframe needs pandas: pip install pandas (to_records() gives the same "
                "rows as a list of dicts without it)"
            ) from None
        return pd.DataFrame.from_records(self.to_records())


# Option names sweep and grid take: train's, and their deprecated spellings.
_OPTION_NAMES = {f.name for f in fields(TrainOptions)} | set(RENAMED_OPTIONS)


def expand_configs(
    learning_rates: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    seeds: Sequence[int] | None = None,
    initial_weights_count: int | None = None,
    configs: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The cartesian product learning_rates x seeds x initial weights x configs, as override dicts.

    Examples
    --------
    >>> from gdfast.sweeps import expand_configs
    >>> expand_configs([0.1, 0.2], seeds=[1])
    [{'learning_rate': 0.1, 'seed': 1}, {'learning_rate': 0.2, 'seed': 1}]
    """
    axes = []
    if learning_rates is not None:
        axes.append([{"learning_rate": lr} for lr in learning_rates])
    if seeds is not None:
        axes.append([{"seed": s} for s in seeds])
    if initial_weights_count is not None:
        axes.append([{"initial_weights": i} for i in range(initial_weights_count)])
    if configs is not None:
        axes.append([dict(c) for c in configs])
    if len(axes) == 1:
        return axes[0]  # (its dicts are new, one per run)
    out = []
    for combo in itertools.product(*axes):
        merged = {}
        for part in combo:
            merged.update(part)
        out.append(merged)
    return out


def grid(**options: Any) -> list[dict[str, Any]]:
    """Every combination of the given :func:`gdfast.train` options, as config dicts for :func:`sweep`.

    The cartesian product in keyword order, the last keyword varying fastest (as
    :func:`itertools.product`). Each value is checked as :func:`gdfast.train` would check it, so a
    bad value fails here, naming the option, rather than in the middle of a sweep.

    Parameters
    ----------
    **options : sequence
        A non-empty list of values for each option to vary (``learning_rate=[...]``,
        ``optimizer=[...]``, ``seed=[...]``, ``batch_size=[...]``, ...). ``fit_intercept`` is shared
        by every run of a sweep: pass it to :func:`sweep` itself.

    Returns
    -------
    list of dict
        One dict per combination, ready for ``sweep(..., configs=...)``. NumPy scalars become
        Python numbers.

    Examples
    --------
    >>> import gdfast
    >>> gdfast.grid(optimizer=["sgd", "adam"], learning_rate=[0.01, 0.1])
    [{'optimizer': 'sgd', 'learning_rate': 0.01}, {'optimizer': 'sgd', 'learning_rate': 0.1}, \
{'optimizer': 'adam', 'learning_rate': 0.01}, {'optimizer': 'adam', 'learning_rate': 0.1}]
    """
    if not options:
        raise TypeError("grid needs at least one option, e.g. grid(learning_rate=[0.01, 0.1])")
    axes = []
    for name, values in options.items():
        if name == "fit_intercept":
            raise ValueError("fit_intercept is shared by every run of a sweep: pass it to sweep, not grid")
        if name not in _OPTION_NAMES:
            raise TypeError(f"grid: unknown training option {name!r}; valid: "
                            + ", ".join(sorted(_OPTION_NAMES - {"fit_intercept"})))
        if isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise ValueError(f"grid: {name} must be a 1-D sequence of values; got an array of shape "
                                 f"{values.shape}")
            values = values.tolist()
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, (list, tuple, range)):
            raise TypeError(f"grid: {name} must be a list of values (e.g. {name}=[...]); "
                            f"got {type(values).__name__}")
        if len(values) == 0:
            raise ValueError(f"grid: {name} must hold at least one value")
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
        for v in values:
            TrainOptions.from_kwargs(**{name: v})  # raises naming the option and the bad value
        axes.append([(name, v) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def sweep(
    W: npt.ArrayLike,
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    *,
    b: npt.ArrayLike | None = None,
    learning_rates: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    seeds: Sequence[int] | None = None,
    initial_weights: npt.ArrayLike | None = None,
    configs: Sequence[dict[str, Any]] | None = None,
    n_threads: int | None = None,
    sample_weight: npt.ArrayLike | None = None,
    client: Any = None,
    chunk_size: int | None = None,
    n_chunks: int | None = None,
    retries: int | None = None,
    **train_options: Any,
) -> SweepResult:
    """Run many independent :func:`gdfast.train` runs on the same data in one parallel kernel call.

    The runs are the cartesian product of ``learning_rates`` x ``seeds`` x ``initial_weights`` x
    ``configs`` (each given axis in that order, the last varying fastest); ``train_options`` are
    shared by all runs and overridden per run. Each run is computed by one thread from start to
    end, so every result equals a plain ``train`` call with the same options, bit for bit, whatever
    ``n_threads``.

    With ``client`` (a ``dask.distributed.Client``) the runs are split into chunks, each chunk one
    such kernel call in a task on a worker; the data arrays are scattered to every worker once. The
    result is the same as without ``client``, in the same order, bit for bit: seeds left to chance
    are drawn here, before the split. A task whose worker dies is rerun elsewhere by Dask's scheduler
    (up to its ``distributed.scheduler.allowed-failures`` setting); a task that raises is retried
    ``retries`` times. A diverging run is not an error: it is reported in its row (``diverged``).
    Ctrl-C (or any exception) while the client waits cancels the sweep: its running tasks stop
    within about a second, leaving the workers free.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features)
        Start weights (used when ``initial_weights`` is None).
    X, Y : array_like
        Data, as for :func:`gdfast.train`. X may be a scipy.sparse CSR matrix: every run then goes
        through ``train``'s CSR kernels (never densified; equal to ``train`` bit for bit), on
        ``n_threads`` threads side by side, never in lockstep (a dense-X sweep's shortcut for plain
        SGD runs that differ in the learning rate only); ``client=`` scatters the CSR arrays as
        they are. The options ``train`` refuses on sparse X (``accumulate="float32"``, an L1
        penalty with ``batch_size=1`` and ``grad_tol``, ...) are refused the same way.
    b : array_like, shape (n_outputs,), optional
        Start bias of every run (with ``fit_intercept=True``; default zeros).
    learning_rates : sequence of float, optional
    seeds : sequence of int, optional
    initial_weights : array_like, shape (k, n_outputs, n_features), optional
        k start points, converted to the float dtype of ``W``, ``X`` and ``Y`` (they do not promote it).
    configs : sequence of dict, optional
        Per-run overrides of any :func:`gdfast.train` option except ``fit_intercept``
        (e.g. ``{"optimizer": "adam", "learning_rate": 1e-3}``); :func:`grid` builds them. A
        run's own ``num_iterations`` or ``num_epochs`` replaces the shared length, whichever way
        each is given.
    n_threads : int, optional
        Threads to spread the runs over (default: all the cores OpenMP sees). In a process forked
        (``os.fork``, multiprocessing's ``"fork"`` start method) after a parallel sweep ran in its
        parent, OpenMP's threads are gone: the sweep then runs serially, with a one-time
        RuntimeWarning (start such processes with ``"spawn"`` or ``"forkserver"`` to keep threads). With ``client``: the
        threads of each task (default: what OpenMP sees on the worker; Dask's nanny sets
        ``OMP_NUM_THREADS=1``, so one thread per task unless configured otherwise).
    sample_weight : array_like, optional
    client : dask.distributed.Client, optional
        Run on this Dask cluster (``pip install 'gdfast[dask]'``).
    chunk_size : int, optional
        With ``client``: runs per task. Give this or ``n_chunks``; default: 4 tasks per worker
        thread. Chunk ``c`` of ``n`` holds runs ``c, c + n, c + 2n, ...`` so that cheap and costly
        runs mix.
    n_chunks : int, optional
        With ``client``: number of tasks.
    retries : int, optional
        With ``client``: times a task that raised is rerun (default 2).
    **train_options
        Options shared by every run (``num_iterations``, ``optimizer``, ``loss``, ...).

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01, 0.05], num_iterations=100)
    >>> res.loss.shape, bool(res.loss[2] < res.loss[0])
    ((3,), True)

    On a local Dask cluster (the same numbers, bit for bit):

    >>> from dask.distributed import Client, LocalCluster  # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
    ...     dres = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01, 0.05],
    ...                         num_iterations=100, client=client)  # doctest: +SKIP
    >>> bool((dres.loss == res.loss).all())  # doctest: +SKIP
    True
    """
    if client is None:
        for name, value in (("chunk_size", chunk_size), ("n_chunks", n_chunks), ("retries", retries)):
            if value is not None:
                raise TypeError(f"{name} only applies to a distributed sweep (client=...)")
    else:
        from . import _distributed

        _distributed.check_client(client)
    plan = _plan(W, X, Y, learning_rates, seeds, initial_weights, configs, sample_weight, train_options, b)
    results: Sequence[TrainResult]
    if client is None:
        n_threads = local_threads(n_threads, "sweep")
        results = execute(plan.runs, plan.W, plan.X, plan.Y, plan.sample_weight, plan.starts, n_threads, plan.b)
    else:
        if n_threads is not None:
            n_threads = check_int(n_threads, "n_threads", low=1)
        results = _distributed.run_sweep(client, plan, n_threads=n_threads, chunk_size=chunk_size,
                                         n_chunks=n_chunks, retries=retries)
    if plan.vector:
        results = results.single_output() if isinstance(results, RunResults) else [single_output(r) for r in results]
    swept = SweepResult(configs=plan.configs, results=results)
    n_diverged = int(swept.diverged.sum())
    if n_diverged:
        warnings.warn(f"sweep: {n_diverged} of {len(results)} runs diverged (see result.diverged)",
                      RuntimeWarning, stacklevel=2)
    return swept


def _plan(W: npt.ArrayLike, X: npt.ArrayLike, Y: npt.ArrayLike,
          learning_rates: Sequence[float] | npt.NDArray[np.floating[Any]] | None,
          seeds: Sequence[int] | None, initial_weights: npt.ArrayLike | None,
          configs: Sequence[dict[str, Any]] | None, sample_weight: npt.ArrayLike | None,
          train_options: dict[str, Any], b: npt.ArrayLike | None = None) -> Plan:
    """Validate a sweep's arguments and expand them into runs (seeds drawn here, once)."""
    if "state" in train_options or "progress" in train_options:
        raise TypeError("sweep does not take state= or progress=")
    unknown = set(train_options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown training option(s) {', '.join(sorted(unknown))}")
    # Class indices become one-hot rows when a run's loss is "multinomial" (checked with the runs below).
    losses = [train_options.get("loss", "mse")] + [c.get("loss") for c in configs or () if isinstance(c, dict)]
    if any(isinstance(name, str) and LOSS_ALIASES.get(name.lower(), name.lower()) == MULTINOMIAL for name in losses):
        Y = class_targets(MULTINOMIAL, W, Y)
    X2: np.ndarray | CSRData
    sparse = is_sparse(X)
    if sparse:  # a CSR matrix goes to the kernels as its arrays, as in train (never densified)
        W_arr, X2, Y2_or_none, vector = prepare_sparse_samples(W, X, Y)
        Y2 = cast(np.ndarray, Y2_or_none)  # (Y was given)
    else:
        W_arr, X2, Y2, _, vector = prepare_samples(W, X, Y)
    sw = prepare_sample_weight(sample_weight, X2)
    starts = None
    if initial_weights is not None:
        want = (W_arr.shape[1],) if vector else W_arr.shape  # a 1-D W: k 1-D start points
        raw = as_array("initial_weights", initial_weights)
        if raw.ndim != len(want) + 1 or raw.shape[1:] != want:  # (checked before converting)
            raise ValueError(f"initial_weights must have shape (k, {', '.join(map(str, want))}), one start "
                             f"point like W per row; got {raw.shape}")
        starts = as_float("initial_weights", raw, W_arr.dtype).reshape(raw.shape[0], *W_arr.shape)
    learning_rates, seeds, configs = (
        _as_list(name, seq) for name, seq in (("learning_rates", learning_rates), ("seeds", seeds),
                                              ("configs", configs))
    )
    if configs is not None:
        for c in configs:
            if not isinstance(c, dict):
                raise TypeError(f"configs must hold dicts of train options; got {type(c).__name__}")
            bad = set(c) - (_OPTION_NAMES - {"fit_intercept"})
            if bad:
                raise ValueError(f"configs may override train options except fit_intercept; got {sorted(bad)}")
    overrides = expand_configs(learning_rates, seeds, None if starts is None else starts.shape[0], configs)

    n_samples = X2.shape[0]
    shared = TrainOptions.from_kwargs(**train_options)  # validated once, not once per run
    runs = _runs_in_bulk(shared, overrides, W_arr.dtype, sparse, n_samples)
    if runs is None:  # the reference loop: each run's options validated in turn (it raises for the first bad run)
        runs = []
        for override in overrides:
            changes, start_index = _changes(override)
            options = _checked(shared.with_overrides(**changes), W_arr.dtype, sparse, n_samples)
            seed = options.seed if options.seed is not None else draw_seed()
            runs.append(Run(options, start_index, seed, options.resolved_num_iterations(n_samples)))
    if len({run.shared_options.fit_intercept for run in runs}) > 1:
        raise ValueError("fit_intercept must be the same for every run of a sweep")
    for loss in sorted({run.shared_options.loss for run in runs}):
        check_targets(loss, Y2)  # class labels for a classification loss
    bias = initial_bias(b, W_arr, runs[0].shared_options)
    return Plan(configs=overrides, runs=runs, W=W_arr, X=X2, Y=Y2, sample_weight=sw, starts=starts, b=bias,
                 vector=vector)


def _changes(override: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """A run's changes to the shared options (``override`` less its ``initial_weights`` entry, its
    own length replacing the shared one) and its start index (that entry)."""
    changes = dict(override)
    start_index = changes.pop("initial_weights", None)
    # A run's own length replaces the shared one, whichever way each is given.
    for mine, other in (("num_epochs", "num_iterations"), ("num_iterations", "num_epochs")):
        if mine in changes and other not in changes:
            changes[other] = None
    return changes, start_index


def _checked(options: TrainOptions, dtype: np.dtype, sparse: bool, n_samples: int) -> TrainOptions:
    """A run's ``options``, refused as train refuses them with these data."""
    check_accumulate(options, dtype)
    if sparse:
        check_sparse_options(options, n_samples)  # (what train refuses on sparse X, named the same way)
    return options


# The options a sweep's runs mostly differ in; no other option's checks depend on them.
_LEARNING_RATE_AND_SEED = frozenset(("learning_rate", "seed"))


def _runs_in_bulk(shared: TrainOptions, overrides: list[dict[str, Any]], dtype: np.dtype, sparse: bool,
                  n_samples: int) -> list[Run] | None:
    """The runs of the reference loop in :func:`_plan` (equal options, starts, lengths; seeds left
    to chance drawn in one go), each distinct set of the overrides' other options validated once
    and the learning rate and seed of each run checked alone (``TrainOptions.checked_learning_rate_and_seed``;
    the runs of one such set share its options object: ``Run.shared_options``).

    None, for the reference loop to do (and raise the error of the first bad run, as it always
    has), when any check fails, or when an override uses a deprecated option name (whose warning
    comes once per run).
    """
    base_of: dict[tuple[Any, ...], tuple[TrainOptions, int | None, int]] = {}
    runs = []
    # seeds for the runs that leave theirs to chance (one read for all; those of seeded runs go unused)
    drawn = draw_seeds(len(overrides)) if shared.seed is None or any("seed" in o for o in overrides) else []
    try:
        for i, override in enumerate(overrides):
            # (the ids of the other values, which the overrides keep alive: equal ids, the same objects)
            key = () if override.keys() <= _LEARNING_RATE_AND_SEED else tuple(
                [(name, id(value)) for name, value in override.items() if name not in _LEARNING_RATE_AND_SEED])
            base = base_of.get(key)
            if base is None:
                if any(name in RENAMED_OPTIONS for name in override):
                    return None
                changes, start_index = _changes(
                    {name: value for name, value in override.items() if name not in _LEARNING_RATE_AND_SEED})
                options = _checked(shared.with_overrides(**changes), dtype, sparse, n_samples)
                base = base_of[key] = (options, start_index, options.resolved_num_iterations(n_samples))
            options, start_index, n_steps = base
            learning_rate, seed = options.checked_learning_rate_and_seed(
                override.get("learning_rate", options.learning_rate), override.get("seed", options.seed))
            runs.append(Run.of_family(options, learning_rate, seed, start_index, drawn[i] if seed is None else seed,
                                      n_steps))
    except Exception:  # (whatever a check raised, the reference loop raises it for the right run)
        return None
    return runs


def _as_list(name: str, seq: Any) -> list[Any] | None:
    """A non-empty list from a sequence or iterable argument (None stays None)."""
    if seq is None:
        return None
    if isinstance(seq, (str, bytes, dict)):
        raise ValueError(f"{name} must be a non-empty sequence; got {type(seq).__name__}")
    items: list[Any]
    try:
        if isinstance(seq, np.ndarray) and seq.ndim == 1 and seq.dtype.kind in "biufc":
            items = seq.tolist()  # (as .item() of each entry, in one call)
        else:
            items = [v.item() if isinstance(v, np.generic) else v for v in seq]  # NumPy scalars -> Python
    except TypeError:
        raise TypeError(f"{name} must be a sequence; got {type(seq).__name__}: {seq!r}") from None
    if not items:
        raise ValueError(f"{name} must be a non-empty sequence")
    return items
