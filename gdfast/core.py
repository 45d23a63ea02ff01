"""The lesson's single steps, each one compiled kernel call: prediction, MSE, gradient, update."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _kernels, _train
from ._sparse import is_sparse, prepare_sparse_samples
from ._validation import (
    as_array,
    as_float,
    check_out,
    check_same_shape,
    common_float_dtype,
    prepare_bias,
    prepare_samples,
    shape_of,
    update_operands,
)

__all__ = ["predict", "mse", "mse_gradient", "update"]


def predict(W: npt.ArrayLike, X: npt.ArrayLike, b: npt.ArrayLike | None = None) -> Any:
    """Prediction of the linear layer ``W``: ``W @ X (+ b)`` for one sample, ``X @ W.T (+ b)`` for many.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features) or (n_features,)
        Weights; 1-D for a single output (the outputs' axis is then dropped from the result).
    X : array_like, shape (n_features,) or (n_samples, n_features), or scipy.sparse CSR matrix
        One sample, or one sample per row. A CSR matrix (``csr_matrix`` or ``csr_array``; other
        formats: ``X.tocsr()``) is read entry by entry, never densified: each prediction is the sum
        of the row's stored entries times W's columns, in double, rounded once to the dtype.
    b : array_like, shape (n_outputs,), optional
        Bias (``result.b`` of :func:`gdfast.train` with ``fit_intercept=True``); a number for a 1-D W.

    Returns
    -------
    ndarray, shape (n_outputs,) or (n_samples, n_outputs)
        In the inputs' common float dtype (float32 stays float32; integers give float64); shape
        (n_samples,), or a NumPy scalar for one sample, with a 1-D W.

    Examples
    --------
    >>> import gdfast
    >>> gdfast.predict([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
    array([3., 7.])
    >>> gdfast.predict([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0], b=[0.5, -0.5])
    array([3.5, 6.5])
    >>> gdfast.predict([2.0, -1.0], [[1.0, 1.0], [3.0, 1.0]], b=0.5)   # one output: X @ w + b
    array([1.5, 5.5])
    >>> import scipy.sparse
    >>> gdfast.predict([2.0, -1.0], scipy.sparse.csr_matrix([[1.0, 0.0], [0.0, 3.0]]))
    array([ 2., -3.])
    """
    if is_sparse(X):
        W2, csr, _, vector = prepare_sparse_samples(W, X, has_y=False)
        out = np.empty((csr.shape[0], W2.shape[0]), dtype=W2.dtype)
        data, indices = csr.kernel_arrays()
        _train.csr_predict_into(W2, data, indices, csr.indptr, out)  # out = X @ W.T
        if b is not None:
            out += prepare_bias(b, W2)
        _warn_if_not_finite("predict", out)
        return out[:, 0] if vector else out
    if b is None:
        fast = _kernels.predict_fast(W, X)  # None unless the inputs are already valid arrays
        if fast is not None:
            return fast
    W2, X2, _, single, vector = prepare_samples(W, X)
    out = np.empty((X2.shape[0], W2.shape[0]), dtype=W2.dtype)
    _kernels.predict_into(W2, X2, out)
    if b is not None:
        out += prepare_bias(b, W2)  # out = X @ W.T + b
    _warn_if_not_finite("predict", out)
    if vector:
        return out[0, 0] if single else out[:, 0]
    return out[0] if single else out


def mse(prediction: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """Mean squared error ``mean((prediction - target) ** 2)`` as a Python float.

    Parameters
    ----------
    prediction, target : array_like of the same shape
        No broadcasting: mismatched shapes are an error, not a silent outer difference.

    Returns
    -------
    float
        Accumulated in double precision for float32 input too.

    Examples
    --------
    >>> import gdfast
    >>> gdfast.mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    fast = _kernels.mse_fast(prediction, target)
    if fast is not None:
        return fast
    check_same_shape(shape_of(prediction), shape_of(target))  # before any conversion
    p = as_array("prediction", prediction)
    t = as_array("target", target)
    check_same_shape(p.shape, t.shape)
    dtype = common_float_dtype(prediction=p, target=t)
    p = as_float("prediction", p, dtype).reshape(-1)
    t = as_float("target", t, dtype).reshape(-1)
    result = _kernels.mean_squared_error(p, t)
    _warn_if_not_finite("mse", result)
    return result


def mse_gradient(W: npt.ArrayLike, X: npt.ArrayLike, Y: npt.ArrayLike, b: npt.ArrayLike | None = None) -> np.ndarray:
    """Gradient of ``mse(predict(W, X, b), Y)`` with respect to ``W``.

    For one sample ``x`` this is ``2 / n_outputs * outer(W @ x + b - y, x)``; for a batch it is
    ``2 / Y.size * (X @ W.T + b - Y).T @ X`` (the loss is the mean over every sample and output).
    The gradient with respect to b is ``2 / Y.size * (X @ W.T + b - Y).sum(axis=0)``.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features) or (n_features,)
        1-D for a single output: Y is then (n_samples,) (a number for one sample).
    X : array_like, shape (n_features,) or (n_samples, n_features)
    Y : array_like, shape (n_outputs,) or (n_samples, n_outputs), matching X
    b : array_like, shape (n_outputs,), optional
        Bias of the model (a number for a 1-D W); default none.

    Returns
    -------
    ndarray, shape of W
        Same float dtype as the inputs.

    Examples
    --------
    >>> import gdfast
    >>> gdfast.mse_gradient([[1.0, 0.0]], [2.0, 1.0], [1.0])
    array([[4., 2.]])
    >>> gdfast.mse_gradient([1.0, 0.0], [[2.0, 1.0]], [1.0], b=1.0)   # 2 * (2 + 1 - 1) * [2, 1]
    array([8., 4.])
    """
    if b is None:
        fast = _kernels.mse_gradient_fast(W, X, Y)
        if fast is not None:
            return fast
    W2, X2, Y2, _, vector = prepare_samples(W, X, Y)
    if b is not None:
        Y2 = Y2 - prepare_bias(b, W2)  # X @ W.T + b - Y = X @ W.T - (Y - b)
    out = np.empty_like(W2)
    residual = np.empty(Y2.size, dtype=np.float64)
    grad = np.empty(W2.size, dtype=np.float64)
    _kernels.mse_gradient_into(W2, X2, Y2, residual, grad, out)
    _warn_if_not_finite("mse_gradient", out)
    return out[0] if vector else out


def update(W: npt.ArrayLike, G: npt.ArrayLike, learning_rate: float, out: np.ndarray | None = None) -> np.ndarray:
    """One gradient-descent step ``W - learning_rate * G``, with NumPy's dtype and bits.

    The result is what NumPy 2 computes for ``W - learning_rate * G`` (the product first), under
    its promotion rule (NEP 50): a Python ``float``/``int`` is *weak* and takes the dtype of the
    array it meets, while NumPy scalars, 0-d arrays and arrays are *strong* and promote. So a
    float32 W stays float32 with a Python-float ``learning_rate`` or ``G``, but becomes float64
    with an ``np.float64`` learning rate or a float64 G. Integer and bool W or G count as float64
    (float16 as float32), as everywhere in gdfast.

    Parameters
    ----------
    W : array_like
        Current weights. Not modified unless passed as ``out`` too.
    G : array_like or float
        Gradient of W's shape (no broadcasting), or a scalar (the lesson's simplified gradient,
        subtracted from every weight).
    learning_rate : float
        Finite and > 0; a Python number or a NumPy scalar (which then takes part in the promotion).
    out : ndarray, optional
        Where to write the result (may be ``W`` itself for an in-place step). Must have W's shape
        and the result's dtype. ``out`` may alias or overlap ``W`` and ``G`` in any way (shifted,
        strided or reversed views of one buffer): the step is computed from the old values into a
        new buffer, then copied into ``out``.

    Returns
    -------
    ndarray
        The new weights (``out`` when given; otherwise a new array sharing no memory with the
        inputs), equal to the bit to NumPy's ``W - learning_rate * G``.

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> gdfast.update([1.0, 2.0], [10.0, 20.0], 0.1)
    array([0., 0.])
    >>> W = np.array([1.0, 2.0], dtype=np.float32)
    >>> gdfast.update(W, 0.5, 0.1).dtype, gdfast.update(W, 0.5, np.float64(0.1)).dtype
    (dtype('float32'), dtype('float64'))
    """
    if out is None:
        fast = _kernels.update_fast(W, G, learning_rate)
        if fast is not None:
            return fast
    lr, w_in, g_in = update_operands(W, G, learning_rate)
    w_dtype = common_float_dtype(W=w_in)
    result_dtype: np.dtype
    if g_in.ndim == 0:
        # The scalar step is computed by Python / NumPy scalar arithmetic itself, then cast to the
        # result's dtype and subtracted, as NumPy does with ``W - step``.
        g = as_float("G", g_in.reshape(1), common_float_dtype(G=g_in))  # validates: finite
        g_scalar = float(g[0]) if type(G) in (int, float, bool) else g[0]  # weak, or a strong scalar
        with np.errstate(all="ignore"):  # an overflow gives a non-finite result: warned below
            step = lr * g_scalar
        result_dtype = np.result_type(w_dtype, step)
        w = as_float("W", w_in, result_dtype)
        target = check_out(out, w_in.shape, result_dtype)
        result = np.empty(w_in.shape, dtype=result_dtype)
        _kernels.subtract_scalar_into(w.reshape(-1), float(step), result.reshape(-1))
    else:
        step_dtype = np.result_type(lr, common_float_dtype(G=g_in))  # dtype of lr * G
        result_dtype = np.result_type(w_dtype, step_dtype)
        g = as_float("G", g_in, step_dtype)  # G, W, out: checked in the scalar branch's order
        w = as_float("W", w_in, result_dtype)
        target = check_out(out, w_in.shape, result_dtype)
        result = np.empty(w_in.shape, dtype=result_dtype)
        if step_dtype == result_dtype:
            _kernels.update_into(w.reshape(-1), g.reshape(-1), float(lr), result.reshape(-1))
        else:  # a float32 step subtracted from float64 weights
            _kernels.update_mixed_into(w.reshape(-1), g.reshape(-1), float(lr), result.reshape(-1))
    _warn_if_not_finite("update", result)
    if target is None:
        return result
    target[...] = result
    return target


def _warn_if_not_finite(name: str, result: Any) -> None:
    """Inputs are finite (validated), so a non-finite result is an overflow: say so, as NumPy does."""
    if not np.isfinite(result).all():
        warnings.warn(
            f"{name}: overflow, the result is not finite (inputs too large for "
            f"{getattr(result, 'dtype', 'float64')} arithmetic)",
            RuntimeWarning,
            stacklevel=3,
        )
