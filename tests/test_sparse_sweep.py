"""``gdfast.sweep`` on a scipy.sparse CSR X: every run goes through the same CSR kernels as
``gdfast.train`` (never densified), so each result equals the ``train`` call with the same options,
bit for bit (as tests/test_sweep_basic.py checks for dense X), whatever ``n_threads``; runs never go
in lockstep on CSR X (each is advanced alone, on one thread, several side by side). Dense-X sweeps
are the other oracle: the same runs on X.toarray() agree to 1e-12 of max |W| (other summation
orders in the products, see tests/test_sparse.py). Options that train refuses on sparse X are
refused by sweep with the same message.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import gdfast  # noqa: E402
from gdfast import _engine, _train  # noqa: E402
from test_sweep_basic import assert_bitwise_equal  # noqa: E402

# Configurations that take each CSR path of the kernel: the per-sample loop (plain SGD, batch_size=1,
# margin, regression and softmax losses, penalties, schedules), the general loop (mini-batches, full
# batches, optimizers with state, clip_norm, n_iter_no_change).
CONFIGS = [
    {},
    {"batch_size": 1, "penalty": "l2", "alpha": 0.01},
    {"batch_size": 1, "penalty": "elasticnet", "alpha": 0.01, "l1_ratio": 0.5, "schedule": "invscaling"},
    {"batch_size": 1, "loss": "multinomial", "penalty": "l2", "alpha": 0.01},
    {"batch_size": 7, "loss": "multinomial"},
    {"batch_size": None, "loss": "multinomial", "num_iterations": 25},
    {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 5},
    {"optimizer": gdfast.SGD(momentum=0.9), "batch_size": 8, "clip_norm": 0.5, "n_iter_no_change": 2,
     "loss_tol": 1e-2},
    {"batch_size": None, "num_iterations": 30, "reduction": "sample_mean"},
]


def _problem(dtype=np.float64, n=40, d=12, k=3, seed=41):
    """W0 (k, d), a CSR X with signed values and some empty rows, class labels from noisy logits."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.3, format="csr", random_state=rng)
    X.data = rng.standard_normal(X.nnz)
    X = sp.csr_matrix(X.multiply((np.arange(n) % 9 != 4)[:, None]))  # rows 4, 13, ... empty
    X.eliminate_zeros()
    assert (np.diff(X.indptr) == 0).any()
    labels = np.argmax(X.toarray() @ rng.standard_normal((k, d)).T + rng.standard_normal((n, k)), axis=1)
    W0 = 0.1 * rng.standard_normal((k, d))
    return W0.astype(dtype), X.astype(dtype), labels


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_every_run_equals_train(n_threads, dtype):
    """Each run of a sparse sweep equals train on the same CSR matrix, to the bit."""
    W0, X, y = _problem(dtype)
    Y = np.eye(3, dtype=dtype)[y]  # one-hot rows: targets for the regression configs and the softmax alike
    shared = dict(num_epochs=2, fit_intercept=True, loss="mse", learning_rate=0.05)
    lrs, seeds = [0.05, 0.02], [0, 7]
    res = gdfast.sweep(W0, X, Y, learning_rates=lrs, seeds=seeds, configs=CONFIGS, n_threads=n_threads, **shared)
    assert len(res) == len(lrs) * len(seeds) * len(CONFIGS)
    assert res.W.dtype == dtype
    for cfg, result in zip(res.configs, res.results):
        opts = {**shared, **cfg}
        if "num_iterations" in cfg:
            opts.pop("num_epochs")
        alone = gdfast.train(W0, X, Y, **opts)
        assert_bitwise_equal(result, alone)


def test_thread_count_changes_no_bit_and_runs_go_on_threads(monkeypatch):
    """n_threads=1 and 2 give the same bits; with 2 the kernel is asked for 2 threads (the runs go
    side by side, GIL released), never lockstep tasks (order=None)."""
    W0, X, y = _problem()
    calls = []
    advance = _train.advance_runs

    def spy(*args, **kwargs):
        calls.append((args[12], args[14] if len(args) > 14 else kwargs.get("order")))
        return advance(*args, **kwargs)

    monkeypatch.setattr(_engine._train, "advance_runs", spy)
    kw = dict(learning_rates=[0.1, 0.05, 0.02, 0.01], seeds=[1, 2], loss="multinomial", batch_size=1, num_epochs=2,
              fit_intercept=True)
    one = gdfast.sweep(W0, X, y, n_threads=1, **kw)
    two = gdfast.sweep(W0, X, y, n_threads=2, **kw)
    for a, b in zip(one.results, two.results):
        assert_bitwise_equal(a, b)
    # one kernel call per sweep: 1, then 2 threads (1 in a process forked after OpenMP ran), no lockstep order
    assert calls == [(1, None), (1 if _train.openmp_forked() else 2, None)]


def test_plain_sgd_runs_that_would_go_in_lockstep_on_dense_x():
    """Plain SGD on the unweighted MSE differing only in the learning rate goes in lockstep on dense
    X; on CSR X each run goes alone, with the same result as train and 1e-12 of the dense sweep."""
    W0, X, y = _problem(seed=3)
    Y = np.eye(3)[y]
    kw = dict(learning_rates=[0.1, 0.05, 0.02], loss="mse", batch_size=4, shuffle=False, num_epochs=3, seed=0)
    s = gdfast.sweep(W0, X, Y, n_threads=2, **kw)
    d = gdfast.sweep(W0, X.toarray(), Y, n_threads=2, **kw)
    for lr, a, b in zip(kw["learning_rates"], s.results, d.results):
        assert_bitwise_equal(a, gdfast.train(W0, X, Y, learning_rate=lr, **{k: v for k, v in kw.items()
                                                                           if k != "learning_rates"}))
        np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-12 * np.abs(b.W).max())


def test_sparse_sweep_near_dense_sweep_multinomial_weights_and_starts():
    """sample_weight, initial_weights and a 1-D W (one output): each run within 1e-12 of max |W| of
    the same sweep on X.toarray() (the other summation orders of the dense products), and equal to
    train on CSR X to the bit."""
    W0, X, y = _problem(seed=5)
    sw = np.random.default_rng(2).uniform(0.0, 2.0, X.shape[0])
    starts = np.stack([W0, -W0])
    kw = dict(learning_rates=[0.2, 0.05], initial_weights=starts, loss="multinomial", batch_size=6, seed=1,
              num_epochs=3, fit_intercept=True, sample_weight=sw, penalty="l2", alpha=0.01)
    s = gdfast.sweep(W0, X, y, **kw)
    d = gdfast.sweep(W0, X.toarray(), y, **kw)
    for cfg, a, b in zip(s.configs, s.results, d.results):
        np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-12 * np.abs(b.W).max())
        np.testing.assert_allclose(a.b, b.b, rtol=0, atol=1e-12 * np.abs(b.W).max())
        one = gdfast.train(starts[cfg["initial_weights"]], X, y, learning_rate=cfg["learning_rate"],
                           **{k: v for k, v in kw.items() if k not in ("learning_rates", "initial_weights")})
        assert_bitwise_equal(a, one)
    # one output, 1-D W and binary labels
    yb = np.where(y == 0, 1.0, -1.0)
    r = gdfast.sweep(np.zeros(X.shape[1]), X, yb, learning_rates=[0.1, 0.01], loss="log_loss", batch_size=1,
                     num_epochs=2, seed=0)
    assert r.W.shape == (2, X.shape[1])
    assert_bitwise_equal(r.results[1], gdfast.train(np.zeros(X.shape[1]), X, yb, learning_rate=0.01,
                                                    loss="log_loss", batch_size=1, num_epochs=2, seed=0))


def test_the_user_matrix_is_not_modified():
    W0, X, y = _problem(seed=6)
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    gdfast.sweep(W0, X, y, learning_rates=[0.1, 0.2], loss="multinomial", batch_size=1, num_epochs=1)
    for a, b in zip((X.data, X.indices, X.indptr), before):
        np.testing.assert_array_equal(a, b)


def test_options_train_refuses_on_sparse_x_are_refused_by_sweep():
    W0, X, y = _problem(np.float32, seed=7)
    Y = np.eye(3, dtype=np.float32)[y]
    with pytest.raises(ValueError, match="accumulate='float32' needs dense X"):
        gdfast.sweep(W0, X, Y, learning_rates=[0.1], accumulate="float32")
    with pytest.raises(ValueError, match="grad_tol"):  # named by the run that asks for it
        gdfast.sweep(W0, X, Y, configs=[{}, {"penalty": "l1", "grad_tol": 1e-6}], batch_size=1)
    with pytest.raises(TypeError, match=r"X.tocsr\(\)"):
        gdfast.sweep(W0, X.tocsc(), Y, learning_rates=[0.1])
    with pytest.raises(ValueError, match="n_features"):
        gdfast.sweep(W0[:, :-1], X, Y, learning_rates=[0.1])


def test_dask_sweep_on_csr_equals_local_sweep():
    """With client=: the CSR arrays are scattered to the workers as they are (no dense copy) and
    every run equals the local sweep to the bit."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    W0, X, y = _problem(seed=8)
    kw = dict(learning_rates=[0.1, 0.05, 0.02], loss="multinomial", batch_size=1, num_epochs=2, seed=3,
              fit_intercept=True)
    local = gdfast.sweep(W0, X, y, n_threads=1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the cluster's own start-up notices)
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=":0", worker_dashboard_address=None,
                          scheduler_kwargs={"dashboard": False}) as cluster, Client(cluster) as client:
            dist = gdfast.sweep(W0, X, y, client=client, n_chunks=2, **kw)
    for a, b in zip(dist.results, local.results):
        assert_bitwise_equal(a, b)
