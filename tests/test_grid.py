"""gdfast.grid, SweepResult.to_dataframe and the sweep's distributed options, without a cluster."""
import sys

import numpy as np
import pytest

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

from conftest import random_problem

# On the lesson's problem (one sample x = [1, 2, 3, 4], MSE averaged over 4 outputs) the loss is a
# quadratic in W with largest Hessian eigenvalue 2 * |x|^2 / 4 = 15, so plain gradient descent
# diverges for learning_rate > 2 / 15 ~ 0.133 and converges below it.
DIVERGING_LR = 0.5
STABLE_LR = 0.05


def test_grid_is_the_cartesian_product_last_keyword_fastest():
    configs = gdfast.grid(optimizer=["sgd", "adam"], learning_rate=[0.1, 0.01, 0.001], seed=[7])
    assert configs == [
        {"optimizer": "sgd", "learning_rate": 0.1, "seed": 7},
        {"optimizer": "sgd", "learning_rate": 0.01, "seed": 7},
        {"optimizer": "sgd", "learning_rate": 0.001, "seed": 7},
        {"optimizer": "adam", "learning_rate": 0.1, "seed": 7},
        {"optimizer": "adam", "learning_rate": 0.01, "seed": 7},
        {"optimizer": "adam", "learning_rate": 0.001, "seed": 7},
    ]


def test_grid_takes_arrays_ranges_and_optimizer_objects():
    configs = gdfast.grid(learning_rate=np.array([0.5, 0.25]), batch_size=range(1, 3),
                          optimizer=[gdfast.Adam(beta1=0.8)])
    assert len(configs) == 4
    assert [c["learning_rate"] for c in configs] == [0.5, 0.5, 0.25, 0.25]
    assert all(type(c["learning_rate"]) is float for c in configs)  # NumPy scalars became floats
    assert [c["batch_size"] for c in configs] == [1, 2, 1, 2]
    assert all(c["optimizer"] == gdfast.Adam(beta1=0.8) for c in configs)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({}, TypeError, "at least one option"),
        ({"learning_rate": 0.1}, TypeError, r"learning_rate must be a list"),
        ({"optimizer": "adam"}, TypeError, r"optimizer must be a list"),
        ({"learning_rate": []}, ValueError, "learning_rate must hold at least one value"),
        ({"learning_rate": np.ones((2, 2))}, ValueError, "1-D"),
        ({"learnig_rate": [0.1]}, TypeError, "unknown training option 'learnig_rate'"),
        ({"fit_intercept": [True, False]}, ValueError, "fit_intercept is shared"),
        ({"learning_rate": [0.1, -1.0]}, ValueError, "learning_rate"),
        ({"optimizer": ["sgd", "adamm"]}, ValueError, "adamm"),
        ({"batch_size": [0]}, ValueError, "batch_size"),
    ],
)
def test_grid_rejects_bad_input_naming_the_option(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gdfast.grid(**kwargs)


def test_sweep_over_a_grid_equals_one_train_call_per_config():
    W0, X, Y = random_problem(np.random.default_rng(3), 12, 3, 2)
    configs = gdfast.grid(optimizer=["sgd", "adam"], learning_rate=[0.02, 0.05], batch_size=[4, 12])
    res = gdfast.sweep(W0, X, Y, configs=configs, seed=5, num_iterations=40, n_threads=2)
    assert res.configs == configs
    for cfg, r in zip(configs, res.results):
        ref = gdfast.train(W0, X, Y, seed=5, num_iterations=40, **cfg)
        np.testing.assert_array_equal(r.W, ref.W)  # same kernel loop, one thread per run: bitwise
        np.testing.assert_array_equal(r.losses, ref.losses)
        assert r.loss == ref.loss


def test_to_records_and_to_dataframe_hold_each_rows_outcome():
    pd = pytest.importorskip("pandas", reason="to_dataframe needs pandas (pip install pandas)")
    configs = gdfast.grid(optimizer=["sgd", "adam"], learning_rate=[STABLE_LR, DIVERGING_LR])
    with pytest.warns(RuntimeWarning, match="1 of 4 runs diverged"):
        res = gdfast.sweep(W1, INPUT, TARGET, configs=configs, num_iterations=200, grad_tol=1e-6)
    df = res.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["optimizer", "learning_rate", "loss", "n_iter", "converged", "diverged",
                                "status"]
    assert df.to_dict("records") == res.to_records()
    # Only plain SGD with the too-large step diverges; the sweep still returns every row.
    assert df["diverged"].tolist() == [False, True, False, False]
    sgd_stable = df.iloc[0]
    assert sgd_stable["converged"] and sgd_stable["status"] == "converged" and sgd_stable["loss"] < 1e-10
    sgd_bad = df.iloc[1]
    assert sgd_bad["status"] == "diverged" and np.isfinite(sgd_bad["loss"]) and sgd_bad["n_iter"] < 200


def test_to_dataframe_without_pandas_says_what_to_install(monkeypatch):
    res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], num_iterations=3)
    monkeypatch.setitem(sys.modules, "pandas", None)  # "import pandas" now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        res.to_dataframe()
    assert res.to_records()[0]["learning_rate"] == 0.01


def test_client_without_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'gdfast\[dask\]'"):
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], client=object())


@pytest.mark.parametrize("option", ["chunk_size", "n_chunks", "retries"])
def test_distributed_options_need_a_client(option):
    with pytest.raises(TypeError, match=f"{option} only applies to a distributed sweep"):
        gdfast.sweep(W1, INPUT, TARGET, learning_rates=[0.01], **{option: 2})
