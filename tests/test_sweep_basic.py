"""``gdfast.sweep``: every run equals the plain ``gdfast.train`` call with the same options, bit for
bit and whatever the thread count; configurations come in the documented order."""
import itertools
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _train
from conftest import random_problem

RUN_COUNTERS = ["step", "current", "position", "epoch", "no_improvement", "rng"]


def assert_bitwise_equal(a, b):
    """Two TrainResults hold the same bits (weights, bias, histories, flags, state)."""
    assert a.W.dtype == b.W.dtype and a.W.tobytes() == b.W.tobytes()
    assert (a.b is None) == (b.b is None)
    if a.b is not None:
        assert a.b.tobytes() == b.b.tobytes()
    assert a.losses.tobytes() == b.losses.tobytes()
    assert a.epoch_losses.tobytes() == b.epoch_losses.tobytes()
    assert np.float64(a.loss).tobytes() == np.float64(b.loss).tobytes()
    assert (a.n_iter, a.status, a.converged, a.stopped_early, a.diverged, a.seed) == (
        b.n_iter, b.status, b.converged, b.stopped_early, b.diverged, b.seed)
    assert a.state.opt_state.tobytes() == b.state.opt_state.tobytes()
    assert [a.state.record[f] for f in RUN_COUNTERS] == [b.state.record[f] for f in RUN_COUNTERS]
    np.testing.assert_array_equal(a.state.perm, b.state.perm)


@pytest.fixture(scope="module")
def data():
    return random_problem(np.random.default_rng(31), 24, 6, 3, noise=0.3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_every_run_equals_train(data, n_threads, dtype):
    W0, X, Y = (a.astype(dtype) for a in data)
    starts = np.stack([W0, -W0, 0.5 * W0]).astype(dtype)
    configs = [
        {},
        {"optimizer": "adam", "learning_rate": 0.01},
        {"optimizer": gdfast.RMSprop(centered=True, momentum=0.5), "batch_size": 5, "num_iterations": 37},
        {"optimizer": gdfast.SGD(momentum=0.9, nesterov=True), "loss": "huber", "schedule": "cosine"},
        {"optimizer": gdfast.Adagrad(lr_decay=0.01), "batch_size": 1, "num_epochs": 2},
        {"batch_size": 7, "clip_norm": 0.1, "n_iter_no_change": 2, "loss_tol": 1e-2, "num_epochs": 30},
    ]
    shared = dict(num_iterations=60, fit_intercept=True, batch_size=8)
    lrs, seeds = [0.02, 0.005], [0, 2**64 - 1]
    res = gdfast.sweep(W0, X, Y, learning_rates=lrs, seeds=seeds, initial_weights=starts, configs=configs,
                       n_threads=n_threads, **shared)
    assert len(res) == len(lrs) * len(seeds) * len(starts) * len(configs)
    # The documented order: learning_rates x seeds x initial_weights x configs, the last fastest.
    expected = [{"learning_rate": lr, "seed": s, "initial_weights": i, **c}
                for lr, s, i, c in itertools.product(lrs, seeds, range(3), configs)]
    assert res.configs == expected
    for cfg, result in zip(res.configs, res.results):
        opts = {**shared, **cfg}
        start = starts[opts.pop("initial_weights")]
        if "num_epochs" in opts:
            opts.pop("num_iterations")
        assert_bitwise_equal(result, gdfast.train(start, X, Y, **opts))


def test_thread_count_does_not_change_the_bits(data):
    W0, X, Y = data
    kw = dict(learning_rates=np.geomspace(1e-3, 0.1, 7), seeds=[1, 2], num_iterations=200, batch_size=5,
              optimizer="adam", configs=[{}, {"num_iterations": 13}, {"optimizer": "sgd"}])
    a = gdfast.sweep(W0, X, Y, n_threads=1, **kw)
    b = gdfast.sweep(W0, X, Y, n_threads=2, **kw)
    c = gdfast.sweep(W0, X, Y, n_threads=5, **kw)  # more threads than runs per thread / cores
    for x, y, z in zip(a.results, b.results, c.results):
        assert_bitwise_equal(x, y)
        assert_bitwise_equal(x, z)


def test_openmp_really_runs_in_parallel():
    """scikit-image's caution: a build without OpenMP silently runs prange loops serially."""
    if not _train.have_openmp():
        pytest.skip("this build has no OpenMP (sweep runs serially and says so)")
    assert _train._threads_used(2) == 2


def test_configs_alone_and_defaults(data):
    W0, X, Y = data
    res = gdfast.sweep(W0, X, Y, configs=[{"learning_rate": 0.1, "seed": 0}, {"optimizer": "adamw", "seed": 1}],
                       num_iterations=30, n_threads=1)
    assert res.configs == [{"learning_rate": 0.1, "seed": 0}, {"optimizer": "adamw", "seed": 1}]
    assert_bitwise_equal(res.results[0], gdfast.train(W0, X, Y, learning_rate=0.1, seed=0, num_iterations=30))
    assert_bitwise_equal(res.results[1], gdfast.train(W0, X, Y, optimizer="adamw", seed=1, num_iterations=30))


def test_drawn_seeds_are_reported(data):
    W0, X, Y = data
    res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.02], batch_size=4, num_iterations=20, n_threads=2)
    for cfg, r in zip(res.configs, res.results):
        assert_bitwise_equal(r, gdfast.train(W0, X, Y, seed=r.seed, batch_size=4, num_iterations=20, **cfg))


def test_sweep_result_properties(data):
    W0, X, Y = data
    res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.05], configs=[{"num_iterations": 5}, {"num_iterations": 9}],
                       seeds=[0], n_threads=2, grad_tol=1e-300)
    runs = [gdfast.train(W0, X, Y, learning_rate=lr, num_iterations=n, seed=0, grad_tol=1e-300)
            for lr in (0.01, 0.05) for n in (5, 9)]
    assert len(res) == 4
    np.testing.assert_array_equal(res.W, np.stack([r.W for r in runs]))
    assert res.W.shape == (4, 3, 6)
    assert res.b is None
    np.testing.assert_array_equal(res.loss, [r.loss for r in runs])
    np.testing.assert_array_equal(res.n_iter, [5, 9, 5, 9])
    np.testing.assert_array_equal(res.converged, [False] * 4)
    np.testing.assert_array_equal(res.diverged, [False] * 4)
    # histories padded with NaN after a shorter run's end
    assert res.losses.shape == (4, 9)
    np.testing.assert_array_equal(res.losses[0, :5], runs[0].losses)
    assert np.isnan(res.losses[0, 5:]).all() and not np.isnan(res.losses[1]).any()
    records = res.to_records()
    assert records[3] == {"learning_rate": 0.05, "seed": 0, "num_iterations": 9, "loss": runs[3].loss, "n_iter": 9,
                          "converged": False, "diverged": False, "status": "max_iter"}
    with_bias = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.02], fit_intercept=True, num_iterations=3, n_threads=1)
    assert with_bias.b.shape == (2, 3)


def test_a_diverging_run_is_flagged_once(data):
    W0, X, Y = data
    with pytest.warns(RuntimeWarning, match=r"sweep: 1 of 2 runs diverged"):
        res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 1e3], num_iterations=300, seeds=[0], n_threads=2)
    np.testing.assert_array_equal(res.diverged, [False, True])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        alone = gdfast.train(W0, X, Y, learning_rate=1e3, num_iterations=300, seed=0)
    assert_bitwise_equal(res.results[1], alone)
    assert np.isfinite(res.W).all()


def test_sweep_does_not_modify_inputs(data):
    W0, X, Y = data
    starts = np.stack([W0, W0 + 1])
    keep = [a.copy() for a in (W0, X, Y, starts)]
    gdfast.sweep(W0, X, Y, initial_weights=starts, learning_rates=[0.1], num_iterations=5, n_threads=2)
    for a, b in zip(keep, (W0, X, Y, starts)):
        np.testing.assert_array_equal(a, b)


def test_a_runs_own_length_replaces_the_shared_one():
    """Documented: a config's num_iterations replaces a shared num_epochs (and the other way round);
    the fuzz's oracle once combined both into a train call that train refuses."""
    X = np.arange(12.0).reshape(6, 2) / 10
    Y = X @ np.array([[1.0], [-2.0]])
    W = np.zeros((1, 2))
    s = gdfast.sweep(W, X, Y, num_epochs=4, batch_size=2, seeds=[3],
                     configs=[{"num_iterations": 5}, {"learning_rate": 0.1}])
    assert [r.n_iter for r in s.results] == [5, 4 * 3]  # 5 updates; 4 epochs of 3 batches
    same = gdfast.train(W, X, Y, num_iterations=5, batch_size=2, seed=3)
    assert s.results[0].W.tobytes() == same.W.tobytes()
    s = gdfast.sweep(W, X, Y, num_iterations=7, batch_size=2, seeds=[3], configs=[{"num_epochs": 1}])
    assert s.results[0].n_iter == 3
