"""A sweep's final losses come from one kernel call for all runs (``RunSet.final_losses``): each
run's ``loss`` must be its own loss function on all samples at its final weights. The oracle is
written here in NumPy (torch's MSELoss / L1Loss / HuberLoss definitions, mean over samples and
outputs), sharing nothing with the kernel."""
import numpy as np
import pytest

import gdfast


def numpy_loss(kind, W, b, X, Y, delta):
    R = X @ W.T - Y if b is None else X @ W.T + b - Y
    if kind == "mse":
        terms = R ** 2
    elif kind == "mae":
        terms = np.abs(R)
    else:
        a = np.abs(R)
        terms = np.where(a <= delta, 0.5 * R ** 2, delta * (a - 0.5 * delta))
    return terms.mean()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_each_run_reports_its_own_loss_function(dtype, fit_intercept):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5)).astype(dtype)
    Y = rng.normal(size=(40, 3)).astype(dtype)
    W = np.zeros((3, 5), dtype=dtype)
    configs = [{"loss": "mse"}, {"loss": "mae"}, {"loss": "huber", "huber_delta": 0.3},
               {"loss": "huber", "huber_delta": 2.0}, {"loss": "mse", "batch_size": 8}]
    res = gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.05], configs=configs, num_iterations=30,
                       fit_intercept=fit_intercept, seeds=[1])
    assert len(res) == 2 * len(configs)
    # float64: the kernel sums in a different order than NumPy (a few ulps of the mean); float32
    # data and weights are summed in double by the kernel, in float32 pairwise by NumPy (eps32).
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for config, result in zip(res.configs, res.results):
        kind = config.get("loss", "mse")
        expected = numpy_loss(kind, result.W.astype(np.float64), None if result.b is None else result.b.astype(np.float64),
                              X.astype(np.float64), Y.astype(np.float64), config.get("huber_delta", 1.0))
        assert result.loss == pytest.approx(expected, rel=rtol), (config, result.loss, expected)


def test_final_losses_refuses_mismatched_buffers():
    from gdfast import _train
    X = np.ones((4, 2))
    Y = np.ones((4, 1))
    with pytest.raises(ValueError, match="one entry per row"):
        _train.dataset_losses(np.zeros(2, dtype=np.intc), np.zeros(2), np.zeros(2, dtype=np.intc), X, Y, None, False, np.zeros((1, 2)),
                              np.empty(4), np.empty(1))
    with pytest.raises(ValueError, match="too short"):
        _train.dataset_losses(np.zeros(1, dtype=np.intc), np.zeros(1), np.zeros(1, dtype=np.intc), X, Y, None, False, np.zeros((1, 1)),
                              np.empty(4), np.empty(1))


def test_result_states_are_independent_of_each_other():
    """Each run's state is a view of its own rows of the set's arrays: writing one run's state
    leaves every other run's state and result as it was, and continuing a run from its state
    equals one longer run (the continuation copies the state)."""
    from gdfast.lesson import INPUT, TARGET, W1
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.001, 0.01, 0.02], num_iterations=20)
    before = [r.state.params.copy() for r in res.results]
    W_before = res.W.copy()
    res.results[1].state.params[...] = 123.0
    res.results[1].state.opt_state[...] = 7.0
    for r in (0, 2):
        np.testing.assert_array_equal(res.results[r].state.params, before[r])
    np.testing.assert_array_equal(res.results[0].W, W_before[0])
    continued = gdfast.train(res.results[2].W, INPUT, TARGET, learning_rate=0.02, num_iterations=10,
                             state=res.results[2].state)
    longer = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=30)
    np.testing.assert_array_equal(continued.W, longer.W)
    np.testing.assert_array_equal(res.results[2].state.params, before[2])  # the continuation copied it
