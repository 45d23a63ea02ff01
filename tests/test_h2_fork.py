"""A sweep in a process forked after a multi-threaded sweep ran in its parent.

GNU libgomp's worker threads do not survive a fork, and the child's next parallel region used to
wait for them forever. A forked child must finish (serially, with one RuntimeWarning saying how to
get threads back), with the same results as the parent's threaded sweep. The pool has a timeout and
is terminated, so a regression fails this test instead of hanging the suite.
"""
import multiprocessing
import os
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _train
from gdfast.lesson import INPUT, TARGET, W1

from conftest import ATOL_LOOP, RTOL_LOOP

LRS = [0.01, 0.02, 0.03, 0.05]
N_ITER = 200
TIMEOUT_S = 60  # a serial sweep of 4 x 200 updates takes milliseconds; a hang never ends

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python >= 3.12 warns about forking a multi-threaded process: that is the case under test.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


def _sweeps_in_child():
    """Runs in the forked child: three sweeps (default, 2 and 1 threads) and the warnings seen."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the one-time rule must be gdfast's own, not the registry's
        results = [gdfast.sweep(W1, INPUT, TARGET, learning_rates=LRS, num_iterations=N_ITER, n_threads=n).W
                   for n in (None, 2, 1)]
    warned = [(w.category, str(w.message)) for w in caught]
    return results, _train.openmp_forked(), warned


def _run_in_fork(fn):
    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        return pool.apply_async(fn).get(timeout=TIMEOUT_S)
    finally:
        pool.terminate()
        pool.join()


def hand_loop(lr):
    """Oracle: plain gradient descent on the mean squared error, written out with NumPy."""
    W = np.array(W1, dtype=np.float64)
    x = np.asarray(INPUT, dtype=np.float64)[None, :]
    y = np.asarray(TARGET, dtype=np.float64)[None, :]
    for _ in range(N_ITER):
        W = W - lr * (2.0 / y.size) * (x @ W.T - y).T @ x
    return W


@pytest.mark.skipif(not _train.have_openmp(), reason="built without OpenMP: no thread pool to lose")
def test_sweep_in_a_forked_child_finishes_serially_with_one_warning():
    parent = gdfast.sweep(W1, INPUT, TARGET, learning_rates=LRS, num_iterations=N_ITER, n_threads=2)
    assert _train._threads_used(2) == 2  # OpenMP's thread pool now runs threads in this process
    results, forked, warned = _run_in_fork(_sweeps_in_child)
    assert forked
    for W in results:  # each run is computed by one thread: serial and threaded agree to the bit
        np.testing.assert_array_equal(W, parent.W)
    for lr, W in zip(LRS, parent.W):
        np.testing.assert_allclose(W, hand_loop(lr), rtol=RTOL_LOOP[np.dtype(np.float64)],
                                   atol=ATOL_LOOP[np.dtype(np.float64)])
    assert len(warned) == 1, warned
    category, message = warned[0]
    assert category is RuntimeWarning
    assert "runs serially" in message and "forked" in message
    assert "spawn" in message and "forkserver" in message
    # The parent itself keeps its threads.
    assert not _train.openmp_forked()
    assert _train._threads_used(2) == 2


def _fork_state_in_child():
    return _train.openmp_forked(), _train.take_fork_warning()


def test_a_child_of_a_process_that_never_ran_openmp_threads_keeps_them(monkeypatch):
    # (e.g. the processes of a "forkserver", forked from a server that imported gdfast but never
    # ran a sweep): nothing to lose, no warning.
    monkeypatch.setattr(_train, "_openmp_started", False)
    assert _run_in_fork(_fork_state_in_child) == (False, False)
