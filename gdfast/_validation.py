"""Input validation shared by every public function (and by ``gdfast.reference``).

Kernels check nothing, so everything they rely on is established here: one float dtype per call,
C-contiguous copies where needed, shapes, finiteness, parameter ranges. Messages name the argument,
what was expected and what was given.
"""
from __future__ import annotations

import numbers
import operator

from typing import Any

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} and dtype {a.dtype}"


def as_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, with a TypeError naming ``name`` for non-numeric input."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:  # ragged nested sequences and the like
            raise TypeError(f"{name} must be array-like of real numbers; got {type(value).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or float); got dtype {arr.dtype}"
        )
    return arr


def common_float_dtype(**arrays: np.ndarray) -> np.dtype:
    """The float dtype a call computes in: NumPy's promotion, integers and bools to float64,
    float16 to float32. Anything wider than float64 is refused rather than silently rounded."""
    dtype = np.result_type(*arrays.values())
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype not in SUPPORTED_DTYPES:
        names = ", ".join(f"{k} ({a.dtype})" for k, a in arrays.items())
        raise TypeError(f"gdfast computes in float32 or float64; cannot compute with {names}")
    return np.dtype(dtype)


def as_float(name: str, arr: np.ndarray, dtype: np.dtype, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """A C-contiguous, aligned, native-byte-order array of ``dtype`` holding ``arr``'s finite values.

    Returns ``arr`` itself when it already qualifies (callers must not write to the result).
    """
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}; got {_describe(arr)}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got {_describe(arr)}")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not out.flags.aligned:  # e.g. a view at an odd byte offset: the kernels need aligned elements
        out = out.copy()
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinity; gdfast needs finite values")
    return out


def check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    """A finite, positive float."""
    return check_real(value, name, low=0.0, low_inclusive=False)


def check_real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
               low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """``float(value)`` for a real, finite number within the given bounds; else a clear error."""
    kind = type(value)
    if kind is not int and not isinstance(value, float):  # common cases skip the (slow) ABC check
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number; got {type(value).__name__}: {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        v = float("inf")
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}; got {value!r}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}; got {value!r}")
    return v


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``int(value)`` for an integer (not a bool, not a float) within the given bounds."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer; got bool {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}: {value!r}") from None
    if low is not None and v < low:
        raise ValueError(f"{name} must be >= {low}; got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}; got {v}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """A real bool (True/False or NumPy's)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__}: {value!r}")
    return bool(value)


_NO_TARGET: Any = object()


def prepare_samples(
    W: Any, X: Any, Y: Any = _NO_TARGET
) -> tuple[np.ndarray, np.ndarray, Any, bool]:
    """Validate (W, X[, Y]) of a linear model and return them as float arrays of one dtype.

    Leave ``Y`` out for a call without targets; a ``Y`` given as None is an error like any other
    non-numeric Y.

    Returns ``(W, X2, Y2, single)`` where X2 is (n_samples, n_features), Y2 is (n_samples, n_outputs)
    (or None), and ``single`` tells whether X was one 1-D sample.
    """
    arrays = {"W": as_array("W", W), "X": as_array("X", X)}
    if Y is not _NO_TARGET:
        arrays["Y"] = as_array("Y", Y)
    dtype = common_float_dtype(**arrays)
    W = as_float("W", arrays["W"], dtype, ndim=2)
    X = as_float("X", arrays["X"], dtype, ndim=(1, 2))
    n_outputs, n_features = W.shape
    single = X.ndim == 1
    X2 = X.reshape(1, -1) if single else X
    if X2.shape[1] != n_features:
        what = "X" if single else "X's second axis"
        raise ValueError(
            f"{what} must have length n_features = W.shape[1] = {n_features}; got X of shape {X.shape}"
        )
    Y2 = None
    if Y is not _NO_TARGET:
        Y = as_float("Y", arrays["Y"], dtype, ndim=X.ndim)
        expected = (n_outputs,) if single else (X2.shape[0], n_outputs)
        if Y.shape != expected:
            raise ValueError(
                f"Y must have shape {expected} (n_outputs = W.shape[0] = {n_outputs}"
                + ("" if single else f", n_samples = X.shape[0] = {X2.shape[0]}")
                + f"); got {Y.shape}"
            )
        Y2 = Y.reshape(1, -1) if single else Y
    return W, X2, Y2, single
