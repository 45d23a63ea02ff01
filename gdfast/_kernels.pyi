# Type stub of the compiled module gdfast._kernels (src/_kernels.pyx).
# Arrays must be C-contiguous float32 or float64 (one dtype per call); gdfast.core validates them.
import numpy as np
import numpy.typing as npt

_Float = np.float32 | np.float64
_FloatArray = npt.NDArray[_Float]
_DoubleArray = npt.NDArray[np.float64]

def predict_into(W: _FloatArray, X: _FloatArray, out: _FloatArray) -> None: ...
def mean_squared_error(prediction: _FloatArray, target: _FloatArray) -> float: ...
def mse_gradient_into(
    W: _FloatArray,
    X: _FloatArray,
    Y: _FloatArray,
    residual_scratch: _DoubleArray,
    grad_scratch: _DoubleArray,
    out: _FloatArray,
) -> float: ...
def update_into(W: _FloatArray, G: _FloatArray, learning_rate: float, out: _FloatArray) -> None: ...
def update_mixed_into(
    W: npt.NDArray[np.float64], G: npt.NDArray[np.float32], learning_rate: float, out: npt.NDArray[np.float64]
) -> None: ...
def subtract_scalar_into(W: _FloatArray, step: float, out: _FloatArray) -> None: ...
def all_finite(a: _FloatArray) -> bool: ...
def descend_quadratic_into(
    a: float,
    b: float,
    c: float,
    learning_rate: float,
    x_path: _FloatArray,
    f_path: _FloatArray,
    with_function: bool,
    scalar_pow: bool = ...,
) -> int: ...

# Fast paths of gdfast.core: they take anything, and return None unless the inputs are already
# valid arrays (then gdfast.core validates them in Python and takes the general path).
def predict_fast(W: object, X: object) -> _FloatArray | None: ...
def mse_fast(prediction: object, target: object) -> float | None: ...
def mse_gradient_fast(W: object, X: object, Y: object) -> _FloatArray | None: ...
def update_fast(W: object, G: object, learning_rate: object) -> _FloatArray | None: ...
