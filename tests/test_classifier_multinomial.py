"""GDClassifier(multi_class="multinomial"): one softmax over the classes, against oracles sharing no
code with gdfast.

(a) Per-sample SGD (batch_size=1, shuffle=False, constant rate, no penalty) equals a torch loop with
    ``torch.nn.CrossEntropyLoss`` and ``torch.optim.SGD`` over the same samples in order, to 1e-10
    absolute (the two sum each step's few terms in different orders: an ulp or so per step over 3
    epochs of 120 steps, weights of order 1; measured ~1e-15). With unit weights the estimator's
    reduction="sample_mean" of one sample is the sample's cross-entropy, torch's reduction "mean" of
    a batch of one; with weights each sample's term is multiplied by sample_weight * class_weight[y]
    (scikit-learn LogisticRegression's class_weight), written in the torch loop as a multiplied
    reduction="sum" loss of the one sample. A learning rate 1% off must fail that tolerance.
(b) A long full-batch run with penalty="l2" reaches scikit-learn's LogisticRegression (lbfgs,
    multinomial) optimum with C = 1 / (alpha * n_samples) (scikit-learn sums the losses, gdfast takes
    their mean) to 1e-6, compared after subtracting the class mean of W and b (softmax's shift
    invariance), and by the probabilities. Both solvers run far past 1e-6.
(c) predict_proba is scipy.special.softmax of decision_function (1e-15: the same formula) and its rows
    sum to 1; predict is the argmax.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse
from scipy.special import softmax

torch = pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from gdfast import GDClassifier  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@parametrize_with_checks([GDClassifier(multi_class="multinomial", random_state=0)],
                         expected_failed_checks=lambda est: {
    # As the default instance (tests/test_classifier.py): the objective is (1 / n) sum_i w_i l_i,
    # so a weight of 2 is not a repeated row.
    "check_sample_weight_equivalence_on_dense_data": "scikit-learn's SGD objective: weights != repeated rows",
    "check_sample_weight_equivalence_on_sparse_data": "scikit-learn's SGD objective: weights != repeated rows",
})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def problem(n=120, seed=21):
    """A non-separable 3-class problem (labels from noisy logits): the optimum is finite."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    logits = X @ rng.standard_normal((3, 4)).T + 2.0 * rng.standard_normal((n, 3))
    return X, np.argmax(logits, axis=1)


def torch_sgd(X, y, lr, epochs, weights=None):
    """Per-sample torch SGD on CrossEntropyLoss, samples in order (the oracle)."""
    lin = torch.nn.Linear(X.shape[1], 3, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
    opt = torch.optim.SGD(lin.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    mean = torch.nn.CrossEntropyLoss(reduction="mean")
    total = torch.nn.CrossEntropyLoss(reduction="sum")
    for _ in range(epochs):
        for i in range(X.shape[0]):
            opt.zero_grad()
            logits = lin(Xt[i:i + 1])
            loss = mean(logits, yt[i:i + 1]) if weights is None else weights[i] * total(logits, yt[i:i + 1])
            loss.backward()
            opt.step()
    return lin.weight.detach().numpy(), lin.bias.detach().numpy()


@pytest.mark.parametrize("weights", ["none", "sample", "class", "both"])
def test_per_sample_sgd_equals_torch_cross_entropy(weights):
    X, y = problem()
    lr, epochs = 0.05, 3
    sw = np.random.default_rng(1).uniform(0.3, 2.0, y.size) if weights in ("sample", "both") else None
    cw = {0: 2.0, 1: 0.5, 2: 1.3} if weights in ("class", "both") else None
    w = None
    if sw is not None or cw is not None:
        w = (np.ones(y.size) if sw is None else sw) * (1.0 if cw is None else np.array([cw[k] for k in y]))
    W, b = torch_sgd(X, y, lr, epochs, w)
    clf = GDClassifier(multi_class="multinomial", learning_rate=lr, penalty=None, batch_size=1, shuffle=False,
                       max_iter=epochs, tol=None, restore_best=False, class_weight=cw).fit(X, y, sample_weight=sw)
    assert clf.coef_.shape == (3, 4) and clf.intercept_.shape == (3,)
    np.testing.assert_allclose(clf.coef_, W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, b, rtol=0, atol=1e-10)
    assert clf.n_iter_ == epochs and clf.t_ == epochs * y.size
    # plausibly wrong code fails: a rate 1% off
    off = GDClassifier(multi_class="multinomial", learning_rate=lr * 1.01, penalty=None, batch_size=1,
                       shuffle=False, max_iter=epochs, tol=None, restore_best=False,
                       class_weight=cw).fit(X, y, sample_weight=sw)
    assert np.abs(off.coef_ - W).max() > 1e-6


def test_one_vs_rest_is_another_model():
    """The torch oracle tells the two apart: "ovr" trains K logistic problems."""
    X, y = problem()
    W, _ = torch_sgd(X, y, 0.05, 1)
    ovr = GDClassifier(learning_rate=0.05, penalty=None, batch_size=1, shuffle=False, max_iter=1, tol=None,
                       restore_best=False).fit(X, y)
    assert np.abs(ovr.coef_ - W).max() > 1e-3


def centred(W, b):
    return W - W.mean(axis=0), b - b.mean()


def test_long_full_batch_run_reaches_logistic_regression():
    X, y = problem(300)
    n, alpha = X.shape[0], 0.01
    sk = LogisticRegression(C=1.0 / (alpha * n), tol=1e-12, max_iter=10000).fit(X, y)
    clf = GDClassifier(multi_class="multinomial", penalty="l2", alpha=alpha, learning_rate=1.0, batch_size=None,
                       max_iter=6000, tol=None, random_state=0).fit(X, y)
    W, b = centred(clf.coef_, clf.intercept_)
    sW, sb = centred(sk.coef_, sk.intercept_)
    np.testing.assert_allclose(W, sW, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b, sb, rtol=0, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-6)
    # plausibly wrong code fails: alpha 1% off (C's mapping off by 1%) lands elsewhere
    near = GDClassifier(multi_class="multinomial", penalty="l2", alpha=alpha * 1.01, learning_rate=1.0,
                        batch_size=None, max_iter=6000, tol=None, random_state=0).fit(X, y)
    assert np.abs(centred(near.coef_, near.intercept_)[0] - sW).max() > 1e-5


def test_predict_proba_is_softmax_of_decision_function():
    X, y = problem()
    clf = GDClassifier(multi_class="multinomial", random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (y.size, 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, softmax(scores, axis=1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=0, atol=1e-15)


def test_labels_are_mapped_through_classes():
    X, y = problem()
    names = np.array(["cat", "dog", "eel"])[y]
    a = GDClassifier(multi_class="multinomial", random_state=0, shuffle=False).fit(X, y)
    b = GDClassifier(multi_class="multinomial", random_state=0, shuffle=False).fit(X, names)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(b.predict(X), np.array(["cat", "dog", "eel"])[a.predict(X)])


def test_two_classes_are_the_binary_logistic_model():
    """Documented choice: with two classes "multinomial" trains the "ovr" binary model (coef_ (1, n))."""
    X, y = problem()
    y2 = (y == 0).astype(int)
    a = GDClassifier(multi_class="multinomial", random_state=0).fit(X, y2)
    b = GDClassifier(random_state=0).fit(X, y2)
    assert a.coef_.shape == (1, 4)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_partial_fit_continues_one_run():
    X, y = problem()
    kw = dict(multi_class="multinomial", learning_rate=0.05, penalty=None, batch_size=1, shuffle=False)
    one = GDClassifier(max_iter=2, tol=None, restore_best=False, **kw).fit(X, y)
    step = GDClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    np.testing.assert_allclose(step.coef_, one.coef_, rtol=0, atol=1e-13)
    assert step.t_ == one.t_


@pytest.mark.parametrize("kw, pattern", [
    (dict(multi_class="softmax"), "multi_class must be 'ovr' or 'multinomial'"),
    (dict(multi_class=None), "multi_class must be"),
    (dict(multi_class="multinomial", loss="hinge"), "loss='log_loss'.*loss='hinge'"),
])
def test_bad_settings_are_refused(kw, pattern):
    X, y = problem()
    with pytest.raises(ValueError, match=pattern):
        GDClassifier(**kw).fit(X, y)
    with pytest.raises(ValueError, match=pattern):
        GDClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2])


def test_sparse_x_equals_dense_x():
    """A CSR X (the softmax's sparse kernels) gives the dense fit: coef_ and intercept_ to 1e-12 of
    max |coef_| (the products summed over stored entries instead of all features: other orders,
    measured ~1e-16), the same predictions; partial_fit too. tests/test_sparse.py has the torch
    oracle on CSR X."""
    X, y = problem()
    X[np.abs(X) < 0.7] = 0.0  # about half the entries zero
    csr = scipy.sparse.csr_matrix(X)
    kw = dict(multi_class="multinomial", random_state=0, max_iter=4, tol=None)
    sparse, dense = GDClassifier(**kw).fit(csr, y), GDClassifier(**kw).fit(X, y)
    scale = np.abs(dense.coef_).max()
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(sparse.predict(csr), dense.predict(X))
    sparse.partial_fit(csr, y)
    dense.partial_fit(X, y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-12 * np.abs(dense.coef_).max())


def test_class_weight_needs_one_run_so_partial_fit_and_early_stopping_take_it():
    """One-vs-rest with class weights needs K runs (refused by partial_fit); multinomial weights each
    sample once, so it continues one run: two partial_fit epochs = a 2-epoch fit (the torch oracle's
    weights are checked above)."""
    X, y = problem()
    cw = {0: 2.0, 1: 0.5, 2: 1.3}
    kw = dict(multi_class="multinomial", learning_rate=0.05, penalty=None, batch_size=1, shuffle=False,
              class_weight=cw)
    one = GDClassifier(max_iter=2, tol=None, restore_best=False, **kw).fit(X, y)
    step = GDClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    np.testing.assert_allclose(step.coef_, one.coef_, rtol=0, atol=1e-13)
    early = GDClassifier(early_stopping=True, random_state=0, max_iter=50, **kw).fit(X, y)
    assert early.coef_.shape == (3, 4) and 1 <= early.best_iteration_ <= early.n_iter_ <= 50


def test_float32_x_keeps_float32():
    X, y = problem()
    clf = GDClassifier(multi_class="multinomial", random_state=0, max_iter=5, tol=None).fit(X.astype(np.float32), y)
    assert clf.coef_.dtype == np.float32
    np.testing.assert_allclose(clf.predict_proba(X.astype(np.float32)).sum(axis=1), 1.0, atol=1e-6)
