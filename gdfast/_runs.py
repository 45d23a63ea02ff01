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

from ._engine import KernelConfigs, RunSet, TrainOptions, TrainState, history_sizes, new_record, new_records
from ._sparse import CSRData
from .training import RunResults, TrainResult, finish_runs

__all__ = ["Run", "Plan", "execute"]

# The options that do not enter a run's kernel config but as its learning rate (or not at all).
_PER_RUN = ("learning_rate", "seed")


class Run:
    """One planned run: its validated options, start point (None: W, else an index into the starts),
    the seed of its generator (already drawn when the user gave none) and its number of updates.

    A run keeps the options it shares with its family (``shared_options``: every option validated,
    but for the learning rate and the seed, which are the family's first run's) and its own
    validated ``learning_rate`` and seed option (``seed_option``, None when it was left to chance):
    a sweep of many runs holds one options object per family, not one per run. The run's own
    options are ``shared_options.with_learning_rate_and_seed(learning_rate, seed_option)``. Runs
    that hold the same ``shared_options`` object are one family (:func:`execute` compares the
    options of the others value by value).
    """

    __slots__ = ("shared_options", "learning_rate", "seed_option", "start", "seed", "n_steps")
    shared_options: TrainOptions

    def __init__(self, options: TrainOptions, start: int | None, seed: int, n_steps: int) -> None:
        self.shared_options, self.learning_rate, self.seed_option = options, options.learning_rate, options.seed
        self.start, self.seed, self.n_steps = start, seed, n_steps

    @classmethod
    def of_family(cls, shared_options: TrainOptions, learning_rate: float, seed_option: int | None,
                  start: int | None, seed: int, n_steps: int) -> Run:
        """A run of a family: ``shared_options`` with this ``learning_rate`` and ``seed_option``
        (both validated: ``TrainOptions.checked_learning_rate_and_seed``)."""
        run = object.__new__(cls)
        run.shared_options, run.learning_rate, run.seed_option = shared_options, learning_rate, seed_option
        run.start, run.seed, run.n_steps = start, seed, n_steps
        return run

    def __repr__(self) -> str:
        return (f"Run(learning_rate={self.learning_rate!r}, seed={self.seed!r}, start={self.start!r}, "
                f"n_steps={self.n_steps!r})")


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
            updates_per_call: int | None = None) -> RunResults:
    """Run planned runs as one :class:`~gdfast._engine.RunSet`; their TrainResults, in order (a
    :class:`~gdfast.training.RunResults`).

    The arrays are the validated ones of a :class:`Plan` (``gdfast.sweeps``); this is all a Dask
    task executes. ``between_calls`` and ``updates_per_call``: see ``RunSet.run`` (the set then
    advances in several kernel calls, ``between_calls()`` before each further one).
    """
    n_samples = X.shape[0]
    # Runs from the same start point with the same optimizer object, intercept and restore_best (the
    # rows kept) share one fresh state's params, opt_state and perm (copied into the set's rows once
    # per start), each with its own record (its seed).
    templates: dict[tuple[Any, ...], int] = {}
    start_states: list[TrainState] = []
    start_of: list[int] = []
    # Per distinct options besides the learning rate and the seed (the runs of a sweep mostly
    # differ in those alone): the kernel config (one dict, shared by those runs: KernelConfigs) and the
    # histories' lengths. The key: the ids of the option values
    # (which the runs keep alive: equal ids, the same objects), looked up only when a run's values are
    # not those of the run before it.
    shared: dict[tuple[int, ...], tuple[dict[str, Any], tuple[int, int]]] = {}
    shared_configs: list[dict[str, Any]] = []
    learning_rates, history_lengths = [], []
    shared_values = operator.itemgetter(*(name for name in vars(runs[0].shared_options) if name not in _PER_RUN))
    values_before: tuple[Any, ...] = ()
    n_steps_before, index = -1, -1
    start_before: int | None = -1
    options_before: TrainOptions | None = None
    for run in runs:
        options = run.shared_options  # (all but the learning rate and the seed, which are the run's)
        if options is options_before:
            same = True  # (a family: the options of the run before but for the learning rate and the seed)
        else:
            values = shared_values(vars(options))
            same = len(values) == len(values_before) and all(map(operator.is_, values, values_before))
            values_before = values
        if not (same and run.n_steps == n_steps_before):
            key = (*map(id, values), run.n_steps)
            if key not in shared:
                shared[key] = (options.kernel_config(n_samples), history_sizes(options, n_samples, run.n_steps))
            config, lengths = shared[key]
        shared_configs.append(config)
        learning_rates.append(run.learning_rate)
        history_lengths.append(lengths)
        if not (same and run.start == start_before):  # (the template's options are among the values)
            template = (id(options.optimizer), run.start, options.fit_intercept, options.restore_best)
            if template not in templates:
                templates[template] = len(start_states)
                start_states.append(TrainState.new(W if run.start is None else cast(np.ndarray, starts)[run.start], b,
                                                   n_samples, options, run.seed))
            index = templates[template]
        start_of.append(index)
        n_steps_before, start_before, options_before = run.n_steps, run.start, options
    seeds = [run.seed for run in runs]
    kernel_configs = KernelConfigs(shared_configs, np.array(learning_rates, dtype=np.float64))
    run_set = RunSet.of_shared(start_states, start_of, new_records(seeds), kernel_configs, history_lengths, n_samples)
    run_set.run(X, Y, sample_weight, [run.n_steps for run in runs], n_threads, between_calls=between_calls,
                updates_per_call=updates_per_call)
    final_losses = run_set.final_losses(X, Y, sample_weight).tolist()

    def first_state(r: int) -> TrainState:
        # run r's state before the kernel call (finish replays the rare diverged mini-batch run from it)
        template = start_states[start_of[r]]
        return TrainState(params=template.params, opt_state=template.opt_state, perm=template.perm,
                          record=new_record(seeds[r]), optimizer=template.optimizer,
                          fit_intercept=template.fit_intercept, shape=template.shape)

    return finish_runs(kernel_configs, [run.shared_options for run in runs], X, Y, sample_weight, run_set,
                       first_state, seeds, final_losses)
