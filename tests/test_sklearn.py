"""gdfast.GDRegressor against scikit-learn's own estimator checks and its usual companions."""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import gdfast  # noqa: E402
from gdfast import GDRegressor, reference  # noqa: E402


def _expected_failed_checks(estimator):
    """Checks that fail by design, each with its reason (none for a full batch, batch_size=None)."""
    if estimator.batch_size is None:
        return {}
    return {
        # Mini-batches are drawn from a permutation of the *rows*: repeating a sample twice changes
        # the batches (and the number of updates per epoch), so weight 2 is not the same run as a
        # duplicated row; the full-batch estimator passes this check (scikit-learn's own
        # SGDRegressor lists it as an expected failure for the same reason).
        "check_sample_weight_equivalence_on_dense_data": "mini-batch SGD: weights != repeated rows",
        # the same check on CSR data (run since the estimator takes sparse X), for the same reason
        "check_sample_weight_equivalence_on_sparse_data": "mini-batch SGD: weights != repeated rows",
    }


@parametrize_with_checks(
    [GDRegressor(), GDRegressor(batch_size=None, schedule=None),  # the defaults, and full-batch GD
     GDRegressor(optimizer="adam", learning_rate=0.05, batch_size=8, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _linear_data(rng, n=200, n_features=3, n_targets=None, scale=None):
    X = rng.standard_normal((n, n_features))
    if scale is not None:
        X = X * scale + 10.0 * scale
    coef = rng.standard_normal((n_features,) if n_targets is None else (n_targets, n_features))
    y = X @ coef.T + 0.5 + 0.01 * rng.standard_normal((n,) if n_targets is None else (n, n_targets))
    return X, y


@pytest.mark.parametrize("n_targets", [None, 3])
def test_full_batch_fit_matches_least_squares(rng, n_targets):
    # Full-batch GD on a well-conditioned least-squares problem converges to the closed-form
    # solution (LinearRegression); after 3000 epochs at lr 0.1 the error is far below 1e-8.
    X, y = _linear_data(rng, n_targets=n_targets)
    reg = GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=3000, tol=None).fit(X, y)
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, ols.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(reg.intercept_, ols.intercept_, rtol=0, atol=1e-8)
    assert reg.coef_.shape == ols.coef_.shape
    assert np.shape(reg.intercept_) == np.shape(ols.intercept_)
    assert reg.n_features_in_ == 3 and reg.n_iter_ == 3000 and reg.t_ == 3000
    assert reg.loss_curve_.shape == (3000,)
    np.testing.assert_allclose(reg.predict(X), ols.predict(X), atol=1e-7)


def test_fit_equals_reference_train(rng):
    # The estimator is gdfast.train with sklearn conventions: same numbers as the NumPy twin.
    X, y = _linear_data(rng, n=50)
    reg = GDRegressor(batch_size=None, schedule=None, learning_rate=0.05, max_iter=40, tol=None).fit(X, y)
    ref = reference.train(np.zeros((1, 3)), X, y[:, None], learning_rate=0.05, num_iterations=40,
                          fit_intercept=True)
    np.testing.assert_allclose(reg.coef_, ref.W[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reg.intercept_, ref.b[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(reg.loss_curve_, ref.epoch_losses, rtol=1e-10)


def test_tol_stops_early_like_sklearn(rng):
    X, y = _linear_data(rng)
    reg = GDRegressor(learning_rate=0.1, max_iter=5000, tol=1e-6, n_iter_no_change=3).fit(X, y)
    assert reg.n_iter_ < 5000
    # scikit-learn's SGD rule, replayed on the recorded epoch losses, stops at the same epoch.
    best, count, stop = np.inf, 0, None
    for epoch, loss in enumerate(reg.loss_curve_, start=1):
        count = count + 1 if loss > best - 1e-6 else 0
        best = min(best, loss)
        if count >= 3:
            stop = epoch
            break
    assert stop == reg.n_iter_ == reg.loss_curve_.size
    with pytest.warns(ConvergenceWarning):
        GDRegressor(learning_rate=1e-4, max_iter=5, tol=1e-12).fit(X, y)


def test_sample_weight_equals_repeating_samples(rng):
    X, y = _linear_data(rng, n=30)
    w = rng.integers(1, 4, size=30)
    full = dict(batch_size=None, schedule=None)  # full batch: weights equal repeated rows
    a = GDRegressor(**full, learning_rate=0.05, max_iter=50, tol=None).fit(X, y, sample_weight=w)
    b = GDRegressor(**full, learning_rate=0.05, max_iter=50, tol=None).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


def test_partial_fit_continues_the_run_exactly(rng):
    # k partial_fit calls on the same data = one fit of k epochs (same optimizer state, counters,
    # generator), to the bit, with Adam and shuffled mini-batches.
    X, y = _linear_data(rng, n=40, n_targets=2)
    params = dict(optimizer="adam", learning_rate=0.01, batch_size=7, random_state=3)
    whole = GDRegressor(max_iter=6, tol=None, **params).fit(X, y)
    part = GDRegressor(**params)
    for _ in range(6):
        part.partial_fit(X, y)
    np.testing.assert_array_equal(part.coef_, whole.coef_)
    np.testing.assert_array_equal(part.intercept_, whole.intercept_)
    np.testing.assert_array_equal(part.loss_curve_, whole.loss_curve_)
    assert part.t_ == whole.t_ == 6 * 6 and part.n_iter_ == 1


def test_partial_fit_streams_batches_of_different_sizes(rng):
    X, y = _linear_data(rng, n=300)
    reg = GDRegressor(batch_size=None, schedule=None, learning_rate=0.05)
    for start, stop in [(0, 100), (100, 170), (170, 300)] * 30:
        reg.partial_fit(X[start:stop], y[start:stop])
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(reg.coef_, ols.coef_, atol=0.05)
    assert reg.t_ == 90 and reg.loss_curve_.size == 90
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="target"):
        reg.partial_fit(X, np.c_[y, y])


def test_float32_kept(rng):
    X, y = _linear_data(rng, n=50)
    reg = GDRegressor(learning_rate=0.1, tol=None, max_iter=200).fit(X.astype(np.float32), y.astype(np.float32))
    assert reg.coef_.dtype == np.float32
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


def test_pipeline_with_standard_scaler(rng):
    # Badly scaled features (mean 10*s, std s with s up to 1e3): plain GD on them diverges at any
    # useful learning rate, behind a StandardScaler it matches least squares.
    scale = np.array([1e-2, 1.0, 1e3])
    X, y = _linear_data(rng, scale=scale)
    pipe = make_pipeline(StandardScaler(), GDRegressor(learning_rate=0.1, max_iter=3000, tol=None))
    pipe.fit(X, y)
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(pipe.predict(X), ols.predict(X), rtol=1e-6, atol=1e-6)
    assert pipe.score(X, y) > 0.999
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = GDRegressor(learning_rate=0.1, max_iter=50, tol=None).fit(X, y)
    assert raw.score(X, y) < 0.5


def test_grid_search_over_learning_rates(rng):
    # Too small a rate underfits in 20 epochs, too large diverges; the middle one must win.
    X, y = _linear_data(rng, n=120)
    search = GridSearchCV(
        GDRegressor(max_iter=20, tol=None),
        {"learning_rate": [1e-4, 0.2, 5.0]},
        cv=3,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the lr=5.0 runs diverge (and say so)
        search.fit(X, y)
    assert search.best_params_ == {"learning_rate": 0.2}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > 0.99 and scores[0] < 0.5 and scores[2] < 0.5
    assert isinstance(search.best_estimator_, GDRegressor)


def test_lazy_import_and_repr():
    assert gdfast.GDRegressor is GDRegressor
    assert "GDRegressor" in dir(gdfast)
    assert repr(GDRegressor(learning_rate=0.5)) == "GDRegressor(learning_rate=0.5)"


def test_bad_parameters_are_clear_errors(rng):
    X, y = _linear_data(rng, n=20)
    with pytest.raises(ValueError, match="learning_rate"):
        GDRegressor(learning_rate=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="optimizer"):
        GDRegressor(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        GDRegressor().fit(X, y, sample_weight=-np.ones(20))
