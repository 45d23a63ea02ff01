"""No call leaks memory (issue 7): each public function is called many times on small inputs and the
process's memory must not grow.

Two measures, both taken after a warm-up (first-call caches, interned strings, NumPy's small-array
cache) and a ``gc.collect()``:

* tracemalloc (Python objects, and NumPy data buffers, which NumPy reports to tracemalloc), counting
  only allocations made with gdfast's code or this file's on the stack, over the last tenth of the loop (it slows allocations several-fold): growth must stay under
  ``TRACED_ALLOWANCE`` = 16 KiB (cheap calls; 4 KiB for the shorter loops). A leak of one Python
  object per call (>= 16 bytes) over 10,000 calls would be >= 160 KB.
* RSS from /proc/self/statm (everything else: malloc'd scratch in the kernels, OpenMP buffers, memory
  views): growth must stay under ``RSS_ALLOWANCE`` = 2 MiB, i.e. ~20 bytes per call over 100,000
  calls; one leaked malloc per call (>= 32 bytes with its header) would exceed it. The allowance
  absorbs allocator fragmentation noise.

Each public function (predict, mse, mse_gradient, update, descend, the optimizer/schedule classes)
runs ``N_CALLS`` = 100,000 times; variants (float32, error paths) 10,000 times. ``train`` runs 10,000
times per variant and ``sweep`` 1,000 times serially plus 200 times on two threads: a call costs ~0.1 ms
and ~1-5 ms, and the per-call buffers they allocate (TrainState, histories, the config structs) are
the same code paths at any count; their RSS allowance is 1 MiB (~100 bytes per call). Error paths
(exceptions raised in validation) are included: a leaked traceback or array per raised error would
show the same way.
"""
import gc
import os
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import gdfast

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm"),
    # AddressSanitizer quarantines freed memory (RSS grows by design) and slows each call ~10x.
    pytest.mark.skipif(os.environ.get("GDFAST_SANITIZER") == "1", reason="meaningless under ASan (.ci/asan.sh)"),
]

N_CALLS = 100_000
TRACED_ALLOWANCE = 16 * 1024
RSS_ALLOWANCE = 2 * 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def measure(func, n, warmup=2000, traced_calls=None):
    """(traced growth over the last ``traced_calls`` calls, RSS growth over all ``n`` calls), in bytes.

    tracemalloc slows every allocation several-fold, so by default it watches only the last tenth of
    the loop; a leak of one Python object per call still shows as >= 16 * n / 10 bytes there.
    """
    traced_calls = n // 10 if traced_calls is None else traced_calls
    for _ in range(min(warmup, n)):
        func()
    gc.collect()
    rss0 = rss_bytes()
    for _ in range(n - traced_calls):
        func()
    # Only allocations made with gdfast's code (or this file's) on the Python stack count: threads
    # that earlier tests left behind (a Dask client's, say) allocate in the background meanwhile.
    tracemalloc.start(_TRACE_DEPTH)
    try:
        for _ in range(min(20, n)):  # one-off allocations made the first time anything is traced
            func()
        gc.collect()
        snapshot0 = tracemalloc.take_snapshot().filter_traces(_OWN_CODE)
        for _ in range(traced_calls):
            func()
        gc.collect()
        snapshot1 = tracemalloc.take_snapshot().filter_traces(_OWN_CODE)
    finally:
        tracemalloc.stop()
    gc.collect()
    traced = sum(stat.size_diff for stat in snapshot1.compare_to(snapshot0, "filename"))
    return traced, rss_bytes() - rss0


_TRACE_DEPTH = 16  # gdfast (or this file) is among the innermost frames of any allocation it makes
_OWN_CODE = [
    tracemalloc.Filter(True, os.path.join(os.path.dirname(gdfast.__file__), "*"), all_frames=True),
    tracemalloc.Filter(True, __file__, all_frames=True),
]


def _raises(func, exc):
    def call():
        try:
            func()
        except exc:
            return
        raise AssertionError("expected an error")
    return call


W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 1.0, -2.0], [2.0, 2.0, 1.0]])
Y = np.array([[1.0, 0.0], [0.5, 1.0], [-1.0, 2.0], [0.0, 0.0]])
G = np.full_like(W, 0.1)
OUT = np.empty_like(W)
W32, X32, Y32 = W.astype(np.float32), X.astype(np.float32), Y.astype(np.float32)
QUAD = gdfast.Quadratic(1, 4, 4)

CHEAP = {
    "predict": lambda: gdfast.predict(W, X),
    "predict_f32_one_sample": lambda: gdfast.predict(W32, X32[0]),
    "mse": lambda: gdfast.mse(Y, Y[::-1]),
    "mse_gradient": lambda: gdfast.mse_gradient(W, X, Y),
    "mse_gradient_f32": lambda: gdfast.mse_gradient(W32, X32, Y32),
    "update": lambda: gdfast.update(W, G, 0.1),
    "update_out_scalar": lambda: gdfast.update(W, 0.5, 0.1, out=OUT),
    "descend_kernel": lambda: gdfast.descend(QUAD.gradient, 1.0, learning_rate=0.1, num_iterations=5, function=QUAD),
    "optimizer_and_schedule": lambda: (gdfast.Adam(beta1=0.8), gdfast.schedules.StepDecay(step_size=3)),
    "predict_error": _raises(lambda: gdfast.predict(W, X[:, :2]), ValueError),
    "update_error": _raises(lambda: gdfast.update(W, G, float("nan")), ValueError),
    "mse_type_error": _raises(lambda: gdfast.mse(["a"], [1.0]), TypeError),
}


PUBLIC = {"predict", "mse", "mse_gradient", "update", "descend_kernel", "optimizer_and_schedule"}


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_cheap_calls_do_not_leak(name):
    n = N_CALLS if name in PUBLIC else N_CALLS // 10
    traced, rss = measure(CHEAP[name], n)
    print(f"{name}: {n} calls, traced {traced:+d} B, RSS {rss:+d} B")
    assert traced < TRACED_ALLOWANCE, f"{name}: Python memory grew by {traced} bytes over {n // 10} calls"
    assert rss < RSS_ALLOWANCE, f"{name}: RSS grew by {rss} bytes over {n} calls"


def _train_calls():
    gdfast.train(W, X, Y, num_iterations=5, optimizer="adam", batch_size=2, fit_intercept=True, seed=1,
                 grad_tol=1e-12, clip_norm=10.0)


def _train_error():
    try:
        gdfast.train(W, X, Y, num_iterations=5, batch_size=9)
    except ValueError:
        pass


def _train_diverging():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gdfast.train(W, X, Y, num_iterations=3, learning_rate=1e300, seed=0)


def _train_continued():
    r = gdfast.train(W, X, Y, num_iterations=2, seed=2)
    gdfast.train(r.W, X, Y, num_iterations=2, seed=2, state=r.state)


@pytest.mark.parametrize("func, n", [(_train_calls, 10_000), (_train_error, 10_000), (_train_diverging, 10_000),
                                     (_train_continued, 5_000)])
def test_train_does_not_leak(func, n):
    traced, rss = measure(func, n, warmup=500)
    print(f"{func.__name__}: {n} calls, traced {traced:+d} B, RSS {rss:+d} B")
    assert traced < 4096
    assert rss < 1024 * 1024


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sweep_does_not_leak(n_threads):
    def call():
        gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.1], seeds=[0, 1], num_iterations=3, n_threads=n_threads)

    # Every call traced: NumPy's and the allocator's caches make a few KiB of noise that does not
    # grow with the count (measured 1.6-6 KiB over 100 to 2,000 calls), while a leak of one small
    # object per call would add >= 16 KiB over these 1,000 calls.
    n = 1_000
    traced, rss = measure(call, n, warmup=50, traced_calls=n)
    print(f"sweep(n_threads={n_threads}): {n} calls, traced {traced:+d} B, RSS {rss:+d} B")
    assert traced < TRACED_ALLOWANCE
    assert rss < 1024 * 1024


def test_the_measure_sees_a_leak():
    """The detector itself: 256 bytes kept per call must exceed both allowances.

    (64 bytes per call, 9.7 MB in all, once grew the RSS by only 1.9 MB at the end of a full run:
    memory that earlier tests had freed was reused first. 256 bytes keep about 29 MB.)"""
    kept = []
    traced, rss = measure(lambda: kept.append(bytes(256)), N_CALLS, warmup=0)
    assert traced > TRACED_ALLOWANCE and rss > RSS_ALLOWANCE, (traced, rss)
