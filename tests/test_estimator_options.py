"""GDRegressor and GDClassifier: ``warm_start``, ``fit(coef_init=, intercept_init=)``, ``reduction``.

Oracles: scikit-learn's SGDRegressor/SGDClassifier with the same options (per-sample steps, no
shuffling, a constant rate: 1e-10, an ulp per step as in tests/test_classifier.py), and the
semantics "a warm fit continues where the last one stopped" (plain SGD at a constant rate keeps
no other state: two warm fits of 2 and 3 epochs are one fit of 5, bit for bit).
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402

from gdfast import GDClassifier, GDRegressor  # noqa: E402


def _data(n_classes=3, n=80, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = rng.integers(0, n_classes, n)
    X[np.arange(n), y % 4] += 1.5  # learnable
    return X, y, rng.uniform(0.5, 2.0, n)


SETTINGS = dict(penalty="l2", alpha=0.001, tol=None, shuffle=False)


def _quiet(fit, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(*args, **kw)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_warm_start_continues(n_classes):
    X, y, sw = _data(n_classes)
    kw = dict(loss="hinge", learning_rate=0.05, batch_size=1, restore_best=False, **SETTINGS)
    warm = GDClassifier(warm_start=True, max_iter=2, **kw)
    _quiet(warm.fit, X, y, sample_weight=sw)
    warm.set_params(max_iter=3)
    _quiet(warm.fit, X, y, sample_weight=sw)
    once = _quiet(GDClassifier(max_iter=5, **kw).fit, X, y, sample_weight=sw)
    np.testing.assert_array_equal(warm.coef_, once.coef_)
    np.testing.assert_array_equal(warm.intercept_, once.intercept_)
    # scikit-learn's warm start, the same two fits
    sk = SGDClassifier(loss="hinge", learning_rate="constant", eta0=0.05, warm_start=True, max_iter=2, **SETTINGS)
    _quiet(sk.fit, X, y, sample_weight=sw)
    sk.set_params(max_iter=3)
    _quiet(sk.fit, X, y, sample_weight=sw)
    np.testing.assert_allclose(warm.coef_, sk.coef_, rtol=0, atol=1e-10)
    # without warm_start the second fit starts again from zero
    cold = GDClassifier(max_iter=2, **kw)
    _quiet(cold.fit, X, y, sample_weight=sw)
    cold.set_params(max_iter=3)
    _quiet(cold.fit, X, y, sample_weight=sw)
    three = _quiet(GDClassifier(max_iter=3, **kw).fit, X, y, sample_weight=sw)
    np.testing.assert_array_equal(cold.coef_, three.coef_)
    assert np.abs(cold.coef_ - once.coef_).max() > 1e-3


@pytest.mark.parametrize("class_weight", [None, {0: 2.0, 1: 1.0, 2: 0.5}])
def test_classifier_coef_init_equals_sgdclassifier(class_weight):
    X, y, sw = _data(3)
    rng = np.random.default_rng(0)
    coef0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(3)
    coef_copy = coef0.copy()
    gd = GDClassifier(loss="log_loss", learning_rate=0.05, batch_size=1, restore_best=False, max_iter=2,
                      class_weight=class_weight, **SETTINGS)
    sk = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.05, max_iter=2, class_weight=class_weight,
                       **SETTINGS)
    _quiet(gd.fit, X, y, coef_init=coef0, intercept_init=b0, sample_weight=sw)
    _quiet(sk.fit, X, y, coef_init=coef0.copy(), intercept_init=b0.copy(), sample_weight=sw)  # (it writes into them)
    np.testing.assert_allclose(gd.coef_, sk.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(gd.intercept_, sk.intercept_, rtol=0, atol=1e-10)
    assert np.abs(gd.coef_ - _quiet(GDClassifier(**gd.get_params()).fit, X, y, sample_weight=sw).coef_).max() > 1e-3
    np.testing.assert_array_equal(coef0, coef_copy)  # not modified


def test_regressor_coef_init_and_sample_mean_equal_sgdregressor():
    """reduction="sample_mean" makes sample_weight scale each step, as SGDRegressor's (squared_error
    is r**2 / 2 there: gdfast's r**2 at half the rate and twice the alpha takes the same step)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.3 * rng.standard_normal(60)
    sw = rng.uniform(0.5, 2.0, 60)
    coef0, b0 = np.array([0.5, 0.5, -0.5]), 0.25
    sk = SGDRegressor(learning_rate="constant", eta0=0.02, max_iter=3, penalty="l2", alpha=0.01, tol=None,
                      shuffle=False)
    _quiet(sk.fit, X, y, coef_init=coef0.copy(), intercept_init=b0, sample_weight=sw)  # (it writes into coef_init)
    gd = GDRegressor(learning_rate=0.01, batch_size=1, schedule=None, shuffle=False, max_iter=3, penalty="l2",
                     alpha=0.02, tol=None, restore_best=False, reduction="sample_mean")
    gd.fit(X, y, coef_init=coef0, intercept_init=b0, sample_weight=sw)
    np.testing.assert_allclose(gd.coef_, sk.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(gd.intercept_, sk.intercept_[0], rtol=0, atol=1e-10)
    assert isinstance(gd.intercept_, float) and gd.coef_.shape == (3,)


def test_regressor_warm_start_continues():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    kw = dict(learning_rate=0.01, batch_size=4, schedule=None, shuffle=False, tol=None, restore_best=False)
    warm = GDRegressor(warm_start=True, max_iter=2, **kw).fit(X, y)
    warm.set_params(max_iter=3)
    warm.fit(X, y)
    once = GDRegressor(max_iter=5, **kw).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, once.coef_)
    assert warm.intercept_ == once.intercept_


def test_bad_inits():
    X, y, _ = _data(3)
    with pytest.raises(ValueError, match=r"coef_init must have shape \(3, 4\)"):
        GDClassifier().fit(X, y, coef_init=np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"intercept_init must be a number or have shape \(3,\)"):
        GDClassifier().fit(X, y, intercept_init=np.zeros(2))
    with pytest.raises(ValueError, match="coef_init must have shape"):
        GDRegressor().fit(X, y.astype(float), coef_init=np.zeros(3))
    with pytest.raises(TypeError, match="warm_start"):
        GDRegressor(warm_start="yes").fit(X, y.astype(float))
    with pytest.raises(ValueError, match="reduction must be one of"):
        GDRegressor(reduction="sum").fit(X, y.astype(float))
    clf = GDClassifier(warm_start=True, max_iter=2, tol=None).fit(X, y)
    with pytest.raises(ValueError, match="warm_start: the fitted coef_ has shape"):
        clf.fit(X, y % 2)
    # a binary coef_init may be given 1-D
    GDClassifier(max_iter=1, tol=None).fit(X, y % 2, coef_init=np.zeros(4))


def _hand_early_stopping(make, X, y, stratify, fraction, seed, n_iter_no_change, tol, max_iter):
    """The rule written out: split with scikit-learn's (Stratified)ShuffleSplit, one epoch at a time
    by partial_fit on the training part (shuffle=False: the same steps as fit's run), score by hand."""
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    split = (StratifiedShuffleSplit if stratify else ShuffleSplit)(n_splits=1, test_size=fraction,
                                                                   random_state=np.random.RandomState(seed))
    tr, va = next(split.split(np.zeros((len(y), 1)), y if stratify else None))
    model = make()
    scores, best, best_score, bad = [], None, -np.inf, 0
    for epoch in range(max_iter):
        if stratify:
            model.partial_fit(X[tr], y[tr], classes=np.unique(y))
            score = accuracy_score(y[va], model.classes_[np.argmax(X[va] @ model.coef_.T + model.intercept_, axis=1)
                                                         if model.coef_.shape[0] > 1 else
                                                         (X[va] @ model.coef_[0] + model.intercept_[0] > 0).astype(int)])
        else:
            model.partial_fit(X[tr], y[tr])
            score = r2_score(y[va], X[va] @ model.coef_ + model.intercept_)
        scores.append(score)
        bad = bad + 1 if score < best_score + tol else 0
        if score > best_score:
            best_score, best = score, (model.coef_.copy(), np.copy(model.intercept_))
        if bad >= n_iter_no_change:
            break
    return np.array(scores), best, va


def test_classifier_early_stopping_by_hand():
    X, y, _ = _data(3, n=200)
    kw = dict(loss="hinge", learning_rate=0.05, batch_size=1, shuffle=False, penalty="l2", alpha=0.001)
    clf = GDClassifier(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3, max_iter=50,
                       random_state=0, **kw).fit(X, y)
    scores, best, va = _hand_early_stopping(lambda: GDClassifier(**kw), X, y, True, 0.2, 0, 3, 1e-3, 50)
    np.testing.assert_array_equal(clf.validation_scores_, scores)
    assert clf.n_iter_ == len(scores) < 50
    np.testing.assert_array_equal(clf.coef_, best[0])  # the best epoch's weights, not the last
    np.testing.assert_array_equal(clf.intercept_, best[1])
    assert clf.score(X[va], y[va]) == scores.max() == scores[clf.best_iteration_ - 1]
    # stratified: every class in the held-out part in its proportion
    assert np.bincount(y[va]).min() >= 0.2 * np.bincount(y).min() - 1
    # the split is reproducible with the same random_state
    again = GDClassifier(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3, max_iter=50,
                         random_state=0, **kw).fit(X, y)
    np.testing.assert_array_equal(again.coef_, clf.coef_)


def test_regressor_early_stopping_by_hand():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.standard_normal(150)
    kw = dict(learning_rate=0.05, batch_size=5, schedule=None, shuffle=False)
    reg = GDRegressor(early_stopping=True, validation_fraction=0.25, n_iter_no_change=2, tol=1e-4, max_iter=100,
                      random_state=3, **kw).fit(X, y)
    scores, best, va = _hand_early_stopping(lambda: GDRegressor(**kw), X, y, False, 0.25, 3, 2, 1e-4, 100)
    np.testing.assert_array_equal(reg.validation_scores_, scores)
    np.testing.assert_array_equal(reg.coef_, best[0])
    assert reg.n_iter_ == len(scores) < 100
    assert reg.score(X[va], y[va]) == scores.max()


def test_early_stopping_bad_values():
    X, y, _ = _data(3, n=30)
    with pytest.raises(ValueError, match="validation_fraction must be"):
        GDClassifier(early_stopping=True, validation_fraction=1.0).fit(X, y)
    with pytest.raises(TypeError, match="early_stopping"):
        GDClassifier(early_stopping="yes").fit(X, y)
    with pytest.raises(ValueError, match="early_stopping: validation_fraction=0.01 of 30 samples cannot be split"):
        GDClassifier(early_stopping=True, validation_fraction=0.01).fit(X, y)
