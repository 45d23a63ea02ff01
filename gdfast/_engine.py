"""Options, state and bookkeeping of a training run, shared by ``train``, ``sweep`` and the reference.

A run's complete state (parameters, optimizer buffers, step and epoch counters, sample permutation,
random generator) lives in the NumPy arrays of :class:`TrainState`, so the compiled loop can be
stopped and continued anywhere with bit-identical results.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from ._contract import (
    C_BEST_STEP, C_CURRENT, C_EPOCH, C_EPOCHS_RECORDED, C_NO_IMPROVEMENT, C_POSITION, C_RECORDED, C_RNG,
    C_STATUS, C_STEP, N_COUNTERS, N_SCALARS, S_BEST_LOSS, S_EPOCH_LOSS_SUM, S_EPOCH_SAMPLES, S_FIRST_LOSS,
    S_LAST_GRAD_NORM, S_LAST_LOSS, S_MU_PRODUCT, LossCode, Status,
)
from ._validation import as_array, as_float, check_bool, check_int, check_learning_rate, check_real
from .optimizers import Optimizer, get_optimizer
from .schedules import Schedule, get_schedule

# Codes of the compiled loop (declared once, in src/gdfast/_contract.pxd, as are the C_*/S_* slots).
LOSSES = {"mse": LossCode.LOSS_MSE, "mae": LossCode.LOSS_MAE, "huber": LossCode.LOSS_HUBER}

RUNNING, CONVERGED, NO_IMPROVEMENT, DIVERGED, INTERRUPTED = (
    Status.STATUS_RUNNING, Status.STATUS_CONVERGED, Status.STATUS_NO_IMPROVEMENT, Status.STATUS_DIVERGED,
    Status.STATUS_INTERRUPTED,
)
STATUS_NAMES: dict[int, str] = {
    RUNNING: "max_iter",
    CONVERGED: "converged",
    NO_IMPROVEMENT: "no_improvement",
    DIVERGED: "diverged",
    INTERRUPTED: "interrupted",
}

# A run whose epoch loss grows past this many times its best epoch loss (and past its first one)
# has diverged (see gdfast.train, ``divergence_factor``).
DEFAULT_DIVERGENCE_FACTOR = 1e4

DEFAULT_NUM_ITERATIONS = 100
# Counts reach the kernel as int64.
INT64_MAX = 2**63 - 1


def get_loss(loss: Any) -> str:
    """A validated loss name."""
    if not isinstance(loss, str):
        raise TypeError(f"loss must be one of {', '.join(LOSSES)}; got {type(loss).__name__}")
    name = loss.lower()
    if name not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid names: {', '.join(LOSSES)}")
    return name


@dataclass(frozen=True)
class TrainOptions:
    """Validated options of one training run (everything but the data and the start point)."""

    learning_rate: float = 0.01
    num_iterations: int | None = None
    num_epochs: int | None = None
    optimizer: Optimizer | str | None = "sgd"
    loss: str = "mse"
    huber_delta: float = 1.0
    schedule: Schedule | str | None = None
    fit_intercept: bool = False
    batch_size: int | None = None
    shuffle: bool = True
    seed: int | None = None
    grad_tol: float | None = None
    loss_tol: float = 1e-4
    n_iter_no_change: int | None = None
    clip_norm: float | None = None
    record_every: int = 1
    divergence_factor: float | None = DEFAULT_DIVERGENCE_FACTOR
    restore_best: bool = False

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "TrainOptions":
        """Validate user options (names as in :func:`gdfast.train`)."""
        _check_option_names(kwargs)
        o = cls(**kwargs)
        return o._validated(o.__dict__)

    def with_overrides(self, **overrides: Any) -> "TrainOptions":
        """These (validated) options with some replaced; only the replaced ones are validated again."""
        _check_option_names(overrides)
        merged = dict(self.__dict__)
        merged.update(overrides)
        return self._validated(merged, only=overrides)

    def _validated(self, values: dict[str, Any], only: dict[str, Any] | None = None) -> "TrainOptions":
        if values["num_iterations"] is not None and values["num_epochs"] is not None:
            raise ValueError("give num_iterations or num_epochs, not both")
        checked = {
            name: (value if value is None and name in _OPTIONAL else _VALIDATORS[name](value))
            for name, value in (values if only is None else only).items()
        }
        # dataclasses.replace would run __init__ again; a copy of the fields is all that is needed.
        validated = object.__new__(type(self))
        validated.__dict__.update(values)
        validated.__dict__.update(checked)
        return validated

    def resolved_batch_size(self, n_samples: int) -> int:
        if self.batch_size is None:
            return n_samples
        if self.batch_size > n_samples:
            raise ValueError(f"batch_size must be <= n_samples = {n_samples}; got {self.batch_size}")
        return self.batch_size

    def steps_per_epoch(self, n_samples: int) -> int:
        return -(-n_samples // self.resolved_batch_size(n_samples))

    def resolved_num_iterations(self, n_samples: int) -> int:
        if self.num_epochs is not None:
            n_steps = self.num_epochs * self.steps_per_epoch(n_samples)
            if n_steps > INT64_MAX:
                raise ValueError(
                    f"num_epochs = {self.num_epochs} makes {n_steps} updates, more than 2**63 - 1"
                )
            return n_steps
        return DEFAULT_NUM_ITERATIONS if self.num_iterations is None else self.num_iterations

    def effective_shuffle(self, n_samples: int) -> bool:
        """Shuffling only matters for mini-batches; a full batch is always taken in order."""
        return self.shuffle and self.resolved_batch_size(n_samples) < n_samples

    def kernel_config(self, n_samples: int, end_step: int | None = None) -> dict[str, Any]:
        """The TrainConfig struct (src/gdfast/_contract.pxd) as a dict, for a call ending at update
        ``end_step`` (counted over the whole run; default: a new run of its resolved length)."""
        if end_step is None:
            end_step = self.resolved_num_iterations(n_samples)
        schedule = self.resolved_schedule(end_step)
        cfg = dict(
            loss=LOSSES[self.loss], huber_delta=self.huber_delta,
            optimizer=cast(Optimizer, self.optimizer)._code, learning_rate=self.learning_rate,
            momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, decoupled_weight_decay=False,
            beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, alpha=0.99, centered=False, lr_decay=0.0,
            momentum_decay=0.0,
            schedule=schedule._code, schedule_gamma=1.0, schedule_step_size=1.0,
            schedule_power=0.0, schedule_t_max=1.0, schedule_eta_min=0.0, schedule_table=0,
            clip_norm=self.clip_norm if self.clip_norm is not None else 0.0,
            grad_tol=self.grad_tol if self.grad_tol is not None else -1.0,
            loss_tol=self.loss_tol,
            n_iter_no_change=self.n_iter_no_change or 0,
            batch_size=self.resolved_batch_size(n_samples),
            shuffle=self.effective_shuffle(n_samples),
            record_every=self.record_every,
            epoch_record_every=epoch_record_every(self.record_every, self.steps_per_epoch(n_samples)),
            divergence_factor=self.divergence_factor if self.divergence_factor is not None else 0.0,
            restore_best=self.restore_best,
        )
        cfg.update(cast(Optimizer, self.optimizer)._kernel_fields())
        cfg.update(schedule._kernel_fields())
        return cfg

    def resolved_schedule(self, end_step: int) -> Schedule:
        """The schedule of a call ending at update ``end_step``, checked to cover every update."""
        schedule = cast(Schedule, self.schedule).resolved(end_step)
        schedule.check_length(end_step)
        return schedule


# Deprecated spellings of options: old name -> new name (each kept for one release).
RENAMED_OPTIONS = {"tol": "grad_tol"}


def _check_option_names(options: dict[str, Any]) -> None:
    """Raise for unknown option names; rename deprecated ones in place (with a DeprecationWarning)."""
    for old, new in RENAMED_OPTIONS.items():
        if old not in options:
            continue
        value = options.pop(old)
        if value is None:
            continue
        if options.get(new) is not None:
            raise TypeError(f"give {new} or its deprecated alias {old}, not both")
        warnings.warn(
            f"the training option {old!r} is deprecated (it is the gradient-norm threshold): use {new}={value!r}",
            DeprecationWarning, stacklevel=4,
        )
        options[new] = value
    unknown = set(options) - set(TrainOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(
            f"unknown training option(s) {', '.join(sorted(unknown))}; valid: "
            + ", ".join(TrainOptions.__dataclass_fields__)
        )


# Options whose None means "not set" (default behaviour) rather than a value to check.
_OPTIONAL = {"num_iterations", "num_epochs", "batch_size", "seed", "grad_tol", "n_iter_no_change", "clip_norm",
             "divergence_factor"}

_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "learning_rate": check_learning_rate,
    "num_iterations": lambda v: check_int(v, "num_iterations", low=0, high=INT64_MAX),
    "num_epochs": lambda v: check_int(v, "num_epochs", low=0, high=INT64_MAX),
    "optimizer": get_optimizer,
    "loss": get_loss,
    "huber_delta": lambda v: check_real(v, "huber_delta", low=0.0, low_inclusive=False),
    "schedule": get_schedule,
    "fit_intercept": lambda v: check_bool(v, "fit_intercept"),
    "batch_size": lambda v: check_int(v, "batch_size", low=1),
    "shuffle": lambda v: check_bool(v, "shuffle"),
    "seed": lambda v: check_int(v, "seed", low=0, high=2**64 - 1),
    "grad_tol": lambda v: check_real(v, "grad_tol", low=0.0),
    "loss_tol": lambda v: check_real(v, "loss_tol", low=0.0),
    "n_iter_no_change": lambda v: check_int(v, "n_iter_no_change", low=1, high=INT64_MAX),
    "clip_norm": lambda v: check_real(v, "clip_norm", low=0.0, low_inclusive=False),
    "record_every": lambda v: check_int(v, "record_every", low=1, high=INT64_MAX),
    "divergence_factor": lambda v: check_real(v, "divergence_factor", low=1.0, low_inclusive=False),
    "restore_best": lambda v: check_bool(v, "restore_best"),
}


def draw_seed() -> int:
    """A fresh 64-bit seed from the operating system's entropy."""
    return int.from_bytes(os.urandom(8), "little")


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped.

    Attributes
    ----------
    params : ndarray, shape (2, size)
        Current and previous parameters (W flattened, then b); ``counters[C_CURRENT]`` says which
        row is current.
    opt_state : ndarray, shape (3, size), float64
        Optimizer buffers (momentum, moments, accumulators).
    perm : ndarray, shape (n_samples,)
        The sample order of the current epoch.
    counters : ndarray of int64
        Step, epoch and position counters and the generator state.
    scalars : ndarray of float64
        Best epoch loss and the running sums of the current epoch.
    optimizer : str
        Name of the optimizer class the buffers belong to.
    fit_intercept : bool
    shape : tuple
        (n_outputs, n_features) of W.

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> first = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10)
    >>> more = gdfast.train(first.W, INPUT, TARGET, learning_rate=0.01, num_iterations=5, state=first.state)
    >>> whole = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=15)
    >>> first.state.step, more.state.step, np.array_equal(more.W, whole.W)
    (10, 15, True)
    """

    params: np.ndarray
    opt_state: np.ndarray
    perm: np.ndarray
    counters: np.ndarray
    scalars: np.ndarray
    optimizer: str
    fit_intercept: bool
    shape: tuple[int, int]

    @property
    def step(self) -> int:
        """Updates done since the run began (continued runs included)."""
        return int(self.counters[C_STEP])

    @property
    def epoch(self) -> int:
        """Epochs completed since the run began."""
        return int(self.counters[C_EPOCH])

    def current_params(self) -> np.ndarray:
        row: np.ndarray = self.params[int(self.counters[C_CURRENT])]
        return row

    def split(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(W, b) copies of the current parameters (b is None without an intercept)."""
        m, n = self.shape
        theta = self.current_params()
        W = theta[: m * n].reshape(m, n).copy()
        b = theta[m * n:].copy() if self.fit_intercept else None
        return W, b

    def copy(self) -> "TrainState":
        # np.array: a fresh C-contiguous array even if an attribute was replaced by something else.
        return replace(
            self, params=np.array(self.params, order="C"), opt_state=np.array(self.opt_state, order="C"),
            perm=np.array(self.perm, order="C"),
            counters=np.array(self.counters, order="C"), scalars=np.array(self.scalars, order="C"),
        )

    @classmethod
    def new(cls, W: np.ndarray, b: Any, n_samples: int, options: TrainOptions, seed: int) -> "TrainState":
        m, n = W.shape
        size = m * n + (m if options.fit_intercept else 0)
        params = np.empty((param_rows(options), size), dtype=W.dtype)
        params[:, : m * n] = W.reshape(-1)
        if options.fit_intercept:
            params[:, m * n:] = 0.0 if b is None else b
        opt_state = np.zeros((3, size), dtype=np.float64)
        opt_state[0] = cast(Optimizer, options.optimizer)._initial_state_value()
        counters = np.zeros(N_COUNTERS, dtype=np.int64)
        counters[C_RNG] = np.array(seed, dtype=np.uint64).view(np.int64)
        counters[C_BEST_STEP] = -1
        scalars = np.zeros(N_SCALARS, dtype=np.float64)
        scalars[S_BEST_LOSS] = np.inf
        scalars[S_FIRST_LOSS] = np.nan  # no epoch has ended yet
        scalars[S_LAST_GRAD_NORM] = np.nan  # no gradient norm computed yet
        scalars[S_MU_PRODUCT] = 1.0  # NAdam's product of mu_1 ... mu_t, the empty product at t = 0
        return cls(
            params=params, opt_state=opt_state, perm=np.arange(n_samples, dtype=np.intp),
            counters=counters, scalars=scalars, optimizer=type(options.optimizer).__name__,
            fit_intercept=options.fit_intercept, shape=(m, n),
        )

    def check_compatible(self, W: np.ndarray, n_samples: int, options: TrainOptions, n_steps: int = 0) -> None:
        """Refuse to continue a state with a different problem or optimizer, or a corrupt one.

        ``n_steps`` is the number of updates the call will add (the step counter must not overflow).
        """
        if not isinstance(self, TrainState):
            raise TypeError(f"state must be a TrainState (result.state); got {type(self).__name__}")
        if self.shape != W.shape or self.params.dtype != W.dtype:
            raise ValueError(
                f"state belongs to W of shape {self.shape} and dtype {self.params.dtype}; "
                f"got W of shape {W.shape} and dtype {W.dtype}"
            )
        if self.perm.shape[0] != n_samples:
            raise ValueError(f"state was trained on {self.perm.shape[0]} samples; got {n_samples}")
        if self.optimizer != type(options.optimizer).__name__ or self.fit_intercept != options.fit_intercept:
            raise ValueError(
                f"state was made with optimizer {self.optimizer} and fit_intercept={self.fit_intercept}; "
                "continue it with the same ones"
            )
        m, n = self.shape
        size = m * n + (m if self.fit_intercept else 0)
        rows = param_rows(options)
        if isinstance(self.params, np.ndarray) and self.params.ndim == 2 and self.params.shape[0] != rows:
            raise ValueError(
                f"state was made with restore_best={self.params.shape[0] == 3}; continue it with the same"
            )
        # The kernel trusts these arrays blindly (no bounds checks): a tampered state must not reach it.
        layout = (
            ("params", self.params, W.dtype, (rows, size)),
            ("opt_state", self.opt_state, np.float64, (3, size)),
            ("perm", self.perm, np.intp, (n_samples,)),
            ("counters", self.counters, np.int64, (N_COUNTERS,)),
            ("scalars", self.scalars, np.float64, (N_SCALARS,)),
        )
        for name, arr, dtype, shape in layout:
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                raise ValueError(
                    f"state.{name} must be an array of dtype {np.dtype(dtype)} and shape {shape}; "
                    f"got {type(arr).__name__} {getattr(arr, 'dtype', '')} {getattr(arr, 'shape', '')}"
                )
        c, s = self.counters, self.scalars
        if c[C_STATUS] == DIVERGED:
            raise ValueError(
                "state belongs to a run that diverged and cannot be continued: start again from result.W "
                "without state=, with a smaller learning_rate"
            )
        if (self.perm.min() < 0 or self.perm.max() >= n_samples or c[C_CURRENT] not in (0, 1)
                or not 0 <= c[C_POSITION] < n_samples or c[C_STEP] < 0 or c[C_EPOCH] < 0
                or not -1 <= c[C_BEST_STEP] <= c[C_STEP] or c[C_NO_IMPROVEMENT] < 0):
            raise ValueError("state is corrupt (its counters or permutation are out of range)")
        if c[C_STEP] > INT64_MAX - n_steps or c[C_EPOCH] > INT64_MAX - n_steps:
            raise ValueError(
                f"state has done {c[C_STEP]} updates: {n_steps} more would overflow the step counter "
                "(2**63 - 1); start a new run"
            )
        if not np.isfinite(self.params).all():
            raise ValueError("state is corrupt: state.params holds NaN or infinity")
        opt = self.opt_state
        if not np.isfinite(opt).all():
            raise ValueError("state is corrupt: state.opt_state (the optimizer's buffers) holds NaN or infinity")
        negative = [r for r in cast(Optimizer, options.optimizer)._nonnegative_state_rows if (opt[r] < 0).any()]
        if negative:
            raise ValueError(
                f"state is corrupt: row(s) {negative} of state.opt_state hold sums of squares and must be >= 0"
            )
        if (np.isnan(s[S_BEST_LOSS]) or s[S_BEST_LOSS] < 0 or not np.isfinite(s[[S_EPOCH_LOSS_SUM,
                                                                                   S_EPOCH_SAMPLES]]).all()
                or s[S_EPOCH_LOSS_SUM] < 0 or s[S_EPOCH_SAMPLES] < 0 or s[S_FIRST_LOSS] < 0):
            raise ValueError(
                "state is corrupt: its best loss must be a number >= 0 (inf before the first epoch), its "
                "epoch sums finite and >= 0"
            )
        if not 0.0 <= s[S_MU_PRODUCT] <= 1.0:  # a product of NAdam's mu_t in [0, beta1) (1.0 at first)
            raise ValueError("state is corrupt: its NAdam mu_product must be in [0, 1] (1.0 at the start)")
        if not np.array_equal(self.current_params()[: m * n], W.reshape(-1)):
            raise ValueError("W differs from the state's current weights: pass result.W with result.state")


def initial_bias(b: Any, W: np.ndarray, options: TrainOptions) -> np.ndarray | None:
    """The validated start bias ``b`` (None: zeros) of a run with ``options``, in W's dtype."""
    if b is None:
        return None
    if not options.fit_intercept:
        raise ValueError("b is the start bias of a model with an intercept: pass fit_intercept=True with b")
    bias = as_float("b", as_array("b", b), W.dtype, ndim=(0, 1)).reshape(-1)
    if bias.shape != (W.shape[0],):
        raise ValueError(f"b must have shape ({W.shape[0]},) (n_outputs = W.shape[0]); got {np.shape(b)}")
    return bias


def param_rows(options: TrainOptions) -> int:
    """Rows of a run's ``params``: current and previous iterate, plus the best one with restore_best."""
    return 3 if options.restore_best else 2


def epoch_record_every(record_every: int, steps_per_epoch: int) -> int:
    """Epoch losses are kept every this many epochs: about one per ``record_every`` updates.

    With the default record_every=1 every epoch is kept; a long full-batch run (one epoch per
    update) with record_every=1000 keeps every 1000th epoch, so its memory stays bounded.
    """
    return max(1, record_every // steps_per_epoch)


def history_lengths(num_iterations: int, record_every: int, steps_per_epoch: int) -> tuple[int, int]:
    """Sizes of the loss history buffers for a call of ``num_iterations`` updates."""
    every = epoch_record_every(record_every, steps_per_epoch)
    return (max(1, math.ceil(num_iterations / record_every) + 1),
            num_iterations // steps_per_epoch // every + 2)
