"""``gdfast.sweep``'s bulk paths: runs validated, started and finished together where they can be.

A sweep plans, starts and finishes its runs in bulk (one validation per distinct set of options
but the learning rate and seed, one copy per start point, one gathered array per result field),
falling back to the run-by-run code for the rest (a failed check, a deprecated option name, a
diverged run, ``restore_best``, ``average``). These tests check each path against an independent
oracle (a NumPy hand loop of full-batch gradient descent on the mean squared error) and against
``gdfast.train`` (each run of a sweep equals it bit for bit, the documented contract), and that the
bulk results' arrays own no memory they share with each other, the inputs or the set's buffers.
"""
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _engine
from gdfast.lesson import INPUT, TARGET, W1
from test_sweep_basic import assert_bitwise_equal


def hand_gd(W, X, Y, lr, n):
    """n full-batch steps of W -= lr * d/dW mean((X @ W.T - Y)**2), and the loss before each."""
    W, X, Y = W.astype(np.float64).copy(), np.atleast_2d(X), np.atleast_2d(Y)  # (one sample: a row)
    losses = []
    for _ in range(n):
        R = X @ W.T - Y
        losses.append(np.mean(R**2))
        W -= lr * 2.0 * R.T @ X / R.size
    return W, np.array(losses), np.mean((X @ W.T - Y) ** 2)


def test_many_runs_follow_the_hand_loop():
    """300 learning rates (the bulk paths at scale): each run's W, losses and final loss are the hand
    loop's. Tolerance 1e-12 relative (plus 1e-14 absolute for losses near 0): the kernel sums in a
    different order than NumPy's BLAS, a few ulps per step over 12 steps; a learning rate 1% off moves
    W by ~1e-3 relative, so the test would fail."""
    lrs = np.logspace(-3, -1, 300)
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=lrs, num_iterations=12, n_threads=2)
    assert res.W.shape == (300, 4, 4)
    for lr, r in zip(lrs.tolist(), res.results):
        W, losses, loss = hand_gd(W1, INPUT, TARGET, lr, 12)
        np.testing.assert_allclose(r.W, W, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r.losses, losses, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r.loss, loss, rtol=1e-12, atol=1e-14)
        assert r.epoch_losses is r.losses  # a full batch: the same array, stored once
        assert (r.n_iter, r.status, r.best_step, r.state.step) == (12, "max_iter", 12, 12)
        assert np.isnan(r.grad_norm)
    off = hand_gd(W1, INPUT, TARGET, lrs[7] * 1.01, 12)[0]
    assert not np.allclose(res.results[7].W, off, rtol=1e-6, atol=0)


def test_the_oracle_can_fail():
    """The hand loop tells learning rates 1% apart (so the comparisons above can fail)."""
    a, b = hand_gd(W1, INPUT, TARGET, 0.01, 12)[0], hand_gd(W1, INPUT, TARGET, 0.0101, 12)[0]
    assert np.max(np.abs(a - b) / np.abs(a)) > 1e-4


@pytest.mark.parametrize("n_threads", [1, 2])
def test_bulk_and_run_by_run_results_mixed_in_one_sweep_equal_train(n_threads):
    """Plain runs (bulk), diverged full-batch and mini-batch runs, restore_best and average runs
    (run by run) in one sweep, in the configurations' order: each equals train with its options."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, 4))
    Y = X @ rng.standard_normal((4, 2)) + 0.1 * rng.standard_normal((30, 2))
    W0 = np.zeros((2, 4))
    configs = [{}, {"learning_rate": 5.0}, {"batch_size": 3, "learning_rate": 40.0}, {"restore_best": True},
               {"average": 3, "batch_size": 1, "num_epochs": 1}, {"batch_size": 6}, {"grad_tol": 1e-3}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (the diverged runs)
        res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.05], seeds=[3, 4], configs=configs,
                           num_iterations=25, fit_intercept=True, n_threads=n_threads)
        assert 0 < sum(r.diverged for r in res.results) < len(res)
        for cfg, r in zip(res.configs, res.results):
            length = {} if "num_epochs" in cfg else {"num_iterations": 25}  # (a run's own length replaces it)
            assert_bitwise_equal(r, gdfast.train(W0, X, Y, fit_intercept=True, **length, **cfg))


def test_bulk_results_share_no_memory_and_writing_one_leaves_the_others():
    W0 = W1.copy()
    res = gdfast.sweep(W0, INPUT, TARGET, learning_rates=[0.01, 0.02, 0.03], num_iterations=5, fit_intercept=True)
    fields = [[r.W, r.b, r.losses] for r in res.results]
    for i, a in enumerate(fields):
        for b in fields[i + 1:]:
            assert not any(np.shares_memory(x, y) for x in a for y in b)
        assert not any(np.shares_memory(x, y) for x in a for y in (W0, INPUT, TARGET))
        assert not np.shares_memory(a[0], a[1])  # W and b
        assert not any(np.shares_memory(x, res.results[i].state.params) for x in a)
    before = [r.W.copy() for r in res.results]
    res.results[1].W[:] = 7.0
    res.results[1].losses[:] = 7.0
    np.testing.assert_array_equal(res.results[0].W, before[0])
    np.testing.assert_array_equal(res.results[2].W, before[2])
    assert not (res.results[0].losses == 7.0).any() and not (res.results[2].losses == 7.0).any()
    np.testing.assert_array_equal(W0, W1)


def test_runs_of_different_lengths_keep_their_own_histories():
    """Runs that record different numbers of losses (their own lengths, a grad_tol stop, which also
    records the forward pass that found convergence): each its own, the hand loop's (tolerances as above)."""
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01, 0.02],
                       configs=[{"num_iterations": 3}, {"num_iterations": 9}, {"grad_tol": 0.5}], num_iterations=400)
    for cfg, r in zip(res.configs, res.results):
        assert r.n_iter == cfg.get("num_iterations", r.n_iter)
        assert r.losses.size == r.n_iter + ("grad_tol" in cfg)
        np.testing.assert_allclose(r.losses, hand_gd(W1, INPUT, TARGET, cfg["learning_rate"], r.losses.size)[1],
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r.W, hand_gd(W1, INPUT, TARGET, cfg["learning_rate"], r.n_iter)[0],
                                   rtol=1e-12, atol=1e-14)
    assert res.results[2].converged and 9 < res.results[2].n_iter < 400


@pytest.mark.parametrize("bad, message", [
    (-1.0, "learning_rate must be > 0.0; got -1.0"), (float("nan"), "learning_rate must be finite; got nan"),
    (np.inf, "learning_rate must be finite; got inf"), (0.0, "learning_rate must be > 0.0; got 0.0"),
])
def test_a_bad_learning_rate_deep_in_a_long_array_is_refused_as_train_refuses_it(bad, message):
    lrs = np.logspace(-4, -1, 5000)
    lrs[4321] = bad
    with pytest.raises(ValueError) as sweep_error:
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=lrs, num_iterations=1)
    with pytest.raises(ValueError) as train_error:
        gdfast.train(W1, INPUT, TARGET, learning_rate=bad, num_iterations=1)
    assert str(sweep_error.value) == str(train_error.value) == message


def test_the_first_bad_run_names_its_first_bad_option():
    """Run by run, in the configurations' order, each run's overrides in their order (as always)."""
    with pytest.raises(ValueError, match="seed must be >= 0; got -5"):
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.1, -1.0], seeds=[-5])
    with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
        gdfast.sweep(W1, INPUT, TARGET, configs=[{"optimizer": "nope", "learning_rate": -0.1}])
    with pytest.raises(ValueError, match="learning_rate must be > 0.0; got -0.1"):
        gdfast.sweep(W1, INPUT, TARGET, configs=[{"learning_rate": 0.1}, {"learning_rate": -0.1, "optimizer": "nope"}])
    with pytest.raises(TypeError, match="seed must be an integer; got bool True"):
        gdfast.sweep(W1, INPUT, TARGET, seeds=[True])


def test_integer_learning_rates_and_numpy_seeds_are_taken_as_train_takes_them():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (learning rate 1 diverges on the lesson's problem)
        res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[1], seeds=np.array([2**64 - 1], dtype=np.uint64),
                           num_iterations=3)
        assert res.configs == [{"learning_rate": 1, "seed": 2**64 - 1}]
        assert type(res.results[0].seed) is int and res.results[0].seed == 2**64 - 1
        assert_bitwise_equal(res.results[0], gdfast.train(W1, INPUT, TARGET, learning_rate=1.0, seed=2**64 - 1,
                                                          num_iterations=3))


def test_a_deprecated_option_in_configs_warns_once_per_run():
    with pytest.warns(DeprecationWarning) as record:
        res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01, 0.02], configs=[{"tol": 1e-9}],
                           num_iterations=3)
    assert sum(issubclass(w.category, DeprecationWarning) for w in record) == 2
    assert all(r.n_iter == 3 for r in res.results)


def test_seeds_left_to_chance_differ_and_each_run_replays_with_its_seed():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((12, 3))
    Y = X @ rng.standard_normal((3, 1))
    res = gdfast.sweep(np.zeros((1, 3)), X, Y, learning_rates=np.full(50, 0.01), batch_size=2, num_epochs=2)
    seeds = [r.seed for r in res.results]
    assert len(set(seeds)) == 50 and all(type(s) is int and 0 <= s < 2**64 for s in seeds)
    for r in res.results[:5]:
        assert_bitwise_equal(r, gdfast.train(np.zeros((1, 3)), X, Y, learning_rate=0.01, batch_size=2, num_epochs=2,
                                             seed=r.seed))


def test_with_learning_rate_and_seed_is_with_overrides():
    base = _engine.TrainOptions.from_kwargs(optimizer="adam", num_epochs=3, batch_size=4)
    for lr, seed in [(0.5, None), (2, 7), (np.float32(0.25), np.uint64(2**64 - 1)), (1e-300, 0)]:
        fast, slow = base.with_learning_rate_and_seed(lr, seed), base.with_overrides(learning_rate=lr, seed=seed)
        assert vars(fast) == vars(slow)
        assert type(fast.learning_rate) is float and (seed is None or type(fast.seed) is int)
    for lr, seed in [(-1.0, 1), (float("nan"), 1), ("0.1", 1), (True, 1), (0.1, -1), (0.1, 1.0), (0.1, 2**64)]:
        with pytest.raises((TypeError, ValueError)) as fast_error:
            base.with_learning_rate_and_seed(lr, seed)
        with pytest.raises((TypeError, ValueError)) as slow_error:
            base.with_overrides(learning_rate=lr, seed=seed)
        assert (type(fast_error.value), str(fast_error.value)) == (type(slow_error.value), str(slow_error.value))


def test_a_family_of_runs_shares_one_options_object_and_each_run_keeps_its_rate_and_seed():
    """A planned run's own options (its family's with its learning rate and seed) are the options
    train would take for that run, made here from the keywords alone; the runs of one family (the
    same other options) hold one options object."""
    from gdfast import sweeps

    lrs, seeds = [0.001, 0.01, 2], [3, 4]
    configs = [{"optimizer": "adam"}, {"batch_size": 1}, {"optimizer": "adam", "learning_rate": 0.5}]
    plan = sweeps._plan(W1, INPUT, TARGET, lrs, seeds, None, configs, None, {"num_iterations": 7}, None)
    assert len(plan.runs) == len(lrs) * len(seeds) * len(configs)
    for run, override in zip(plan.runs, plan.configs):
        own = run.shared_options.with_learning_rate_and_seed(run.learning_rate, run.seed_option)
        expected = _engine.TrainOptions.from_kwargs(num_iterations=7, **override)
        assert vars(own).keys() == vars(expected).keys()
        for name, value in vars(expected).items():
            got = vars(own)[name]
            assert type(got) is type(value) and (got == value or vars(got) == vars(value)), name
        assert (run.seed, run.n_steps, run.start) == (override["seed"], 7, None)
    # one options object per family: each config's runs share one (adam's two configs differ in the
    # learning rate alone, so they are one family)
    assert len({id(run.shared_options) for run in plan.runs}) == 2
    # a plan without options to share (the run-by-run path: a deprecated name) gives each run its own
    with pytest.warns(DeprecationWarning):
        plan = sweeps._plan(W1, INPUT, TARGET, [0.1, 0.2], None, None, [{"tol": 0.0}],
                            None, {}, None)
    assert [run.learning_rate for run in plan.runs] == [0.1, 0.2]


def test_new_records_are_new_record_stacked():
    seeds = [0, 1, 2**63, 2**64 - 1]
    records = _engine.new_records(seeds)
    expected = np.empty(4, dtype=records.dtype)
    for i, s in enumerate(seeds):
        expected[i] = _engine.new_record(s)
    assert records.tobytes() == expected.tobytes()
    assert records["rng"].tolist() == seeds and records["best_step"].tolist() == [-1] * 4


@pytest.mark.parametrize("n_starts", [1, 3, 12])
@pytest.mark.parametrize("pad_rows", [False, True])
def test_a_stack_from_a_few_arrays_is_np_stack_of_the_indexed_arrays(n_starts, pad_rows):
    rng = np.random.default_rng(n_starts)
    shape = (9,) if pad_rows else (2, 5)
    arrays = [rng.standard_normal(shape) for _ in range(n_starts)]
    index = rng.integers(0, n_starts, 40).tolist()
    out = _engine._stack(arrays, np.float64, aligned=True, pad_rows=pad_rows, index=index)
    assert out.ctypes.data % 64 == 0
    np.testing.assert_array_equal(out[:, : shape[0]], np.stack([arrays[i] for i in index]))
    if pad_rows:
        assert not out[:, shape[0]:].any()


def test_a_one_output_sweep_with_diverged_runs_equals_train_and_the_hand_loop():
    """1-D W (results drop the outputs' axis), bulk and diverged runs mixed; the kept runs follow the
    hand loop (tolerances as above) and every run equals train with a 1-D W."""
    lrs = np.logspace(-3, 0.5, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (the diverged runs)
        res = gdfast.sweep(W1[0], INPUT, TARGET[0], learning_rates=lrs, num_iterations=10, fit_intercept=True)
        assert 0 < res.diverged.sum() < len(res)
        for lr, r in zip(lrs.tolist(), res.results):
            assert r.W.shape == (4,) and r.b.shape == ()
            assert_bitwise_equal(r, gdfast.train(W1[0], INPUT, TARGET[0], learning_rate=lr, num_iterations=10,
                                                 fit_intercept=True, seed=r.seed))
    for lr, r in zip(lrs.tolist(), res.results):
        if not r.diverged:
            X = np.append(INPUT, 1.0)  # (the bias as a weight on a constant feature)
            W, losses, loss = hand_gd(np.append(W1[0], 0.0)[None], X, TARGET[:1], lr, 10)
            np.testing.assert_allclose(np.append(r.W, r.b), W[0], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.losses, losses, rtol=1e-12, atol=1e-14)


def test_kernel_configs_give_each_run_its_learning_rate_and_work_out_the_rest_once_per_dict():
    a = _engine.TrainOptions.from_kwargs(learning_rate=0.5).kernel_config(3)
    b = _engine.TrainOptions.from_kwargs(learning_rate=0.5, batch_size=2).kernel_config(3)
    configs = _engine.KernelConfigs([a, a, b, a], np.array([0.1, 0.2, 0.3, 0.4]))
    assert len(configs) == 4
    for r, (base, lr) in enumerate([(a, 0.1), (a, 0.2), (b, 0.3), (a, 0.4)]):
        assert configs[r] == dict(base, learning_rate=lr) and configs[r] is not base
    assert configs[1:3] == [dict(a, learning_rate=0.2), dict(b, learning_rate=0.3)]
    assert a["learning_rate"] == b["learning_rate"] == 0.5  # (the shared dicts are left as they are)
    calls = []

    def batch_size(c):
        calls.append(c["batch_size"])
        return c["batch_size"]

    assert configs.per_run(batch_size, np.int64).tolist() == [a["batch_size"]] * 2 + [2, a["batch_size"]]
    assert sorted(calls) == sorted([a["batch_size"], 2])  # once per distinct dict
    full = _engine.KernelConfigs.of([dict(a, learning_rate=0.1), dict(b, learning_rate=0.3)])
    assert full.learning_rates.tolist() == [0.1, 0.3] and _engine.KernelConfigs.of(full) is full
    with pytest.raises(ValueError, match="one learning rate per config"):
        _engine.KernelConfigs([a], np.ones(2))
    distinct, index = _engine.identity_index([a, b, a, a, b])
    assert distinct[0] is a and distinct[1] is b and len(distinct) == 2 and index.tolist() == [0, 1, 0, 0, 1]
