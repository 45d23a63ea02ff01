# cython: language_level=3
"""The random stream of a training run: Vigna's splitmix64, and the sample shuffle built on it.

A run's generator state is one uint64 (``RunRecord.rng``), so a run stopped anywhere continues with
the same stream. ``gdfast.reference.SplitMix64`` is the NumPy-free twin (Python ints), checked
against the published test vector in the tests.
"""
from libc.stdint cimport uint64_t


cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    """The next output of splitmix64 (state advanced in place)."""
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15ULL
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t uniform_below(uint64_t* state, uint64_t bound) noexcept nogil:
    """An unbiased integer in [0, bound): splitmix64 outputs below 2**64 mod bound are rejected."""
    cdef uint64_t threshold = (<uint64_t>0 - bound) % bound
    cdef uint64_t r = splitmix64(state)
    while r < threshold:
        r = splitmix64(state)
    return r % bound


cdef inline void shuffle_in_place(Py_ssize_t* perm, Py_ssize_t n, uint64_t* state) noexcept nogil:
    """Fisher-Yates: for i = n-1 .. 1, swap perm[i] with perm[uniform_below(i + 1)]."""
    cdef Py_ssize_t i, j, tmp
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>uniform_below(state, <uint64_t>(i + 1))
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
