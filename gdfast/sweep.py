"""``gdfast.sweep``: many independent trainings in one kernel call, spread over cores (OpenMP)."""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, fields

import numpy as np

from . import _train
from ._engine import C_STATUS, TrainOptions, TrainState, draw_seed
from ._validation import as_array, as_float, check_int, prepare_samples
from .training import _allocate, _finish, _prepare_sample_weight

__all__ = ["sweep", "SweepResult", "expand_configs"]


@dataclass(frozen=True)
class SweepResult:
    """Stacked results of :func:`sweep`, one entry per configuration, in configuration order.

    Attributes
    ----------
    configs : list of dict
        The options that vary between runs (``learning_rate``, ``seed``, ``initial_weights`` index, and
        whatever ``configs`` gave), one dict per run.
    results : list of TrainResult
        The full result of each run (identical to a :func:`gdfast.train` call with the same options).
    """

    configs: list
    results: list

    def __len__(self):
        return len(self.results)

    @property
    def W(self) -> np.ndarray:
        """Final weights, shape (n_configs, n_outputs, n_features)."""
        return np.stack([r.W for r in self.results])

    @property
    def b(self):
        """Final biases, shape (n_configs, n_outputs), or None without an intercept."""
        return None if self.results[0].b is None else np.stack([r.b for r in self.results])

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

    def to_records(self) -> list:
        """One dict per run: its config plus final loss, n_iter, converged, diverged, status."""
        return [
            {**cfg, "loss": r.loss, "n_iter": r.n_iter, "converged": r.converged,
             "diverged": r.diverged, "status": r.status}
            for cfg, r in zip(self.configs, self.results)
        ]


_OPTION_NAMES = {f.name for f in fields(TrainOptions)}


def expand_configs(learning_rates=None, seeds=None, initial_weights_count=None, configs=None):
    """The cartesian product learning_rates x seeds x initial weights x configs, as override dicts."""
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


def sweep(W, X, Y, *, learning_rates=None, seeds=None, initial_weights=None, configs=None, n_threads=None,
          sample_weight=None, **train_options):
    """Run many independent :func:`gdfast.train` runs on the same data in one parallel kernel call.

    The runs are the cartesian product of ``learning_rates`` x ``seeds`` x ``initial_weights`` x
    ``configs`` (each given axis in that order, the last varying fastest); ``train_options`` are
    shared by all runs and overridden per run. Each run is computed by one thread from start to
    end, so every result equals a plain ``train`` call with the same options, bit for bit, whatever
    ``n_threads``.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features)
        Start weights (used when ``initial_weights`` is None).
    X, Y : array_like
        Data, as for :func:`gdfast.train`.
    learning_rates : sequence of float, optional
    seeds : sequence of int, optional
    initial_weights : array_like, shape (k, n_outputs, n_features), optional
        k start points, converted to the float dtype of ``W``, ``X`` and ``Y`` (they do not promote it).
    configs : sequence of dict, optional
        Per-run overrides of any :func:`gdfast.train` option except ``fit_intercept``
        (e.g. ``{"optimizer": "adam", "learning_rate": 1e-3}``).
    n_threads : int, optional
        Threads to spread the runs over (default: all the cores OpenMP sees).
    sample_weight : array_like, optional
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
    """
    if "state" in train_options or "progress" in train_options:
        raise TypeError("sweep does not take state= or progress=")
    unknown = set(train_options) - _OPTION_NAMES
    if unknown:
        raise TypeError(f"unknown training option(s) {', '.join(sorted(unknown))}")
    W_arr, X2, Y2, _ = prepare_samples(W, X, Y)
    sw = _prepare_sample_weight(sample_weight, X2)
    starts = None
    if initial_weights is not None:
        starts = as_float("initial_weights", as_array("initial_weights", initial_weights), W_arr.dtype, ndim=3)
        if starts.shape[1:] != W_arr.shape:
            raise ValueError(f"initial_weights must have shape (k, {W_arr.shape[0]}, {W_arr.shape[1]}); "
                             f"got {starts.shape}")
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
    if n_threads is None:
        n_threads = _train.max_threads()
    n_threads = check_int(n_threads, "n_threads", low=1)
    if n_threads > 1 and not _train.have_openmp():
        warnings.warn("gdfast was built without OpenMP: the sweep runs serially", RuntimeWarning, stacklevel=2)

    n_samples = X2.shape[0]
    runs = []
    for override in overrides:
        opts = dict(train_options)
        opts.update(override)
        start_index = opts.pop("initial_weights", None)
        options = TrainOptions.from_kwargs(**opts)
        start = W_arr if start_index is None else starts[start_index]
        seed = options.seed if options.seed is not None else draw_seed()
        runs.append((options, start, seed, options.resolved_num_iterations(n_samples)))
    if len({o.fit_intercept for o, *_ in runs}) > 1:
        raise ValueError("fit_intercept must be the same for every run of a sweep")

    n_runs = len(runs)
    first = TrainState.new(runs[0][1], None, n_samples, runs[0][0], runs[0][2])
    size = first.params.shape[1]
    cfgs = [o.kernel_config(n_samples) for o, *_ in runs]
    buffers = [_allocate(cfg, o, Y2, size, n) for cfg, (o, _, _, n) in zip(cfgs, runs)]
    hist = _stack_padded([b[0] for b in buffers])
    epoch_hist = _stack_padded([b[1] for b in buffers])
    residual = np.empty((n_runs, max(b[3].size for b in buffers)))
    grad = np.zeros((n_runs, size))
    states = [TrainState.new(start, None, n_samples, o, seed) for o, start, seed, _ in runs]
    params = np.stack([s.params for s in states])
    opt_state = np.stack([s.opt_state for s in states])
    perm = np.stack([s.perm for s in states])
    counters = np.stack([s.counters for s in states])
    scalars = np.stack([s.scalars for s in states])
    zeros = np.zeros(n_runs, dtype=np.int64)
    n_steps = np.array([n for *_, n in runs], dtype=np.int64)
    _train.sweep_steps(cfgs, X2, Y2, sw, runs[0][0].fit_intercept, params, opt_state, grad, residual, perm,
                       counters, scalars, hist, epoch_hist, zeros, zeros, n_steps, min(n_threads, n_runs))

    results = []
    n_diverged = 0
    for r, (options, _, seed, _) in enumerate(runs):
        st = TrainState(params=params[r].copy(), opt_state=opt_state[r].copy(), perm=perm[r].copy(),
                        counters=counters[r].copy(), scalars=scalars[r].copy(),
                        optimizer=states[r].optimizer, fit_intercept=options.fit_intercept, shape=W_arr.shape)
        res = _finish(cfgs[r], options, X2, Y2, sw, st, int(counters[r, C_STATUS]), 0, seed,
                      hist[r], epoch_hist[r], warn=False)
        n_diverged += res.diverged
        results.append(res)
    if n_diverged:
        warnings.warn(f"sweep: {n_diverged} of {n_runs} runs diverged (see result.diverged)",
                      RuntimeWarning, stacklevel=2)
    return SweepResult(configs=overrides, results=results)


def _as_list(name, seq):
    """A non-empty list from a sequence or iterable argument (None stays None)."""
    if seq is None:
        return None
    if isinstance(seq, (str, bytes, dict)):
        raise ValueError(f"{name} must be a non-empty sequence; got {type(seq).__name__}")
    try:
        items = list(seq)
    except TypeError:
        raise TypeError(f"{name} must be a sequence; got {type(seq).__name__}: {seq!r}") from None
    if not items:
        raise ValueError(f"{name} must be a non-empty sequence")
    return items


def _stack_padded(arrays):
    longest = max(a.size for a in arrays)
    out = np.full((len(arrays), longest), np.nan)
    for i, a in enumerate(arrays):
        out[i, : a.size] = a
    return out
