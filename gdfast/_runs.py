"""A planned set of runs and its execution: the runs of a sweep as one run set of the engine.

``gdfast.sweeps`` validates a sweep into a :class:`Plan`; :func:`execute` runs (some of) its runs,
in the calling process (``gdfast.sweep``) or in a Dask task (``gdfast._distributed``). Both import
this module; it imports neither.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ._engine import RunSet, TrainOptions, TrainState, history_sizes, new_record
from ._sparse import CSRData
from .training import TrainResult, finish_runs

__all__ = ["Run", "Plan", "execute"]

# The options that do not enter a run's kernel config but as its learning rate (or not at all).
_PER_RUN = ("learning_rate", "seed")


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
    X: np.ndarray | CSRData
    Y: np.ndarray
    sample_weight: np.ndarray | None
    starts: np.ndarray | None
    b: np.ndarray | None = None
    vector: bool = False  # W was 1-D: results drop the outputs' axis


def execute(runs: Sequence[Run], W: np.ndarray, X: np.ndarray | CSRData, Y: np.ndarray,
            sample_weight: np.ndarray | None, starts: np.ndarray | None, n_threads: int, b: np.ndarray | None = None, *,
            between_calls: Callable[[], None] | None = None,
            updates_per_call: int | None = None) -> list[TrainResult]:
    """Run planned runs as one :class:`~gdfast._engine.RunSet`; their TrainResults, in order.

    The arrays are the validated ones of a :class:`Plan` (``gdfast.sweeps``); this is all a Dask
    task executes. ``between_calls`` and ``updates_per_call``: see ``RunSet.run`` (the set then
    advances in several kernel calls, ``between_calls()`` before each further one).
    """
    n_samples = X.shape[0]

    fresh: dict[tuple[Any, ...], TrainState] = {}

    def start_of(run: Run) -> TrainState:
        # Runs from the same start point with the same optimizer object, intercept and restore_best
        # (the rows kept) share one fresh state's arrays (only read: RunSet.of copies them), each
        # with its own record (its seed).
        key = (id(run.options.optimizer), run.start, run.options.fit_intercept, run.options.restore_best)
        template = fresh.get(key)
        if template is None:
            template = fresh[key] = TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b,
                                                   n_samples, run.options, run.seed)
        return TrainState(params=template.params, opt_state=template.opt_state, perm=template.perm,
                          record=new_record(run.seed), optimizer=template.optimizer,
                          fit_intercept=template.fit_intercept, shape=template.shape)

    # Per distinct options besides the learning rate and the seed (the runs of a sweep mostly
    # differ in those alone): the kernel config (learning rate set per run) and the histories' lengths.
    shared: dict[tuple[int, ...], tuple[dict[str, Any], tuple[int, int]]] = {}
    kernel_configs, history_lengths = [], []
    # (the ids of the option values, which the runs keep alive: equal ids, the same objects)
    shared_values = operator.itemgetter(*(name for name in vars(runs[0].options) if name not in _PER_RUN))
    for run in runs:
        key = (*map(id, shared_values(vars(run.options))), run.n_steps)
        if key not in shared:
            shared[key] = (run.options.kernel_config(n_samples), history_sizes(run.options, n_samples, run.n_steps))
        config, lengths = shared[key]
        kernel_configs.append({**config, "learning_rate": run.options.learning_rate})
        history_lengths.append(lengths)
    first_states = [start_of(run) for run in runs]  # (RunSet.of copies them: they stay as they are)
    run_set = RunSet.of(first_states, kernel_configs, history_lengths, n_samples)
    run_set.run(X, Y, sample_weight, [run.n_steps for run in runs], n_threads, between_calls=between_calls,
                updates_per_call=updates_per_call)
    final_losses = run_set.final_losses(X, Y, sample_weight).tolist()
    # (finish replays the rare diverged mini-batch run from its start)
    return finish_runs(kernel_configs, [run.options for run in runs], X, Y, sample_weight, run_set,
                       first_states.__getitem__, [run.seed for run in runs], final_losses)
