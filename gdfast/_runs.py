"""A planned set of runs and its execution: the runs of a sweep through the ``sweep_steps`` kernel.

``gdfast.sweeps`` validates a sweep into a :class:`Plan`; :func:`execute` runs (some of) its runs,
in the calling process (``gdfast.sweep``) or in a Dask task (``gdfast._distributed``). Both import
this module; it imports neither.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from . import _train
from ._contract import C_STATUS, N_COUNTERS, N_SCALARS
from ._engine import RUNNING, TrainOptions, TrainState, param_rows
from .training import TrainResult, finish, history_sizes

__all__ = ["Run", "Plan", "execute"]


@dataclass(frozen=True)
class Run:
    """One planned run: validated options, start point (None: W, else an index into the starts),
    the seed of its generator (already drawn when the user gave none) and its number of updates."""

    options: TrainOptions
    start: int | None
    seed: int
    n_steps: int


@dataclass(frozen=True)
class Plan:
    """A validated sweep: the per-run overrides (for the result), the runs, and the shared arrays."""

    configs: list[dict[str, Any]]
    runs: list[Run]
    W: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    sample_weight: np.ndarray | None
    starts: np.ndarray | None
    b: np.ndarray | None = None
    vector: bool = False  # W was 1-D: results drop the outputs' axis


def execute(runs: Sequence[Run], W: np.ndarray, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
            starts: np.ndarray | None, n_threads: int, b: np.ndarray | None = None, *,
            between_calls: Callable[[], None] | None = None,
            updates_per_call: int | None = None) -> list[TrainResult]:
    """Run planned runs in one ``sweep_steps`` kernel call; their TrainResults, in order.

    The arrays are the validated ones of a :class:`Plan` (``gdfast.sweeps``); this is all a Dask
    task executes. In a process forked after OpenMP ran threads (``_train.openmp_forked()``) the
    runs go serially.

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
    sizes = [history_sizes(run.options, n_samples, run.n_steps) for run in runs]
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
        # (the run's start, rebuilt: finish replays from it the rare diverged mini-batch run)
        run_start = TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b, n_samples,
                                   run.options, run.seed)
        results.append(finish(cfgs[r], run.options, X, Y, sample_weight, st, int(counters[r, C_STATUS]),
                               run_start, run.seed, hist[r], epoch_hist[r], warn=False))
    return results


# A sweep run in pieces (``execute(between_calls=...)``): each kernel call should last about
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
