"""Parallel sweeps: results do not depend on the number of threads, and threads are really used.

Expected values come from plain ``gdfast.train`` calls (one run each, no OpenMP involved), compared
to the bit: a sweep runs each configuration on one thread with the same kernel, so nothing may
differ, whatever ``n_threads``.
"""
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _train
from gdfast.lesson import INPUT, TARGET, W1

from conftest import DTYPES, random_problem

LRS = np.logspace(-4, -1, 64)


def assert_same_run(res, ref):
    np.testing.assert_array_equal(res.W, ref.W)
    if ref.b is None:
        assert res.b is None
    else:
        np.testing.assert_array_equal(res.b, ref.b)
    np.testing.assert_array_equal(res.losses, ref.losses)
    np.testing.assert_array_equal(res.epoch_losses, ref.epoch_losses)
    assert res.loss == ref.loss or (np.isnan(res.loss) and np.isnan(ref.loss))
    assert (res.n_iter, res.status, res.diverged) == (ref.n_iter, ref.status, ref.diverged)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_lesson_sweep_equals_train_bitwise(dtype, n_threads):
    W, x, y = (np.asarray(a, dtype) for a in (W1, INPUT, TARGET))
    res = gdfast.sweep(W, x, y, learning_rates=LRS, num_iterations=300, record_every=7, n_threads=n_threads)
    assert len(res) == 64
    for lr, r in zip(LRS, res.results):
        assert_same_run(r, gdfast.train(W, x, y, learning_rate=lr, num_iterations=300, record_every=7))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_configs_equal_train_for_1_and_2_threads(dtype, rng):
    """Mini-batches with shuffling, Adam, losses, intercepts, BLAS-sized full batches, divergence."""
    W, X, Y = random_problem(rng, 30, 9, 5, dtype)  # 30*9*5 = 1350 multiply-adds: the loops
    Wb, Xb, Yb = random_problem(rng, 256, 32, 32, dtype)  # 262144: the BLAS path
    configs = [
        {"learning_rate": 0.05},
        {"learning_rate": 0.05, "batch_size": 4, "seed": 3},
        {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 8, "seed": 11},
        {"loss": "huber", "huber_delta": 0.5, "learning_rate": 0.1, "schedule": "cosine"},
        {"loss": "mae", "learning_rate": 0.02, "grad_tol": 1e-3, "clip_norm": 1.0},
        {"learning_rate": 1e4},  # diverges
        {"learning_rate": 0.01, "batch_size": 7, "seed": 5, "n_iter_no_change": 2},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for data in ((W, X, Y), (Wb, Xb, Yb)):
            for fit_intercept in (False, True):
                sweeps = [gdfast.sweep(*data, configs=configs, num_iterations=120, fit_intercept=fit_intercept,
                                       n_threads=n) for n in (1, 2)]
                for k, cfg in enumerate(configs):
                    ref = gdfast.train(*data, num_iterations=120, fit_intercept=fit_intercept, **cfg)
                    assert_same_run(sweeps[0].results[k], ref)
                    assert_same_run(sweeps[1].results[k], ref)
                assert sweeps[0].diverged[5]


@pytest.mark.skipif(not _train.have_openmp(), reason="built without OpenMP: sweeps run serially")
def test_n_threads_changes_the_number_of_threads():
    assert _train._threads_used(1) == 1
    assert _train._threads_used(2) == 2


def test_threads_used_without_openmp_is_one():
    if _train.have_openmp():
        assert _train.max_threads() >= 1
    else:
        assert _train._threads_used(2) == 1


def test_blas_thread_count_does_not_change_results(rng):
    """Large full batches go through BLAS dgemm; the kernels pin it to one thread, so the BLAS
    thread count (which makes OpenBLAS sum in another order at this size) changes no bit."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    W, X, Y = random_problem(rng, 1000, 300, 300)
    runs, grads = [], []
    for limit in (1, 2):
        with threadpoolctl.threadpool_limits(limits=limit, user_api="blas"):
            runs.append(gdfast.train(W, X, Y, learning_rate=0.05, num_iterations=2))
            grads.append(gdfast.mse_gradient(W, X, Y))
    assert_same_run(runs[1], runs[0])
    np.testing.assert_array_equal(grads[1], grads[0])
    swept = gdfast.sweep(W, X, Y, learning_rates=[0.05, 0.05], num_iterations=2, n_threads=2)
    for r in swept.results:
        assert_same_run(r, runs[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 4, 4), (7, 5, 3), (40, 30, 20)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_simple_sgd_loop_equals_the_general_loop(dtype, shape, fit_intercept, rng):
    """Plain full-batch SGD takes a specialised loop; n_iter_no_change (which never fires here)
    sends the same run through the general loop: every output must be identical."""
    W, X, Y = random_problem(rng, *shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for lr, n, every in ((0.01, 200, 1), (0.05, 333, 10), (1e3, 50, 3)):  # the last one diverges
            kw = dict(learning_rate=lr, num_iterations=n, record_every=every, fit_intercept=fit_intercept, seed=1)
            simple = gdfast.train(W, X, Y, **kw)
            general = gdfast.train(W, X, Y, n_iter_no_change=10**9, **kw)
            assert_same_run(simple, general)
            np.testing.assert_array_equal(simple.state.params, general.state.params)
            # all counters but the no-improvement count, all scalars but the best epoch loss (both
            # are kept only for the n_iter_no_change rule)
            keep = [f for f in simple.state.record.dtype.names if f not in ("no_improvement", "best_loss")]
            for f in keep:
                np.testing.assert_array_equal(simple.state.record[f], general.state.record[f], err_msg=f)
