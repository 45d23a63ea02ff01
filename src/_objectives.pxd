# cython: language_level=3
"""The objectives of ``gdfast.descend``'s compiled loop: one value and one gradient per function.

Each pair is the twin of a class of gdfast/functions.py, whose docstring has the formula and the
known minima; the NumPy line above each loop is that class's own arithmetic, operation for operation
(``x`` the point, ``n`` its dimension, ``g`` the gradient, element-wise). ``objective_value`` and
``objective_gradient`` dispatch on an ``ObjectiveCode`` (src/gdfast/_contract.pxd); the loop in
src/_train.pyx calls them with a constant code, so the compiler can drop the dispatch.

``OBJ_CALLBACK`` is a user's C function (a ``scipy.LowLevelCallable``, signature
``int (intptr_t n, const double *x, double *out, void *user_data)``): it returns 0 on success, and any
other value ends the run as diverged.

Everything here is ``noexcept nogil``, in double, and checks nothing (dimensions and parameters are
validated in gdfast/functions.py). ``params`` holds an objective's parameters: for
``OBJ_QUADRATIC_FORM`` the n x n matrix A (row-major) then b (n values); unused by the others.
"""
from libc.math cimport M_PI, cos, sin
from libc.stdint cimport intptr_t

from gdfast._contract cimport (
    OBJ_BEALE, OBJ_BOOTH, OBJ_CALLBACK, OBJ_HIMMELBLAU, OBJ_QUADRATIC_FORM, OBJ_RASTRIGIN, OBJ_ROSENBROCK,
    OBJ_STYBLINSKI_TANG,
)

# A user's C function: the gradient (out: n values) or the value (out: 1 value) at x.
ctypedef int (*objective_callback)(intptr_t n, const double* x, double* out, void* user_data) noexcept nogil


cdef struct Callbacks:
    objective_callback gradient
    void* gradient_data
    objective_callback value        # NULL: no value function
    void* value_data


# --- QuadraticForm(A, b): 0.5 x'Ax + b'x -------------------------------------------------------------

cdef inline double quadratic_form_value(const double* params, Py_ssize_t n, const double* x) noexcept nogil:
    """0.5 * (x @ (A @ x)) + b @ x, each product summed in index order."""
    cdef const double* b = params + n * n
    cdef double quad = 0.0, lin = 0.0, row
    cdef Py_ssize_t i, j
    for i in range(n):
        row = 0.0
        for j in range(n):
            row = row + params[i * n + j] * x[j]          # (A @ x)[i]
        quad = quad + x[i] * row
        lin = lin + b[i] * x[i]
    return 0.5 * quad + lin


cdef inline void quadratic_form_gradient(const double* params, Py_ssize_t n, const double* x, double* g) noexcept nogil:
    """g = A @ x + b."""
    cdef const double* b = params + n * n
    cdef double row
    cdef Py_ssize_t i, j
    for i in range(n):
        row = 0.0
        for j in range(n):
            row = row + params[i * n + j] * x[j]
        g[i] = row + b[i]


# --- Rosenbrock(): sum_i 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2, i < n - 1 -------------------------

cdef inline double rosenbrock_value(Py_ssize_t n, const double* x) noexcept nogil:
    """np.sum(100 * (x[1:] - x[:-1]*x[:-1])**2 + (1 - x[:-1])**2), summed in index order."""
    cdef double s = 0.0, u, v
    cdef Py_ssize_t i
    for i in range(n - 1):
        u = x[i + 1] - x[i] * x[i]
        v = 1.0 - x[i]
        s = s + (100.0 * (u * u) + v * v)
    return s


cdef inline void rosenbrock_gradient(Py_ssize_t n, const double* x, double* g) noexcept nogil:
    """u = x[1:] - x[:-1]*x[:-1]; g[:-1] = -400 * x[:-1] * u - 2 * (1 - x[:-1]); g[-1] = 0;
    g[1:] += 200 * u."""
    cdef double u
    cdef Py_ssize_t i
    g[n - 1] = 0.0
    for i in range(n - 1):
        u = x[i + 1] - x[i] * x[i]
        g[i] = -400.0 * x[i] * u - 2.0 * (1.0 - x[i])
    for i in range(n - 1):
        u = x[i + 1] - x[i] * x[i]
        g[i + 1] = g[i + 1] + 200.0 * u


# --- Beale(): (1.5 - x + xy)**2 + (2.25 - x + xy**2)**2 + (2.625 - x + xy**3)**2 ------------------------

cdef inline double beale_value(const double* p) noexcept nogil:
    """t1, t2, t3 = 1.5 - x + x*y, 2.25 - x + x*(y*y), 2.625 - x + x*(y*y*y); t1*t1 + t2*t2 + t3*t3."""
    cdef double x = p[0], y = p[1]
    cdef double y2 = y * y
    cdef double t1 = 1.5 - x + x * y, t2 = 2.25 - x + x * y2, t3 = 2.625 - x + x * (y2 * y)
    return t1 * t1 + t2 * t2 + t3 * t3


cdef inline void beale_gradient(const double* p, double* g) noexcept nogil:
    """g = [2*t1*(y - 1) + 2*t2*(y*y - 1) + 2*t3*(y*y*y - 1),
             2*t1*x + 2*t2*(2*x*y) + 2*t3*(3*x*(y*y))]."""
    cdef double x = p[0], y = p[1]
    cdef double y2 = y * y
    cdef double y3 = y2 * y
    cdef double t1 = 1.5 - x + x * y, t2 = 2.25 - x + x * y2, t3 = 2.625 - x + x * y3
    g[0] = 2.0 * t1 * (y - 1.0) + 2.0 * t2 * (y2 - 1.0) + 2.0 * t3 * (y3 - 1.0)
    g[1] = 2.0 * t1 * x + 2.0 * t2 * (2.0 * x * y) + 2.0 * t3 * (3.0 * x * y2)


# --- Himmelblau(): (x**2 + y - 11)**2 + (x + y**2 - 7)**2 ------------------------------------------------

cdef inline double himmelblau_value(const double* p) noexcept nogil:
    """u, v = x*x + y - 11, x + y*y - 7; u*u + v*v."""
    cdef double x = p[0], y = p[1]
    cdef double u = x * x + y - 11.0, v = x + y * y - 7.0
    return u * u + v * v


cdef inline void himmelblau_gradient(const double* p, double* g) noexcept nogil:
    """g = [4*x*u + 2*v, 2*u + 4*y*v]."""
    cdef double x = p[0], y = p[1]
    cdef double u = x * x + y - 11.0, v = x + y * y - 7.0
    g[0] = 4.0 * x * u + 2.0 * v
    g[1] = 2.0 * u + 4.0 * y * v


# --- Booth(): (x + 2y - 7)**2 + (2x + y - 5)**2 ------------------------------------------------------------

cdef inline double booth_value(const double* p) noexcept nogil:
    """u, v = x + 2*y - 7, 2*x + y - 5; u*u + v*v."""
    cdef double x = p[0], y = p[1]
    cdef double u = x + 2.0 * y - 7.0, v = 2.0 * x + y - 5.0
    return u * u + v * v


cdef inline void booth_gradient(const double* p, double* g) noexcept nogil:
    """g = [2*u + 4*v, 4*u + 2*v]."""
    cdef double x = p[0], y = p[1]
    cdef double u = x + 2.0 * y - 7.0, v = 2.0 * x + y - 5.0
    g[0] = 2.0 * u + 4.0 * v
    g[1] = 4.0 * u + 2.0 * v


# --- Rastrigin(): 10 n + sum_i x[i]**2 - 10 cos(2 pi x[i]) -----------------------------------------------

cdef inline double rastrigin_value(Py_ssize_t n, const double* x) noexcept nogil:
    """10 * n + np.sum(x*x - 10 * np.cos(2 * np.pi * x)), summed in index order."""
    cdef double s = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        s = s + (x[i] * x[i] - 10.0 * cos(2.0 * M_PI * x[i]))
    return 10.0 * <double>n + s


cdef inline void rastrigin_gradient(Py_ssize_t n, const double* x, double* g) noexcept nogil:
    """g = 2*x + 20 * np.pi * np.sin(2 * np.pi * x)."""
    cdef Py_ssize_t i
    for i in range(n):
        g[i] = 2.0 * x[i] + 20.0 * M_PI * sin(2.0 * M_PI * x[i])


# --- StyblinskiTang(): 0.5 * sum_i x[i]**4 - 16 x[i]**2 + 5 x[i] ------------------------------------------

cdef inline double styblinski_tang_value(Py_ssize_t n, const double* x) noexcept nogil:
    """0.5 * np.sum((x2*x2 - 16*x2) + 5*x) with x2 = x*x, summed in index order."""
    cdef double s = 0.0, x2
    cdef Py_ssize_t i
    for i in range(n):
        x2 = x[i] * x[i]
        s = s + ((x2 * x2 - 16.0 * x2) + 5.0 * x[i])
    return 0.5 * s


cdef inline void styblinski_tang_gradient(Py_ssize_t n, const double* x, double* g) noexcept nogil:
    """g = 2 * x*x*x - 16 * x + 2.5."""
    cdef Py_ssize_t i
    for i in range(n):
        g[i] = 2.0 * (x[i] * x[i] * x[i]) - 16.0 * x[i] + 2.5


# --- the dispatch ---------------------------------------------------------------------------------------

cdef inline int objective_value(int kind, const double* params, const Callbacks* cb, Py_ssize_t n,
                                const double* x, double* f) noexcept nogil:
    """f[0] = the objective at x; returns 0, or a callback's non-zero code."""
    if kind == OBJ_QUADRATIC_FORM:
        f[0] = quadratic_form_value(params, n, x)
    elif kind == OBJ_ROSENBROCK:
        f[0] = rosenbrock_value(n, x)
    elif kind == OBJ_BEALE:
        f[0] = beale_value(x)
    elif kind == OBJ_HIMMELBLAU:
        f[0] = himmelblau_value(x)
    elif kind == OBJ_BOOTH:
        f[0] = booth_value(x)
    elif kind == OBJ_RASTRIGIN:
        f[0] = rastrigin_value(n, x)
    elif kind == OBJ_STYBLINSKI_TANG:
        f[0] = styblinski_tang_value(n, x)
    else:  # OBJ_CALLBACK
        return cb.value(<intptr_t>n, x, f, cb.value_data)
    return 0


cdef inline int objective_gradient(int kind, const double* params, const Callbacks* cb, Py_ssize_t n,
                                   const double* x, double* g) noexcept nogil:
    """g = the objective's gradient at x; returns 0, or a callback's non-zero code."""
    if kind == OBJ_QUADRATIC_FORM:
        quadratic_form_gradient(params, n, x, g)
    elif kind == OBJ_ROSENBROCK:
        rosenbrock_gradient(n, x, g)
    elif kind == OBJ_BEALE:
        beale_gradient(x, g)
    elif kind == OBJ_HIMMELBLAU:
        himmelblau_gradient(x, g)
    elif kind == OBJ_BOOTH:
        booth_gradient(x, g)
    elif kind == OBJ_RASTRIGIN:
        rastrigin_gradient(n, x, g)
    elif kind == OBJ_STYBLINSKI_TANG:
        styblinski_tang_gradient(n, x, g)
    else:  # OBJ_CALLBACK
        return cb.gradient(<intptr_t>n, x, g, cb.gradient_data)
    return 0
