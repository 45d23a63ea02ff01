# cython: language_level=3
"""Single-call kernels of the lessons: prediction, MSE, its gradient, the update, 1-D quadratic descent.

Every entry point expects arrays already validated by ``gdfast.core`` / ``gdfast.descent``:
one float dtype, C-contiguous, matching shapes, finite values. Nothing here checks bounds.
"""
from cython cimport floating
from libc.math cimport isfinite

from _linear cimport LOSS_MSE, dot, loss_and_gradient


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
    cdef Py_ssize_t k, n = prediction.shape[0]
    cdef double s0 = 0.0, s1 = 0.0, d0, d1
    with nogil:
        k = 0
        while k + 2 <= n:
            d0 = <double>prediction[k] - target[k]
            d1 = <double>prediction[k + 1] - target[k + 1]
            s0 += d0 * d0
            s1 += d1 * d1
            k += 2
        if k < n:
            d0 = <double>prediction[k] - target[k]
            s0 += d0 * d0
    return (s0 + s1) / n


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
    with nogil:
        loss = loss_and_gradient(
            &W[0, 0], <const floating*>NULL, &X[0, 0], &Y[0, 0], <const floating*>NULL, NULL,
            X.shape[0], X.shape[1], W.shape[0], LOSS_MSE, 0.0,
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


def update_scalar_into(const floating[::1] W, double gradient, double learning_rate, floating[::1] out):
    """out[...] = W - learning_rate * gradient for a scalar gradient (the lesson's simplified one)."""
    cdef Py_ssize_t k
    cdef floating step = <floating>learning_rate * <floating>gradient
    with nogil:
        for k in range(W.shape[0]):
            out[k] = W[k] - step


def descend_quadratic_into(
    double a,
    double b,
    double c,
    double learning_rate,
    floating[:, ::1] x_path,
    floating[:, ::1] f_path,
    bint with_function,
):
    """Gradient descent on f(x) = a*x**2 + b*x + c, element-wise, from x_path[0].

    For t in 0..T-1: x_path[t+1] = x_path[t] - learning_rate * (2*a*x_path[t] + b), each expression
    evaluated in the order Python evaluates it, so the path equals a plain Python loop to the bit.
    When ``with_function`` is true, f_path[t] = a*x**2 + b*x + c along the path.
    Stops at the first update that gives a non-finite x or f; returns the number of updates kept.
    """
    cdef Py_ssize_t t, k, n_done = 0, n_steps = x_path.shape[0] - 1, dim = x_path.shape[1]
    cdef floating fa = <floating>a, fb = <floating>b, fc = <floating>c
    cdef floating two_a = <floating>2 * fa, lr = <floating>learning_rate
    cdef floating x
    cdef bint finite = True
    with nogil:
        if with_function:
            for k in range(dim):
                x = x_path[0, k]
                f_path[0, k] = fa * (x * x) + fb * x + fc
        for t in range(n_steps):
            for k in range(dim):
                x = x_path[t, k]
                x = x - lr * (two_a * x + fb)
                x_path[t + 1, k] = x
                finite = finite and isfinite(x)
                if with_function:
                    f_path[t + 1, k] = fa * (x * x) + fb * x + fc
                    finite = finite and isfinite(f_path[t + 1, k])
            if not finite:
                break
            n_done = t + 1
    return n_done
