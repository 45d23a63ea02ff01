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
    """This thread and XLA's thread pools on one CPU while the block runs; yields whether it could (Linux).

    For JAX's calls in the one-thread rows: JAX 0.10's XLA runs its products on its own pool of
    threads (named ``tf_...``) whatever ``XLA_FLAGS`` says (``intra_op_parallelism_threads=1``,
    ``--xla_cpu_multi_thread_eigen=false``): batch-512's step ran at 1.64 CPUs of wall time on the
    2-core development machine (5.5 ms a step; 9.3 ms on one CPU). Pinned to the CPU of the calling
    thread, those threads share one CPU. Other threads are left where they are: pinned too, a
    library's idle worker that spins (OpenBLAS's, seen here) would take the measured thread's time.
    Threads started inside the block by a pinned thread inherit its CPU; every thread pinned or
    started in the block gets the process's former CPUs back at the end."""
    if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
        yield False
        return
    import threading

    before = os.sched_getaffinity(0)
    cpu = {max(before)}
    me = threading.get_native_id()
    existing = set(os.listdir("/proc/self/task"))

    def name(tid):
        try:
            with open(f"/proc/self/task/{tid}/comm") as fh:
                return fh.read().strip()
        except OSError:  # (a thread that has just ended)
            return ""

    def set_cpus(tids, cpus):
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass

    pinned = [tid for tid in existing if int(tid) == me or name(tid).startswith("tf_")]
    set_cpus(pinned, cpu)
    try:
        yield True
    finally:
        set_cpus(pinned + [tid for tid in os.listdir("/proc/self/task") if tid not in existing], before)
