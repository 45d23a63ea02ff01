# cython: language_level=3
"""The training loop: every step of gradient descent on a linear model, inside one ``nogil`` call.

``run_steps`` advances one training run by up to ``n_steps`` updates; ``sweep_steps`` advances many
independent runs that share the data, spread over threads with OpenMP. A run's whole state lives in
caller-owned NumPy arrays (see ``gdfast/_engine.py``), so a run can be continued later, in chunks, and
still give the bit-identical result of one long call.

Preconditions (checked in Python, never here): C-contiguous arrays of one float dtype, shapes as
documented on ``run_steps``, finite data, valid hyper-parameters, 1 <= batch_size <= n_samples.
"""
import os

from cpython cimport array
from cpython.ref cimport PyObject
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport cos, fabs, floor, isfinite, pow, sqrt, M_PI
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from gdfast._contract cimport (
    C_BEST_STEP, C_CURRENT, C_EPOCH, C_EPOCHS_RECORDED, C_NO_IMPROVEMENT, C_POSITION, C_RECORDED, C_RNG,
    C_STATUS, C_STEP, LOSS_MSE, OPT_SGD, S_BEST_LOSS, S_EPOCH_LOSS_SUM, S_EPOCH_SAMPLES,
    S_FIRST_LOSS, S_LAST_GRAD_NORM, S_LAST_LOSS, S_MU_PRODUCT, SCHEDULE_CONSTANT, SCHEDULE_COSINE,
    SCHEDULE_EXPONENTIAL, SCHEDULE_INVSCALING, SCHEDULE_STEP, SCHEDULE_TABLE, STATUS_CONVERGED, STATUS_DIVERGED, STATUS_INTERRUPTED,
    STATUS_NO_IMPROVEMENT, STATUS_RUNNING, TrainConfig,
)
from _linear cimport loss_and_gradient, mse_and_gradient, sum_of_squares, use_blas
from _optimizers cimport optimizer_step

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
    _mark_openmp_started()
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static", chunksize=1):
        seen[i] = gdfast_thread_num()
    return len(set(seen))


# The BLAS pin (dgemm on one thread) is plain Python, in gdfast/_blas.py.
from gdfast._blas import blas_single_thread


def run_uses_blas(dict config, Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_outputs):
    """Whether a run with this config calls dgemm (float32 data is then converted to float64)."""
    cdef TrainConfig cfg = config
    return bool(_run_uses_blas(&cfg, n_samples, n_features, n_outputs))


cdef bint _run_uses_blas(const TrainConfig* cfg, Py_ssize_t n_samples, Py_ssize_t n_features,
                         Py_ssize_t n_outputs) noexcept nogil:
    """Whether run_one will call dgemm (a full batch big enough for use_blas)."""
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    return full_batch and use_blas(NULL, <const double*>cfg, n_samples, n_features, n_outputs)


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
    if cfg.schedule == SCHEDULE_TABLE:
        # lr_t = rates[t]; Python checked that the table covers every update of the call
        return (<const double*>cfg.schedule_table)[t]
    if cfg.schedule == SCHEDULE_COSINE:
        # (1 + cos) / 2 in [0, 1] first, so (lr - eta_min) * it cannot overflow (same bits otherwise:
        # halving is exact).
        return cfg.schedule_eta_min + (lr - cfg.schedule_eta_min) * (
            (1.0 + cos(M_PI * <double>t / cfg.schedule_t_max)) / 2.0)
    return lr


cdef inline bint interrupted(int* stop_flag) noexcept nogil:
    """Whether a run must stop now: another thread set ``stop_flag``, or a signal handler raised
    (Python runs them in the main thread only; the exception stays set for the caller to raise)."""
    cdef bint stop = stop_flag[0] != 0
    if not stop:
        with gil:
            if PyErr_CheckSignals() != 0:
                stop_flag[0] = 1
                stop = True
    return stop


cdef struct LoopState:
    # A run's counters while the loop runs (see C_* and S_*), plus the countdowns of run_one.
    int64_t t
    int64_t cur
    int64_t epoch
    int64_t recorded
    int64_t epochs_recorded
    int64_t record_left
    int64_t epoch_left
    int64_t check_left
    double epoch_loss_sum
    double epoch_samples
    double last_loss
    double best_loss
    double first_loss


cdef inline bint grown_past(double loss, double best_loss, double first_loss, double factor) noexcept nogil:
    """The divergence rule on a finite (epoch) loss: loss > factor * best and loss > first loss.

    ``factor`` 0 turns the rule off; before the first epoch ends first_loss is NaN (never true)."""
    return factor > 0.0 and loss > factor * best_loss and loss > first_loss


cdef int simple_sgd_loop(
    const TrainConfig* config,
    const floating* X,
    const floating* Y,
    Py_ssize_t n_samples,
    Py_ssize_t n_features,
    Py_ssize_t n_outputs,
    bint fit_intercept,
    floating* params,
    double* grad,
    double* residual_grad,
    double* history,
    double* epoch_history,
    int64_t t_origin,
    int64_t epoch_origin,
    int64_t n_steps,
    int64_t check_every,
    int* stop_flag,
    LoopState* io,
) noexcept nogil:
    """run_one's loop for plain full-batch SGD on the unweighted MSE, without the branches that
    cannot fire (no norm, momentum, weight decay, schedule, early stopping or restore_best): the
    same arithmetic, records and final state. Its own function so its few variables stay in
    registers. Reads and updates the run's counters in ``io``; returns the STATUS_*."""
    cdef int64_t t = io.t, cur = io.cur, epoch = io.epoch
    cdef int64_t recorded = io.recorded, epochs_recorded = io.epochs_recorded
    cdef int64_t record_left = io.record_left, epoch_left = io.epoch_left, check_left = io.check_left
    cdef int64_t record_every = config.record_every, epoch_record_every = config.epoch_record_every
    cdef double last_loss = io.last_loss, best_loss = io.best_loss, first_loss = io.first_loss
    cdef double epoch_loss_sum = io.epoch_loss_sum, epoch_samples = io.epoch_samples
    cdef double factor = config.divergence_factor
    cdef double lr = config.learning_rate, loss, epoch_loss
    cdef Py_ssize_t size_W = n_outputs * n_features
    cdef Py_ssize_t size = size_W + (n_outputs if fit_intercept else 0)
    cdef Py_ssize_t k
    cdef int64_t i_step
    cdef int status = STATUS_RUNNING
    cdef floating* current
    cdef floating* other
    for i_step in range(n_steps):
        current = params + cur * size
        other = params + (1 - cur) * size
        loss = mse_and_gradient(
            current, current + size_W if fit_intercept else <floating*>NULL,
            X, Y, NULL, n_samples, n_features, n_outputs,
            residual_grad, grad, grad + size_W if fit_intercept else NULL,
        )
        if record_left == 0:
            history[(t - t_origin) // record_every] = loss
            recorded += 1
            record_left = record_every - 1
        else:
            record_left -= 1
        epoch_loss = loss  # a full batch's epoch is this one step
        if not isfinite(loss) or grown_past(epoch_loss, best_loss, first_loss, factor):
            if t > t_origin:  # back to the previous iterate, whose loss passed this test
                cur = 1 - cur
                t = t - 1
            status = STATUS_DIVERGED
            break
        last_loss = loss
        # optimizer_step's plain-SGD branch: p_new = p - lr * g
        for k in range(size):
            other[k] = <floating>(current[k] - lr * grad[k])
        cur = 1 - cur
        t += 1
        # A full batch ends an epoch at every update.
        if epoch_left == 0:
            epoch_history[(epoch - epoch_origin) // epoch_record_every] = epoch_loss
            epochs_recorded += 1
            epoch_left = epoch_record_every - 1
        else:
            epoch_left -= 1
        epoch += 1
        epoch_loss_sum = 0.0
        epoch_samples = 0.0
        if first_loss != first_loss:  # NaN: this was the run's first epoch
            first_loss = epoch_loss
        if epoch_loss < best_loss:
            best_loss = epoch_loss
        check_left -= 1
        if check_left == 0:
            check_left = check_every
            if interrupted(stop_flag):
                status = STATUS_INTERRUPTED
                break
    io.t = t
    io.cur = cur
    io.epoch = epoch
    io.recorded = recorded
    io.epochs_recorded = epochs_recorded
    io.record_left = record_left
    io.epoch_left = epoch_left
    io.check_left = check_left
    io.epoch_loss_sum = epoch_loss_sum
    io.epoch_samples = epoch_samples
    io.last_loss = last_loss
    io.best_loss = best_loss
    io.first_loss = first_loss
    return status


cdef int run_one(
    const TrainConfig* config,
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
    const double* X_double,
) noexcept nogil:
    """Advance one run by up to ``n_steps`` updates; returns (and stores) its STATUS_*.

    ``params`` is (2, size), or (3, size) with ``restore_best``, with size = n_outputs * n_features
    (+ n_outputs when fit_intercept, the bias last); row counters[C_CURRENT] holds the current
    parameters, the other of rows 0 and 1 the previous ones, so a diverged run can hand back its
    previous iterate without copying; row 2 receives the weights of the best epoch so far
    (``restore_best``: for a full batch the iterate whose loss was lowest, for mini-batches the
    weights at the end of the epoch with the lowest mean loss; counters[C_BEST_STEP] their step).
    Divergence: a non-finite loss, or an epoch loss grown past ``divergence_factor`` times the best
    epoch loss and past the first one (see ``grown_past``); a full batch then steps back to the
    previous iterate, a mini-batch run stops at the end of that epoch. ``X_double`` is X as float64
    when the caller already has it (float32 data on the BLAS path), else NULL.
    ``history`` receives the loss of step t when (t - t_origin) % record_every == 0 (at index
    (t - t_origin) // record_every), ``epoch_history`` the mean loss of completed epoch e when
    (e - epoch_origin) % epoch_record_every == 0. Every ``check_every`` steps the run polls
    Python's signal handlers (main thread only) and ``stop_flag``, which any thread sets to
    interrupt all runs.

    The counters and scalars live in local variables during the loop and are written back at the
    end (no per-step stores to memory that neighbouring runs of a sweep share cache lines with).
    """
    cdef TrainConfig cfg = config[0]  # a local copy: the compiler need not reload it after stores
    cdef Py_ssize_t size_W = n_outputs * n_features
    cdef Py_ssize_t size = size_W + (n_outputs if fit_intercept else 0)
    cdef Py_ssize_t n_rows, k
    cdef int64_t i_step, status = STATUS_RUNNING
    cdef int64_t t = counters[C_STEP]
    cdef int64_t cur = counters[C_CURRENT]
    cdef int64_t position = counters[C_POSITION]
    cdef int64_t epoch = counters[C_EPOCH]
    cdef int64_t no_improvement = counters[C_NO_IMPROVEMENT]
    cdef int64_t recorded = counters[C_RECORDED]
    cdef int64_t epochs_recorded = counters[C_EPOCHS_RECORDED]
    cdef double best_loss = scalars[S_BEST_LOSS]
    cdef double first_loss = scalars[S_FIRST_LOSS]
    cdef int64_t best_step = counters[C_BEST_STEP]
    cdef floating* best_params = params + 2 * (n_outputs * n_features + (n_outputs if fit_intercept else 0))
    cdef LoopState io
    cdef double epoch_loss_sum = scalars[S_EPOCH_LOSS_SUM]
    cdef double epoch_samples = scalars[S_EPOCH_SAMPLES]
    cdef double last_loss = scalars[S_LAST_LOSS]
    cdef double last_grad_norm = scalars[S_LAST_GRAD_NORM]
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    cdef bint need_norm = cfg.grad_tol >= 0.0 or cfg.clip_norm > 0.0
    cdef double loss, grad_norm = -1.0, coef, lr, epoch_loss = 0.0
    cdef floating* current
    cdef floating* other
    cdef const Py_ssize_t* rows
    cdef uint64_t rng = <uint64_t>counters[C_RNG]
    # Countdowns replace per-step modulo: 0 means "record (or poll) at this step".
    cdef int64_t record_left = (cfg.record_every - (t - t_origin) % cfg.record_every) % cfg.record_every
    cdef int64_t epoch_left = (
        (cfg.epoch_record_every - (epoch - epoch_origin) % cfg.epoch_record_every) % cfg.epoch_record_every)
    cdef int64_t check_left = check_every
    # BLAS for large full batches (see use_blas): float64 X as is; float32 X converted once per call.
    cdef const double* X_blas = NULL
    cdef double* X_copy = NULL
    cdef double* W_blas = NULL
    if full_batch and use_blas(NULL, <const double*>X, n_samples, n_features, n_outputs):
        if floating is double:
            X_blas = X
        elif X_double != NULL:
            X_blas = X_double
            W_blas = <double*>malloc(size_W * sizeof(double))
            if W_blas == NULL:
                X_blas = NULL
        else:
            X_copy = <double*>malloc(n_samples * n_features * sizeof(double))
            W_blas = <double*>malloc(size_W * sizeof(double))
            if X_copy != NULL and W_blas != NULL:
                for k in range(n_samples * n_features):
                    X_copy[k] = X[k]
                X_blas = X_copy
    # The MSE without weights or BLAS has its own branch-free copy of the arithmetic.
    cdef bint plain_mse = cfg.loss == LOSS_MSE and sample_weight == NULL and X_blas == NULL
    # Plain full-batch SGD on the MSE with none of the per-step options: the loop below without
    # the branches that cannot fire (same arithmetic, same records, same state at the end).
    cdef bint simple = (plain_mse and full_batch and not need_norm and cfg.optimizer == OPT_SGD
                        and cfg.momentum == 0.0 and cfg.weight_decay == 0.0
                        and cfg.schedule == SCHEDULE_CONSTANT and cfg.n_iter_no_change <= 0
                        and not cfg.restore_best)
    if simple:
        io.t, io.cur, io.epoch, io.recorded, io.epochs_recorded = t, cur, epoch, recorded, epochs_recorded
        io.record_left, io.epoch_left, io.check_left = record_left, epoch_left, check_left
        io.epoch_loss_sum, io.epoch_samples, io.last_loss = epoch_loss_sum, epoch_samples, last_loss
        io.best_loss, io.first_loss = best_loss, first_loss
        status = simple_sgd_loop(
            &cfg, X, Y, n_samples, n_features, n_outputs, fit_intercept, params, grad, residual_grad,
            history, epoch_history, t_origin, epoch_origin, n_steps, check_every, stop_flag, &io,
        )
        if io.epoch != epoch:
            position = 0
        t, cur, epoch, recorded, epochs_recorded = io.t, io.cur, io.epoch, io.recorded, io.epochs_recorded
        record_left, epoch_left, check_left = io.record_left, io.epoch_left, io.check_left
        epoch_loss_sum, epoch_samples, last_loss = io.epoch_loss_sum, io.epoch_samples, io.last_loss
        best_loss, first_loss = io.best_loss, io.first_loss
        n_steps = 0  # the general loop below has nothing left to do

    for i_step in range(n_steps):
        current = params + cur * size
        other = params + (1 - cur) * size

        # The batch: all samples in order, or the next slice of the (re)shuffled permutation.
        if full_batch:
            rows = NULL
            n_rows = n_samples
        else:
            if position == 0 and cfg.shuffle:
                shuffle_in_place(perm, n_samples, &rng)
            rows = perm + position
            n_rows = min(<Py_ssize_t>cfg.batch_size, n_samples - <Py_ssize_t>position)

        if plain_mse:
            loss = mse_and_gradient(
                current, current + size_W if fit_intercept else <floating*>NULL,
                X, Y, rows, n_rows, n_features, n_outputs,
                residual_grad, grad, grad + size_W if fit_intercept else NULL,
            )
        else:
            loss = loss_and_gradient(
                current, current + size_W if fit_intercept else <floating*>NULL,
                X, Y, sample_weight, rows, n_rows, n_features, n_outputs,
                cfg.loss, cfg.huber_delta, residual_grad, grad, grad + size_W if fit_intercept else NULL,
                X_blas, W_blas,
            )
        if record_left == 0:
            history[(t - t_origin) // cfg.record_every] = loss
            recorded += 1
            record_left = cfg.record_every - 1
        else:
            record_left -= 1

        if full_batch:
            epoch_loss = loss  # a full batch's epoch is this one step
        if not isfinite(loss) or (full_batch and grown_past(epoch_loss, best_loss, first_loss,
                                                            cfg.divergence_factor)):
            # A full batch steps back to the previous iterate, whose loss passed this test. A
            # mini-batch run stays here (its counters then describe this iterate, not an earlier one):
            # the caller replays it to the last iterate whose loss on all samples is finite.
            if full_batch and t > t_origin:
                cur = 1 - cur
                t = t - 1
            status = STATUS_DIVERGED
            break
        last_loss = loss

        if need_norm:
            grad_norm = sqrt(sum_of_squares(grad, size))
            last_grad_norm = grad_norm
            if grad_norm < cfg.grad_tol:
                status = STATUS_CONVERGED
                break
            if cfg.clip_norm > 0.0:
                # torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1.
                coef = cfg.clip_norm / (grad_norm + 1e-6)
                if coef < 1.0:
                    for k in range(size):
                        grad[k] *= coef

        lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(&cfg, t)
        optimizer_step(&cfg, current, other, grad, opt_state, &scalars[S_MU_PRODUCT], size, lr, t + 1)
        cur = 1 - cur
        t += 1

        # Epoch bookkeeping (an epoch is one pass over the samples) and scikit-learn's
        # n_iter_no_change rule on the mean training loss of each epoch.
        epoch_loss_sum += loss * n_rows
        epoch_samples += n_rows
        if full_batch:
            position = 0
        else:
            position += n_rows
            if position >= n_samples:
                position = 0
        if position == 0:
            # epoch_loss = mean of this epoch's batch losses, weighted by batch size (a full batch:
            # the loss of its one step, set above)
            if not full_batch:
                epoch_loss = epoch_loss_sum / epoch_samples
            if epoch_left == 0:
                epoch_history[(epoch - epoch_origin) // cfg.epoch_record_every] = epoch_loss
                epochs_recorded += 1
                epoch_left = cfg.epoch_record_every - 1
            else:
                epoch_left -= 1
            epoch += 1
            epoch_loss_sum = 0.0
            epoch_samples = 0.0
            if not full_batch and grown_past(epoch_loss, best_loss, first_loss, cfg.divergence_factor):
                status = STATUS_DIVERGED  # (a full batch ran this test before its update)
                break
            if first_loss != first_loss:  # NaN: this was the run's first epoch
                first_loss = epoch_loss
            if cfg.restore_best and epoch_loss < best_loss:
                # best = the weights this epoch's loss belongs to: a full batch's loss is that of the
                # iterate before this update, a mini-batch epoch's that of the weights it ends with
                memcpy(best_params, current if full_batch else other, size * sizeof(floating))
                best_step = t - 1 if full_batch else t
            if cfg.n_iter_no_change > 0:
                if epoch_loss > best_loss - cfg.loss_tol:
                    no_improvement += 1
                else:
                    no_improvement = 0
            if epoch_loss < best_loss:
                best_loss = epoch_loss
            if cfg.n_iter_no_change > 0 and no_improvement >= cfg.n_iter_no_change:
                status = STATUS_NO_IMPROVEMENT
                break

        check_left -= 1
        if check_left == 0:
            check_left = check_every
            if interrupted(stop_flag):
                status = STATUS_INTERRUPTED
                break

    counters[C_STEP] = t
    counters[C_CURRENT] = cur
    counters[C_POSITION] = position
    counters[C_EPOCH] = epoch
    counters[C_NO_IMPROVEMENT] = no_improvement
    counters[C_RECORDED] = recorded
    counters[C_EPOCHS_RECORDED] = epochs_recorded
    scalars[S_BEST_LOSS] = best_loss
    scalars[S_FIRST_LOSS] = first_loss
    counters[C_BEST_STEP] = best_step
    scalars[S_EPOCH_LOSS_SUM] = epoch_loss_sum
    scalars[S_EPOCH_SAMPLES] = epoch_samples
    scalars[S_LAST_LOSS] = last_loss
    scalars[S_LAST_GRAD_NORM] = last_grad_norm
    counters[C_RNG] = <int64_t>rng
    counters[C_STATUS] = status
    free(X_copy)
    free(W_blas)
    return <int>status


cdef extern from "Python.h":
    void PyErr_Fetch(PyObject** ptype, PyObject** pvalue, PyObject** ptraceback)
    void PyErr_Restore(PyObject* ptype, PyObject* pvalue, PyObject* ptraceback)


cdef inline void _stash_exception(PyObject** saved) noexcept:
    """Take the exception a signal handler left set (Ctrl-C) off the thread, so that clean-up
    code (context managers) can run before it is raised again by ``_raise_stashed``."""
    PyErr_Fetch(&saved[0], &saved[1], &saved[2])


cdef int _raise_stashed(PyObject** saved) except -1:
    """Raise the exception ``_stash_exception`` took (KeyboardInterrupt if there was none)."""
    if saved[0] == NULL:
        raise KeyboardInterrupt()
    PyErr_Restore(saved[0], saved[1], saved[2])
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
    const double[:, ::1] X_double=None,
):
    """Advance one training run by up to ``n_steps`` updates, the GIL released; returns its status.

    Shapes: X (n_samples, n_features), Y (n_samples, n_outputs), sample_weight (n_samples,) or
    None, params (2, size), opt_state (3, size), grad (size,), residual_grad
    (batch_size * n_outputs,), perm (n_samples,), counters (N_COUNTERS,), scalars (N_SCALARS,),
    history and epoch_history long enough for every record this call can write. ``X_double``:
    float32 X converted to float64 once by a caller that runs a long run in chunks (the BLAS path
    would otherwise convert it at every call), else None.
    """
    cdef TrainConfig cfg = config
    cdef int status
    cdef int stop_flag = 0
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef int64_t check_every = steps_between_checks(
        min(<Py_ssize_t>cfg.batch_size, X.shape[0]), X.shape[1], Y.shape[1])
    cdef const double* x64 = &X_double[0, 0] if X_double is not None else NULL
    cdef PyObject* saved[3]
    saved[0] = saved[1] = saved[2] = NULL
    with blas_single_thread(_run_uses_blas(&cfg, X.shape[0], X.shape[1], Y.shape[1])):
        with nogil:
            status = run_one(
                &cfg, &X[0, 0], &Y[0, 0], sw, X.shape[0], X.shape[1], Y.shape[1], fit_intercept,
                &params[0, 0], &opt_state[0, 0], &grad[0], &residual_grad[0], &perm[0],
                &counters[0], &scalars[0], &history[0], &epoch_history[0],
                t_origin, epoch_origin, n_steps, check_every, &stop_flag, x64,
            )
        if status == STATUS_INTERRUPTED:
            _stash_exception(saved)
    if status == STATUS_INTERRUPTED:
        _raise_stashed(saved)
    return status


# --- Fork safety -------------------------------------------------------------------------------------
# GNU libgomp keeps its worker threads in a pool that a fork does not copy (only the forking thread
# survives in the child), and does not notice: the child's next parallel region waits forever for
# the missing threads. So a process forked (os.fork, multiprocessing's "fork" start method) after
# OpenMP ran threads in it, or in a process it was forked from, runs sweeps on a plain serial loop
# that makes no OpenMP call at all.
_openmp_started = False  # this process, or one it was forked from, entered an OpenMP parallel region
_forked_after_openmp = False  # ... and this process is a fork of it: OpenMP's pool is unusable here
_fork_warning_due = False  # the one-time warning of a serial sweep in this forked child is still due


def _after_fork_in_child():
    global _forked_after_openmp, _fork_warning_due
    if _openmp_started:
        _forked_after_openmp = True
        _fork_warning_due = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _mark_openmp_started():
    global _openmp_started
    _openmp_started = True


def openmp_forked():
    """Whether this process was forked after OpenMP ran threads in its parent (or an ancestor):
    OpenMP's thread pool is then unusable and ``sweep_steps`` runs serially."""
    return _forked_after_openmp


def take_fork_warning():
    """True once per forked process in which ``openmp_forked()`` holds (for a one-time warning)."""
    global _fork_warning_due
    due = _fork_warning_due
    _fork_warning_due = False
    return due


cdef struct SweepRuns:
    # What the runs of a sweep share, and where each run's rows start: row r of an array is
    # ``base + r * stride`` (strides in elements). X, Y, sample_weight and params are of the
    # sweep's float type (void* here: a struct cannot be fused).
    const TrainConfig* cfgs
    const void* X
    const void* Y
    const void* sample_weight
    Py_ssize_t n_samples
    Py_ssize_t n_features
    Py_ssize_t n_outputs
    bint fit_intercept
    Py_ssize_t size          # parameters of a run (W flattened, then b)
    Py_ssize_t p_len         # its params rows (2, or 3 with restore_best) times size
    void* params
    Py_ssize_t params_stride
    double* opt_state
    Py_ssize_t opt_state_stride
    Py_ssize_t* perm
    Py_ssize_t perm_stride
    int64_t* counters
    Py_ssize_t counters_stride
    double* scalars
    Py_ssize_t scalars_stride
    double* history
    Py_ssize_t history_stride
    double* epoch_history
    Py_ssize_t epoch_history_stride
    const int64_t* t_origin
    const int64_t* epoch_origin
    const int64_t* n_steps
    int64_t check_every


cdef struct Workspace:
    # One thread's working copies of a run's parameters and optimizer buffers, and run_one's
    # scratch: runs done at the same time by different threads then never write to neighbouring
    # memory (no false sharing of the cache lines at the edges of the stacked rows).
    void* params
    double* opt_state
    double* grad
    double* residual


cdef inline Workspace workspace_new(Py_ssize_t param_bytes, Py_ssize_t size, Py_ssize_t n_scratch) noexcept nogil:
    """A thread's Workspace (its pointers NULL where malloc failed: see ``workspace_ok``)."""
    cdef Workspace w
    w.params = malloc(param_bytes)
    w.opt_state = <double*>malloc(3 * size * sizeof(double))
    w.grad = <double*>malloc(size * sizeof(double))
    w.residual = <double*>malloc(n_scratch * sizeof(double))
    return w


cdef inline bint workspace_ok(Workspace w) noexcept nogil:
    return w.params != NULL and w.opt_state != NULL and w.grad != NULL and w.residual != NULL


cdef inline void workspace_free(Workspace w) noexcept nogil:
    free(w.params)
    free(w.opt_state)
    free(w.grad)
    free(w.residual)


cdef inline void _advance_run(const SweepRuns* s, Py_ssize_t r, floating* p_local, const Workspace* w,
                              int* stop_flag) noexcept nogil:
    """Run r of a sweep: ``run_one`` on the calling thread's working copies of its parameters
    (``p_local``, the workspace's params as the sweep's float type) and optimizer buffers
    (copied in, advanced, copied back)."""
    cdef floating* params_r = <floating*>s.params + r * s.params_stride
    cdef double* opt_state_r = s.opt_state + r * s.opt_state_stride
    memcpy(p_local, params_r, s.p_len * sizeof(floating))
    memcpy(w.opt_state, opt_state_r, 3 * s.size * sizeof(double))
    run_one(
        &s.cfgs[r], <const floating*>s.X, <const floating*>s.Y, <const floating*>s.sample_weight,
        s.n_samples, s.n_features, s.n_outputs, s.fit_intercept, p_local, w.opt_state, w.grad, w.residual,
        s.perm + r * s.perm_stride, s.counters + r * s.counters_stride, s.scalars + r * s.scalars_stride,
        s.history + r * s.history_stride, s.epoch_history + r * s.epoch_history_stride,
        s.t_origin[r], s.epoch_origin[r], s.n_steps[r], s.check_every, stop_flag, NULL,
    )
    memcpy(params_r, p_local, s.p_len * sizeof(floating))
    memcpy(opt_state_r, w.opt_state, 3 * s.size * sizeof(double))


def sweep_steps(
    list configs,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    floating[:, :, ::1] params,
    double[:, :, ::1] opt_state,
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
    number of steps (t_origin, epoch_origin, n_steps have one entry per run). A run with
    ``n_steps[r] == 0`` is left as it is (its status included). Each run is done by one thread from
    start to end, so its result does not depend on the number of threads. The gradient and the
    residuals are scratch of each thread (no per-run arrays). With ``n_threads == 1``, or in a
    process forked after OpenMP ran threads (see ``openmp_forked``), the runs are done one after
    the other on the calling thread without any OpenMP call. Returns the statuses as a list.
    """
    cdef Py_ssize_t n_runs = len(configs), r
    cdef TrainConfig* cfgs = <TrainConfig*>malloc(max(n_runs, 1) * sizeof(TrainConfig))
    cdef int stop_flag = 0
    cdef int alloc_failed = 0
    cdef PyObject* saved[3]
    cdef int* alloc_flag = &alloc_failed  # shared: written through the pointer inside the parallel block
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef Py_ssize_t batch_max = 1
    cdef bint any_blas = False
    cdef bint serial = n_threads <= 1 or _forked_after_openmp
    blas_guard = None
    cdef Py_ssize_t n_scratch
    cdef int64_t check_every
    cdef SweepRuns runs
    cdef Workspace ws
    saved[0] = saved[1] = saved[2] = NULL
    if cfgs == NULL:
        raise MemoryError()
    try:
        for r in range(n_runs):
            cfgs[r] = configs[r]
            batch_max = max(batch_max, min(<Py_ssize_t>cfgs[r].batch_size, X.shape[0]))
        # run_one's residual scratch: one entry per output of each sample of a batch.
        n_scratch = max(batch_max * Y.shape[1], 1)
        check_every = steps_between_checks(batch_max, X.shape[1], Y.shape[1])
        for r in range(n_runs):
            any_blas = any_blas or _run_uses_blas(&cfgs[r], X.shape[0], X.shape[1], Y.shape[1])
        runs.cfgs = cfgs
        runs.X, runs.Y, runs.sample_weight = &X[0, 0], &Y[0, 0], sw
        runs.n_samples, runs.n_features, runs.n_outputs = X.shape[0], X.shape[1], Y.shape[1]
        runs.fit_intercept = fit_intercept
        runs.size = params.shape[2]
        runs.p_len = params.shape[1] * params.shape[2]
        runs.params, runs.params_stride = &params[0, 0, 0], params.strides[0] // sizeof(floating)
        runs.opt_state, runs.opt_state_stride = &opt_state[0, 0, 0], opt_state.strides[0] // sizeof(double)
        runs.perm, runs.perm_stride = &perm[0, 0], perm.strides[0] // sizeof(Py_ssize_t)
        runs.counters, runs.counters_stride = &counters[0, 0], counters.strides[0] // sizeof(int64_t)
        runs.scalars, runs.scalars_stride = &scalars[0, 0], scalars.strides[0] // sizeof(double)
        runs.history, runs.history_stride = &history[0, 0], history.strides[0] // sizeof(double)
        runs.epoch_history = &epoch_history[0, 0]
        runs.epoch_history_stride = epoch_history.strides[0] // sizeof(double)
        runs.t_origin, runs.epoch_origin, runs.n_steps = &t_origin[0], &epoch_origin[0], &n_steps[0]
        runs.check_every = check_every
        blas_guard = blas_single_thread(any_blas)
        blas_guard.__enter__()
        if serial:
            with nogil:
                ws = workspace_new(runs.p_len * sizeof(floating), runs.size, n_scratch)
                if not workspace_ok(ws):
                    alloc_failed = 1
                else:
                    for r in range(n_runs):
                        if stop_flag != 0:
                            break
                        if n_steps[r] > 0:
                            _advance_run(&runs, r, <floating*>ws.params, &ws, &stop_flag)
                workspace_free(ws)
        else:
            _mark_openmp_started()
            with nogil, parallel(num_threads=n_threads):
                ws = workspace_new(runs.p_len * sizeof(floating), runs.size, n_scratch)  # (private to the thread)
                if not workspace_ok(ws):
                    alloc_flag[0] = 1
                for r in prange(n_runs, schedule="dynamic", chunksize=1):
                    if stop_flag == 0 and alloc_flag[0] == 0 and n_steps[r] > 0:
                        _advance_run(&runs, r, <floating*>ws.params, &ws, &stop_flag)
                workspace_free(ws)
        if stop_flag:
            _stash_exception(saved)
    finally:
        if blas_guard is not None:
            blas_guard.__exit__(None, None, None)
        free(cfgs)
    if alloc_failed:
        raise MemoryError("sweep: could not allocate per-thread buffers")
    if stop_flag:
        _raise_stashed(saved)
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
    with blas_single_thread(floating is double and use_blas(NULL, <const double*>&X[0, 0], X.shape[0], X.shape[1],
                                                           Y.shape[1])), nogil:
        loss = loss_and_gradient(
            &theta[0], &theta[size_W] if fit_intercept else <const floating*>NULL,
            &X[0, 0], &Y[0, 0], sw, NULL, X.shape[0], X.shape[1], Y.shape[1],
            cfg.loss, cfg.huber_delta, &residual_grad[0], NULL, NULL,
            <const double*>&X[0, 0] if floating is double else <const double*>NULL, NULL,
        )
    return loss


# --- gdfast.descend: minimising f(x) = a*x**2 + b*x + c element-wise, every optimizer -----------------

cdef extern from *:
    """
    #include <math.h>
    /* libm's pow(x, 2) itself (as Python floats and NumPy scalars square): a volatile exponent stops
       the compiler from rewriting it as x*x. */
    static double gdfast_descend_pow2(double x) { volatile double two = 2.0; return pow(x, two); }
    static float gdfast_descend_pow2f(float x) { volatile float two = 2.0f; return powf(x, two); }
    """
    double gdfast_descend_pow2(double x) noexcept nogil
    float gdfast_descend_pow2f(float x) noexcept nogil


cdef inline floating quadratic_value(floating x, floating a, floating b, floating c, bint use_pow) noexcept nogil:
    """a*x**2 + b*x + c in the path's precision, in Python's order; x**2 is x*x (as NumPy squares an
    array) or libm's pow(x, 2) (as Python floats and NumPy scalars do; they differ in the last bit
    for ~0.1% of x)."""
    cdef floating sq
    if not use_pow:
        sq = x * x
    elif floating is float:
        sq = gdfast_descend_pow2f(x)
    else:
        sq = gdfast_descend_pow2(x)
    return a * sq + b * x + c


cdef inline double quadratic_gradient(floating x, floating two_a, floating b) noexcept nogil:
    """2*a*x + b in the path's precision (as ``Quadratic.gradient`` computes it on a float32 array)."""
    return <double>(two_a * x + b)


def descend_quadratic(
    dict config,
    double a,
    double b,
    double c,
    floating[:, ::1] x_rec,
    floating[:, ::1] f_rec,
    int64_t[::1] steps_rec,
    double[:, ::1] opt_state,
    int64_t n_steps,
    bint with_function,
    bint scalar_pow,
):
    """Up to ``n_steps`` updates of x (starting at x_rec[0]) on f = a*x**2 + b*x + c, element-wise,
    the GIL released; returns (status, updates done, points recorded).

    ``config`` is a TrainConfig (optimizer, schedule, grad_tol, record_every; the data fields are
    unused). Each update t (0-based): g = 2*a*x + b (in the path's precision); stop with
    STATUS_DIVERGED if g is not finite, with STATUS_CONVERGED if its 2-norm (summed in order, in
    double) is < grad_tol > 0; then the optimizer step at the scheduled rate. Plain SGD (no momentum,
    no weight decay) is x - lr * g in the path's precision, the lesson's loop to the bit; the other
    optimizers are ``optimizer_step`` of src/_optimizers.pxd (double buffers in ``opt_state``, shape
    (3, dim)). A new x (or
    f(x) when ``with_function``) that is not finite ends the run at the previous point
    (STATUS_DIVERGED). Points after a multiple of record_every updates, and the last one, are written
    to x_rec / f_rec with their update count in steps_rec (capacity n_steps // record_every + 2).
    Polls for Ctrl-C about every millisecond; an interrupt raises KeyboardInterrupt.
    """
    cdef TrainConfig cfg = config
    cdef Py_ssize_t dim = x_rec.shape[1], k
    cdef int64_t t = 0, n_rec = 1, record_every = cfg.record_every, record_left = cfg.record_every
    # at most ~1 ms between polls: 4096 coordinate updates (measured 25 ns each for SGD, 180 ns for
    # Adam, whose bias corrections call pow twice per update); a poll (taking the GIL) costs ~0.1 us
    cdef int64_t check_every = max(<int64_t>1, (<int64_t>1 << 12) // (<int64_t>dim))
    cdef int64_t check_left = check_every
    cdef int status = STATUS_RUNNING
    cdef int stop_flag = 0
    cdef floating fa = <floating>a, fb = <floating>b, fc = <floating>c
    cdef floating two_a = <floating>2 * fa
    cdef floating step_lr
    cdef bint plain = cfg.optimizer == OPT_SGD and cfg.momentum == 0.0 and cfg.weight_decay == 0.0
    cdef bint want_norm = cfg.grad_tol > 0.0
    cdef bint finite = True
    cdef double lr, g, norm2
    cdef double mu_product = 1.0  # NAdam's (the whole run is this one call)
    cdef PyObject* saved[3]
    cdef floating* cur = <floating*>malloc(2 * dim * sizeof(floating))
    cdef floating* nxt = cur + dim
    cdef floating* f_cur = <floating*>malloc(2 * dim * sizeof(floating))
    cdef floating* f_nxt = f_cur + dim
    cdef floating* swap
    cdef double* grad = <double*>malloc(dim * sizeof(double))
    saved[0] = saved[1] = saved[2] = NULL
    if cur == NULL or f_cur == NULL or grad == NULL:
        free(cur)
        free(f_cur)
        free(grad)
        raise MemoryError()
    with nogil:
        memcpy(cur, &x_rec[0, 0], dim * sizeof(floating))
        steps_rec[0] = 0
        if with_function:
            for k in range(dim):
                f_cur[k] = quadratic_value(cur[k], fa, fb, fc, scalar_pow)
                f_rec[0, k] = f_cur[k]
                finite = finite and isfinite(f_cur[k])
            if not finite:
                status = STATUS_DIVERGED
        while status == STATUS_RUNNING and t < n_steps:
            norm2 = 0.0
            for k in range(dim):
                g = quadratic_gradient(cur[k], two_a, fb)
                grad[k] = g
                finite = finite and isfinite(g)
                norm2 = norm2 + g * g
            if not finite:
                status = STATUS_DIVERGED
                break
            if want_norm and sqrt(norm2) < cfg.grad_tol:
                status = STATUS_CONVERGED
                break
            lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(&cfg, t)
            if plain:
                step_lr = <floating>lr
                for k in range(dim):
                    nxt[k] = cur[k] - step_lr * <floating>grad[k]
            else:
                optimizer_step(&cfg, cur, nxt, grad, &opt_state[0, 0], &mu_product, dim, lr, t + 1)
            for k in range(dim):
                finite = finite and isfinite(nxt[k])
            if finite and with_function:
                for k in range(dim):
                    f_nxt[k] = quadratic_value(nxt[k], fa, fb, fc, scalar_pow)
                    finite = finite and isfinite(f_nxt[k])
            if not finite:
                status = STATUS_DIVERGED
                break
            swap = cur
            cur = nxt
            nxt = swap
            swap = f_cur
            f_cur = f_nxt
            f_nxt = swap
            t += 1
            record_left -= 1
            if record_left == 0:
                record_left = record_every
                memcpy(&x_rec[n_rec, 0], cur, dim * sizeof(floating))
                if with_function:
                    memcpy(&f_rec[n_rec, 0], f_cur, dim * sizeof(floating))
                steps_rec[n_rec] = t
                n_rec += 1
            check_left -= 1
            if check_left == 0:
                check_left = check_every
                if interrupted(&stop_flag):
                    status = STATUS_INTERRUPTED
                    break
        if steps_rec[n_rec - 1] != t:  # the last point, when it was not a multiple of record_every
            memcpy(&x_rec[n_rec, 0], cur, dim * sizeof(floating))
            if with_function:
                memcpy(&f_rec[n_rec, 0], f_cur, dim * sizeof(floating))
            steps_rec[n_rec] = t
            n_rec += 1
    if status == STATUS_INTERRUPTED:
        _stash_exception(saved)
    # cur and f_cur may have been swapped with their second halves: free the lower address of each
    free(cur if cur < nxt else nxt)
    free(f_cur if f_cur < f_nxt else f_nxt)
    free(grad)
    if status == STATUS_INTERRUPTED:
        _raise_stashed(saved)
    return status, t, n_rec


def optimizer_update(
    dict config,
    const double[::1] p,
    const double[::1] grad,
    double[:, ::1] opt_state,
    double[::1] mu_product,
    double lr,
    int64_t step,
    double[::1] out,
):
    """``out`` = p after one update (number ``step``, 1-based) by the optimizer of ``config`` (a
    TrainConfig) at rate ``lr``: the kernels' ``optimizer_step``, for gdfast.descend's Python loop,
    the GIL released. ``opt_state`` (3, size) and ``mu_product`` (NAdam's, shape (1,)) are updated
    in place; p and grad are not modified (``out`` may be p).
    """
    cdef TrainConfig cfg = config
    cdef Py_ssize_t size = p.shape[0]
    if grad.shape[0] != size or out.shape[0] != size or opt_state.shape[0] != 3 or opt_state.shape[1] != size:
        raise ValueError(f"optimizer_update: p, grad, out of one size and opt_state (3, size); got {size}, "
                         f"{grad.shape[0]}, {out.shape[0]} and ({opt_state.shape[0]}, {opt_state.shape[1]})")
    if mu_product.shape[0] != 1:
        raise ValueError(f"optimizer_update: mu_product must have shape (1,); got ({mu_product.shape[0]},)")
    if size == 0:
        return
    cdef double* g = <double*>malloc(size * sizeof(double))  # the step overwrites its gradient
    if g == NULL:
        raise MemoryError()
    with nogil:
        memcpy(g, &grad[0], size * sizeof(double))
        optimizer_step(&cfg, &p[0], &out[0], g, &opt_state[0, 0], &mu_product[0], size, lr, step)
    free(g)
