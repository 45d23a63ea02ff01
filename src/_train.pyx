# cython: language_level=3
"""The training loop: every step of gradient descent on a linear model, inside one ``nogil`` call.

``advance_runs`` is the one entry point: it advances a set of K >= 1 independent runs that share the
data by up to ``n_steps[r]`` updates each, one run per thread (OpenMP) when there are several.
``gdfast.train`` is a set of one, ``gdfast.sweep`` a set of K. A run's whole state lives in
caller-owned NumPy arrays (its ``RunRecord`` and its rows of the stacked buffers, see
``gdfast/_engine.py``), so a run can be continued later, in chunks, and still give the bit-identical
result of one long call.

Preconditions (checked in Python, never here): C-contiguous arrays of one float dtype, shapes as
documented on ``advance_runs``, finite data, valid hyper-parameters, 1 <= batch_size <= n_samples.
"""
import os

from cpython cimport array
from cpython.pycapsule cimport PyCapsule_GetContext, PyCapsule_GetName, PyCapsule_GetPointer, PyCapsule_IsValid
from cpython.ref cimport PyObject
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.float cimport DBL_MAX
from libc.math cimport fabs, isfinite, pow, sqrt
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from gdfast._contract cimport (
    ACCUMULATE_FLOAT32, LOSS_MSE, LOSS_MULTINOMIAL, OBJ_BEALE, OBJ_BOOTH, OBJ_CALLBACK, OBJ_HIMMELBLAU,
    OBJ_QUADRATIC_FORM, OBJ_RASTRIGIN, OBJ_ROSENBROCK, OBJ_STYBLINSKI_TANG, OPT_SGD, REDUCTION_MEAN, SCHEDULE_CONSTANT,
    STATUS_CONVERGED, STATUS_DIVERGED, STATUS_INTERRUPTED, STATUS_NO_IMPROVEMENT, STATUS_RUNNING, RunRecord, TrainConfig,
)
from _linear cimport (
    BLOCK_ROWS, batch_scale, blas_pays, block_partial_into, block_stride, blocks_of, blocks_reduce, csr_dot,
    csr_dot_params, csr_index, csr_loss_and_gradient, dot, elementwise_loss, elementwise_loss_derivative,
    float32_loss_and_gradient, gdfast_blas_allowed, gdfast_prefetch, is_margin_loss, loss_and_gradient, loss_term,
    margin_loss_and_derivative, mse_and_gradient, mse_term, row_of, softmax_row_term, sum_of_squares, terms_per_row, use_blas,
    use_blocks,
)
from _rng cimport shuffle_in_place
from _schedules cimport scheduled_learning_rate
from _optimizers cimport optimizer_step, penalised_sgd_step, running_mean_step
from _objectives cimport Callbacks, objective_callback, objective_gradient, objective_value

import threading

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

cdef extern from *:
    """
    #include <time.h>
    /* Seconds on a clock that only moves forward where the platform has one (POSIX); elsewhere the
       C11 wall clock, whose rare jumps can only mis-size one poll's backoff (see ``interrupted``). */
    static double gdfast_clock_seconds(void) {
        struct timespec ts;
    #if defined(CLOCK_MONOTONIC)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    #else
        timespec_get(&ts, TIME_UTC);
    #endif
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    """
    double gdfast_clock_seconds() noexcept nogil

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


def run_uses_blas(dict kernel_config, Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_outputs):
    """Whether a run with this config calls BLAS: dgemm (``run_uses_dgemm``) or, with
    accumulate="float32", sgemv/sgemm (``run_sums_in_float32``)."""
    cdef TrainConfig cfg = kernel_config
    return bool(_run_uses_dgemm(&cfg, n_samples, n_features, n_outputs)
                or _run_sums_in_float32(&cfg, n_samples, n_features, n_outputs))


def run_uses_dgemm(dict kernel_config, Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_outputs):
    """Whether a run with this config calls dgemm (float32 data is then converted to float64)."""
    cdef TrainConfig cfg = kernel_config
    return bool(_run_uses_dgemm(&cfg, n_samples, n_features, n_outputs))


def run_sums_in_float32(dict kernel_config, Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_outputs):
    """Whether a run with this config (on float32 data) sums its full batches in float32 with BLAS
    (``float32_loss_and_gradient``): accumulate="float32", a full batch of at least BLAS_MIN_WORK
    multiply-adds, BLAS not switched off (GDFAST_BLAS=0)."""
    cdef TrainConfig cfg = kernel_config
    return bool(_run_sums_in_float32(&cfg, n_samples, n_features, n_outputs))


cdef inline bint _run_sums_in_float32(const TrainConfig* cfg, Py_ssize_t n_samples, Py_ssize_t n_features,
                                      Py_ssize_t n_outputs) noexcept nogil:
    """Whether run_one (on float32 data: Python refuses accumulate="float32" for any other; the
    float64 kernels ignore it) calls ``float32_loss_and_gradient``: accumulate="float32" and a full
    batch that ``blas_pays`` for, the tall few-output ones (``use_blocks``) included."""
    return (cfg.accumulate == ACCUMULATE_FLOAT32 and cfg.batch_size >= n_samples and not cfg.shuffle
            and blas_pays(n_samples, n_features, n_outputs))


cdef bint _run_uses_dgemm(const TrainConfig* cfg, Py_ssize_t n_samples, Py_ssize_t n_features,
                          Py_ssize_t n_outputs) noexcept nogil:
    """Whether run_one will call dgemm (a full batch big enough for use_blas, not summed in blocks,
    nor in float32)."""
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    return (full_batch and not use_blocks(n_samples, n_outputs) and cfg.accumulate != ACCUMULATE_FLOAT32
            and use_blas(NULL, <const double*>cfg, n_samples, n_features, n_outputs))


def run_uses_blocks(dict kernel_config, Py_ssize_t n_samples, Py_ssize_t n_outputs):
    """Whether a run with this config sums (some of) its batches in blocks (``block_partial_into``):
    a full batch or mini-batches of at least BLOCKED_MIN_ROWS rows, at most BLOCKED_MAX_OUTPUTS
    outputs, except full batches summed in float32 (accumulate="float32")."""
    cdef TrainConfig cfg = kernel_config
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    # (a batch that use_blocks takes has >= BLOCKED_MIN_ROWS rows: blas_pays for it unless GDFAST_BLAS=0)
    return bool(use_blocks(min(<Py_ssize_t>cfg.batch_size, n_samples), n_outputs)
                and not (full_batch and cfg.accumulate == ACCUMULATE_FLOAT32 and gdfast_blas_allowed()))


def block_rows():
    """BLOCK_ROWS of src/_linear.pxd: the rows of one block of a blocked batch."""
    return BLOCK_ROWS




# A kernel call's stop flag, shared by all its threads: RUN_STOP once any of them must stop.
cdef enum:
    RUN_POLLING = 0   # running; ``interrupted`` polls Python's signal handlers (a call from the main thread)
    RUN_QUIET = -1    # running; no polling: CPython runs signal handlers in the main thread only
    RUN_STOP = 1

# How many times ``interrupted`` took the GIL to poll the signal handlers (a test hook; written with the GIL).
cdef long long _signal_polls = 0
cdef double _signal_poll_seconds = 0.0  # and the seconds those polls took (written after each, by the polling thread)

# The main thread's poll spacing. Taking the GIL waits up to a switch interval (5 ms) while another
# Python thread computes; a kernel that paid that on every poll (about every millisecond of work) ran
# several times slower. So ``interrupted`` times each poll's round trip and skips the due polls of the
# next POLL_GAP_FACTOR round trips (a contended poll then costs under 1/POLL_GAP_FACTOR of the time),
# at most POLL_MAX_GAP seconds (the Ctrl-C latency while the contention lasts). An uncontended round
# trip takes microseconds: every due call polls, as before. Reset by each main-thread kernel call
# (run_flag); only the main thread polls.
cdef double POLL_GAP_FACTOR = 50.0
cdef double POLL_MAX_GAP = 0.25
cdef double _next_poll = 0.0  # the clock (gdfast_clock_seconds) before which due calls skip their poll


def signal_polls():
    """Test hook: how many times a kernel took the GIL to poll for Ctrl-C in this process."""
    return _signal_polls


def signal_poll_seconds():
    """Measurement hook: the seconds those polls took in all (taking the GIL and handing it back)."""
    return _signal_poll_seconds


cdef int run_flag() noexcept:
    """The stop flag a kernel call starts with (GIL held): RUN_POLLING from the main thread, else
    RUN_QUIET. ``PyErr_CheckSignals`` does nothing outside the main thread, and taking the GIL to
    call it costs a running thread up to a switch interval (5 ms) whenever another Python thread
    computes: a call from a worker thread (a thread pool, a Dask worker) never takes it, and the main
    thread spaces its polls while the GIL is contended (``interrupted``)."""
    global _next_poll
    if threading.current_thread() is threading.main_thread():
        _next_poll = 0.0
        return RUN_POLLING
    return RUN_QUIET


cdef inline double poll_gap(double round_trip) noexcept nogil:
    """Seconds to skip due polls for after a poll whose GIL round trip took ``round_trip``."""
    return min(POLL_GAP_FACTOR * round_trip, POLL_MAX_GAP)


def _poll_gap(double round_trip):
    """Test hook: poll_gap."""
    return poll_gap(round_trip)


cdef inline bint interrupted(int* stop_flag) noexcept nogil:
    """Whether a run must stop now: another thread set ``stop_flag``, or (RUN_POLLING) a signal
    handler raised (the exception stays set for the caller to raise). Polls unless within the gap
    the last poll's round trip set (``poll_gap``)."""
    global _signal_polls, _signal_poll_seconds, _next_poll
    cdef int flag = stop_flag[0]
    cdef double asked, done
    if flag == RUN_STOP:
        return True
    if flag == RUN_POLLING:
        asked = gdfast_clock_seconds()
        if asked < _next_poll:
            return False
        with gil:
            _signal_polls += 1
            if PyErr_CheckSignals() != 0:
                stop_flag[0] = RUN_STOP
                return True
        # (the round trip: taking the GIL, and handing it back to a thread that waits for it)
        done = gdfast_clock_seconds()
        _signal_poll_seconds += done - asked
        _next_poll = done + poll_gap(done - asked)
    return False


cdef inline bint poll_due(int64_t* left, int64_t every) noexcept nogil:
    """Count one update down: True every ``every``-th update (time to poll ``interrupted``)."""
    left[0] -= 1
    if left[0] != 0:
        return False
    left[0] = every
    return True


cdef inline int norm_checks(const TrainConfig* cfg, double norm, double* grad, Py_ssize_t size) noexcept nogil:
    """grad_tol and clip_norm on a gradient of 2-norm ``norm``: STATUS_CONVERGED when the norm is
    below grad_tol (the run stops there, grad untouched); else STATUS_RUNNING, grad clipped as
    torch.nn.utils.clip_grad_norm_ clips it when clip_norm > 0. (Each loop sums its norm in its
    own order: train's as dot does, descend's in order.)"""
    cdef double coef
    cdef Py_ssize_t k
    if norm < cfg.grad_tol:
        return STATUS_CONVERGED
    if cfg.clip_norm > 0.0:
        # g *= clip_norm / (norm + 1e-6) when that is < 1
        coef = cfg.clip_norm / (norm + 1e-6)
        if coef < 1.0:
            for k in range(size):
                grad[k] *= coef                                     # NumPy: g = g * coef (float64)
    return STATUS_RUNNING


cdef inline double squares_in_order(const double* g, Py_ssize_t n) noexcept nogil:
    """The sum of g**2 from 0.0 in the order of g, as np.cumsum(g * g)[-1] (descend's gradient norm
    squared, summed as gdfast.reference sums it)."""
    cdef double s = 0.0
    cdef Py_ssize_t k
    for k in range(n):
        s = s + g[k] * g[k]
    return s


cdef struct Problem:
    # What every run of a set shares: the data (of the set's float type; void* since a struct
    # cannot be fused) and its sizes.
    const void* X              # (n_samples, n_features)
    const void* Y              # (n_samples, n_outputs)
    const void* sample_weight  # (n_samples,), or NULL: unweighted
    const double* X_double     # float32 X as float64 for the BLAS path when the caller has it, or NULL
    Py_ssize_t n_samples
    Py_ssize_t n_features
    Py_ssize_t n_outputs
    bint fit_intercept
    Py_ssize_t size            # parameters of a run: n_outputs * n_features (+ n_outputs, the bias last)
    # X as a CSR matrix (csr): X above is its ``data`` (nnz,), these its ``indices`` (nnz,) and
    # ``indptr`` (n_samples + 1,), int32 (csr_index32) or int64; never densified.
    bint csr
    bint csr_index32
    const void* csr_indices
    const void* csr_indptr


cdef struct RunBuffers:
    # One run's arrays while it is advanced (rows of the run set's stacked buffers, or a thread's
    # working copies of them) and the calling thread's scratch.
    void* params               # (2 or 3, size) of the set's float type: current, previous, best
    double* opt_state          # (3, size) optimizer buffers
    Py_ssize_t* perm           # (n_samples,) sample order of the current epoch
    RunRecord* record
    double* history            # loss of every record_every-th update since record.history_origin
    double* epoch_history      # mean loss of every epoch_record_every-th epoch since record.epoch_origin
    double* grad               # (size,) scratch
    double* residual_grad           # (batch_size * n_outputs,) scratch
    double* block_partials     # (blocks of the largest batch, block_stride(size)) scratch of blocked batches, or NULL
    int block_threads          # threads that compute the blocks of one blocked batch


cdef struct Countdowns:
    # Updates (epochs) left before the next record, and before the next poll for Ctrl-C;
    # 0 means "at this one". They replace per-step modulos.
    int64_t record
    int64_t epoch_record
    int64_t check


cdef inline int64_t keep_every(double value, double* buf, int64_t* count, int64_t left,
                               int64_t every) noexcept nogil:
    """Keep every ``every``-th value: buf[count] = value when the countdown ``left`` is 0 (then
    count += 1); returns the next countdown."""
    if left == 0:
        buf[count[0]] = value
        count[0] += 1
        return every - 1
    return left - 1


cdef inline const Py_ssize_t* next_batch(const TrainConfig* cfg, bint full_batch, Py_ssize_t* perm,
                                         Py_ssize_t n_samples, int64_t position, uint64_t* rng,
                                         Py_ssize_t* n_rows) noexcept nogil:
    """The rows of the next batch (NULL: all samples in order, a full batch) and their number: the
    next slice of ``perm`` from ``position``, reshuffled in place first when an epoch starts."""
    if full_batch:
        n_rows[0] = n_samples
        return NULL
    if position == 0 and cfg.shuffle:
        shuffle_in_place(perm, n_samples, rng)
    n_rows[0] = min(<Py_ssize_t>cfg.batch_size, n_samples - <Py_ssize_t>position)
    return perm + position


cdef inline int64_t position_after(int64_t position, Py_ssize_t n_rows, Py_ssize_t n_samples) noexcept nogil:
    """Where the next batch starts once this one (of n_rows rows from ``position``) is done: 0 when
    it ended the epoch (a full batch always does)."""
    position += n_rows
    return 0 if position >= n_samples else position


cdef inline bint grown_past(double loss, double best_loss, double first_loss, double factor) noexcept nogil:
    """The divergence rule on a finite (epoch) loss: loss > factor * best and loss > first loss.

    ``factor`` 0 turns the rule off; before the first epoch ends first_loss is NaN (never true)."""
    return factor > 0.0 and loss > factor * best_loss and loss > first_loss


cdef inline bint epoch_ended(double epoch_loss, double* first_loss, double* best_loss, int64_t* no_improvement,
                             int64_t n_iter_no_change, double loss_tol) noexcept nogil:
    """The records of an epoch whose loss passed the divergence test: the run's first epoch loss (NaN
    until its first epoch ends), n_iter_no_change's count of epochs in a row whose loss is not below
    the best by loss_tol (n_iter_no_change 0: not counted), the best epoch loss. True when the count
    has reached n_iter_no_change: the run stops (STATUS_NO_IMPROVEMENT)."""
    if first_loss[0] != first_loss[0]:  # NaN: this was the run's first epoch
        first_loss[0] = epoch_loss
    if n_iter_no_change > 0:
        if epoch_loss > best_loss[0] - loss_tol:
            no_improvement[0] += 1
        else:
            no_improvement[0] = 0
    if epoch_loss < best_loss[0]:
        best_loss[0] = epoch_loss
    return n_iter_no_change > 0 and no_improvement[0] >= n_iter_no_change


cdef inline int64_t full_batch_epoch_end(double loss, double* epoch_history, int64_t* epochs_recorded,
                                         int64_t epoch_left, int64_t epoch_record_every, int64_t* epoch,
                                         double* first_loss, double* best_loss) noexcept nogil:
    """The end of a plain full batch's epoch, which is its one step, taken with batch loss ``loss``
    (simple_sgd_steps, one_sample_sgd_steps): the epoch record (``keep_every``; returns the epoch
    countdown), the epoch count, and ``epoch_ended``'s first and best epoch loss (these loops have
    no n_iter_no_change)."""
    cdef int64_t no_improvement = 0  # (not counted: n_iter_no_change 0)
    epoch_left = keep_every(loss, epoch_history, epochs_recorded, epoch_left, epoch_record_every)
    epoch[0] += 1
    epoch_ended(loss, first_loss, best_loss, &no_improvement, 0, 0.0)
    return epoch_left


cdef int simple_sgd_loop(const TrainConfig* cfg, const Problem* data, floating* params, RunBuffers* run,
                         Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag) noexcept nogil:
    """``simple_sgd_steps`` for the problem's sizes; for one sample of four features: the lesson's
    four outputs in registers (``lesson_sgd_steps``), in float64 more outputs in vector lanes
    (``one_sample_sgd_steps``), and otherwise the sizes passed as constants, so the compiler's copy
    for them has every inner loop unrolled (the same operations in the same order: the same bits)."""
    cdef int status
    if data.n_samples == 1 and data.n_features == 4 and data.n_outputs == 4:
        return lesson_sgd_steps(cfg, data, params, run, left, n_steps, check_every, stop_flag)
    if floating is double and data.n_samples == 1 and data.n_features == 4 and data.n_outputs >= OUTPUT_LANES_MIN:
        # float64, five outputs and more: the outputs in vector lanes (its scratch allocated, else
        # below); float32 ran the lesson 20% slower there (the conversions), and keeps the copy below
        status = one_sample_sgd_steps(cfg, data, params, run, left, n_steps, check_every, stop_flag)
        if status >= 0:
            return status
    if data.n_samples == 1 and data.n_features == 4:
        return simple_sgd_steps(cfg, data, params, run, left, n_steps, check_every, stop_flag, 1, 4)
    return simple_sgd_steps(cfg, data, params, run, left, n_steps, check_every, stop_flag, data.n_samples,
                            data.n_features)


cdef inline int simple_sgd_steps(const TrainConfig* cfg, const Problem* data, floating* params, RunBuffers* run,
                                 Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag,
                                 Py_ssize_t n_samples, Py_ssize_t n_features) noexcept nogil:
    """run_one's loop for plain full-batch SGD on the unweighted MSE, without the branches that
    cannot fire (no norm, momentum, weight decay, schedule, early stopping or restore_best): the
    same arithmetic, records and final record. Its own function, everything it reads or counts in
    local variables (the compiler cannot tell that the stores to the parameters, the gradient and
    the histories leave the record, the config and the countdowns alone), so they stay in registers.
    Returns the STATUS_*."""
    cdef RunRecord* rec = run.record
    cdef int64_t t = rec.step, cur = rec.current, epoch = rec.epoch, origin = rec.history_origin
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check
    cdef int64_t record_every = cfg.record_every, epoch_record_every = cfg.epoch_record_every
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double lr = cfg.learning_rate, factor = cfg.divergence_factor, loss
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef Py_ssize_t n_outputs = data.n_outputs
    cdef Py_ssize_t size_W = n_outputs * n_features, size = data.size, k
    cdef bint fit_intercept = data.fit_intercept
    cdef double* grad = run.grad
    cdef double* residual_grad = run.residual_grad
    cdef double* history = run.history
    cdef double* epoch_history = run.epoch_history
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
        record_left = keep_every(loss, history, &recorded, record_left, record_every)
        # (a full batch's epoch is this one step: its epoch loss is this loss)
        if not isfinite(loss) or grown_past(loss, best_loss, first_loss, factor):
            if t > origin:  # back to the previous iterate, whose loss passed this test
                cur = 1 - cur
                t -= 1
            status = STATUS_DIVERGED
            break
        last_loss = loss
        # p_new = p - lr * g  (optimizer_step's plain-SGD branch)
        for k in range(size):
            other[k] = <floating>(current[k] - lr * grad[k])
        cur = 1 - cur
        t += 1
        epoch_left = full_batch_epoch_end(loss, epoch_history, &epochs_recorded, epoch_left, epoch_record_every,
                                          &epoch, &first_loss, &best_loss)
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    rec.step, rec.current, rec.epoch = t, cur, epoch
    rec.recorded, rec.epochs_recorded = recorded, epochs_recorded
    rec.best_loss, rec.first_loss, rec.last_loss = best_loss, first_loss, last_loss
    left.record, left.epoch_record, left.check = record_left, epoch_left, check_left
    return status


# one_sample_sgd_steps takes one float64 sample of four features from this many outputs on (four,
# the lesson, go to lesson_sgd_steps; fewer leave its vector lanes mostly empty). Measured A/B
# against simple_sgd_steps' copy for four features, each build timed beside the C seed loop of
# benchmarks/peers.py in one process: the lesson (4 outputs) ran at 1.38-1.44x the C loop's speed
# against 1.08-1.12x. Without a peer (min of 7 runs of 10^5 steps, builds in alternated
# processes): 64 outputs 127-177 against 250-269 ns a step. The same layout for 64 features
# (partial sums over the outputs in memory) ran 4 outputs 2.3x slower, so it is kept to four
# features; float32 ran the lesson 20% slower, so it is kept to float64. lesson_sgd_steps (its
# parameters in registers; measured the same way, 15 pairs per run) then ran the lesson at
# 2.04-2.20x the C loop's speed in float64 and 1.77-1.80x in float32, against 1.30-1.72x here and
# 1.54-1.62x in simple_sgd_steps.
cdef enum:
    OUTPUT_LANES_MIN = 5


cdef int one_sample_sgd_steps(const TrainConfig* cfg, const Problem* data, double* params, RunBuffers* run,
                              Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag) noexcept nogil:
    """``simple_sgd_steps`` for one float64 sample of four features and at least OUTPUT_LANES_MIN
    outputs (the lesson's sample, more outputs than its four), the outputs in vector lanes. The
    parameters are held transposed, ``wt[k * n_outputs + j] = W[j, k]`` (then the bias), in two
    blocks that swap roles as the params rows do, so that each loop runs over the outputs j,
    across consecutive values, and vectorises.
    Each output's arithmetic is mse_and_gradient's (one row) and optimizer_step's plain SGD: dot's
    four partial sums (one term each) in dot's order (without their +0.0 starts, which cannot change
    a bit of the results: see the loop), the residual, the loss terms summed over j in order, the
    gradient ``(0.0 + D_j x_k) * scale`` and the update: the same bits. The params rows receive
    both blocks at the end, as simple_sgd_steps leaves them.

    NumPy equivalent of one step (x, y the sample, m outputs; Wt = W.T)::

        r = x @ Wt (+ b) - y;  loss = sum(r**2) / m;  D = 2 r
        Wt_new = Wt - lr * (0.0 + np.outer(x, D)) / m;  b_new = b - lr * (0.0 + D) / m

    Returns the STATUS_*, or -1 (nothing done) when its scratch could not be allocated."""
    cdef RunRecord* rec = run.record
    cdef int64_t t = rec.step, cur = rec.current, epoch = rec.epoch, origin = rec.history_origin
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check
    cdef int64_t record_every = cfg.record_every, epoch_record_every = cfg.epoch_record_every
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double lr = cfg.learning_rate, factor = cfg.divergence_factor, loss, loss_sum, p, r, xk
    cdef const double* x = <const double*>data.X
    cdef const double* y = <const double*>data.Y
    cdef double x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3]
    cdef Py_ssize_t m = data.n_outputs, size_W = 4 * m, size = data.size, j, k, b
    cdef bint fit_intercept = data.fit_intercept
    cdef double scale = 1.0 / (<double>m * 1.0)
    cdef double* history = run.history
    cdef double* epoch_history = run.epoch_history
    cdef int64_t i_step
    cdef int status = STATUS_RUNNING
    # one block: the terms r**2 and D of every output, then the two parameter blocks
    cdef char* block = <char*>malloc(2 * m * sizeof(double) + 2 * size * sizeof(double))
    cdef double* terms
    cdef double* D
    cdef double* wt
    cdef double* wt_new
    cdef double* row
    cdef double* held
    if block == NULL:
        return -1
    terms = <double*>block
    D = terms + m
    wt = D + m
    wt_new = wt + size
    # wt = the current params row transposed, wt_new the other row (the iterate before)
    for b in range(2):
        row = params + ((cur if b == 0 else 1 - cur) * size)
        held = wt if b == 0 else wt_new
        for j in range(m):
            for k in range(4):
                held[k * m + j] = row[j * 4 + k]
        for j in range(size_W, size):
            held[j] = row[j]
    for i_step in range(n_steps):
        # p_j = dot(W[j], x), whose four partial sums hold one term each: ((0 + w0 x0) + (0 + w1 x1)) +
        # ((0 + w2 x2) + (0 + w3 x3)), here without the "0 +": 0.0 + v is v except for v = -0.0, and
        # an operand's zero sign can change a sum only where the sum is zero, so p_j is dot's value
        # or a zero of the other sign; then r_j is the same or a zero of the other sign, and so is
        # D_j, while r**2 and every (0.0 + D_j x_k) (finite x) and (0.0 + D_j) are the same: W, b and
        # the loss keep every bit, one add shorter on the step's chain of dependent operations.
        # r_j = (p_j + b_j) - y_j;  terms = r**2;  D = 2 r  (mse_term)
        for j in range(m):
            p = (wt[j] * x0 + wt[m + j] * x1) + (wt[2 * m + j] * x2 + wt[3 * m + j] * x3)
            if fit_intercept:
                p = p + wt[size_W + j]
            r = p - y[j]
            terms[j] = r * r
            D[j] = 2.0 * r
        # loss = (0.0 + terms[0] + terms[1] + ...) * scale, summed in the order of j (mse_and_gradient)
        loss_sum = 0.0
        for j in range(m):
            loss_sum += terms[j]
        loss = loss_sum * scale
        record_left = keep_every(loss, history, &recorded, record_left, record_every)
        # (a full batch's epoch is this one step: its epoch loss is this loss)
        if not isfinite(loss) or grown_past(loss, best_loss, first_loss, factor):
            if t > origin:  # back to the previous iterate, whose loss passed this test
                cur = 1 - cur
                wt, wt_new = wt_new, wt
                t -= 1
            status = STATUS_DIVERGED
            break
        last_loss = loss
        # Wt_new[k, j] = Wt[k, j] - lr * g_jk, g_jk = (0.0 + D_j x_k) * scale;  b_new = b - lr * (0.0 +
        # D) * scale  (optimizer_step's plain SGD). scaled_row_into writes g = 0.0 where D_j == 0:
        # with x finite (the data are) and D_j = +-0.0 this is (0.0 + +-0.0) * scale = 0.0 too.
        for k in range(4):
            xk = x[k]
            for j in range(m):
                wt_new[k * m + j] = wt[k * m + j] - lr * ((0.0 + D[j] * xk) * scale)
        if fit_intercept:
            for j in range(m):
                wt_new[size_W + j] = wt[size_W + j] - lr * ((0.0 + D[j]) * scale)
        wt, wt_new = wt_new, wt
        cur = 1 - cur
        t += 1
        epoch_left = full_batch_epoch_end(loss, epoch_history, &epochs_recorded, epoch_left, epoch_record_every,
                                          &epoch, &first_loss, &best_loss)
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    # the params rows: the current one wt, the other one wt_new, as simple_sgd_steps leaves them
    # (a row no step wrote gets back its own values)
    for b in range(2):
        row = params + ((cur if b == 0 else 1 - cur) * size)
        held = wt if b == 0 else wt_new
        for j in range(m):
            for k in range(4):
                row[j * 4 + k] = held[k * m + j]
        for j in range(size_W, size):
            row[j] = held[j]
    free(block)
    rec.step, rec.current, rec.epoch = t, cur, epoch
    rec.recorded, rec.epochs_recorded = recorded, epochs_recorded
    rec.best_loss, rec.first_loss, rec.last_loss = best_loss, first_loss, last_loss
    left.record, left.epoch_record, left.check = record_left, epoch_left, check_left
    return status


cdef int lesson_sgd_steps(const TrainConfig* cfg, const Problem* data, floating* params, RunBuffers* run,
                          Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag) noexcept nogil:
    """``simple_sgd_steps`` for the lesson's shape: one sample, four features, four outputs. The
    parameters live in local arrays for the whole call (W transposed, ``wt[k * 4 + j] = W[j, k]``,
    then the bias; ``wp`` the iterate before), which the compiler keeps in registers: no step
    stores W and loads it back, as the other loops (their parameters in memory) must. Each step
    is ``one_sample_sgd_steps``' arithmetic in the same order (dot's partial sums without their
    +0.0 starts: see that loop for why no bit changes), a float32 run's parameters rounded to
    float32 at each update as the params rows hold them: the same bits as ``simple_sgd_steps``.
    The params rows receive both iterates at the end, as simple_sgd_steps leaves them.

    NumPy equivalent of one step (x, y the sample; Wt = W.T, shape (4, 4))::

        r = x @ Wt (+ b) - y;  loss = sum(r**2) / 4;  D = 2 r
        Wt_new = Wt - lr * (0.0 + np.outer(x, D)) / 4;  b_new = b - lr * (0.0 + D) / 4

    Returns the STATUS_*."""
    cdef RunRecord* rec = run.record
    cdef int64_t t = rec.step, cur = rec.current, epoch = rec.epoch, origin = rec.history_origin
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check
    cdef int64_t record_every = cfg.record_every, epoch_record_every = cfg.epoch_record_every
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double lr = cfg.learning_rate, factor = cfg.divergence_factor, loss, loss_sum, p, r
    cdef floating v
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef Py_ssize_t size = data.size, j, k, e
    cdef bint fit_intercept = data.fit_intercept
    cdef double scale = 1.0 / (4.0 * 1.0)  # mse_and_gradient's 1 / (n_outputs * n_rows)
    cdef double* history = run.history
    cdef double* epoch_history = run.epoch_history
    cdef int64_t i_step
    cdef int status = STATUS_RUNNING
    # the sample in double (as each product converts it), the current (wt) and previous (wp)
    # iterates in the parameters' type, W transposed then b (zeros without one: never read), and
    # each step's r**2 and D = 2 r. (The iterates were double arrays holding float32 values at
    # first: GCC's AVX2 code for the bias's update then left out its rounding to float32, and
    # tests/test_sample_sgd.py saw the bits change. Arrays of the parameters' type make every
    # store round.)
    cdef double x[4]
    cdef double y[4]
    cdef floating wt[20]
    cdef floating wp[20]
    cdef double terms[4]
    cdef double D[4]
    for k in range(4):
        x[k] = X[k]
        y[k] = Y[k]
    for e in range(16, 20):
        wt[e] = 0.0
        wp[e] = 0.0
    # wt = the current params row transposed, wp the other row (the iterate before)
    for j in range(4):
        for k in range(4):
            wt[k * 4 + j] = params[cur * size + j * 4 + k]
            wp[k * 4 + j] = params[(1 - cur) * size + j * 4 + k]
    if fit_intercept:
        for j in range(4):
            wt[16 + j] = params[cur * size + 16 + j]
            wp[16 + j] = params[(1 - cur) * size + 16 + j]
    for i_step in range(n_steps):
        # p_j = dot(W[j], x), its partial sums one term each, without their +0.0 starts
        # (one_sample_sgd_steps);  r_j = (p_j + b_j) - y_j;  terms = r**2;  D = 2 r: mse_term's
        # arithmetic written out (a call of mse_term, with b a pointer into wt and y read from the
        # data, ran the float32 lesson at 1.31-1.39x the C loop's speed against 1.71-1.74x)
        for j in range(4):
            p = (wt[j] * x[0] + wt[4 + j] * x[1]) + (wt[8 + j] * x[2] + wt[12 + j] * x[3])
            if fit_intercept:
                p = p + <double>wt[16 + j]
            r = p - y[j]
            terms[j] = r * r
            D[j] = 2.0 * r
        # loss = (0.0 + terms[0] + terms[1] + ...) * scale, in the order of j (mse_and_gradient)
        loss_sum = 0.0
        for j in range(4):
            loss_sum += terms[j]
        loss = loss_sum * scale
        record_left = keep_every(loss, history, &recorded, record_left, record_every)
        # (a full batch's epoch is this one step: its epoch loss is this loss)
        if not isfinite(loss) or grown_past(loss, best_loss, first_loss, factor):
            if t > origin:  # back to the previous iterate, whose loss passed this test: wt, wp = wp, wt
                cur = 1 - cur
                for e in range(20):
                    v = wt[e]
                    wt[e] = wp[e]
                    wp[e] = v
                t -= 1
            status = STATUS_DIVERGED
            break
        last_loss = loss
        # wp = Wt;  Wt = Wt - lr * g, g_jk = (0.0 + D_j x_k) * scale;  b = b - lr * (0.0 + D) * scale
        # (optimizer_step's plain SGD, rounded to the parameters' type)
        for k in range(4):
            for j in range(4):
                v = wt[k * 4 + j]
                wp[k * 4 + j] = v
                wt[k * 4 + j] = <floating>(<double>v - lr * ((0.0 + D[j] * x[k]) * scale))
        if fit_intercept:
            for j in range(4):
                v = wt[16 + j]
                wp[16 + j] = v
                wt[16 + j] = <floating>(<double>v - lr * ((0.0 + D[j]) * scale))
        cur = 1 - cur
        t += 1
        epoch_left = full_batch_epoch_end(loss, epoch_history, &epochs_recorded, epoch_left, epoch_record_every,
                                          &epoch, &first_loss, &best_loss)
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    # the params rows: the current one wt, the other one wp (a row no step wrote gets back its own values)
    for j in range(4):
        for k in range(4):
            params[cur * size + j * 4 + k] = wt[k * 4 + j]
            params[(1 - cur) * size + j * 4 + k] = wp[k * 4 + j]
    if fit_intercept:
        for j in range(4):
            params[cur * size + 16 + j] = wt[16 + j]
            params[(1 - cur) * size + 16 + j] = wp[16 + j]
    rec.step, rec.current, rec.epoch = t, cur, epoch
    rec.recorded, rec.epochs_recorded = recorded, epochs_recorded
    rec.best_loss, rec.first_loss, rec.last_loss = best_loss, first_loss, last_loss
    left.record, left.epoch_record, left.check = record_left, epoch_left, check_left
    return status


cdef inline void sample_sgd_step(
    const floating* p_old, floating* p_new, const floating* x, const double* D, double scale, double lr,
    Py_ssize_t n_features, Py_ssize_t n_outputs, bint fit_intercept,
) noexcept nogil:
    """Plain SGD on one sample's gradient, never stored: p_new = p_old - lr * g, g its rows
    ``scaled_row_into(D[j], x, n_features, scale)`` and bias ``(0.0 + D[j]) * scale`` (what
    ``loss_and_gradient`` of one row and ``optimizer_step``'s plain-SGD branch compute, the same bits,
    in one pass over the parameters instead of three).

    NumPy equivalent (D = d loss / d prediction of the sample, weighted)::

        g_W = np.where(D[:, None] != 0, (0.0 + D[:, None] * x) * scale, 0.0);  g_b = (0.0 + D) * scale
        p_new = p_old - lr * np.concatenate([g_W.ravel(), g_b])
    """
    cdef Py_ssize_t j, k
    cdef double c
    cdef const floating* w
    cdef floating* w_new
    for j in range(n_outputs):
        c = D[j]
        w = p_old + j * n_features
        w_new = p_new + j * n_features
        if c != 0.0:
            for k in range(n_features):
                w_new[k] = <floating>(w[k] - lr * ((0.0 + c * x[k]) * scale))
        else:
            # g = +0.0 and p - lr * +0.0 == p exactly
            for k in range(n_features):
                w_new[k] = w[k]
    if fit_intercept:
        p_old += n_outputs * n_features
        p_new += n_outputs * n_features
        for j in range(n_outputs):
            p_new[j] = <floating>(p_old[j] - lr * ((0.0 + D[j]) * scale))


cdef inline double sgd_row_then_dot(floating* w, const floating* x, double c, double scale, double lr,
                                   Py_ssize_t n_features, const floating* x_next) noexcept nogil:
    """One output row's ``sample_sgd_step`` in place (its D_j = c != 0), then ``dot(w, x_next)``
    of the updated row, in one pass over the row: each element's update is sample_sgd_step's, and
    the sum is dot's, its four partial sums in dot's order (s_m over features m, m + 4, ..., the
    features past the last four into s_0), so the same bits as the step followed by the dot. The
    dot's chain of adds then runs beside the update's arithmetic rather than after it.

    NumPy equivalent::

        w[:] = w - lr * ((0.0 + c * x) * scale);  return np.dot(w, x_next)
    """
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef floating w0, w1, w2, w3
    cdef Py_ssize_t k = 0
    while k + 4 <= n_features:
        w0 = <floating>(w[k] - lr * ((0.0 + c * x[k]) * scale))
        w1 = <floating>(w[k + 1] - lr * ((0.0 + c * x[k + 1]) * scale))
        w2 = <floating>(w[k + 2] - lr * ((0.0 + c * x[k + 2]) * scale))
        w3 = <floating>(w[k + 3] - lr * ((0.0 + c * x[k + 3]) * scale))
        w[k] = w0
        w[k + 1] = w1
        w[k + 2] = w2
        w[k + 3] = w3
        s0 += <double>w0 * x_next[k]
        s1 += <double>w1 * x_next[k + 1]
        s2 += <double>w2 * x_next[k + 2]
        s3 += <double>w3 * x_next[k + 3]
        k += 4
    while k < n_features:
        w0 = <floating>(w[k] - lr * ((0.0 + c * x[k]) * scale))
        w[k] = w0
        s0 += <double>w0 * x_next[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


cdef int dense_sgd_loop(const TrainConfig* cfg, const Problem* data, floating* params, RunBuffers* run,
                        Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag) noexcept nogil:
    """run_one's loop for per-sample plain SGD on dense data (batch_size 1, not a full batch; no
    momentum, weight decay, gradient norm, penalty, averaging or restore_best; one loss term per
    output, not LOSS_MULTINOMIAL; any schedule, reduction and sample weights): the general loop's
    arithmetic (``loss_and_gradient`` of the sample's row, then ``sample_sgd_step``), its records and
    its rules, with everything it reads or counts in local variables. Per update, with x the row::

        p_j = W[j] @ x + b_j;  loss = scale * sum_j w l(p_j, y_j);  D_j = w l'(p_j, y_j)
        W[j] -= lr * (scale * (0.0 + D_j * x));  b_j -= lr * (scale * (0.0 + D_j))

    Updates are made in place, except those after which the call may end (its last update, an
    epoch's last, one before a poll): these go from one of the parameters' two rows into the other,
    so that the state ends as the general loop's, which steps from row ``record.current`` into the
    other row at every update: the previous iterate in one row, the current one in row
    ``(current + updates) % 2``. (A run stopped by a non-finite loss ends with its iterate in that
    row and an older one in the other: the caller replays such a run from its start.) Epoch
    bookkeeping, records, divergence and n_iter_no_change as run_one's mini-batch branch. Returns
    the STATUS_*."""
    cdef RunRecord rec = run.record[0]
    cdef int64_t t = rec.step, position = rec.position, epoch = rec.epoch
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t no_improvement = rec.no_improvement
    cdef uint64_t rng = rec.rng
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double epoch_loss_sum = rec.epoch_loss_sum, epoch_samples = rec.epoch_samples
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check
    cdef int64_t record_every = cfg.record_every, epoch_record_every = cfg.epoch_record_every
    cdef int64_t n_iter_no_change = cfg.n_iter_no_change
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef const floating* sw = <const floating*>data.sample_weight
    cdef Py_ssize_t n_samples = data.n_samples, n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t size_W = n_outputs * n_features, i, j
    cdef bint fit_intercept = data.fit_intercept, shuffle = cfg.shuffle
    cdef bint constant_lr = cfg.schedule == SCHEDULE_CONSTANT
    cdef bint unweighted_mse = cfg.loss == LOSS_MSE and sw == NULL
    cdef int kind = cfg.loss, reduction = cfg.reduction
    cdef double width = cfg.epsilon, factor = cfg.divergence_factor, loss_tol = cfg.loss_tol
    cdef double weight, loss, lr = cfg.learning_rate, scale, epoch_loss
    # batch_scale of an unweighted sample (its weight sum 0.0 + 1.0), the same for every sample
    cdef double unit_scale = batch_scale(reduction, terms_per_row(kind, n_outputs), 0.0 + 1.0, 1)
    cdef double* D = run.residual_grad  # (n_outputs,) the sample's weighted d loss / d prediction
    cdef Py_ssize_t* perm = run.perm
    cdef int64_t cur = rec.current
    cdef Py_ssize_t size = data.size
    cdef floating* p
    cdef const floating* b
    cdef const floating* x
    cdef int64_t i_step, last_step = n_steps - 1, start_row = rec.current
    cdef int status = STATUS_RUNNING
    # One output, float64: an in-place update computes the next sample's prediction W @ x_next as
    # it goes (sgd_row_then_dot, the same bits as dot); have_next says that next_dot holds it.
    cdef bint have_next = False
    cdef double next_dot = 0.0
    for i_step in range(n_steps):
        if position == 0 and shuffle:
            shuffle_in_place(perm, n_samples, &rng)
        i = perm[position]
        x = X + i * n_features
        p = params + cur * size
        b = p + size_W if fit_intercept else <floating*>NULL
        loss = 0.0
        if unweighted_mse:
            # r_j = W[j] @ x + b_j - y_j;  loss_sum += r_j**2;  D_j = 2 r_j  (loss_and_gradient's MSE branch)
            for j in range(n_outputs):
                loss += mse_term(next_dot if have_next else dot(p + j * n_features, x, n_features), b,
                                 Y + i * n_outputs, j, D + j)
            scale = unit_scale
        else:
            weight = sw[i] if sw != NULL else 1.0
            for j in range(n_outputs):
                loss += loss_term(kind, width, weight, next_dot if have_next else dot(p + j * n_features, x, n_features),
                                  b, Y + i * n_outputs, j, D + j)
            scale = unit_scale if sw == NULL else batch_scale(reduction, terms_per_row(kind, n_outputs),
                                                              0.0 + weight, 1)
        loss = loss * scale
        record_left = keep_every(loss, run.history, &recorded, record_left, record_every)
        if not isfinite(loss):
            status = STATUS_DIVERGED  # (the caller replays the run to its last finite iterate)
            if cur != (start_row + i_step) & 1:  # the iterate in the general loop's current row
                memcpy(params + (1 - cur) * size, p, size * sizeof(floating))
                cur = 1 - cur
            break
        last_loss = loss
        if not constant_lr:
            lr = scheduled_learning_rate(cfg, t)
        have_next = False
        if i_step != last_step and position + 1 < n_samples and check_left != 1:
            # in place: same bits, ~5% faster at 64 features than into the other row; the loop goes
            # on with the next sample of this epoch (perm[position + 1]) and these parameters
            # (float64 alone: in float32 the fused row's conversions measured no faster)
            if floating is double and n_outputs == 1 and D[0] != 0.0:
                next_dot = sgd_row_then_dot(p, x, D[0], scale, lr, n_features,
                                            X + perm[position + 1] * n_features)
                have_next = True
                if fit_intercept:  # (sample_sgd_step's bias update)
                    p[size_W] = <floating>(p[size_W] - lr * ((0.0 + D[0]) * scale))
            else:
                sample_sgd_step(p, p, x, D, scale, lr, n_features, n_outputs, fit_intercept)
        else:
            # An update after which the call may end (its last; an epoch's last, after which the
            # epoch rules may stop the run; one before a poll): the state must then be the general
            # loop's, the previous iterate in one row and this update in the other, which is current,
            # row (record.current + updates) % 2 (the general loop flips rows at every update).
            if cur == (start_row + i_step) & 1:  # in the row the general loop has this iterate in
                sample_sgd_step(p, params + (1 - cur) * size, x, D, scale, lr, n_features, n_outputs,
                                fit_intercept)
                cur = 1 - cur
            else:  # in the row the general loop updates into: the iterate to the other row first
                memcpy(params + (1 - cur) * size, p, size * sizeof(floating))
                sample_sgd_step(params + (1 - cur) * size, p, x, D, scale, lr, n_features, n_outputs,
                                fit_intercept)
        t += 1
        epoch_loss_sum += loss  # (loss * 1 row)
        epoch_samples += 1.0
        position = position_after(position, 1, n_samples)
        if position == 0:
            epoch_loss = epoch_loss_sum / epoch_samples
            epoch_left = keep_every(epoch_loss, run.epoch_history, &epochs_recorded, epoch_left, epoch_record_every)
            epoch += 1
            epoch_loss_sum = 0.0
            epoch_samples = 0.0
            if grown_past(epoch_loss, best_loss, first_loss, factor):
                status = STATUS_DIVERGED
                break
            if epoch_ended(epoch_loss, &first_loss, &best_loss, &no_improvement, n_iter_no_change, loss_tol):
                status = STATUS_NO_IMPROVEMENT
                break
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    rec.step, rec.current, rec.position, rec.epoch = t, cur, position, epoch
    rec.recorded, rec.epochs_recorded, rec.no_improvement, rec.rng = recorded, epochs_recorded, no_improvement, rng
    rec.best_loss, rec.first_loss, rec.last_loss = best_loss, first_loss, last_loss
    rec.epoch_loss_sum, rec.epoch_samples = epoch_loss_sum, epoch_samples
    run.record[0] = rec
    left.record, left.epoch_record, left.check = record_left, epoch_left, check_left
    return status

# csr_sgd_loop prefetches the next row's weights only above this many weights (2 MiB of doubles).
cdef enum:
    CSR_PREFETCH_MIN_WEIGHTS = 262144


# csr_sgd_loop's two kinds of loss, as types: the loop is compiled once for each (a fused argument,
# only its type is used), so the choice is made once per call, never per sample.
cdef struct PerOutputLoss:  # one term per output (every loss but LOSS_MULTINOMIAL)
    char unused
cdef struct SoftmaxLoss:    # one term per row: LOSS_MULTINOMIAL (softmax_row_term)
    char unused
ctypedef fused row_loss:
    PerOutputLoss
    SoftmaxLoss


cdef int csr_sgd_loop(const TrainConfig* cfg, const Problem* data, floating* params, RunBuffers* run,
                      Countdowns* left, int64_t n_steps, int64_t check_every, int* stop_flag,
                      const csr_index* indices, const csr_index* indptr, double* w,
                      const row_loss* loss_family) noexcept nogil:
    """run_one's loop for per-sample plain SGD (batch_size 1, no momentum, weight decay, gradient
    norm or restore_best; any loss, schedule and penalty) on CSR data: each update touches only the
    sample's stored entries, O(nnz of the row) instead of O(n_features).

    The weights live in ``w`` (``size`` doubles of scratch) as ``W = wscale * w[:size_W]`` (the bias
    ``w[size_W:]`` unscaled), so the L2 shrink ``W *= 1 - lr * l2`` is one multiplication of the
    scalar wscale (folded back into w when it falls below 1e-9, and at the end of the call, when
    the parameters' next row receives ``W`` rounded once to their type: float32 runs keep double
    weights for the whole call). Per update, with x the row (data[k] at indices[k]) and c_j the
    weighted d loss / d p_j, as ``penalised_sgd_step`` with ``g = c x / n_outputs``::

        p_j = wscale * (x @ w[j]) + b_j;  wscale *= max(0, 1 - lr * l2)
        w[j, idx] -= lr * c_j * x / n_outputs / wscale;  b_j -= lr * c_j / n_outputs
        L1 (cumulative truncated gradient) on the row's stored entries only, as scikit-learn's
        sparse SGD: u += lr * l1; for each idx: clip W[j, idx] towards 0 by u + q[j, idx], never across

    ``loss_family`` (NULL; its type picks the compiled loop): ``PerOutputLoss`` for one loss term per
    output as above; ``SoftmaxLoss`` for LOSS_MULTINOMIAL, whose row's K logits come first, then
    ``softmax_row_term`` gives the row's one loss term and every c_j (divided by 1, not n_outputs):

        z = wscale * (w @ x) + b;  loss = weight * ce(z, y);  c = weight * (y.sum() * softmax(z) - y)

    Epoch bookkeeping, records, divergence and n_iter_no_change as run_one's mini-batch branch.
    Returns the STATUS_*."""
    cdef RunRecord rec = run.record[0]
    cdef int64_t t = rec.step, cur = rec.current, position = rec.position, epoch = rec.epoch
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t no_improvement = rec.no_improvement
    cdef uint64_t rng = rec.rng
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double epoch_loss_sum = rec.epoch_loss_sum, epoch_samples = rec.epoch_samples
    cdef double l1_total = rec.l1_total
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef const floating* sw = <const floating*>data.sample_weight
    cdef Py_ssize_t n_samples = data.n_samples, n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t size = data.size, size_W = n_outputs * n_features, i, j, k, start, end, next_i
    cdef bint fit_intercept = data.fit_intercept
    cdef double* cgrad = run.residual_grad  # (n_outputs,) c_j of this sample
    cdef double* q = run.opt_state + size   # the L1 applied so far to each weight (plain SGD's free row 1)
    cdef int kind = cfg.loss
    cdef double width = cfg.epsilon, l2 = cfg.l2_penalty, l1 = cfg.l1_penalty
    cdef double wscale = 1.0, weight, scale, loss, loss_sum, pred, s, z, r, c, lr, shrink, coef, u, old, new, epoch_loss
    cdef int64_t i_step, t0 = t
    cdef int status = STATUS_RUNNING
    cdef floating* current = params + cur * size
    cdef floating* other
    cdef double* wj
    # The prefetch pass costs a third pass over the next row's indices (about a quarter of the
    # loop's instructions); it pays only when W is too large for the per-core caches: measured on
    # 10^5 rows of 100 entries, per epoch without / with it, 78 / 94 ms at 10^5 features (0.8 MB
    # of W), 166 / 145 ms at 10^6, 332 / 269 ms at 4 x 10^6.
    cdef bint prefetch = size_W > CSR_PREFETCH_MIN_WEIGHTS
    # batch_scale of an unweighted sample (weight 1.0), the same for every sample: one division per call
    cdef double unit_scale = batch_scale(cfg.reduction, terms_per_row(kind, n_outputs), 0.0 + 1.0, 1)
    for k in range(size):
        w[k] = current[k]
    for i_step in range(n_steps):
        if position == 0 and cfg.shuffle:
            shuffle_in_place(run.perm, n_samples, &rng)
        i = run.perm[position]
        start = <Py_ssize_t>indptr[i]
        end = <Py_ssize_t>indptr[i + 1]
        if prefetch and position + 1 < n_samples:
            # Ask the CPU to load the weights the next sample reads while this one is computed (no
            # effect on any value: W of a large problem sits in L3, and the gathers wait on it).
            next_i = run.perm[position + 1]
            for j in range(n_outputs):
                for k in range(<Py_ssize_t>indptr[next_i], <Py_ssize_t>indptr[next_i + 1]):
                    gdfast_prefetch(w + j * n_features + indices[k])
        weight = sw[i] if sw != NULL else 1.0
        if row_loss is SoftmaxLoss:
            # z_j = W[j] @ x + b_j (all K logits first);  loss = weight * ce(z, y) / weight;
            # c = weight * (y.sum() * softmax(z) - y)  (softmax_row_term, in place in cgrad)
            for j in range(n_outputs):
                pred = wscale * csr_dot(w + j * n_features, X, indices, start, end)
                if fit_intercept:
                    pred = pred + w[size_W + j]
                cgrad[j] = pred
            loss_sum = softmax_row_term(weight, cgrad, <const floating*>NULL, Y + i * n_outputs, n_outputs)
        else:
            # p_j = W[j] @ x + b_j;  loss = weight * sum_j l_j / (n_outputs * weight);  c_j = weight * l'_j
            loss_sum = 0.0
            for j in range(n_outputs):
                pred = wscale * csr_dot(w + j * n_features, X, indices, start, end)
                if fit_intercept:
                    pred = pred + w[size_W + j]
                if is_margin_loss(kind):
                    s = 1.0 if Y[i * n_outputs + j] > 0 else -1.0
                    z = s * pred
                    loss_sum += weight * margin_loss_and_derivative(kind, z, &c)
                    cgrad[j] = weight * (s * c)
                else:
                    r = pred - Y[i * n_outputs + j]
                    cgrad[j] = weight * elementwise_loss_derivative(kind, r, width)
                    loss_sum += weight * elementwise_loss(kind, r, width)
        scale = unit_scale if sw == NULL else batch_scale(cfg.reduction, terms_per_row(kind, n_outputs), 0.0 + weight, 1)
        loss = loss_sum * scale
        record_left = keep_every(loss, run.history, &recorded, record_left, cfg.record_every)
        if not isfinite(loss):
            status = STATUS_DIVERGED  # (the caller replays the run to its last finite iterate)
            break
        last_loss = loss
        lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(cfg, t)
        if l2 != 0.0:
            shrink = 1.0 - lr * l2
            if shrink <= 0.0:  # scikit-learn: never scale to negative values; W = 0
                for k in range(size_W):
                    w[k] = 0.0
                wscale = 1.0
            else:
                wscale *= shrink
        for j in range(n_outputs):
            # g = scale * c_j * x:  W[j, idx] -= lr * g  (w = W / wscale);  b_j -= lr * scale * c_j
            c = scale * (0.0 + cgrad[j])
            if c != 0.0:
                coef = (lr * c) / wscale
                wj = w + j * n_features
                # NumPy: np.subtract.at(wj, indices[start:end], coef * X[start:end]), in stored order
                # (four entries a step: less loop overhead, the same updates in the same order)
                k = start
                while k + 4 <= end:
                    wj[indices[k]] -= coef * X[k]
                    wj[indices[k + 1]] -= coef * X[k + 1]
                    wj[indices[k + 2]] -= coef * X[k + 2]
                    wj[indices[k + 3]] -= coef * X[k + 3]
                    k += 4
                while k < end:
                    wj[indices[k]] -= coef * X[k]
                    k += 1
            if fit_intercept:
                w[size_W + j] = w[size_W + j] - lr * c
        if wscale < 1e-9:
            for k in range(size_W):
                w[k] *= wscale
            wscale = 1.0
        if l1 != 0.0:
            l1_total = l1_total + lr * l1
            u = l1_total
            for j in range(n_outputs):
                wj = w + j * n_features
                for k in range(start, end):
                    # NumPy (z = W[j, idx]): z > 0: W = max(0, z - (u + q));  z < 0: W = min(0, z + (u - q));  q += W - z
                    old = wscale * wj[indices[k]]
                    new = old
                    if old > 0.0:
                        new = old - (u + q[j * n_features + indices[k]])
                        if new < 0.0:
                            new = 0.0
                    elif old < 0.0:
                        new = old + (u - q[j * n_features + indices[k]])
                        if new > 0.0:
                            new = 0.0
                    if new != old:
                        wj[indices[k]] = new / wscale
                    q[j * n_features + indices[k]] += new - old
        t += 1
        epoch_loss_sum += loss
        epoch_samples += 1.0
        position = position_after(position, 1, n_samples)
        if position == 0:
            epoch_loss = epoch_loss_sum / epoch_samples
            epoch_left = keep_every(epoch_loss, run.epoch_history, &epochs_recorded, epoch_left,
                                    cfg.epoch_record_every)
            epoch += 1
            epoch_loss_sum = 0.0
            epoch_samples = 0.0
            if grown_past(epoch_loss, best_loss, first_loss, cfg.divergence_factor):
                status = STATUS_DIVERGED
                break
            if epoch_ended(epoch_loss, &first_loss, &best_loss, &no_improvement, cfg.n_iter_no_change,
                           cfg.loss_tol):
                status = STATUS_NO_IMPROVEMENT
                break
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    if t != t0:
        # the parameters' other row = W (wscale folded in), rounded once to their type
        other = params + (1 - cur) * size
        for k in range(size_W):
            other[k] = <floating>(w[k] * wscale)
        for k in range(size_W, size):
            other[k] = <floating>w[k]
        cur = 1 - cur
    rec.step, rec.current, rec.position, rec.epoch = t, cur, position, epoch
    rec.recorded, rec.epochs_recorded, rec.no_improvement, rec.rng = recorded, epochs_recorded, no_improvement, rng
    rec.best_loss, rec.first_loss, rec.last_loss = best_loss, first_loss, last_loss
    rec.epoch_loss_sum, rec.epoch_samples, rec.l1_total = epoch_loss_sum, epoch_samples, l1_total
    run.record[0] = rec
    left.record, left.epoch_record, left.check = record_left, epoch_left, check_left
    return status


cdef double blocked_loss_and_gradient(
    const floating* W, const floating* b, const Problem* data, const Py_ssize_t* rows, Py_ssize_t n_rows,
    int loss_kind, double width, int reduction, double* grad, double* partials, int n_threads,
) noexcept nogil:
    """``loss_and_gradient`` of a batch summed in fixed blocks of BLOCK_ROWS consecutive batch rows:
    each block's partial sums by ``block_partial_into`` into its own row of ``partials`` (rows of
    ``block_stride(size)`` doubles), on ``n_threads`` OpenMP threads when > 1 (no OpenMP call otherwise),
    then added in block order by ``blocks_reduce`` on the calling thread. ``grad`` (size) gets the
    gradient (W's rows, then the bias when b is not NULL). The blocks and their order depend on
    n_rows alone, so the result is the same to the bit for every thread count."""
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef const floating* sw = <const floating*>data.sample_weight
    cdef Py_ssize_t n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t size = n_outputs * n_features + (n_outputs if b != NULL else 0)
    cdef Py_ssize_t stride = block_stride(size), n_blocks = blocks_of(n_rows), blk
    if n_threads > 1:
        # (dynamic: a thread slowed down by another process's work takes fewer blocks; which thread
        # computes a block changes nothing in its sums)
        for blk in prange(n_blocks, num_threads=n_threads, schedule="dynamic", chunksize=1):
            block_partial_into(W, b, X, Y, sw, rows, blk * BLOCK_ROWS, min(n_rows, (blk + 1) * BLOCK_ROWS),
                               n_features, n_outputs, loss_kind, width, partials + blk * stride)
    else:
        for blk in range(n_blocks):
            block_partial_into(W, b, X, Y, sw, rows, blk * BLOCK_ROWS, min(n_rows, (blk + 1) * BLOCK_ROWS),
                               n_features, n_outputs, loss_kind, width, partials + blk * stride)
    return blocks_reduce(partials, n_blocks, size, stride, terms_per_row(loss_kind, n_outputs), reduction, n_rows, grad)


cdef int run_one(const TrainConfig* config, const Problem* data, floating* params, RunBuffers* run,
                 int64_t n_steps, int64_t check_every, int* stop_flag) noexcept nogil:
    """Advance one run by up to ``n_steps`` updates; returns (and stores in its record) its STATUS_*.

    ``params`` (= ``run.params``, typed) is (2, size), or (3, size) with ``restore_best``: row
    ``record.current`` holds the current parameters, the other of rows 0 and 1 the previous ones, so
    a diverged run can hand back its previous iterate without copying; row 2 receives the weights of
    the best epoch so far (``restore_best``: for a full batch the iterate whose loss was lowest, for
    mini-batches the weights at the end of the epoch with the lowest mean loss; ``record.best_step``
    their step). Divergence: a non-finite loss, or an epoch loss grown past ``divergence_factor``
    times the best epoch loss and past the first one (see ``grown_past``); a full batch then steps
    back to the previous iterate, a mini-batch run stops at the end of that epoch.
    ``history`` receives the loss of step t when (t - history_origin) % record_every == 0,
    ``epoch_history`` the mean loss of completed epoch e when (e - epoch_origin) % epoch_record_every
    == 0. Every ``check_every`` steps the run polls Python's signal handlers (main thread only) and
    ``stop_flag``, which any thread sets to interrupt all runs.

    Batches of at least BLOCKED_MIN_ROWS rows with at most BLOCKED_MAX_OUTPUTS outputs (``use_blocks``)
    go through ``blocked_loss_and_gradient`` on ``run.block_threads`` threads (never dgemm, never
    the loops), the same bits for any thread count; other batches through ``mse_and_gradient`` or
    ``loss_and_gradient``. With accumulate="float32" on float32 data, full batches that
    ``blas_pays`` for (``_run_sums_in_float32``) go through ``float32_loss_and_gradient`` instead,
    blocked shapes included; the optimizer step is the same (its gradient in double).

    The record's fields live in local variables during the loop and are written back at the end (no
    per-step stores to memory that neighbouring runs of a set share cache lines with).
    """
    cdef TrainConfig cfg = config[0]  # a local copy: the compiler need not reload it after stores
    cdef RunRecord rec = run.record[0]
    # (the optimizer step takes its address: a variable of its own keeps the record in registers)
    cdef double mu_product = rec.mu_product
    cdef double l1_total = rec.l1_total
    cdef int64_t averaged = rec.averaged
    cdef bint penalised = cfg.l2_penalty != 0.0 or cfg.l1_penalty != 0.0
    cdef bint penalised_or_averaged = penalised or cfg.average > 0
    cdef const floating* X = <const floating*>data.X
    cdef Py_ssize_t n_samples = data.n_samples, n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t size = data.size, size_W = n_outputs * n_features
    cdef Py_ssize_t n_rows, k
    cdef int64_t i_step
    cdef int status = STATUS_RUNNING
    cdef floating* best_params = params + 2 * size
    cdef double* grad = run.grad
    cdef Countdowns left
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    cdef bint need_norm = cfg.grad_tol >= 0.0 or cfg.clip_norm > 0.0
    cdef double loss, grad_norm = -1.0, lr, epoch_loss = 0.0
    cdef floating* current
    cdef floating* other
    cdef const Py_ssize_t* rows
    left.record = (cfg.record_every - (rec.step - rec.history_origin) % cfg.record_every) % cfg.record_every
    left.epoch_record = (
        (cfg.epoch_record_every - (rec.epoch - rec.epoch_origin) % cfg.epoch_record_every) % cfg.epoch_record_every)
    left.check = check_every
    # accumulate="float32" (float32 data): every full batch that BLAS pays for, the tall ones
    # included, sums its two products in float32 with BLAS on the arrays themselves
    # (float32_loss_and_gradient, into float32 scratch: the residuals and the gradient's product).
    cdef bint sums_in_float32 = (floating is float and not data.csr
                                 and _run_sums_in_float32(&cfg, n_samples, n_features, n_outputs))
    cdef float* f32_scratch = NULL
    if sums_in_float32:
        f32_scratch = <float*>malloc((n_samples * n_outputs + size_W) * sizeof(float))
        sums_in_float32 = f32_scratch != NULL  # (else the double path below, as when X_copy fails)
    # Batches of BLOCKED_MIN_ROWS rows or more and few outputs: summed in blocks (use_blocks), on
    # run.block_threads threads; this replaces dgemm for such full batches.
    cdef bint blocked_batches = not data.csr and not sums_in_float32 and run.block_partials != NULL and use_blocks(
        n_samples if full_batch else min(<Py_ssize_t>cfg.batch_size, n_samples), n_outputs)
    # BLAS for other large full batches (see use_blas): float64 X as is; float32 X converted once per call.
    cdef const double* X_blas = NULL
    cdef double* X_copy = NULL
    cdef double* W_blas = NULL
    if not data.csr and not sums_in_float32 and not blocked_batches and _run_uses_dgemm(&cfg, n_samples, n_features, n_outputs):
        if floating is double:
            X_blas = X
        elif data.X_double != NULL:
            X_blas = data.X_double
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
    cdef bint plain_mse = (cfg.loss == LOSS_MSE and data.sample_weight == NULL and X_blas == NULL and not sums_in_float32
                          and cfg.reduction == REDUCTION_MEAN and not data.csr)
    cdef double* csr_weights = NULL
    # Plain full-batch SGD on the MSE with none of the per-step options: the loop below without
    # the branches that cannot fire (same arithmetic, same records, same state at the end).
    if (plain_mse and full_batch and not blocked_batches and not need_norm and cfg.optimizer == OPT_SGD and cfg.momentum == 0.0
            and cfg.weight_decay == 0.0 and cfg.schedule == SCHEDULE_CONSTANT and cfg.n_iter_no_change <= 0
            and not cfg.restore_best and not penalised and cfg.average <= 0):
        run.record[0] = rec
        status = simple_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag)
        rec = run.record[0]
        n_steps = 0  # the general loop below has nothing left to do
    # Per-sample plain SGD on CSR data: updates that touch only each row's stored entries.
    if (data.csr and cfg.batch_size == 1 and not full_batch and cfg.optimizer == OPT_SGD and cfg.momentum == 0.0
            and cfg.weight_decay == 0.0 and not need_norm and not cfg.restore_best and cfg.average == 0 and n_steps > 0):
        csr_weights = <double*>malloc(size * sizeof(double))
        if csr_weights != NULL:  # (else the general loop below: a dense update per sample)
            run.record[0] = rec
            if cfg.loss == LOSS_MULTINOMIAL:  # (the softmax's loop: all K logits of a row first)
                if data.csr_index32:
                    status = csr_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag,
                                          <const int32_t*>data.csr_indices, <const int32_t*>data.csr_indptr,
                                          csr_weights, <const SoftmaxLoss*>NULL)
                else:
                    status = csr_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag,
                                          <const int64_t*>data.csr_indices, <const int64_t*>data.csr_indptr,
                                          csr_weights, <const SoftmaxLoss*>NULL)
            elif data.csr_index32:
                status = csr_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag,
                                      <const int32_t*>data.csr_indices, <const int32_t*>data.csr_indptr, csr_weights,
                                      <const PerOutputLoss*>NULL)
            else:
                status = csr_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag,
                                      <const int64_t*>data.csr_indices, <const int64_t*>data.csr_indptr, csr_weights,
                                      <const PerOutputLoss*>NULL)
            free(csr_weights)
            run.record[0].status = status
            return status

    # Plain SGD one sample at a time: the gradient is never stored; sample_sgd_step updates the
    # parameters straight from the sample's d loss / d prediction (same bits as the general path).
    cdef bint sample_sgd = (cfg.batch_size == 1 and not data.csr and not sums_in_float32 and not blocked_batches
                            and not need_norm and cfg.optimizer == OPT_SGD and cfg.momentum == 0.0 and cfg.weight_decay == 0.0
                            and not penalised_or_averaged)
    cdef double sample_weight_sum
    # ... and dense data with one loss term per output: its own loop, the same arithmetic.
    if (sample_sgd and not full_batch and cfg.loss != LOSS_MULTINOMIAL and not cfg.restore_best and X_blas == NULL
            and n_steps > 0):
        run.record[0] = rec
        status = dense_sgd_loop(&cfg, data, params, run, &left, n_steps, check_every, stop_flag)
        rec = run.record[0]
        n_steps = 0  # the general loop below has nothing left to do (as after simple_sgd_loop)

    # The loop counts in local variables (as simple_sgd_loop does), written back to the record after
    # it: held in registers, not reloaded after every store through the parameter or gradient pointers.
    cdef int64_t t = rec.step, cur = rec.current, position = rec.position, epoch = rec.epoch
    cdef int64_t recorded = rec.recorded, epochs_recorded = rec.epochs_recorded
    cdef int64_t no_improvement = rec.no_improvement, best_step = rec.best_step
    cdef int64_t history_origin = rec.history_origin
    cdef uint64_t rng = rec.rng
    cdef double best_loss = rec.best_loss, first_loss = rec.first_loss, last_loss = rec.last_loss
    cdef double last_grad_norm = rec.last_grad_norm
    cdef double epoch_loss_sum = rec.epoch_loss_sum, epoch_samples = rec.epoch_samples
    cdef int64_t record_left = left.record, epoch_left = left.epoch_record, check_left = left.check

    for i_step in range(n_steps):
        current = params + cur * size
        other = params + (1 - cur) * size

        rows = next_batch(&cfg, full_batch, run.perm, n_samples, position, &rng, &n_rows)

        if data.csr:
            if data.csr_index32:
                loss = csr_loss_and_gradient(
                    current, current + size_W if data.fit_intercept else <floating*>NULL,
                    X, <const int32_t*>data.csr_indices, <const int32_t*>data.csr_indptr, <const floating*>data.Y,
                    <const floating*>data.sample_weight, rows, n_rows, n_features, n_outputs, cfg.loss, cfg.epsilon,
                    cfg.reduction, run.residual_grad, grad, grad + size_W if data.fit_intercept else NULL,
                )
            else:
                loss = csr_loss_and_gradient(
                    current, current + size_W if data.fit_intercept else <floating*>NULL,
                    X, <const int64_t*>data.csr_indices, <const int64_t*>data.csr_indptr, <const floating*>data.Y,
                    <const floating*>data.sample_weight, rows, n_rows, n_features, n_outputs, cfg.loss, cfg.epsilon,
                    cfg.reduction, run.residual_grad, grad, grad + size_W if data.fit_intercept else NULL,
                )
        elif sums_in_float32:
            if floating is float:  # (always: sums_in_float32 is False for float64 data)
                loss = float32_loss_and_gradient(
                    current, current + size_W if data.fit_intercept else <floating*>NULL,
                    X, <const floating*>data.Y, <const floating*>data.sample_weight, n_samples, n_features,
                    n_outputs, cfg.loss, cfg.epsilon, cfg.reduction, f32_scratch, f32_scratch + n_samples * n_outputs,
                    grad, grad + size_W if data.fit_intercept else NULL,
                )
        elif blocked_batches and use_blocks(n_rows, n_outputs):
            loss = blocked_loss_and_gradient(
                current, current + size_W if data.fit_intercept else <floating*>NULL,
                data, rows, n_rows, cfg.loss, cfg.epsilon, cfg.reduction, grad, run.block_partials, run.block_threads,
            )
        elif sample_sgd:
            # d loss / d prediction of the sample into residual_grad (its gradient is not formed)
            loss = loss_and_gradient(
                current, current + size_W if data.fit_intercept else <floating*>NULL,
                X, <const floating*>data.Y, <const floating*>data.sample_weight, rows, n_rows, n_features,
                n_outputs, cfg.loss, cfg.epsilon, cfg.reduction, run.residual_grad, NULL, NULL, NULL, NULL,
            )
        elif plain_mse:
            loss = mse_and_gradient(
                current, current + size_W if data.fit_intercept else <floating*>NULL,
                X, <const floating*>data.Y, rows, n_rows, n_features, n_outputs,
                run.residual_grad, grad, grad + size_W if data.fit_intercept else NULL,
            )
        else:
            loss = loss_and_gradient(
                current, current + size_W if data.fit_intercept else <floating*>NULL,
                X, <const floating*>data.Y, <const floating*>data.sample_weight, rows, n_rows, n_features,
                n_outputs, cfg.loss, cfg.epsilon, cfg.reduction, run.residual_grad, grad,
                grad + size_W if data.fit_intercept else NULL, X_blas, W_blas,
            )
        record_left = keep_every(loss, run.history, &recorded, record_left, cfg.record_every)

        if full_batch:
            epoch_loss = loss  # a full batch's epoch is this one step
        if not isfinite(loss) or (full_batch and grown_past(epoch_loss, best_loss, first_loss,
                                                            cfg.divergence_factor)):
            # A full batch steps back to the previous iterate, whose loss passed this test. A
            # mini-batch run stays here (its record then describes this iterate, not an earlier one):
            # the caller replays it to the last iterate whose loss on all samples is finite.
            if full_batch and t > history_origin:
                cur = 1 - cur
                t -= 1
            status = STATUS_DIVERGED
            break
        last_loss = loss

        if need_norm:
            grad_norm = sqrt(sum_of_squares(grad, size))
            last_grad_norm = grad_norm
            status = norm_checks(&cfg, grad_norm, grad, size)  # (grad_tol; clip_norm)
            if status != STATUS_RUNNING:
                break

        lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(&cfg, t)
        if sample_sgd:
            # loss_and_gradient's scale for this one-sample batch (its weight sum is 0.0 + w)
            sample_weight_sum = 0.0 + (
                <double>(<const floating*>data.sample_weight)[row_of(rows, 0)] if data.sample_weight != NULL else 1.0)
            sample_sgd_step(current, other, X + row_of(rows, 0) * n_features, run.residual_grad,
                            batch_scale(cfg.reduction, terms_per_row(cfg.loss, n_outputs), sample_weight_sum, 1), lr,
                            n_features, n_outputs, data.fit_intercept)
        elif penalised_or_averaged:  # (one test on the default path for both options)
            if penalised:
                # (Python allows a penalty with plain SGD only; q is opt_state row 1)
                penalised_sgd_step(&cfg, current, other, grad, run.opt_state + size, &l1_total, size_W, size, lr)
            else:
                optimizer_step(&cfg, current, other, grad, run.opt_state, &mu_product, size, lr, t + 1)
            if cfg.average > 0 and t + 1 >= cfg.average:
                # averaged SGD: the new iterate joins the running mean in opt_state row 2 (Python
                # allows it with SGD only, whose buffers are rows 0 and 1)
                averaged += 1
                running_mean_step(other, run.opt_state + 2 * size, size, averaged)
        else:
            optimizer_step(&cfg, current, other, grad, run.opt_state, &mu_product, size, lr, t + 1)
        cur = 1 - cur
        t += 1

        # Epoch bookkeeping (an epoch is one pass over the samples) and scikit-learn's
        # n_iter_no_change rule on the mean training loss of each epoch.
        epoch_loss_sum += loss * n_rows
        epoch_samples += n_rows
        position = position_after(position, n_rows, n_samples)
        if position == 0:
            # epoch_loss = mean of this epoch's batch losses, weighted by batch size (a full batch:
            # the loss of its one step, set above)
            if not full_batch:
                epoch_loss = epoch_loss_sum / epoch_samples
            epoch_left = keep_every(epoch_loss, run.epoch_history, &epochs_recorded,
                                           epoch_left, cfg.epoch_record_every)
            epoch += 1
            epoch_loss_sum = 0.0
            epoch_samples = 0.0
            if not full_batch and grown_past(epoch_loss, best_loss, first_loss, cfg.divergence_factor):
                status = STATUS_DIVERGED  # (a full batch ran this test before its update)
                break
            if cfg.restore_best and epoch_loss < best_loss:
                # best = the weights this epoch's loss belongs to: a full batch's loss is that of the
                # iterate before this update, a mini-batch epoch's that of the weights it ends with
                memcpy(best_params, current if full_batch else other, size * sizeof(floating))
                best_step = t - 1 if full_batch else t
            if epoch_ended(epoch_loss, &first_loss, &best_loss, &no_improvement, cfg.n_iter_no_change,
                           cfg.loss_tol):
                status = STATUS_NO_IMPROVEMENT
                break

        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break

    rec.step, rec.current, rec.position, rec.epoch = t, cur, position, epoch
    rec.recorded, rec.epochs_recorded = recorded, epochs_recorded
    rec.no_improvement, rec.best_step, rec.rng = no_improvement, best_step, rng
    rec.best_loss, rec.first_loss, rec.last_loss, rec.last_grad_norm = best_loss, first_loss, last_loss, last_grad_norm
    rec.epoch_loss_sum, rec.epoch_samples = epoch_loss_sum, epoch_samples
    rec.status = status
    rec.mu_product = mu_product
    rec.l1_total = l1_total
    rec.averaged = averaged
    run.record[0] = rec
    free(X_copy)
    free(W_blas)
    free(f32_scratch)
    return status


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


# --- Fork safety -------------------------------------------------------------------------------------
# GNU libgomp keeps its worker threads in a pool that a fork does not copy (only the forking thread
# survives in the child), and does not notice: the child's next parallel region waits forever for
# the missing threads. So a process forked (os.fork, multiprocessing's "fork" start method) after
# OpenMP ran threads in it, or in a process it was forked from, runs run sets on a plain serial loop
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
    OpenMP's thread pool is then unusable and ``advance_runs`` runs serially."""
    return _forked_after_openmp


def take_fork_warning():
    """True once per forked process in which ``openmp_forked()`` holds (for a one-time warning)."""
    global _fork_warning_due
    due = _fork_warning_due
    _fork_warning_due = False
    return due


cdef struct RunSet:
    # The stacked buffers of K runs: run r's row of an array is ``base + r * stride`` (strides in
    # elements; params of the set's float type, hence void*).
    const TrainConfig* cfgs
    RunRecord* records
    void* params
    Py_ssize_t params_stride
    Py_ssize_t params_len     # its params rows (2, or 3 with restore_best) times size
    double* opt_state
    Py_ssize_t opt_state_stride
    Py_ssize_t* perm
    Py_ssize_t perm_stride
    double* history
    Py_ssize_t history_stride
    double* epoch_history
    Py_ssize_t epoch_history_stride
    const int64_t* n_steps
    int64_t check_every


cdef struct Scratch:
    # A thread's scratch and, when runs go in parallel (``copies``), its working copies of a run's
    # parameters and optimizer buffers: runs done at the same time by different threads then never
    # write to neighbouring memory (no false sharing of the cache lines at the edges of the rows).
    bint copies
    void* params
    double* opt_state
    double* grad
    double* residual_grad
    double* block_partials   # blocked batches' partial sums, or NULL when no batch is blocked


cdef inline Scratch scratch_new(bint copies, Py_ssize_t param_bytes, Py_ssize_t size,
                                Py_ssize_t n_residual_grad, Py_ssize_t n_block_partials) noexcept nogil:
    """A thread's Scratch (its pointers NULL where malloc failed: see ``scratch_ok``)."""
    cdef Scratch w
    w.copies = copies
    w.params = malloc(param_bytes) if copies else NULL
    w.opt_state = <double*>malloc(3 * size * sizeof(double)) if copies else NULL
    w.grad = <double*>malloc(size * sizeof(double))
    w.residual_grad = <double*>malloc(n_residual_grad * sizeof(double))
    w.block_partials = <double*>malloc(n_block_partials * sizeof(double)) if n_block_partials > 0 else NULL
    return w


cdef inline bint scratch_ok(Scratch w, Py_ssize_t n_block_partials) noexcept nogil:
    return (w.grad != NULL and w.residual_grad != NULL and (n_block_partials == 0 or w.block_partials != NULL)
            and (not w.copies or (w.params != NULL and w.opt_state != NULL)))


cdef inline void scratch_free(Scratch w) noexcept nogil:
    free(w.params)
    free(w.opt_state)
    free(w.grad)
    free(w.residual_grad)
    free(w.block_partials)


cdef inline void advance_one(const RunSet* s, const Problem* data, Py_ssize_t r, floating* typed,
                             const Scratch* w, int block_threads, int* stop_flag) noexcept nogil:
    """Run r of the set, on the calling thread: ``run_one`` on its rows of the stacked buffers, or
    (``w.copies``) on the thread's working copies of its parameters and optimizer buffers (copied in,
    advanced, copied back). ``typed`` is any pointer of the set's float type (it picks the
    specialisation). ``block_threads``: the threads that compute the blocks of a blocked batch."""
    cdef RunBuffers run
    cdef floating* params_r = <floating*>s.params + r * s.params_stride
    cdef double* opt_state_r = s.opt_state + r * s.opt_state_stride
    run.params, run.opt_state = params_r, opt_state_r
    if w.copies:
        run.params, run.opt_state = w.params, w.opt_state
        memcpy(run.params, params_r, s.params_len * sizeof(floating))
        memcpy(run.opt_state, opt_state_r, 3 * data.size * sizeof(double))
    run.perm = s.perm + r * s.perm_stride
    run.record = &s.records[r]
    run.history = s.history + r * s.history_stride
    run.epoch_history = s.epoch_history + r * s.epoch_history_stride
    run.grad, run.residual_grad = w.grad, w.residual_grad
    run.block_partials, run.block_threads = w.block_partials, block_threads
    run_one(&s.cfgs[r], data, <floating*>run.params, &run, s.n_steps[r], s.check_every, stop_flag)
    if w.copies:
        memcpy(params_r, run.params, s.params_len * sizeof(floating))
        memcpy(opt_state_r, run.opt_state, 3 * data.size * sizeof(double))


# --- Runs in lockstep ---------------------------------------------------------------------------------
# Runs of plain SGD on the unweighted MSE that share everything but their learning rate and their
# parameters (same data, batches, sample order and counters; gdfast/_engine.py groups them) advance
# together: their parameters in a structure-of-arrays block (element e of lane l at
# [e * n_lanes + l]), so that every data element is loaded once for all of them and the loops over
# lanes vectorise. The long sums (a dot product's partial sums over the features, a gradient
# element's sum over the batch rows) run a register block of LANE_BLOCK lanes at a time, the block's
# sums held in vector registers from the first term to the last rather than stored and reloaded at
# every term (lanes_partial_dot, lanes_gradient_update); the lanes past the last whole block take
# the same sums through memory. Each lane does exactly the arithmetic of run_one on its own run (the same
# operations on the same values in the same order: mse_and_gradient's sums, optimizer_step's plain
# SGD), so each run ends with the bits it has when advanced alone; the tests compare every run of a
# sweep with train.

cdef extern from *:
    """
    /* Lanes per register block of lockstep_sgd (src/_train.pyx): a block's sums stay in eight vector
       registers of the variant's ISA (8 x 8, 8 x 4 or 8 x 2 doubles) across a whole sum; with eight
       independent sums in flight the adds never wait on one another. Each lane's arithmetic is the
       same for any block size: this only sets how many lanes go through the register-blocked loops. */
    #if defined(__AVX512F__)
    #define GDFAST_LANE_BLOCK 64
    #elif defined(__AVX__)
    #define GDFAST_LANE_BLOCK 32
    #else
    #define GDFAST_LANE_BLOCK 16
    #endif
    """
    enum: LANE_BLOCK "GDFAST_LANE_BLOCK"

cdef enum:
    MAX_LANE_BLOCK = 64  # the largest LANE_BLOCK: the size of the blocks' local arrays


def lane_block():
    """LANE_BLOCK: the lanes that lockstep_sgd sums in registers together in this build (a sweep's
    lanes past the last whole block go through the same sums one lane at a time in memory)."""
    return LANE_BLOCK


cdef struct Lanes:
    # The working state of lockstep_sgd: blocks of n_lanes values.
    void* current            # (size, n_lanes) current parameters, of the set's float type
    void* previous           # (size, n_lanes) the iterate before
    double* grad             # (n_lanes,): one parameter's gradient sums of the lanes past the last register block
    double* residual_grad    # (batch rows, n_outputs, n_lanes): D = 2 R
    double* sums             # (4, n_lanes): a dot product's four partial sums
    double* batch_columns    # (n_features + 1, batch rows): the batch's X transposed, then a row of 1.0
    double* wide_params      # (size, n_lanes): a float32 set's current parameters in double (its blocks' sums)
    double* wide_row         # (n_features,): a float32 set's sample row in double
    void* minus_zero         # (n_lanes,) -0.0 of the set's float type: the bias of a model without one
    double* loss             # the batch loss of each lane
    double* loss_sum
    double* lr               # each lane's learning rate
    double* best_loss        # the record fields that differ between lanes
    double* first_loss
    double* last_loss
    double* epoch_loss_sum
    double* epoch_samples
    int64_t* current_row     # which params row held the lane's current iterate when the lanes began
    int64_t flips            # updates since then: each swapped the rows of every running lane
    int* active              # 1 while the lane runs


cdef inline void lanes_free(Lanes* w) noexcept nogil:
    free(w.current)
    free(w.previous)
    free(w.grad)
    free(w.residual_grad)
    free(w.sums)
    free(w.batch_columns)
    free(w.wide_params)
    free(w.wide_row)
    free(w.minus_zero)
    free(w.current_row)
    free(w.active)


cdef inline bint lanes_new(Lanes* w, Py_ssize_t n_lanes, Py_ssize_t size, Py_ssize_t float_bytes,
                           Py_ssize_t n_residual_grad, Py_ssize_t n_batch_columns,
                           Py_ssize_t n_features) noexcept nogil:
    """Allocate ``w`` for n_lanes lanes; False (and nothing left allocated) when malloc failed."""
    w.current = malloc(size * n_lanes * float_bytes)
    w.previous = malloc(size * n_lanes * float_bytes)
    w.grad = <double*>malloc(n_lanes * sizeof(double))
    w.residual_grad = <double*>malloc(n_residual_grad * n_lanes * sizeof(double))
    w.sums = <double*>malloc(12 * n_lanes * sizeof(double))
    w.batch_columns = <double*>malloc(n_batch_columns * sizeof(double))
    w.wide_params = <double*>malloc(size * n_lanes * sizeof(double))
    w.wide_row = <double*>malloc(n_features * sizeof(double))
    w.minus_zero = malloc(n_lanes * float_bytes)
    w.current_row = <int64_t*>malloc(n_lanes * sizeof(int64_t))
    w.active = <int*>malloc(n_lanes * sizeof(int))
    if (w.current == NULL or w.previous == NULL or w.grad == NULL or w.residual_grad == NULL or w.sums == NULL
            or w.batch_columns == NULL or w.wide_params == NULL or w.wide_row == NULL or w.minus_zero == NULL
            or w.current_row == NULL or w.active == NULL):
        lanes_free(w)
        return False
    w.loss = w.sums + 4 * n_lanes
    w.loss_sum = w.loss + n_lanes
    w.lr = w.loss_sum + n_lanes
    w.best_loss = w.lr + n_lanes
    w.first_loss = w.best_loss + n_lanes
    w.last_loss = w.first_loss + n_lanes
    w.epoch_loss_sum = w.last_loss + n_lanes
    w.epoch_samples = w.epoch_loss_sum + n_lanes
    return True


cdef inline void lanes_partial_dot(const double* p, const double* x, Py_ssize_t n_blocks, Py_ssize_t L,
                                   double* out) noexcept nogil:
    """One of dot's four partial sums (src/_linear.pxd) for the LANE_BLOCK lanes at p, over its
    n_blocks features x[0], x[4], x[8], ...: with w_k the lanes' parameter row p[k * L:k * L + LANE_BLOCK],
    out = ((0.0 + w_0 x[0]) + w_4 x[4]) + ..., in that order, the sums in registers (parameters and
    data in double: a float32 set's are converted once, as each product would convert them)."""
    cdef double acc[MAX_LANE_BLOCK]
    cdef Py_ssize_t b, l
    cdef double xk
    cdef const double* pk = p
    if n_blocks == 0:
        for l in range(LANE_BLOCK):
            out[l] = 0.0
        return
    xk = x[0]
    if n_blocks == 1:
        for l in range(LANE_BLOCK):
            out[l] = 0.0 + pk[l] * xk
        return
    # acc = 0.0 + P[0, block] * x[0]; acc += P[4 b, block] * x[4 b] for b = 1, 2, ... (the pointers
    # step on, and the first block starts the sums: the compiler keeps them in registers then); the
    # last block's sums go straight to out (a copy of acc after the loop went through the stack)
    for l in range(LANE_BLOCK):
        acc[l] = 0.0 + pk[l] * xk
    for b in range(1, n_blocks - 1):
        x += 4
        pk += 4 * L
        xk = x[0]
        for l in range(LANE_BLOCK):
            acc[l] = acc[l] + pk[l] * xk
    x += 4
    pk += 4 * L
    xk = x[0]
    for l in range(LANE_BLOCK):
        out[l] = acc[l] + pk[l] * xk


cdef inline void lanes_gradient_update(const floating* P, floating* P_new, const double* lr, const double* d,
                                       Py_ssize_t d_stride, const double* x, Py_ssize_t n_rows,
                                       double scale) noexcept nogil:
    """One parameter element of lanes_sgd_update for the LANE_BLOCK lanes at P, its gradient sums in
    registers: g = ((0.0 + D[0] x[0]) + D[1] x[1]) + ... in the order of the n_rows >= 1 batch rows,
    with D[ii] the lanes' residual gradients at d + ii * d_stride, then P_new = P - lr * (g * scale)."""
    cdef double acc[MAX_LANE_BLOCK]
    cdef Py_ssize_t ii, l
    cdef double x0 = x[0]
    # acc = 0.0 + D[0, block] * x[0]; acc += D[ii, block] * x[ii] for ii = 1, 2, ... (as in lanes_partial_dot)
    for l in range(LANE_BLOCK):
        acc[l] = 0.0 + d[l] * x0
    for ii in range(1, n_rows):
        x += 1
        d += d_stride
        x0 = x[0]
        for l in range(LANE_BLOCK):
            acc[l] = acc[l] + d[l] * x0
    # P_new = P - lr * (grad * scale)
    for l in range(LANE_BLOCK):
        P_new[l] = <floating>(<double>P[l] - lr[l] * (acc[l] * scale))


cdef inline void lanes_residuals(const Problem* data, const floating* P, const Py_ssize_t* rows, Py_ssize_t n_rows,
                                 Py_ssize_t L, Lanes* w) noexcept nogil:
    """The first half of mse_and_gradient (src/_linear.pxd) for every lane at once: D = 2 R of the
    parameters P[:, l] on the batch ``rows`` (NULL: all samples in order) into w.residual_grad and
    the batch loss into w.loss, the same sums in the same order as each lane alone."""
    cdef const floating* X = <const floating*>data.X
    cdef const floating* Y = <const floating*>data.Y
    cdef Py_ssize_t n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t n_blocks = n_features // 4, size_W = n_outputs * n_features
    cdef Py_ssize_t n_lane_blocks = L // LANE_BLOCK, L_blocked = n_lane_blocks * LANE_BLOCK  # whole register blocks
    cdef Py_ssize_t ii, i, j, k, l, b, lb, e
    cdef double x0, x1, x2, x3, y, r
    cdef const floating* x
    cdef const floating* p
    cdef const floating* pb
    cdef double* s0 = w.sums
    cdef double* s1 = w.sums + L
    cdef double* s2 = w.sums + 2 * L
    cdef double* s3 = w.sums + 3 * L
    cdef double* d
    cdef double* loss_sum = w.loss_sum  # (local pointers: the compiler need not reload them after each store)
    cdef const floating* minus_zero = <const floating*>w.minus_zero
    cdef const double* P_wide   # the parameters (then a sample row) in double for the register blocks
    cdef const double* x_wide
    for l in range(L):
        loss_sum[l] = 0.0
    if floating is double:
        P_wide = P
    else:
        for e in range(size_W * L if n_lane_blocks > 0 and n_features != 4 else 0):
            w.wide_params[e] = P[e]
        P_wide = w.wide_params
    # R[ii, j, :] = X[rows[ii]] @ W[j].T (+ b[j]) - Y[rows[ii], j];  loss_sum += R**2;  D = 2 R
    for ii in range(n_rows):
        i = rows[ii] if rows != NULL else ii
        x = X + i * n_features
        if floating is double:
            x_wide = x
        else:
            for k in range(n_features if n_lane_blocks > 0 and n_features != 4 else 0):
                w.wide_row[k] = x[k]
            x_wide = w.wide_row
        for j in range(n_outputs):
            y = Y[i * n_outputs + j]
            d = w.residual_grad + (ii * n_outputs + j) * L
            # r += b[j]; without an intercept r += -0.0, which leaves every r as it is
            pb = P + (size_W + j) * L if data.fit_intercept else minus_zero
            p = P + j * n_features * L
            if n_features == 4:
                # dot(W[j], x) of four features: ((0 + w0 x0) + (0 + w1 x1)) + ((0 + w2 x2) + (0 + w3 x3))
                x0, x1, x2, x3 = x[0], x[1], x[2], x[3]
                for l in range(L):
                    r = ((0.0 + <double>p[l] * x0) + (0.0 + <double>p[L + l] * x1)) + (
                        (0.0 + <double>p[2 * L + l] * x2) + (0.0 + <double>p[3 * L + l] * x3))
                    r = (r + <double>pb[l]) - y
                    loss_sum[l] += r * r
                    d[l] = 2.0 * r
                continue
            # dot(W[j], x) with dot's four partial sums: s_m = 0.0 + sum over blocks of W[j, k + m] x[k + m]
            # (s_0 then + the features past the last block): whole blocks of lanes one partial sum
            # at a time, its sums in registers (lanes_partial_dot); the lanes left over in memory
            for b in range(n_lane_blocks):
                lb = j * n_features * L + b * LANE_BLOCK
                lanes_partial_dot(P_wide + lb, x_wide, n_blocks, L, s0 + b * LANE_BLOCK)
                lanes_partial_dot(P_wide + L + lb, x_wide + 1, n_blocks, L, s1 + b * LANE_BLOCK)
                lanes_partial_dot(P_wide + 2 * L + lb, x_wide + 2, n_blocks, L, s2 + b * LANE_BLOCK)
                lanes_partial_dot(P_wide + 3 * L + lb, x_wide + 3, n_blocks, L, s3 + b * LANE_BLOCK)
            for l in range(L_blocked, L):
                s0[l] = 0.0
                s1[l] = 0.0
                s2[l] = 0.0
                s3[l] = 0.0
            for k in range(0, 4 * n_blocks, 4):
                x0, x1, x2, x3 = x[k], x[k + 1], x[k + 2], x[k + 3]
                p = P + (j * n_features + k) * L
                for l in range(L_blocked, L):
                    s0[l] += <double>p[l] * x0
                    s1[l] += <double>p[L + l] * x1
                    s2[l] += <double>p[2 * L + l] * x2
                    s3[l] += <double>p[3 * L + l] * x3
            for k in range(4 * n_blocks, n_features):
                x0 = x[k]
                p = P + (j * n_features + k) * L
                for l in range(L):
                    s0[l] += <double>p[l] * x0
            for l in range(L):
                r = (((s0[l] + s1[l]) + (s2[l] + s3[l])) + <double>pb[l]) - y
                loss_sum[l] += r * r
                d[l] = 2.0 * r
    for l in range(L):
        w.loss[l] = loss_sum[l] * (1.0 / (<double>n_outputs * <double>n_rows))


cdef inline void lanes_sgd_update(const Problem* data, const floating* P, floating* P_new, const Py_ssize_t* rows,
                                  Py_ssize_t n_rows, Py_ssize_t L, const Lanes* w) noexcept nogil:
    """The second half of mse_and_gradient and optimizer_step's plain SGD for every lane:
    P_new[e, l] = P[e, l] - lr[l] * grad[e, l], with scale = 1 / (n_outputs * n_rows),
    grad_W[j, k] = scale * sum_ii D[ii, j] X[rows[ii], k] and grad_b[j] = scale * sum_ii D[ii, j],
    each sum from +0.0 in the order of ii, as each lane alone."""
    cdef const floating* X = <const floating*>data.X
    cdef Py_ssize_t n_features = data.n_features, n_outputs = data.n_outputs
    cdef Py_ssize_t size_W = n_outputs * n_features
    cdef Py_ssize_t n_lane_blocks = L // LANE_BLOCK, L_blocked = n_lane_blocks * LANE_BLOCK  # whole register blocks
    cdef Py_ssize_t ii, j, k, l, e, b, lb
    cdef double x0, scale = 1.0 / (<double>n_outputs * <double>n_rows)
    cdef const floating* x
    cdef double* acc = w.grad  # one element's gradient sums, lane by lane
    cdef const double* d0 = w.residual_grad
    cdef const double* lr = w.lr
    cdef const double* residual_grad = w.residual_grad
    cdef const double* d
    cdef double* xt = w.batch_columns
    if n_rows == 1:
        # one sample: grad[e] = (0.0 + D[0, j] * x[k]) * scale, fused with the update
        # (element e = j * n_features + k of W, then e = size_W + j of b: walked by j and k, no
        # division per element)
        x = X + (rows[0] if rows != NULL else 0) * n_features
        for j in range(n_outputs):
            d = d0 + j * L
            for k in range(n_features):
                e = j * n_features + k
                x0 = x[k]
                for l in range(L):
                    P_new[e * L + l] = <floating>(<double>P[e * L + l] - lr[l] * ((0.0 + d[l] * x0) * scale))
            if data.fit_intercept:
                # (x0 = 1.0 for a bias element)
                e = size_W + j
                for l in range(L):
                    P_new[e * L + l] = <floating>(<double>P[e * L + l] - lr[l] * ((0.0 + d[l] * 1.0) * scale))
        return
    if n_lane_blocks > 0:
        # the batch's columns for the blocks: xt[k, ii] = X[rows[ii], k], and xt[n_features, ii] = 1.0
        # for a bias element (1.0 * D is D exactly)
        for ii in range(n_rows):
            x = X + (rows[ii] if rows != NULL else ii) * n_features
            for k in range(n_features):
                xt[k * n_rows + ii] = x[k]
            xt[n_features * n_rows + ii] = 1.0
    for e in range(size_W + (n_outputs if data.fit_intercept else 0)):
        j = e // n_features if e < size_W else e - size_W
        k = e - j * n_features  # (unused for a bias element)
        # whole blocks of lanes with their sums in registers; the lanes left over below, in memory
        for b in range(n_lane_blocks):
            lb = b * LANE_BLOCK
            lanes_gradient_update(P + e * L + lb, P_new + e * L + lb, lr + lb, residual_grad + j * L + lb,
                                  n_outputs * L, xt + (k if e < size_W else n_features) * n_rows, n_rows, scale)
        if L_blocked == L:
            continue
        for ii in range(n_rows):
            # x0 = X[rows[ii], k] (1.0 for a bias element: 1.0 * D is D exactly)
            x0 = X[(rows[ii] if rows != NULL else ii) * n_features + k] if e < size_W else 1.0
            d = residual_grad + (ii * n_outputs + j) * L
            if ii == 0:
                for l in range(L_blocked, L):
                    acc[l] = 0.0 + d[l] * x0
            else:
                for l in range(L_blocked, L):
                    acc[l] = acc[l] + d[l] * x0
        for l in range(L_blocked, L):
            P_new[e * L + l] = <floating>(<double>P[e * L + l] - lr[l] * (acc[l] * scale))


cdef inline Py_ssize_t lanes_failing(const Lanes* w, Py_ssize_t L, double factor, const double* loss) noexcept nogil:
    """How many running lanes fail run_one's divergence test on ``loss``: not finite, or grown past
    factor x the best and past the first loss (``grown_past``; factor 0: the finiteness test alone).
    Counted without branches (the loop vectorises); the caller then finds them lane by lane."""
    cdef Py_ssize_t l, n = 0
    cdef const int* active = w.active
    cdef const double* best = w.best_loss
    cdef const double* first = w.first_loss
    cdef bint grow = factor > 0.0
    for l in range(L):
        # fabs(x) <= DBL_MAX is false for NaN and +-inf; grown_past's NaN first loss is never exceeded
        n += active[l] & ((not (fabs(loss[l]) <= DBL_MAX)) | (grow & (loss[l] > factor * best[l])
                                                              & (loss[l] > first[l])))
    return n


cdef inline int64_t lane_current_row(const Lanes* w, Py_ssize_t l) noexcept nogil:
    """The params row (0 or 1) that holds lane l's current iterate now (record.current)."""
    return w.current_row[l] ^ (w.flips & 1)


cdef inline int64_t lanes_keep_every(const Lanes* w, Py_ssize_t L, const Py_ssize_t* runs, const double* values,
                                     double* history, Py_ssize_t history_stride, int64_t* count, int64_t left,
                                     int64_t every) noexcept nogil:
    """``keep_every`` for every running lane at once: when ``left`` is 0, lane l's value goes into
    entry ``count`` of its run's history row and the shared count grows; returns the new ``left``."""
    cdef Py_ssize_t l
    if left != 0:
        return left - 1
    for l in range(L):
        if w.active[l]:
            (history + runs[l] * history_stride)[count[0]] = values[l]
    count[0] += 1
    return every - 1


cdef inline void lanes_first_and_best(Lanes* w, Py_ssize_t L, const double* epoch_loss) noexcept nogil:
    """Each lane's first_loss (set at the end of the run's first epoch, NaN before) and best_loss
    (the lowest epoch loss) after an epoch that ended with losses ``epoch_loss``."""
    cdef Py_ssize_t l
    cdef double* first = w.first_loss
    cdef double* best = w.best_loss
    for l in range(L):
        first[l] = epoch_loss[l] if first[l] != first[l] else first[l]
        best[l] = epoch_loss[l] if epoch_loss[l] < best[l] else best[l]


cdef inline void lane_to_rows(const RunSet* s, const Problem* data, const Lanes* w, const floating* typed,
                              Py_ssize_t r, Py_ssize_t l, Py_ssize_t L, int64_t current_row,
                              bint stepped_back) noexcept nogil:
    """Write lane l's iterates into run r's params rows: the current one into row ``current_row``,
    the previous one into the other (swapped when the lane stepped back to its previous iterate)."""
    cdef floating* rows = <floating*>s.params + r * s.params_stride
    cdef floating* cur_row = rows + current_row * data.size
    cdef floating* prev_row = rows + (1 - current_row) * data.size
    cdef const floating* cur = <const floating*>(w.previous if stepped_back else w.current)
    cdef const floating* prev = <const floating*>(w.current if stepped_back else w.previous)
    cdef Py_ssize_t e
    for e in range(data.size):
        cur_row[e] = cur[e * L + l]
        prev_row[e] = prev[e * L + l]


cdef inline void lane_stop(const RunSet* s, const Problem* data, Lanes* w, const floating* typed,
                           const Py_ssize_t* runs, Py_ssize_t l, Py_ssize_t L, const RunRecord* common,
                           const Py_ssize_t* perm, bint shared_order, int status, bint stepped_back) noexcept nogil:
    """Lane l stops: its run's record, params rows and (``shared_order``: the lanes shuffle one
    shared sample order) sample order and generator as run_one leaves them, and the lane stays put
    from now on (learning rate 0, parameters 0: finite, never read again)."""
    cdef Py_ssize_t r = runs[l], e
    cdef RunRecord* rec = &s.records[r]
    cdef floating* cur = <floating*>w.current
    cdef floating* prev = <floating*>w.previous
    cdef int64_t current_row = lane_current_row(w, l)
    if stepped_back:
        current_row = 1 - current_row
    lane_to_rows(s, data, w, typed, r, l, L, current_row, stepped_back)
    rec.step = common.step - (1 if stepped_back else 0)
    rec.current = current_row
    rec.position = common.position
    rec.epoch = common.epoch
    if shared_order:  # (else the order and the generator are each run's own, and never change)
        rec.rng = common.rng
        memcpy(s.perm + r * s.perm_stride, perm, data.n_samples * sizeof(Py_ssize_t))
    rec.recorded = common.recorded
    rec.epochs_recorded = common.epochs_recorded
    rec.best_loss = w.best_loss[l]
    rec.first_loss = w.first_loss[l]
    rec.last_loss = w.last_loss[l]
    rec.epoch_loss_sum = w.epoch_loss_sum[l]
    rec.epoch_samples = w.epoch_samples[l]
    rec.status = status
    w.active[l] = 0
    w.lr[l] = 0.0
    for e in range(data.size):
        cur[e * L + l] = 0
        prev[e * L + l] = 0


cdef int lockstep_sgd(const RunSet* s, const Problem* data, const Py_ssize_t* runs, Py_ssize_t L,
                      const floating* typed, int64_t n_steps, int* stop_flag) noexcept nogil:
    """Advance the L runs ``runs`` (grouped by gdfast/_engine.py: plain SGD on the unweighted MSE
    without BLAS, the same config but the learning rate, the same counters and, when they shuffle,
    the same generator and sample order) by up to n_steps updates each, together; each run's record, rows, history and sample order
    end as run_one leaves them. Returns 0, or -1 when the working memory could not be allocated
    (nothing was changed then)."""
    cdef const TrainConfig* cfg = &s.cfgs[runs[0]]
    cdef RunRecord common = s.records[runs[0]]  # the counters every running lane shares
    cdef Py_ssize_t n_samples = data.n_samples, size = data.size
    cdef bint full_batch = cfg.batch_size >= n_samples and not cfg.shuffle
    cdef bint shuffled = cfg.shuffle and not full_batch  # the lanes share one shuffled sample order
    cdef Py_ssize_t batch = n_samples if full_batch else <Py_ssize_t>cfg.batch_size
    cdef Py_ssize_t n_rows, l, e, r, n_active = L
    cdef Py_ssize_t* perm = <Py_ssize_t*>malloc(n_samples * sizeof(Py_ssize_t))
    cdef const Py_ssize_t* rows
    cdef Lanes w
    cdef floating* cur
    cdef floating* prev
    cdef floating* params_r
    cdef int64_t i_step, record_left, epoch_left, check_left = s.check_every
    if perm == NULL:
        return -1
    if not lanes_new(&w, L, size, sizeof(floating), batch * data.n_outputs, (data.n_features + 1) * batch,
                     data.n_features):
        free(perm)
        return -1
    memcpy(perm, s.perm + runs[0] * s.perm_stride, n_samples * sizeof(Py_ssize_t))
    cur = <floating*>w.current
    prev = <floating*>w.previous
    w.flips = 0
    for l in range(L):
        r = runs[l]
        (<floating*>w.minus_zero)[l] = -0.0
        w.active[l] = 1
        w.lr[l] = s.cfgs[r].learning_rate
        w.current_row[l] = s.records[r].current
        w.best_loss[l] = s.records[r].best_loss
        w.first_loss[l] = s.records[r].first_loss
        w.last_loss[l] = s.records[r].last_loss
        w.epoch_loss_sum[l] = s.records[r].epoch_loss_sum
        w.epoch_samples[l] = s.records[r].epoch_samples
        params_r = <floating*>s.params + r * s.params_stride
        for e in range(size):
            cur[e * L + l] = params_r[w.current_row[l] * size + e]
            prev[e * L + l] = params_r[(1 - w.current_row[l]) * size + e]
    record_left = (cfg.record_every - (common.step - common.history_origin) % cfg.record_every) % cfg.record_every
    epoch_left = ((cfg.epoch_record_every - (common.epoch - common.epoch_origin) % cfg.epoch_record_every)
                  % cfg.epoch_record_every)

    for i_step in range(n_steps):
        rows = next_batch(cfg, full_batch, perm, n_samples, common.position, &common.rng, &n_rows)
        lanes_residuals(data, cur, rows, n_rows, L, &w)
        record_left = lanes_keep_every(&w, L, runs, w.loss, s.history, s.history_stride, &common.recorded,
                                       record_left, cfg.record_every)
        # run_one's divergence test of each running lane (counted without branches first: rare)
        if lanes_failing(&w, L, cfg.divergence_factor if full_batch else 0.0, w.loss) > 0:
            for l in range(L):
                if w.active[l] and (not isfinite(w.loss[l]) or (full_batch and grown_past(
                        w.loss[l], w.best_loss[l], w.first_loss[l], cfg.divergence_factor))):
                    # run_one: a full batch steps back to its previous iterate, a mini-batch run stays
                    lane_stop(s, data, &w, typed, runs, l, L, &common, perm, shuffled, STATUS_DIVERGED,
                              full_batch and common.step > common.history_origin)
                    n_active -= 1
            if n_active == 0:
                break
        # last_loss = loss for every lane (a stopped lane's fields are never read again): the two
        # buffers swap roles; from here on this update's losses are in w.last_loss
        w.loss, w.last_loss = w.last_loss, w.loss
        # p_new = p - lr * g for each lane (optimizer_step's plain SGD), into the previous iterate's
        # block; the blocks then swap roles (as run_one's params rows do)
        lanes_sgd_update(data, cur, prev, rows, n_rows, L, &w)
        w.current, w.previous = w.previous, w.current
        cur = <floating*>w.current
        prev = <floating*>w.previous
        w.flips += 1  # (every running lane's params rows swap: lane_current_row)
        common.step += 1
        # run_one's epoch bookkeeping (a full batch's sums are reset at every update: never needed)
        if not full_batch:
            for l in range(L):
                w.epoch_loss_sum[l] += w.last_loss[l] * n_rows
                w.epoch_samples[l] += n_rows
        common.position = position_after(common.position, n_rows, n_samples)
        if common.position == 0 and full_batch:
            # a full batch's epoch is this update: its epoch loss is this update's loss (its epoch
            # sums are never needed), and its divergence test ran above
            epoch_left = lanes_keep_every(&w, L, runs, w.last_loss, s.epoch_history, s.epoch_history_stride,
                                          &common.epochs_recorded, epoch_left, cfg.epoch_record_every)
            common.epoch += 1
            lanes_first_and_best(&w, L, w.last_loss)
        elif common.position == 0:
            for l in range(L):
                # epoch loss = the epoch's mean batch loss
                w.sums[l] = w.epoch_loss_sum[l] / w.epoch_samples[l]
            epoch_left = lanes_keep_every(&w, L, runs, w.sums, s.epoch_history, s.epoch_history_stride,
                                          &common.epochs_recorded, epoch_left, cfg.epoch_record_every)
            common.epoch += 1
            for l in range(L):
                w.epoch_loss_sum[l] = 0.0
                w.epoch_samples[l] = 0.0
            # a mini-batch run's divergence test at the end of its epoch
            if lanes_failing(&w, L, cfg.divergence_factor, w.sums) > 0:
                for l in range(L):
                    if w.active[l] and (not isfinite(w.sums[l]) or grown_past(
                            w.sums[l], w.best_loss[l], w.first_loss[l], cfg.divergence_factor)):
                        lane_stop(s, data, &w, typed, runs, l, L, &common, perm, shuffled, STATUS_DIVERGED,
                                  False)
                        n_active -= 1
                if n_active == 0:
                    break
            lanes_first_and_best(&w, L, w.sums)
        if poll_due(&check_left, s.check_every) and interrupted(stop_flag):
            for l in range(L):
                if w.active[l]:
                    lane_stop(s, data, &w, typed, runs, l, L, &common, perm, shuffled, STATUS_INTERRUPTED, False)
            n_active = 0
            break
    for l in range(L):
        if w.active[l]:
            lane_stop(s, data, &w, typed, runs, l, L, &common, perm, shuffled, STATUS_RUNNING, False)
    lanes_free(&w)
    free(perm)
    return 0


cdef inline void advance_task(const RunSet* s, const Problem* data, const Py_ssize_t* runs, Py_ssize_t n,
                              floating* typed, const Scratch* w, int block_threads, int* stop_flag,
                              int* alloc_flag) noexcept nogil:
    """One task of advance_runs: the run runs[0] alone (n == 1, its blocked batches on ``block_threads``
    threads), or the n runs ``runs`` in lockstep."""
    if n == 1:
        if s.n_steps[runs[0]] > 0:
            advance_one(s, data, runs[0], typed, w, block_threads, stop_flag)
    elif lockstep_sgd(s, data, runs, n, typed, s.n_steps[runs[0]], stop_flag) != 0:
        alloc_flag[0] = 1


def advance_runs(
    list kernel_configs,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    RunRecord[::1] records,
    floating[:, :, ::1] params,
    double[:, :, ::1] opt_state,
    Py_ssize_t[:, ::1] perm,
    double[:, ::1] history,
    double[:, ::1] epoch_history,
    const int64_t[::1] n_steps,
    int n_threads,
    const double[:, ::1] X_double=None,
    const Py_ssize_t[::1] order=None,
    const Py_ssize_t[::1] task_sizes=None,
    object csr_indices=None,
    object csr_indptr=None,
    Py_ssize_t csr_n_features=0,
    const double[::1] learning_rates=None,
):
    """Advance each of K runs by up to ``n_steps[r]`` updates, the GIL released.

    Runs share X (n_samples, n_features), Y (n_samples, n_outputs) and sample_weight (n_samples,)
    or None; run r has its own config ``kernel_configs[r]`` (a TrainConfig as a dict), record
    ``records[r]`` (dtype gdfast._contract.RECORD_DTYPE), params[r] (2 or 3, size), opt_state[r]
    (3, size), perm[r] (n_samples,) and history rows long enough for every record this call can
    write. A run with ``n_steps[r] == 0`` is left as it is (its status included). Each run is done
    by one thread from start to end, so its result does not depend on the number of threads. With
    ``n_threads == 1``, or in a process forked after OpenMP ran threads (see ``openmp_forked``), the
    runs are done one after the other on the calling thread, in place, without any OpenMP call.
    A set of one task (one run) with ``n_threads > 1`` is done in place on the calling thread too,
    the threads computing the blocks of its blocked batches (``blocked_loss_and_gradient``, the
    same bits for any thread count); when runs go in parallel, each run's blocks take one thread.
    ``X_double``: float32 X converted to float64 once by a caller that runs a long run in chunks
    (the BLAS path would otherwise convert it at every call), else None. ``order`` and
    ``task_sizes`` (both or neither): the runs as tasks, ``task_sizes[i]`` consecutive runs of
    ``order`` each; a task of one run is advanced alone, a larger one in lockstep (``lockstep_sgd``:
    the caller has checked that its runs qualify). Default: every run alone, in order.

    CSR data: ``csr_indices`` (nnz,) and ``csr_indptr`` (n_samples + 1,), both int32 or both int64,
    C-contiguous and valid (checked in Python), ``csr_n_features`` its columns, and X its ``data``
    as a (1, nnz) array (with nnz 0: indices and data of one entry, never read); every run alone (no
    lockstep), each on one thread (several runs side by side on ``n_threads`` threads, as for dense X).

    ``learning_rates`` (K,): run r's learning rate, in place of its config's ``learning_rate``
    (a sweep's runs that differ in the learning rate alone then share one config dict, which is
    converted once: ``kernel_configs[r] is kernel_configs[r - 1]`` reuses the conversion); None:
    the configs' own.
    """
    cdef Py_ssize_t n_runs = len(kernel_configs), r, t
    cdef bint csr = csr_indices is not None
    cdef Py_ssize_t n_samples = X.shape[0] if not csr else len(csr_indptr) - 1
    cdef Py_ssize_t n_features = X.shape[1] if not csr else csr_n_features
    cdef const int32_t[::1] indices32
    cdef const int32_t[::1] indptr32
    cdef const int64_t[::1] indices64
    cdef const int64_t[::1] indptr64
    cdef TrainConfig* cfgs = <TrainConfig*>malloc(max(n_runs, 1) * sizeof(TrainConfig))
    cdef Py_ssize_t n_tasks = n_runs if task_sizes is None else task_sizes.shape[0]
    # tasks[0:n_runs]: the runs in task order; tasks[n_runs + t], tasks[n_runs + n_tasks + t]: the
    # first run (index into the order) and the number of runs of task t
    cdef Py_ssize_t* tasks = <Py_ssize_t*>malloc(max(n_runs + 2 * n_tasks, 1) * sizeof(Py_ssize_t))
    cdef int stop_flag = run_flag()
    cdef int alloc_failed = 0
    cdef PyObject* saved[3]
    cdef int* alloc_flag = &alloc_failed  # shared: written through the pointer inside the parallel block
    cdef Py_ssize_t batch_max = 1
    cdef bint any_blas = False
    cdef bint serial = n_threads <= 1 or _forked_after_openmp or n_tasks == 1
    # one task: the threads go to the blocks of its run's blocked batches
    cdef int block_threads = n_threads if n_tasks == 1 and n_threads > 1 and not _forked_after_openmp else 1
    blas_guard = None
    cdef Py_ssize_t n_residual_grad, n_block_partials = 0
    cdef RunSet runs
    cdef Problem data
    cdef Scratch ws
    saved[0] = saved[1] = saved[2] = NULL
    if cfgs == NULL or tasks == NULL:
        free(cfgs)
        free(tasks)
        raise MemoryError()
    try:
        if not (records.shape[0] == params.shape[0] == opt_state.shape[0] == perm.shape[0] == history.shape[0]
                == epoch_history.shape[0] == n_steps.shape[0] == n_runs):
            raise ValueError("advance_runs: every per-run array needs one row per config")
        if (order is None) != (task_sizes is None) or (order is not None and order.shape[0] != n_runs):
            raise ValueError("advance_runs: give order (one entry per run) and task_sizes, or neither")
        r = 0
        for t in range(n_tasks):
            tasks[n_runs + t] = r
            tasks[n_runs + n_tasks + t] = 1 if task_sizes is None else task_sizes[t]
            r += tasks[n_runs + n_tasks + t]
        if r != n_runs:
            raise ValueError("advance_runs: task_sizes must add up to the number of runs")
        for r in range(n_runs):
            tasks[r] = r if order is None else order[r]
            if not 0 <= tasks[r] < n_runs:
                raise ValueError("advance_runs: order holds a run index out of range")
        if learning_rates is not None and learning_rates.shape[0] != n_runs:
            raise ValueError("advance_runs: learning_rates needs one entry per config")
        for r in range(n_runs):
            if r > 0 and kernel_configs[r] is kernel_configs[r - 1]:
                cfgs[r] = cfgs[r - 1]  # (the same dict: the same struct)
            else:
                cfgs[r] = kernel_configs[r]
            if learning_rates is not None:
                cfgs[r].learning_rate = learning_rates[r]
            batch_max = max(batch_max, min(<Py_ssize_t>cfgs[r].batch_size, n_samples))
            any_blas = not csr and (any_blas or _run_uses_dgemm(&cfgs[r], n_samples, n_features, Y.shape[1])
                                    or _run_sums_in_float32(&cfgs[r], n_samples, n_features, Y.shape[1]))
        n_residual_grad = max(batch_max * Y.shape[1], 1)  # run_one's residual scratch: a batch's outputs
        if not csr and use_blocks(batch_max, Y.shape[1]):  # the blocks' partial sums of the largest batch
            n_block_partials = blocks_of(batch_max) * block_stride(params.shape[2])
        data.X, data.Y = &X[0, 0], &Y[0, 0]
        data.sample_weight = &sample_weight[0] if sample_weight is not None else NULL
        data.X_double = &X_double[0, 0] if X_double is not None else NULL
        data.n_samples, data.n_features, data.n_outputs = n_samples, n_features, Y.shape[1]
        data.csr, data.csr_index32, data.csr_indices, data.csr_indptr = csr, False, NULL, NULL
        if csr:
            if order is not None or X_double is not None:
                raise ValueError("advance_runs: CSR data takes runs alone (no lockstep, no X_double)")
            if csr_indices.dtype.itemsize == 4:
                indices32, indptr32 = csr_indices, csr_indptr
                data.csr_index32, data.csr_indices, data.csr_indptr = True, &indices32[0], &indptr32[0]
            else:
                indices64, indptr64 = csr_indices, csr_indptr
                data.csr_indices, data.csr_indptr = &indices64[0], &indptr64[0]
        data.fit_intercept = fit_intercept
        data.size = params.shape[2]
        runs.cfgs, runs.records, runs.n_steps = cfgs, &records[0], &n_steps[0]
        runs.params, runs.params_stride = &params[0, 0, 0], params.strides[0] // sizeof(floating)
        runs.params_len = params.shape[1] * params.shape[2]
        runs.opt_state, runs.opt_state_stride = &opt_state[0, 0, 0], opt_state.strides[0] // sizeof(double)
        runs.perm, runs.perm_stride = &perm[0, 0], perm.strides[0] // sizeof(Py_ssize_t)
        runs.history, runs.history_stride = &history[0, 0], history.strides[0] // sizeof(double)
        runs.epoch_history = &epoch_history[0, 0]
        runs.epoch_history_stride = epoch_history.strides[0] // sizeof(double)
        # (CSR: a sample costs about its stored entries, X.shape[1] of the (1, nnz) data per sample on average)
        runs.check_every = steps_between_checks(
            batch_max, X.shape[1] if not csr else X.shape[1] // max(n_samples, 1) + 1, Y.shape[1])
        blas_guard = blas_single_thread(any_blas)
        blas_guard.__enter__()
        if block_threads > 1:
            _mark_openmp_started()
        if serial:
            with nogil:
                # (no working copies: runs go in place)
                ws = scratch_new(False, 0, data.size, n_residual_grad, n_block_partials)
                if not scratch_ok(ws, n_block_partials):
                    alloc_failed = 1
                else:
                    for t in range(n_tasks):
                        if stop_flag == RUN_STOP or alloc_failed != 0:
                            break
                        advance_task(&runs, &data, tasks + tasks[n_runs + t], tasks[n_runs + n_tasks + t],
                                     &params[0, 0, 0], &ws, block_threads, &stop_flag, &alloc_failed)
                scratch_free(ws)
        else:
            _mark_openmp_started()
            with nogil, parallel(num_threads=n_threads):
                ws = scratch_new(True, runs.params_len * sizeof(floating), data.size, n_residual_grad,
                                 n_block_partials)  # (private)
                if not scratch_ok(ws, n_block_partials):
                    alloc_flag[0] = 1
                for t in prange(n_tasks, schedule="dynamic", chunksize=1):
                    if stop_flag != RUN_STOP and alloc_flag[0] == 0:
                        advance_task(&runs, &data, tasks + tasks[n_runs + t], tasks[n_runs + n_tasks + t],
                                     &params[0, 0, 0], &ws, 1, &stop_flag, alloc_flag)
                scratch_free(ws)
        if stop_flag == RUN_STOP:
            _stash_exception(saved)
    finally:
        if blas_guard is not None:
            blas_guard.__exit__(None, None, None)
        free(cfgs)
        free(tasks)
    if alloc_failed:
        raise MemoryError("could not allocate the training loop's scratch buffers")
    if stop_flag == RUN_STOP:
        _raise_stashed(saved)


def dataset_losses(
    const int[::1] loss_kinds,
    const double[::1] widths,
    const int[::1] float32_sums,
    const floating[:, ::1] X,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    const floating[:, ::1] thetas,
    double[::1] residual_grad,
    double[::1] out,
    const int[::1] reductions=None,
):
    """out[r] = the loss of parameters ``thetas[r]`` (W flattened, then b) on all samples, with loss
    ``loss_kinds[r]`` (a LOSS_*) of width ``widths[r]`` (the run's TrainConfig.epsilon) and reduction
    ``reductions[r]`` (a REDUCTION_*; None: REDUCTION_MEAN for every row); residual_grad is scratch of
    X.shape[0] * Y.shape[1]. One call for the final losses of a whole run set.

    A run that sums its full batches in float32 (``float32_sums[r]`` true: ``run_sums_in_float32``,
    float32 data only) gets its loss from the same ``float32_loss_and_gradient`` as its updates (its
    float32 residuals in ``residual_grad``'s memory), so that a full batch's final loss is what its
    next update would record."""
    cdef Py_ssize_t n_samples = X.shape[0], n_features = X.shape[1], n_outputs = Y.shape[1]
    cdef Py_ssize_t size_W = n_features * n_outputs, n = thetas.shape[0], r
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef bint any_float32 = False
    cdef int[::1] mean_everywhere
    if not (loss_kinds.shape[0] == widths.shape[0] == float32_sums.shape[0] == out.shape[0] == n
            and (reductions is None or reductions.shape[0] == n)):
        raise ValueError("dataset_losses: loss_kinds, widths, reductions, float32_sums and out need one entry per row of thetas")
    if thetas.shape[1] < size_W + (n_outputs if fit_intercept else 0) or residual_grad.shape[0] < n_samples * n_outputs:
        raise ValueError("dataset_losses: thetas rows or residual_grad too short for this problem")
    if reductions is None:
        mean_everywhere = array.array("i", [REDUCTION_MEAN]) * n
        reductions = mean_everywhere
    for r in range(n):
        any_float32 = any_float32 or float32_sums[r] != 0
    if any_float32 and floating is double:
        raise ValueError("dataset_losses: float32 sums are for float32 data")
    with blas_single_thread(any_float32 or (floating is double and use_blas(
            NULL, <const double*>&X[0, 0], n_samples, n_features, n_outputs))), nogil:
        for r in range(n):
            if floating is float:
                if float32_sums[r]:
                    out[r] = float32_loss_and_gradient(
                        &thetas[r, 0], &thetas[r, size_W] if fit_intercept else <const floating*>NULL,
                        &X[0, 0], &Y[0, 0], sw, n_samples, n_features, n_outputs, loss_kinds[r], widths[r],
                        reductions[r], <float*>&residual_grad[0], NULL, NULL, NULL,
                    )
                    continue
            out[r] = loss_and_gradient(
                &thetas[r, 0], &thetas[r, size_W] if fit_intercept else <const floating*>NULL,
                &X[0, 0], &Y[0, 0], sw, NULL, n_samples, n_features, n_outputs,
                loss_kinds[r], widths[r], reductions[r], &residual_grad[0], NULL, NULL,
                <const double*>&X[0, 0] if floating is double else <const double*>NULL, NULL,
            )


def csr_dataset_losses(
    const int[::1] loss_kinds,
    const double[::1] widths,
    const int[::1] reductions,
    const floating[::1] data,
    object indices,
    object indptr,
    Py_ssize_t n_features,
    const floating[:, ::1] Y,
    const floating[::1] sample_weight,
    bint fit_intercept,
    const floating[:, ::1] thetas,
    double[::1] residual_grad,
    double[::1] out,
):
    """``dataset_losses`` of X given as a CSR matrix: ``data`` (at least one entry), ``indices``
    (as many) and ``indptr`` (n_samples + 1), both int32 or both int64, valid (checked in Python);
    X is never densified (``csr_loss_and_gradient``, no gradient)."""
    cdef Py_ssize_t n_samples = len(indptr) - 1, n_outputs = Y.shape[1]
    cdef Py_ssize_t size_W = n_features * n_outputs, n = thetas.shape[0], r
    cdef const floating* sw = &sample_weight[0] if sample_weight is not None else NULL
    cdef const int32_t[::1] indices32
    cdef const int32_t[::1] indptr32
    cdef const int64_t[::1] indices64
    cdef const int64_t[::1] indptr64
    cdef bint index32 = indices.dtype.itemsize == 4
    if not (loss_kinds.shape[0] == widths.shape[0] == reductions.shape[0] == out.shape[0] == n):
        raise ValueError("csr_dataset_losses: loss_kinds, widths, reductions and out need one entry per row of thetas")
    if (thetas.shape[1] < size_W + (n_outputs if fit_intercept else 0) or residual_grad.shape[0] < n_samples * n_outputs
            or Y.shape[0] != n_samples):
        raise ValueError("csr_dataset_losses: thetas rows, Y or residual_grad do not fit this problem")
    if index32:
        indices32, indptr32 = indices, indptr
    else:
        indices64, indptr64 = indices, indptr
    with nogil:
        for r in range(n):
            if index32:
                out[r] = csr_loss_and_gradient(
                    &thetas[r, 0], &thetas[r, size_W] if fit_intercept else <const floating*>NULL,
                    &data[0], &indices32[0], &indptr32[0], &Y[0, 0], sw, NULL, n_samples, n_features, n_outputs,
                    loss_kinds[r], widths[r], reductions[r], &residual_grad[0], NULL, NULL,
                )
            else:
                out[r] = csr_loss_and_gradient(
                    &thetas[r, 0], &thetas[r, size_W] if fit_intercept else <const floating*>NULL,
                    &data[0], &indices64[0], &indptr64[0], &Y[0, 0], sw, NULL, n_samples, n_features, n_outputs,
                    loss_kinds[r], widths[r], reductions[r], &residual_grad[0], NULL, NULL,
                )


def csr_predict_into(const floating[:, ::1] W, const floating[::1] data, object indices, object indptr,
                     floating[:, ::1] out):
    """out = X @ W.T for X given as a CSR matrix (``data``, ``indices``, ``indptr`` as in
    ``csr_dataset_losses``), row by row over the stored entries, each sum in double from +0.0 in
    stored order, rounded once to out's type; X is never densified."""
    cdef Py_ssize_t n_samples = len(indptr) - 1, n_features = W.shape[1], n_outputs = W.shape[0], i, j
    cdef const int32_t[::1] indices32
    cdef const int32_t[::1] indptr32
    cdef const int64_t[::1] indices64
    cdef const int64_t[::1] indptr64
    cdef bint index32 = indices.dtype.itemsize == 4
    if out.shape[0] != n_samples or out.shape[1] != n_outputs:
        raise ValueError("csr_predict_into: out must be (n_samples, n_outputs)")
    if index32:
        indices32, indptr32 = indices, indptr
    else:
        indices64, indptr64 = indices, indptr
    with nogil:
        for i in range(n_samples):
            for j in range(n_outputs):
                # out[i, j] = X[i] @ W[j]
                if index32:
                    out[i, j] = <floating>csr_dot_params(&W[j, 0], &data[0], &indices32[0], indptr32[i], indptr32[i + 1])
                else:
                    out[i, j] = <floating>csr_dot_params(&W[j, 0], &data[0], &indices64[0], indptr64[i], indptr64[i + 1])



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
    dict kernel_config,
    double a,
    double b,
    double c,
    floating[:, ::1] x_rec,
    floating[:, ::1] f_rec,
    int64_t[::1] steps_rec,
    double[:, ::1] opt_state,
    double[::1] mu_product,
    int64_t t0,
    int64_t n_steps,
    bint with_function,
    bint scalar_pow,
):
    """Up to ``n_steps`` updates of x (starting at x_rec[0]) on f = a*x**2 + b*x + c, element-wise,
    the GIL released; returns (status, updates done, points recorded).

    ``config`` is a TrainConfig (optimizer, schedule, grad_tol, clip_norm, record_every; the data
    fields are unused). The run continues one that has done ``t0`` updates (0: a new run), whose
    optimizer buffers are ``opt_state`` and NAdam's product ``mu_product[0]`` (both updated in place).
    Each update t (0-based, counted from the run's start): g = 2*a*x + b (in the path's precision);
    stop with STATUS_DIVERGED if g is not finite, with STATUS_CONVERGED if its 2-norm (summed in
    order, in double) is < grad_tol > 0; scale g by clip_norm / (norm + 1e-6) when clip_norm > 0 and
    that is < 1 (torch.nn.utils.clip_grad_norm_); then the optimizer step at the scheduled rate. Plain SGD (no momentum,
    no weight decay) is x - lr * g in the path's precision, the lesson's loop to the bit; the other
    optimizers are ``optimizer_step`` of src/_optimizers.pxd (double buffers in ``opt_state``, shape
    (3, dim)). A new x (or
    f(x) when ``with_function``) that is not finite ends the run at the previous point
    (STATUS_DIVERGED). The start (update count t0), points after a multiple of record_every updates
    (counted from the run's start), and the last one, are written to x_rec / f_rec with their update
    count in steps_rec (capacity n_steps // record_every + 3).
    Called from the main thread, polls for Ctrl-C about every millisecond (an interrupt raises
    KeyboardInterrupt); from another thread, where Python runs no signal handler, never (see run_flag).
    """
    cdef TrainConfig cfg = kernel_config
    cdef Py_ssize_t dim = x_rec.shape[1], k
    cdef int64_t t = t0, n_rec = 1, record_every = cfg.record_every
    cdef int64_t record_left = cfg.record_every - t0 % cfg.record_every  # updates to the next multiple
    cdef int64_t t_end = t0 + n_steps
    # at most ~1 ms between polls: 4096 coordinate updates (measured 25 ns each for SGD, 180 ns for
    # Adam, whose bias corrections call pow twice per update); a poll (taking the GIL) costs ~0.1 us
    cdef int64_t check_every = max(<int64_t>1, (<int64_t>1 << 12) // (<int64_t>dim))
    cdef int64_t check_left = check_every
    cdef int status = STATUS_RUNNING
    cdef int stop_flag = run_flag()
    cdef floating fa = <floating>a, fb = <floating>b, fc = <floating>c
    cdef floating two_a = <floating>2 * fa
    cdef floating step_lr, xk, x_new, fk, f_new
    cdef bint plain = cfg.optimizer == OPT_SGD and cfg.momentum == 0.0 and cfg.weight_decay == 0.0
    cdef bint want_norm = cfg.grad_tol > 0.0 or cfg.clip_norm > 0.0
    cdef bint finite = True
    cdef double lr, g
    cdef double mu = 1.0  # NAdam's running product
    cdef PyObject* saved[3]
    if x_rec.shape[0] < n_steps // record_every + 3 or steps_rec.shape[0] != x_rec.shape[0] \
            or opt_state.shape[0] != 3 or opt_state.shape[1] != dim or mu_product.shape[0] != 1 or dim < 1 \
            or t0 < 0 or n_steps < 0 or n_steps > INT64_MAX - t0 \
            or (with_function and (f_rec.shape[0] != x_rec.shape[0] or f_rec.shape[1] != dim)):
        raise ValueError("descend_quadratic: inconsistent buffer shapes or update counts")
    mu = mu_product[0]
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
        steps_rec[0] = t0
        if with_function:
            for k in range(dim):
                f_cur[k] = quadratic_value(cur[k], fa, fb, fc, scalar_pow)
                f_rec[0, k] = f_cur[k]
                finite = finite and isfinite(f_cur[k])
            if not finite:
                status = STATUS_DIVERGED
        if status == STATUS_RUNNING and dim == 1 and plain and not want_norm and cfg.schedule == SCHEDULE_CONSTANT:
            # lesson 3.1.1's loop: one coordinate, plain SGD at a constant rate. The loop below with x
            # (and f(x)) in registers and each recorded point stored as it is, not through cur/nxt
            # and memcpy: the same operations on the same values, the same bits and records
            step_lr = <floating>cfg.learning_rate
            xk = cur[0]
            fk = f_cur[0] if with_function else 0
            while t < t_end:
                g = quadratic_gradient(xk, two_a, fb)               # NumPy: g = 2*a*x + b
                x_new = xk - step_lr * <floating>g                  # NumPy: x_new = x - lr * g
                if not isfinite(x_new):  # (g not finite makes x_new not finite: see below)
                    status = STATUS_DIVERGED
                    break
                if with_function:
                    f_new = quadratic_value(x_new, fa, fb, fc, scalar_pow)
                    if not isfinite(f_new):
                        status = STATUS_DIVERGED
                        break
                    fk = f_new
                xk = x_new
                t += 1
                record_left -= 1
                if record_left == 0:
                    record_left = record_every
                    x_rec[n_rec, 0] = xk
                    if with_function:
                        f_rec[n_rec, 0] = fk
                    steps_rec[n_rec] = t
                    n_rec += 1
                if poll_due(&check_left, check_every) and interrupted(&stop_flag):
                    status = STATUS_INTERRUPTED
                    break
            cur[0] = xk
            if with_function:
                f_cur[0] = fk
        while status == STATUS_RUNNING and t < t_end:
            lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(&cfg, t)
            if plain and not want_norm:
                # the lesson's loop in one pass, g kept in a register (not stored and reloaded); x is
                # finite, so a g that is not finite makes x_new not finite (lr * inf or lr * nan, also
                # for lr = 0): checking x_new checks both
                step_lr = <floating>lr
                for k in range(dim):
                    xk = cur[k]
                    g = quadratic_gradient(xk, two_a, fb)           # NumPy: g = 2*a*x + b
                    xk = xk - step_lr * <floating>g                 # NumPy: x_new = x - lr * g
                    finite = finite and isfinite(xk)
                    nxt[k] = xk
            else:
                for k in range(dim):
                    g = quadratic_gradient(cur[k], two_a, fb)
                    grad[k] = g
                    finite = finite and isfinite(g)
                if not finite:
                    status = STATUS_DIVERGED
                    break
                if want_norm:
                    status = norm_checks(&cfg, sqrt(squares_in_order(grad, dim)), grad, dim)  # (grad_tol; clip_norm)
                    if status != STATUS_RUNNING:
                        break
                if plain:
                    step_lr = <floating>lr
                    for k in range(dim):
                        nxt[k] = cur[k] - step_lr * <floating>grad[k]
                else:
                    optimizer_step(&cfg, cur, nxt, grad, &opt_state[0, 0], &mu, dim, lr, t + 1)
                for k in range(dim):
                    finite = finite and isfinite(nxt[k])
            if finite and with_function:
                for k in range(dim):
                    f_nxt[k] = quadratic_value(nxt[k], fa, fb, fc, scalar_pow)
                    finite = finite and isfinite(f_nxt[k])
            if not finite:  # a gradient, x or f(x) that is not finite: the run ends at x (cur)
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
            if poll_due(&check_left, check_every) and interrupted(&stop_flag):
                status = STATUS_INTERRUPTED
                break
        if steps_rec[n_rec - 1] != t:  # the last point, when it was not a multiple of record_every
            memcpy(&x_rec[n_rec, 0], cur, dim * sizeof(floating))
            if with_function:
                memcpy(&f_rec[n_rec, 0], f_cur, dim * sizeof(floating))
            steps_rec[n_rec] = t
            n_rec += 1
    mu_product[0] = mu
    if status == STATUS_INTERRUPTED:
        _stash_exception(saved)
    # cur and f_cur may have been swapped with their second halves: free the lower address of each
    free(cur if cur < nxt else nxt)
    free(f_cur if f_cur < f_nxt else f_nxt)
    free(grad)
    if status == STATUS_INTERRUPTED:
        _raise_stashed(saved)
    return status, t - t0, n_rec


# --- gdfast.descend on an objective of x (gdfast/functions.py or a user's C function), every optimizer ---

cdef struct DescentRun:
    # the state of one descend_objective call, shared by its loop and its entry point
    int64_t n_steps     # the update count (from the run's start) to stop at
    int64_t t           # updates done
    int64_t n_rec       # points recorded
    bint with_function
    double* cur         # the current point (dim doubles)
    double* nxt         # the next one
    double* grad        # the gradient (overwritten by the optimizer step)
    double f_cur       # f at cur (when with_function)
    double mu_product   # NAdam's running product


cdef inline int objective_loop(const TrainConfig* cfg, int kind, const double* params, const Callbacks* cb,
                               Py_ssize_t dim, DescentRun* run, double* x_rec, double* f_rec, int64_t* steps_rec,
                               double* opt_state, int* stop_flag) noexcept nogil:
    """Updates from run.cur (after run.t) up to run.n_steps updates in all on the objective ``kind``;
    returns the Status.

    Inline and called with a constant ``kind`` by descend_objective, so the compiler can resolve the
    objective's dispatch once per call rather than per update. The run's fields live in locals during
    the loop (no store through a double* can then be taken to change them) and are written back at the end.
    """
    cdef int64_t record_every = cfg.record_every
    cdef int64_t record_left = cfg.record_every - run.t % cfg.record_every  # updates to the next multiple
    # at most ~1 ms between polls (as descend_quadratic): 4096 coordinate updates
    cdef int64_t check_every = max(<int64_t>1, (<int64_t>1 << 12) // (<int64_t>dim))
    cdef int64_t check_left = check_every
    cdef int64_t t = run.t, n_rec = run.n_rec, n_steps = run.n_steps
    cdef double* cur = run.cur
    cdef double* nxt = run.nxt
    cdef double* grad = run.grad
    cdef double* swap
    cdef double f_cur = run.f_cur, f_nxt = 0.0
    cdef bint with_function = run.with_function
    cdef bint want_norm = cfg.grad_tol > 0.0 or cfg.clip_norm > 0.0
    cdef double lr
    cdef Py_ssize_t k
    cdef bint finite = True
    cdef int status = STATUS_RUNNING
    while t < n_steps:
        # g = gradient(x); stop if it failed or is not finite, or its 2-norm < grad_tol; clip it
        if objective_gradient(kind, params, cb, dim, cur, grad) != 0:
            status = STATUS_DIVERGED
            break
        for k in range(dim):
            finite = finite and isfinite(grad[k])
        if not finite:
            status = STATUS_DIVERGED
            break
        if want_norm:
            status = norm_checks(cfg, sqrt(squares_in_order(grad, dim)), grad, dim)  # (grad_tol; clip_norm)
            if status != STATUS_RUNNING:
                break
        # x_new = optimizer step of x at the scheduled rate (plain SGD: x - lr * g)
        lr = cfg.learning_rate if cfg.schedule == SCHEDULE_CONSTANT else scheduled_learning_rate(cfg, t)
        optimizer_step(cfg, cur, nxt, grad, opt_state, &run.mu_product, dim, lr, t + 1)
        for k in range(dim):
            finite = finite and isfinite(nxt[k])
        if not finite:
            status = STATUS_DIVERGED
            break
        if with_function:
            if objective_value(kind, params, cb, dim, nxt, &f_nxt) != 0 or not isfinite(f_nxt):
                status = STATUS_DIVERGED
                break
            f_cur = f_nxt
        swap = cur
        cur = nxt
        nxt = swap
        t += 1
        record_left -= 1
        if record_left == 0:
            record_left = record_every
            memcpy(x_rec + n_rec * dim, cur, dim * sizeof(double))
            f_rec[n_rec] = f_cur
            steps_rec[n_rec] = t
            n_rec += 1
        if poll_due(&check_left, check_every) and interrupted(stop_flag):
            status = STATUS_INTERRUPTED
            break
    run.t = t
    run.n_rec = n_rec
    run.cur = cur
    run.nxt = nxt
    run.f_cur = f_cur
    return status


cdef objective_callback _capsule_function(object capsule, str name) except NULL:
    """The C function in a scipy.LowLevelCallable's capsule (whose name, the signature, Python checked)."""
    cdef const char* signature = PyCapsule_GetName(capsule)
    if not PyCapsule_IsValid(capsule, signature):
        raise TypeError(f"{name}: not a valid LowLevelCallable capsule")
    return <objective_callback>PyCapsule_GetPointer(capsule, signature)


def descend_objective(
    dict kernel_config,
    int kind,
    const double[::1] params,
    object gradient_capsule,
    object value_capsule,
    double[:, ::1] x_rec,
    double[::1] f_rec,
    int64_t[::1] steps_rec,
    double[:, ::1] opt_state,
    double[::1] mu_product,
    int64_t t0,
    int64_t n_steps,
    bint with_function,
):
    """Up to ``n_steps`` updates of x (starting at x_rec[0]) on the objective ``kind`` (an
    ObjectiveCode), the GIL released; returns (status, updates done, points recorded).

    ``params``: the objective's parameters (src/_objectives.pxd); for OBJ_CALLBACK,
    ``gradient_capsule`` (and ``value_capsule``, or None) are the PyCapsules of scipy.LowLevelCallable
    objects whose signature gdfast/descent.py has checked (the user data is the capsule's context).
    As descend_quadratic, the run continues one of ``t0`` updates with the buffers ``opt_state`` and
    ``mu_product[0]`` (updated in place). Each update t (0-based, from the run's start): g =
    gradient(x); stop with STATUS_DIVERGED if it failed (a callback's non-zero return) or is not
    finite, with STATUS_CONVERGED if its 2-norm (summed in order) is < grad_tol > 0; clip g to
    clip_norm > 0 as torch.nn.utils.clip_grad_norm_; then ``optimizer_step`` of src/_optimizers.pxd at the
    scheduled rate (plain SGD: x - lr * g). A new x (or f(x) when ``with_function``) that is not
    finite or whose value function failed ends the run at the previous point (STATUS_DIVERGED).
    The start, points after a multiple of record_every updates (from the run's start), and the last
    one, are written to x_rec / f_rec (one value per point) with their update count in steps_rec
    (capacity n_steps // record_every + 3).
    Called from the main thread, polls for Ctrl-C about every millisecond (an interrupt raises
    KeyboardInterrupt); from another thread, where Python runs no signal handler, never (see run_flag).
    """
    cdef TrainConfig cfg = kernel_config
    cdef Py_ssize_t dim = x_rec.shape[1]
    cdef Callbacks cb
    cdef DescentRun run
    cdef int status = STATUS_RUNNING
    cdef int stop_flag = run_flag()
    cdef PyObject* saved[3]
    cdef const double* par = &params[0] if params.shape[0] > 0 else NULL
    cdef double* work
    if x_rec.shape[0] < 2 or f_rec.shape[0] != x_rec.shape[0] or steps_rec.shape[0] != x_rec.shape[0] \
            or x_rec.shape[0] < n_steps // cfg.record_every + 3 or opt_state.shape[0] != 3 \
            or opt_state.shape[1] != dim or dim < 1 or mu_product.shape[0] != 1 \
            or t0 < 0 or n_steps < 0 or n_steps > INT64_MAX - t0:
        raise ValueError("descend_objective: inconsistent buffer shapes or update counts")
    cb.gradient = NULL
    cb.value = NULL
    cb.gradient_data = NULL
    cb.value_data = NULL
    if kind == OBJ_CALLBACK:
        cb.gradient = _capsule_function(gradient_capsule, "gradient")
        cb.gradient_data = PyCapsule_GetContext(gradient_capsule)
        if with_function:
            cb.value = _capsule_function(value_capsule, "function")
            cb.value_data = PyCapsule_GetContext(value_capsule)
    elif kind < OBJ_QUADRATIC_FORM or kind > OBJ_CALLBACK:
        raise ValueError(f"descend_objective: unknown objective code {kind}")
    work = <double*>malloc(3 * dim * sizeof(double))
    if work == NULL:
        raise MemoryError()
    saved[0] = saved[1] = saved[2] = NULL
    run.n_steps = t0 + n_steps
    run.t = t0
    run.n_rec = 1
    run.with_function = with_function
    run.cur = work
    run.nxt = work + dim
    run.grad = work + 2 * dim
    run.f_cur = 0.0
    run.mu_product = mu_product[0]
    with nogil:
        memcpy(run.cur, &x_rec[0, 0], dim * sizeof(double))
        steps_rec[0] = t0
        f_rec[0] = 0.0
        if with_function:
            if objective_value(kind, par, &cb, dim, run.cur, &run.f_cur) != 0 or not isfinite(run.f_cur):
                status = STATUS_DIVERGED
            f_rec[0] = run.f_cur
        if status == STATUS_RUNNING:
            # one branch per objective, each an inlined copy of the loop with a constant code
            if kind == OBJ_ROSENBROCK:
                status = objective_loop(&cfg, OBJ_ROSENBROCK, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_QUADRATIC_FORM:
                status = objective_loop(&cfg, OBJ_QUADRATIC_FORM, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_BEALE:
                status = objective_loop(&cfg, OBJ_BEALE, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_HIMMELBLAU:
                status = objective_loop(&cfg, OBJ_HIMMELBLAU, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_BOOTH:
                status = objective_loop(&cfg, OBJ_BOOTH, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_RASTRIGIN:
                status = objective_loop(&cfg, OBJ_RASTRIGIN, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            elif kind == OBJ_STYBLINSKI_TANG:
                status = objective_loop(&cfg, OBJ_STYBLINSKI_TANG, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
            else:
                status = objective_loop(&cfg, OBJ_CALLBACK, par, &cb, dim, &run, &x_rec[0, 0], &f_rec[0],
                                        &steps_rec[0], &opt_state[0, 0], &stop_flag)
        if steps_rec[run.n_rec - 1] != run.t:  # the last point, when it was not a multiple of record_every
            memcpy(&x_rec[run.n_rec, 0], run.cur, dim * sizeof(double))
            f_rec[run.n_rec] = run.f_cur
            steps_rec[run.n_rec] = run.t
            run.n_rec += 1
    mu_product[0] = run.mu_product
    if status == STATUS_INTERRUPTED:
        _stash_exception(saved)
    free(work)
    if status == STATUS_INTERRUPTED:
        _raise_stashed(saved)
    return status, run.t - t0, run.n_rec


def objective_at(int kind, const double[::1] params, const double[::1] x, double[::1] gradient):
    """Test hook: the compiled objective ``kind`` (not OBJ_CALLBACK) at x, its gradient written to
    ``gradient``."""
    cdef Callbacks cb
    cdef double f = 0.0
    cdef Py_ssize_t n = x.shape[0]
    cdef const double* par = &params[0] if params.shape[0] > 0 else NULL
    if kind < OBJ_QUADRATIC_FORM or kind >= OBJ_CALLBACK or n < 1 or gradient.shape[0] != n:
        raise ValueError(f"objective_at: objective code {kind} with {n} coordinates")
    cb.gradient = cb.value = NULL
    cb.gradient_data = cb.value_data = NULL
    with nogil:
        objective_value(kind, par, &cb, n, &x[0], &f)
        objective_gradient(kind, par, &cb, n, &x[0], &gradient[0])
    return f


def optimizer_update(
    dict kernel_config,
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
    cdef TrainConfig cfg = kernel_config
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
