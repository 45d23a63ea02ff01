"""gdfast: gradient descent whose whole iteration loop runs in typed Cython kernels.

The lessons' steps (:func:`predict`, :func:`mse`, :func:`mse_gradient`, :func:`update`), the whole
loop (:func:`train`, :func:`descend`), optimizers, schedules and a pure-NumPy twin of everything in
:mod:`gdfast.reference`.
"""
from ._version import __version__
from . import optimizers, reference, schedules
from ._engine import TrainState
from .core import mse, mse_gradient, predict, update
from .descent import DescentPath, Quadratic, descend
from .optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from .sweep import SweepResult, grid, sweep
from .training import TrainResult, train

__all__ = [
    "__version__",
    "predict", "mse", "mse_gradient", "update",
    "train", "TrainResult", "TrainState", "sweep", "SweepResult", "grid",
    "descend", "Quadratic", "DescentPath",
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
    "optimizers", "schedules", "reference",
]
