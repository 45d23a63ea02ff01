"""``gdfast.sweep``: many independent trainings in one kernel call, spread over cores (OpenMP)."""
from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, fields
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from . import _train
from ._contract import C_STATUS, N_COUNTERS, N_SCALARS
from ._engine import RENAMED_OPTIONS, RUNNING, TrainOptions, TrainState, draw_seed, initial_bias, param_rows
from ._validation import as_array, as_float, check_int, prepare_samples
from .training import TrainResult, _history_sizes, _finish, _prepare_sample_weight, single_output

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
    results : list of TrainResult
        The full result of each run (identical to a :func:`gdfast.train` call with the same options).

    Examples
    --------
    >>> import gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01], num_iterations=10)
    >>> len(res), res.W.shape, res.losses.shape, res.to_records()[1]["learning_rate"]
    (2, (2, 4, 4), (2, 10), 0.01)
    """

    configs: list[dict[str, Any]]
    results: list[TrainResult]

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        """A few lines: how the runs ended, the spread of their losses, the shapes (not the arrays)."""
        n = len(self.results)
        statuses: dict[str, int] = {}
        for r in self.results:
            statuses[r.status] = statuses.get(r.status, 0) + 1
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
            f"            W: {self.results[0].W.dtype} {self.W.shape}, losses: {self.losses.shape};",
            "            per run: .configs[i], .results[i]; tables: .to_records(), .to_dataframe())",
        ])

    @property
    def W(self) -> np.ndarray:
        """Final weights, shape (n_configs, n_outputs, n_features)."""
        return np.stack([r.W for r in self.results])

    @property
    def b(self) -> np.ndarray | None:
        """Final biases, shape (n_configs, n_outputs), or None without an intercept."""
        biases = [r.b for r in self.results if r.b is not None]
        return np.stack(biases) if len(biases) == len(self.results) else None

    @property
    def loss(self) -> np.ndarray:
        """Final loss of each run."""
        return np.array([r.loss for r in self.results])

    @property
    def n_iter(self) -> np.ndarray:
        return np.array([r.n_iter for r in self.results])

    @property
    def converged(self) -> np.ndarray:
        return np.array([r.converged for r in self.results])

    @property
    def diverged(self) -> np.ndarray:
        return np.array([r.diverged for r in self.results])

    @property
    def losses(self) -> np.ndarray:
        """Loss histories, shape (n_configs, longest), padded with NaN after a run's end."""
        longest = max(r.losses.size for r in self.results)
        out = np.full((len(self.results), longest), np.nan)
        for i, r in enumerate(self.results):
            out[i, : r.losses.size] = r.losses
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per run: its config plus final loss, n_iter, converged, diverged, status."""
        return [
            {**cfg, "loss": r.loss, "n_iter": r.n_iter, "converged": r.converged,
             "diverged": r.diverged, "status": r.status}
            for cfg, r in zip(self.configs, self.results)
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
    >>> from gdfast.sweep import expand_configs
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
        Data, as for :func:`gdfast.train`.
    b : array_like, shape (n_outputs,), optional
        Start bias of every run (with ``fit_intercept=True``; default zeros).
    learning_rates : sequence of float, optional
    seeds : sequence of int, optional
    initial_weights : array_like, shape (k, n_outputs, n_features), optional
        k start points, converted to the float dtype of ``W``, ``X`` and ``Y`` (they do not promote it).
    configs : sequence of dict, optional
        Per-run overrides of any :func:`gdfast.train` option except ``fit_intercept``
        (e.g. ``{"optimizer": "adam", "learning_rate": 1e-3}``); :func:`grid` builds them.
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
    if client is None:
        if n_threads is not None:
            n_threads = check_int(n_threads, "n_threads", low=1)
        if _train.openmp_forked():
            # No OpenMP call here (omp_get_max_threads included): the kernel's serial loop.
            if n_threads != 1 and _train.take_fork_warning():
                warnings.warn(
                    "sweep runs serially in this process: it was forked (os.fork, or multiprocessing's "
                    "'fork' start method) after OpenMP threads ran in its parent, and OpenMP's thread "
                    "pool does not survive a fork. To get threads back, start worker processes with "
                    "multiprocessing.get_context('spawn') or 'forkserver'.",
                    RuntimeWarning, stacklevel=2)
            n_threads = 1
        elif n_threads is None:
            n_threads = check_int(_train.max_threads(), "n_threads", low=1)
        if n_threads > 1 and not _train.have_openmp():
            warnings.warn("gdfast was built without OpenMP: the sweep runs serially", RuntimeWarning,
                          stacklevel=2)
        results = _execute(plan.runs, plan.W, plan.X, plan.Y, plan.sample_weight, plan.starts, n_threads, plan.b)
    else:
        if n_threads is not None:
            n_threads = check_int(n_threads, "n_threads", low=1)
        results = _distributed.run_sweep(client, plan, n_threads=n_threads, chunk_size=chunk_size,
                                         n_chunks=n_chunks, retries=retries)
    if plan.vector:
        results = [single_output(r) for r in results]
    n_diverged = sum(r.diverged for r in results)
    if n_diverged:
        warnings.warn(f"sweep: {n_diverged} of {len(results)} runs diverged (see result.diverged)",
                      RuntimeWarning, stacklevel=2)
    return SweepResult(configs=plan.configs, results=results)


@dataclass(frozen=True)
class _Run:
    """One planned run: validated options, start point (None: W, else an index into the starts),
    the seed of its generator (already drawn when the user gave none) and its number of updates."""

    options: TrainOptions
    start: int | None
    seed: int
    n_steps: int


@dataclass(frozen=True)
class _Plan:
    """A validated sweep: the per-run overrides (for the result), the runs, and the shared arrays."""

    configs: list[dict[str, Any]]
    runs: list[_Run]
    W: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    starts: np.ndarray | None
    b: np.ndarray | None = None
    vector: bool = False  # W was 1-D: results drop the outputs' axis


def _plan(W: npt.ArrayLike, X: npt.ArrayLike, Y: npt.ArrayLike,
          learning_rates: Sequence[float] | npt.NDArray[np.floating[Any]] | None,
          seeds: Sequence[int] | None, initial_weights: npt.ArrayLike | None,
          configs: Sequence[dict[str, Any]] | None, sample_weight: npt.ArrayLike | None,
          train_options: dict[str, Any], b: npt.ArrayLike | None = None) -> _Plan:
    """Validate a sweep's arguments and expand them into runs (seeds drawn here, once)."""
    if "state" in train_options or "progress" in train_options:
        raise TypeError("sweep does not take state= or progress=")
    unknown = set(train_options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown training option(s) {', '.join(sorted(unknown))}")
    W_arr, X2, Y2, _, vector = prepare_samples(W, X, Y)
    sw = _prepare_sample_weight(sample_weight, X2)
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
    runs = []
    shared = TrainOptions.from_kwargs(**train_options)  # validated once, not once per run
    for override in overrides:
        changes = dict(override)
        start_index = changes.pop("initial_weights", None)
        # A run's own length replaces the shared one, whichever way each is given.
        for mine, other in (("num_epochs", "num_iterations"), ("num_iterations", "num_epochs")):
            if mine in changes and other not in changes:
                changes[other] = None
        options = shared.with_overrides(**changes)
        seed = options.seed if options.seed is not None else draw_seed()
        runs.append(_Run(options, start_index, seed, options.resolved_num_iterations(n_samples)))
    if len({run.options.fit_intercept for run in runs}) > 1:
        raise ValueError("fit_intercept must be the same for every run of a sweep")
    bias = initial_bias(b, W_arr, runs[0].options)
    return _Plan(configs=overrides, runs=runs, W=W_arr, X=X2, Y=Y2, sample_weight=sw, starts=starts, b=bias,
                 vector=vector)


def _execute(runs: Sequence[_Run], W: np.ndarray, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
             starts: np.ndarray | None, n_threads: int, b: np.ndarray | None = None, *,
             between_calls: Callable[[], None] | None = None,
             updates_per_call: int | None = None) -> list[TrainResult]:
    """Run planned runs in one ``sweep_steps`` kernel call; their TrainResults, in order.

    The arrays are the validated ones of :func:`_plan`; this is all a Dask task executes. In a
    process forked after OpenMP ran threads (``_train.openmp_forked()``) the runs go serially.

    With ``between_calls``, the kernel is called several times instead, each call advancing every
    unfinished run by at most ``updates_per_call`` updates (default: adjusted after each call so
    that a call lasts about ``_CALL_SECONDS``), and ``between_calls()`` is called before each
    further call (it may raise to abandon the sweep). A run's whole state lives in the arrays, so a
    run continued in pieces gives the same bits as one call, wherever the pieces end.
    """
    n_runs = len(runs)
    n_samples = X.shape[0]
    if _train.openmp_forked():
        n_threads = 1  # OpenMP's thread pool did not survive the fork: the kernel's serial loop
    n_threads = max(1, min(n_threads, n_runs))
    fit_intercept = runs[0].options.fit_intercept
    states = [TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b, n_samples,
                             run.options, run.seed) for run in runs]
    # Stacked runs share one params layout: a best-iterate row for all when any run keeps one.
    rows = max(s.params.shape[0] for s in states)
    cfgs = [run.options.kernel_config(n_samples) for run in runs]
    sizes = [_history_sizes(run.options, n_samples, run.n_steps) for run in runs]
    hist = np.full((n_runs, max(h for h, _ in sizes)), np.nan)
    epoch_hist = np.full((n_runs, max(e for _, e in sizes)), np.nan)
    # The kernel writes each run's counters and scalars, and hands adjacent runs to different
    # threads: rows that start on their own cache line keep threads from writing the same line
    # (false sharing). The kernel only takes each row's start (&a[r, 0]), so rows may be longer
    # than it reads. The gradient and residual scratch is the kernel's own, one per thread.
    perm = _run_rows([s.perm for s in states])
    counters = _run_rows([s.counters for s in states])
    scalars = _run_rows([s.scalars for s in states])
    params = _aligned_stack([np.resize(s.params, (rows, s.params.shape[1])) for s in states])
    opt_state = _aligned_stack([s.opt_state for s in states])
    optimizers = [s.optimizer for s in states]
    del states  # their arrays are copied into the stacks above
    zeros = np.zeros(n_runs, dtype=np.int64)
    n_steps = np.array([run.n_steps for run in runs], dtype=np.int64)

    def advance(steps: np.ndarray) -> None:
        _train.sweep_steps(cfgs, X, Y, sample_weight, fit_intercept, params, opt_state, perm, counters, scalars,
                           hist, epoch_hist, zeros, zeros, steps, n_threads)

    if between_calls is None:
        advance(n_steps)
    else:
        adapt = updates_per_call is None
        per_call = updates_per_call or _updates_per_call(cfgs, n_samples, X.shape[1], Y.shape[1], n_threads)
        left = n_steps.copy()
        while True:
            todo = np.minimum(left, per_call)
            start = time.perf_counter()
            advance(todo)
            elapsed = time.perf_counter() - start
            if adapt:  # towards _CALL_SECONDS a call, by at most a factor of 4 at a time
                per_call = max(1, int(per_call * min(4.0, max(0.25, _CALL_SECONDS / max(elapsed, 1e-6)))))
            left -= todo
            left[counters[:, C_STATUS] != RUNNING] = 0  # converged, stopped early or diverged: done
            if not left.any():
                break
            between_calls()

    results = []
    for r, run in enumerate(runs):
        st = TrainState(params=params[r, : param_rows(run.options)].copy(), opt_state=opt_state[r].copy(),
                        perm=perm[r, :n_samples].copy(), counters=counters[r, :N_COUNTERS].copy(),
                        scalars=scalars[r, :N_SCALARS].copy(), optimizer=optimizers[r],
                        fit_intercept=fit_intercept, shape=W.shape)
        # (the run's start, rebuilt: _finish replays from it the rare diverged mini-batch run)
        run_start = TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b, n_samples,
                                   run.options, run.seed)
        results.append(_finish(cfgs[r], run.options, X, Y, sample_weight, st, int(counters[r, C_STATUS]),
                               run_start, run.seed, hist[r], epoch_hist[r], warn=False))
    return results


# A sweep run in pieces (``_execute(between_calls=...)``): each kernel call should last about
# _CALL_SECONDS; the first one does about _CALL_WORK multiply-adds per thread (0.02-0.3 s on the
# problems measured), later ones are sized from the time the previous one took.
_CALL_SECONDS = 0.2
_CALL_WORK = 2**26
# What an update costs besides its multiply-adds (loop and bookkeeping), in multiply-adds.
_UPDATE_OVERHEAD = 64


def _updates_per_call(cfgs: Sequence[dict[str, Any]], n_samples: int, n_features: int, n_outputs: int,
                      n_threads: int) -> int:
    """Updates per run and kernel call so that one call of all the runs is about ``_CALL_WORK``
    multiply-adds per thread (at least 1)."""
    per_update = sum(min(int(cfg["batch_size"]), n_samples) * n_features * n_outputs * 2 + _UPDATE_OVERHEAD
                     for cfg in cfgs)
    return max(1, _CALL_WORK * n_threads // per_update)


_CACHE_LINE = 64


def _aligned_empty(shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a cache-line boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.empty(nbytes + _CACHE_LINE, dtype=np.uint8)
    offset = -buf.ctypes.data % _CACHE_LINE
    return buf[offset: offset + nbytes].view(dtype).reshape(shape)


def _aligned_stack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """np.stack(arrays), its data starting on a cache-line boundary."""
    out = _aligned_empty((len(arrays),) + arrays[0].shape, arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i] = a
    return out


def _run_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Stack 1-D rows of one dtype, each row padded to whole cache lines and starting on one.

    Returns shape (n_rows, padded_width); ``out[i, :rows[i].size] == rows[i]``, the padding is zero.
    """
    dtype = rows[0].dtype
    per_line = max(1, _CACHE_LINE // dtype.itemsize)
    width = max(r.size for r in rows)
    out = _aligned_empty((len(rows), -(-width // per_line) * per_line), dtype)
    out.fill(0)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


def _as_list(name: str, seq: Any) -> list[Any] | None:
    """A non-empty list from a sequence or iterable argument (None stays None)."""
    if seq is None:
        return None
    if isinstance(seq, (str, bytes, dict)):
        raise ValueError(f"{name} must be a non-empty sequence; got {type(seq).__name__}")
    try:
        items = [v.item() if isinstance(v, np.generic) else v for v in seq]  # NumPy scalars -> Python
    except TypeError:
        raise TypeError(f"{name} must be a sequence; got {type(seq).__name__}: {seq!r}") from None
    if not items:
        raise ValueError(f"{name} must be a non-empty sequence")
    return items
