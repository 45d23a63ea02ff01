# cython: language_level=3
"""Single-call kernels of the lessons: prediction, MSE, its gradient, the update.

Every entry point expects arrays already validated by ``gdfast.core`` / ``gdfast.descent``:
one float dtype, C-contiguous, matching shapes, finite values. Nothing here checks bounds.
"""
from cython cimport floating
from libc.math cimport isfinite

from gdfast._contract cimport LOSS_MSE, REDUCTION_MEAN
from _linear cimport dot, loss_and_gradient, use_blas
from gdfast._blas import blas_single_thread


def predict_into(const floating[:, ::1] W, const floating[:, ::1] X, floating[:, ::1] out):
    """out[...] = X @ W.T for X of shape (n_samples, n_features), W of shape (n_outputs, n_features)."""
    cdef Py_ssize_t i, j
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1], n_outputs = W.shape[0]
    with nogil:
        for i in range(n_samples):
            for j in range(n_outputs):
                out[i, j] = <floating>dot(&W[j, 0], &X[i, 0], n_features)


def mean_squared_error(const floating[::1] prediction, const floating[::1] target):
    """np.mean((prediction - target) ** 2), accumulated in double; returns a Python float."""
    cdef double result
    with nogil:
        result = _mse_impl(&prediction[0], &target[0], prediction.shape[0])
    return result


def mse_gradient_into(
    const floating[:, ::1] W,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    double[::1] residual_scratch,
    double[::1] grad_scratch,
    floating[:, ::1] out,
):
    """out[...] = 2 / Y.size * (X @ W.T - Y).T @ X; returns the MSE at W as a Python float.

    ``residual_scratch`` holds Y.size doubles and ``grad_scratch`` W.size doubles.
    """
    cdef Py_ssize_t k, size = W.shape[0] * W.shape[1]
    cdef double loss
    with blas_single_thread(floating is double and use_blas(NULL, <const double*>&X[0, 0], X.shape[0], X.shape[1],
                                                           W.shape[0])), nogil:
        loss = loss_and_gradient(
            &W[0, 0], <const floating*>NULL, &X[0, 0], &Y[0, 0], <const floating*>NULL, NULL,
            X.shape[0], X.shape[1], W.shape[0], LOSS_MSE, 0.0, REDUCTION_MEAN,
            &residual_scratch[0], &grad_scratch[0], NULL,
            <const double*>&X[0, 0] if floating is double else <const double*>NULL, NULL,
        )
        for k in range(size):
            (&out[0, 0])[k] = <floating>grad_scratch[k]
    return loss


def update_into(const floating[::1] W, const floating[::1] G, double learning_rate, floating[::1] out):
    """out[...] = W - learning_rate * G, in the arrays' own precision (as NumPy computes it)."""
    cdef Py_ssize_t k
    cdef floating lr = <floating>learning_rate
    with nogil:
        for k in range(W.shape[0]):
            out[k] = W[k] - lr * G[k]


def update_mixed_into(const double[::1] W, const float[::1] G, double learning_rate, double[::1] out):
    """out[...] = W - learning_rate * G for float64 W and a float32 step (NumPy's bits for
    ``W - lr * G`` with float32 G and a Python-float or float32 lr): the product is rounded to
    float32 (lr first cast to float32), then widened exactly and subtracted in float64."""
    cdef Py_ssize_t k
    cdef float lr = <float>learning_rate
    cdef float step
    with nogil:
        for k in range(W.shape[0]):
            step = lr * G[k]
            out[k] = W[k] - <double>step


def subtract_scalar_into(const floating[::1] W, double step, floating[::1] out):
    """out[...] = W - step, with ``step`` (a float32 or float64 value) cast to the arrays' dtype first,
    as NumPy casts a Python float (or a narrower NumPy scalar) before subtracting it."""
    cdef Py_ssize_t k
    cdef floating s = <floating>step
    with nogil:
        for k in range(W.shape[0]):
            out[k] = W[k] - s


# --- Fast paths of the public single-call functions --------------------------------------------
# gdfast.core validates in Python, which costs microseconds on the lesson's 4x4 arrays. These entry
# points take the arguments as given and do the same work only when every check passes in C:
# exact ndarray type, one float dtype (float32/float64), C-contiguous, aligned, native byte order,
# the right dimensions, non-empty, and every value finite. Whenever something does not hold they
# return None, and the caller runs the full Python validation (which raises the proper error or
# converts the input). Results equal the Python path's to the bit (same kernels, same order).
# A result that is not finite (an overflow) also gives None: the Python path then computes it
# again and issues its RuntimeWarning, so every path warns alike.

cimport numpy as cnp
from libc.stdlib cimport free, malloc

cnp.import_array()

import numpy as _np


cdef inline bint _plain(object a, int typenum):
    """a is an exact ndarray of typenum, C-contiguous, aligned, native byte order."""
    if type(a) is not _np.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_ISCARRAY_RO(arr)
            and cnp.PyArray_ISNOTSWAPPED(arr))


cdef inline int _float_type(object a):
    """NPY_DOUBLE or NPY_FLOAT for an exact ndarray of those types, else -1."""
    if type(a) is not _np.ndarray:
        return -1
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>a)
    return t if (t == cnp.NPY_DOUBLE or t == cnp.NPY_FLOAT) else -1


cdef inline bint _all_finite(const floating* a, Py_ssize_t n) noexcept nogil:
    """np.isfinite(a).all()"""
    cdef Py_ssize_t k
    cdef bint ok = True
    for k in range(n):
        ok = ok & isfinite(a[k])
    return ok


cdef inline bint _finite_array(cnp.ndarray a):
    if cnp.PyArray_TYPE(a) == cnp.NPY_DOUBLE:
        return _all_finite(<const double*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))
    return _all_finite(<const float*>cnp.PyArray_DATA(a), cnp.PyArray_SIZE(a))


cdef inline Py_ssize_t _paired_size(cnp.ndarray a, cnp.ndarray b):
    """The size of a and b when they have the same shape, are not empty and hold only finite values
    (the inputs an element-wise fast path takes), else 0."""
    cdef int nd = cnp.PyArray_NDIM(a), k
    if cnp.PyArray_NDIM(b) != nd:
        return 0
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != cnp.PyArray_DIMS(b)[k]:
            return 0
    cdef Py_ssize_t n = cnp.PyArray_SIZE(a)
    if n == 0 or not _finite_array(a) or not _finite_array(b):
        return 0
    return n


def all_finite(a):
    """``np.isfinite(a).all()`` for a C-contiguous, aligned float32/float64 ndarray, without the
    boolean temporary of a's size (the validation of every input array runs this)."""
    cdef int t = _float_type(a)
    if t < 0 or not cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>a):
        raise TypeError("all_finite needs a C-contiguous, aligned float32 or float64 ndarray")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef Py_ssize_t n = cnp.PyArray_SIZE(arr)
    cdef const void* data = cnp.PyArray_DATA(arr)
    cdef bint ok
    with nogil:
        if t == cnp.NPY_DOUBLE:
            ok = _all_finite(<const double*>data, n)
        else:
            ok = _all_finite(<const float*>data, n)
    return ok


cdef inline void _predict_impl(const floating* W, const floating* X, floating* out, Py_ssize_t n_samples,
                               Py_ssize_t n_features, Py_ssize_t n_outputs) noexcept nogil:
    """out = X @ W.T, as predict_into."""
    cdef Py_ssize_t i, j
    for i in range(n_samples):
        for j in range(n_outputs):
            out[i * n_outputs + j] = <floating>dot(W + j * n_features, X + i * n_features, n_features)


def predict_fast(W, X):
    """``gdfast.predict(W, X)`` for already-valid arrays, or None (then validate in Python)."""
    cdef int t = _float_type(W)
    if t < 0 or not _plain(W, t) or not _plain(X, t):
        return None
    cdef cnp.ndarray w = <cnp.ndarray>W, x = <cnp.ndarray>X
    cdef int xd = cnp.PyArray_NDIM(x)
    if cnp.PyArray_NDIM(w) != 2 or (xd != 1 and xd != 2):
        return None
    cdef Py_ssize_t m = cnp.PyArray_DIMS(w)[0], n = cnp.PyArray_DIMS(w)[1]
    cdef Py_ssize_t s = 1 if xd == 1 else cnp.PyArray_DIMS(x)[0]
    if m == 0 or n == 0 or s == 0 or cnp.PyArray_DIMS(x)[xd - 1] != n:
        return None
    if not _finite_array(w) or not _finite_array(x):
        return None
    cdef cnp.npy_intp dims[2]
    if xd == 1:
        dims[0] = m
    else:
        dims[0] = s
        dims[1] = m
    cdef cnp.ndarray out = cnp.PyArray_SimpleNew(xd, dims, t)
    if t == cnp.NPY_DOUBLE:
        _predict_impl(<const double*>cnp.PyArray_DATA(w), <const double*>cnp.PyArray_DATA(x),
                      <double*>cnp.PyArray_DATA(out), s, n, m)
    else:
        _predict_impl(<const float*>cnp.PyArray_DATA(w), <const float*>cnp.PyArray_DATA(x),
                      <float*>cnp.PyArray_DATA(out), s, n, m)
    if not _finite_array(out):
        return None  # overflow: the Python path warns
    return out


cdef inline double _mse_impl(const floating* p, const floating* t, Py_ssize_t n) noexcept nogil:
    """As mean_squared_error."""
    cdef Py_ssize_t k = 0
    cdef double s0 = 0.0, s1 = 0.0, d0, d1
    while k + 2 <= n:
        d0 = <double>p[k] - t[k]
        d1 = <double>p[k + 1] - t[k + 1]
        s0 += d0 * d0
        s1 += d1 * d1
        k += 2
    if k < n:
        d0 = <double>p[k] - t[k]
        s0 += d0 * d0
    return (s0 + s1) / n


def mse_fast(prediction, target):
    """``gdfast.mse(prediction, target)`` for already-valid arrays, or None."""
    cdef int t = _float_type(prediction)
    if t < 0 or not _plain(prediction, t) or not _plain(target, t):
        return None
    cdef cnp.ndarray p = <cnp.ndarray>prediction, y = <cnp.ndarray>target
    cdef Py_ssize_t n = _paired_size(p, y)
    if n == 0:
        return None
    cdef double result
    if t == cnp.NPY_DOUBLE:
        result = _mse_impl(<const double*>cnp.PyArray_DATA(p), <const double*>cnp.PyArray_DATA(y), n)
    else:
        result = _mse_impl(<const float*>cnp.PyArray_DATA(p), <const float*>cnp.PyArray_DATA(y), n)
    if not isfinite(result):
        return None  # overflow: the Python path warns
    return result


cdef inline double _mse_gradient_impl(const floating* W, const floating* X, const floating* Y, floating* out,
                                      Py_ssize_t s, Py_ssize_t n, Py_ssize_t m, double* residual,
                                      double* grad) noexcept nogil:
    """As mse_gradient_into (BLAS for large float64 batches, exactly as there)."""
    cdef Py_ssize_t k
    cdef double loss
    cdef const double* X_blas = NULL
    if floating is double:
        X_blas = X
    loss = loss_and_gradient(W, <const floating*>NULL, X, Y, <const floating*>NULL, NULL, s, n, m, LOSS_MSE, 0.0,
                             REDUCTION_MEAN, residual, grad, NULL, X_blas, NULL)
    for k in range(m * n):
        out[k] = <floating>grad[k]
    return loss


def mse_gradient_fast(W, X, Y):
    """``gdfast.mse_gradient(W, X, Y)`` for already-valid arrays, or None."""
    cdef int t = _float_type(W)
    if t < 0 or not _plain(W, t) or not _plain(X, t) or not _plain(Y, t):
        return None
    cdef cnp.ndarray w = <cnp.ndarray>W, x = <cnp.ndarray>X, y = <cnp.ndarray>Y
    cdef int xd = cnp.PyArray_NDIM(x)
    if cnp.PyArray_NDIM(w) != 2 or (xd != 1 and xd != 2) or cnp.PyArray_NDIM(y) != xd:
        return None
    cdef Py_ssize_t m = cnp.PyArray_DIMS(w)[0], n = cnp.PyArray_DIMS(w)[1]
    cdef Py_ssize_t s = 1 if xd == 1 else cnp.PyArray_DIMS(x)[0]
    if m == 0 or n == 0 or s == 0 or cnp.PyArray_DIMS(x)[xd - 1] != n or cnp.PyArray_DIMS(y)[xd - 1] != m:
        return None
    if xd == 2 and cnp.PyArray_DIMS(y)[0] != s:
        return None
    if not _finite_array(w) or not _finite_array(x) or not _finite_array(y):
        return None
    cdef cnp.npy_intp dims[2]
    dims[0] = m
    dims[1] = n
    cdef cnp.ndarray out = cnp.PyArray_SimpleNew(2, dims, t)
    cdef double* residual = <double*>malloc(s * m * sizeof(double))
    cdef double* grad = <double*>malloc(m * n * sizeof(double))
    try:
        if residual == NULL or grad == NULL:
            raise MemoryError()
        if t == cnp.NPY_DOUBLE:
            if use_blas(NULL, <const double*>cnp.PyArray_DATA(x), s, n, m):
                return None  # large float64 batches: the Python path, which pins BLAS to one thread
            _mse_gradient_impl(<const double*>cnp.PyArray_DATA(w), <const double*>cnp.PyArray_DATA(x),
                               <const double*>cnp.PyArray_DATA(y), <double*>cnp.PyArray_DATA(out), s, n, m,
                               residual, grad)
        else:
            _mse_gradient_impl(<const float*>cnp.PyArray_DATA(w), <const float*>cnp.PyArray_DATA(x),
                               <const float*>cnp.PyArray_DATA(y), <float*>cnp.PyArray_DATA(out), s, n, m,
                               residual, grad)
    finally:
        free(residual)
        free(grad)
    if not _finite_array(out):
        return None  # overflow: the Python path warns
    return out


cdef inline void _update_impl(const floating* W, const floating* G, double learning_rate, floating* out,
                              Py_ssize_t n) noexcept nogil:
    """As update_into."""
    cdef Py_ssize_t k
    cdef floating lr = <floating>learning_rate
    for k in range(n):
        out[k] = W[k] - lr * G[k]


def update_fast(W, G, learning_rate):
    """``gdfast.update(W, G, learning_rate)`` (no ``out``) for already-valid arrays and a float
    learning rate, or None."""
    if type(learning_rate) is not float:
        return None
    cdef double lr = learning_rate
    if not (isfinite(lr) and lr > 0.0):
        return None
    cdef int t = _float_type(W)
    if t < 0 or not _plain(W, t) or not _plain(G, t):
        return None
    cdef cnp.ndarray w = <cnp.ndarray>W, g = <cnp.ndarray>G
    cdef int nd = cnp.PyArray_NDIM(w)
    if nd == 0:
        return None
    cdef Py_ssize_t n = _paired_size(w, g)
    if n == 0:
        return None
    cdef cnp.ndarray out = cnp.PyArray_SimpleNew(nd, cnp.PyArray_DIMS(w), t)
    if t == cnp.NPY_DOUBLE:
        _update_impl(<const double*>cnp.PyArray_DATA(w), <const double*>cnp.PyArray_DATA(g), lr,
                     <double*>cnp.PyArray_DATA(out), n)
    else:
        _update_impl(<const float*>cnp.PyArray_DATA(w), <const float*>cnp.PyArray_DATA(g), lr,
                     <float*>cnp.PyArray_DATA(out), n)
    if not _finite_array(out):
        return None  # overflow: the Python path warns
    return out
