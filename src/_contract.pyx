# cython: language_level=3
"""The Cython/Python contract as Python objects: the codes of the contract as ``enum.IntEnum``
classes ``LossCode``, ``OptimizerCode``, ``ScheduleCode`` and ``Status`` (made by Cython from the
``cpdef enum`` declarations of ``src/gdfast/_contract.pxd``), the NumPy structured dtype
``RECORD_DTYPE`` of the ``RunRecord`` struct, and the fields of ``TrainConfig``."""
import numpy as np

from libc.string cimport memset

# The module's own declarations, named so that cythonize rebuilds this module when they change.
from gdfast._contract cimport RunRecord, TrainConfig


def config_fields():
    """The field names of the ``TrainConfig`` struct, in declaration order.

    Read from the struct itself (Cython converts a struct to a dict with one key per field), so this
    cannot drift from the declaration.
    """
    cdef TrainConfig cfg
    memset(&cfg, 0, sizeof(cfg))
    return tuple(<dict>cfg)


def _record_dtype():
    """The NumPy dtype of ``RunRecord``, read from the struct: every byte set to 0xFF reads as -1 in
    an int64 field, 2**64 - 1 in a uint64 one and NaN in a double (the struct has no other types)."""
    cdef RunRecord rec
    memset(&rec, 0xFF, sizeof(rec))
    kinds = {-1: "<i8", 2**64 - 1: "<u8"}
    dtype = np.dtype([(name, "<f8" if isinstance(value, float) else kinds[value])
                      for name, value in (<dict>rec).items()])
    if dtype.itemsize != sizeof(RunRecord):
        raise ImportError(f"RunRecord is {sizeof(RunRecord)} bytes but its dtype {dtype.itemsize}")
    cdef RunRecord[::1] check = np.zeros(1, dtype)  # Cython checks the buffer's format field by field
    return dtype


RECORD_DTYPE = _record_dtype()
