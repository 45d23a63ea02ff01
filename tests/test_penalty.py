"""penalty / alpha / l1_ratio (issue #14): scikit-learn's objective, the bias never penalised.

Oracles:
- scikit-learn's SGDRegressor / SGDClassifier, per-sample (batch_size=1, no shuffling, constant rate):
  weights to 1e-10 (measured: about 2e-15; the two compute the same updates in a different order of
  rounding: scikit-learn keeps w as wscale * v).
  Mapping for the squared error: gdfast's mse is mean(r**2), scikit-learn's squared_error r**2 / 2, so
  gdfast's gradient is twice scikit-learn's: learning_rate = eta0 / 2 and alpha = 2 * alpha_sklearn
  give the same update (lr * alpha = eta0 * alpha_sklearn, lr * 2 r x = eta0 * r x). The margin losses
  (hinge) have the same scale on both sides: same rate, same alpha.
- Lasso / ElasticNet: objective 1/(2n) ||y - Xw - b||^2 + a * (r |w|_1 + (1 - r)/2 |w|^2), i.e. half of
  gdfast's mse + alpha * (...) with alpha = 2 * a. Full-batch proximal gradient (rate 1/L) converges
  to their minimiser: weights to 1e-6 (both solvers run to ~1e-12), exact zeros where Lasso has them.
"""
import numpy as np
import pytest

import gdfast
from gdfast import reference

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import ElasticNet, Lasso, SGDClassifier, SGDRegressor  # noqa: E402

PENALTIES = ["l2", "l1", "elasticnet"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    w = np.array([1.5, 0.0, -2.0, 0.0, 0.3, 0.0])
    y = X @ w + 0.1 * rng.normal(size=40) + 0.7
    return X, y


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_per_sample_equals_sgdregressor(data, penalty, fit_intercept):
    X, y = data
    eta, a, epochs = 0.01, 0.2, 7
    sk = SGDRegressor(loss="squared_error", penalty=penalty, alpha=a, l1_ratio=0.3, learning_rate="constant",
                      eta0=eta, shuffle=False, tol=None, max_iter=epochs, fit_intercept=fit_intercept).fit(X, y)
    ours = gdfast.train(np.zeros(6), X, y, learning_rate=eta / 2, penalty=penalty, alpha=2 * a, l1_ratio=0.3,
                        batch_size=1, shuffle=False, num_epochs=epochs, fit_intercept=fit_intercept)
    np.testing.assert_allclose(ours.W, sk.coef_, rtol=0, atol=1e-10)
    if fit_intercept:
        np.testing.assert_allclose(ours.b, sk.intercept_[0], rtol=0, atol=1e-10)
    # the truncated gradient leaves exact zeros, at the same places
    np.testing.assert_array_equal(ours.W == 0, sk.coef_ == 0)
    if penalty == "l1":
        assert (ours.W == 0).any()


@pytest.mark.parametrize("penalty", PENALTIES)
def test_per_sample_hinge_equals_sgdclassifier(data, penalty):
    X, y = data
    labels = np.where(y > 0.7, 1.0, -1.0)
    eta, a, epochs = 0.01, 0.02, 5
    sk = SGDClassifier(loss="hinge", penalty=penalty, alpha=a, l1_ratio=0.3, learning_rate="constant", eta0=eta,
                       shuffle=False, tol=None, max_iter=epochs, fit_intercept=True).fit(X, labels)
    ours = gdfast.train(np.zeros(6), X, labels, loss="hinge", learning_rate=eta, penalty=penalty, alpha=a,
                        l1_ratio=0.3, batch_size=1, shuffle=False, num_epochs=epochs, fit_intercept=True)
    np.testing.assert_allclose(ours.W, sk.coef_[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.b, sk.intercept_[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_state_continues_the_truncated_gradient(data, penalty):
    X, y = data
    kw = dict(learning_rate=0.005, penalty=penalty, alpha=0.1, batch_size=1, shuffle=False, fit_intercept=True)
    whole = gdfast.train(np.zeros(6), X, y, num_iterations=100, **kw)
    first = gdfast.train(np.zeros(6), X, y, num_iterations=37, **kw)
    rest = gdfast.train(first.W, X, y, b=first.b, num_iterations=63, state=first.state, **kw)
    np.testing.assert_array_equal(rest.W, whole.W)
    np.testing.assert_array_equal(rest.b, whole.b)
    assert rest.state.record["l1_total"] == whole.state.record["l1_total"] > 0
    for bad in (-1.0, np.nan):
        corrupt = first.state.copy()
        corrupt.record["l1_total"] = bad
        with pytest.raises(ValueError, match="l1_total"):
            gdfast.train(first.W, X, y, b=first.b, num_iterations=1, state=corrupt, **kw)


@pytest.mark.parametrize("model, penalty, l1_ratio", [(Lasso, "l1", 1.0), (ElasticNet, "elasticnet", 0.6)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_full_batch_converges_to_lasso_and_elasticnet(model, penalty, l1_ratio, fit_intercept):
    rng = np.random.default_rng(1)
    n, d = 200, 8
    X = rng.normal(size=(n, d))
    truth = np.array([2.0, 0.0, 0.0, -1.5, 0.0, 0.8, 0.0, 0.0])
    y = X @ truth + 0.3 * rng.normal(size=n) + (1.2 if fit_intercept else 0.0)
    a = 0.1
    kw = dict(alpha=a, fit_intercept=fit_intercept, tol=1e-14, max_iter=100_000)
    if model is ElasticNet:
        kw["l1_ratio"] = l1_ratio
    sk = model(**kw).fit(X, y)
    Xc = X - X.mean(0) if fit_intercept else X
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(Xc.T @ Xc / n).max() + 1.0)  # below 1 / L of gdfast's objective
    ours = gdfast.train(np.zeros(d), X, y, learning_rate=lr, penalty=penalty, alpha=2 * a, l1_ratio=l1_ratio,
                        fit_intercept=fit_intercept, num_iterations=4000, grad_tol=None)
    np.testing.assert_allclose(ours.W, sk.coef_, rtol=0, atol=1e-6)
    if fit_intercept:
        np.testing.assert_allclose(ours.b, sk.intercept_, rtol=0, atol=1e-6)
    assert (sk.coef_ == 0).any()
    np.testing.assert_array_equal(ours.W == 0, sk.coef_ == 0)



def test_l1_path_on_diabetes_equals_lasso_path():
    """The README's L1 path figure (docs/make_figures.py): on the standardised diabetes data, full-batch
    proximal runs along a decreasing alpha grid (each from the previous solution) equal scikit-learn's
    ``lasso_path`` at alpha / 2 (its squared error is half gdfast's mse), to 1e-6 (both run to ~1e-9),
    with the same exact zeros; the unmapped alpha (same number on both sides) lands elsewhere."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import lasso_path

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = y - y.mean()
    alphas = np.array([30.0, 5.0, 1.0, 0.15])
    lr = 1.0 / (2.0 * np.linalg.eigvalsh(X.T @ X / X.shape[0]).max())
    W, ours = np.zeros(10), []
    for a in alphas:
        W = gdfast.train(W, X, y, penalty="l1", alpha=float(a), learning_rate=lr, num_iterations=20000).W
        ours.append(W)
    ours = np.array(ours)
    theirs = lasso_path(X, y, alphas=alphas / 2.0, tol=1e-12, max_iter=100_000)[1].T
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours == 0, theirs == 0)
    assert [int((w == 0).sum()) for w in ours] == [int((w == 0).sum()) for w in theirs]
    assert (ours[0] == 0).sum() > (ours[-1] == 0).sum() > 0  # zeros appear as alpha grows
    unmapped = lasso_path(X, y, alphas=alphas, tol=1e-12, max_iter=100_000)[1].T
    assert np.abs(ours - unmapped).max() > 0.1

def test_the_intercept_is_not_penalised():
    # issue #14's example: weight_decay=1 gave intercept 6.67; the penalty leaves b alone
    X, y = np.zeros((5, 2)), np.full(5, 10.0)
    r = gdfast.train(np.zeros(2), X, y, penalty="l2", alpha=1.0, fit_intercept=True, learning_rate=0.1,
                     num_iterations=2000)
    assert r.b == pytest.approx(10.0, abs=1e-12)
    est = gdfast.GDRegressor(penalty="l2", alpha=1.0, learning_rate=0.1, max_iter=500, tol=None).fit(X, y)
    assert np.ravel(est.intercept_)[0] == pytest.approx(10.0, abs=1e-9)


def test_no_penalty_is_todays_arithmetic(data):
    X, y = data
    kw = dict(learning_rate=0.01, num_iterations=50, fit_intercept=True, seed=3)
    for extra in [{}, {"batch_size": 4}, {"batch_size": 1}]:
        a = gdfast.train(np.zeros(6), X, y, **kw, **extra)
        b = gdfast.train(np.zeros(6), X, y, penalty=None, alpha=5.0, l1_ratio=0.9, **kw, **extra)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 1, 7])
@pytest.mark.parametrize("penalty", PENALTIES)
def test_kernel_equals_reference_twin(data, penalty, batch_size, dtype):
    X, y = (a.astype(dtype) for a in data)
    Y = np.stack([y, -y], axis=1)
    kw = dict(learning_rate=0.01, penalty=penalty, alpha=0.2, l1_ratio=0.4, batch_size=batch_size,
              fit_intercept=True, num_iterations=60, seed=5)
    ours = gdfast.train(np.zeros((2, 6), dtype), X, Y, **kw)
    twin = reference.train(np.zeros((2, 6), dtype), X, Y, **kw)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours.W, twin.W, rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.b, twin.b, rtol=tol, atol=tol)
    if penalty != "l2" and batch_size != 1:
        np.testing.assert_array_equal(ours.W == 0, twin.W == 0)


def test_blocked_batches_apply_the_penalty():
    # full batches of >= 2 * BLOCK_ROWS rows take the blocked sums: the penalty is in the update, not the sums
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20_000, 3))
    y = X @ np.array([1.0, 0.0, -0.01]) + 0.5
    kw = dict(learning_rate=0.1, penalty="l1", alpha=0.1, fit_intercept=True, num_iterations=30)
    ours = gdfast.train(np.zeros(3), X, y, **kw)
    twin = reference.train(np.zeros(3), X, y, **kw)
    np.testing.assert_allclose(ours.W, twin.W, rtol=1e-10, atol=1e-12)
    assert ours.W[1] == 0.0 and ours.W[2] == 0.0
    plain = gdfast.train(np.zeros(3), X, y, **{**kw, "penalty": None})
    assert plain.W[1] != 0.0


@pytest.mark.parametrize("batch_size", [None, 4])
def test_penalised_sweep_equals_separate_train_calls(data, batch_size):
    # runs that differ only in their learning rate would share the lockstep path of plain SGD: with a
    # penalty they must not
    X, y = data
    kw = dict(penalty="elasticnet", alpha=0.3, l1_ratio=0.5, batch_size=batch_size, fit_intercept=True,
              num_iterations=40, seed=1)
    lrs = [0.01, 0.02, 0.03, 0.04]
    res = gdfast.sweep(np.zeros(6), X, y, learning_rates=lrs, n_threads=1, **kw)
    for lr, r in zip(lrs, res.results):
        one = gdfast.train(np.zeros(6), X, y, learning_rate=lr, **kw)
        np.testing.assert_array_equal(r.W, one.W)
        np.testing.assert_array_equal(r.b, one.b)
    unpenalised = gdfast.train(np.zeros(6), X, y, learning_rate=lrs[0], **{**kw, "penalty": None})
    assert not np.array_equal(unpenalised.W, res.results[0].W)


@pytest.mark.parametrize("kwargs, match", [
    (dict(penalty="l3"), "penalty"),
    (dict(penalty="L2"), "penalty"),
    (dict(penalty="l2", alpha=-1.0), "alpha"),
    (dict(penalty="elasticnet", l1_ratio=1.5), "l1_ratio"),
    (dict(penalty="elasticnet", l1_ratio=-0.1), "l1_ratio"),
    (dict(penalty="l2", optimizer="adam"), "penalty"),
    (dict(penalty="l1", optimizer=gdfast.SGD(momentum=0.9)), "penalty"),
    (dict(penalty="l1", optimizer=gdfast.SGD(weight_decay=0.1)), "penalty"),
])
def test_bad_penalty_options_raise(data, kwargs, match):
    X, y = data
    for fn in (gdfast.train, reference.train):
        with pytest.raises(ValueError, match=match):
            fn(np.zeros(6), X, y, num_iterations=2, **kwargs)
    with pytest.raises(ValueError, match=match):
        gdfast.GDRegressor(max_iter=2, **kwargs).fit(X, y)
