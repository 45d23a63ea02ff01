"""Plain gradient descent ``x -= learning_rate * gradient(x)`` (lesson 3.1.1), for any callable."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _kernels
from ._validation import as_array, as_float, check_int, check_learning_rate, check_real, common_float_dtype

__all__ = ["Quadratic", "DescentPath", "descend"]


class Quadratic:
    """The function ``f(x) = a*x**2 + b*x + c``, element-wise, with its derivative.

    Parameters
    ----------
    a, b, c : float
        Coefficients (finite).

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
        """``-b / (2a)``, the minimum's location (for a > 0)."""
        return -self.b / (2 * self.a)

    def __repr__(self) -> str:
        return f"Quadratic(a={self.a!r}, b={self.b!r}, c={self.c!r})"


@dataclass(frozen=True)
class DescentPath:
    """The points visited by :func:`descend`.

    Attributes
    ----------
    x : ndarray, shape (n_iter + 1,) or (n_iter + 1, dim)
        ``x[0]`` is the start, ``x[t]`` the point after t updates.
    f : ndarray or None
        The function along the path (when a function was given).
    n_iter : int
        Updates done (fewer than asked only when the path diverged).
    diverged : bool
        Whether the descent stopped because a value stopped being finite.

    Examples
    --------
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    >>> path.x.shape, float(path.f[0]), path.n_iter, path.diverged
    ((21,), 144.0, 20, False)
    """

    x: np.ndarray
    f: np.ndarray | None
    n_iter: int
    diverged: bool


def _is_quadratic_gradient(gradient: Any, function: Any) -> Quadratic | None:
    owner = getattr(gradient, "__self__", None)
    if not isinstance(owner, Quadratic) or getattr(gradient, "__func__", None) is not Quadratic.gradient:
        return None
    if function is not None and function is not owner:
        return None
    return owner


def descend(
    gradient: Callable[[Any], Any],
    x0: Any,
    *,
    learning_rate: float,
    num_iterations: int,
    function: Callable[[Any], Any] | None = None,
) -> DescentPath:
    """Gradient descent ``x -= learning_rate * gradient(x)`` from ``x0``.

    Parameters
    ----------
    gradient : callable
        ``gradient(x)`` returns the derivative at x (same shape as x). When it is the ``.gradient``
        method of a :class:`Quadratic` (and ``function`` is None or that Quadratic), the whole loop
        runs in a compiled kernel.
    x0 : float or 1-D array_like
        Starting point.
    learning_rate : float
        Step size, finite and > 0.
    num_iterations : int
        Number of updates (>= 0).
    function : callable, optional
        When given, its values along the path are recorded in ``path.f``.

    Returns
    -------
    DescentPath
        ``x`` holds num_iterations + 1 points (x0 first). If a value stops being finite the
        path ends at the last finite point, ``diverged`` is True and a RuntimeWarning is issued.

    Examples
    --------
    >>> import gdfast
    >>> f = gdfast.Quadratic(1, 4, 4)
    >>> path = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=20, function=f)
    >>> round(float(path.x[-1]), 4), round(float(path.f[-1]), 6)
    (-1.8616, 0.019141)
    """
    if not callable(gradient):
        raise TypeError(f"gradient must be callable; got {type(gradient).__name__}")
    if function is not None and not callable(function):
        raise TypeError(f"function must be callable or None; got {type(function).__name__}")
    lr = check_learning_rate(learning_rate)
    n = check_int(num_iterations, "num_iterations", low=0)
    x_in = as_array("x0", x0)
    if x_in.ndim > 1:
        raise ValueError(f"x0 must be a scalar or 1-D; got shape {x_in.shape}")
    dtype = common_float_dtype(x0=x_in)
    start = as_float("x0", x_in.reshape(-1), dtype)
    scalar = x_in.ndim == 0

    if n + 1 > np.iinfo(np.intp).max // (8 * start.size):
        raise ValueError(f"num_iterations = {n} is too large: the path of {n + 1} points would not fit an array")
    quad = _is_quadratic_gradient(gradient, function)
    x_path = np.empty((n + 1, start.size), dtype=dtype)
    x_path[0] = start
    f_path = np.empty_like(x_path) if function is not None else None
    if quad is not None:
        n_done = _kernels.descend_quadratic_into(
            quad.a, quad.b, quad.c, lr, x_path, x_path if f_path is None else f_path, f_path is not None,
            scalar,  # a scalar start is evaluated as a Python/NumPy scalar: x**2 is pow(x, 2) there
        )
    else:
        n_done = _python_descent(gradient, function, lr, x_path, f_path, scalar)

    diverged = n_done < n or (f_path is not None and not np.isfinite(f_path[n_done]).all())
    if diverged:
        warnings.warn(
            f"descend: the path left the finite numbers after {n_done} of {n} updates "
            "(learning_rate too large?); returning the finite part",
            RuntimeWarning,
            stacklevel=2,
        )
    x_path = x_path[: n_done + 1]
    if f_path is not None:
        f_path = f_path[: n_done + 1]
    if scalar:
        x_path = x_path[:, 0]
        f_path = f_path[:, 0] if f_path is not None else None
    return DescentPath(x=x_path, f=f_path, n_iter=int(n_done), diverged=bool(diverged))


def _evaluate(name: str, func: Callable[[Any], Any] | None, x: np.ndarray, scalar: bool, dtype: np.dtype,
              size: int) -> np.ndarray:
    assert func is not None
    value = func(x[0] if scalar else x)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}(x) must return real numbers; got {arr.dtype}")
    if arr.shape not in ((), (size,)) or (arr.shape == () and size != 1):
        raise ValueError(f"{name}(x) must return {'a scalar' if scalar else f'shape ({size},)'}; got shape {arr.shape}")
    return arr.astype(dtype, copy=False).reshape(-1)


def _python_descent(gradient: Callable[[Any], Any], function: Callable[[Any], Any] | None, lr: float,
                    x_path: np.ndarray, f_path: np.ndarray | None, scalar: bool) -> int:
    """The loop of the lesson, for arbitrary callables. Returns the number of finite updates."""
    dtype, size = x_path.dtype, x_path.shape[1]
    step = dtype.type(lr)
    # Python floats for scalar float64 paths, so the arithmetic is exactly the notebook's.
    native = scalar and dtype == np.float64
    x = float(x_path[0, 0]) if native else x_path[0].copy()
    if f_path is not None:
        f_path[0] = _evaluate("function", function, np.atleast_1d(x), scalar, dtype, size)
    for t in range(x_path.shape[0] - 1):
        g = _evaluate("gradient", gradient, np.atleast_1d(x), scalar, dtype, size)
        if native:
            x = x - lr * float(g[0])
        else:
            x = x - step * g
        x_path[t + 1] = x
        if not np.isfinite(x_path[t + 1]).all():
            return t
        if f_path is not None:
            f_path[t + 1] = _evaluate("function", function, np.atleast_1d(x), scalar, dtype, size)
            if not np.isfinite(f_path[t + 1]).all():
                return t
    return int(x_path.shape[0] - 1)
