# cython: language_level=3
"""One update step per optimizer, and the dispatcher ``optimizer_step`` the kernels call.

Each step follows torch.optim's default single-tensor (``foreach=False``) arithmetic, operation for
operation where that changes the rounding; the formula above each step is its class's docstring
(gdfast/optimizers.py) in torch.optim's notation: ``g`` the gradient, ``p`` a parameter, ``lr`` the
scheduled learning rate, ``t`` the 1-based update count, element-wise. The Adam family's moment
updates, the same in Adam, NAdam, RAdam and Adamax, are the helpers ``adam_moments`` and
``first_moment`` that those steps call. The NumPy twin of each step is in gdfast/reference.py.

Everything here is ``noexcept nogil`` and checks nothing (hyper-parameters are validated in
gdfast/optimizers.py). Parameters are read as double and the new ones rounded once to the
parameters' type; buffers are double. ``state`` holds 3 rows of ``size`` doubles (s0, s1, s2) whose
meaning each step states; ``grad`` is the kernel's own scratch, which the weight-decay stage
overwrites.

Each step's loop reads the settings from a local copy ``c`` of the config: the compiler cannot tell
that the loop's stores (parameters, buffers) leave ``*cfg`` alone, so it would read every setting
again for every element, and the loop would not vectorise. With the copy it reads them once and
vectorises (sqrt and division included: IEEE operations, the same result in every lane; adam-64
12% faster). The same arithmetic in the same order: the same bits.
"""
from cython cimport floating
from libc.math cimport fabs, pow, sqrt
from libc.stdint cimport int64_t

from gdfast._contract cimport (
    OPT_ADAGRAD, OPT_ADAM, OPT_ADAMAX, OPT_NADAM, OPT_RADAM, OPT_RMSPROP, OPT_SGD, TrainConfig,
)


cdef inline void optimizer_step(
    const TrainConfig* cfg,
    const floating* p_old,
    floating* p_new,
    double* grad,
    double* state,
    double* mu_product,
    Py_ssize_t size,
    double lr,
    int64_t step,
) noexcept nogil:
    """p_new = p_old after one update by the configured optimizer (``p_new`` may be ``p_old``).

    ``step`` is the 1-based update count, ``state`` 3 * size doubles of buffers, ``mu_product`` the
    run's NAdam product (read and written by NAdam only). ``grad`` is overwritten.
    """
    cdef Py_ssize_t k
    cdef double wd = cfg.weight_decay
    cdef double shrink = 1.0
    if cfg.optimizer == OPT_SGD and cfg.momentum == 0.0 and wd == 0.0:
        # Plain SGD, the common case: p = p - lr * g                       (NumPy: p_new = p - lr * g)
        for k in range(size):
            p_new[k] = <floating>(p_old[k] - lr * grad[k])
        return
    # Weight decay, one stage for every optimizer (torch: skipped when weight_decay == 0).
    if cfg.decoupled_weight_decay:
        # decoupled (AdamW, NAdam/RAdam's decoupled_weight_decay): p = p * (1 - lr * weight_decay),
        # applied as each step reads p, in double (so float32 parameters are rounded only once)
        shrink = 1.0 - lr * wd
    elif wd != 0.0:
        # coupled (L2): g = g + weight_decay * p                           (NumPy: g += wd * p)
        for k in range(size):
            grad[k] = grad[k] + wd * p_old[k]
    if cfg.optimizer == OPT_SGD:
        sgd_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)
    elif cfg.optimizer == OPT_ADAM:
        adam_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)
    elif cfg.optimizer == OPT_RMSPROP:
        rmsprop_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)
    elif cfg.optimizer == OPT_ADAGRAD:
        adagrad_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)
    elif cfg.optimizer == OPT_NADAM:
        nadam_step(cfg, p_old, p_new, grad, state, mu_product, size, lr, step, shrink)
    elif cfg.optimizer == OPT_RADAM:
        radam_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)
    elif cfg.optimizer == OPT_ADAMAX:
        adamax_step(cfg, p_old, p_new, grad, state, size, lr, step, shrink)


cdef inline void sgd_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.SGD; s0 = b (momentum buffer).

        if momentum != 0:
            b = g                                   if t == 1
            b = momentum * b + (1 - dampening) * g  otherwise
            g = g + momentum * b  if nesterov  else  b
        p = p - lr * g
    """
    cdef Py_ssize_t k
    cdef double p, d, buf
    cdef double* s0 = state
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        if c.momentum != 0.0:
            # NumPy: b = g if t == 1 else momentum * b + (1 - dampening) * g
            if step == 1:
                buf = d
            else:
                buf = c.momentum * s0[k] + (1.0 - c.dampening) * d
            s0[k] = buf
            if c.nesterov:
                d = d + c.momentum * buf
            else:
                d = buf
        p_new[k] = <floating>(p - lr * d)


cdef inline double first_moment(const TrainConfig* cfg, double m, double d) noexcept nogil:
    """The Adam family's new first moment of one element (Adam, NAdam, RAdam, Adamax); ``d`` is g:

        m = beta1 * m + (1 - beta1) * g
    """
    return cfg.beta1 * m + (1.0 - cfg.beta1) * d           # NumPy: m = b1 * m + (1 - b1) * g


cdef inline (double, double) adam_moments(
    const TrainConfig* cfg, double* s0, double* s1, Py_ssize_t k, double d,
) noexcept nogil:
    """The new (m, v) of element ``k`` (Adam, NAdam, RAdam; s0 = m, s1 = v), stored back and
    returned; ``d`` is g[k]. Both are computed before either is stored (for the compiler a store
    could change ``cfg``, whose settings it would then read again):

        m = beta1 * m + (1 - beta1) * g                    (first_moment)
        v = beta2 * v + (1 - beta2) * g**2
    """
    cdef double m = first_moment(cfg, s0[k], d)
    cdef double v = cfg.beta2 * s1[k] + (1.0 - cfg.beta2) * d * d   # NumPy: v = b2 * v + (1 - b2) * g * g
    s0[k] = m
    s1[k] = v
    return m, v


cdef inline void adam_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.Adam / AdamW; s0 = m, s1 = v, s2 = v_max (amsgrad).

        m, v = adam_moments                    (the family's moment updates, above)
        v_max = max(v_max, v)                  (amsgrad only; then v_max replaces v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """
    cdef Py_ssize_t k
    cdef double p, d, m, v, vmax, denom
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double* s2 = state + 2 * size
    cdef double step_size = lr / (1.0 - pow(cfg.beta1, <double>step))
    cdef double bias2_sqrt = sqrt(1.0 - pow(cfg.beta2, <double>step))
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        m, v = adam_moments(&c, s0, s1, k, d)
        if c.amsgrad:
            vmax = s2[k] if s2[k] > v else v                 # NumPy: v_max = np.maximum(v_max, v)
            s2[k] = vmax
            denom = sqrt(vmax) / bias2_sqrt + c.eps
        else:
            denom = sqrt(v) / bias2_sqrt + c.eps
        p_new[k] = <floating>(p - step_size * m / denom)


cdef inline void rmsprop_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.RMSprop; s0 = v, s1 = a (centered), s2 = b (momentum).

        v = alpha * v + (1 - alpha) * g**2
        if centered: a = alpha * a + (1 - alpha) * g;  s = sqrt(max(v - a**2, 0)) + eps
        else:        s = sqrt(v) + eps
        if momentum > 0: b = momentum * b + g / s;  p = p - lr * b
        else:            p = p - lr * g / s
    """
    cdef Py_ssize_t k
    cdef double p, d, v, a, buf, avg
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double* s2 = state + 2 * size
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        v = c.alpha * s0[k] + (1.0 - c.alpha) * d * d
        s0[k] = v
        if c.centered:
            a = c.alpha * s1[k] + (1.0 - c.alpha) * d
            s1[k] = a
            v = v - a * a
            if v < 0.0:  # rounding can push the centred variance below zero  (NumPy: np.maximum(v, 0))
                v = 0.0
        avg = sqrt(v) + c.eps
        if c.momentum > 0.0:
            buf = c.momentum * s2[k] + d / avg
            s2[k] = buf
            p_new[k] = <floating>(p - lr * buf)
        else:
            p_new[k] = <floating>(p - lr * d / avg)


cdef inline void adagrad_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.Adagrad; s0 = s (starts at initial_accumulator_value).

        s = s + g**2
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
    """
    cdef Py_ssize_t k
    cdef double p, d, v
    cdef double* s0 = state
    cdef double clr = lr / (1.0 + <double>(step - 1) * cfg.lr_decay)
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        v = s0[k] + d * d                                       # NumPy: s += g * g
        s0[k] = v
        p_new[k] = <floating>(p - clr * d / (sqrt(v) + c.eps))


cdef inline void nadam_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    double* mu_product, Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.NAdam; s0 = m, s1 = v; ``mu_product`` the run's product mu_1 * ... * mu_t.

        mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_product = mu_product * mu_t
        m, v = adam_moments                    (the family's moment updates, above)
        denom = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
        p = p - lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom
    (the two subtractions rounded one after the other, as torch's two addcdiv_ calls)
    """
    cdef Py_ssize_t k
    cdef double p, d, m, v, denom
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double bias2 = 1.0 - pow(cfg.beta2, <double>step)
    cdef double mu = cfg.beta1 * (1.0 - 0.5 * pow(0.96, <double>step * cfg.momentum_decay))
    cdef double mu_next = cfg.beta1 * (1.0 - 0.5 * pow(0.96, (<double>step + 1.0) * cfg.momentum_decay))
    cdef double product = mu_product[0] * mu
    cdef double coef_g = lr * (1.0 - mu) / (1.0 - product)
    cdef double coef_m = lr * mu_next / (1.0 - product * mu_next)
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    mu_product[0] = product
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        m, v = adam_moments(&c, s0, s1, k, d)
        denom = sqrt(v / bias2) + c.eps                      # NumPy: np.sqrt(v / bias2) + eps
        p = p - coef_g * d / denom
        p_new[k] = <floating>(p - coef_m * m / denom)


cdef inline void radam_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.RAdam; s0 = m, s1 = v.

        m, v = adam_moments                    (the family's moment updates, above)
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            p = p - m_hat * lr * (sqrt(1 - beta2**t) / (sqrt(v) + eps)) * r_t
        else:
            p = p - m_hat * lr
    (torch takes the square roots of scalars as x**0.5, i.e. pow(x, 0.5), and divides a scalar by a
    tensor as reciprocal(tensor) * scalar: so do we)
    """
    cdef Py_ssize_t k
    cdef double p, d, m, v, m_hat
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double bias1 = 1.0 - pow(cfg.beta1, <double>step)
    cdef double bias2 = 1.0 - pow(cfg.beta2, <double>step)
    cdef double rho_inf = 2.0 / (1.0 - cfg.beta2) - 1.0
    cdef double rho_t = rho_inf - 2.0 * <double>step * pow(cfg.beta2, <double>step) / bias2
    cdef bint rectify = rho_t > 5.0
    cdef double rect = 0.0, bias2_sqrt = 0.0
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    if rectify:
        rect = pow((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.5)
        bias2_sqrt = pow(bias2, 0.5)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        m, v = adam_moments(&c, s0, s1, k, d)
        m_hat = m / bias1
        if rectify:
            # NumPy: p - m_hat * lr * ((1 / (np.sqrt(v) + eps)) * bias2_sqrt) * rect
            p_new[k] = <floating>(p - m_hat * lr * ((1.0 / (sqrt(v) + c.eps)) * bias2_sqrt) * rect)
        else:
            p_new[k] = <floating>(p - m_hat * lr)


cdef inline void adamax_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* state,
    Py_ssize_t size, double lr, int64_t step, double shrink,
) noexcept nogil:
    """torch.optim.Adamax; s0 = m, s1 = u (the exponentially weighted infinity norm).

        m = first_moment                       (the family's moment update, above)
        u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1**t) * m / u
    """
    cdef Py_ssize_t k
    cdef double p, d, m, u, a
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double clr = lr / (1.0 - pow(cfg.beta1, <double>step))
    cdef TrainConfig c = cfg[0]  # (the settings, read once: see the module's docstring)
    for k in range(size):
        p = p_old[k] * shrink
        d = g[k]
        m = first_moment(&c, s0[k], d)
        u = c.beta2 * s1[k]
        a = fabs(d) + c.eps
        if a > u or a != a:  # NumPy: u = np.maximum(b2 * u, np.abs(g) + eps) (NaN propagates, as there)
            u = a
        s0[k] = m
        s1[k] = u
        p_new[k] = <floating>(p - clr * m / u)


cdef inline void penalised_sgd_step(
    const TrainConfig* cfg, const floating* p_old, floating* p_new, const double* g, double* q,
    double* l1_total, Py_ssize_t size_W, Py_ssize_t size, double lr,
) noexcept nogil:
    """Plain SGD on loss + alpha * (l1_ratio * |W|_1 + (1 - l1_ratio) / 2 * |W|_2^2), the bias
    (entries ``size_W`` on) never penalised; ``l2 = cfg.l2_penalty``, ``l1 = cfg.l1_penalty``:

        w = max(0, 1 - lr * l2) * w - lr * g       (scikit-learn's order: shrink, then the loss step)
        b = b - lr * g
        batch_size == 1 (scikit-learn's cumulative truncated gradient, Tsuruoka et al. 2009):
            u = u + lr * l1                        (``l1_total``, the run's record)
            w > 0: w = max(0, w - (u + q));  w < 0: w = min(0, w + (u - q));  q = q + (w_new - w)
        larger batches (proximal step, soft-thresholding):
            w = sign(w) * max(0, |w| - lr * l1)

    ``q`` (size_W doubles, opt_state row 1, free for plain SGD) is the L1 already applied to each
    weight. Each weight is computed in double and rounded once to the parameters' type.
    """
    cdef Py_ssize_t k
    cdef double shrink = 1.0 - lr * cfg.l2_penalty
    cdef double p, z, u = 0.0, tau = lr * cfg.l1_penalty
    cdef bint truncated = cfg.l1_penalty != 0.0 and cfg.batch_size == 1
    cdef bint proximal = cfg.l1_penalty != 0.0 and cfg.batch_size != 1
    if shrink < 0.0:  # scikit-learn: never scale to negative values when lr * alpha is too big
        shrink = 0.0
    if truncated:
        l1_total[0] = l1_total[0] + tau
        u = l1_total[0]
    for k in range(size_W):
        p = p_old[k] * shrink - lr * g[k]              # NumPy: w = shrink * w - lr * g
        if truncated:
            z = p
            if z > 0.0:
                p = z - (u + q[k])
                if p < 0.0:
                    p = 0.0
            elif z < 0.0:
                p = z + (u - q[k])
                if p > 0.0:
                    p = 0.0
            q[k] = q[k] + (p - z)
        elif proximal:
            # NumPy: w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0)
            if p > tau:
                p = p - tau
            elif p < -tau:
                p = p + tau
            else:
                p = 0.0
        p_new[k] = <floating>p
    for k in range(size_W, size):
        p_new[k] = <floating>(p_old[k] - lr * g[k])    # NumPy: b = b - lr * g


cdef inline void running_mean_step(const floating* p, double* mean, Py_ssize_t size, int64_t k) noexcept nogil:
    """Averaged SGD (Polyak-Ruppert; scikit-learn's ``average``): the ``k``-th iterate ``p`` joins
    the running mean of the iterates, kept in double (``mean``, opt_state row 2):

        mean = mean + (p - mean) / k               (k = 1: mean = p exactly)

    scikit-learn's update of its average intercept; its average weights are the same mean, kept
    lazily (scaled sums), so they agree to rounding.
    """
    cdef Py_ssize_t j
    cdef double kd = <double>k
    for j in range(size):
        mean[j] = mean[j] + (p[j] - mean[j]) / kd   # NumPy: mean += (p - mean) / k
