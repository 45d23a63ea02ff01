# Type stub of the compiled module gdfast._train (src/_train.pyx).
# ``config`` is the TrainConfig struct as a dict (gdfast._engine.TrainOptions.kernel_config).
from typing import Any

import numpy as np
import numpy.typing as npt

_Float = np.float32 | np.float64
_FloatArray = npt.NDArray[_Float]
_DoubleArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]
_IndexArray = npt.NDArray[np.intp]
_IntcArray = npt.NDArray[np.intc]

def have_openmp() -> bool: ...
def max_threads() -> int: ...
def signal_polls() -> int: ...
def _threads_used(n_threads: int) -> int: ...
def run_uses_blas(kernel_config: dict[str, Any], n_samples: int, n_features: int, n_outputs: int) -> bool: ...
def run_uses_dgemm(kernel_config: dict[str, Any], n_samples: int, n_features: int, n_outputs: int) -> bool: ...
def run_sums_in_float32(kernel_config: dict[str, Any], n_samples: int, n_features: int, n_outputs: int) -> bool: ...
def run_uses_blocks(kernel_config: dict[str, Any], n_samples: int, n_outputs: int) -> bool: ...
def block_rows() -> int: ...
def lane_block() -> int: ...
def advance_runs(
    kernel_configs: list[dict[str, Any]],
    X: _FloatArray,
    Y: _FloatArray,
    sample_weight: _FloatArray | None,
    fit_intercept: bool,
    records: npt.NDArray[np.void],
    params: _FloatArray,
    opt_state: _DoubleArray,
    perm: _IndexArray,
    history: _DoubleArray,
    epoch_history: _DoubleArray,
    n_steps: _IntArray,
    n_threads: int,
    X_double: _DoubleArray | None = None,
    order: _IndexArray | None = None,
    task_sizes: _IndexArray | None = None,
    csr_indices: npt.NDArray[np.integer[Any]] | None = None,
    csr_indptr: npt.NDArray[np.integer[Any]] | None = None,
    csr_n_features: int = 0,
    learning_rates: _DoubleArray | None = None,
) -> None: ...
def openmp_forked() -> bool: ...
def take_fork_warning() -> bool: ...
def dataset_losses(
    loss_kinds: _IntcArray,
    widths: _DoubleArray,
    float32_sums: _IntcArray,
    X: _FloatArray,
    Y: _FloatArray,
    sample_weight: _FloatArray | None,
    fit_intercept: bool,
    thetas: _FloatArray,
    residual_grad: _DoubleArray,
    out: _DoubleArray,
    reductions: _IntcArray | None = None,
) -> None: ...
def csr_dataset_losses(
    loss_kinds: _IntcArray,
    widths: _DoubleArray,
    reductions: _IntcArray,
    data: _FloatArray,
    indices: npt.NDArray[np.integer[Any]],
    indptr: npt.NDArray[np.integer[Any]],
    n_features: int,
    Y: _FloatArray,
    sample_weight: _FloatArray | None,
    fit_intercept: bool,
    thetas: _FloatArray,
    residual_grad: _DoubleArray,
    out: _DoubleArray,
) -> None: ...
def csr_predict_into(
    W: _FloatArray, data: _FloatArray, indices: npt.NDArray[np.integer[Any]], indptr: npt.NDArray[np.integer[Any]],
    out: _FloatArray,
) -> None: ...
def descend_quadratic(
    kernel_config: dict[str, Any],
    a: float,
    b: float,
    c: float,
    x_rec: _FloatArray,
    f_rec: _FloatArray,
    steps_rec: _IntArray,
    opt_state: _DoubleArray,
    mu_product: _DoubleArray,
    t0: int,
    n_steps: int,
    with_function: bool,
    scalar_pow: bool,
) -> tuple[int, int, int]: ...
def descend_objective(
    kernel_config: dict[str, Any],
    kind: int,
    params: _DoubleArray,
    gradient_capsule: Any,
    value_capsule: Any,
    x_rec: _DoubleArray,
    f_rec: _DoubleArray,
    steps_rec: _IntArray,
    opt_state: _DoubleArray,
    mu_product: _DoubleArray,
    t0: int,
    n_steps: int,
    with_function: bool,
) -> tuple[int, int, int]: ...
def objective_at(kind: int, params: _DoubleArray, x: _DoubleArray, gradient: _DoubleArray) -> float: ...
def optimizer_update(
    kernel_config: dict[str, Any],
    p: _DoubleArray,
    grad: _DoubleArray,
    opt_state: _DoubleArray,
    mu_product: _DoubleArray,
    lr: float,
    step: int,
    out: _DoubleArray,
) -> None: ...
