"""The one timing helper of the scripts in benchmarks/: every script times its calls through here.

``interleaved`` is gdfast's own (``gdfast.bench.interleaved``, what ``gdfast bench`` uses): each
function called once untimed, then once per repeat, in an order that rotates from one repeat to the
next, so that the functions compared see the same state of a shared machine. Importing this module
puts the checkout's root first on ``sys.path``, so the scripts time the gdfast built in place.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from gdfast.bench import interleaved  # noqa: E402

__all__ = ["ROOT", "interleaved", "median", "best", "calibrate", "load_average"]


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
