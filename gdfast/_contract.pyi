# Type stub of the compiled module gdfast._contract (src/_contract.pyx, declarations in
# src/gdfast/_contract.pxd). The values live only in the .pxd; tests/test_h7_contract.py checks that the
# enums below name the same members as the compiled ones.
from enum import IntEnum

import numpy as np

LossCode = IntEnum(
    "LossCode",
    "LOSS_MSE LOSS_MAE LOSS_HUBER LOSS_EPSILON_INSENSITIVE LOSS_SQUARED_EPSILON_INSENSITIVE LOSS_LOG LOSS_HINGE "
    "LOSS_SQUARED_HINGE LOSS_MODIFIED_HUBER LOSS_PERCEPTRON LOSS_MULTINOMIAL",
)
OptimizerCode = IntEnum("OptimizerCode", "OPT_SGD OPT_ADAM OPT_RMSPROP OPT_ADAGRAD OPT_NADAM OPT_RADAM OPT_ADAMAX")
ScheduleCode = IntEnum(
    "ScheduleCode",
    "SCHEDULE_CONSTANT SCHEDULE_EXPONENTIAL SCHEDULE_STEP SCHEDULE_INVSCALING SCHEDULE_COSINE SCHEDULE_TABLE",
)
AccumulateCode = IntEnum("AccumulateCode", "ACCUMULATE_FLOAT64 ACCUMULATE_FLOAT32")
ReductionCode = IntEnum("ReductionCode", "REDUCTION_MEAN REDUCTION_SAMPLE_MEAN")
ObjectiveCode = IntEnum(
    "ObjectiveCode",
    "OBJ_QUADRATIC_FORM OBJ_ROSENBROCK OBJ_BEALE OBJ_HIMMELBLAU OBJ_BOOTH OBJ_RASTRIGIN OBJ_STYBLINSKI_TANG "
    "OBJ_CALLBACK",
)
Status = IntEnum("Status", "STATUS_RUNNING STATUS_CONVERGED STATUS_NO_IMPROVEMENT STATUS_DIVERGED STATUS_INTERRUPTED")

# The structured dtype of one run's bookkeeping (the RunRecord struct), fields by name.
RECORD_DTYPE: np.dtype[np.void]

def config_fields() -> tuple[str, ...]: ...

# The kernel builds this CPU can run (src/_contract.pyx; gdfast/_isa.py picks one).
def cpu_isas() -> tuple[str, ...]: ...
