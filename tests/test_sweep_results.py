"""``SweepResult``'s stacked fields (``W``, ``b``, ``loss``, ``n_iter``, ``converged``, ``diverged``,
``losses``, ``to_records``) and its ``results`` sequence, whose TrainResults are made when first asked for.

The oracle is a hand loop of plain ``gdfast.train`` calls (``train`` finishes a run by itself, through
``finish``, not through the sweep's bulk path), stacked here with NumPy; the runs mix plain ones
with those the bulk path hands to ``finish`` one by one (diverged, ``restore_best``, ``average``).
"""
import warnings

import numpy as np
import pytest

import gdfast
from conftest import random_problem

FIELDS = ["W", "b", "loss", "n_iter", "converged", "diverged"]


@pytest.fixture(scope="module")
def data():
    return random_problem(np.random.default_rng(5), 20, 4, 2, noise=0.2)


def trains(W0, X, Y, res, shared):
    """The sweep's runs as plain train calls, one by one (warnings of diverging runs silenced)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for cfg in res.configs:
            out.append(gdfast.train(W0, X, Y, **{**shared, **cfg}))
    return out


def assert_stacks_equal(res, alone):
    for name in FIELDS:
        values = [getattr(r, name) for r in alone]
        if name == "b" and values[0] is None:
            assert res.b is None
            continue
        got, want = getattr(res, name), np.array(values)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert got.tobytes() == want.tobytes(), name
    # the padded loss histories
    want = np.full((len(alone), max(r.losses.size for r in alone)), np.nan)
    for i, r in enumerate(alone):
        want[i, : r.losses.size] = r.losses
    assert res.losses.tobytes() == want.tobytes()
    assert res.to_records() == [
        {**cfg, "loss": r.loss, "n_iter": r.n_iter, "converged": r.converged, "diverged": r.diverged,
         "status": r.status} for cfg, r in zip(res.configs, alone)]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("vector", [False, True])
def test_stacked_fields_equal_a_hand_loop_of_train_calls(data, fit_intercept, vector):
    W0, X, Y = data
    if vector:  # a one-output model given a 1-D W
        W0, Y = W0[0], Y[:, 0]
    # plain runs, diverging ones (the largest rates), restore_best and average: the bulk path and finish
    configs = [{}, {"restore_best": True}, {"average": True, "batch_size": 1}, {"batch_size": 4}]
    shared = dict(num_iterations=40, fit_intercept=fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.05, 3.0, 40.0], configs=configs, seeds=[7], **shared)
    alone = trains(W0, X, Y, res, shared)
    assert res.diverged.any() and not res.diverged.all()  # (both kinds of run are here)
    assert_stacks_equal(res, alone)
    # the stacked fields are new arrays: writing into one changes no result
    W = res.W
    W[...] = 0.0
    assert not np.array_equal(res.results[0].W, W[0])
    assert np.array_equal(res.results[0].W, alone[0].W)


def test_results_are_made_when_asked_for_and_then_kept(data):
    W0, X, Y = data
    res = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.02, 0.03], seeds=[3], num_iterations=10)
    results = res.results
    assert len(results) == 3
    first = results[0]
    assert results[0] is first and results[-3] is first  # made once, then the same object
    assert results[-1] is results[2]
    assert all(a is b for a, b in zip(results[1:], [results[1], results[2]])) and len(results[1:]) == 2
    assert len(results[::2]) == 2 and results[::2][1] is results[2]
    assert list(results) == [results[0], results[1], results[2]]
    # equal to the list of its results (a Dask sweep's results are such a list), and so are the SweepResults
    assert results == list(results) and list(results) == results
    assert res == gdfast.SweepResult(configs=res.configs, results=list(results))
    other = gdfast.sweep(W0, X, Y, learning_rates=[0.01, 0.02, 0.031], seeds=[3], num_iterations=10)
    assert results != other.results and res != other
    with pytest.raises(IndexError, match="out of range"):
        results[3]
    with pytest.raises(IndexError, match="out of range"):
        results[-4]
    alone = trains(W0, X, Y, res, dict(num_iterations=10))
    for a, b in zip(results, alone):
        assert a.W.tobytes() == b.W.tobytes() and a.losses.tobytes() == b.losses.tobytes()
        assert a.state.record.tobytes() == b.state.record.tobytes()
