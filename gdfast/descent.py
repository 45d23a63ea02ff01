"""Gradient descent on a function of x (lesson 3.1.1's loop), for any callable gradient.

``descend`` takes the optimizers, schedules, ``grad_tol``, ``clip_norm``, ``record_every`` and ``state=``
continuation of :func:`gdfast.train`. Three paths run the same loop:

- a :class:`Quadratic`'s gradient: the compiled kernel ``descend_quadratic`` (``src/_train.pyx``),
  element-wise;
- the gradient of a :mod:`gdfast.functions` object (Rosenbrock, Beale, ...), or a user's C function
  wrapped in a ``scipy.LowLevelCallable``: the compiled kernel ``descend_objective``, whose values and
  gradients are src/_objectives.pxd;
- any other callable: a Python loop, each optimizer update by the kernels' own step
  (``_train.optimizer_update``).
"""
from __future__ import annotations

import ctypes
import math
import re
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable, cast

import numpy as np

from . import _train
from ._contract import ObjectiveCode
from ._engine import CONVERGED, DIVERGED, RUNNING, STATUS_NAMES, TrainOptions, compact, same_value
from .functions import Beale, Booth, Himmelblau, Objective, QuadraticForm, Rastrigin, Rosenbrock, StyblinskiTang
from ._validation import as_array, as_float, check_real, common_float_dtype
from .optimizers import Optimizer
from .schedules import Schedule

__all__ = ["Quadratic", "DescentPath", "DescentState", "descend", "GRADIENT_SIGNATURE", "VALUE_SIGNATURE"]

#: The C signature of a ``scipy.LowLevelCallable`` gradient: write the n values of the gradient at x
#: to ``g``, return 0 (any other value stops the descent as diverged).
GRADIENT_SIGNATURE = "int (intptr_t n, const double *x, double *g, void *user_data)"
#: The C signature of a ``scipy.LowLevelCallable`` value function: write f(x) to ``f[0]``, return 0.
VALUE_SIGNATURE = "int (intptr_t n, const double *x, double *f, void *user_data)"

# The compiled objectives (exact classes: a subclass may override the NumPy methods, so it runs in Python).
_KERNEL_OBJECTIVES = (QuadraticForm, Rosenbrock, Beale, Himmelblau, Booth, Rastrigin, StyblinskiTang)


class Quadratic:
    """The function ``f(x) = a*x**2 + b*x + c``, element-wise, with its derivative.

    Parameters
    ----------
    a, b, c : float
        Coefficients (finite reals). Only ``a > 0`` gives a minimum (at ``-b / (2a)``): with
        ``a < 0`` the parabola opens downwards and descent runs away from its maximum; with
        ``a == 0`` f is linear (constant when b == 0) and has no unique minimum. :func:`descend`
        warns in those cases and :meth:`minimizer` raises.

    Examples
    --------
    >>> from gdfast import Quadratic
    >>> f = Quadratic(1, 4, 4)          # lesson 3.1.1: x**2 + 4x + 4
    >>> f(0.0), f(1.0), f(-2.0)
    (4.0, 9.0, 0.0)
    >>> f.gradient(1.0)
    6.0
    """

    def __init__(self, a: float, b: float, c: float) -> None:
        self.a = check_real(a, "a")
        self.b = check_real(b, "b")
        self.c = check_real(c, "c")

    def __call__(self, x: Any) -> Any:
        """``a*x**2 + b*x + c`` (a float for a scalar, an array for an array)."""
        return self.a * x**2 + self.b * x + self.c

    def gradient(self, x: Any) -> Any:
        """The derivative ``2*a*x + b``."""
        return 2 * self.a * x + self.b

    def minimizer(self) -> float:
        """``-b / (2a)``, the minimum's location.

        Raises
        ------
        ValueError
            When ``a <= 0``: f then has no (unique) minimum.
        """
        if not self.a > 0:
            raise ValueError(f"{self!r} has no minimum: a = {self.a!r} <= 0 (it needs a > 0)")
        return -self.b / (2 * self.a)

    def __repr__(self) -> str:
        return f"Quadratic(a={self.a!r}, b={self.b!r}, c={self.c!r})"


@dataclass(frozen=True, eq=False)
class DescentState:
    """Everything :func:`descend` needs to continue a run exactly where it stopped (``path.state``).

    Pass it as ``descend(gradient, path.x[-1], ..., state=path.state)``: the continued run's
    points, values and ``steps`` are, bit for bit, those the single longer run would have reached
    (update counts, the schedule's position and the optimizer's buffers carry over). Its arrays are
    read-only copies, so one state can be continued several times.

    Attributes
    ----------
    x : ndarray, shape (dim,)
        The current point (in the path's dtype; a scalar run has dim 1).
    step : int
        Updates done since the run began (continued runs included).
    opt_state : ndarray, shape (3, dim), float64
        The optimizer's buffers (momentum, moments, accumulators).
    mu_product : float
        NAdam's running product of its momentum factors (1.0 before the first update).
    optimizer : dict
        The optimizer's name and hyper-parameters (``Optimizer.to_dict()``): a continuation must use
        the same ones.
    diverged : bool
        Whether the run diverged (such a state cannot be continued).

    Examples
    --------
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=5, optimizer="adam")
    >>> path.state.step, path.state.x.tolist() == [float(path.x[-1])]
    (5, True)
    """

    x: np.ndarray
    step: int
    opt_state: np.ndarray
    mu_product: float
    optimizer: dict[str, Any]
    diverged: bool


def _frozen(arr: np.ndarray) -> np.ndarray:
    """A read-only copy of arr."""
    out = np.array(arr, order="C")
    out.flags.writeable = False
    return out


def _check_state(state: Any, start: np.ndarray, options: TrainOptions, n: int) -> None:
    """Refuse a state that cannot continue this call (its point, dimension, dtype, optimizer, a diverged
    run, corrupt buffers), naming what differs and the way out."""
    if not isinstance(state, DescentState):
        raise TypeError(f"state must be a DescentState (path.state of an earlier descend); got {type(state).__name__}")
    if state.diverged:
        raise ValueError("state belongs to a run that diverged and cannot be continued: start again from "
                         "path.x[-1] without state=, with a smaller learning_rate")
    x = state.x
    if not isinstance(x, np.ndarray) or x.ndim != 1 or x.dtype != start.dtype or x.shape != start.shape:
        raise ValueError(
            f"state belongs to a point of dimension {getattr(x, 'size', '?')} and dtype {getattr(x, 'dtype', '?')}; "
            f"got x0 of dimension {start.size} and dtype {start.dtype} (pass path.x[-1] with path.state)"
        )
    optimizer = cast(Optimizer, options.optimizer).to_dict()
    if state.optimizer != optimizer:
        differ = sorted(k for k in set(optimizer) | set(state.optimizer) if state.optimizer.get(k) != optimizer.get(k))
        raise ValueError(
            f"state was made with optimizer {state.optimizer}; got {optimizer} (they differ in "
            f"{', '.join(differ)}): continue it with the same optimizer and hyper-parameters"
        )
    opt = state.opt_state
    if not isinstance(opt, np.ndarray) or opt.dtype != np.float64 or opt.shape != (3, start.size):
        raise ValueError(f"state.opt_state must be a float64 array of shape (3, {start.size})")
    negative = [row for row in cast(Optimizer, options.optimizer)._nonnegative_state_rows if (opt[row] < 0).any()]
    if not np.isfinite(opt).all() or negative:
        raise ValueError("state is corrupt: state.opt_state (the optimizer's buffers) must be finite, its sums of "
                         "squares >= 0")
    if not (isinstance(state.step, int) and 0 <= state.step <= np.iinfo(np.int64).max - n):
        raise ValueError(f"state.step must be an int in [0, 2**63 - 1 - num_iterations]; got {state.step!r}")
    if not 0.0 <= state.mu_product <= 1.0:  # a product of NAdam's mu_t in [0, beta1) (1.0 at first)
        raise ValueError("state is corrupt: its NAdam mu_product must be in [0, 1] (1.0 at the start)")
    if not np.isfinite(x).all():
        raise ValueError("state is corrupt: state.x holds NaN or infinity")
    if not np.array_equal(x, start):
        raise ValueError("x0 differs from the state's current point: pass path.x[-1] as x0 with path.state")


@dataclass(frozen=True, eq=False)
class DescentPath:
    """The points recorded by :func:`descend`.

    Attributes
    ----------
    x : ndarray, shape (n_recorded,) or (n_recorded, dim)
        ``x[i]`` is the point after ``steps[i]`` updates: x0 first, then every ``record_every``-th
        point, then the last one. With the default ``record_every=1``, ``x[t]`` is the point after t
        updates (for a new run).
    f : ndarray or None
        The function at those points (when a function was given).
    n_iter : int
        Updates done by this call (fewer than asked when the run converged or diverged).
    diverged : bool
        Whether the descent stopped because a value (x, the gradient or f) stopped being finite.
    steps : ndarray of int64, shape (n_recorded,)
        Update counts of the recorded points since the run began (``steps[-1] == state.step``; for a
        new run ``steps[-1] == n_iter``). A run continued with ``state=`` starts at the state's step
        and records the multiples of ``record_every`` of this count, as the single run would.
    converged : bool
        Whether the run stopped because the gradient's norm fell below ``grad_tol``.
    status : str
        ``"converged"``, ``"diverged"`` or ``"max_iter"`` (all updates done).
    state : DescentState
        What :func:`descend` needs to continue the run (``state=path.state``, with x0 = ``path.x[-1]``).

    Examples
    --------
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    >>> path.x.shape, float(path.f[0]), path.n_iter, path.diverged, path.status
    ((21,), 144.0, 20, False, 'max_iter')
    """

    x: np.ndarray
    f: np.ndarray | None
    n_iter: int
    diverged: bool
    steps: np.ndarray
    converged: bool
    status: str
    state: DescentState

    def __eq__(self, other: object) -> bool:
        """Field-by-field equality, arrays compared by dtype, shape and values (NaN equal to NaN).

        The dataclass's generated ``==`` compared the arrays with ``==`` and raised "The truth value
        of an array ... is ambiguous"; paths are not hashable (they hold arrays).
        """
        if not isinstance(other, DescentPath):
            return NotImplemented
        return same_value(self, other)

    __hash__ = None  # type: ignore[assignment]


def _quadratic_owner(gradient: Any) -> Quadratic | None:
    """The Quadratic whose ``gradient`` method this is (re-validating its coefficients), else None."""
    owner = getattr(gradient, "__self__", None)
    if not isinstance(owner, Quadratic):
        return None
    # The attributes are plain and may have been changed after construction.
    for name in ("a", "b", "c"):
        check_real(getattr(owner, name), name)
    a, b = float(owner.a), float(owner.b)
    if a < 0 or (a == 0 and b != 0):
        warnings.warn(
            f"descend: {owner!r} has no minimum (a = {a!r} {'< 0: it opens downwards' if a < 0 else '= 0: it is linear'}); "
            "the descent cannot converge",
            RuntimeWarning,
            stacklevel=3,
        )
    return owner


def _kernel_quadratic(gradient: Any, owner: Quadratic | None, function: Any) -> Quadratic | None:
    """``owner`` when the compiled loop computes exactly what its methods compute: the gradient is
    ``Quadratic.gradient`` itself, the class overrides neither ``__call__`` nor ``gradient``, and
    the function is None or that same object."""
    if owner is None or getattr(gradient, "__func__", None) is not Quadratic.gradient:
        return None
    cls = type(owner)
    if cls.__call__ is not Quadratic.__call__ or cls.gradient is not Quadratic.gradient:
        return None
    if function is not None and function is not owner:
        return None
    return owner


def _kernel_objective(gradient: Any, function: Any) -> Objective | None:
    """The gdfast.functions object whose compiled twin computes exactly what ``gradient`` and ``function``
    compute: the gradient is the ``.gradient`` of an instance of one of the built-in classes (not a
    subclass) and the function is None or that same object."""
    owner = getattr(gradient, "__self__", None)
    if type(owner) not in _KERNEL_OBJECTIVES or getattr(gradient, "__func__", None) is not Objective.gradient:
        return None
    if function is not None and function is not owner:
        return None
    return cast(Objective, owner)


def _is_low_level(obj: Any) -> bool:
    """Whether obj is a scipy.LowLevelCallable (without importing SciPy: one cannot exist before it is)."""
    scipy = sys.modules.get("scipy")
    cls = getattr(scipy, "LowLevelCallable", None) if scipy is not None else None
    return cls is not None and isinstance(obj, cls)


def _pointer_sized_ints() -> frozenset[str]:
    """The C names a signature may give the size argument: intptr_t and its equals on this platform
    (ctypes and Numba write the type of their choice, e.g. "long" on 64-bit Linux)."""
    names = {"intptr_t", "Py_ssize_t", "ssize_t", "ptrdiff_t"}
    pointer = ctypes.sizeof(ctypes.c_void_p)
    if ctypes.sizeof(ctypes.c_long) == pointer:
        names |= {"long", "long int", "signed long"}
    if ctypes.sizeof(ctypes.c_longlong) == pointer:
        names |= {"longlong", "long long", "long long int", "int64_t"}
    return frozenset(names)


def _normalised(signature: str) -> str:
    """A C signature with ``const`` dropped and spaces normalised: "int (long, double *, double *, void *)"."""
    text = re.sub(r"\bconst\b", " ", signature)
    text = re.sub(r"\s*\*\s*", " *", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"\s*\(\s*", " (", text)
    text = re.sub(r"\s*\)\s*", ")", text)
    return re.sub(r"\s+", " ", text).strip()


def _check_low_level(obj: Any, name: str, expected: str) -> Any:
    """The PyCapsule of a LowLevelCallable whose signature is ``expected`` (written with or without its
    argument names, ``const`` and spaces; intptr_t under any name of its size); a TypeError that prints
    the expected signature otherwise."""
    signature = str(obj.signature)
    match = re.fullmatch(r"int \((.+), double \*, double \*, void \*\)", _normalised(signature))
    accepted = match is not None and match.group(1) in _pointer_sized_ints()
    if not accepted and _normalised(signature) != _normalised(expected):
        raise TypeError(
            f"{name}: a scipy.LowLevelCallable must have the C signature {expected!r}; got {signature!r} "
            "(e.g. Numba: @cfunc(types.intc(types.intp, types.CPointer(types.float64), "
            "types.CPointer(types.float64), types.voidptr)))"
        )
    return tuple.__getitem__(obj, 0)


def descend(
    gradient: Callable[[Any], Any] | Any,
    x0: Any,
    *,
    learning_rate: float,
    num_iterations: int,
    function: Callable[[Any], Any] | Any | None = None,
    optimizer: Optimizer | str | None = "sgd",
    schedule: Schedule | str | None = None,
    grad_tol: float | None = None,
    clip_norm: float | None = None,
    record_every: int = 1,
    state: DescentState | None = None,
) -> DescentPath:
    """Gradient descent from ``x0``: by default ``x -= learning_rate * gradient(x)``.

    Parameters
    ----------
    gradient : callable or scipy.LowLevelCallable
        ``gradient(x)`` returns the derivative at x (same shape as x). The whole loop runs in a
        compiled kernel that never calls Python (tens of ns per update and coordinate; 0.1-0.2 us per
        Adam update of the 2-D Rosenbrock function, benchmarks/objectives.py), when it is

        - the ``.gradient`` method of a :class:`Quadratic` (or of a subclass that overrides neither
          ``__call__`` nor ``gradient``) and ``function`` is None or that object;
        - the ``.gradient`` method of a :mod:`gdfast.functions` object (``Rosenbrock()``,
          ``QuadraticForm(A, b)``, ...; not a subclass), ``function`` None or that object, and x0
          float64 (or integers);
        - a ``scipy.LowLevelCallable`` of a C function with the signature :data:`GRADIENT_SIGNATURE`,
          ``int (intptr_t n, const double *x, double *g, void *user_data)``, made with Numba
          ``@cfunc``, Cython (``LowLevelCallable.from_cython``) or ctypes (the size may be written
          ``long`` or ``Py_ssize_t`` where those are intptr_t's size; ``const`` is optional). It writes
          the gradient at x to g and returns 0; any other return ends the run as diverged. The path
          is float64. A ctypes callback is Python again (about 1 us per call).

        Any other callable runs in a Python loop that calls it once per update, with the same
        optimizer arithmetic: about 30 us of overhead per update (measured for a scalar lambda with
        plain SGD, 70 us with Adam), plus the callable's own cost.
    x0 : float or 1-D array_like
        Starting point (not modified). A Quadratic acts element-wise on an array; a
        :mod:`gdfast.functions` object needs a 1-D x0 of a dimension it is defined for.
    learning_rate : float
        Step size, finite and > 0.
    num_iterations : int
        Maximum number of updates (>= 0).
    function : callable or scipy.LowLevelCallable, optional
        When given, its values at the recorded points are kept in ``path.f``. With a LowLevelCallable
        gradient it must be None or a LowLevelCallable with the signature :data:`VALUE_SIGNATURE`,
        ``int (intptr_t n, const double *x, double *f, void *user_data)`` (writes f(x) to f[0]).
    optimizer : str or gdfast optimizer, default "sgd"
        As in :func:`gdfast.train` (``"sgd"``, ``"adam"``, ``gdfast.SGD(momentum=0.9)``, ...). Plain
        SGD (no momentum, no weight decay) is ``x - lr * g`` in the precision of x, the lesson's loop
        to the bit; the other optimizers follow torch.optim with float64 buffers.
    schedule : str or gdfast.schedules object, optional
        Learning-rate schedule, as in :func:`gdfast.train` (constant by default).
    grad_tol : float, optional
        Stop before an update when the Euclidean norm of the gradient over x is < grad_tol
        (``path.converged``).
    clip_norm : float, optional
        Clip the gradient to this Euclidean norm (> 0) before each update, as
        ``torch.nn.utils.clip_grad_norm_`` and :func:`gdfast.train`: ``g *= clip_norm / (norm + 1e-6)``
        when that factor is < 1. The norm (over all coordinates, squares summed in order in float64)
        is the one ``grad_tol`` tests, computed once per update.
    record_every : int, default 1
        Keep every ``record_every``-th point (and the last one): memory stays bounded on long runs.
    state : DescentState, optional
        ``path.state`` of an earlier call, to continue that run exactly: pass ``path.x[-1]`` as x0
        (any other x0 is a ValueError, as ``train``'s W with its state) and the same optimizer with
        the same hyper-parameters, dimension and dtype (each mismatch is a ValueError naming it).
        ``num_iterations`` more updates are done, counted on from ``state.step`` (the schedule and
        ``path.steps`` too: a schedule spanning a run, e.g. ``CosineAnnealing()`` without t_max,
        spans up to the end of this call, as in ``train``). The learning rate, schedule, grad_tol,
        clip_norm, record_every and function may change. A state of a diverged run cannot be
        continued (ValueError). The state is never modified.

    Returns
    -------
    DescentPath
        The recorded points; with the defaults, ``x`` holds num_iterations + 1 points (x0 first).
        ``f`` has one value per point for a function with a scalar value (a :mod:`gdfast.functions`
        object, a LowLevelCallable, a Python function returning a scalar), one per coordinate for an
        element-wise one (a Quadratic). If x, the gradient or f stops being finite (or a
        LowLevelCallable returns non-zero) the run ends at the last finite point, ``diverged`` is
        True and a RuntimeWarning is issued.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C; the compiled loop checks for it about every millisecond when descend runs in the
        main thread (the only thread where Python runs signal handlers), less often (up to 0.25 s)
        while another Python thread holds the GIL.

    Examples
    --------
    Lesson 3.1.1, then the same start with Adam:

    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    >>> round(float(path.x[-1]), 4), round(float(path.f[-1]), 6)
    (-1.8616, 0.019141)
    >>> adam = gdfast.descend(f.gradient, 10.0, learning_rate=0.5, num_iterations=1000, function=f,
    ...                       optimizer="adam", grad_tol=1e-6, record_every=100)
    >>> adam.status, adam.n_iter < 1000, abs(float(adam.x[-1]) + 2) < 1e-6
    ('converged', True, True)
    >>> adam.steps[:3], int(adam.steps[-1]) == adam.n_iter
    (array([  0, 100, 200]), True)

    A test function of :mod:`gdfast.functions`, in the kernel with every optimizer:

    >>> from gdfast.functions import Rosenbrock
    >>> rosen = Rosenbrock()
    >>> path = gdfast.descend(rosen.gradient, [-1.0, 1.0], function=rosen, learning_rate=0.02,
    ...                       num_iterations=100_000, optimizer="adam", grad_tol=1e-8, record_every=1000)
    >>> path.status, path.x[-1].round(6).tolist()
    ('converged', [1.0, 1.0])

    Clipping the gradient's norm to 1, and continuing a run: 300 updates, then 700 more, are the
    1000 updates of one call to the bit:

    >>> import numpy as np
    >>> first = gdfast.descend(rosen.gradient, [-1.0, 1.0], learning_rate=0.01, num_iterations=300,
    ...                        optimizer="adam", clip_norm=1.0)
    >>> more = gdfast.descend(rosen.gradient, first.x[-1], learning_rate=0.01, num_iterations=700,
    ...                       optimizer="adam", clip_norm=1.0, state=first.state)
    >>> whole = gdfast.descend(rosen.gradient, [-1.0, 1.0], learning_rate=0.01, num_iterations=1000,
    ...                        optimizer="adam", clip_norm=1.0)
    >>> int(more.steps[0]), int(more.steps[-1]), more.n_iter, bool(np.array_equal(more.x, whole.x[300:]))
    (300, 1000, 700, True)

    Your own function in C, here with ctypes (copy-paste ready; Numba's ``@cfunc``, shown below, runs
    in the kernel without any Python call):

    >>> import ctypes
    >>> from scipy import LowLevelCallable
    >>> c_double_p = ctypes.POINTER(ctypes.c_double)
    >>> signature = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, c_double_p, c_double_p, ctypes.c_void_p)
    >>> @signature
    ... def bowl_gradient(n, x, g, user_data):       # f(x) = sum((x - 3)**2)
    ...     for i in range(n):
    ...         g[i] = 2.0 * (x[i] - 3.0)
    ...     return 0
    >>> path = gdfast.descend(LowLevelCallable(bowl_gradient), [0.0, 1.0], learning_rate=0.1,
    ...                       num_iterations=200, optimizer="adam")
    >>> path.x[-1].round(3).tolist()
    [3.0, 3.0]

    With Numba (``pip install numba``), the gradient of the 2-D Rosenbrock function:

    >>> from numba import cfunc, types                                          # doctest: +SKIP
    >>> c_signature = types.intc(types.intp, types.CPointer(types.float64),
    ...                          types.CPointer(types.float64), types.voidptr)  # doctest: +SKIP
    >>> @cfunc(c_signature)                                                      # doctest: +SKIP
    ... def rosen_gradient(n, x, g, user_data):
    ...     g[0] = -400.0 * x[0] * (x[1] - x[0] * x[0]) - 2.0 * (1.0 - x[0])
    ...     g[1] = 200.0 * (x[1] - x[0] * x[0])
    ...     return 0
    >>> path = gdfast.descend(LowLevelCallable(rosen_gradient.ctypes), [-1.0, 1.0], learning_rate=0.02,
    ...                       num_iterations=100_000, optimizer="adam")       # doctest: +SKIP
    """
    low_level = _is_low_level(gradient)
    if not low_level and not callable(gradient):
        raise TypeError(f"gradient must be callable or a scipy.LowLevelCallable; got {type(gradient).__name__}")
    if low_level:
        gradient_capsule = _check_low_level(gradient, "gradient", GRADIENT_SIGNATURE)
        if function is not None and not _is_low_level(function):
            raise TypeError(
                "function: with a scipy.LowLevelCallable gradient, function must be None or a "
                f"LowLevelCallable of the C signature {VALUE_SIGNATURE!r}; got {type(function).__name__}"
            )
        value_capsule = None if function is None else _check_low_level(function, "function", VALUE_SIGNATURE)
    elif _is_low_level(function):
        raise TypeError("function: a scipy.LowLevelCallable value function needs a LowLevelCallable gradient "
                        f"(signature {GRADIENT_SIGNATURE!r}); pass the gradient as one too")
    elif function is not None and not callable(function):
        raise TypeError(f"function must be callable or None; got {type(function).__name__}")
    options = TrainOptions.from_kwargs(
        learning_rate=learning_rate, num_iterations=num_iterations, optimizer=optimizer, schedule=schedule,
        grad_tol=grad_tol, clip_norm=clip_norm, record_every=record_every,
    )
    n = options.resolved_num_iterations(1)
    every = options.record_every
    x_in = as_array("x0", x0)
    if x_in.ndim > 1:
        raise ValueError(f"x0 must be a scalar or 1-D; got shape {x_in.shape}")
    dtype = np.dtype(np.float64) if low_level else common_float_dtype(x0=x_in)
    start = as_float("x0", x_in.reshape(-1), dtype)
    scalar = x_in.ndim == 0
    owner = None if low_level else _quadratic_owner(gradient)
    quad = None if low_level else _kernel_quadratic(gradient, owner, function)
    objective = None if low_level else _kernel_objective(gradient, function)
    if objective is not None:
        if scalar:
            raise ValueError(f"x0 must be a 1-D point for {objective!r}; got a scalar (pass [x0])")
        params = objective.kernel_params(start.size)  # checks the dimension
        if dtype != np.float64:
            objective = None  # float32: the Python loop, in the precision of x

    if state is not None:
        if isinstance(state, DescentState):
            # checked after copying (as train's state), so no other thread can change what was checked;
            # the state itself is never modified
            state = replace(state, x=np.array(state.x, order="C"), opt_state=np.array(state.opt_state, order="C"))
        _check_state(state, start, options, n)
        t0 = state.step
        opt_state = state.opt_state
        mu_product = np.array([state.mu_product], dtype=np.float64)
    else:
        t0 = 0
        opt_state = np.zeros((3, start.size), dtype=np.float64)
        opt_state[0] = cast(Optimizer, options.optimizer)._initial_state_value()
        mu_product = np.ones(1)  # NAdam's running product: the empty product before the first update
    # x0, the multiples of record_every in (t0, t0 + n] (at most n // every + 1), the last one
    capacity = n // every + 3
    if capacity > np.iinfo(np.intp).max // (8 * start.size):
        raise ValueError(
            f"num_iterations = {n} is too large: the path of {capacity} points would not fit an array "
            "(pass record_every to keep fewer points)"
        )
    kernel_config = options.kernel_config(n_samples=1, end_step=t0 + n)
    x_rec = np.empty((capacity, start.size), dtype=dtype)
    x_rec[0] = start
    f_rec = np.empty_like(x_rec) if function is not None else None
    steps = np.empty(capacity, dtype=np.int64)
    f_scalar = False  # whether f has one value per point (not one per coordinate)
    if objective is not None or low_level:
        f_values = np.empty(capacity, dtype=np.float64)
        if low_level:
            code, params, capsules = ObjectiveCode.OBJ_CALLBACK, np.empty(0), (gradient_capsule, value_capsule)
        else:
            assert objective is not None
            code, capsules = objective._code, (None, None)
        status, n_done, n_rec = _train.descend_objective(
            kernel_config, int(code), params, capsules[0], capsules[1], x_rec, f_values, steps, opt_state,
            mu_product, t0, n, function is not None,
        )
        f_rec, f_scalar = (f_values[:, None], True) if function is not None else (None, False)
    elif quad is not None:
        status, n_done, n_rec = _train.descend_quadratic(
            kernel_config, quad.a, quad.b, quad.c, x_rec, x_rec[:1] if f_rec is None else f_rec, steps, opt_state,
            mu_product, t0, n, f_rec is not None,
            scalar,  # a scalar start is evaluated as a Python/NumPy scalar: x**2 is pow(x, 2) there
        )
    else:
        status, n_done, n_rec, f_scalar = _python_descent(gradient, function, options, kernel_config, x_rec, f_rec,
                                                          steps, opt_state, mu_product, t0, n, scalar)

    if status == DIVERGED:
        why = ("the path left the finite numbers or a LowLevelCallable returned non-zero" if low_level
               else "the path left the finite numbers")
        warnings.warn(
            f"descend: {why} after {n_done} of {n} updates "
            "(learning_rate too large?); returning the finite part",
            RuntimeWarning,
            stacklevel=2,
        )
    # views of the buffers, copied when under half of each is used (a short run keeps no large buffer)
    x_path = compact(x_rec[:n_rec])
    f_path = compact(f_rec[:n_rec]) if f_rec is not None else None
    if f_path is not None and f_scalar:
        f_path = f_path[:, 0]
    if scalar:
        x_path = x_path[:, 0]
        f_path = f_path[:, 0] if f_path is not None and not f_scalar else f_path
    end = DescentState(x=_frozen(x_rec[n_rec - 1]), step=t0 + int(n_done), opt_state=_frozen(opt_state),
                       mu_product=float(mu_product[0]), optimizer=cast(Optimizer, options.optimizer).to_dict(),
                       diverged=status == DIVERGED)
    return DescentPath(x=x_path, f=f_path, n_iter=int(n_done), diverged=status == DIVERGED,
                       steps=compact(steps[:n_rec]), converged=status == CONVERGED,
                       status=STATUS_NAMES[RUNNING if status not in (CONVERGED, DIVERGED) else status], state=end)


def _evaluate(name: str, func: Callable[[Any], Any] | None, x: np.ndarray, scalar: bool, dtype: np.dtype,
              size: int, one_value: bool | None = None) -> np.ndarray:
    """func(x) as a 1-D array of ``dtype``: ``size`` values, or one when ``one_value`` (a function with a
    scalar value at a point of several coordinates; None: whichever func returns, for its first call)."""
    assert func is not None
    value = func(x[0] if scalar else x)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}(x) must return real numbers; got {arr.dtype}")
    if one_value is None:
        one_value = arr.shape == () and size != 1
    want = () if one_value else (size,)
    if arr.shape != want and not (arr.shape == () and size == 1):
        what = "a scalar" if scalar or one_value else f"shape ({size},)"
        raise ValueError(f"{name}(x) must return {what}; got shape {arr.shape}")
    return arr.astype(dtype, copy=False).reshape(-1)


def _python_descent(gradient: Callable[[Any], Any], function: Callable[[Any], Any] | None,
                    options: TrainOptions, kernel_config: dict[str, Any], x_rec: np.ndarray, f_rec: np.ndarray | None,
                    steps: np.ndarray, opt_state: np.ndarray, mu_product: np.ndarray, t0: int, n: int,
                    scalar: bool) -> tuple[int, int, int, bool]:
    """The compiled loop's twin for arbitrary callables: (status, updates done, points recorded, whether f
    has one value per point). The run continues one of ``t0`` updates whose buffers are ``opt_state``
    and ``mu_product`` (shape (1,); both updated in place). A function whose value at x0 is a scalar
    while x0 has several coordinates (or that is a gdfast.functions object) has one value per point,
    kept in f_rec[:, 0]."""
    dtype, size = x_rec.dtype, x_rec.shape[1]
    every = options.record_every
    lr0 = options.learning_rate
    schedule = options.resolved_schedule(t0 + n)
    plain = kernel_config["optimizer"] == 0 and kernel_config["momentum"] == 0.0 and kernel_config["weight_decay"] == 0.0
    tol = kernel_config["grad_tol"]
    clip = kernel_config["clip_norm"]
    # Python floats for scalar float64 paths, so the arithmetic is exactly the notebook's.
    native = scalar and dtype == np.float64
    p64 = np.empty(size)
    x: Any = float(x_rec[0, 0]) if native else x_rec[0].copy()
    fx = None
    one_value = False
    if f_rec is not None:
        fx = _evaluate("function", function, np.atleast_1d(x), scalar, dtype, size,
                       True if isinstance(function, Objective) else None)
        one_value = fx.size == 1 and (size > 1 or isinstance(function, Objective))
    steps[0] = t0
    n_rec = 1
    t, t_end = t0, t0 + n
    status = RUNNING

    def record(i: int) -> int:
        """Keep the point x as point i of the path, with f(x) and the update count t as they are now."""
        x_rec[i] = x
        if f_rec is not None:
            assert fx is not None
            f_rec[i, :fx.size] = fx
        steps[i] = t
        return i + 1

    if fx is not None:
        assert f_rec is not None
        f_rec[0, :fx.size] = fx
        if not np.isfinite(fx).all():
            status = DIVERGED
    while status == RUNNING and t < t_end:
        g = _evaluate("gradient", gradient, np.atleast_1d(x), scalar, dtype, size)
        if not np.isfinite(g).all():
            status = DIVERGED
            break
        g64 = g.astype(np.float64)
        if tol > 0.0 or clip > 0.0:
            # the kernel's norm: squares summed in order (cumsum is sequential), in float64
            norm = math.sqrt(float(np.cumsum(g64 * g64)[-1]))
            if tol > 0.0 and norm < tol:
                status = CONVERGED
                break
            coef = clip / (norm + 1e-6)  # torch.nn.utils.clip_grad_norm_ (the kernel's clip)
            if clip > 0.0 and coef < 1.0:
                g64 = g64 * coef
                g = g64.astype(dtype)  # plain SGD steps with the clipped gradient in the precision of x
        lr = schedule(lr0, t)
        if plain and native:
            x_new: Any = x - lr * float(g[0])
        elif plain:
            x_new = x - dtype.type(lr) * g
        else:
            # the kernel's optimizer_step itself (src/_optimizers.pxd), in float64
            _train.optimizer_update(kernel_config, np.atleast_1d(x).astype(np.float64), g64, opt_state, mu_product, lr, t + 1,
                                    p64)
            x_new = p64.astype(dtype)
            if native:
                x_new = float(x_new[0])
        if not np.isfinite(x_new).all():
            status = DIVERGED
            break
        if f_rec is not None:
            f_new = _evaluate("function", function, np.atleast_1d(x_new), scalar, dtype, size, one_value)
            if not np.isfinite(f_new).all():
                status = DIVERGED
                break
            fx = f_new
        x = x_new
        t += 1
        if t % every == 0:
            n_rec = record(n_rec)
    if steps[n_rec - 1] != t:  # the last point, when it was not a multiple of record_every
        n_rec = record(n_rec)
    return status, t - t0, n_rec, one_value
