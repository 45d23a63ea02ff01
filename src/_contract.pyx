# cython: language_level=3
"""The Cython/Python contract as Python objects: the codes and slots of the contract as
``enum.IntEnum`` classes ``LossCode``, ``OptimizerCode``, ``ScheduleCode`` and ``Status``, the slot
numbers ``C_*``/``S_*`` and the lengths ``N_COUNTERS``/``N_SCALARS`` as ints (all made by Cython from
the ``cpdef enum`` declarations of ``src/gdfast/_contract.pxd``), and the fields of ``TrainConfig``."""
from libc.string cimport memset

# The module's own declarations, named so that cythonize rebuilds this module when they change.
from gdfast._contract cimport TrainConfig


def config_fields():
    """The field names of the ``TrainConfig`` struct, in declaration order.

    Read from the struct itself (Cython converts a struct to a dict with one key per field), so this
    cannot drift from the declaration.
    """
    cdef TrainConfig cfg
    memset(&cfg, 0, sizeof(cfg))
    return tuple(<dict>cfg)
