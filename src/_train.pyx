# cython: language_level=3
"""The training loop: every step of gradient descent on a linear model, inside one ``nogil`` call.

``run_steps`` advances one training run by up to ``n_steps`` updates; ``sweep_steps`` advances many
independent runs that share the data, spread over threads with OpenMP. A run's whole state lives in
caller-owned NumPy arrays (see ``gdfast/_engine.py``), so a run can be continued later, in chunks, and
still give the bit-identical result of one long call.

Preconditions (checked in Python, never here): C-contiguous arrays of one float dtype, shapes as
documented on ``run_steps``, finite data, valid hyper-parameters, 1 <= batch_size <= n_samples.
"""
from cpython cimport array
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport cos, fabs, floor, isfinite, pow, sqrt, M_PI
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc

from _linear cimport loss_and_gradient, sum_of_squares

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int gdfast_have_openmp(void) { return 1; }
    static int gdfast_max_threads(void) { return omp_get_max_threads(); }
    static int gdfast_thread_num(void) { return omp_get_thread_num(); }
    #else
    static int gdfast_have_openmp(void) { return 0; }
    static int gdfast_max_threads(void) { return 1; }
    static int gdfast_thread_num(void) { return 0; }
    #endif
    """
    int gdfast_have_openmp() noexcept nogil
    int gdfast_max_threads() noexcept nogil
    int gdfast_thread_num() noexcept nogil

cdef extern from "Python.h":
    int PyErr_CheckSignals()

# Kept in sync with gdfast/_engine.py.
cdef enum:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAGRAD = 3

cdef enum:
    SCHEDULE_CONSTANT = 0
    SCHEDULE_EXPONENTIAL = 1
    SCHEDULE_STEP = 2
    SCHEDULE_INVSCALING = 3
    SCHEDULE_COSINE = 4

cdef enum:
    STATUS_RUNNING = 0
    STATUS_CONVERGED = 1
    STATUS_NO_IMPROVEMENT = 2
    STATUS_DIVERGED = 3
    STATUS_INTERRUPTED = 4

# Slots of the int64 ``counters`` array of a run.
cdef enum:
    C_STEP = 0            # updates done so far (t)
    C_CURRENT = 1         # which row of ``params`` holds the current parameters (0 or 1)
    C_POSITION = 2        # index into ``perm`` of the next batch's first sample
    C_EPOCH = 3           # completed epochs
    C_NO_IMPROVEMENT = 4  # consecutive epochs without loss improvement
    C_RECORDED = 5        # entries written to ``history`` by this call
    C_EPOCHS_RECORDED = 6 # entries written to ``epoch_history`` by this call
    C_STATUS = 7          # STATUS_* of the last call
    C_RNG = 8             # splitmix64 state (bit pattern of a uint64)
    N_COUNTERS = 9

# Slots of the double ``scalars`` array of a run.
cdef enum:
    S_BEST_LOSS = 0
    S_EPOCH_LOSS_SUM = 1
    S_EPOCH_SAMPLES = 2
    S_LAST_LOSS = 3
    S_LAST_GRAD_NORM = 4
    N_SCALARS = 5


cdef struct TrainConfig:
    int loss
    double huber_delta
    int optimizer
    double learning_rate
    double momentum
    double dampening
    bint nesterov
    double weight_decay
    bint decoupled_weight_decay
    double beta1
    double beta2
    double eps
    bint amsgrad
    double alpha
    bint centered
    double lr_decay
    int schedule
    double schedule_gamma
    double schedule_step_size
    double schedule_power
    double schedule_t_max
    double schedule_eta_min
    double clip_norm
    double grad_tol
    double loss_tol
    int64_t n_iter_no_change
    int64_t batch_size
    bint shuffle
    int64_t record_every


def have_openmp():
    """Whether this build runs sweeps in parallel (compiled with OpenMP)."""
    return bool(gdfast_have_openmp())


def max_threads():
    """omp_get_max_threads() of this build (1 without OpenMP)."""
    return gdfast_max_threads()


def _threads_used(int n_threads):
    """Test hook: how many distinct OpenMP threads a parallel loop of ``n_threads`` really runs on."""
    cdef int i, n = 64 * n_threads
    cdef int[::1] seen = array.array("i", [0]) * n
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static", chunksize=1):
        seen[i] = gdfast_thread_num()
    return len(set(seen))


cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    """The next output of Vigna's splitmix64 generator (state advanced in place)."""
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t uniform_below(uint64_t* state, uint64_t bound) noexcept nogil:
    """An unbiased integer in [0, bound): splitmix64 outputs below 2**64 mod bound are rejected."""
    cdef uint64_t threshold = (<uint64_t>0 - bound) % bound
    cdef uint64_t r = splitmix64(state)
    while r < threshold:
        r = splitmix64(state)
    return r % bound


cdef inline void shuffle_in_place(Py_ssize_t* perm, Py_ssize_t n, uint64_t* state) noexcept nogil:
    """Fisher-Yates: for i = n-1 .. 1, swap perm[i] with perm[uniform_below(i + 1)]."""
    cdef Py_ssize_t i, j, tmp
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>uniform_below(state, <uint64_t>(i + 1))
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp


cdef inline double scheduled_learning_rate(const TrainConfig* cfg, int64_t t) noexcept nogil:
    """Learning rate of update t (0-based)."""
    cdef double lr = cfg.learning_rate
    if cfg.schedule == SCHEDULE_EXPONENTIAL:
        return lr * pow(cfg.schedule_gamma, <double>t)
    if cfg.schedule == SCHEDULE_STEP:
        return lr * pow(cfg.schedule_gamma, floor(<double>t / cfg.schedule_step_size))
    if cfg.schedule == SCHEDULE_INVSCALING:
        return lr / pow(<double>(t + 1), cfg.schedule_power)
    if cfg.schedule == SCHEDULE_COSINE:
        # (1 + cos) / 2 in [0, 1] first, so (lr - eta_min) * it cannot overflow (same bits otherwise:
        # halving is exact).
        return cfg.schedule_eta_min + (lr - cfg.schedule_eta_min) * (
            (1.0 + cos(M_PI * <double>t / cfg.schedule_t_max)) / 2.0)
    return lr


cdef inline void optimizer_step(
    const TrainConfig* cfg,
    const floating* p_old,
    floating* p_new,
    const double* grad,
    double* state,
    Py_ssize_t size,
    double lr,
    int64_t step,
) noexcept nogil:
    """p_new = one update of p_old by the configured optimizer (torch.optim's arithmetic).

    ``step`` is the 1-based update count; ``state`` holds 3 * size doubles of optimizer buffers.
    """
    cdef Py_ssize_t k
    cdef double g, p, buf, m, v, vmax, denom, avg
    cdef double wd = cfg.weight_decay
    cdef double* s0 = state
    cdef double* s1 = state + size
    cdef double* s2 = state + 2 * size
    cdef double step_size, bias2_sqrt, clr

    if cfg.optimizer == OPT_SGD:
        for k in range(size):
            p = p_old[k]
            g = grad[k] + wd * p
            if cfg.momentum != 0.0:
                if step == 1:
                    buf = g
                else:
                    buf = cfg.momentum * s0[k] + (1.0 - cfg.dampening) * g
                s0[k] = buf
                if cfg.nesterov:
                    g = g + cfg.momentum * buf
                else:
                    g = buf
            p_new[k] = <floating>(p - lr * g)
    elif cfg.optimizer == OPT_ADAM:
        step_size = lr / (1.0 - pow(cfg.beta1, <double>step))
        bias2_sqrt = sqrt(1.0 - pow(cfg.beta2, <double>step))
        for k in range(size):
            p = p_old[k]
            g = grad[k]
            if cfg.decoupled_weight_decay:
                p = p * (1.0 - lr * wd)
            else:
                g = g + wd * p
            m = cfg.beta1 * s0[k] + (1.0 - cfg.beta1) * g
            v = cfg.beta2 * s1[k] + (1.0 - cfg.beta2) * g * g
            s0[k] = m
            s1[k] = v
            if cfg.amsgrad:
                vmax = s2[k] if s2[k] > v else v
                s2[k] = vmax
                denom = sqrt(vmax) / bias2_sqrt + cfg.eps
            else:
                denom = sqrt(v) / bias2_sqrt + cfg.eps
            p_new[k] = <floating>(p - step_size * m / denom)
    elif cfg.optimizer == OPT_RMSPROP:
        for k in range(size):
            p = p_old[k]
            g = grad[k] + wd * p
            v = cfg.alpha * s0[k] + (1.0 - cfg.alpha) * g * g
            s0[k] = v
            if cfg.centered:
                m = cfg.alpha * s1[k] + (1.0 - cfg.alpha) * g
                s1[k] = m
                v = v - m * m
                if v < 0.0:  # rounding can push the centred variance below zero
                    v = 0.0
            avg = sqrt(v) + cfg.eps
            if cfg.momentum > 0.0:
                buf = cfg.momentum * s2[k] + g / avg
                s2[k] = buf
                p_new[k] = <floating>(p - lr * buf)
            else:
                p_new[k] = <floating>(p - lr * g / avg)
    else:  # OPT_ADAGRAD
        clr = lr / (1.0 + <double>(step - 1) * cfg.lr_decay)
        for k in range(size):
            p = p_old[k]
            g = grad[k] + wd * p
            v = s0[k] + g * g
            s0[k] = v
            p_new[k] = <floating>(p - clr * g / (sqrt(v) + cfg.eps))


cdef int run_one(
    const TrainConfig* cfg,
    const floating* X,
    const floating* Y,
    const floating* sample_weight,
    Py_ssize_t n_samples,
    Py_ssize_t n_features,
    Py_ssize_t n_outputs,
    bint fit_intercept,
    floating* params,
    double* opt_state,
    double* grad,
    double* residual_grad,
    Py_ssize_t* perm,
    int64_t* counters,
    double* scalars,
    double* history,
    double* epoch_history,
    int64_t t_origin,
    int64_t epoch_origin,
    int64_t n_steps,
    int64_t check_every,
    int* stop_flag,
) noexcept nogil:
    """Advance one run by up to ``n_steps`` updates; returns (and stores) its STATUS_*.

    ``params`` is (2, size) with size = n_outputs * n_features (+ n_outputs when fit_intercept,
    the bias last); row counters[C_CURRENT] holds the current parameters, the other row the
    previous ones, so a diverged run can hand back its last finite iterate without copying.
    ``history`` receives the loss of step t when (t - t_origin) % record_every == 0 (at index
    (t - t_origin) // record_every), ``epoch_history`` the mean loss of each completed epoch.
    Every ``check_every`` steps the run polls Python's signal handlers (main thread only) and
    ``stop_flag``, which any thread sets to interrupt all runs.
    """
    cdef Py_ssize_t size_W = n_outputs * n_features
    cdef Py_ssize_t size = size_W + (n_outputs if fit_intercept else 0)
    cdef Py_ssize_t n_rows, k
    cdef int64_t i_step, t, status = STATUS_RUNNING
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    cdef bint need_norm = cfg.grad_tol >= 0.0 or cfg.clip_norm > 0.0
    cdef double loss, grad_norm = -1.0, coef, lr, epoch_loss
    cdef floating* current
    cdef floating* other
    cdef const Py_ssize_t* rows
    cdef uint64_t rng = <uint64_t>counters[C_RNG]

    for i_step in range(n_steps):
        t = counters[C_STEP]
        current = params + counters[C_CURRENT] * size
        other = params + (1 - counters[C_CURRENT]) * size

        # The batch: all samples in order, or the next slice of the (re)shuffled permutation.
        if full_batch:
            rows = NULL
            n_rows = n_samples
        else:
            if counters[C_POSITION] == 0 and cfg.shuffle:
                shuffle_in_place(perm, n_samples, &rng)
            rows = perm + counters[C_POSITION]
            n_rows = min(<Py_ssize_t>cfg.batch_size, n_samples - <Py_ssize_t>counters[C_POSITION])

        loss = loss_and_gradient(
            current, current + size_W if fit_intercept else <floating*>NULL,
            X, Y, sample_weight, rows, n_rows, n_features, n_outputs,
            cfg.loss, cfg.huber_delta, residual_grad, grad, grad + size_W if fit_intercept else NULL,
        )
        if (t - t_origin) % cfg.record_every == 0:
            history[(t - t_origin) // cfg.record_every] = loss
            counters[C_RECORDED] += 1

        if not isfinite(loss):
            # The current iterate overflowed: go back to the previous one (whose loss was finite).
            if t > 0:
                counters[C_CURRENT] = 1 - counters[C_CURRENT]
                counters[C_STEP] = t - 1
            status = STATUS_DIVERGED
            break
        scalars[S_LAST_LOSS] = loss

        if need_norm:
            grad_norm = sqrt(sum_of_squares(grad, size))
            scalars[S_LAST_GRAD_NORM] = grad_norm
            if grad_norm < cfg.grad_tol:
                status = STATUS_CONVERGED
                break
            if cfg.clip_norm > 0.0:
                # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1.
                coef = cfg.clip_norm / (grad_norm + 1e-6)
                if coef < 1.0:
                    for k in range(size):
                        grad[k] *= coef

        lr = scheduled_learning_rate(cfg, t)
        optimizer_step(cfg, current, other, grad, opt_state, size, lr, t + 1)
        counters[C_CURRENT] = 1 - counters[C_CURRENT]
        counters[C_STEP] = t + 1

        # Epoch bookkeeping (an epoch is one pass over the samples) and scikit-learn's
        # n_iter_no_change rule on the mean training loss of each epoch.
        scalars[S_EPOCH_LOSS_SUM] += loss * n_rows
        scalars[S_EPOCH_SAMPLES] += n_rows
        if full_batch:
            counters[C_POSITION] = 0
        else:
            counters[C_POSITION] += n_rows
            if counters[C_POSITION] >= n_samples:
                counters[C_POSITION] = 0
        if counters[C_POSITION] == 0:
            epoch_loss = scalars[S_EPOCH_LOSS_SUM] / scalars[S_EPOCH_SAMPLES]
            epoch_history[counters[C_EPOCH] - epoch_origin] = epoch_loss
            counters[C_EPOCHS_RECORDED] += 1
            counters[C_EPOCH] += 1
            scalars[S_EPOCH_LOSS_SUM] = 0.0
            scalars[S_EPOCH_SAMPLES] = 0.0
            if cfg.n_iter_no_change > 0:
                if epoch_loss > scalars[S_BEST_LOSS] - cfg.loss_tol:
                    counters[C_NO_IMPROVEMENT] += 1
                else:
                    counters[C_NO_IMPROVEMENT] = 0
                if epoch_loss < scalars[S_BEST_LOSS]:
                    scalars[S_BEST_LOSS] = epoch_loss
                if counters[C_NO_IMPROVEMENT] >= cfg.n_iter_no_change:
                    status = STATUS_NO_IMPROVEMENT
                    break

        if (i_step + 1) % check_every == 0:
            if stop_flag[0]:
                status = STATUS_INTERRUPTED
                break
            with gil:
                if PyErr_CheckSignals() != 0:
                    stop_flag[0] = 1
                    status = STATUS_INTERRUPTED
            if status == STATUS_INTERRUPTED:
                break

    counters[C_RNG] = <int64_t>rng
    counters[C_STATUS] = status
    return <int>status


cdef int _reraise() except -1:
    """Propagate the exception a signal handler left set (Ctrl-C) to the caller."""
    return -1


cdef inline int64_t steps_between_checks(Py_ssize_t batch, Py_ssize_t n_features, Py_ssize_t n_outputs):
    """About 2**22 multiply-adds (~1 ms) between two polls of the signal handlers."""
    cdef int64_t work = <int64_t>batch * n_features * n_outputs * 2 + 1
    return max(<int64_t>1, (<int64_t>1 << 22) // work)


def run_steps(
    dict config,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    floating[:, ::1] params,
    double[:, ::1] opt_state,
    double[::1] grad,
    double[::1] residual_grad,
    Py_ssize_t[::1] perm,
    int64_t[::1] counters,
    double[::1] scalars,
    double[::1] history,
    double[::1] epoch_history,
    int64_t t_origin,
    int64_t epoch_origin,
    int64_t n_steps,
):
    """Advance one training run by up to ``n_steps`` updates, the GIL released; returns its status.

    Shapes: X (n_samples, n_features), Y (n_samples, n_outputs), sample_weight (n_samples,) or
    None, params (2, size), opt_state (3, size), grad (size,), residual_grad
    (batch_size * n_outputs,), perm (n_samples,), counters (N_COUNTERS,), scalars (N_SCALARS,),
    history and epoch_history long enough for every record this call can write.
    """
    cdef TrainConfig cfg = config
    cdef int status
    cdef int stop_flag = 0
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef int64_t check_every = steps_between_checks(
        min(<Py_ssize_t>cfg.batch_size, X.shape[0]), X.shape[1], Y.shape[1])
    with nogil:
        status = run_one(
            &cfg, &X[0, 0], &Y[0, 0], sw, X.shape[0], X.shape[1], Y.shape[1], fit_intercept,
            &params[0, 0], &opt_state[0, 0], &grad[0], &residual_grad[0], &perm[0],
            &counters[0], &scalars[0], &history[0], &epoch_history[0],
            t_origin, epoch_origin, n_steps, check_every, &stop_flag,
        )
    if status == STATUS_INTERRUPTED:
        _reraise()
    return status


def sweep_steps(
    list configs,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    floating[:, :, ::1] params,
    double[:, :, ::1] opt_state,
    double[:, ::1] grad,
    double[:, ::1] residual_grad,
    Py_ssize_t[:, ::1] perm,
    int64_t[:, ::1] counters,
    double[:, ::1] scalars,
    double[:, ::1] history,
    double[:, ::1] epoch_history,
    const int64_t[::1] t_origin,
    const int64_t[::1] epoch_origin,
    const int64_t[::1] n_steps,
    int n_threads,
):
    """``run_steps`` for many runs at once (leading axis = run), spread over ``n_threads`` threads.

    Runs share X, Y and sample_weight; each has its own config, state rows, history origins and
    number of steps (t_origin, epoch_origin, n_steps have one entry per run). Each run is done by
    one thread from start to end, so its result does not depend on the number of threads.
    Returns the statuses as a list.
    """
    cdef Py_ssize_t n_runs = len(configs), r
    cdef TrainConfig* cfgs = <TrainConfig*>malloc(max(n_runs, 1) * sizeof(TrainConfig))
    cdef int stop_flag = 0
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef Py_ssize_t batch_max = 1
    cdef int64_t check_every
    if cfgs == NULL:
        raise MemoryError()
    try:
        for r in range(n_runs):
            cfgs[r] = configs[r]
            batch_max = max(batch_max, min(<Py_ssize_t>cfgs[r].batch_size, X.shape[0]))
        check_every = steps_between_checks(batch_max, X.shape[1], Y.shape[1])
        for r in prange(n_runs, nogil=True, num_threads=n_threads, schedule="dynamic", chunksize=1):
            if stop_flag == 0:
                run_one(
                    &cfgs[r], &X[0, 0], &Y[0, 0], sw, X.shape[0], X.shape[1], Y.shape[1],
                    fit_intercept, &params[r, 0, 0], &opt_state[r, 0, 0], &grad[r, 0],
                    &residual_grad[r, 0], &perm[r, 0], &counters[r, 0], &scalars[r, 0],
                    &history[r, 0], &epoch_history[r, 0], t_origin[r], epoch_origin[r], n_steps[r],
                    check_every, &stop_flag,
                )
    finally:
        free(cfgs)
    if stop_flag:
        _reraise()
    return [int(status) for status in counters[:, C_STATUS]]


def dataset_loss(
    dict config,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    const floating[::1] theta,
    double[::1] residual_grad,
):
    """Loss of parameters ``theta`` (W flattened, then b) on all samples; residual_grad is scratch."""
    cdef TrainConfig cfg = config
    cdef Py_ssize_t size_W = X.shape[1] * Y.shape[1]
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef double loss
    with nogil:
        loss = loss_and_gradient(
            &theta[0], &theta[size_W] if fit_intercept else <const floating*>NULL,
            &X[0, 0], &Y[0, 0], sw, NULL, X.shape[0], X.shape[1], Y.shape[1],
            cfg.loss, cfg.huber_delta, &residual_grad[0], NULL, NULL,
        )
    return loss
