# cython: language_level=3
"""The contract between the compiled loop and Python: every code and slot number, written once.

The declarations of the module ``gdfast._contract`` (``src/_contract.pyx``; this file sits under
``src/gdfast/`` so that Cython finds it for that module). Each ``cpdef enum`` below is a C enum for the
kernels (``from gdfast._contract cimport LOSS_MSE``, no import at run time) and, for Python, an
``enum.IntEnum`` of ``gdfast._contract`` (``from ._contract import Status``), so the two sides
cannot disagree. ``RunRecord`` is a run's bookkeeping, seen from Python as one record of the NumPy
structured dtype ``gdfast._contract.RECORD_DTYPE`` (fields by name, never by slot). ``TrainConfig`` is the
options struct every kernel entry point takes as a dict: ``gdfast._contract.config_fields()``
lists its fields, and ``gdfast._engine.TrainOptions.kernel_config`` must give exactly those keys.
"""
from libc.stdint cimport int64_t, uint64_t

# Loss kinds (``loss=`` of gdfast.train; gdfast/_engine.py LOSSES maps names to them). The regression
# losses of the residual r = p - y come first; the binary classification (margin) losses of z = y p,
# for targets -1/+1 (or 0/1), are the codes LOSS_LOG to LOSS_PERCEPTRON (src/_linear.pxd
# ``is_margin_loss`` and gdfast/_engine.py MARGIN_LOSSES rely on that order). LOSS_MULTINOMIAL is the
# one loss of a whole row of outputs (the softmax cross-entropy of K >= 2 logits, src/_linear.pxd
# ``softmax_row_term``): a row's loss is divided by the sample count alone, not by n_outputs too.
cpdef enum LossCode:
    LOSS_MSE = 0
    LOSS_MAE = 1
    LOSS_HUBER = 2
    LOSS_EPSILON_INSENSITIVE = 3
    LOSS_SQUARED_EPSILON_INSENSITIVE = 4
    LOSS_LOG = 5
    LOSS_HINGE = 6
    LOSS_SQUARED_HINGE = 7
    LOSS_MODIFIED_HUBER = 8
    LOSS_PERCEPTRON = 9
    LOSS_MULTINOMIAL = 10

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

# How the large full batches of float32 data sum their products (``accumulate=`` of gdfast.train;
# gdfast/_engine.py ACCUMULATE maps names to them): in double (dgemm on float64 copies, or the
# blocked loops) or in float32 (sgemm/sgemv on the float32 arrays themselves).
cpdef enum AccumulateCode:
    ACCUMULATE_FLOAT64 = 0
    ACCUMULATE_FLOAT32 = 1

# How a batch's weighted per-sample losses become the objective (``reduction=`` of gdfast.train;
# gdfast/_engine.py REDUCTIONS maps names to them), src/_linear.pxd ``batch_scale``:
#   REDUCTION_MEAN:        sum_i w_i sum_j L_ij / (n_outputs * sum_i w_i)  (the weighted mean over samples and outputs)
#   REDUCTION_SAMPLE_MEAN: sum_i w_i sum_j L_ij / n_rows  (scikit-learn's SGD objective: each weight multiplies its
#                          sample's step, the outputs are summed, so K outputs are K independent problems)
cpdef enum ReductionCode:
    REDUCTION_MEAN = 0
    REDUCTION_SAMPLE_MEAN = 1

# Objectives of gdfast.descend's compiled loop (``_code`` of the classes in gdfast/functions.py; their
# values and gradients are src/_objectives.pxd). OBJ_CALLBACK is a user's C function, a
# ``scipy.LowLevelCallable`` (gdfast/descent.py checks its signature).
cpdef enum ObjectiveCode:
    OBJ_QUADRATIC_FORM = 0
    OBJ_ROSENBROCK = 1
    OBJ_BEALE = 2
    OBJ_HIMMELBLAU = 3
    OBJ_BOOTH = 4
    OBJ_RASTRIGIN = 5
    OBJ_STYBLINSKI_TANG = 6
    OBJ_CALLBACK = 7

# Why a kernel call returned (gdfast/_engine.py STATUS_NAMES gives each its public name).
cpdef enum Status:
    STATUS_RUNNING = 0
    STATUS_CONVERGED = 1
    STATUS_NO_IMPROVEMENT = 2
    STATUS_DIVERGED = 3
    STATUS_INTERRUPTED = 4

# The bookkeeping of one run: a NumPy structured record (gdfast._contract.RECORD_DTYPE, built from
# this struct by src/_contract.pyx, which checks at import that NumPy's layout is this one). A run
# set is an array of them, one per run; Python reads and writes the fields by name. Every field is
# 8 bytes, so no padding can differ between C and NumPy.
cdef packed struct RunRecord:
    int64_t step              # updates done so far (t)
    int64_t current           # which row of the run's ``params`` holds the current parameters (0 or 1)
    int64_t position          # index into ``perm`` of the next batch's first sample
    int64_t epoch             # completed epochs
    int64_t no_improvement    # consecutive epochs without loss improvement
    int64_t best_step         # step of the weights kept in params row 2 (restore_best); -1 before any
    uint64_t rng              # splitmix64 state
    int64_t status            # Status of the last kernel call
    int64_t history_origin    # step whose loss is history[0] (the step when this call series began)
    int64_t epoch_origin      # epoch whose mean loss is epoch_history[0]
    int64_t recorded          # entries written to ``history`` since history_origin
    int64_t epochs_recorded   # entries written to ``epoch_history`` since epoch_origin
    double best_loss          # lowest epoch loss so far (inf before the first epoch ends)
    double first_loss         # mean loss of the run's first epoch (NaN before it ends)
    double epoch_loss_sum     # sum of batch loss * batch size over the current epoch
    double epoch_samples      # samples seen in the current epoch
    double last_loss          # loss of the last batch
    double last_grad_norm     # 2-norm of the last gradient (NaN before any is computed)
    double mu_product         # NAdam's running product of its momentum coefficients mu_1 ... mu_t (1 at t = 0)
    double l1_total           # per-sample L1 (truncated gradient): u, the sum of lr_t * l1_penalty over the updates
    int64_t averaged          # averaged SGD: iterates in the running mean (opt_state row 2) so far (0: none yet)


# The options of one run, built by gdfast._engine.TrainOptions.kernel_config (a dict with exactly
# these fields; Cython converts it, and refuses a dict that lacks one).
cdef struct TrainConfig:
    int loss                   # LossCode
    double epsilon             # the width of huber, epsilon_insensitive, squared_epsilon_insensitive
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
    int accumulate             # AccumulateCode
    double l2_penalty          # alpha * (1 - l1_ratio): the weights (never the bias) shrink by 1 - lr * l2_penalty
    double l1_penalty          # alpha * l1_ratio: truncated gradient (batch_size 1) or soft-thresholding
    int reduction              # ReductionCode
    int64_t average            # averaged SGD: 0 off; else the iterate after each update t >= average joins the mean
