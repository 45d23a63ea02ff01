"""A sweep run in pieces (several kernel calls, as a Dask task does to look for a cancel between
them) gives the same bits as one call: every run's state lives in arrays.

The oracle is a plain ``gdfast.train`` call per configuration (one run, one kernel call, no
OpenMP), compared to the bit.
"""
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _runs, sweeps

from conftest import DTYPES, random_problem

CONFIGS = [
    {"learning_rate": 0.05},  # plain full-batch SGD (the kernel's simple loop)
    {"learning_rate": 0.05, "batch_size": 4, "seed": 3},  # shuffled mini-batches
    {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 8, "seed": 11},
    {"loss": "huber", "huber_delta": 0.5, "learning_rate": 0.1, "schedule": "cosine"},
    {"loss": "mae", "learning_rate": 0.02, "grad_tol": 1e-3, "clip_norm": 1.0},
    {"learning_rate": 1e4},  # diverges: must not be continued after it stopped
    {"learning_rate": 0.01, "batch_size": 7, "seed": 5, "n_iter_no_change": 3, "loss_tol": 0.5},  # stops early
    {"learning_rate": 0.05, "grad_tol": 1.0},  # converges early
]
N_ITER = 120


def assert_same_run(res, ref):
    np.testing.assert_array_equal(res.W, ref.W)
    np.testing.assert_array_equal(res.b, ref.b)
    np.testing.assert_array_equal(res.losses, ref.losses)
    np.testing.assert_array_equal(res.epoch_losses, ref.epoch_losses)
    assert res.loss == ref.loss or (np.isnan(res.loss) and np.isnan(ref.loss))
    assert (res.n_iter, res.status, res.seed) == (ref.n_iter, ref.status, ref.seed)
    for field in ("params", "opt_state", "perm", "record"):  # (bytes: the record holds NaN fields)
        assert getattr(res.state, field).tobytes() == getattr(ref.state, field).tobytes(), field


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("updates_per_call", [1, 7, 50])
def test_a_sweep_in_pieces_equals_train_to_the_bit(dtype, n_threads, updates_per_call, rng):
    W, X, Y = random_problem(rng, 30, 9, 5, dtype)
    plan = sweeps._plan(W, X, Y, None, None, None, CONFIGS, None,
                        dict(num_iterations=N_ITER, record_every=3, fit_intercept=True, seed=0))
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        results = _runs.execute(plan.runs, plan.W, plan.X, plan.Y, None, None, n_threads,
                                between_calls=lambda: calls.append(1), updates_per_call=updates_per_call)
        refs = [gdfast.train(W, X, Y, num_iterations=N_ITER, record_every=3, fit_intercept=True,
                             **{"seed": 0, **cfg}) for cfg in CONFIGS]
    for res, ref in zip(results, refs):
        assert_same_run(res, ref)
    assert refs[5].diverged and refs[6].stopped_early and refs[7].converged
    # between_calls runs between two calls: as many pieces as the longest run needs, minus one
    assert len(calls) == -(-max(r.n_iter for r in refs) // updates_per_call) - 1


def test_between_calls_may_abandon_the_sweep(rng):
    W, X, Y = random_problem(rng, 30, 9, 5)
    plan = sweeps._plan(W, X, Y, [0.01, 0.02], None, None, None, None, dict(num_iterations=1000))

    def stop():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _runs.execute(plan.runs, plan.W, plan.X, plan.Y, None, None, 1, between_calls=stop,
                      updates_per_call=10)


def test_pieces_sized_by_time_give_the_same_bits(rng):
    """Without updates_per_call the pieces are sized from the time the previous call took."""
    W, X, Y = random_problem(rng, 50, 6, 3)
    kw = dict(num_iterations=30_000, batch_size=5, record_every=1000)
    plan = sweeps._plan(W, X, Y, [0.001, 0.002], [1], None, None, None, kw)
    results = _runs.execute(plan.runs, plan.W, plan.X, plan.Y, None, None, 1, between_calls=lambda: None)
    for lr, res in zip([0.001, 0.002], results):
        assert_same_run(res, gdfast.train(W, X, Y, learning_rate=lr, seed=1, **kw))
