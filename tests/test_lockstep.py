"""Runs in lockstep: sweeps of plain SGD whose runs differ only in their learning rate advance
together, vectorised across runs (src/_train.pyx, ``lockstep_sgd``). Each run must still end with
the bits of the same run trained alone (``gdfast.train``, the scalar loop, itself checked against
torch and hand loops elsewhere): every array of the result and of its state, every counter."""
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import _engine, _train
from gdfast.lesson import INPUT, TARGET, W1

LRS = [0.001, 0.01, 0.05, 0.1, 0.3, 1.0, 3.0, 30.0, 1e3]  # the last ones diverge, at different updates


def same_run(a, b):
    assert a.W.tobytes() == b.W.tobytes()
    assert (a.b is None) == (b.b is None) and (a.b is None or a.b.tobytes() == b.b.tobytes())
    assert a.losses.tobytes() == b.losses.tobytes() and a.epoch_losses.tobytes() == b.epoch_losses.tobytes()
    assert (a.n_iter, a.status, a.best_step) == (b.n_iter, b.status, b.best_step)
    for name in ("params", "opt_state", "perm", "record"):
        assert getattr(a.state, name).tobytes() == getattr(b.state, name).tobytes(), name


def problem(case, dtype):
    rng = np.random.default_rng(case)
    if case == 0:
        return W1.astype(dtype), INPUT.astype(dtype)[None, :], TARGET.astype(dtype)[None, :]  # one sample
    n, f, o = {1: (50, 3, 2), 2: (7, 20, 3), 3: (30, 5, 1), 4: (12, 9, 2)}[case]
    X = rng.standard_normal((n, f)).astype(dtype)
    Y = rng.standard_normal((n, o)).astype(dtype)
    return np.zeros((o, f), dtype), X, Y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("options", [
    dict(),
    dict(fit_intercept=True, record_every=3),
    dict(batch_size=4, seeds=[5]),
    dict(batch_size=1, seeds=[2], fit_intercept=True),
    dict(batch_size=3, shuffle=False, record_every=2, seeds=[1]),
], ids=["full", "full-intercept-every3", "minibatch", "per-sample", "unshuffled"])
def test_every_run_in_lockstep_equals_train(task_sizes, dtype, case, options):
    W, X, Y = problem(case, dtype)
    options = dict(options)
    if options.get("batch_size", 0) > X.shape[0]:
        options["batch_size"] = X.shape[0]
    seeds = options.pop("seeds", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the diverging runs
        for n_threads in (1, 2):
            s = gdfast.sweep(W, X, Y, learning_rates=LRS, seeds=seeds, num_iterations=40, n_threads=n_threads,
                             **options)
            for lr, r in zip(LRS, s.results):
                same_run(r, gdfast.train(W, X, Y, learning_rate=lr, num_iterations=40, seed=r.seed, **options))
    assert max(max(g, default=1) for g in task_sizes) > 1  # the runs went in lockstep
    if case == 0 and not options:  # the lesson, full batch: the large rates blow up at different updates
        assert 0 < sum(r.diverged for r in s.results) < len(LRS)
        assert len({r.n_iter for r in s.results if r.diverged}) > 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", [1, 2, 3, 4])  # features 3, 20, 5, 9: 0, 5, 1 and 2 blocks of four
@pytest.mark.parametrize("options", [
    dict(fit_intercept=True, seeds=[3]),
    dict(batch_size=4, seeds=[5]),
    dict(batch_size=3, shuffle=False, fit_intercept=True, seeds=[1]),
], ids=["full-intercept", "minibatch", "unshuffled-intercept"])
@pytest.mark.parametrize("n_lanes", [5, "blocks+3"])
def test_lanes_in_register_blocks_and_the_lanes_left_over_equal_train(task_sizes, dtype, case, options, n_lanes):
    # lockstep_sgd sums _train.lane_block() lanes at a time in registers and the lanes past the last
    # whole block in memory: a sweep of whole blocks and 3 more lanes (one thread: one task of them
    # all, or with 64-lane blocks a task of one block and one of 3 lanes), and one of fewer lanes
    # than a block, each lane still bit for bit the run alone
    block, most = _train.lane_block(), _engine.LOCKSTEP_LANES
    assert block in (16, 32, 64)  # 8 vector registers of two, four or eight doubles
    L = max(1, (most - 3) // block) * block + 3 if n_lanes == "blocks+3" else n_lanes
    # the large rates diverge (at different updates), in the blocks and past them
    lrs = list(np.random.default_rng(L).permutation(np.geomspace(1e-3, 1e8, L)))
    W, X, Y = problem(case, dtype)
    options = dict(options)
    seeds = options.pop("seeds", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the diverging runs
        alone = [gdfast.train(W, X, Y, learning_rate=lr, num_iterations=30, seed=seeds[0], **options) for lr in lrs]
        for n_threads in (1, 2):  # (two threads: a task of about half the lanes each)
            s = gdfast.sweep(W, X, Y, learning_rates=lrs, seeds=seeds, num_iterations=30, n_threads=n_threads,
                             **options)
            for a, r in zip(alone, s.results):
                same_run(r, a)
    assert max(max(g, default=1) for g in task_sizes) == min(L, most)  # the runs went in lockstep, in one task if they can
    diverged = [r.diverged for r in s.results]
    assert 0 < sum(diverged[:L - L % block]) < L - L % block or L < block
    assert 0 < sum(diverged) < L


def test_a_sweep_continued_in_pieces_goes_in_lockstep_and_equals_train(task_sizes):
    W, X, Y = problem(1, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s = gdfast.sweep(W, X, Y, learning_rates=LRS, seeds=[3], batch_size=8, num_iterations=57, n_threads=2)
        pieces = _engine.RunSet.of([_engine.TrainState.new(W, None, X.shape[0],
                                                           _engine.TrainOptions.from_kwargs(learning_rate=lr,
                                                                                            batch_size=8, seed=3),
                                                           3) for lr in LRS],
                                   [_engine.TrainOptions.from_kwargs(learning_rate=lr, batch_size=8, seed=3,
                                                                     num_iterations=57).kernel_config(X.shape[0])
                                    for lr in LRS],
                                   [(60, 60)] * len(LRS), X.shape[0])
        pieces.run(X, Y, None, [57] * len(LRS), 2, between_calls=lambda: None, updates_per_call=5)
    assert sum(1 for g in task_sizes if g and max(g) > 1) >= 11  # 57 updates in pieces of 5, in lockstep
    for r, result in enumerate(s.results):
        state = pieces.state(r, 2, copy=True)
        assert state.params.tobytes() == result.state.params.tobytes()
        assert state.record["step"] == result.state.record["step"]


def test_runs_that_differ_in_more_than_the_learning_rate_go_alone(task_sizes):
    W, X, Y = problem(3, np.float64)
    gdfast.sweep(W, X, Y, configs=[{"optimizer": "adam"}, {"optimizer": "adam", "learning_rate": 0.1}],
                 num_iterations=5)
    gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.02], batch_size=5, num_iterations=5)  # two drawn seeds
    gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.02], sample_weight=np.ones(X.shape[0]), num_iterations=5)
    gdfast.sweep(W, X, Y, configs=[{"loss": "huber"}, {"loss": "huber", "learning_rate": 0.5}], num_iterations=5)
    assert all(not g for g in task_sizes)


def test_the_kernel_checks_its_task_arguments():
    W, X, Y = problem(3, np.float64)
    runs = _engine.RunSet.of([_engine.TrainState.new(W, None, X.shape[0], _engine.TrainOptions.from_kwargs(), 0)],
                             [_engine.TrainOptions.from_kwargs().kernel_config(X.shape[0])], [(5, 5)], X.shape[0])
    args = (runs.kernel_configs.shared, X, Y, None, False, runs.records, runs.params, runs.opt_state, runs.perm,
            runs.history, runs.epoch_history, np.ones(1, dtype=np.int64), 1, None)
    with pytest.raises(ValueError, match="order"):
        _train.advance_runs(*args, np.zeros(1, dtype=np.intp), None)
    with pytest.raises(ValueError, match="add up"):
        _train.advance_runs(*args, np.zeros(1, dtype=np.intp), np.array([2], dtype=np.intp))
    with pytest.raises(ValueError, match="out of range"):
        _train.advance_runs(*args, np.array([3], dtype=np.intp), np.array([1], dtype=np.intp))
    with pytest.raises(ValueError, match="learning_rates needs one entry per config"):
        _train.advance_runs(*args, learning_rates=np.ones(2))


def hand_tasks(runs, n_samples, steps, n_threads, plain):
    """The grouping rule of ``RunSet.lockstep_tasks``, as a loop over the runs: ``plain[r]`` says
    whether run r's config takes the lockstep path (the test's own list); groups keyed by config
    less the learning rate, updates to do, the shared record fields, sample order and generator."""
    groups, alone = {}, []
    for r in range(len(steps)):
        c = runs.kernel_configs[r]
        if not plain[r] or steps[r] <= 0:
            alone.append(r)
            continue
        full_batch = c["batch_size"] >= n_samples and not c["shuffle"]
        key = (tuple((k, v) for k, v in c.items() if k != "learning_rate"), steps[r],
               tuple(int(runs.records[r][f]) for f in _engine.LOCKSTEP_SHARED),
               None if full_batch else runs.perm[r, :n_samples].tobytes(),
               int(runs.records[r]["rng"]) if c["shuffle"] and not full_batch else None)
        groups.setdefault(key, []).append(r)
    if all(len(g) < 2 for g in groups.values()):
        return None, None
    order, sizes = [], []
    for g in groups.values():
        per_task = max(1, min(_engine.LOCKSTEP_LANES, -(-len(g) // n_threads)))
        for i in range(0, len(g), per_task):
            order += g[i:i + per_task]
            sizes.append(len(g[i:i + per_task]))
    return order + alone, sizes + [1] * len(alone)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_lockstep_tasks_group_runs_as_a_loop_over_the_runs_does(n_threads):
    # Runs of several kinds, interleaved: mini-batches from two seeds (two sample orders and
    # generators), a full batch, Adam (alone), mini-batches in order from two sample orders (kinds 4
    # and 5: a state continued from another order), a run with no update to do, other lengths, and a
    # group larger than LOCKSTEP_LANES (cut into tasks).
    W, X, Y = problem(1, np.float64)
    n = X.shape[0]
    kinds = [dict(batch_size=8, seed=3), dict(batch_size=8, seed=4), dict(seed=3), dict(optimizer="adam", seed=3),
             dict(batch_size=8, seed=3, shuffle=False), dict(batch_size=8, seed=3, shuffle=False)]
    runs_of = []  # (kind, steps)
    for i in range(200):
        kind = [0, 1, 0, 2, 3, 0, 4, 2, 1, 0][i % 10] if i % 7 else 5
        runs_of.append((kind, 0 if i == 17 else 9 if i % 25 == 3 else 10))
    starts, configs, plain = [], [], []
    for i, (kind, _) in enumerate(runs_of):
        options = _engine.TrainOptions.from_kwargs(learning_rate=0.001 * (i + 1), num_iterations=10, **kinds[kind])
        starts.append(_engine.TrainState.new(W, None, n, options, options.seed))
        if kind == 5:
            starts[-1].perm[:] = starts[-1].perm[::-1].copy()
        configs.append(options.kernel_config(n))
        plain.append(kind != 3)
    runs = _engine.RunSet.of(starts, configs, [(11, 11)] * len(starts), n)
    steps = np.array([s for _, s in runs_of], dtype=np.int64)
    order, sizes = runs.lockstep_tasks(X, Y, None, steps, n_threads)
    want_order, want_sizes = hand_tasks(runs, n, steps.tolist(), n_threads, plain)
    assert order.tolist() == want_order and sizes.tolist() == want_sizes
    assert n_threads > 1 or _engine.LOCKSTEP_LANES in want_sizes  # (kind 0: a group of more than LOCKSTEP_LANES runs, cut)
    # Runs that share nothing: every run alone.
    lone = _engine.RunSet.of(starts[:2], configs[:2], [(11, 11)] * 2, n)  # kinds 0 and 1: two orders
    assert lone.lockstep_tasks(X, Y, None, steps[:2], n_threads) == (None, None)
