"""Optimizers for :func:`gdfast.train`. Each update follows the algorithm torch.optim documents.

The objects only hold validated hyper-parameters; the arithmetic runs inside the compiled training
loop (one step per optimizer in ``src/_optimizers.pxd``) and in plain NumPy in ``gdfast.reference``
(one twin step per optimizer there). The optimizers: :class:`SGD`, :class:`Adam`, :class:`AdamW`,
:class:`RMSprop`, :class:`Adagrad`, :class:`NAdam`, :class:`RAdam` and :class:`Adamax`, by name
``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"radam"``, ``"adamax"``.
In every formula ``g`` is the loss gradient at step ``t`` (1-based), ``p`` a parameter, ``lr`` the
(scheduled) learning rate of that step; all operations are element-wise. Weight decay is one stage before every update: coupled (L2),
``g = g + weight_decay * p``; or decoupled (:class:`AdamW`, ``decoupled_weight_decay=True``),
``p = p * (1 - lr * weight_decay)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._contract import OptimizerCode
from ._validation import by_name_or_instance, check_bool, check_real

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax", "get_optimizer",
           "OPTIMIZERS"]


class Optimizer:
    """Base class: hyper-parameters of an update rule. Subclasses are frozen dataclasses.

    Examples
    --------
    >>> import gdfast
    >>> isinstance(gdfast.Adam(), gdfast.optimizers.Optimizer)
    True
    >>> gdfast.SGD(momentum=0.5).to_dict()
    {'name': 'SGD', 'momentum': 0.5, 'dampening': 0.0, 'nesterov': False, 'weight_decay': 0.0}
    """

    _code = -1
    # Rows of the optimizer buffers that hold running sums of squares (never negative).
    _nonnegative_state_rows: tuple[int, ...] = ()

    def _kernel_fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def _initial_state_value(self) -> float:
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        """Hyper-parameters as a dict (with the optimizer's name under ``"name"``)."""
        # Every concrete optimizer is a dataclass (the base class only declares the interface).
        return {"name": type(self).__name__, **asdict(self)}  # type: ignore[call-overload]


def _beta(value: Any, name: str) -> float:
    return check_real(value, name, low=0.0, high=1.0, high_inclusive=False)


@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (``torch.optim.SGD``).

    Algorithm::

        g = g + weight_decay * p
        if momentum != 0:
            b = g                                   if t == 1
            b = momentum * b + (1 - dampening) * g  otherwise
            g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    Examples
    --------
    >>> import gdfast
    >>> gdfast.SGD(momentum=0.9, nesterov=True)
    SGD(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0)
    """

    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    _code = OptimizerCode.OPT_SGD

    def __post_init__(self) -> None:
        object.__setattr__(self, "momentum", check_real(self.momentum, "momentum", low=0.0))
        object.__setattr__(self, "dampening", check_real(self.dampening, "dampening", low=0.0, high=1.0))
        object.__setattr__(self, "nesterov", check_bool(self.nesterov, "nesterov"))
        object.__setattr__(self, "weight_decay", check_real(self.weight_decay, "weight_decay", low=0.0))
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening == 0 (as in torch.optim.SGD)")

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(momentum=self.momentum, dampening=self.dampening, nesterov=self.nesterov,
                    weight_decay=self.weight_decay)


@dataclass(frozen=True)
class _AdamFamily:
    """Mixin of the Adam family (:class:`Adam`, :class:`NAdam`, :class:`RAdam`, :class:`Adamax`):
    the four hyper-parameters they all start with, their checks and their kernel fields. Each
    optimizer, ``class X(_AdamFamily, Optimizer)``, adds its own fields after these four and calls
    ``super().__post_init__()`` (the mixin is no Optimizer by itself: it has no kernel code)."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta1", _beta(self.beta1, "beta1"))
        object.__setattr__(self, "beta2", _beta(self.beta2, "beta2"))
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0.0, low_inclusive=False))
        object.__setattr__(self, "weight_decay", check_real(self.weight_decay, "weight_decay", low=0.0))

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(beta1=self.beta1, beta2=self.beta2, eps=self.eps, weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Adam(_AdamFamily, Optimizer):
    """Adam (``torch.optim.Adam``); weight decay is the coupled L2 kind.

    Algorithm::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)                  (amsgrad only; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Examples
    --------
    >>> import gdfast
    >>> gdfast.Adam(beta1=0.8).beta1
    0.8
    """

    amsgrad: bool = False
    _code = OptimizerCode.OPT_ADAM
    _nonnegative_state_rows = (1, 2)  # second moments and their running maximum (amsgrad)
    _decoupled = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "amsgrad", check_bool(self.amsgrad, "amsgrad"))

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(super()._kernel_fields(), amsgrad=self.amsgrad, decoupled_weight_decay=self._decoupled)


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``).

    Algorithm: as :class:`Adam`, except that instead of adding ``weight_decay * p`` to g the
    parameter first shrinks, ``p = p * (1 - lr * weight_decay)``. Default weight_decay 0.01.

    Examples
    --------
    >>> import gdfast
    >>> gdfast.AdamW().weight_decay
    0.01
    """

    weight_decay: float = 0.01
    _decoupled = True


@dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``).

    Algorithm::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        if centered: a = alpha * a + (1 - alpha) * g;  s = sqrt(max(v - a**2, 0)) + eps
        else:        s = sqrt(v) + eps
        if momentum > 0: b = momentum * b + g / s;  p = p - lr * b
        else:            p = p - lr * g / s

    Examples
    --------
    >>> import gdfast
    >>> gdfast.RMSprop(centered=True).alpha
    0.99
    """

    alpha: float = 0.99
    eps: float = 1e-8
    momentum: float = 0.0
    centered: bool = False
    weight_decay: float = 0.0
    _code = OptimizerCode.OPT_RMSPROP
    _nonnegative_state_rows = (0,)  # the running average of squared gradients

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_real(self.alpha, "alpha", low=0.0, high=1.0))
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0.0, low_inclusive=False))
        object.__setattr__(self, "momentum", check_real(self.momentum, "momentum", low=0.0))
        object.__setattr__(self, "centered", check_bool(self.centered, "centered"))
        object.__setattr__(self, "weight_decay", check_real(self.weight_decay, "weight_decay", low=0.0))

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(alpha=self.alpha, eps=self.eps, momentum=self.momentum, centered=self.centered,
                    weight_decay=self.weight_decay)


@dataclass(frozen=True)
class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``).

    Algorithm::

        g = g + weight_decay * p
        s = s + g**2                       (s starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Examples
    --------
    >>> import gdfast
    >>> gdfast.Adagrad().eps
    1e-10
    """

    eps: float = 1e-10
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    _code = OptimizerCode.OPT_ADAGRAD
    _nonnegative_state_rows = (0,)  # the sum of squared gradients

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_real(self.eps, "eps", low=0.0, low_inclusive=False))
        object.__setattr__(self, "lr_decay", check_real(self.lr_decay, "lr_decay", low=0.0))
        object.__setattr__(self, "weight_decay", check_real(self.weight_decay, "weight_decay", low=0.0))
        object.__setattr__(
            self, "initial_accumulator_value",
            check_real(self.initial_accumulator_value, "initial_accumulator_value", low=0.0),
        )

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(eps=self.eps, lr_decay=self.lr_decay, weight_decay=self.weight_decay)

    def _initial_state_value(self) -> float:
        return self.initial_accumulator_value


@dataclass(frozen=True)
class NAdam(_AdamFamily, Optimizer):
    """NAdam, Adam with Nesterov momentum (``torch.optim.NAdam``).

    Algorithm (``mu_product`` is a per-run scalar, 1 before the first update, kept in the run's
    state so a continued run matches one long run)::

        g = g + weight_decay * p                (or p = p * (1 - lr * weight_decay) if decoupled)
        mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_product = mu_product * mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p = p - lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom

    Examples
    --------
    >>> import gdfast
    >>> gdfast.NAdam()
    NAdam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, momentum_decay=0.004, decoupled_weight_decay=False)
    """

    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False
    _code = OptimizerCode.OPT_NADAM
    _nonnegative_state_rows = (1,)  # second moments

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "momentum_decay", check_real(self.momentum_decay, "momentum_decay", low=0.0))
        object.__setattr__(self, "decoupled_weight_decay",
                           check_bool(self.decoupled_weight_decay, "decoupled_weight_decay"))

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(super()._kernel_fields(), momentum_decay=self.momentum_decay,
                    decoupled_weight_decay=self.decoupled_weight_decay)


@dataclass(frozen=True)
class RAdam(_AdamFamily, Optimizer):
    """RAdam, Adam with a rectified adaptive rate (``torch.optim.RAdam``).

    Algorithm::

        g = g + weight_decay * p                (or p = p * (1 - lr * weight_decay) if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - lr * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t
        else:
            p = p - lr * m_hat

    Examples
    --------
    >>> import gdfast
    >>> gdfast.RAdam(decoupled_weight_decay=True, weight_decay=0.01).decoupled_weight_decay
    True
    """

    decoupled_weight_decay: bool = False
    _code = OptimizerCode.OPT_RADAM
    _nonnegative_state_rows = (1,)  # second moments

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "decoupled_weight_decay",
                           check_bool(self.decoupled_weight_decay, "decoupled_weight_decay"))

    def _kernel_fields(self) -> dict[str, Any]:
        return dict(super()._kernel_fields(), decoupled_weight_decay=self.decoupled_weight_decay)


@dataclass(frozen=True)
class Adamax(_AdamFamily, Optimizer):
    """Adamax, Adam with the infinity norm (``torch.optim.Adamax``; default lr there 2e-3).

    Algorithm::

        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u

    Examples
    --------
    >>> import gdfast
    >>> gdfast.Adamax(beta2=0.99).beta2
    0.99
    """

    _code = OptimizerCode.OPT_ADAMAX
    _nonnegative_state_rows = (1,)  # the weighted infinity norm u


#: The optimizers that ``optimizer=`` accepts by name: name -> class (instantiated with its defaults).
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
                                          "nadam": NAdam, "radam": RAdam, "adamax": Adamax}


def get_optimizer(optimizer: Optimizer | str | None) -> Optimizer:
    """An :class:`Optimizer` from an instance or a name (``"sgd"``, ``"adam"``, ...).

    Examples
    --------
    >>> from gdfast.optimizers import get_optimizer
    >>> get_optimizer("adam")
    Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, amsgrad=False)
    """
    found = by_name_or_instance(optimizer, "optimizer", Optimizer, OPTIMIZERS, default=SGD)
    if found is not None:
        return found
    raise TypeError(
        f"optimizer must be a name ({', '.join(sorted(OPTIMIZERS))}) or a gdfast optimizer object; "
        f"got {type(optimizer).__name__}"
    )
