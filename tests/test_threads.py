"""Threads (issue 7): concurrent train/sweep calls on shared read-only inputs give the serial results
bit for bit, and a training releases the GIL.

The GIL check has no timed assertion: while a training runs in a worker thread, the main thread
counts iterations of a pure-Python loop; the worker reads that counter right before and right after
its call. A call that held the GIL for its whole duration would let the main thread run for at most
one switch interval (around its start and end), exactly like the control call below (a builtin that
keeps the GIL: ``sum`` over a range, in C). The training must let the main thread run many times
more than the control does. The "two threads take about the time of one" timing lives in
``benchmarks/threads_gil.py``.
"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gdfast

from conftest import random_problem

N_THREADS = 8


def _read_only(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


CONFIGS = [
    dict(num_iterations=300, learning_rate=0.05),
    dict(num_iterations=200, optimizer="adam", learning_rate=0.01, batch_size=7, seed=3),
    dict(num_epochs=5, optimizer=gdfast.SGD(momentum=0.9, nesterov=True), batch_size=4, seed=11, fit_intercept=True),
    dict(num_iterations=150, loss="huber", optimizer="rmsprop", learning_rate=0.01, schedule="cosine", seed=5,
         batch_size=16, grad_tol=1e-9),
]


def _same_train(a, b):
    np.testing.assert_array_equal(a.W, b.W)
    if a.b is not None or b.b is not None:
        np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.epoch_losses, b.epoch_losses)
    assert a.n_iter == b.n_iter and a.status == b.status and a.loss == b.loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_concurrent_train_and_sweep_equal_serial(dtype, rng):
    W, X, Y = _read_only(*random_problem(rng, 64, 6, 3, dtype))
    sw = _read_only(rng.uniform(0.5, 2.0, 64).astype(dtype))[0]
    sweep_kw = dict(learning_rates=[0.01, 0.05], seeds=[1, 2], num_iterations=120, batch_size=8, n_threads=2)

    serial_train = [gdfast.train(W, X, Y, sample_weight=sw if i % 2 else None, **cfg)
                    for i, cfg in enumerate(CONFIGS)]
    serial_sweep = gdfast.sweep(W, X, Y, **sweep_kw)

    barrier = threading.Barrier(N_THREADS)

    def work(k):
        barrier.wait()  # all threads start together, so the calls really overlap
        out = []
        for rep in range(3):
            i = (k + rep) % len(CONFIGS)
            if (k + rep) % 3 == 2:
                out.append(("sweep", None, gdfast.sweep(W, X, Y, **sweep_kw)))
            else:
                out.append(("train", i, gdfast.train(W, X, Y, sample_weight=sw if i % 2 else None, **CONFIGS[i])))
        return out

    with ThreadPoolExecutor(N_THREADS) as pool:
        results = list(pool.map(work, range(N_THREADS)))

    n_checked = 0
    for per_thread in results:
        for kind, i, res in per_thread:
            if kind == "train":
                _same_train(res, serial_train[i])
            else:
                assert len(res) == len(serial_sweep)
                for a, b in zip(res.results, serial_sweep.results):
                    _same_train(a, b)
            n_checked += 1
    assert n_checked == 3 * N_THREADS


def _main_thread_progress_during(call):
    """Iterations the main thread's Python loop made while ``call`` ran in a worker thread."""
    counter = [0]
    seen = {}
    started = threading.Event()
    done = threading.Event()

    def worker():
        started.set()
        before = counter[0]
        call()
        seen["during"] = counter[0] - before
        done.set()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    while not done.is_set():
        counter[0] += 1
    t.join()
    return seen["during"]


@pytest.mark.skipif(not getattr(sys, "_is_gil_enabled", lambda: True)(), reason="free-threaded build: no GIL")
def test_train_releases_the_gil(rng):
    W, X, Y = random_problem(rng, 200, 20, 4)
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        # Control: a builtin that keeps the GIL for its whole run (~tens of ms).
        control = _main_thread_progress_during(lambda: sum(range(3_000_000)))
        # A training of a few hundred ms (about 10^9 multiply-adds).
        trained = _main_thread_progress_during(
            lambda: gdfast.train(W, X, Y, num_iterations=60_000, learning_rate=1e-3, record_every=1000))
        swept = _main_thread_progress_during(
            lambda: gdfast.sweep(W, X, Y, learning_rates=[1e-3, 2e-3], num_iterations=30_000, record_every=1000,
                                 n_threads=2))
    finally:
        sys.setswitchinterval(old)
    print(f"main-thread iterations: control {control}, during train {trained}, during sweep {swept}")
    assert trained > 10 * control + 10_000, (control, trained)
    assert swept > 10 * control + 10_000, (control, swept)
