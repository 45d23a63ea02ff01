"""The run engine: options, state and the driver of a set of runs, for ``train``, ``sweep`` and Dask.

A run's complete state (parameters, optimizer buffers, sample permutation, and its record: step and
epoch counters, random generator, running losses) lives in NumPy arrays, so the compiled loop can be
stopped and continued anywhere with bit-identical results. :class:`RunSet` stacks the arrays of K >=
1 runs that share the data and advances them with the one kernel entry point
(``_train.advance_runs``): ``train`` is a set of one, ``sweep`` a set of K, a Dask task a slice of a
sweep's runs. :class:`TrainState` is one run's arrays (for ``train``, views of its set of one).
"""
from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from . import _train
from ._contract import RECORD_DTYPE, AccumulateCode, LossCode, OptimizerCode, ReductionCode, ScheduleCode, Status
from ._sparse import CSRData, is_sparse, prepare_sparse_samples
from ._validation import (
    as_array, as_float, check_bool, check_int, check_learning_rate, check_real, prepare_sample_weight, prepare_samples,
    shape_of,
)
from .optimizers import SGD, Optimizer, get_optimizer
from .schedules import Schedule, get_schedule

# Codes of the compiled loop (declared once, in src/gdfast/_contract.pxd, as are the C_*/S_* slots).
LOSSES = {
    "mse": LossCode.LOSS_MSE, "mae": LossCode.LOSS_MAE, "huber": LossCode.LOSS_HUBER,
    "epsilon_insensitive": LossCode.LOSS_EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": LossCode.LOSS_SQUARED_EPSILON_INSENSITIVE,
    "log_loss": LossCode.LOSS_LOG, "hinge": LossCode.LOSS_HINGE, "squared_hinge": LossCode.LOSS_SQUARED_HINGE,
    "modified_huber": LossCode.LOSS_MODIFIED_HUBER, "perceptron": LossCode.LOSS_PERCEPTRON,
    "multinomial": LossCode.LOSS_MULTINOMIAL,
}
# Other accepted spellings of loss names (scikit-learn's and torch's): alias -> name in LOSSES.
LOSS_ALIASES = {"squared_error": "mse", "cross_entropy": "multinomial"}
# The binary classification losses, of the margin y * p (the codes LOSS_LOG to LOSS_PERCEPTRON, as the
# kernel's is_margin_loss): their targets Y are class labels, -1/+1 or 0/1.
MARGIN_LOSSES = frozenset(
    name for name, code in LOSSES.items() if LossCode.LOSS_LOG <= code <= LossCode.LOSS_PERCEPTRON
)
# The multi-class loss of a whole row of K >= 2 outputs (the softmax cross-entropy): its targets Y are
# probability rows (n_samples, K), or class indices 0..K-1 that ``class_targets`` turns into one-hot rows.
MULTINOMIAL = "multinomial"
# The classification losses (GDRegressor refuses them).
CLASSIFICATION_LOSSES = MARGIN_LOSSES | {MULTINOMIAL}
# The losses with a width (``epsilon``, alias ``huber_delta``), and its default for each: torch's
# HuberLoss delta, scikit-learn's epsilon of the insensitive losses.
WIDTH_DEFAULTS = {"huber": 1.0, "epsilon_insensitive": 0.1, "squared_epsilon_insensitive": 0.1}
# What the large full batches of float32 data sum in (``accumulate=`` of gdfast.train).
ACCUMULATE = {"float64": AccumulateCode.ACCUMULATE_FLOAT64, "float32": AccumulateCode.ACCUMULATE_FLOAT32}
# ``reduction=`` of gdfast.train: how a batch's weighted losses make the objective (src/gdfast/_contract.pxd).
REDUCTIONS = {"mean": ReductionCode.REDUCTION_MEAN, "sample_mean": ReductionCode.REDUCTION_SAMPLE_MEAN}

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
# Seeds of the generator (the record's uint64 ``rng``).
SEED_MAX = 2**64 - 1


def get_accumulate(accumulate: Any) -> str:
    """A validated ``accumulate`` name (which data it goes with is checked by ``check_accumulate``)."""
    if not isinstance(accumulate, str):
        raise TypeError(f"accumulate must be 'float64' (the default) or 'float32'; got {type(accumulate).__name__}")
    name = accumulate.lower()
    if name not in ACCUMULATE:
        raise ValueError(f"unknown accumulate {accumulate!r}; valid: 'float64' (the default: sums in double) "
                         "or 'float32' (float32 data only: BLAS sums in float32)")
    return name


def get_loss(loss: Any) -> str:
    """A validated loss name (an alias such as ``"squared_error"`` gives its name in LOSSES)."""
    valid = f"{', '.join(LOSSES)} (or {', '.join(f'{a} for {n}' for a, n in LOSS_ALIASES.items())})"
    if not isinstance(loss, str):
        raise TypeError(f"loss must be one of {valid}; got {type(loss).__name__}")
    name = loss.lower()
    name = LOSS_ALIASES.get(name, name)
    if name not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid names: {valid}")
    return name


def class_targets(loss: str, W: Any, Y: Any) -> Any:
    """``Y`` as probability rows for ``loss="multinomial"``: class indices (shape (n_samples,) or
    (n_samples, 1), integers 0..K-1 with K = W.shape[0]) become one-hot rows (n_samples, K) of
    float32 (exact, and promoted to the dtype of W and X); anything else is returned as it is (and
    checked by ``check_targets`` once converted). Other losses: ``Y`` unchanged."""
    if loss != MULTINOMIAL:
        return Y
    shape = shape_of(W)
    if shape is None:
        shape = as_array("W", W).shape
    if len(shape) != 2 or shape[0] < 2:
        raise ValueError(
            f"loss='multinomial' needs W of shape (n_classes, n_features) with n_classes >= 2 (one row of "
            f"logits per class); got W of shape {tuple(shape)}"
        )
    n_classes = shape[0]
    y_shape = shape_of(Y)
    if y_shape is not None and not (len(y_shape) == 1 or (len(y_shape) == 2 and y_shape[1] == 1)):
        return Y  # probability rows (n_samples, K): checked by check_targets
    labels = as_array("Y", Y)
    if not (labels.ndim == 1 or (labels.ndim == 2 and labels.shape[1] == 1)):
        return Y
    labels = labels.reshape(-1)
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"Y must hold class indices 0..{n_classes - 1} for loss='multinomial'; got dtype {labels.dtype}")
    valid = np.isfinite(labels) & (labels == np.floor(labels)) if labels.dtype.kind == "f" else np.ones(labels.shape, bool)
    if not valid.all():
        bad = labels[~valid][0]
        raise ValueError(f"Y must hold integer class indices 0..{n_classes - 1} for loss='multinomial' "
                         f"(or probability rows of shape (n_samples, {n_classes})); got the value {bad.item()!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"Y's class indices must be in 0..{n_classes - 1} (n_classes = W.shape[0] = {n_classes}) "
                         f"for loss='multinomial'; got {bad.item()!r}")
    one_hot = np.zeros((labels.size, n_classes), dtype=np.float32)
    one_hot[np.arange(labels.size), labels.astype(np.intp)] = 1.0
    return one_hot


def check_targets(loss: str, Y: np.ndarray) -> None:
    """Refuse targets ``Y`` that are not class labels when ``loss`` is a classification (margin)
    loss: every value -1 or +1, or every value 0 or 1 (0 is the negative class); and, for
    ``loss="multinomial"``, rows that are not probabilities (K >= 2 columns, every value >= 0, each
    row summing to 1 within 1e-6 in float64, 1e-4 in float32: float32 probabilities computed by a
    softmax sum to 1 only within a few units of float32's 1.2e-7 times K)."""
    if loss == MULTINOMIAL:
        if Y.shape[1] < 2:
            raise ValueError(f"Y must have n_classes >= 2 columns for loss='multinomial'; got shape {Y.shape}")
        if (Y < 0).any():
            raise ValueError(f"Y's probability rows must be >= 0 for loss='multinomial'; got the value {float(Y.min())!r} "
                             "(pass class indices 0..K-1 as a 1-D Y, or one-hot / probability rows)")
        sums = Y.sum(axis=1, dtype=np.float64)
        tol = 1e-6 if Y.dtype == np.float64 else 1e-4
        off = np.abs(sums - 1.0) > tol
        if off.any():
            raise ValueError(f"Y's rows must sum to 1 for loss='multinomial' (one-hot or probability rows); row "
                             f"{int(np.argmax(off))} sums to {float(sums[np.argmax(off)])!r} (pass class indices 0..K-1 "
                             "as a 1-D Y for hard labels)")
        return
    if loss not in MARGIN_LOSSES:
        return
    negative, zero = bool((Y == -1).any()), bool((Y == 0).any())
    if not ((Y == 1) | (Y == -1) | (Y == 0)).all() or (negative and zero):
        values = np.unique(Y)
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise ValueError(
            f"Y must hold binary class labels for loss={loss!r}: every value -1 or +1, or every value 0 or 1 "
            f"(0 is the negative class); got the values {shown}"
        )


@dataclass(frozen=True)
class TrainOptions:
    """Validated options of one training run (everything but the data and the start point)."""

    learning_rate: float = 0.01
    num_iterations: int | None = None
    num_epochs: int | None = None
    optimizer: Optimizer | str | None = "sgd"
    loss: str = "mse"
    huber_delta: float | None = None
    epsilon: float | None = None
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
    accumulate: str = "float64"
    penalty: str | None = None
    alpha: float = 0.0001
    l1_ratio: float = 0.15
    reduction: str = "mean"
    average: int = 0

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> "TrainOptions":
        """Validate the options among a train-like function's arguments (``locals()`` at its top):
        every option field and deprecated alias, nothing else (the data, ``state``, ``progress``)."""
        names = set(cls.__dataclass_fields__) | set(RENAMED_OPTIONS)
        return cls.from_kwargs(**{name: value for name, value in arguments.items() if name in names})

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

    def with_learning_rate_and_seed(self, learning_rate: Any, seed: Any) -> "TrainOptions":
        """``self.with_overrides(learning_rate=learning_rate, seed=seed)`` (the same checks and
        errors) in a fraction of the time: no other option's checks depend on these two, so the
        others are taken as they are (a sweep's runs mostly differ in these alone)."""
        learning_rate, seed = self.checked_learning_rate_and_seed(learning_rate, seed)
        options = object.__new__(type(self))
        options.__dict__.update(self.__dict__)
        options.__dict__["learning_rate"] = learning_rate
        options.__dict__["seed"] = seed
        return options

    @staticmethod
    def checked_learning_rate_and_seed(learning_rate: Any, seed: Any) -> tuple[float, int | None]:
        """The options ``learning_rate`` and ``seed`` validated (as ``with_overrides`` does)."""
        if not (type(learning_rate) is float and 0.0 < learning_rate < math.inf):  # else the full check
            learning_rate = _VALIDATORS["learning_rate"](learning_rate)
        if not (seed is None or (type(seed) is int and 0 <= seed <= SEED_MAX)):
            seed = _VALIDATORS["seed"](seed)
        return learning_rate, seed

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
        if validated.huber_delta is not None and validated.epsilon is not None:
            raise TypeError("give epsilon or huber_delta (two names of the loss's width), not both")
        if validated.penalty is not None:
            opt = validated.optimizer
            if not isinstance(opt, SGD) or opt.momentum != 0.0 or opt.weight_decay != 0.0:
                raise ValueError(
                    f"penalty={validated.penalty!r} is applied by plain SGD only (optimizer='sgd', no momentum, "
                    f"no weight_decay); got optimizer={opt!r}"
                )
        if validated.average:
            if not isinstance(validated.optimizer, SGD):
                raise ValueError(
                    f"average={validated.average} (averaged SGD) needs optimizer='sgd' (its running mean "
                    f"takes the buffer row other optimizers use); got optimizer={validated.optimizer!r}"
                )
            if validated.restore_best:
                raise ValueError(
                    f"average={validated.average} returns the mean of the iterates, restore_best=True the best "
                    "iterate: pass restore_best=False with average"
                )
        if validated.loss == "huber" and validated.epsilon == 0.0:
            raise ValueError("epsilon must be > 0 for loss='huber'; got 0.0 (only the insensitive losses take 0)")
        return validated

    @property
    def loss_width(self) -> float:
        """The width of the loss (huber's delta, the insensitive losses' epsilon): ``epsilon`` or
        ``huber_delta`` when given, else the loss's default (WIDTH_DEFAULTS; 1.0 for the others,
        which do not use it)."""
        given = self.epsilon if self.epsilon is not None else self.huber_delta
        return float(given) if given is not None else WIDTH_DEFAULTS.get(self.loss, 1.0)

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
        fields = dict(
            loss=LOSSES[self.loss], epsilon=self.loss_width,
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
            accumulate=ACCUMULATE[self.accumulate],
            l2_penalty=self.alpha * (1.0 - self.resolved_l1_ratio) if self.penalty is not None else 0.0,
            l1_penalty=self.alpha * self.resolved_l1_ratio if self.penalty is not None else 0.0,
            reduction=REDUCTIONS[self.reduction],
            average=self.average,
        )
        fields.update(cast(Optimizer, self.optimizer)._kernel_fields())
        fields.update(schedule._kernel_fields())
        return fields

    @property
    def resolved_l1_ratio(self) -> float:
        """The L1 share of the penalty: 0 for "l2", 1 for "l1", ``l1_ratio`` for "elasticnet"."""
        return {"l2": 0.0, "l1": 1.0}.get(self.penalty or "", self.l1_ratio)

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
             "divergence_factor", "huber_delta", "epsilon", "penalty"}

_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "learning_rate": check_learning_rate,
    "num_iterations": lambda v: check_int(v, "num_iterations", low=0, high=INT64_MAX),
    "num_epochs": lambda v: check_int(v, "num_epochs", low=0, high=INT64_MAX),
    "optimizer": get_optimizer,
    "loss": get_loss,
    "huber_delta": lambda v: check_real(v, "huber_delta", low=0.0, low_inclusive=False),
    "epsilon": lambda v: check_real(v, "epsilon", low=0.0),
    "schedule": get_schedule,
    "fit_intercept": lambda v: check_bool(v, "fit_intercept"),
    "batch_size": lambda v: check_int(v, "batch_size", low=1),
    "shuffle": lambda v: check_bool(v, "shuffle"),
    "seed": lambda v: check_int(v, "seed", low=0, high=SEED_MAX),
    "grad_tol": lambda v: check_real(v, "grad_tol", low=0.0),
    "loss_tol": lambda v: check_real(v, "loss_tol", low=0.0),
    "n_iter_no_change": lambda v: check_int(v, "n_iter_no_change", low=1, high=INT64_MAX),
    "clip_norm": lambda v: check_real(v, "clip_norm", low=0.0, low_inclusive=False),
    "record_every": lambda v: check_int(v, "record_every", low=1, high=INT64_MAX),
    "divergence_factor": lambda v: check_real(v, "divergence_factor", low=1.0, low_inclusive=False),
    "restore_best": lambda v: check_bool(v, "restore_best"),
    "accumulate": get_accumulate,
    "penalty": lambda v: check_penalty(v),
    "alpha": lambda v: check_real(v, "alpha", low=0.0),
    "l1_ratio": lambda v: check_real(v, "l1_ratio", low=0.0, high=1.0),
    "reduction": lambda v: check_reduction(v),
    "average": lambda v: check_average(v),
}

PENALTIES = ("l2", "l1", "elasticnet")


def check_penalty(value: Any) -> str | None:
    """``value`` if it is None or one of PENALTIES; else a ValueError naming ``penalty``."""
    if value is None or (isinstance(value, str) and value in PENALTIES):
        return value
    raise ValueError(f"penalty must be None or one of {', '.join(map(repr, PENALTIES))}; got {value!r}")


def check_reduction(value: Any) -> str:
    """``value`` if it is one of REDUCTIONS; else a ValueError naming ``reduction``."""
    if isinstance(value, str) and value in REDUCTIONS:
        return value
    raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}; got {value!r}")


def check_average(value: Any) -> int:
    """``average`` as the kernel's count: False -> 0 (off), True -> 1 (from the first update), an int
    n >= 0 as is (0: off); else a TypeError or ValueError naming ``average``."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"average must be True, False or an int >= 0 (the update from which to average); got "
            f"{type(value).__name__}"
        )
    return check_int(value, "average", low=0)


def draw_seed() -> int:
    """A fresh 64-bit seed from the operating system's entropy."""
    return draw_seeds(1)[0]


def draw_seeds(n: int) -> list[int]:
    """n fresh 64-bit seeds from the operating system's entropy (one read of 8 n bytes)."""
    seeds: list[int] = np.frombuffer(os.urandom(8 * n), dtype="<u8").tolist()
    return seeds


def new_record(seed: int) -> np.ndarray:
    """The record (a 0-d array of ``RECORD_DTYPE``) of a run that has not started."""
    record = np.zeros((), dtype=RECORD_DTYPE)
    _start_records(record, seed)
    return record


def new_records(seeds: Sequence[int]) -> np.ndarray:
    """The records (shape ``(len(seeds),)``) of runs that have not started, run r's with seed ``seeds[r]``:
    ``np.stack([new_record(seed) for seed in seeds])``, made in one go."""
    records = np.zeros(len(seeds), dtype=RECORD_DTYPE)
    _start_records(records, np.array(seeds, dtype=np.uint64))
    return records


def _start_records(records: np.ndarray, seeds: Any) -> None:
    """Fill fresh (zeroed) ``records`` as runs that have not started, with generator seeds ``seeds``."""
    records["rng"] = seeds
    records["best_step"] = -1  # no best weights kept yet
    records["best_loss"] = np.inf  # no epoch has ended yet
    records["first_loss"] = np.nan
    records["last_grad_norm"] = np.nan  # no gradient norm computed yet
    records["mu_product"] = 1.0  # NAdam's product of mu_1 ... mu_t, the empty product at t = 0


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped.

    Attributes
    ----------
    params : ndarray, shape (2, size), or (3, size) with ``restore_best``
        Current and previous parameters (W flattened, then b), and the best ones;
        ``record["current"]`` says which of rows 0 and 1 is current.
    opt_state : ndarray, shape (3, size), float64
        Optimizer buffers (momentum, moments, accumulators).
    perm : ndarray, shape (n_samples,)
        The sample order of the current epoch.
    record : ndarray, shape (), dtype ``gdfast._contract.RECORD_DTYPE``
        Step and epoch counters, generator state and running losses, by field name (the fields
        of the ``RunRecord`` struct of ``src/gdfast/_contract.pxd``).
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
    record: np.ndarray
    optimizer: str
    fit_intercept: bool
    shape: tuple[int, int]

    @property
    def step(self) -> int:
        """Updates done since the run began (continued runs included)."""
        return int(self.record["step"])

    @property
    def epoch(self) -> int:
        """Epochs completed since the run began."""
        return int(self.record["epoch"])

    def current_params(self) -> np.ndarray:
        row: np.ndarray = self.params[int(self.record["current"])]
        return row

    def averaged_params(self, options: TrainOptions) -> np.ndarray | None:
        """The running mean of the iterates (averaged SGD, opt_state row 2) in the parameters' dtype,
        or None when ``options.average`` is off or no iterate has joined the mean yet."""
        if not options.average or self.record["averaged"] <= 0:
            return None
        mean: np.ndarray = self.opt_state[2].astype(self.params.dtype)
        return mean

    def returned_params(self, options: TrainOptions) -> list[np.ndarray]:
        """The parameters a call with ``options`` may have returned with this state (the current
        iterate, and the averaged one when averaging has begun): what ``W``/``b`` of a continuation
        may be."""
        averaged = self.averaged_params(options)
        return [self.current_params()] + ([] if averaged is None else [averaged])

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
            perm=np.array(self.perm, order="C"), record=np.array(self.record, order="C"),
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
        return cls(
            params=params, opt_state=opt_state, perm=np.arange(n_samples, dtype=np.intp),
            record=new_record(seed), optimizer=type(options.optimizer).__name__,
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
            ("record", self.record, RECORD_DTYPE, ()),
        )
        for name, arr, dtype, shape in layout:
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
                raise ValueError(
                    f"state.{name} must be an array of dtype {np.dtype(dtype)} and shape {shape}; "
                    f"got {type(arr).__name__} {getattr(arr, 'dtype', '')} {getattr(arr, 'shape', '')}"
                )
        r = self.record
        if r["status"] == DIVERGED:
            raise ValueError(
                "state belongs to a run that diverged and cannot be continued: start again from result.W "
                "without state=, with a smaller learning_rate"
            )
        if (self.perm.min() < 0 or self.perm.max() >= n_samples or r["current"] not in (0, 1)
                or not 0 <= r["position"] < n_samples or r["step"] < 0 or r["epoch"] < 0
                or not -1 <= r["best_step"] <= r["step"] or r["no_improvement"] < 0):
            raise ValueError("state is corrupt (its record's counters or its permutation are out of range)")
        if r["step"] > INT64_MAX - n_steps or r["epoch"] > INT64_MAX - n_steps:
            raise ValueError(
                f"state has done {r['step']} updates: {n_steps} more would overflow the step counter "
                "(2**63 - 1); start a new run"
            )
        if not np.isfinite(self.params).all():
            raise ValueError("state is corrupt: state.params holds NaN or infinity")
        if not (np.isfinite(r["l1_total"]) and r["l1_total"] >= 0.0):  # a sum of lr * alpha * l1_ratio terms
            raise ValueError("state is corrupt: its l1_total (the penalty's L1 owed so far) must be finite and >= 0")
        opt = self.opt_state
        if not np.isfinite(opt).all():
            raise ValueError("state is corrupt: state.opt_state (the optimizer's buffers) holds NaN or infinity")
        negative = [row for row in cast(Optimizer, options.optimizer)._nonnegative_state_rows if (opt[row] < 0).any()]
        if negative:
            raise ValueError(
                f"state is corrupt: row(s) {negative} of state.opt_state hold sums of squares and must be >= 0"
            )
        if (np.isnan(r["best_loss"]) or r["best_loss"] < 0
                or not np.isfinite(r["epoch_loss_sum"]) or not np.isfinite(r["epoch_samples"])
                or r["epoch_loss_sum"] < 0 or r["epoch_samples"] < 0 or r["first_loss"] < 0):
            raise ValueError(
                "state is corrupt: its best loss must be a number >= 0 (inf before the first epoch), its "
                "epoch sums finite and >= 0"
            )
        if not 0 <= r["averaged"] <= r["step"]:  # iterates in the running mean: one per update at most
            raise ValueError("state is corrupt: its averaged count must be in [0, step]")
        if not 0.0 <= r["mu_product"] <= 1.0:  # a product of NAdam's mu_t in [0, beta1) (1.0 at first)
            raise ValueError("state is corrupt: its NAdam mu_product must be in [0, 1] (1.0 at the start)")
        if not any(np.array_equal(theta[: m * n], W.reshape(-1)) for theta in self.returned_params(options)):
            raise ValueError("W differs from the state's current weights: pass result.W with result.state")


@dataclass(frozen=True)
class TrainCall:
    """A validated call of ``gdfast.train`` (or its twin): its options, its data as 2-D arrays
    (``vector``: W was 1-D), its number of updates, the state it starts from (a copy when
    ``state=`` was given, never the caller's) and the seed it reports (-1: continued, not drawn)."""

    options: TrainOptions
    W: np.ndarray
    X: np.ndarray | CSRData
    Y: np.ndarray
    sample_weight: np.ndarray | None
    vector: bool
    n_steps: int
    start: TrainState
    seed: int

    @classmethod
    def prepare(cls, arguments: dict[str, Any]) -> "TrainCall":
        """Validate a train call from its arguments (``locals()`` at the top of the function)."""
        options = TrainOptions.from_arguments(arguments)
        check_bool(arguments["progress"], "progress")
        X2: np.ndarray | CSRData
        Y = class_targets(options.loss, arguments["W"], arguments["Y"])
        if is_sparse(arguments["X"]):
            W, X2, Y2_or_none, vector = prepare_sparse_samples(arguments["W"], arguments["X"], Y)
            Y2 = cast(np.ndarray, Y2_or_none)  # (Y was given)
            check_sparse_options(options, X2.shape[0])
        else:
            W, X2, Y2, _, vector = prepare_samples(arguments["W"], arguments["X"], Y)
        check_accumulate(options, W.dtype)
        sw = prepare_sample_weight(arguments["sample_weight"], X2)
        check_targets(options.loss, Y2)
        n_samples = X2.shape[0]
        warn_if_weights_cancel(options, sw, n_samples)
        n_steps = options.resolved_num_iterations(n_samples)
        bias = initial_bias(arguments["b"], W, options)
        state = arguments["state"]
        if state is None:
            seed = options.seed if options.seed is not None else draw_seed()
            start = TrainState.new(W, bias, n_samples, options, seed)
        else:
            if not isinstance(state, TrainState):
                raise TypeError(f"state must be a TrainState (result.state); got {type(state).__name__}")
            start = state.copy()  # checked after copying, so no other thread can change what was checked
            TrainState.check_compatible(start, W, n_samples, options, n_steps)
            if bias is not None and not any(np.array_equal(theta[W.size:], bias)
                                            for theta in start.returned_params(options)):
                raise ValueError("b differs from the state's current bias: pass result.b with result.state")
            seed = options.seed if options.seed is not None else -1
        return cls(options=options, W=W, X=X2, Y=Y2, sample_weight=sw, vector=vector, n_steps=n_steps,
                   start=start, seed=seed)


def check_sparse_options(options: TrainOptions, n_samples: int) -> None:
    """Refuse the options that a run on sparse (CSR) X does not take, naming the option and the way out.

    ``accumulate="float32"`` (its BLAS products need dense X) is refused. The per-sample L1
    penalty on sparse X acts on each sample's stored entries only (scikit-learn's sparse SGD),
    in the per-sample loop that skips the other coordinates: options that need the general loop
    (``grad_tol``, ``clip_norm``, ``restore_best``, a single sample without shuffling) would apply
    it to every weight instead, so they are refused with it.
    """
    if options.accumulate == "float32":
        raise ValueError("accumulate='float32' needs dense X (its products are BLAS calls): leave accumulate at "
                         "'float64' for sparse X, or pass X.toarray()")
    per_sample = options.resolved_batch_size(n_samples) == 1
    if per_sample and options.penalty is not None and options.resolved_l1_ratio * options.alpha > 0.0:
        full_batch = n_samples == 1 and not options.effective_shuffle(n_samples)
        extra = [name for name, on in (("grad_tol", options.grad_tol is not None), ("clip_norm", bool(options.clip_norm)),
                                       ("restore_best", options.restore_best), ("a single sample", full_batch)) if on]
        if extra:
            raise ValueError(
                f"penalty={options.penalty!r} with batch_size=1 on sparse X applies its L1 part to each sample's "
                f"stored entries only, which {', '.join(extra)} cannot do: drop {extra[0]}, or use "
                "penalty='l2', or a larger batch_size")


def warn_if_weights_cancel(options: TrainOptions, sample_weight: np.ndarray | None, n_samples: int) -> None:
    """A UserWarning when ``sample_weight`` cannot change a run's steps: one-sample batches under
    ``reduction="mean"``, whose weighted mean divides each sample's weight out (only a zero weight,
    which skips its sample, still counts). Silent when the positive weights are all equal."""
    if sample_weight is None or options.reduction != "mean" or options.resolved_batch_size(n_samples) != 1:
        return
    positive = sample_weight[sample_weight > 0]
    if positive.size and positive.min() != positive.max():
        warnings.warn(
            "sample_weight cancels out of every step with batch_size=1 and reduction='mean': each one-sample "
            "batch's weighted mean divides its weight out (a zero weight still skips its sample). Pass "
            "reduction='sample_mean' for scikit-learn's meaning, a weight scaling its sample's step.",
            UserWarning, stacklevel=4)


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


def check_accumulate(options: TrainOptions, dtype: np.dtype) -> None:
    """Refuse ``accumulate="float32"`` for data that is not float32: explicit rather than a silent no-op."""
    if options.accumulate == "float32" and dtype != np.float32:
        raise ValueError(
            f"accumulate='float32' needs float32 W, X and Y; got {dtype} (their common float dtype): "
            "convert them with .astype(np.float32), or leave accumulate at 'float64'"
        )


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


def local_threads(n_threads: Any, caller: str) -> int:
    """The threads of a kernel call in this process (``train``'s and a local ``sweep``'s).

    ``n_threads`` validated (an integer >= 1; None: every thread OpenMP offers); 1, with a one-time
    RuntimeWarning, in a process forked after OpenMP ran threads (its thread pool did not survive
    the fork); a RuntimeWarning when this build has no OpenMP. ``caller`` names the function in the
    warnings.
    """
    if n_threads is not None:
        n_threads = check_int(n_threads, "n_threads", low=1)
    if _train.openmp_forked():
        # No OpenMP call here (omp_get_max_threads included): the kernel's serial loop.
        if n_threads != 1 and _train.take_fork_warning():
            warnings.warn(
                f"{caller} runs serially in this process: it was forked (os.fork, or multiprocessing's "
                "'fork' start method) after OpenMP threads ran in its parent, and OpenMP's thread "
                "pool does not survive a fork. To get threads back, start worker processes with "
                "multiprocessing.get_context('spawn') or 'forkserver'.",
                RuntimeWarning, stacklevel=3)
        return 1
    count = check_int(_train.max_threads() if n_threads is None else n_threads, "n_threads", low=1)
    if count > 1 and not _train.have_openmp():
        warnings.warn(f"gdfast was built without OpenMP: {caller} runs serially", RuntimeWarning, stacklevel=3)
    return count


def dataset_losses(kernel_configs: Sequence[dict[str, Any]], X: np.ndarray | CSRData, Y: np.ndarray,
                   sample_weight: np.ndarray | None, fit_intercept: bool, thetas: np.ndarray) -> np.ndarray:
    """The loss of each row of ``thetas`` (W flattened, then b) on all samples, with the loss of the
    run whose config is ``kernel_configs[r]`` (its float32 sums too, ``_train.run_sums_in_float32``),
    in one kernel call."""
    configs = KernelConfigs.of(kernel_configs)
    out = np.empty(len(configs))
    if isinstance(X, CSRData):
        data, indices = X.kernel_arrays()
        _train.csr_dataset_losses(
            configs.per_run(lambda c: c["loss"], np.intc), configs.per_run(lambda c: c["epsilon"], np.float64),
            configs.per_run(lambda c: c["reduction"], np.intc),
            data, indices, X.indptr, X.shape[1], Y, sample_weight, fit_intercept, thetas, np.empty(Y.size), out)
        return out
    n_samples, n_features = X.shape
    float32 = ACCUMULATE["float32"]
    _train.dataset_losses(
        configs.per_run(lambda c: c["loss"], np.intc), configs.per_run(lambda c: c["epsilon"], np.float64),
        configs.per_run(lambda c: c["accumulate"] == float32 and _train.run_sums_in_float32(
            c, n_samples, n_features, Y.shape[1]), np.intc),
        X, Y, sample_weight, fit_intercept, thetas, np.empty(Y.size), out,
        configs.per_run(lambda c: c["reduction"], np.intc))
    return out


def dataset_loss(kernel_config: dict[str, Any], X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None,
                 fit_intercept: bool, theta: np.ndarray) -> float:
    """The loss of parameters ``theta`` (W flattened, then b) on all samples, with the run's loss."""
    return float(dataset_losses([kernel_config], X, Y, sample_weight, fit_intercept, theta.reshape(1, -1))[0])


def same_value(a: object, b: object) -> bool:
    """Equality of result fields: arrays by dtype, shape and values (NaN equals NaN; structured
    records field by field), dataclasses (a TrainState, a DescentState) field by field, NaN floats
    equal; anything else by ``==``. The ``__eq__`` of the results that hold arrays (the dataclass
    default compares arrays with ``==`` and raises "The truth value of an array ... is ambiguous")."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype):
            return False
        if a.dtype.names:  # a structured record: field by field
            return all(same_value(a[name], b[name]) for name in a.dtype.names)
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same_value(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN == NaN here (e.g. grad_norm when no gradient norm was asked for)
    return bool(a == b)


def compact(view: np.ndarray) -> np.ndarray:
    """``view`` of a preallocated buffer itself, or a copy when it holds under half of the buffer (so a
    short run does not keep a large buffer alive, and a long one is not copied)."""
    base = view.base if view.base is not None else view
    return view.copy() if view.size < base.size // 2 else view


def history_sizes(options: TrainOptions, n_samples: int, n_steps: int) -> tuple[int, int]:
    """Lengths of the loss and epoch-loss histories a run of ``n_steps`` updates can fill."""
    hist_len, epoch_len = history_lengths(n_steps, options.record_every, options.steps_per_epoch(n_samples))
    if max(hist_len, epoch_len) > np.iinfo(np.intp).max // 8:
        raise ValueError(
            f"{n_steps} updates need loss histories of {hist_len} and {epoch_len} entries, more than an "
            "array can hold: lower num_iterations / num_epochs, or raise record_every"
        )
    return hist_len, epoch_len


# A run set advanced in pieces (``RunSet.run`` with ``between_calls``): each kernel call should last
# about CALL_SECONDS; the first one does about CALL_WORK multiply-adds per thread (0.02-0.3 s on the
# problems measured), later ones are sized from the time the previous one took.
CALL_SECONDS = 0.2
CALL_WORK = 2**26
# What an update costs besides its multiply-adds (loop and bookkeeping), in multiply-adds.
UPDATE_OVERHEAD = 64
CACHE_LINE = 64
# Runs advanced in lockstep by one thread, at most (their parameters, gradients and residuals stay
# in the L1/L2 caches for the small problems where lockstep pays).
LOCKSTEP_LANES = 64
# The record fields that runs advanced in lockstep share.
LOCKSTEP_SHARED = ("step", "epoch", "position", "history_origin", "epoch_origin", "recorded", "epochs_recorded")


def is_full_batch(kernel_config: dict[str, Any], n_samples: int) -> bool:
    """Whether a run of this config takes every sample in order at every update (a full batch: its
    epochs are its updates), as the kernel's ``batch_size >= n_samples and not shuffle``."""
    return bool(kernel_config["batch_size"] >= n_samples and not kernel_config["shuffle"])


def identity_index(items: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """The distinct objects of ``items`` (by identity, in first-seen order) and each item's position
    among them (intp): ``items[i] is distinct[index[i]]``. A sweep's runs share a few option and
    config objects; what is worked out from them is then worked out once per object. (The loops over
    the items run in C: ``map``, ``dict``, ``zip``.)"""
    ids = list(map(id, items))
    position = {key: i for i, key in enumerate(dict.fromkeys(ids))}
    distinct = list(dict(zip(ids, items)).values())
    return distinct, np.fromiter(map(position.__getitem__, ids), dtype=np.intp, count=len(ids))


class KernelConfigs(Sequence[dict[str, Any]]):
    """The kernel configs of a set of runs: run r's is ``{**shared[r], "learning_rate":
    learning_rates[r]}`` (a new dict at each ``[r]``).

    Runs whose configs differ in the learning rate alone (a sweep's mostly do) share one dict in
    ``shared`` (the same object; its own ``learning_rate`` is not theirs), so a set of many runs
    holds a few dicts, and the kernels convert each once (``_train.advance_runs`` takes ``shared``
    and ``learning_rates=``). :meth:`per_run` evaluates what does not depend on the learning rate
    once per shared dict.
    """

    __slots__ = ("shared", "learning_rates", "_index")

    def __init__(self, shared: list[dict[str, Any]], learning_rates: np.ndarray) -> None:
        if len(shared) != learning_rates.shape[0]:
            raise ValueError("KernelConfigs: one learning rate per config")
        self.shared = shared
        self.learning_rates = learning_rates  # float64, C-contiguous (the kernel's)
        self._index: tuple[list[dict[str, Any]], np.ndarray] | None = None

    @classmethod
    def of(cls, configs: Sequence[dict[str, Any]]) -> "KernelConfigs":
        """``configs`` as they are when already KernelConfigs, else full dicts, each run its own."""
        if isinstance(configs, KernelConfigs):
            return configs
        shared = list(configs)
        return cls(shared, np.array([c["learning_rate"] for c in shared], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.shared)

    def __getitem__(self, r: Any) -> Any:
        if isinstance(r, slice):
            return [self[i] for i in range(*r.indices(len(self)))]
        return {**self.shared[r], "learning_rate": float(self.learning_rates[r])}

    def per_run(self, value: Callable[[dict[str, Any]], Any], dtype: npt.DTypeLike) -> np.ndarray:
        """``np.array([value(self[r]) for r ...], dtype)`` for a ``value`` that does not read the
        learning rate: evaluated once per distinct dict of ``shared`` (by identity), not once per run."""
        if self._index is None:
            self._index = identity_index(self.shared)
        distinct, index = self._index
        values: np.ndarray = np.array([value(c) for c in distinct], dtype=dtype)[index]
        return values


@dataclass
class RunSet:
    """K >= 1 runs on the same data, their arrays stacked along a leading run axis.

    ``records[r]``, ``params[r]``, ``opt_state[r]``, ``perm[r, :n_samples]`` and the history rows
    are run r's; ``kernel_configs[r]`` its kernel config (:class:`KernelConfigs`). ``advance``/``run``
    move every run forward with one kernel call (``_train.advance_runs``) per step of the driver; ``state(r)`` is run r's
    :class:`TrainState`. Made by :meth:`of` from the runs' start states (:meth:`of_shared`: from a few).
    """

    kernel_configs: KernelConfigs
    records: np.ndarray
    params: np.ndarray
    opt_state: np.ndarray
    perm: np.ndarray
    history: np.ndarray
    epoch_history: np.ndarray
    optimizers: list[str]
    fit_intercept: bool
    shape: tuple[int, int]
    n_samples: int

    @classmethod
    def of(cls, starts: Sequence[TrainState], kernel_configs: Sequence[dict[str, Any]],
           history_lengths: Sequence[tuple[int, int]], n_samples: int) -> "RunSet":
        """A set of the runs that start at ``starts`` (copied), histories of the given lengths.

        Each record's history origins are set to its current step and epoch (its histories start
        now). With several runs, which threads advance side by side, every run's rows start on a
        cache line of their own (no false sharing). A full batch's epochs are its updates: when
        every run is a full batch, epoch losses share the loss history (the kernel writes the same
        value at the same index) and cost no memory of their own.
        """
        # (contiguous: the kernel takes RunRecord[::1]; filled row by row: np.stack promotes a
        # structured dtype field by field, 30 us a run)
        records = np.empty(len(starts), dtype=starts[0].record.dtype)
        for i, s in enumerate(starts):
            records[i] = s.record
        return cls.of_shared(starts, range(len(starts)), records, kernel_configs, history_lengths, n_samples)

    @classmethod
    def of_shared(cls, starts: Sequence[TrainState], start_of: Sequence[int], records: np.ndarray,
                  kernel_configs: Sequence[dict[str, Any]], history_lengths: Sequence[tuple[int, int]],
                  n_samples: int) -> "RunSet":
        """:meth:`of` for K runs from a few start points (a sweep's): run r starts at the params,
        opt_state and perm of ``starts[start_of[r]]`` (copied; the starts' records are not used)
        with the record ``records[r]`` (taken as it is, its history origins set as in :meth:`of`).
        Each start's arrays are copied into the runs' rows in one operation.
        """
        k = len(start_of)
        rows = max(starts[i].params.shape[0] for i in set(start_of))  # a best-iterate row for all when any keeps one
        aligned = k > 1
        records["history_origin"] = records["step"]
        records["epoch_origin"] = records["epoch"]
        records["recorded"] = records["epochs_recorded"] = 0
        records["status"] = RUNNING
        configs = KernelConfigs.of(kernel_configs)
        full_batch = bool(configs.per_run(lambda c: is_full_batch(c, n_samples), bool).all())
        history = np.full((k, max(h for h, _ in history_lengths)), np.nan)
        return cls(
            kernel_configs=configs, records=records,
            params=_stack([s.params if s.params.shape[0] == rows else np.resize(s.params, (rows, s.params.shape[1]))
                           for s in starts], starts[0].params.dtype, aligned, index=start_of),
            opt_state=_stack([s.opt_state for s in starts], np.float64, aligned, index=start_of),
            perm=_stack([s.perm for s in starts], np.intp, aligned, pad_rows=True, index=start_of),
            history=history,
            epoch_history=history if full_batch else np.full((k, max(e for _, e in history_lengths)), np.nan),
            optimizers=[starts[i].optimizer for i in start_of], fit_intercept=starts[start_of[0]].fit_intercept,
            shape=starts[start_of[0]].shape, n_samples=n_samples,
        )

    def state(self, r: int, rows: int, copy: bool) -> TrainState:
        """Run r's TrainState (its first ``rows`` params rows): views of the set's arrays, or copies."""
        arrays = [self.params[r, :rows], self.opt_state[r], self.perm[r, : self.n_samples],
                  self.records[r: r + 1].reshape(())]
        if copy:
            arrays = [a.copy() for a in arrays]
        return TrainState(params=arrays[0], opt_state=arrays[1], perm=arrays[2], record=arrays[3],
                          optimizer=self.optimizers[r], fit_intercept=self.fit_intercept, shape=self.shape)

    def states(self, runs: Sequence[int], rows: int) -> list[TrainState]:
        """``[self.state(r, rows, copy=False) for r in runs]``, the views made in bulk."""
        params, perm = self.params[:, :rows], self.perm[:, : self.n_samples]
        opt_state, records, optimizers, fit_intercept, shape = (
            self.opt_state, self.records, self.optimizers, self.fit_intercept, self.shape)
        return [TrainState(params[r], opt_state[r], perm[r], records[r, ...], optimizers[r], fit_intercept, shape)
                for r in runs]

    def advance(self, X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None, n_steps: np.ndarray,
                n_threads: int = 1, X_double: np.ndarray | None = None) -> None:
        """One kernel call: run r advances by up to ``n_steps[r]`` updates (runs that can, in lockstep)."""
        n_steps = np.ascontiguousarray(n_steps, dtype=np.int64)
        if isinstance(X, CSRData):  # every run alone (no lockstep), runs side by side on n_threads threads
            data, indices = X.kernel_arrays()
            _train.advance_runs(self.kernel_configs.shared, data.reshape(1, -1), Y, sample_weight, self.fit_intercept,
                                self.records, self.params, self.opt_state, self.perm, self.history,
                                self.epoch_history, n_steps, n_threads if len(self.kernel_configs) > 1 else 1,
                                csr_indices=indices, csr_indptr=X.indptr, csr_n_features=X.shape[1],
                                learning_rates=self.kernel_configs.learning_rates)
            return
        order, task_sizes = self.lockstep_tasks(X, Y, sample_weight, n_steps, n_threads)
        _train.advance_runs(self.kernel_configs.shared, X, Y, sample_weight, self.fit_intercept, self.records,
                            self.params, self.opt_state, self.perm, self.history, self.epoch_history, n_steps, n_threads,
                            X_double, order, task_sizes, learning_rates=self.kernel_configs.learning_rates)

    def lockstep_tasks(self, X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None, n_steps: np.ndarray,
                       n_threads: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The runs as kernel tasks: (order, task sizes), runs that can go in lockstep grouped.

        Runs go in lockstep when they are plain SGD on the unweighted MSE without BLAS (dgemm, or
        sums in float32) or blocked batches (the kernel's plain path), with the same config but the learning rate, the same number of updates to do,
        the same shared record fields (``LOCKSTEP_SHARED``) and, with mini-batches, the same sample
        order (and generator, when they shuffle). A group is cut into about one task per thread of
        at most ``LOCKSTEP_LANES`` runs; the groups come in the order of their first runs, each
        run's in increasing order, then the runs that go alone. (None, None): every run alone.

        What depends on a run's config is worked out once per config (``KernelConfigs.per_run``),
        the grouping of the runs with NumPy (a sweep's thousands of runs are one or a few groups).
        """
        n_samples, n_features = X.shape
        configs = self.kernel_configs
        steps = np.asarray(n_steps, dtype=np.int64)
        numbers: dict[tuple[Any, ...], int] = {}  # a number per config less the learning rate

        def number(c: dict[str, Any]) -> int:
            return numbers.setdefault(tuple({**c, "learning_rate": None}.items()), len(numbers))

        def plain_path(c: dict[str, Any]) -> bool:
            return bool(
                sample_weight is None and c["loss"] == LossCode.LOSS_MSE
                and c["optimizer"] == OptimizerCode.OPT_SGD and c["momentum"] == 0.0
                and c["weight_decay"] == 0.0 and c["schedule"] == ScheduleCode.SCHEDULE_CONSTANT
                and c["grad_tol"] < 0.0 and c["clip_norm"] <= 0.0 and c["n_iter_no_change"] <= 0
                and not c["restore_best"] and c["l2_penalty"] == 0.0 and c["l1_penalty"] == 0.0
                and c["reduction"] == ReductionCode.REDUCTION_MEAN
                and c["average"] == 0
                and not (is_full_batch(c, n_samples) and _train.run_uses_blas(c, n_samples, n_features, Y.shape[1]))
                and not _train.run_uses_blocks(c, n_samples, Y.shape[1]))

        lockstep = configs.per_run(plain_path, bool) & (steps > 0)
        candidates = np.flatnonzero(lockstep)
        if candidates.size < 2:
            return None, None
        full_batch = configs.per_run(lambda c: is_full_batch(c, n_samples), bool)[candidates]
        shuffled = configs.per_run(lambda c: bool(c["shuffle"]), bool)[candidates] & ~full_batch
        records = self.records[candidates]
        # One row of integers per candidate run: runs with equal rows go in lockstep.
        columns = [configs.per_run(number, np.int64)[candidates], steps[candidates]]
        columns += [records[f] for f in LOCKSTEP_SHARED]
        orders = np.full(candidates.size, -1, dtype=np.int64)  # the sample order's number (-1: a full batch's, none)
        if not full_batch.all():
            mini = np.flatnonzero(~full_batch)
            perms = self.perm[candidates[mini], : self.n_samples]
            if (perms == perms[0]).all():
                orders[mini] = 0
            else:
                seen: dict[bytes, int] = {}
                orders[mini] = [seen.setdefault(row.tobytes(), len(seen)) for row in perms]
        columns += [orders, shuffled, np.where(shuffled, records["rng"], 0).view(np.int64)]
        keys = np.column_stack(columns)
        if (keys == keys[0]).all():
            group = np.zeros(candidates.size, dtype=np.intp)
        else:
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            rank = np.empty(first.size, dtype=np.intp)
            rank[np.argsort(first)] = np.arange(first.size)  # groups numbered in the order of their first runs
            group = rank[inverse.reshape(-1)]
        sizes_of_groups = np.bincount(group)
        if sizes_of_groups.max() < 2:
            return None, None
        grouped = candidates[np.argsort(group, kind="stable")]
        order, sizes = [grouped], []
        for size in sizes_of_groups.tolist():
            per_task = max(1, min(LOCKSTEP_LANES, -(-size // max(1, n_threads))))
            sizes += [per_task] * (size // per_task) + ([size % per_task] if size % per_task else [])
        alone = np.flatnonzero(~lockstep)
        order.append(alone)
        sizes += [1] * alone.size
        return np.concatenate(order).astype(np.intp), np.array(sizes, dtype=np.intp)

    def final_losses(self, X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        """Each run's loss on all samples at the iterate it stands at (its current parameters row),
        in one kernel call."""
        k = len(self.kernel_configs)
        thetas = self.params[np.arange(k), self.records["current"]]  # (k, size): a copy
        return dataset_losses(self.kernel_configs, X, Y, sample_weight, self.fit_intercept, thetas)

    def blocks_per_batch(self, X: np.ndarray | CSRData, Y: np.ndarray) -> int:
        """Blocks of the largest blocked batch of the set's runs (``_train.run_uses_blocks``), or 0."""
        n_samples = X.shape[0]
        return max((-(-min(int(c["batch_size"]), n_samples) // _train.block_rows())
                    for c in self.kernel_configs.shared if _train.run_uses_blocks(c, n_samples, Y.shape[1])), default=0)

    def run(self, X: np.ndarray | CSRData, Y: np.ndarray, sample_weight: np.ndarray | None, n_steps: Sequence[int],
            n_threads: int = 1, *, between_calls: Callable[[], None] | None = None,
            updates_per_call: int | None = None) -> None:
        """Advance run r by ``n_steps[r]`` updates (or until it stops): one kernel call, or, with
        ``between_calls``, several, each advancing every unfinished run by at most
        ``updates_per_call`` updates (default: adjusted after each call so that a call lasts about
        ``CALL_SECONDS``), with ``between_calls()`` called before each further call (it may raise to
        abandon the set). A run's whole state lives in the arrays, so a run continued in pieces
        gives the same bits as one call, wherever the pieces end. ``n_threads``: threads over the
        runs, or, for a set of one run, over the blocks of its blocked batches (the same bits for
        any thread count).
        """
        left = np.array(n_steps, dtype=np.int64)
        if _train.openmp_forked():
            n_threads = 1  # OpenMP's thread pool did not survive the fork: the kernel's serial loop
        # at most one thread per run, or for a set of one run, per block of its batches (none without)
        n_runs = len(self.kernel_configs)
        n_threads = max(1, min(n_threads, n_runs if n_runs > 1 else self.blocks_per_batch(X, Y)))
        if between_calls is None:
            self.advance(X, Y, sample_weight, left, n_threads)
            return
        n_samples, n_features = X.shape
        # float32 data on the dgemm path is converted to float64 by the kernel: once here, not per call.
        X_double = (X.astype(np.float64) if isinstance(X, np.ndarray) and X.dtype == np.float32 and any(
            _train.run_uses_dgemm(c, n_samples, n_features, Y.shape[1]) for c in self.kernel_configs.shared) else None)
        adapt = updates_per_call is None
        per_update = sum(min(int(c["batch_size"]), n_samples) * n_features * Y.shape[1] * 2 + UPDATE_OVERHEAD
                         for c in self.kernel_configs.shared)
        per_call = updates_per_call or max(1, CALL_WORK * n_threads // per_update)
        while True:
            todo = np.minimum(left, per_call)
            start = time.perf_counter()
            self.advance(X, Y, sample_weight, todo, n_threads, X_double)
            elapsed = time.perf_counter() - start
            if adapt:  # towards CALL_SECONDS a call, by at most a factor of 4 at a time
                per_call = max(1, int(per_call * min(4.0, max(0.25, CALL_SECONDS / max(elapsed, 1e-6)))))
            left -= todo
            left[self.records["status"] != RUNNING] = 0  # converged, stopped early or diverged: done
            if not left.any():
                return
            between_calls()


def _stack(arrays: Sequence[np.ndarray], dtype: npt.DTypeLike, aligned: bool, pad_rows: bool = False,
           index: Sequence[int] | None = None) -> np.ndarray:
    """np.stack([arrays[i] for i in index]) (default: np.stack(arrays)) as a new C-contiguous array of ``dtype``.

    ``aligned``: its data starts on a cache line. ``pad_rows`` (1-D arrays): every row is padded
    with zeros to whole cache lines, so each starts on one (shape (K, padded width); the kernel
    reads the first ``arrays[index[r]].size`` entries of row r): rows that threads write side by
    side in place then never share a cache line. Each array is copied into all its rows at once.
    """
    dtype = np.dtype(dtype)
    if index is None:
        index = range(len(arrays))
    if not aligned:
        return np.stack([arrays[i] for i in index]).astype(dtype, copy=False)
    shape = arrays[index[0]].shape
    if pad_rows:
        per_line = max(1, CACHE_LINE // dtype.itemsize)
        shape = (-(-max(arrays[i].size for i in set(index)) // per_line) * per_line,)
    nbytes = len(index) * int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(nbytes + CACHE_LINE, dtype=np.uint8)
    offset = -buf.ctypes.data % CACHE_LINE
    out = buf[offset: offset + nbytes].view(dtype).reshape((len(index),) + shape)
    which = np.asarray(index)
    distinct = np.unique(which)
    if distinct.size > 8:  # (each row alone rather than a pass over the index per array)
        for r, i in enumerate(which.tolist()):
            out[r, : arrays[i].shape[0]] = arrays[i]
        return out
    for i in distinct.tolist():
        a = arrays[i]
        out[slice(None) if distinct.size == 1 else which == i, : a.shape[0]] = a
    return out
