# cython: language_level=3
"""Inline building blocks shared by the gdfast kernels.

Every function here is ``noexcept nogil`` and checks nothing: callers pass valid, C-contiguous
buffers of the stated sizes (validated in Python, see ``gdfast/_validation.py``). Sums are
accumulated in double for float32 and float64 alike, with four partial sums combined in a fixed
order, so results do not depend on threads or machines. The one exception is asked for by name:
``float32_loss_and_gradient``, the products of ``accumulate="float32"`` summed in float32 by BLAS.
"""
from cython cimport floating
from libc.stdint cimport int32_t, int64_t
from libc.math cimport exp, fabs, log, log1p, sqrt
from scipy.linalg.cython_blas cimport dgemm, sgemm, sgemv

from gdfast._contract cimport REDUCTION_MEAN, REDUCTION_SAMPLE_MEAN  # enum ReductionCode
from gdfast._contract cimport (  # loss kinds (enum LossCode)
    LOSS_EPSILON_INSENSITIVE, LOSS_HINGE, LOSS_HUBER, LOSS_LOG, LOSS_MAE, LOSS_MSE, LOSS_MULTINOMIAL,
    LOSS_PERCEPTRON, LOSS_SQUARED_HINGE,
)

# Full-batch products with at least this many multiply-adds (n_samples * n_features * n_outputs)
# call BLAS dgemm instead of the loops below (see benchmarks/ and the README); in training, batches
# that ``use_blocks`` takes are summed in blocks instead, never by dgemm.
cdef enum:
    BLAS_MIN_WORK = 2048

# Batches of at least BLOCKED_MIN_ROWS rows and at most BLOCKED_MAX_OUTPUTS outputs (full batches and
# large mini-batches) are summed in fixed blocks of BLOCK_ROWS consecutive batch rows (see
# ``block_partial_into``): one pass over the data per step, the blocks computed by any number of
# threads, and the same bits for every thread count and machine. dgemm stays for many outputs.
cdef enum:
    BLOCK_ROWS = 4096
    BLOCKED_MIN_ROWS = 2 * BLOCK_ROWS
    BLOCKED_MAX_OUTPUTS = 4

# GDFAST_BLAS=0 in the environment: never call BLAS, so every result comes from the portable loops
# below and is the same to the bit on every machine (BLAS's dgemm picks CPU-specific kernels at run
# time: OpenBLAS on AVX-512 and on SSE3 sums in different orders). Read once, at the first call
# (gdfast/__init__.py checks its value at import); unset or "1": BLAS for large full batches.
# Racing first calls from several threads all compute and store the same value.
cdef extern from *:
    """
    #include <stdlib.h>
    static int gdfast_blas_allowed_cache = -1;
    static int gdfast_blas_allowed(void) {
        int allowed = gdfast_blas_allowed_cache;
        if (allowed < 0) {
            const char *value = getenv("GDFAST_BLAS");
            allowed = !(value != NULL && value[0] == '0' && value[1] == '\\0');
            gdfast_blas_allowed_cache = allowed;
        }
        return allowed;
    }
    """
    bint gdfast_blas_allowed() noexcept nogil


# A hint to the CPU to start loading the cache line at an address (no effect on any result).
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define gdfast_prefetch(address) __builtin_prefetch((const void*)(address))
    #else
    #define gdfast_prefetch(address) ((void)0)
    #endif
    """
    void gdfast_prefetch(const void* address) noexcept nogil

# Rows ahead of the one being summed whose data block_partial_into asks the CPU to load.
cdef enum:
    PREFETCH_ROWS = 4


cdef inline double dot(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """np.dot(a, b), accumulated in double."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k = 0
    while k + 4 <= n:
        s0 += <double>a[k] * b[k]
        s1 += <double>a[k + 1] * b[k + 1]
        s2 += <double>a[k + 2] * b[k + 2]
        s3 += <double>a[k + 3] * b[k + 3]
        k += 4
    while k < n:
        s0 += <double>a[k] * b[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef inline void axpy_into_double(double alpha, const floating* x, double* y, Py_ssize_t n) noexcept nogil:
    """y += alpha * x, with y in double."""
    cdef Py_ssize_t k
    for k in range(n):
        y[k] += alpha * x[k]


cdef inline double sum_of_squares(const double* x, Py_ssize_t n) noexcept nogil:
    """np.dot(x, x)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k = 0
    while k + 4 <= n:
        s0 += x[k] * x[k]
        s1 += x[k + 1] * x[k + 1]
        s2 += x[k + 2] * x[k + 2]
        s3 += x[k + 3] * x[k + 3]
        k += 4
    while k < n:
        s0 += x[k] * x[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double elementwise_loss(int kind, double r, double width) noexcept nogil:
    """Loss of one residual r = prediction - target: torch's MSELoss, L1Loss and HuberLoss(delta=width)
    terms, and scikit-learn's EpsilonInsensitive and SquaredEpsilonInsensitive(epsilon=width).

    NumPy equivalent (a = abs(r))::

        mse: r**2;  mae: a;  huber: where(a <= width, 0.5 * r**2, width * (a - 0.5 * width))
        epsilon_insensitive: maximum(0, a - width);  squared_epsilon_insensitive: maximum(0, a - width)**2
    """
    cdef double a, e
    if kind == LOSS_MSE:
        return r * r
    a = fabs(r)
    if kind == LOSS_MAE:
        return a
    if kind == LOSS_HUBER:
        if a <= width:
            return 0.5 * r * r
        return width * (a - 0.5 * width)
    e = a - width  # epsilon_insensitive, squared_epsilon_insensitive
    if e <= 0.0:
        return 0.0
    return e if kind == LOSS_EPSILON_INSENSITIVE else e * e


cdef inline double elementwise_loss_derivative(int kind, double r, double width) noexcept nogil:
    """d loss / d r for one residual. At a kink: the MAE subgradient at r == 0 is 0 (torch's choice);
    epsilon_insensitive's at |r| == width is 0 (scikit-learn's: it moves only when |r| > width).

    NumPy equivalent::

        mse: 2 r;  mae: sign(r);  huber: clip(r, -width, width)
        epsilon_insensitive: where(abs(r) > width, sign(r), 0)
        squared_epsilon_insensitive: where(abs(r) > width, 2 * (r - sign(r) * width), 0)
    """
    if kind == LOSS_MSE:
        return 2.0 * r
    if kind == LOSS_MAE:
        return 1.0 if r > 0 else (-1.0 if r < 0 else 0.0)
    if kind == LOSS_HUBER:
        if r > width:
            return width
        if r < -width:
            return -width
        return r
    if r > width:
        return 1.0 if kind == LOSS_EPSILON_INSENSITIVE else 2.0 * (r - width)
    if r < -width:
        return -1.0 if kind == LOSS_EPSILON_INSENSITIVE else 2.0 * (r + width)
    return 0.0


cdef inline bint is_margin_loss(int kind) noexcept nogil:
    """Whether ``kind`` is a binary classification loss of the margin z = y p (the LossCode values
    LOSS_LOG to LOSS_PERCEPTRON; src/gdfast/_contract.pxd keeps them together)."""
    return kind >= LOSS_LOG and kind <= LOSS_PERCEPTRON


cdef inline double terms_per_row(int kind, Py_ssize_t n_outputs) noexcept nogil:
    """What a row's loss is divided by besides the sum of the weights: n_outputs for the element-wise
    losses (one term per output), 1 for LOSS_MULTINOMIAL (one term per row)."""
    return 1.0 if kind == LOSS_MULTINOMIAL else <double>n_outputs


cdef inline double margin_loss(int kind, double z) noexcept nogil:
    """Loss of one margin z = y p (y = -1 or +1 the label, p the prediction), as scikit-learn's SGD
    defines it (its LogLoss, Hinge(1), SquaredHinge(1), ModifiedHuber, Hinge(0)).

    NumPy equivalent::

        log_loss: log(1 + exp(-z));  hinge: maximum(0, 1 - z);  squared_hinge: maximum(0, 1 - z)**2
        modified_huber: where(z >= 1, 0, where(z >= -1, (1 - z)**2, -4 z));  perceptron: maximum(0, -z)

    log(1 + exp(-z)) is log1p(exp(-z)) for z > 0 and log1p(exp(z)) - z otherwise: exp never
    overflows, and a large |z| loses nothing (0 for z > 745, -z for z < -37).
    """
    cdef double e
    if kind == LOSS_LOG:
        if z > 0.0:
            return log1p(exp(-z))
        return log1p(exp(z)) - z
    if kind == LOSS_HINGE:
        return 1.0 - z if z <= 1.0 else 0.0
    if kind == LOSS_PERCEPTRON:
        return 0.0 - z if z <= 0.0 else 0.0
    if kind == LOSS_SQUARED_HINGE:
        e = 1.0 - z
        return e * e if e > 0.0 else 0.0
    # LOSS_MODIFIED_HUBER
    if z >= 1.0:
        return 0.0
    if z >= -1.0:
        return (1.0 - z) * (1.0 - z)
    return -4.0 * z


cdef inline double margin_loss_derivative(int kind, double z) noexcept nogil:
    """d loss / d z for one margin z (d loss / d p is y times this). At a kink, scikit-learn's choice:
    hinge's derivative at z == 1 and perceptron's at z == 0 are -1 (they move on the margin too).

    NumPy equivalent::

        log_loss: -1 / (1 + exp(z));  hinge: where(z <= 1, -1, 0);  squared_hinge: -2 maximum(0, 1 - z)
        modified_huber: where(z >= 1, 0, where(z >= -1, -2 (1 - z), -4));  perceptron: where(z <= 0, -1, 0)

    -1 / (1 + exp(z)) is -e / (1 + e) with e = exp(-z) for z > 0: exp never overflows.
    """
    cdef double e
    if kind == LOSS_LOG:
        if z > 0.0:
            e = exp(-z)
            return -e / (1.0 + e)
        return -1.0 / (1.0 + exp(z))
    if kind == LOSS_HINGE:
        return -1.0 if z <= 1.0 else 0.0
    if kind == LOSS_PERCEPTRON:
        return -1.0 if z <= 0.0 else 0.0
    if kind == LOSS_SQUARED_HINGE:
        e = 1.0 - z
        return -2.0 * e if e > 0.0 else 0.0
    # LOSS_MODIFIED_HUBER
    if z >= 1.0:
        return 0.0
    if z >= -1.0:
        return -2.0 * (1.0 - z)
    return -4.0


cdef inline double margin_loss_and_derivative(int kind, double z, double* derivative) noexcept nogil:
    """``margin_loss(kind, z)``, and ``margin_loss_derivative(kind, z)`` into *derivative: the same
    values to the bit, log_loss's exp(-|z|) computed once for both."""
    cdef double e
    if kind == LOSS_LOG:
        if z > 0.0:
            e = exp(-z)
            derivative[0] = -e / (1.0 + e)
            return log1p(e)
        e = exp(z)
        derivative[0] = -1.0 / (1.0 + e)
        return log1p(e) - z
    derivative[0] = margin_loss_derivative(kind, z)
    return margin_loss(kind, z)


cdef inline bint blas_pays(Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t n_outputs) noexcept nogil:
    """Whether a product of a batch of n_rows rows goes to BLAS: at least BLAS_MIN_WORK
    multiply-adds, and BLAS not switched off (GDFAST_BLAS=0)."""
    return <double>n_rows * n_features * n_outputs >= BLAS_MIN_WORK and gdfast_blas_allowed()


cdef inline bint use_blas(
    const Py_ssize_t* rows, const double* X_blas, Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t n_outputs
) noexcept nogil:
    """Whether loss_and_gradient calls dgemm: a full batch (rows NULL), X_blas given, and
    ``blas_pays``. (The training loop passes no X_blas for batches that ``use_blocks`` takes: those
    are summed in blocks, see ``block_partial_into``.)"""
    return rows == NULL and X_blas != NULL and blas_pays(n_rows, n_features, n_outputs)


cdef inline Py_ssize_t row_of(const Py_ssize_t* rows, Py_ssize_t ii) noexcept nogil:
    """The batch's ii-th sample: rows[ii], or ii when rows is NULL (the rows 0..n_rows-1)."""
    return rows[ii] if rows != NULL else ii


cdef inline void weighted_rows_into(
    const double* D,
    const floating* X,
    const Py_ssize_t* rows,
    Py_ssize_t n_rows,
    Py_ssize_t n_features,
    Py_ssize_t n_outputs,
    double scale,
    double* grad_W,
) noexcept nogil:
    """grad_W[j, :] = scale * sum_ii D[ii, j] * X[rows[ii], :], summed over ii in order from +0.0.

    Short rows (< 16 features): four features at a time are accumulated in registers (no round
    trip through memory per sample); long rows: sample by sample into the row, read sequentially
    (skipping D == 0, which adds nothing to a sum that starts at +0.0). Either way each entry is
    ((0.0 + D[0,j] x[0,k]) + D[1,j] x[1,k]) + ..., times scale.
    """
    cdef Py_ssize_t ii, j, k
    cdef double a0, a1, a2, a3, c
    cdef const floating* x
    cdef double* row
    if n_features >= 16:
        # Long rows: accumulate row by row in memory (sequential access), the same sums.
        for j in range(n_outputs):
            row = grad_W + j * n_features
            for k in range(n_features):
                row[k] = 0.0
            for ii in range(n_rows):
                c = D[ii * n_outputs + j]
                if c != 0.0:
                    axpy_into_double(c, X + (rows[ii] if rows != NULL else ii) * n_features, row, n_features)
            for k in range(n_features):
                row[k] *= scale
        return
    for j in range(n_outputs):
        k = 0
        while k + 4 <= n_features:
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for ii in range(n_rows):
                c = D[ii * n_outputs + j]
                x = X + (rows[ii] if rows != NULL else ii) * n_features + k
                a0 = a0 + c * x[0]
                a1 = a1 + c * x[1]
                a2 = a2 + c * x[2]
                a3 = a3 + c * x[3]
            grad_W[j * n_features + k] = a0 * scale
            grad_W[j * n_features + k + 1] = a1 * scale
            grad_W[j * n_features + k + 2] = a2 * scale
            grad_W[j * n_features + k + 3] = a3 * scale
            k += 4
        while k < n_features:
            a0 = 0.0
            for ii in range(n_rows):
                a0 = a0 + D[ii * n_outputs + j] * X[(rows[ii] if rows != NULL else ii) * n_features + k]
            grad_W[j * n_features + k] = a0 * scale
            k += 1


cdef inline double residual(double prediction, const floating* b, const floating* y, Py_ssize_t j) noexcept nogil:
    """(prediction + b[j]) - y[j]: output j's residual (no bias term when b is NULL)."""
    if b != NULL:
        prediction += b[j]
    return prediction - y[j]


cdef inline double mse_term(
    double prediction, const floating* b, const floating* y, Py_ssize_t j, double* grad
) noexcept nogil:
    """Output j's MSE term: r = residual(prediction, b, y, j);  *grad = 2 r (d loss / d prediction);  returns r**2."""
    cdef double r = residual(prediction, b, y, j)
    cdef double term = r * r
    grad[0] = 2.0 * r
    return term


cdef inline double loss_term(
    int kind, double width, double weight, double prediction, const floating* b, const floating* y, Py_ssize_t j,
    double* grad,
) noexcept nogil:
    """``mse_term`` for any loss kind and a sample weight: *grad = weight * d l / d p;  returns weight * l.

    Regression kinds: l of the residual r = residual(prediction, b, y, j) (``elementwise_loss``).
    Margin kinds: p = prediction (+ b[j]), the label s = +1 when y[j] > 0 else -1 (so -1/+1 and 0/1
    targets both work; Python has checked they are one or the other), l of z = s p
    (``margin_loss``) and d l / d p = s * d l / d z.
    """
    cdef double r, p, s, z, term
    if is_margin_loss(kind):
        p = prediction + b[j] if b != NULL else prediction
        s = 1.0 if y[j] > 0 else -1.0
        z = s * p
        grad[0] = weight * (s * margin_loss_derivative(kind, z))
        return weight * margin_loss(kind, z)
    r = residual(prediction, b, y, j)
    term = weight * elementwise_loss(kind, r, width)
    grad[0] = weight * elementwise_loss_derivative(kind, r, width)
    return term


cdef inline double softmax_row_term(
    double weight, double* d, const floating* b, const floating* y, Py_ssize_t n_outputs,
) noexcept nogil:
    """One row's softmax cross-entropy (LOSS_MULTINOMIAL), in place: d[0:K] (K = n_outputs) holds the
    row's predictions W @ x on entry and weight * d loss / d logits on return; returns weight * loss.

    NumPy equivalent (z = d + b, the logits; y the row's target probabilities, s = y.sum(): 1 for a
    one-hot or probability row, as Python checks)::

        m = z.max();  e = exp(z - m)
        loss = sum(y * (m - z)) + s * log(e.sum())     # -sum(y * log_softmax(z)), torch's CrossEntropyLoss
        d = weight * (s * (e / e.sum()) - y)           # softmax(z) * s - y

    Sums in output order from +0.0. z - m <= 0, so exp never overflows and e.sum() >= 1; (m - z) is
    summed before the logarithm is added, so a large logit loses nothing to cancellation. A NaN or
    infinite logit makes the loss NaN (the caller's divergence check sees it).
    """
    cdef Py_ssize_t j
    cdef double m, e, e_sum = 0.0, y_sum = 0.0, partial = 0.0, inv
    # z = d + b;  m = z.max()
    if b != NULL:
        for j in range(n_outputs):
            d[j] += b[j]
    m = d[0]
    for j in range(1, n_outputs):
        if d[j] > m:
            m = d[j]
    # partial = sum(y * (m - z));  s = y.sum();  d = e = exp(z - m);  e_sum = e.sum()
    for j in range(n_outputs):
        partial += y[j] * (m - d[j])
        y_sum += y[j]
        e = exp(d[j] - m)
        d[j] = e
        e_sum += e
    # d = weight * (s * e / e_sum - y)
    inv = 1.0 / e_sum
    for j in range(n_outputs):
        d[j] = weight * (y_sum * (d[j] * inv) - y[j])
    return weight * (partial + y_sum * log(e_sum))


cdef inline double softmax_row_term_float32(double weight, float* d, const float* y, Py_ssize_t n_outputs) noexcept nogil:
    """``softmax_row_term`` of a float32 row already holding its logits z (bias included): the same
    formula in double from the float32 logits (each exp computed twice: no double scratch), the
    derivative stored back as float32."""
    cdef Py_ssize_t j
    cdef double m = d[0], e_sum = 0.0, y_sum = 0.0, partial = 0.0, inv
    for j in range(1, n_outputs):
        if d[j] > m:
            m = d[j]
    # partial = sum(y * (m - z));  s = y.sum();  e_sum = exp(z - m).sum()
    for j in range(n_outputs):
        partial += y[j] * (m - <double>d[j])
        y_sum += y[j]
        e_sum += exp(<double>d[j] - m)
    # d = float32(weight * (s * exp(z - m) / e_sum - y))
    inv = 1.0 / e_sum
    for j in range(n_outputs):
        d[j] = <float>(weight * (y_sum * (exp(<double>d[j] - m) * inv) - y[j]))
    return weight * (partial + y_sum * log(e_sum))


cdef inline void scaled_row_into(double c, const floating* x, Py_ssize_t n, double scale, double* row) noexcept nogil:
    """row = scale * (0.0 + c * x), or +0.0 everywhere when c == 0: one sample's gradient row (a
    one-row ``weighted_rows_into`` that skips the zero term)."""
    cdef Py_ssize_t k
    if c != 0.0:
        for k in range(n):
            row[k] = (0.0 + c * x[k]) * scale
    else:
        for k in range(n):
            row[k] = 0.0


cdef inline void column_sums_into(
    const double* D, Py_ssize_t n_rows, Py_ssize_t n_outputs, double scale, double* out
) noexcept nogil:
    """out = scale * D.sum(axis=0) (the bias gradient): each column summed in row order from +0.0."""
    cdef Py_ssize_t ii, j
    cdef double s
    for j in range(n_outputs):
        s = 0.0
        for ii in range(n_rows):
            s += D[ii * n_outputs + j]
        out[j] = s * scale


cdef inline double batch_scale(int reduction, double per_row, double weight_sum, Py_ssize_t n_rows) noexcept nogil:
    """The factor that turns a batch's sums (of w_i * l_ij and of w_i * l'_ij x_i) into the objective;
    ``per_row`` is ``terms_per_row`` of the loss (n_outputs, or 1 for LOSS_MULTINOMIAL).

    NumPy equivalent::

        1 / (per_row * w.sum()) if reduction == REDUCTION_MEAN else 1 / n_rows   # 0 when w.sum() == 0

    REDUCTION_MEAN is the weighted mean over samples and outputs (a mini-batch whose sample weights
    are all zero contributes nothing, loss 0 and gradient 0, instead of 0/0 = NaN that would read as
    divergence); REDUCTION_SAMPLE_MEAN is scikit-learn's SGD objective (1/n) sum_i w_i sum_j l_ij:
    the weights are not normalised and the outputs are summed.
    """
    if reduction == REDUCTION_SAMPLE_MEAN:
        return 1.0 / <double>n_rows
    return 1.0 / (per_row * weight_sum) if weight_sum > 0.0 else 0.0


cdef inline double mse_and_gradient(
    const floating* W, const floating* b,  # the model
    const floating* X, const floating* Y, const Py_ssize_t* rows, Py_ssize_t n_rows,  # the batch
    Py_ssize_t n_features, Py_ssize_t n_outputs,
    double* residual_grad, double* grad_W, double* grad_b,  # scratch and the gradient
) noexcept nogil:
    """``loss_and_gradient`` for the MSE with unit weights and no BLAS, with the very same arithmetic.

    The common case of the lessons (and of long runs on small problems): no loss-kind or weight
    branches in the loops, small enough to be inlined into the training loop. ``grad_W`` must not
    be NULL; ``residual_grad`` is scratch of n_rows * n_outputs (unused for one row). It takes the
    steps of ``loss_and_gradient`` with the same building blocks (for weight 1.0, ``1.0 * v`` is
    ``v`` exactly), each prediction fused into its residual; one sample's gradient skips its zero
    terms (adding 0 * x never changes a sum that starts at +0.0).
    """
    cdef Py_ssize_t ii, i, j
    cdef double loss_sum = 0.0, scale, c
    cdef const floating* x

    if n_rows != 1:
        # R = X[rows] @ W.T + b - Y[rows];  loss = sum(R**2);  D = 2 R  (sample by sample)
        for ii in range(n_rows):
            i = row_of(rows, ii)
            x = X + i * n_features
            for j in range(n_outputs):
                loss_sum += mse_term(dot(W + j * n_features, x, n_features), b, Y + i * n_outputs, j,
                                     residual_grad + ii * n_outputs + j)
        # The sum of n_rows unit weights, as loss_and_gradient accumulates it (exact for n < 2**53).
        scale = 1.0 / (<double>n_outputs * <double>n_rows)
        # grad_W[j, :] = scale * sum_ii D[ii, j] * X[rows[ii], :]
        weighted_rows_into(residual_grad, X, rows, n_rows, n_features, n_outputs, scale, grad_W)
        if grad_b != NULL:
            # grad_b = scale * D.sum(axis=0)
            column_sums_into(residual_grad, n_rows, n_outputs, scale, grad_b)
        return loss_sum * scale

    # One sample, scale = 1 / n_outputs: each output's term c = D[0, j] goes straight into its
    # gradient rows (no scratch), grad_W[j, :] = scale * (0.0 + c * x) (0.0 where c == 0) and
    # grad_b[j] = scale * (0.0 + c)
    i = row_of(rows, 0)
    x = X + i * n_features
    scale = 1.0 / (<double>n_outputs * 1.0)
    for j in range(n_outputs):
        loss_sum += mse_term(dot(W + j * n_features, x, n_features), b, Y + i * n_outputs, j, &c)
        scaled_row_into(c, x, n_features, scale, grad_W + j * n_features)
        if grad_b != NULL:
            grad_b[j] = (0.0 + c) * scale
    return loss_sum * scale


cdef inline double mse_terms_in_four_sums(
    double* P, const floating* b, const floating* Y, Py_ssize_t n_rows, Py_ssize_t n_outputs
) noexcept nogil:
    """A full batch's MSE terms from its predictions P (n_rows, n_outputs), in place:
    R = P + b - Y, P[:] = D = 2 R, and returns sum(R**2) in ``dot``'s four partial sums (in each row,
    output j = 4 m + q into s_q and the outputs past the last four into s_0; every row continues the
    same four sums; then (s0 + s1) + (s2 + s3)): four chains of adds instead of one.

    NumPy equivalent (up to the order of the sum)::

        R = P + b - Y;  P[:] = 2 * R;  return (R ** 2).sum()
    """
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t ii, j
    cdef double* d
    cdef const floating* y
    for ii in range(n_rows):
        d = P + ii * n_outputs
        y = Y + ii * n_outputs
        j = 0
        while j + 4 <= n_outputs:
            s0 += mse_term(d[j], b, y, j, d + j)
            s1 += mse_term(d[j + 1], b, y, j + 1, d + j + 1)
            s2 += mse_term(d[j + 2], b, y, j + 2, d + j + 2)
            s3 += mse_term(d[j + 3], b, y, j + 3, d + j + 3)
            j += 4
        while j < n_outputs:
            s0 += mse_term(d[j], b, y, j, d + j)
            j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double weighted_loss_terms(int loss_kind, double width, const floating* b, const floating* Y,
                                       const floating* sample_weight, const Py_ssize_t* rows, Py_ssize_t n_rows,
                                       Py_ssize_t n_outputs, double* residual_grad, double* weight_sum) noexcept nogil:
    """The batch's loss terms from its predictions: with P = residual_grad (n_rows x n_outputs, in
    sample order) and w the rows' weights (ones when sample_weight is NULL), returns
    sum(w * l) and overwrites P with D = d loss / d prediction (weighted, unscaled); sum(w) is added
    to weight_sum, row by row. LOSS_MULTINOMIAL: one term per row, ``softmax_row_term`` of the row's
    K logits P[ii] + b; the other losses: one per output, ``loss_term`` of R = P + b - Y[rows]."""
    cdef Py_ssize_t ii, i, j
    cdef double weight, loss_sum = 0.0
    cdef double* d
    if loss_kind == LOSS_MULTINOMIAL:
        # loss_sum = sum(w * l(P[ii] + b));  D[ii] = w * l'(P[ii] + b)
        for ii in range(n_rows):
            i = row_of(rows, ii)
            weight = sample_weight[i] if sample_weight != NULL else 1.0
            weight_sum[0] += weight
            loss_sum += softmax_row_term(weight, residual_grad + ii * n_outputs, b, Y + i * n_outputs, n_outputs)
        return loss_sum
    # R = P + b - Y[rows];  loss_sum = sum(w[:, None] * l(R));  D = w[:, None] * l'(R)
    for ii in range(n_rows):
        i = row_of(rows, ii)
        weight = sample_weight[i] if sample_weight != NULL else 1.0
        weight_sum[0] += weight
        d = residual_grad + ii * n_outputs
        for j in range(n_outputs):
            loss_sum += loss_term(loss_kind, width, weight, d[j], b, Y + i * n_outputs, j, d + j)
    return loss_sum


cdef inline double loss_and_gradient(
    const floating* W, const floating* b,  # the model
    const floating* X, const floating* Y, const floating* sample_weight, const Py_ssize_t* rows,  # the batch
    Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t n_outputs,
    int loss_kind, double width, int reduction,
    double* residual_grad, double* grad_W, double* grad_b,  # scratch and the gradient
    const double* X_blas, double* W_blas,  # BLAS's operands
) noexcept nogil:
    """Weighted mean loss of the linear model on a batch, and its gradient.

    NumPy equivalent (rows = the batch's sample indices, w = sample weights or ones)::

        R = X[rows] @ W.T + b - Y[rows]                    # (n_rows, n_outputs)
        scale = batch_scale(reduction, ...)  # 1 / (terms_per_row * sum(w)) (0 when sum(w) == 0), or 1 / n_rows
        loss = scale * sum(w[:, None] * l(R))
        D = scale * w[:, None] * l'(R)
        grad_W = D.T @ X[rows];  grad_b = D.sum(axis=0)

    ``b``, ``sample_weight``, ``rows``, ``grad_W`` and ``grad_b`` may be NULL (no bias, unit weights,
    rows 0..n_rows-1, no gradient wanted). ``residual_grad`` is scratch of n_rows * n_outputs.

    ``X_blas`` (X as float64, or NULL) lets large full batches (see ``use_blas``) compute the two
    matrix products with BLAS dgemm, summed in double in BLAS's order: deterministic for one BLAS
    build on one CPU, but not bit-equal to the loops. The training loop (run_one) sends batches of
    at least BLOCKED_MIN_ROWS rows with at most BLOCKED_MAX_OUTPUTS outputs to the blocked kernel
    (``block_partial_into`` and ``blocks_reduce``) instead of here: for that shape dgemm is
    replaced, and its results are the blocked order's bits, the same on every machine and for
    every thread count. ``W_blas`` is float64 scratch of W's size
    (used for float32 W only). Otherwise each prediction is a ``dot`` and each gradient entry a
    sum over the batch in sample order.
    A non-finite loss is returned as is; the caller decides what it means.
    """
    cdef Py_ssize_t ii, i, j
    cdef double weight_sum = 0.0, loss_sum = 0.0, scale
    cdef const floating* x
    cdef double* d
    cdef bint blas = use_blas(rows, X_blas, n_rows, n_features, n_outputs)
    cdef double* Wd = NULL
    cdef int bm = <int>n_outputs, bn = <int>n_rows, bk = <int>n_features
    cdef double one = 1.0, zero = 0.0

    # Forward pass: P[ii, :] = W @ X[rows[ii]], into residual_grad
    if blas:
        if floating is double:
            Wd = <double*>W
        else:
            Wd = W_blas
            for i in range(n_outputs * n_features):
                Wd[i] = W[i]
        # Column-major view of X @ W.T: (n_outputs x n_rows) = W^T' @ X'
        dgemm("T", "N", &bm, &bn, &bk, &one, Wd, &bk, <double*>X_blas, &bk, &zero, residual_grad, &bm)
    else:
        for ii in range(n_rows):
            x = X + row_of(rows, ii) * n_features
            for j in range(n_outputs):
                residual_grad[ii * n_outputs + j] = dot(W + j * n_features, x, n_features)

    # Residuals, loss terms and d loss / d prediction (weighted, unscaled), in (sample, output) order.
    if loss_kind == LOSS_MSE and sample_weight == NULL and blas:
        # dgemm's predictions are BLAS's bits anyway: the loss in four partial sums (one chain of
        # n_rows * n_outputs dependent adds was 6% of a 256 x 64 step)
        loss_sum = mse_terms_in_four_sums(residual_grad, b, Y, n_rows, n_outputs)
        weight_sum = <double>n_rows
    elif loss_kind == LOSS_MSE and sample_weight == NULL:
        # R = P + b - Y[rows];  loss_sum = sum(R**2);  D = 2 R;  sum(w) = n_rows (exact for n < 2**53)
        for ii in range(n_rows):
            i = row_of(rows, ii)
            d = residual_grad + ii * n_outputs
            for j in range(n_outputs):
                loss_sum += mse_term(d[j], b, Y + i * n_outputs, j, d + j)
        weight_sum = <double>n_rows
    else:
        loss_sum = weighted_loss_terms(loss_kind, width, b, Y, sample_weight, rows, n_rows, n_outputs, residual_grad,
                                       &weight_sum)

    # scale = 1 / (terms_per_row * sum(w)) (0 when sum(w) == 0), or 1 / n_rows (REDUCTION_SAMPLE_MEAN)
    scale = batch_scale(reduction, terms_per_row(loss_kind, n_outputs), weight_sum, n_rows)
    if grad_W == NULL and grad_b == NULL:
        return loss_sum * scale

    if grad_W != NULL and blas:
        # Column-major view of D.T @ X: (n_features x n_outputs) = X' @ D'^T, times scale
        dgemm("N", "T", &bk, &bm, &bn, &scale, <double*>X_blas, &bk, residual_grad, &bm, &zero, grad_W, &bk)

    # Backward pass: grad_W[j, :] = scale * sum_ii D[ii, j] * X[rows[ii], :]
    if grad_W != NULL and not blas:
        weighted_rows_into(residual_grad, X, rows, n_rows, n_features, n_outputs, scale, grad_W)
    if grad_b != NULL:
        # grad_b = scale * D.sum(axis=0)
        column_sums_into(residual_grad, n_rows, n_outputs, scale, grad_b)
    return loss_sum * scale


# The index type of a CSR matrix's ``indices`` and ``indptr`` (scipy.sparse uses int32 or int64).
ctypedef fused csr_index:
    int32_t
    int64_t


cdef inline double csr_dot(const double* w, const floating* data, const csr_index* indices,
                           Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """sum(data[start:end] * w[indices[start:end]]): one CSR row times a weight row (duplicate
    indices add up, as scipy reads them). Four partial sums over the entries k = start + 4i + r in
    stored order, from +0.0, combined as (s0 + s1) + (s2 + s3) (as ``dot``): a fixed order, and
    four independent chains of gathers and adds in flight instead of one."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k = start
    while k + 4 <= end:
        s0 += data[k] * w[indices[k]]
        s1 += data[k + 1] * w[indices[k + 1]]
        s2 += data[k + 2] * w[indices[k + 2]]
        s3 += data[k + 3] * w[indices[k + 3]]
        k += 4
    while k < end:
        s0 += data[k] * w[indices[k]]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double csr_dot_params(const floating* w, const floating* data, const csr_index* indices,
                                  Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """``csr_dot`` with a weight row of the data's float type: sum(data[start:end] * w[indices[start:end]]),
    the same four partial sums in the same order."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t k = start
    while k + 4 <= end:
        s0 += <double>data[k] * <double>w[indices[k]]
        s1 += <double>data[k + 1] * <double>w[indices[k + 1]]
        s2 += <double>data[k + 2] * <double>w[indices[k + 2]]
        s3 += <double>data[k + 3] * <double>w[indices[k + 3]]
        k += 4
    while k < end:
        s0 += <double>data[k] * <double>w[indices[k]]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double csr_loss_and_gradient(
    const floating* W, const floating* b,  # the model
    const floating* data, const csr_index* indices, const csr_index* indptr,  # X as CSR
    const floating* Y, const floating* sample_weight, const Py_ssize_t* rows,  # the batch
    Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t n_outputs,
    int loss_kind, double width, int reduction,
    double* residual_grad, double* grad_W, double* grad_b,  # scratch and the gradient
) noexcept nogil:
    """``loss_and_gradient`` for X given as a CSR matrix (data, indices, indptr), never densified.

    NumPy equivalent (X the CSR matrix, rows the batch, w the sample weights or ones)::

        R = X[rows] @ W.T + b - Y[rows];  scale = batch_scale(reduction, ...)  # 1 / (n_outputs * sum(w)) or 1 / n_rows
        loss = scale * sum(w[:, None] * l(R));  D = scale * w[:, None] * l'(R)
        grad_W = D.T @ X[rows];  grad_b = D.sum(axis=0)

    (LOSS_MULTINOMIAL: one term per row, the softmax cross-entropy of the logits X[rows] @ W.T + b by
    ``softmax_row_term``, and 1 / sum(w) in place of 1 / (n_outputs * sum(w)), as ``loss_and_gradient``.)

    Each prediction is a ``csr_dot_params`` over the row's stored entries; the gradient is scattered
    entry by entry, ``grad_W[j, indices[k]] += D[ii, j] * data[k]`` (grad_W, all of it, is zeroed
    first: a dense gradient, O(n_outputs * n_features) per batch), then scaled. ``grad_W`` and
    ``grad_b`` may be NULL; ``residual_grad`` is scratch of n_rows * n_outputs.
    """
    cdef Py_ssize_t ii, i, j, k, start, end
    cdef double weight_sum = 0.0, loss_sum, scale, c
    cdef double* row
    # P[ii, j] = X[rows[ii]] @ W[j]  (entries in stored order)
    for ii in range(n_rows):
        i = row_of(rows, ii)
        start = indptr[i]
        end = indptr[i + 1]
        for j in range(n_outputs):
            residual_grad[ii * n_outputs + j] = csr_dot_params(W + j * n_features, data, indices, start, end)
    # the loss terms and D, as loss_and_gradient's (weighted_loss_terms)
    loss_sum = weighted_loss_terms(loss_kind, width, b, Y, sample_weight, rows, n_rows, n_outputs, residual_grad,
                                   &weight_sum)
    scale = batch_scale(reduction, terms_per_row(loss_kind, n_outputs), weight_sum, n_rows)
    if grad_W != NULL:
        # grad_W = scale * (D.T @ X[rows]), scattered row by row over the stored entries
        for k in range(n_outputs * n_features):
            grad_W[k] = 0.0
        for ii in range(n_rows):
            i = row_of(rows, ii)
            start = indptr[i]
            end = indptr[i + 1]
            for j in range(n_outputs):
                c = residual_grad[ii * n_outputs + j]
                if c != 0.0:
                    row = grad_W + j * n_features
                    for k in range(start, end):
                        row[indices[k]] += c * data[k]
        for k in range(n_outputs * n_features):
            grad_W[k] *= scale
    if grad_b != NULL:
        # grad_b = scale * D.sum(axis=0)
        column_sums_into(residual_grad, n_rows, n_outputs, scale, grad_b)
    return loss_sum * scale


cdef inline double float32_loss_and_gradient(
    const float* W, const float* b,  # the model
    const float* X, const float* Y, const float* sample_weight,  # the whole data set (a full batch)
    Py_ssize_t n_rows, Py_ssize_t n_features, Py_ssize_t n_outputs,
    int loss_kind, double delta, int reduction,
    float* residual, float* grad_f, double* grad_W, double* grad_b,  # float32 scratch and the gradient
) noexcept nogil:
    """``loss_and_gradient`` of a full batch of float32 data, its two products summed in float32 by
    BLAS on the arrays themselves (``accumulate="float32"``: no float64 copies), as a NumPy user's
    float32 code computes them.

    NumPy equivalent (float32 throughout, but for the sums said to be in double)::

        P = X @ W.T                            # sgemv (one output) or sgemm: float32, BLAS's order
        R = (P + b) - Y                        # float32, element by element
        loss = sum(w[:, None] * l(R)) / (n_outputs * sum(w))    # in double (see below)
        # (LOSS_MULTINOMIAL: one term per row, l and l' of the logits P + b by ``softmax_row_term_float32``,
        # and 1 in place of n_outputs in the divisor and in scale)
        D = float32(w[:, None] * l'(R))        # the MSE with unit weights: 2 R, exact in float32
        # (a margin loss: l and l' of z = s * (P + b), s = where(Y > 0, 1, -1), l' times s)
        G = D.T @ X                            # sgemv or sgemm: float32
        scale = batch_scale(reduction, ...)    # in double: 1 / (n_outputs * sum(w)), or 1 / n_rows
        grad_W = scale * double(G);  grad_b = scale * D.sum(axis=0)  # the bias sums in double

    The products are BLAS's float32 sums (one BLAS thread: the callers pin it): deterministic for
    one BLAS build on one CPU, not the same bits on another CPU, and each product entry carries
    rounding errors up to about its number of terms times float32's epsilon (1.2e-7) times the sum
    of its terms' magnitudes. What is summed outside BLAS is summed in double: the loss terms
    (computed in double from the float32 residuals; the MSE with unit weights in four partial sums
    over the residuals in (sample, output) order, combined as ``(s0 + s1) + (s2 + s3)``, other
    losses in (sample, output) order), the weights and the bias gradient (row order), all from +0.0.
    ``residual`` is float32 scratch of n_rows * n_outputs (P, R, then D), ``grad_f`` of
    n_outputs * n_features (G); ``b``, ``sample_weight`` and ``grad_b`` may be NULL, and ``grad_W``
    NULL asks for the loss alone (no second product). A non-finite loss is returned as is.
    """
    cdef Py_ssize_t ii, i, j, k, n_terms = n_rows * n_outputs
    cdef int bm = <int>n_outputs, bn = <int>n_rows, bk = <int>n_features, inc = 1
    cdef float one = 1.0, zero = 0.0, r
    cdef double weight, weight_sum = 0.0, loss_sum = 0.0, scale, s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, d
    cdef double sign, z
    cdef float* p

    # P = X @ W.T: one output, P = X @ w (X row-major is X' column-major, so X @ w = X'^T w);
    # several, column-major (n_outputs x n_rows) = W'^T @ X', i.e. row-major P (n_rows, n_outputs)
    if n_outputs == 1:
        sgemv("T", &bk, &bn, &one, <float*>X, &bk, <float*>W, &inc, &zero, residual, &inc)
    else:
        sgemm("T", "N", &bm, &bn, &bk, &one, <float*>W, &bk, <float*>X, &bk, &zero, residual, &bm)

    if b != NULL:
        # P += b, in float32 (the residual's first float32 operation; stored, then R = P - Y below)
        for ii in range(n_rows):
            p = residual + ii * n_outputs
            for j in range(n_outputs):
                p[j] = p[j] + b[j]
    if loss_kind == LOSS_MSE and sample_weight == NULL:
        # R = P - Y (float32);  loss_sum = sum(R**2) in double, four partial sums;  D = 2 R;  sum(w) = n_rows
        k = 0
        while k + 4 <= n_terms:
            r = residual[k] - Y[k]
            s0 += <double>r * r
            residual[k] = 2.0 * r
            r = residual[k + 1] - Y[k + 1]
            s1 += <double>r * r
            residual[k + 1] = 2.0 * r
            r = residual[k + 2] - Y[k + 2]
            s2 += <double>r * r
            residual[k + 2] = 2.0 * r
            r = residual[k + 3] - Y[k + 3]
            s3 += <double>r * r
            residual[k + 3] = 2.0 * r
            k += 4
        while k < n_terms:
            r = residual[k] - Y[k]
            s0 += <double>r * r
            residual[k] = 2.0 * r
            k += 1
        loss_sum = (s0 + s1) + (s2 + s3)
        weight_sum = <double>n_rows
    elif loss_kind == LOSS_MULTINOMIAL:
        # one term per row: the softmax cross-entropy of the float32 logits P[ii] + b, D[ii] = float32(w l')
        for ii in range(n_rows):
            weight = sample_weight[ii] if sample_weight != NULL else 1.0
            weight_sum += weight
            loss_sum += softmax_row_term_float32(weight, residual + ii * n_outputs, Y + ii * n_outputs, n_outputs)
    else:
        # R = P - Y (float32);  loss_sum = sum(w l(R)) and sum(w) in double;  D = float32(w l'(R))
        # (a margin loss: l of z = s P in double, s = +1 where Y > 0 else -1;  D = float32(w s l'(z)))
        for ii in range(n_rows):
            weight = sample_weight[ii] if sample_weight != NULL else 1.0
            weight_sum += weight
            for j in range(n_outputs):
                i = ii * n_outputs + j
                if is_margin_loss(loss_kind):
                    sign = 1.0 if Y[i] > 0 else -1.0
                    z = sign * <double>residual[i]
                    loss_sum += weight * margin_loss(loss_kind, z)
                    residual[i] = <float>(weight * (sign * margin_loss_derivative(loss_kind, z)))
                    continue
                r = residual[i] - Y[i]
                loss_sum += weight * elementwise_loss(loss_kind, r, delta)
                residual[i] = <float>(weight * elementwise_loss_derivative(loss_kind, r, delta))

    # All sample weights zero: loss 0 and gradient 0 (as loss_and_gradient), not 0/0.
    scale = batch_scale(reduction, terms_per_row(loss_kind, n_outputs), weight_sum, n_rows)
    if grad_W != NULL:
        # G = D.T @ X: one output, G = X'(n_features x n_rows) @ D; several, column-major
        # (n_features x n_outputs) = X' @ D'^T, i.e. row-major G (n_outputs, n_features)
        if n_outputs == 1:
            sgemv("N", &bk, &bn, &one, <float*>X, &bk, residual, &inc, &zero, grad_f, &inc)
        else:
            sgemm("N", "T", &bk, &bm, &bn, &one, <float*>X, &bk, residual, &bm, &zero, grad_f, &bk)
        for k in range(n_outputs * n_features):
            grad_W[k] = scale * <double>grad_f[k]
    if grad_b != NULL:
        # grad_b = scale * D.sum(axis=0): each column in row order, in double from +0.0
        for j in range(n_outputs):
            d = 0.0
            for ii in range(n_rows):
                d += residual[ii * n_outputs + j]
            grad_b[j] = d * scale
    return loss_sum * scale


cdef inline bint use_blocks(Py_ssize_t n_rows, Py_ssize_t n_outputs) noexcept nogil:
    """Whether a batch of n_rows rows goes through ``block_partial_into`` (then never dgemm): at
    least BLOCKED_MIN_ROWS rows and at most BLOCKED_MAX_OUTPUTS outputs."""
    return n_rows >= BLOCKED_MIN_ROWS and n_outputs <= BLOCKED_MAX_OUTPUTS


cdef inline Py_ssize_t blocks_of(Py_ssize_t n_rows) noexcept nogil:
    """The number of blocks of a batch of n_rows rows: ceil(n_rows / BLOCK_ROWS)."""
    return (n_rows + BLOCK_ROWS - 1) // BLOCK_ROWS


cdef inline void prefetch_row(const floating* x, Py_ssize_t n) noexcept nogil:
    """Ask for the cache lines of the row x[0:n] (a hint: nothing is read or changed)."""
    cdef Py_ssize_t k = 0, per_line = 64 // sizeof(floating)
    while k < n:
        gdfast_prefetch(x + k)
        k += per_line
    if n > 0:
        gdfast_prefetch(x + n - 1)  # (the row's last line, when it starts a line of its own)


cdef inline void axpy2_into_double(double c0, const floating* x0, double c1, const floating* x1, double* y,
                                   Py_ssize_t n) noexcept nogil:
    """y = (y + c0 * x0) + c1 * x1, element by element: ``axpy_into_double`` for two rows in
    order, y read and written once (a zero c adds nothing to these sums and is skipped)."""
    cdef Py_ssize_t k
    if c0 != 0.0 and c1 != 0.0:
        for k in range(n):
            y[k] = (y[k] + c0 * x0[k]) + c1 * x1[k]
    elif c0 != 0.0:
        axpy_into_double(c0, x0, y, n)
    elif c1 != 0.0:
        axpy_into_double(c1, x1, y, n)


cdef inline void row_terms(
    const floating* Y, const floating* b, const floating* sample_weight, Py_ssize_t i, const double* P,
    Py_ssize_t n_outputs, bint plain, int loss_kind, double width, double* C, double* loss_sum,
    double* weight_sum,
) noexcept nogil:
    """One row's loss terms, given its predictions P[j] = W[j] @ x: C[j] = w l'(r_j) for
    r_j = P[j] + b[j] - Y[i, j]; adds w to *weight_sum and each w l(r_j) to *loss_sum, in output
    order (``mse_term`` when ``plain``: the MSE with unit weights, else ``loss_term``; LOSS_MULTINOMIAL:
    ``softmax_row_term`` of the whole row)."""
    cdef Py_ssize_t j
    cdef double weight = sample_weight[i] if sample_weight != NULL else 1.0
    weight_sum[0] += weight
    if loss_kind == LOSS_MULTINOMIAL:
        # one term per row: C = P, then the softmax cross-entropy in place
        for j in range(n_outputs):
            C[j] = P[j]
        loss_sum[0] += softmax_row_term(weight, C, b, Y + i * n_outputs, n_outputs)
        return
    for j in range(n_outputs):
        if plain:
            loss_sum[0] += mse_term(P[j], b, Y + i * n_outputs, j, C + j)
        else:
            loss_sum[0] += loss_term(loss_kind, width, weight, P[j], b, Y + i * n_outputs, j, C + j)


cdef inline void block_partial_into(
    const floating* W, const floating* b,  # the model
    const floating* X, const floating* Y, const floating* sample_weight, const Py_ssize_t* rows,  # the batch
    Py_ssize_t start, Py_ssize_t stop, Py_ssize_t n_features, Py_ssize_t n_outputs,
    int loss_kind, double width,
    double* out,  # (size + 2,): this block's partial sums
) noexcept nogil:
    """One block's unscaled partial sums: the batch rows start..stop-1, in one pass over them.

    NumPy equivalent (B = rows[start:stop], the batch's rows of this block; w = sample weights or
    ones; size_W = n_outputs * n_features; size = size_W (+ n_outputs with a bias b))::

        R = X[B] @ W.T + b - Y[B]                    # (stop - start, n_outputs)
        D = w[:, None] * l'(R)
        out[:size_W] = (D.T @ X[B]).ravel()          # the gradient rows, unscaled
        out[size_W:size] = D.sum(axis=0)             # with a bias
        out[size] = sum(w[:, None] * l(R));  out[size + 1] = sum(w)

    Row by row: the predictions (``dot``), residuals, loss terms and derivatives d (``mse_term`` /
    ``loss_term``), then d * x added into the block's gradient rows while x is in cache (X is read
    once). Every sum is in double, from +0.0, in row order (and the loss in (row, output) order); a
    d == 0 adds nothing and is skipped, as in ``weighted_rows_into``. Rows go two at a time (the
    gradient rows read and written once per pair by ``axpy2_into_double``: the same sums, in the
    same order, as one row at a time), and the rows PREFETCH_ROWS ahead are asked for early.
    ``blocks_reduce`` then adds the blocks in block order. n_outputs <= BLOCKED_MAX_OUTPUTS.
    """
    cdef Py_ssize_t size_W = n_outputs * n_features
    cdef Py_ssize_t size = size_W + (n_outputs if b != NULL else 0)
    cdef Py_ssize_t ii, i0, i1, j, k
    cdef double loss_sum = 0.0, weight_sum = 0.0
    cdef double P0[BLOCKED_MAX_OUTPUTS]
    cdef double P1[BLOCKED_MAX_OUTPUTS]
    cdef double C0[BLOCKED_MAX_OUTPUTS]
    cdef double C1[BLOCKED_MAX_OUTPUTS]
    cdef bint plain = loss_kind == LOSS_MSE and sample_weight == NULL
    cdef const floating* x0
    cdef const floating* x1
    for k in range(size):
        out[k] = 0.0
    ii = start
    while ii + 2 <= stop:
        # rows i0, i1: P = X[[i0, i1]] @ W.T;  loss_sum += w l(R) (row i0's terms, then i1's);  C = w l'(R)
        i0 = row_of(rows, ii)
        i1 = row_of(rows, ii + 1)
        x0 = X + i0 * n_features
        x1 = X + i1 * n_features
        if ii + PREFETCH_ROWS + 2 <= stop:  # (the rows two steps ahead start loading now)
            prefetch_row(X + row_of(rows, ii + PREFETCH_ROWS) * n_features, n_features)
            prefetch_row(X + row_of(rows, ii + PREFETCH_ROWS + 1) * n_features, n_features)
        for j in range(n_outputs):
            P0[j] = dot(W + j * n_features, x0, n_features)
            P1[j] = dot(W + j * n_features, x1, n_features)
        row_terms(Y, b, sample_weight, i0, P0, n_outputs, plain, loss_kind, width, C0, &loss_sum, &weight_sum)
        row_terms(Y, b, sample_weight, i1, P1, n_outputs, plain, loss_kind, width, C1, &loss_sum, &weight_sum)
        for j in range(n_outputs):
            # out[j, :] += C0[j] * x0, then += C1[j] * x1;  out[size_W + j] likewise (zeros skipped)
            axpy2_into_double(C0[j], x0, C1[j], x1, out + j * n_features, n_features)
            if b != NULL:
                if C0[j] != 0.0:
                    out[size_W + j] += C0[j]
                if C1[j] != 0.0:
                    out[size_W + j] += C1[j]
        ii += 2
    if ii < stop:
        # the block's last row, when it has an odd number of rows
        i0 = row_of(rows, ii)
        x0 = X + i0 * n_features
        for j in range(n_outputs):
            P0[j] = dot(W + j * n_features, x0, n_features)
        row_terms(Y, b, sample_weight, i0, P0, n_outputs, plain, loss_kind, width, C0, &loss_sum, &weight_sum)
        for j in range(n_outputs):
            if C0[j] != 0.0:
                axpy_into_double(C0[j], x0, out + j * n_features, n_features)
                if b != NULL:
                    out[size_W + j] += C0[j]
    out[size] = loss_sum
    out[size + 1] = weight_sum


cdef inline Py_ssize_t block_stride(Py_ssize_t size) noexcept nogil:
    """Doubles between two blocks' partial sums: size + 2 rounded up to whole 64-byte lines, plus
    one line, so that threads computing neighbouring blocks never write to one cache line (however
    the buffer is aligned)."""
    return (size + 2 + 7) // 8 * 8 + 8


cdef inline double blocks_reduce(
    const double* partials, Py_ssize_t n_blocks, Py_ssize_t size, Py_ssize_t stride, double per_row,
    int reduction, Py_ssize_t n_rows, double* grad,
) noexcept nogil:
    """Add the blocks' partial sums (``block_partial_into``, rows of size + 2 every ``stride``
    doubles) in block order and scale once, as ``loss_and_gradient`` does; returns the loss.
    ``per_row`` is ``terms_per_row`` of the loss (n_outputs, or 1 for LOSS_MULTINOMIAL).

    NumPy equivalent (P = partials as (n_blocks, stride), each sum in block order 0, 1, ...)::

        S = P.sum(axis=0);  loss_sum, weight_sum = S[size], S[size + 1]
        scale = batch_scale(reduction, per_row, weight_sum, n_rows)   # 1 / (per_row * weight_sum) or 1 / n_rows
        grad[:size] = scale * S[:size];  return scale * loss_sum
    """
    cdef Py_ssize_t blk, k
    cdef const double* p
    cdef double scale, loss_sum = partials[size], weight_sum = partials[size + 1]
    for k in range(size):
        grad[k] = partials[k]
    for blk in range(1, n_blocks):
        p = partials + blk * stride
        for k in range(size):
            grad[k] += p[k]
        loss_sum += p[size]
        weight_sum += p[size + 1]
    # All sample weights zero: loss 0 and gradient 0 (as loss_and_gradient), not 0/0.
    scale = batch_scale(reduction, per_row, weight_sum, n_rows)
    for k in range(size):
        grad[k] *= scale
    return loss_sum * scale
