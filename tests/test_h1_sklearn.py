"""Issue 10 items of GDRegressor: hyper-parameters validated like train's (r13); coef_ and
intercept_ set by the user are used by predict and partial_fit (r06)."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from gdfast import GDRegressor  # noqa: E402

rng = np.random.default_rng(6)
X = rng.standard_normal((30, 3))
y = X @ [1.0, -2.0, 0.5] + 0.3


@pytest.mark.parametrize("params,exc,pattern", [
    (dict(batch_size=2.7), TypeError, r"^batch_size must be an integer; got float: 2.7"),
    (dict(batch_size=True), TypeError, r"^batch_size must be an integer; got bool"),
    (dict(batch_size="4"), TypeError, r"^batch_size must be an integer; got str"),
    (dict(batch_size=0), ValueError, r"^batch_size must be >= 1"),
    (dict(max_iter=2.5), TypeError, r"^max_iter must be an integer"),
    (dict(max_iter=0), ValueError, r"^max_iter must be >= 1"),
    (dict(n_iter_no_change=1.5), TypeError, r"^n_iter_no_change must be an integer"),
    (dict(tol=-1.0), ValueError, r"^tol must be >= 0"),
    (dict(tol="small"), TypeError, r"^tol must be a real number"),
    (dict(verbose="yes"), TypeError, r"^verbose must be an integer"),
    (dict(learning_rate=-0.1), ValueError, r"^learning_rate must be > 0"),
    (dict(huber_delta=0.0), ValueError, r"^huber_delta must be > 0"),
    (dict(fit_intercept=1), TypeError, r"^fit_intercept must be True or False"),
    (dict(shuffle="no"), TypeError, r"^shuffle must be True or False"),
    (dict(clip_norm=-1.0), ValueError, r"^clip_norm must be > 0"),
    (dict(loss="l3"), ValueError, r"unknown loss 'l3'"),
])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_hyper_parameters_validated_at_fit_time(method, params, exc, pattern):
    reg = GDRegressor(max_iter=1, tol=None).set_params(**params)  # accepted at construction (sklearn rule)
    with pytest.raises(exc, match=pattern):
        getattr(reg, method)(X, y)


def test_valid_batch_sizes_still_work():
    assert GDRegressor(batch_size=np.int64(4), max_iter=1, tol=None).fit(X, y).t_ == 8  # ceil(30 / 4)
    assert GDRegressor(batch_size=100, max_iter=1, tol=None).fit(X, y).t_ == 1  # clipped to n_samples


def test_predict_uses_coef_and_intercept_set_by_the_user():
    reg = GDRegressor(learning_rate=0.1, max_iter=50, tol=None).fit(X, y)
    reg.coef_ = np.array([0.5, 0.25, -1.0])
    reg.intercept_ = 2.0
    # Oracle: NumPy's X @ coef + intercept.
    np.testing.assert_allclose(reg.predict(X), X @ reg.coef_ + 2.0, rtol=1e-13, atol=1e-13)
    reg.coef_ = np.zeros(3)
    reg.intercept_ = 0.0
    np.testing.assert_array_equal(reg.predict(X[:2]), [0.0, 0.0])


def test_predict_uses_user_coef_multi_output():
    Y2 = np.column_stack([y, -y])
    reg = GDRegressor(learning_rate=0.1, max_iter=20, tol=None).fit(X, Y2)
    reg.coef_ = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    reg.intercept_ = np.array([1.0, -1.0])
    np.testing.assert_allclose(reg.predict(X), X[:, :2] + [1.0, -1.0], rtol=1e-13, atol=1e-13)


def test_partial_fit_starts_from_user_coef():
    lr = 0.05
    reg = GDRegressor(batch_size=None, schedule=None, learning_rate=lr, max_iter=5, tol=None).fit(X, y)
    coef0, b0 = np.array([0.3, -0.1, 0.2]), 0.7
    reg.coef_, reg.intercept_ = coef0.copy(), b0
    reg.partial_fit(X, y)  # one full-batch SGD step from (coef0, b0)
    # Oracle: the step of the mean squared error written by hand.
    r = X @ coef0 + b0 - y
    np.testing.assert_allclose(reg.coef_, coef0 - lr * 2 * (X.T @ r) / len(y), rtol=1e-12)
    np.testing.assert_allclose(reg.intercept_, b0 - lr * 2 * r.mean(), rtol=1e-12)


def test_first_partial_fit_starts_from_user_coef():
    lr = 0.05
    reg = GDRegressor(batch_size=None, schedule=None, learning_rate=lr)
    coef0, b0 = np.array([0.3, -0.1, 0.2]), 0.7
    reg.coef_, reg.intercept_ = coef0.copy(), b0
    reg.partial_fit(X, y)
    r = X @ coef0 + b0 - y
    np.testing.assert_allclose(reg.coef_, coef0 - lr * 2 * (X.T @ r) / len(y), rtol=1e-12)


def test_bad_user_coef_is_named():
    reg = GDRegressor(max_iter=2, tol=None).fit(X, y)
    reg.coef_ = np.zeros(4)
    with pytest.raises(ValueError, match=r"coef_ has 4 features; X has 3"):
        reg.partial_fit(X, y)
    reg.coef_ = np.array([np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"coef_ contains NaN"):
        reg.predict(X)
    reg.coef_, reg.intercept_ = np.zeros(3), np.zeros(2)
    with pytest.raises(ValueError, match=r"intercept_ must be a number or have shape \(1,\)"):
        reg.predict(X)
