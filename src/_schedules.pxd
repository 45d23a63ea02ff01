# cython: language_level=3
"""Learning-rate schedules: the rate of update t, one branch per class of gdfast/schedules.py
(each class's docstring gives its formula; ``gdfast.reference`` computes them in NumPy)."""
from libc.math cimport cos, floor, pow, M_PI
from libc.stdint cimport int64_t

from gdfast._contract cimport (
    SCHEDULE_COSINE, SCHEDULE_EXPONENTIAL, SCHEDULE_INVSCALING, SCHEDULE_STEP, SCHEDULE_TABLE, TrainConfig,
)


cdef inline double scheduled_learning_rate(const TrainConfig* cfg, int64_t t) noexcept nogil:
    """Learning rate of update t (0-based)."""
    cdef double lr = cfg.learning_rate
    if cfg.schedule == SCHEDULE_EXPONENTIAL:
        return lr * pow(cfg.schedule_gamma, <double>t)  # lr * gamma**t
    if cfg.schedule == SCHEDULE_STEP:
        return lr * pow(cfg.schedule_gamma, floor(<double>t / cfg.schedule_step_size))  # lr * gamma**(t // s)
    if cfg.schedule == SCHEDULE_INVSCALING:
        return lr / pow(<double>(t + 1), cfg.schedule_power)  # lr / (t + 1)**power
    if cfg.schedule == SCHEDULE_TABLE:
        # lr_t = rates[t]; Python checked that the table covers every update of the call
        return (<const double*>cfg.schedule_table)[t]
    if cfg.schedule == SCHEDULE_COSINE:
        # eta_min + (lr - eta_min) * (1 + cos(pi * t / t_max)) / 2, with (1 + cos) / 2 in [0, 1] first
        # so that (lr - eta_min) * it cannot overflow (same bits otherwise: halving is exact).
        return cfg.schedule_eta_min + (lr - cfg.schedule_eta_min) * (
            (1.0 + cos(M_PI * <double>t / cfg.schedule_t_max)) / 2.0)
    return lr
