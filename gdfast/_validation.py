"""Input validation shared by every public function (and by ``gdfast.reference``).

Kernels check nothing, so everything they rely on is established here: one float dtype per call,
C-contiguous copies where needed, shapes, finiteness, parameter ranges. Messages name the argument,
what was expected and what was given.
"""
from __future__ import annotations

import numbers
import operator
import sys

from typing import Any, Mapping, NamedTuple, TypeVar

import numpy as np

from . import _kernels

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(a: np.ndarray) -> str:
    return f"shape {a.shape} and dtype {a.dtype}"


def as_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, with a clear error naming ``name`` for input gdfast cannot take.

    - A masked array with a masked element is refused (TypeError): gdfast has no missing values,
      and the data under the mask must not be used silently. One with nothing masked is taken as
      its data (``value.data``, no copy).
    - A scipy.sparse matrix or array is refused (TypeError) with what to do instead.
    - A pandas DataFrame or Series with nullable extension columns (``Int64``, ``Float64``,
      ``boolean``, ...) is converted to a NumPy float array when it holds no ``pd.NA``; with
      missing values it is refused (ValueError).
    - Anything else must give a numeric (bool, integer or float) array.
    """
    if isinstance(value, np.ndarray):
        arr = value
        if isinstance(value, np.ma.MaskedArray):
            arr = _unmasked(name, value)
    else:
        _reject_sparse(name, value)
        converted = _from_pandas(name, value)
        if converted is not None:
            arr = converted
        else:
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError) as exc:  # ragged nested sequences and the like
                raise TypeError(
                    f"{name} must be array-like of real numbers; got {type(value).__name__}: {exc}"
                ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or float); got dtype {arr.dtype}"
        )
    return arr


def _unmasked(name: str, value: np.ma.MaskedArray) -> np.ndarray:
    """The data of a masked array that has nothing masked; a TypeError if something is masked."""
    mask = np.ma.getmask(value)
    if mask is not np.ma.nomask:
        n_masked = int(np.count_nonzero(mask))
        if n_masked:
            raise TypeError(
                f"{name} is a masked array with {n_masked} masked element(s); gdfast does not support "
                f"missing values: fill them ({name}.filled(value)) or drop those samples "
                f"({name}.data would use the values under the mask)"
            )
    data: np.ndarray = np.ma.getdata(value)
    return data


def _reject_sparse(name: str, value: Any) -> None:
    """A clear TypeError for scipy.sparse input (NumPy would make a 0-d object array of it)."""
    sparse = sys.modules.get("scipy.sparse")  # scipy not imported: value cannot be a sparse matrix
    if sparse is not None and sparse.issparse(value):
        raise TypeError(
            f"{name} is a scipy.sparse {type(value).__name__} of shape {value.shape}; gdfast does not "
            f"support sparse input yet: pass {name}.toarray() if it fits in memory"
        )


def _from_pandas(name: str, value: Any) -> np.ndarray | None:
    """A pandas DataFrame/Series with extension (nullable) columns as a NumPy array, else None.

    NumPy would turn ``Int64``/``Float64`` columns into an object array; they are converted to
    float64 (float32 when every column is 32-bit float) when no value is missing.
    """
    pd = sys.modules.get("pandas")  # pandas not imported: value cannot be a pandas object
    if pd is None or not isinstance(value, (pd.DataFrame, pd.Series)):
        return None
    frame = isinstance(value, pd.DataFrame)
    columns = list(value.items()) if frame else [(value.name, value)]
    if not any(isinstance(col.dtype, pd.api.extensions.ExtensionDtype) for _, col in columns):
        return None  # plain NumPy columns: np.asarray does the right thing
    dtypes = []
    for label, col in columns:
        where = f"{name}'s column {label!r}" if frame else name
        numpy_dtype = getattr(col.dtype, "numpy_dtype", col.dtype)
        if not isinstance(numpy_dtype, np.dtype) or numpy_dtype.kind not in "biuf":
            raise TypeError(
                f"{where} must hold real numbers (bool, integer or float); got dtype {col.dtype}"
            )
        n_missing = int(col.isna().sum())
        if n_missing:
            raise ValueError(
                f"{where} has {n_missing} missing value(s) (pd.NA); gdfast does not support missing "
                f"values: fill them ({name}.fillna(...)) or drop those rows ({name}.dropna())"
            )
        dtypes.append(numpy_dtype)
    dtype = np.result_type(*dtypes)
    if dtype.kind != "f" or dtype.itemsize > 8:
        dtype = np.dtype(np.float64)
    elif dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    arr: np.ndarray = value.to_numpy(dtype=dtype)
    return arr


def shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of an array-like that has one (ndarray, DataFrame, tensor...), without converting it;
    None for objects such as lists whose shape only a conversion tells."""
    if isinstance(value, np.ndarray):
        known: tuple[int, ...] = value.shape
        return known
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(d, (int, np.integer)) for d in shape):
        return tuple(int(d) for d in shape)
    return None


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

    Returns ``arr`` itself when it already qualifies (callers must not write to the result). The
    finite check runs in a compiled loop and allocates nothing, so an already-valid array costs
    no memory; a conversion costs one array of the result's size.
    """
    if ndim is not None:
        check_ndim(name, arr.shape, ndim)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got {_describe(arr)}")
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf: reported below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not out.flags.aligned:  # e.g. a view at an odd byte offset: the kernels need aligned elements
        out = out.copy()
    if not _kernels.all_finite(out):
        if out is not arr and np.isfinite(arr).all():
            raise ValueError(
                f"{name} has values beyond the range of {dtype} (largest finite: "
                f"{np.finfo(dtype).max:.4g}), which would become infinite; pass every array as float64"
            )
        raise ValueError(f"{name} contains NaN or infinity; gdfast needs finite values")
    return out


def check_ndim(name: str, shape: tuple[int, ...], ndim: int | tuple[int, ...]) -> None:
    """A ValueError naming ``name`` unless ``len(shape)`` is (one of) ``ndim``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {want}; got shape {shape}")


def promotion_scalar(value: Any) -> Any:
    """``value`` as it takes part in NumPy's promotion: a Python float (weak) for Python numbers,
    the NumPy scalar (strong) for float32/float64 ones; other NumPy scalars become float64
    (float16 becomes float32), as integer arrays do in gdfast."""
    if isinstance(value, np.generic):
        dtype = common_float_dtype(learning_rate=np.asarray(value))
        return dtype.type(value)
    return float(value)


def check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    """A finite, positive float."""
    return check_real(value, name, low=0.0, low_inclusive=False)


def update_operands(W: Any, G: Any, learning_rate: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The checked operands of ``W - learning_rate * G``: the learning rate as it takes part in
    NumPy's promotion (:func:`promotion_scalar`), W and G as arrays (not yet converted to floats).
    W must be at least 1-D and not empty; G a scalar or of W's shape (no broadcasting)."""
    check_learning_rate(learning_rate)
    lr = promotion_scalar(learning_rate)
    w_in = as_array("W", W)
    g_in = as_array("G", G)
    if w_in.ndim == 0:
        raise ValueError(f"W must be at least 1-D; got a 0-d array {w_in!r}")
    if g_in.ndim != 0 and g_in.shape != w_in.shape:
        raise ValueError(f"G must be a scalar or have W's shape {w_in.shape}; got shape {g_in.shape}")
    if w_in.size == 0:
        raise ValueError(f"W must not be empty; got shape {w_in.shape}")
    return lr, w_in, g_in


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


_T = TypeVar("_T")


def by_name_or_instance(value: Any, kind: str, base: type[_T], names: Mapping[str, type[_T]],
                        default: type[_T]) -> _T | None:
    """The object an argument such as ``optimizer=`` or ``schedule=`` names: ``default()`` for None,
    ``value`` itself when it is a ``base`` instance, ``names[value.lower()]()`` for a name (any case;
    a ValueError naming ``kind`` and the valid names when it is unknown); None for anything else,
    for the caller to take otherwise or refuse with its own TypeError."""
    if value is None:
        return default()
    if isinstance(value, base):
        return value
    if isinstance(value, str):
        try:
            cls = names[value.lower()]
        except KeyError:
            raise ValueError(f"unknown {kind} {value!r}; valid names: {', '.join(sorted(names))}") from None
        return cls()
    return None


_NO_TARGET: Any = object()


class Samples(NamedTuple):
    """Validated (W, X, Y) of a linear model: W2 (n_outputs, n_features), X2 (n_samples, n_features),
    Y2 (n_samples, n_outputs) or None, ``single`` (X was one 1-D sample) and ``vector`` (W was 1-D:
    one output, whose results drop the output axis)."""

    W: np.ndarray
    X: np.ndarray
    Y: Any
    single: bool
    vector: bool


def prepare_samples(W: Any, X: Any, Y: Any = _NO_TARGET) -> Samples:
    """Validate (W, X[, Y]) of a linear model and return them as float arrays of one dtype.

    Leave ``Y`` out for a call without targets; a ``Y`` given as None is an error like any other
    non-numeric Y. Shapes are checked before anything is converted or copied (on the inputs' own
    ``shape`` where they have one), so a shape error costs no memory.

    W is (n_outputs, n_features), or 1-D (n_features,) for one output: Y is then (n_samples,) (a
    number for one 1-D sample), and W, Y are returned with the output axis restored.
    """
    has_y = Y is not _NO_TARGET
    _check_sample_shapes(shape_of(W), shape_of(X), shape_of(Y) if has_y else _NO_TARGET)
    arrays = {"W": as_array("W", W), "X": as_array("X", X)}
    if has_y:
        arrays["Y"] = as_array("Y", Y)
    _check_sample_shapes(arrays["W"].shape, arrays["X"].shape, arrays["Y"].shape if has_y else _NO_TARGET)
    dtype = common_float_dtype(**arrays)
    W = as_float("W", arrays["W"], dtype)
    X = as_float("X", arrays["X"], dtype)
    vector = W.ndim == 1
    single = X.ndim == 1
    W2 = W.reshape(1, -1) if vector else W
    X2 = X.reshape(1, -1) if single else X
    Y2 = None
    if has_y:
        Y = as_float("Y", arrays["Y"], dtype)
        Y2 = Y.reshape(X2.shape[0], W2.shape[0])
    return Samples(W2, X2, Y2, single, vector)


def _check_sample_shapes(W: tuple[int, ...] | None, X: tuple[int, ...] | None, Y: Any) -> None:
    """Shape rules of (W, X[, Y]); a None shape (not known yet) skips the checks that need it.
    Each message says what reshape would fix the call."""
    if W is not None:
        check_ndim("W", W, (1, 2))
        if 0 in W:
            raise ValueError(f"W must not be empty; got shape {W}")
    if X is not None:
        check_ndim("X", X, (1, 2))
        if 0 in X:
            raise ValueError(f"X must not be empty; got shape {X}")
    if W is None or X is None:
        return
    vector = len(W) == 1
    n_features = W[-1]
    n_outputs = 1 if vector else W[0]
    single = len(X) == 1
    if X[-1] != n_features:
        what = "X" if single else "X's second axis"
        hint = ""
        if not single and X[0] == n_features:
            hint = ": X looks transposed (one sample per column); pass X.T"
        raise ValueError(
            f"{what} must have length n_features = W.shape[-1] = {n_features}; got X of shape {X}{hint}"
        )
    if Y is _NO_TARGET or Y is None:
        return
    if vector:
        expected: tuple[int, ...] = () if single else (X[0],)
        if Y != expected and ((single and Y == (1,)) or (not single and Y == (X[0], 1))):
            raise ValueError(
                f"with a 1-D W (one output) Y must have shape {expected}; got {Y}: pass Y.ravel(), or W "
                "as a row, W.reshape(1, -1), for 2-D outputs"
            )
    else:
        expected = (n_outputs,) if single else (X[0], n_outputs)
        if n_outputs == 1 and Y == expected[:-1]:
            raise ValueError(
                f"Y must have shape {expected} (one output column); got {Y}: pass Y.reshape(-1, 1), or W "
                "as a 1-D array, W.ravel(), for 1-D targets"
            )
    if Y != expected:
        where = "a number" if expected == () else f"shape {expected}"
        raise ValueError(
            f"Y must have {where} (n_outputs = {n_outputs}"
            + ("" if single else f", n_samples = X.shape[0] = {X[0]}")
            + f"); got {Y}"
        )


def prepare_bias(b: Any, W: np.ndarray) -> np.ndarray:
    """``b`` of a linear model with weights W2 (n_outputs, n_features): (n_outputs,) in W's dtype (a
    number for one output). Finite; never modified."""
    bias = as_float("b", as_array("b", b), W.dtype)
    if bias.size != W.shape[0] or bias.ndim > 1:
        want = "a number or shape (1,)" if W.shape[0] == 1 else f"shape ({W.shape[0]},)"
        raise ValueError(f"b must have {want} (one bias per output, n_outputs = {W.shape[0]}); got shape "
                         f"{bias.shape}")
    out: np.ndarray = bias.reshape(W.shape[0])
    return out


def check_same_shape(p: tuple[int, ...] | None, t: tuple[int, ...] | None) -> None:
    """Raise when two known shapes (None: not known yet) of prediction and target differ."""
    if p is not None and t is not None and p != t:
        raise ValueError(f"prediction and target must have the same shape; got {p} and {t}")


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """``out`` checked to receive a result of ``shape`` and ``dtype`` (None stays None)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array; got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have W's shape {shape}; got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out must have the result's dtype {dtype}; got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def prepare_sample_weight(sample_weight: Any, X2: Any) -> np.ndarray | None:
    """Validated weights in X2's dtype; any finite weights >= 0 with one > 0 are accepted.

    They are checked in float64 and scaled by a power of two (exact) before the cast to X2's dtype,
    so weights beyond float32's range (1e39) or below it (1e-50) still work with float32 data: the
    weighted mean loss sum(w * l) / sum(w) does not change when w is scaled.
    """
    if sample_weight is None:
        return None
    n_samples = X2.shape[0]

    def check_shape(shape: tuple[int, ...]) -> None:
        check_ndim("sample_weight", shape, 1)
        if shape[0] != n_samples:
            raise ValueError(
                f"sample_weight must have shape ({n_samples},) (one weight per sample of X); got {shape}"
            )

    known = shape_of(sample_weight)
    if known is not None:  # the input's own shape, checked before any conversion
        check_shape(known)
    sw_in = as_array("sample_weight", sample_weight)
    check_shape(sw_in.shape)
    sw = as_float("sample_weight", sw_in, np.dtype(np.float64))
    n_negative = int(np.count_nonzero(sw < 0))
    if n_negative:
        raise ValueError(
            f"sample_weight must be >= 0; got {n_negative} negative weight(s), the smallest {sw.min()!r}"
        )
    top = float(sw.max())
    if top == 0.0:
        raise ValueError("sample_weight must have at least one positive weight; got only zeros")
    # sum(w) can overflow (huge weights) or 1 / sum(w) can (tiny ones): scale the largest weight
    # into [0.5, 1) when it is outside [2**-64, 2**64], for every dtype (float32's range is 2**+-126).
    if not 2.0**-64 <= top <= 2.0**64:
        sw = np.ldexp(sw, -np.frexp(top)[1])
    if sw.dtype != X2.dtype:
        sw = sw.astype(X2.dtype)
    return sw
