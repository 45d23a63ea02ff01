"""Learning-rate schedules for :func:`gdfast.train`, evaluated inside the compiled loop.

Each schedule gives the learning rate of update ``t`` (0-based, counted over the whole run,
continued runs included) from the base ``learning_rate`` ``lr``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from ._contract import ScheduleCode
from ._validation import as_array, by_name_or_instance, check_int, check_real

__all__ = ["Schedule", "Constant", "ExponentialDecay", "StepDecay", "InverseScaling", "CosineAnnealing",
           "PerUpdate", "get_schedule", "SCHEDULES"]


# The checks of the schedules' settings: each takes (value, name) and returns the value to store.
def _decay_factor(value: Any, name: str) -> float:
    return check_real(value, name, low=0.0, high=1.0, low_inclusive=False)


def _update_count(value: Any, name: str) -> int:
    return check_int(value, name, low=1, high=2**63 - 1)


def _non_negative(value: Any, name: str) -> float:
    return check_real(value, name, low=0.0)


def _update_count_or_none(value: Any, name: str) -> int | None:
    return None if value is None else _update_count(value, name)


class Schedule:
    """Base class of the schedules: ``schedule(lr, t)`` is the learning rate of update ``t``.

    Examples
    --------
    >>> from gdfast.schedules import Schedule, StepDecay
    >>> isinstance(StepDecay(), Schedule)
    True
    """

    _code = ScheduleCode.SCHEDULE_CONSTANT
    #: (field, check) pairs: a new schedule stores ``check(value, field)`` in each field, in this order.
    _checks: ClassVar[tuple[tuple[str, Callable[[Any, str], Any]], ...]] = ()
    #: The kernel's settings: {kernel slot: field}, each passed as a float.
    _slots: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        for field, check in self._checks:
            object.__setattr__(self, field, check(getattr(self, field), field))

    def _kernel_fields(self) -> dict[str, Any]:
        return {slot: float(getattr(self, field)) for slot, field in self._slots.items()}

    def resolved(self, end_step: int) -> "Schedule":
        """This schedule for a call that ends at update ``end_step`` (counted over the whole run):
        itself, except where a setting left to None spans the run (``CosineAnnealing(t_max=None)``)."""
        return self

    def check_length(self, end_step: int) -> None:
        """Raise when the schedule does not define the learning rate of every update < end_step."""

    def __call__(self, lr: float, t: int) -> float:
        """The learning rate of update ``t`` (Python twin of the kernel's formula)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    """``lr_t = lr``.

    Examples
    --------
    >>> from gdfast.schedules import Constant
    >>> Constant()(0.1, 100)
    0.1
    """

    _code = ScheduleCode.SCHEDULE_CONSTANT

    def __call__(self, lr: float, t: int) -> float:
        return lr


@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    """``lr_t = lr * gamma**t`` (torch's ExponentialLR, stepped every update).

    Examples
    --------
    >>> from gdfast.schedules import ExponentialDecay
    >>> ExponentialDecay(gamma=0.5)(1.0, 3)
    0.125
    """

    gamma: float = 0.99
    _code = ScheduleCode.SCHEDULE_EXPONENTIAL
    _checks = (("gamma", _decay_factor),)
    _slots = {"schedule_gamma": "gamma"}

    def __call__(self, lr: float, t: int) -> float:
        return lr * math.pow(self.gamma, float(t))


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr_t = lr * gamma**(t // step_size)`` (torch's StepLR, stepped every update).

    Examples
    --------
    >>> from gdfast.schedules import StepDecay
    >>> StepDecay(step_size=10, gamma=0.1)(1.0, 25)
    0.010000000000000002
    """

    step_size: int = 100
    gamma: float = 0.1
    _code = ScheduleCode.SCHEDULE_STEP
    _checks = (("step_size", _update_count), ("gamma", _decay_factor))
    _slots = {"schedule_gamma": "gamma", "schedule_step_size": "step_size"}

    def __call__(self, lr: float, t: int) -> float:
        return lr * math.pow(self.gamma, math.floor(float(t) / float(self.step_size)))


@dataclass(frozen=True)
class InverseScaling(Schedule):
    """``lr_t = lr / (t + 1)**power_t`` (scikit-learn's ``learning_rate="invscaling"``).

    Examples
    --------
    >>> from gdfast.schedules import InverseScaling
    >>> InverseScaling(power_t=0.5)(1.0, 3)
    0.5
    """

    power_t: float = 0.25
    _code = ScheduleCode.SCHEDULE_INVSCALING
    _checks = (("power_t", _non_negative),)
    _slots = {"schedule_power": "power_t"}

    def __call__(self, lr: float, t: int) -> float:
        try:
            return lr / math.pow(float(t + 1), self.power_t)
        except OverflowError:  # (t + 1)**power_t beyond the doubles: C's pow gives inf, the rate 0
            return 0.0


@dataclass(frozen=True)
class CosineAnnealing(Schedule):
    """``lr_t = eta_min + (lr - eta_min) * (1 + cos(pi * t / t_max)) / 2`` (torch's CosineAnnealingLR
    closed form, stepped every update).

    ``t_max=None`` (the default, and ``schedule="cosine"``) spans the call: ``t_max`` is then the
    number of updates of the run at the end of the call (``num_iterations`` for a new run), so the
    rate falls from ``lr`` to ``eta_min`` over the whole run. A run continued with ``state=``
    resolves it again for the longer run: give ``t_max`` to keep one curve across calls.

    Examples
    --------
    >>> from gdfast.schedules import CosineAnnealing
    >>> CosineAnnealing(t_max=10)(1.0, 10)
    0.0
    """

    t_max: int | None = None
    eta_min: float = 0.0
    _code = ScheduleCode.SCHEDULE_COSINE
    _checks = (("t_max", _update_count_or_none), ("eta_min", _non_negative))

    def resolved(self, end_step: int) -> "Schedule":
        return self if self.t_max is not None else CosineAnnealing(t_max=max(1, end_step), eta_min=self.eta_min)

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(schedule_t_max=float(self._t_max()), schedule_eta_min=self.eta_min)

    def _t_max(self) -> int:
        if self.t_max is None:
            raise ValueError("CosineAnnealing(t_max=None) spans a run: resolve it with .resolved(end_step)")
        return self.t_max

    def __call__(self, lr: float, t: int) -> float:
        return self.eta_min + (lr - self.eta_min) * ((1.0 + math.cos(math.pi * float(t) / float(self._t_max()))) / 2.0)


@dataclass(frozen=True, eq=False)
class PerUpdate(Schedule):
    """``lr_t = rates[t]``: any schedule, computed in advance, one learning rate per update.

    Warm-up, one-cycle, step lists, torch's ``LambdaLR``: compute the rates with NumPy and the kernel
    reads them (``learning_rate`` is then not used). ``t`` counts over the whole run, continued runs
    included; a call whose updates go past the end of ``rates`` is refused (no silent repeat).
    ``schedule=`` also takes the 1-D array itself. The rates are copied (float64, finite, >= 0).

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> warmup = np.minimum(1.0, (np.arange(100) + 1) / 10) * 0.02   # linear warm-up over 10 updates
    >>> r = gdfast.train(W1, INPUT, TARGET, schedule=warmup, num_iterations=100)
    >>> r.loss < 1e-3
    True
    """

    rates: Any
    _code = ScheduleCode.SCHEDULE_TABLE

    def __post_init__(self) -> None:
        rates = np.array(as_array("schedule", self.rates), dtype=np.float64)  # a private copy
        if rates.ndim != 1 or rates.size == 0:
            raise ValueError(f"schedule as per-update learning rates must be a non-empty 1-D array; got shape "
                             f"{rates.shape}")
        if not np.isfinite(rates).all() or (rates < 0).any():
            raise ValueError("schedule: per-update learning rates must be finite and >= 0")
        rates.flags.writeable = False
        object.__setattr__(self, "rates", rates)

    def check_length(self, end_step: int) -> None:
        if end_step > self.rates.size:
            raise ValueError(
                f"schedule holds {self.rates.size} learning rates but this call runs updates up to t = "
                f"{end_step - 1}: give at least {end_step} rates, or fewer iterations"
            )

    def _kernel_fields(self) -> dict[str, Any]:
        # The kernel reads the rates through their address; this object keeps them alive.
        return dict(schedule_table=int(self.rates.ctypes.data))

    def __call__(self, lr: float, t: int) -> float:
        return float(self.rates[t])

    def __repr__(self) -> str:
        return f"PerUpdate(<{self.rates.size} rates from {self.rates[0]:.4g} to {self.rates[-1]:.4g}>)"


#: The schedules that ``schedule=`` accepts by name: name -> class (instantiated with its defaults).
SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "exponential": ExponentialDecay,
    "step": StepDecay,
    "invscaling": InverseScaling,
    "cosine": CosineAnnealing,
}


def get_schedule(schedule: Schedule | str | None) -> Schedule:
    """A :class:`Schedule` from an instance, a name, or None (constant).

    Examples
    --------
    >>> from gdfast.schedules import get_schedule
    >>> get_schedule("exponential")(1.0, 2) == 0.99 ** 2
    True
    >>> get_schedule(None)
    Constant()
    """
    found = by_name_or_instance(schedule, "schedule", Schedule, SCHEDULES, default=Constant)
    if found is not None:
        return found
    if hasattr(schedule, "__array__") or isinstance(schedule, (list, tuple)):
        return PerUpdate(schedule)
    raise TypeError(
        "schedule must be a name, a gdfast.schedules object or a 1-D array of per-update learning rates; "
        f"got {type(schedule).__name__}"
    )
