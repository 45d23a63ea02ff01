# cython: language_level=3
"""The Cython/Python contract as Python objects: the codes of the contract as ``enum.IntEnum``
classes ``LossCode``, ``OptimizerCode``, ``ScheduleCode``, ``AccumulateCode``, ``ReductionCode`` and ``Status`` (made by
Cython from the ``cpdef enum`` declarations of ``src/gdfast/_contract.pxd``), the NumPy structured dtype
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


# Which of the kernels' ISA variants (setup.py, ISA_VARIANTS) this CPU can run. GCC's and Clang's
# __builtin_cpu_supports reads CPUID and also checks that the OS saves the wider registers (XGETBV), so
# a feature the OS has not enabled reads as absent. Other compilers and CPUs: the baseline only.
cdef extern from *:
    """
    #if defined(__GNUC__) && defined(__x86_64__)
    static int gdfast_cpu_avx2(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    static int gdfast_cpu_avx512(void) {
        return gdfast_cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl");
    }
    #else
    static int gdfast_cpu_avx2(void) { return 0; }
    static int gdfast_cpu_avx512(void) { return 0; }
    #endif
    """
    int gdfast_cpu_avx2()
    int gdfast_cpu_avx512()


def cpu_isas():
    """The instruction sets of the kernels' builds that this CPU can run, from the most portable:
    ``("baseline",)``, then ``"avx2"`` (AVX2 and FMA) and ``"avx512"`` (AVX-512 F, CD, DQ, BW, VL)."""
    return ("baseline",) + (("avx2",) if gdfast_cpu_avx2() else ()) + (("avx512",) if gdfast_cpu_avx512() else ())
