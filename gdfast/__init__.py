"""gdfast: gradient descent whose whole iteration loop runs in typed Cython kernels.

The lessons' steps (:func:`predict`, :func:`mse`, :func:`mse_gradient`, :func:`update`), the whole
loop (:func:`train`, :func:`descend`), optimizers, schedules and a pure-NumPy twin of everything in
:mod:`gdfast.reference`.

Environment: ``GDFAST_BLAS=0`` makes the kernels never call BLAS (the portable loops only: results
are the same bits on every machine); unset or ``1``, large full batches use BLAS ``dgemm``. ``GDFAST_ISA=baseline``, ``avx2`` or ``avx512``
forces that build of the kernels (all give the same bits); unset, AVX2 where the CPU runs it, else the
baseline, is used (AVX-512 only when forced), and ``gdfast info`` names it.

Examples
--------
>>> import gdfast
>>> from gdfast.lesson import INPUT, TARGET, W1
>>> round(gdfast.mse(gdfast.predict(W1, INPUT), TARGET), 4)     # lesson 3.1's starting loss
15.1995
>>> gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200).loss < 1e-10
True
"""
import os as _os

from ._version import __version__

# GDFAST_BLAS=0: the kernels never call BLAS (src/_linear.pxd's use_blas reads it at the first call),
# so results are the same to the bit on every machine. Checked here so a typo is not silently ignored.
if _os.environ.get("GDFAST_BLAS", "") not in ("", "0", "1"):
    raise ValueError(
        f"environment variable GDFAST_BLAS={_os.environ['GDFAST_BLAS']!r} is not understood: set it to 0 "
        "(never call BLAS: bit-reproducible on every machine) or 1 (default: BLAS dgemm for large full "
        "batches), or unset it"
    )
del _os
# Before anything that uses the kernels: puts the build of gdfast._kernels/_train for this CPU (x86-64
# baseline, AVX2 or AVX-512; GDFAST_ISA forces one, see gdfast/_isa.py) into sys.modules.
from . import _isa  # noqa: F401
from . import core, descent, descent_sweeps, functions, lesson, optimizers, reference, schedules, training
from ._engine import TrainState
from .core import mse, mse_gradient, predict, update
from .descent import DescentPath, DescentState, Quadratic, descend
from .descent_sweeps import DescentSweepResult, descend_sweep
from .optimizers import SGD, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam, RMSprop
from .sweeps import SweepResult, grid, sweep  # gdfast.sweep is the function; its module is gdfast.sweeps
from .training import TrainResult, train

__all__ = [
    "__version__",
    "predict", "mse", "mse_gradient", "update",
    "train", "TrainResult", "TrainState", "sweep", "SweepResult", "grid",
    "descend", "Quadratic", "DescentPath", "DescentState", "descend_sweep", "DescentSweepResult",
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
    "optimizers", "schedules", "reference", "lesson", "functions",
]

# Public submodules (and GDRegressor, GDClassifier) that are loaded on first attribute access, so that
# ``import gdfast`` never imports matplotlib or scikit-learn: ``gdfast.plot.loss_curves(...)`` and
# ``gdfast.GDRegressor()`` work right after ``import gdfast``.
_LAZY_MODULES = ("plot", "cli", "bench", "sklearn")
_LAZY = {"GDRegressor": "sklearn", "GDClassifier": "sklearn", **{name: None for name in _LAZY_MODULES}}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'gdfast' has no attribute {name!r}")
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    try:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
    except ImportError as exc:
        raise ImportError(
            f"gdfast.{name} needs scikit-learn, which is not installed ({exc}); install it with "
            "`python -m pip install scikit-learn` (or, from a gdfast checkout, "
            "`python -m pip install \".[sklearn]\"`)"
        ) from exc
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
