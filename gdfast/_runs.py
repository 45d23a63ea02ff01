"""A planned set of runs and its execution: the runs of a sweep as one run set of the engine.

``gdfast.sweeps`` validates a sweep into a :class:`Plan`; :func:`execute` runs (some of) its runs,
in the calling process (``gdfast.sweep``) or in a Dask task (``gdfast._distributed``). Both import
this module; it imports neither.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ._engine import RunSet, TrainOptions, TrainState, history_sizes
from .training import TrainResult, finish

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
    """Run planned runs as one :class:`~gdfast._engine.RunSet`; their TrainResults, in order.

    The arrays are the validated ones of a :class:`Plan` (``gdfast.sweeps``); this is all a Dask
    task executes. ``between_calls`` and ``updates_per_call``: see ``RunSet.run`` (the set then
    advances in several kernel calls, ``between_calls()`` before each further one).
    """
    n_samples = X.shape[0]

    def start_of(run: Run) -> TrainState:
        return TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b, n_samples,
                              run.options, run.seed)

    kernel_configs = [run.options.kernel_config(n_samples) for run in runs]
    starts = [start_of(run) for run in runs]  # (RunSet.of copies them: they stay the runs' starts)
    run_set = RunSet.of(starts, kernel_configs,
                        [history_sizes(run.options, n_samples, run.n_steps) for run in runs], n_samples)
    run_set.run(X, Y, sample_weight, [run.n_steps for run in runs], n_threads, between_calls=between_calls,
                updates_per_call=updates_per_call)
    # (finish replays the rare diverged mini-batch run from its start)
    return [finish(kernel_configs[r], run.options, X, Y, sample_weight, run_set, r, starts[r], run.seed, warn=False)
            for r, run in enumerate(runs)]
