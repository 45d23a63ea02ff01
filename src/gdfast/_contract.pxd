# cython: language_level=3
"""The contract between the compiled loop and Python: every code and slot number, written once.

The declarations of the module ``gdfast._contract`` (``src/_contract.pyx``; this file sits under
``src/gdfast/`` so that Cython finds it for that module). Each ``cpdef enum`` below is a C enum for the
kernels (``from gdfast._contract cimport LOSS_MSE``, no import at run time) and, for Python, an
``enum.IntEnum`` of ``gdfast._contract`` (``from ._contract import Status``); the slot enums are
anonymous (C indexes arrays only with plain ints), so their members are module-level ints there.
Either way the two sides cannot disagree. ``TrainConfig`` is the
options struct every kernel entry point takes as a dict: ``gdfast._contract.config_fields()``
lists its fields, and ``gdfast._engine.TrainOptions.kernel_config`` must give exactly those keys.
"""
from libc.stdint cimport int64_t

# Loss kinds (``loss=`` of gdfast.train; gdfast/_engine.py LOSSES maps names to them).
cpdef enum LossCode:
    LOSS_MSE = 0
    LOSS_MAE = 1
    LOSS_HUBER = 2

# Update rules (``_code`` of the classes in gdfast/optimizers.py).
cpdef enum OptimizerCode:
    OPT_SGD = 0
    OPT_ADAM = 1
    OPT_RMSPROP = 2
    OPT_ADAGRAD = 3
    OPT_NADAM = 4
    OPT_RADAM = 5
    OPT_ADAMAX = 6

# Learning-rate schedules (``_code`` of the classes in gdfast/schedules.py).
cpdef enum ScheduleCode:
    SCHEDULE_CONSTANT = 0
    SCHEDULE_EXPONENTIAL = 1
    SCHEDULE_STEP = 2
    SCHEDULE_INVSCALING = 3
    SCHEDULE_COSINE = 4
    SCHEDULE_TABLE = 5

# Why a kernel call returned (gdfast/_engine.py STATUS_NAMES gives each its public name).
cpdef enum Status:
    STATUS_RUNNING = 0
    STATUS_CONVERGED = 1
    STATUS_NO_IMPROVEMENT = 2
    STATUS_DIVERGED = 3
    STATUS_INTERRUPTED = 4

# Slots of the int64 ``counters`` array of a run, numbered 0 .. N_COUNTERS - 1.
cpdef enum:
    C_STEP = 0            # updates done so far (t)
    C_CURRENT = 1         # which row of ``params`` holds the current parameters (0 or 1)
    C_POSITION = 2        # index into ``perm`` of the next batch's first sample
    C_EPOCH = 3           # completed epochs
    C_NO_IMPROVEMENT = 4  # consecutive epochs without loss improvement
    C_RECORDED = 5        # entries written to ``history`` by this call
    C_EPOCHS_RECORDED = 6 # entries written to ``epoch_history`` by this call
    C_STATUS = 7          # Status of the last call (STATUS_*)
    C_RNG = 8             # splitmix64 state (bit pattern of a uint64)
    C_BEST_STEP = 9       # step t of the weights kept in params row 2 (restore_best), -1 before any
    N_COUNTERS = 10       # the length of ``counters``

# Slots of the double ``scalars`` array of a run, numbered 0 .. N_SCALARS - 1.
cpdef enum:
    S_BEST_LOSS = 0       # lowest epoch loss so far (inf before the first epoch ends)
    S_EPOCH_LOSS_SUM = 1  # sum of batch loss * batch size over the current epoch
    S_EPOCH_SAMPLES = 2   # samples seen in the current epoch
    S_LAST_LOSS = 3       # loss of the last batch
    S_LAST_GRAD_NORM = 4  # 2-norm of the last gradient (NaN before any is computed)
    S_FIRST_LOSS = 5      # mean loss of the run's first epoch (NaN before it ends)
    S_MU_PRODUCT = 6      # NAdam's running product of its momentum coefficients mu_1 ... mu_t (1.0 at t = 0)
    N_SCALARS = 7         # the length of ``scalars``


# The options of one run, built by gdfast._engine.TrainOptions.kernel_config (a dict with exactly
# these fields; Cython converts it, and refuses a dict that lacks one).
cdef struct TrainConfig:
    int loss                   # LossCode
    double huber_delta
    int optimizer              # OptimizerCode
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
    double momentum_decay      # NAdam's psi
    int schedule               # ScheduleCode
    double schedule_gamma
    double schedule_step_size
    double schedule_power
    double schedule_t_max
    double schedule_eta_min
    Py_ssize_t schedule_table  # address of the float64 per-update rates (SCHEDULE_TABLE)
    double clip_norm
    double grad_tol
    double loss_tol
    int64_t n_iter_no_change
    int64_t batch_size
    bint shuffle
    int64_t record_every
    int64_t epoch_record_every
    double divergence_factor   # 0: only a non-finite loss is divergence
    bint restore_best
