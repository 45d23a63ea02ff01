"""The one timing helper of the scripts in benchmarks/: every script times its calls through here.

``interleaved`` is gdfast's own (``gdfast.bench.interleaved``, what ``gdfast bench`` uses): each
function called once untimed, then once per repeat, in an order that rotates from one repeat to the
next, so that the functions compared see the same state of a shared machine. Importing this module
puts the checkout's root first on ``sys.path``, so the scripts time the gdfast built in place.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from gdfast.bench import interleaved  # noqa: E402

__all__ = ["ROOT", "interleaved", "median", "best", "calibrate", "load_average", "one_cpu"]


def median(funcs, repeats):
    """Median seconds per call of each function, timed interleaved (and their last results)."""
    times, last = interleaved(funcs, repeats)
    return {name: float(np.median(t)) for name, t in times.items()}, last


def best(funcs, repeats):
    """Best (smallest) seconds per call of each function, timed interleaved (and their last results)."""
    times, last = interleaved(funcs, repeats)
    return {name: float(np.min(t)) for name, t in times.items()}, last


def calibrate(make_call, seconds):
    """``(make_call(n), n)`` with n such that one call takes about ``seconds`` (scaled from a probe)."""
    n = 100
    while True:
        t0 = time.perf_counter()
        make_call(n)()
        dt = time.perf_counter() - t0
        if dt > 0.05 or n > 10**8:
            n = max(1, int(n * seconds / dt))
            return make_call(n), n
        n *= 4


def load_average():
    """The load average as text ('n/a' where the platform has none)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


@contextlib.contextmanager
def one_cpu():
    """Every thread of this process on one CPU while the block runs; yields whether it could (Linux).

    For the one-thread rows: a peer's library may use more threads than it was asked for, and then
    its time is not one thread's. JAX 0.10's XLA, with ``intra_op_parallelism_threads=1`` and
    ``--xla_cpu_multi_thread_eigen=false``, ran batch-512's step at 1.64 CPUs of wall time on the
    2-core development machine (5.5 ms a step, and 9.3 ms with the process pinned to one CPU). On
    one CPU the extra threads share it. Threads started inside the block inherit the CPU; every
    thread gets the process's former CPUs back at the end."""
    if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
        yield False
        return
    before = os.sched_getaffinity(0)

    def pin(cpus):
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:  # (a thread that has just ended)
                pass

    pin({max(before)})
    try:
        yield True
    finally:
        pin(before)
