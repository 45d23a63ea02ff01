"""Test functions of optimisation, whose values and gradients :func:`gdfast.descend` computes in its kernel.

Each object is callable (its value at a 1-D point x, a float) and has a ``.gradient(x)`` (a float64
array); both are NumPy, the twins of the compiled objective of the same name (src/_objectives.pxd),
operation for operation. ``gdfast.descend(f.gradient, x0, function=f, ...)`` with one of them runs the
whole descent, every optimizer and schedule, in one compiled loop that never calls Python.

Examples
--------
>>> import numpy as np
>>> import gdfast
>>> from gdfast.functions import Rosenbrock
>>> f = Rosenbrock()
>>> path = gdfast.descend(f.gradient, [-1.5, 2.0], function=f, learning_rate=0.01, num_iterations=20_000,
...                       optimizer="adam", grad_tol=1e-8, record_every=1000)
>>> path.status, path.x.shape == (len(path.steps), 2), path.f.shape == path.steps.shape
('converged', True, True)
>>> bool(np.allclose(path.x[-1], [1.0, 1.0], atol=1e-6)), float(path.f[-1]) < 1e-12
(True, True)
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ._contract import ObjectiveCode
from ._validation import as_array, check_ndim

__all__ = [
    "Objective", "QuadraticForm", "Rosenbrock", "Beale", "Himmelblau", "Booth", "Rastrigin", "StyblinskiTang",
]

_NO_PARAMS = np.empty(0, dtype=np.float64)
_NO_PARAMS.flags.writeable = False


class Objective:
    """A function of a 1-D point x with its gradient, the twin of a compiled objective.

    Subclasses set ``_code`` (their ``ObjectiveCode``, src/gdfast/_contract.pxd), ``_min_dim`` and
    ``_fixed_dim`` (None: any dimension from ``_min_dim`` on), and define ``_value`` and ``_gradient`` on
    a checked float64 point. Only the classes of this module run in :func:`gdfast.descend`'s kernel: a
    subclass of them runs its own Python methods in the Python loop.

    Examples
    --------
    >>> from gdfast.functions import Booth, Objective
    >>> f = Booth()
    >>> isinstance(f, Objective), f([1.0, 3.0])
    (True, 0.0)
    >>> f([1.0, 2.0, 3.0])
    Traceback (most recent call last):
        ...
    ValueError: x must have 2 coordinates for Booth(); got 3
    """

    _code: ClassVar[ObjectiveCode]
    _min_dim: ClassVar[int] = 1
    _fixed_dim: ClassVar[int | None] = None

    def check_point(self, x: Any, name: str = "x") -> np.ndarray:
        """``x`` as a 1-D float64 array of a dimension this function is defined for (a ValueError
        naming ``name`` otherwise); the array given when it already is one (not to be written to)."""
        arr = as_array(name, x)
        check_ndim(name, arr.shape, 1)
        self.check_dimension(arr.shape[0], name)
        return np.asarray(arr, dtype=np.float64)

    def check_dimension(self, n: int, name: str = "x") -> None:
        """A ValueError naming ``name`` unless this function is defined on points of ``n`` coordinates."""
        if self._fixed_dim is not None and n != self._fixed_dim:
            raise ValueError(f"{name} must have {self._fixed_dim} coordinates for {self!r}; got {n}")
        if n < self._min_dim:
            raise ValueError(f"{name} must have at least {self._min_dim} coordinates for {self!r}; got {n}")

    def kernel_params(self, n: int) -> np.ndarray:
        """The compiled objective's parameters for points of ``n`` coordinates (float64, read-only)."""
        self.check_dimension(n)
        return _NO_PARAMS

    def __call__(self, x: Any) -> float:
        """The value at x (a 1-D point), a float."""
        return float(self._value(self.check_point(x)))

    def gradient(self, x: Any) -> np.ndarray:
        """The gradient at x (a 1-D point): a new float64 array of x's shape."""
        return self._gradient(self.check_point(x))

    def _value(self, x: np.ndarray) -> Any:
        raise NotImplementedError

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class QuadraticForm(Objective):
    """``f(x) = 0.5 x'Ax + b'x``, gradient ``Ax + b``, for a symmetric n x n matrix A.

    With A positive definite the one minimum is at ``x* = -A^{-1} b``, where
    ``f(x*) = -0.5 b'A^{-1}b``; the condition number of A sets how hard it is for gradient descent
    (SGD's stable learning rates are below 2 / largest eigenvalue).

    Parameters
    ----------
    A : array_like, shape (n, n)
        Finite and symmetric (to 1e-12 relative to its largest entry; it is then stored as
        ``(A + A.T) / 2``, which is A itself when A is exactly symmetric). Copied.
    b : array_like, shape (n,), optional
        Finite; zeros by default. Copied.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.functions import QuadraticForm
    >>> f = QuadraticForm([[3.0, 1.0], [1.0, 2.0]], [-1.0, 4.0])
    >>> x_star = np.linalg.solve(f.A, -f.b)       # the minimum
    >>> x_star.round(6).tolist(), round(f(x_star), 6), float(np.abs(f.gradient(x_star)).max()) < 1e-15
    ([1.2, -2.6], -5.8, True)
    >>> f([1.0, 0.0])                               # 0.5 * 3 - 1
    0.5
    """

    _code = ObjectiveCode.OBJ_QUADRATIC_FORM

    def __init__(self, A: Any, b: Any = None) -> None:
        a = as_array("A", A)
        if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
            raise ValueError(f"A must be a square, non-empty 2-D matrix (n, n); got shape {a.shape}")
        a = np.array(a, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("A contains NaN or infinity; it must be finite")
        scale = float(np.abs(a).max())
        asym = float(np.abs(a - a.T).max())
        if asym > 1e-12 * scale:
            raise ValueError(
                f"A must be symmetric (the gradient Ax + b is that of 0.5 x'Ax + b'x only then); "
                f"max |A - A.T| = {asym:.3g}: pass (A + A.T) / 2"
            )
        a = 0.5 * (a + a.T)
        n = a.shape[0]
        if b is None:
            vec = np.zeros(n)
        else:
            vec_in = as_array("b", b)
            if vec_in.shape != (n,):
                raise ValueError(f"b must have shape ({n},) to match A {a.shape}; got shape {vec_in.shape}")
            vec = np.array(vec_in, dtype=np.float64)
            if not np.isfinite(vec).all():
                raise ValueError("b contains NaN or infinity; it must be finite")
        a.flags.writeable = False
        vec.flags.writeable = False
        self._A: np.ndarray = a
        self._b: np.ndarray = vec
        params = np.concatenate([a.reshape(-1), vec])
        params.flags.writeable = False
        self._params = params
        self._fixed_dim_value = n

    @property
    def A(self) -> np.ndarray:
        """The matrix (read-only)."""
        return self._A

    @property
    def b(self) -> np.ndarray:
        """The linear term (read-only)."""
        return self._b

    def check_dimension(self, n: int, name: str = "x") -> None:
        if n != self._fixed_dim_value:
            raise ValueError(f"{name} must have {self._fixed_dim_value} coordinates for this QuadraticForm "
                             f"(A is {self._fixed_dim_value} x {self._fixed_dim_value}); got {n}")

    def kernel_params(self, n: int) -> np.ndarray:
        self.check_dimension(n)
        return self._params

    def _value(self, x: np.ndarray) -> Any:
        # 0.5 * (x @ (A @ x)) + b @ x, each product summed in index order as the kernel does
        ax = _rowwise_dot(self._A, x)
        return 0.5 * _ordered_sum(x * ax) + _ordered_sum(self._b * x)

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        g: np.ndarray = _rowwise_dot(self._A, x) + self._b
        return g

    def __repr__(self) -> str:
        return f"QuadraticForm(A={self._A.tolist()!r}, b={self._b.tolist()!r})"


class Rosenbrock(Objective):
    """Rosenbrock's valley, N-D (a = 1, b = 100): ``f(x) = sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2``.

    Gradient: ``g[i] = -400 x[i] (x[i+1] - x[i]**2) - 2 (1 - x[i])`` (i < n - 1) plus
    ``200 (x[i] - x[i-1]**2)`` (i > 0). Minimum 0 at ``x = (1, ..., 1)``; for 4 <= n <= 7 there is also
    a local minimum near ``(-1, 1, ..., 1)``. Needs n >= 2.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.functions import Rosenbrock
    >>> f = Rosenbrock()
    >>> f([1.0, 1.0]), f(np.ones(5)), float(np.abs(f.gradient(np.ones(5))).max())
    (0.0, 0.0, 0.0)
    >>> f([0.0, 0.0]), f.gradient([0.0, 0.0]).tolist()
    (1.0, [-2.0, 0.0])
    """

    _code = ObjectiveCode.OBJ_ROSENBROCK
    _min_dim = 2

    def _value(self, x: np.ndarray) -> Any:
        u = x[1:] - x[:-1] * x[:-1]
        v = 1.0 - x[:-1]
        return _ordered_sum(100.0 * (u * u) + v * v)

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        u = x[1:] - x[:-1] * x[:-1]
        g = np.zeros_like(x)
        g[:-1] = -400.0 * x[:-1] * u - 2.0 * (1.0 - x[:-1])
        g[1:] += 200.0 * u
        return g


class Beale(Objective):
    """Beale's function, 2-D: ``f(x, y) = (1.5 - x + xy)**2 + (2.25 - x + xy**2)**2 + (2.625 - x + xy**3)**2``.

    Minimum 0 at ``(3, 0.5)``; sharp ridges along the axes (f grows like y**6 away from it).

    Examples
    --------
    >>> from gdfast.functions import Beale
    >>> f = Beale()
    >>> f([3.0, 0.5]), bool((f.gradient([3.0, 0.5]) == 0).all())
    (0.0, True)
    >>> f([0.0, 0.0])                   # 1.5**2 + 2.25**2 + 2.625**2
    14.203125
    """

    _code = ObjectiveCode.OBJ_BEALE
    _min_dim = 2
    _fixed_dim = 2

    def _value(self, p: np.ndarray) -> Any:
        x, y = p[0], p[1]
        y2 = y * y
        t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * (y2 * y)
        return t1 * t1 + t2 * t2 + t3 * t3

    def _gradient(self, p: np.ndarray) -> np.ndarray:
        x, y = p[0], p[1]
        y2 = y * y
        y3 = y2 * y
        t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y2, 2.625 - x + x * y3
        return np.array([
            2.0 * t1 * (y - 1.0) + 2.0 * t2 * (y2 - 1.0) + 2.0 * t3 * (y3 - 1.0),
            2.0 * t1 * x + 2.0 * t2 * (2.0 * x * y) + 2.0 * t3 * (3.0 * x * y2),
        ])


class Himmelblau(Objective):
    """Himmelblau's function, 2-D: ``f(x, y) = (x**2 + y - 11)**2 + (x + y**2 - 7)**2``.

    Four minima, all 0: ``(3, 2)``, ``(-2.805118, 3.131312)``, ``(-3.779310, -3.283186)`` and
    ``(3.584428, -1.848126)``; a local maximum (181.617) at ``(-0.270845, -0.923039)``.

    Examples
    --------
    >>> from gdfast.functions import Himmelblau
    >>> f = Himmelblau()
    >>> f([3.0, 2.0]), f.gradient([3.0, 2.0]).tolist()
    (0.0, [0.0, 0.0])
    >>> [round(f(p), 9) for p in ([-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126])]
    [0.0, 0.0, 0.0]
    """

    _code = ObjectiveCode.OBJ_HIMMELBLAU
    _min_dim = 2
    _fixed_dim = 2

    def _value(self, p: np.ndarray) -> Any:
        x, y = p[0], p[1]
        u, v = x * x + y - 11.0, x + y * y - 7.0
        return u * u + v * v

    def _gradient(self, p: np.ndarray) -> np.ndarray:
        x, y = p[0], p[1]
        u, v = x * x + y - 11.0, x + y * y - 7.0
        return np.array([4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v])


class Booth(Objective):
    """Booth's function, 2-D: ``f(x, y) = (x + 2y - 7)**2 + (2x + y - 5)**2``.

    A convex quadratic (Hessian [[10, 8], [8, 10]]): minimum 0 at ``(1, 3)``.

    Examples
    --------
    >>> from gdfast.functions import Booth
    >>> f = Booth()
    >>> f([1.0, 3.0]), f.gradient([1.0, 3.0]).tolist()
    (0.0, [0.0, 0.0])
    >>> f([0.0, 0.0])
    74.0
    """

    _code = ObjectiveCode.OBJ_BOOTH
    _min_dim = 2
    _fixed_dim = 2

    def _value(self, p: np.ndarray) -> Any:
        x, y = p[0], p[1]
        u, v = x + 2.0 * y - 7.0, 2.0 * x + y - 5.0
        return u * u + v * v

    def _gradient(self, p: np.ndarray) -> np.ndarray:
        x, y = p[0], p[1]
        u, v = x + 2.0 * y - 7.0, 2.0 * x + y - 5.0
        return np.array([2.0 * u + 4.0 * v, 4.0 * u + 2.0 * v])


class Rastrigin(Objective):
    """Rastrigin's function, N-D (A = 10): ``f(x) = 10 n + sum_i x[i]**2 - 10 cos(2 pi x[i])``.

    Gradient ``2 x + 20 pi sin(2 pi x)``. Global minimum 0 at ``x = 0``; a local minimum near every
    integer point, which traps plain gradient descent.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.functions import Rastrigin
    >>> f = Rastrigin()
    >>> f(np.zeros(3)), f.gradient(np.zeros(3)).tolist()
    (0.0, [0.0, 0.0, 0.0])
    >>> f([1.0, 0.0])                   # 20 + 1 - 10 cos(2 pi) - 10 cos(0)
    1.0
    """

    _code = ObjectiveCode.OBJ_RASTRIGIN

    def _value(self, x: np.ndarray) -> Any:
        return 10.0 * x.shape[0] + _ordered_sum(x * x - 10.0 * np.cos(2.0 * np.pi * x))

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        g: np.ndarray = 2.0 * x + 20.0 * np.pi * np.sin(2.0 * np.pi * x)
        return g


class StyblinskiTang(Objective):
    """The Styblinski-Tang function, N-D: ``f(x) = 0.5 sum_i x[i]**4 - 16 x[i]**2 + 5 x[i]``.

    Gradient ``2 x**3 - 16 x + 2.5``. Global minimum ``-39.16616570377142 n`` at
    ``x[i] = -2.903534027771178`` (the smaller root of ``4 x**3 - 32 x + 5``) in every coordinate; each
    coordinate also has a local minimum at 2.746803.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.functions import StyblinskiTang
    >>> f = StyblinskiTang()
    >>> x_star = np.full(3, -2.903534027771178)
    >>> round(f(x_star) / 3, 10), float(np.abs(f.gradient(x_star)).max()) < 1e-12
    (-39.1661657038, True)
    """

    _code = ObjectiveCode.OBJ_STYBLINSKI_TANG

    def _value(self, x: np.ndarray) -> Any:
        x2 = x * x
        return 0.5 * _ordered_sum((x2 * x2 - 16.0 * x2) + 5.0 * x)

    def _gradient(self, x: np.ndarray) -> np.ndarray:
        g: np.ndarray = 2.0 * (x * x * x) - 16.0 * x + 2.5
        return g


def _ordered_sum(terms: np.ndarray) -> float:
    """The terms summed one after the other from 0.0, as the kernel's loops do (np.sum adds pairwise)."""
    return float(np.cumsum(terms)[-1]) if terms.size else 0.0


def _rowwise_dot(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A @ x with each row's products summed in index order (the kernel's loop; BLAS may reorder)."""
    return np.cumsum(A * x, axis=1)[:, -1]
