"""scipy.sparse CSR X in train, predict, GDRegressor and GDClassifier (loss="multinomial" included):
never densified, checked against oracles that share no code with the CSR kernels (sweep on CSR X:
tests/test_sparse_sweep.py).

Oracles and tolerances:
- scikit-learn's SGDClassifier/SGDRegressor on the same CSR matrix (per-sample, shuffle=False,
  constant rate, no intercept: scikit-learn decays the intercept's updates on sparse data, gdfast
  does not), penalties None/l2/l1/elasticnet: coef_ to 1e-10 of the largest weight. Both keep W as
  a scale times a vector and sum each prediction over the row's entries; they differ in the last
  bits (the order of the partial sums, where the scale is folded): measured ~1e-16 after 5 epochs.
  A 1% larger learning rate moves the weights by ~1e-3, far past 1e-10.
- gdfast on the same data dense (other loops for every product): 1e-12 relative (measured ~1e-15).
- A hand loop over the CSR rows written here in plain Python (the update rule as the docs state it).
- loss="multinomial": torch.optim.SGD on torch.nn.CrossEntropyLoss over X.toarray() (per sample and
  mini-batches, L2 as torch's weight_decay), 1e-10 of max |W| (as tests/test_multinomial.py); the
  loss value against scipy.special.logsumexp written here; gdfast dense to 1e-12 as above.
- float32 data: the per-sample loop keeps double weights during a call and rounds once at its end,
  so a float32 run equals the float64 run on the float32 values, rounded: to 2 float32 ulps.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")
sklearn_linear = pytest.importorskip("sklearn.linear_model")

import gdfast  # noqa: E402
from gdfast import GDRegressor  # noqa: E402

SKLEARN_TOL = 1e-10
DENSE_RTOL = 1e-12


def _problem(n=60, d=25, density=0.2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", dtype=np.float64, random_state=rng)
    X.data = rng.standard_normal(X.nnz)  # signed values
    w = rng.standard_normal(d)
    y_reg = X @ w + 0.1 * rng.standard_normal(n)
    y_clf = np.where(y_reg > 0, 1.0, -1.0)
    return X.astype(dtype), y_reg.astype(dtype), y_clf.astype(dtype)


def _close(a, b, tol):
    """max |a - b| <= tol * max(|b|, 1e-300): the error relative to the largest entry."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) <= tol * max(float(np.max(np.abs(b))), 1e-300)


def _sklearn_coef(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    return np.ravel(estimator.coef_)


PENALTIES = [(None, 0.15), ("l2", 0.0), ("l1", 1.0), ("elasticnet", 0.4)]


@pytest.mark.parametrize("penalty,l1_ratio", PENALTIES)
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "modified_huber"])
def test_classifier_equals_sgdclassifier(loss, penalty, l1_ratio):
    X, _, y = _problem()
    alpha, lr, epochs = 0.01, 0.05, 5
    r = gdfast.train(np.zeros(X.shape[1]), X, y, loss=loss, learning_rate=lr, batch_size=1, shuffle=False,
                     num_epochs=epochs, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio)
    clf = sklearn_linear.SGDClassifier(
        loss=loss, penalty=penalty, alpha=alpha if penalty else 0.0, l1_ratio=l1_ratio, learning_rate="constant",
        eta0=lr, max_iter=epochs, tol=None, shuffle=False, fit_intercept=False)
    coef = _sklearn_coef(clf, X, y)
    assert _close(r.W, coef, SKLEARN_TOL)
    if penalty in ("l1", "elasticnet"):
        assert (r.W == 0).any() and np.array_equal(r.W == 0, coef == 0)  # the same exact zeros
    # The oracle can fail: a 1% larger learning rate is far outside the tolerance.
    off = gdfast.train(np.zeros(X.shape[1]), X, y, loss=loss, learning_rate=lr * 1.01, batch_size=1, shuffle=False,
                       num_epochs=epochs, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio)
    assert not _close(off.W, coef, SKLEARN_TOL)


@pytest.mark.parametrize("penalty,l1_ratio", PENALTIES)
def test_regressor_equals_sgdregressor(penalty, l1_ratio):
    # scikit-learn's squared_error is r**2 / 2, gdfast's mse r**2: the same run at half the rate.
    X, y, _ = _problem(seed=1)
    alpha, lr, epochs = 0.01, 0.02, 4
    r = gdfast.train(np.zeros(X.shape[1]), X, y, loss="mse", learning_rate=lr / 2, batch_size=1, shuffle=False,
                     num_epochs=epochs, penalty=penalty, alpha=2 * alpha, l1_ratio=l1_ratio)
    reg = sklearn_linear.SGDRegressor(
        loss="squared_error", penalty=penalty, alpha=alpha if penalty else 0.0, l1_ratio=l1_ratio,
        learning_rate="constant", eta0=lr, max_iter=epochs, tol=None, shuffle=False, fit_intercept=False)
    assert _close(r.W, _sklearn_coef(reg, X, y), SKLEARN_TOL)


def _both(X, y, **options):
    """(sparse run, dense run) of the same call."""
    w0 = np.zeros(X.shape[1], dtype=X.dtype)
    return gdfast.train(w0, X, y, **options), gdfast.train(w0, X.toarray(), y, **options)


@pytest.mark.parametrize("options", [
    dict(loss="log_loss", batch_size=1, shuffle=False, num_epochs=3, fit_intercept=True),
    dict(loss="log_loss", batch_size=1, shuffle=True, seed=3, num_epochs=3, penalty="l2", alpha=0.05),
    dict(loss="hinge", batch_size=1, num_epochs=2, seed=1, schedule="invscaling"),
    dict(loss="mse", batch_size=7, num_epochs=3, seed=2, fit_intercept=True, penalty="elasticnet", alpha=0.01),
    dict(loss="huber", optimizer="adam", batch_size=16, num_epochs=3, seed=5),
    dict(loss="mse", num_iterations=30, fit_intercept=True),
    dict(loss="mse", optimizer="sgd", batch_size=1, num_epochs=2, seed=4, clip_norm=0.5, grad_tol=1e-12),
    dict(loss="squared_hinge", batch_size=1, num_epochs=2, seed=6, n_iter_no_change=1, loss_tol=10.0),
])
def test_sparse_equals_dense(options):
    X, y_reg, y_clf = _problem(seed=2)
    y = y_clf if options["loss"] in ("log_loss", "hinge", "squared_hinge") else y_reg
    s, d = _both(X, y, learning_rate=0.05, **options)
    assert _close(s.W, d.W, DENSE_RTOL)
    if d.b is not None:
        assert _close(s.b, d.b, DENSE_RTOL)
    assert s.n_iter == d.n_iter and s.status == d.status
    assert np.allclose(s.losses, d.losses, rtol=1e-12, atol=0) and np.isclose(s.loss, d.loss, rtol=1e-12)
    assert np.allclose(s.epoch_losses, d.epoch_losses, rtol=1e-12, atol=0)


def test_sample_weight_and_multi_output_equal_dense():
    X, y, _ = _problem(seed=3)
    rng = np.random.default_rng(0)
    Y = np.stack([y, -2 * y + 1], axis=1)
    sw = rng.uniform(0.0, 2.0, X.shape[0])
    sw[::7] = 0.0
    for batch_size in (1, 5, None):
        s = gdfast.train(np.zeros((2, X.shape[1])), X, Y, learning_rate=0.02, batch_size=batch_size, num_epochs=3,
                         seed=1, sample_weight=sw, fit_intercept=True, penalty="l2", alpha=0.1)
        d = gdfast.train(np.zeros((2, X.shape[1])), X.toarray(), Y, learning_rate=0.02, batch_size=batch_size,
                         num_epochs=3, seed=1, sample_weight=sw, fit_intercept=True, penalty="l2", alpha=0.1)
        assert _close(s.W, d.W, DENSE_RTOL) and _close(s.b, d.b, DENSE_RTOL)


def test_hand_loop_over_csr_rows():
    """Per-sample log-loss SGD with an intercept and L2, written from the documented rule."""
    X, _, y = _problem(seed=4)
    lr, alpha, epochs = 0.1, 0.02, 3
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for i in range(X.shape[0]):
            cols = X.indices[X.indptr[i]:X.indptr[i + 1]]
            vals = X.data[X.indptr[i]:X.indptr[i + 1]]
            p = float(vals @ w[cols]) + b
            c = -y[i] / (1.0 + np.exp(y[i] * p))  # d/dp log(1 + exp(-y p))
            w *= 1.0 - lr * alpha
            np.add.at(w, cols, -lr * c * vals)
            b -= lr * c
    r = gdfast.train(np.zeros(X.shape[1]), X, y, loss="log_loss", learning_rate=lr, batch_size=1, shuffle=False,
                     num_epochs=epochs, penalty="l2", alpha=alpha, fit_intercept=True)
    assert _close(r.W, w, 1e-12) and abs(float(r.b) - b) <= 1e-12 * max(abs(b), 1.0)


def test_float32():
    X, _, y = _problem(seed=5)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    opts = dict(loss="log_loss", learning_rate=0.05, batch_size=1, shuffle=False, num_epochs=4, penalty="l2",
                alpha=0.01, fit_intercept=True)
    r32 = gdfast.train(np.zeros(X.shape[1], dtype=np.float32), X32, y32, **opts)
    r64 = gdfast.train(np.zeros(X.shape[1]), X32.astype(np.float64), y32.astype(np.float64), **opts)
    assert r32.W.dtype == np.float32 and r32.b.dtype == np.float32
    # one rounding of the double weights at the end of the call: within 2 float32 ulps
    assert np.all(np.abs(r32.W - r64.W) <= 2 * np.spacing(np.abs(r64.W).astype(np.float32)) + 1e-30)
    # and the float32 predictions of the sparse path: NumPy in float64, rounded
    W = np.random.default_rng(0).standard_normal((2, X.shape[1])).astype(np.float32)
    p = gdfast.predict(W, X32)
    assert p.dtype == np.float32
    assert np.allclose(p, X32.astype(np.float64) @ W.T.astype(np.float64), rtol=2 ** -23, atol=1e-6)


def test_unsorted_duplicates_empty_rows_explicit_zeros():
    rng = np.random.default_rng(6)
    n, d = 30, 12
    rows, cols, vals = [], [], []
    for i in range(n):
        if i % 5 == 0:
            continue  # an empty row
        k = rng.integers(1, 6)
        c = rng.integers(0, d, k)
        rows += [i] * k + [i]
        cols += list(c) + [int(c[0])]  # a duplicate entry
        vals += list(rng.standard_normal(k)) + [0.5]
    indptr = np.searchsorted(np.array(rows), np.arange(n + 1))
    perm = np.concatenate([rng.permutation(np.arange(indptr[i], indptr[i + 1])) for i in range(n)])
    data, indices = np.array(vals)[perm], np.array(cols)[perm]  # unsorted within rows
    data[::9] = 0.0  # explicit zeros
    X = sp.csr_matrix((data, indices, indptr), shape=(n, d))
    assert not X.has_canonical_format
    clean = X.copy()
    clean.sum_duplicates()
    clean.eliminate_zeros()
    y = np.where(np.arange(n) % 3 == 0, 1.0, -1.0)
    opts = dict(loss="log_loss", learning_rate=0.1, batch_size=1, shuffle=False, num_epochs=3, penalty="l2",
                alpha=0.01, fit_intercept=True)
    a = gdfast.train(np.zeros(d), X, y, **opts)
    b = gdfast.train(np.zeros(d), clean, y, **opts)
    c = gdfast.train(np.zeros(d), X.toarray(), y, **opts)
    assert _close(a.W, c.W, DENSE_RTOL) and _close(b.W, c.W, DENSE_RTOL) and _close(a.b, c.b, DENSE_RTOL)
    assert np.allclose(gdfast.predict(a.W, X), X.toarray() @ a.W, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_user_matrix_never_modified_and_index_dtypes(index_dtype):
    X, _, y = _problem(seed=7)
    X = sp.csr_matrix((X.data.copy(), X.indices.astype(index_dtype), X.indptr.astype(index_dtype)), shape=X.shape)
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    r = gdfast.train(np.zeros(X.shape[1]), X, y, loss="log_loss", batch_size=1, num_epochs=2, seed=0,
                     penalty="elasticnet", alpha=0.01)
    d = gdfast.train(np.zeros(X.shape[1]), X.toarray(), y, loss="log_loss", batch_size=4, num_epochs=2, seed=0)
    s = gdfast.train(np.zeros(X.shape[1]), X, y, loss="log_loss", batch_size=4, num_epochs=2, seed=0)
    gdfast.predict(r.W, X)
    for old, new in zip(before, (X.data, X.indices, X.indptr)):
        assert new.dtype == old.dtype and np.array_equal(new, old)
    assert _close(s.W, d.W, DENSE_RTOL)


def test_csr_array_and_continuation():
    X, _, y = _problem(seed=8)
    Xa = sp.csr_array(X)
    opts = dict(loss="log_loss", learning_rate=0.05, batch_size=1, seed=3, penalty="elasticnet", alpha=0.01)
    whole = gdfast.train(np.zeros(X.shape[1]), Xa, y, num_epochs=3, **opts)
    first = gdfast.train(np.zeros(X.shape[1]), X, y, num_epochs=2, **opts)
    more = gdfast.train(first.W, X, y, num_epochs=1, state=first.state, **opts)
    # continued: the scale folded at the call boundary, so equal to rounding, not to the bit
    assert _close(more.W, whole.W, 1e-13) and more.state.step == whole.state.step


def test_gdregressor_sparse_equals_dense():
    X, y, _ = _problem(seed=9)
    assert GDRegressor().__sklearn_tags__().input_tags.sparse
    for batch_size in (1, None):
        kw = dict(learning_rate=0.05, batch_size=batch_size, max_iter=10, tol=None, random_state=0)
        s = GDRegressor(**kw).fit(X, y)
        d = GDRegressor(**kw).fit(X.toarray(), y)
        assert _close(s.coef_, d.coef_, DENSE_RTOL) and np.isclose(s.intercept_, d.intercept_, rtol=1e-12)
        assert np.allclose(s.predict(X), d.predict(X.toarray()), rtol=1e-12, atol=1e-14)
    p = GDRegressor(learning_rate=0.05, batch_size=1, random_state=0).partial_fit(X, y).partial_fit(X[:10], y[:10])
    q = GDRegressor(learning_rate=0.05, batch_size=1, random_state=0).partial_fit(X.toarray(), y).partial_fit(
        X[:10].toarray(), y[:10])
    assert _close(p.coef_, q.coef_, DENSE_RTOL)


def test_predict_matches_numpy():
    X, _, _ = _problem(n=40, d=15, seed=10)
    W = np.random.default_rng(1).standard_normal((3, 15))
    assert np.allclose(gdfast.predict(W, X, b=[1.0, 2.0, 3.0]), X.toarray() @ W.T + [1.0, 2.0, 3.0],
                       rtol=1e-13, atol=1e-14)
    assert gdfast.predict(W[0], X).shape == (40,)


def test_refusals():
    X, y, y_clf = _problem(seed=11)
    w0 = np.zeros(X.shape[1])
    with pytest.raises(TypeError, match=r"X.tocsr\(\)"):
        gdfast.train(w0, X.tocsc(), y)
    with pytest.raises(TypeError, match=r"X.tocsr\(\)"):
        gdfast.predict(w0, X.tocoo())
    with pytest.raises(ValueError, match="accumulate"):
        gdfast.train(w0.astype(np.float32), X.astype(np.float32), y.astype(np.float32), accumulate="float32")
    with pytest.raises(ValueError, match="n_threads"):
        gdfast.train(w0, X, y, n_threads=2)
    with pytest.raises(ValueError, match="grad_tol"):
        gdfast.train(w0, X, y, batch_size=1, penalty="l1", grad_tol=1e-6)
    with pytest.raises(ValueError, match="n_features"):
        gdfast.train(np.zeros(X.shape[1] + 1), X, y)
    with pytest.raises(ValueError, match="Y must have shape"):
        gdfast.train(w0, X, y[:-1])
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gdfast.train(w0, bad, y)
    bad = X.copy()
    bad.indices[0] = X.shape[1]  # out of range: refused before any kernel reads it
    with pytest.raises(ValueError, match="column index"):
        gdfast.train(w0, bad, y)
    with pytest.raises(ValueError, match="binary class labels"):
        gdfast.train(w0, X, y, loss="log_loss")


@pytest.mark.parametrize("batch_size", [1, 16, None])
def test_sample_mean_reduction_equals_dense(batch_size):
    """reduction='sample_mean' (scikit-learn's weighting, outputs summed) on CSR X: the dense run's
    answer to 1e-12 (another summation order for the products), weights, two outputs and an L2
    penalty included; and the classifier on CSR X equals it on the dense copy."""
    rng = np.random.default_rng(5)
    X = sp.random(200, 30, density=0.2, random_state=1, format="csr")
    Y = np.where(rng.standard_normal((200, 2)) > 0, 1.0, -1.0)
    sw = rng.uniform(0.0, 2.0, 200)
    kwargs = dict(loss="log_loss", batch_size=batch_size, shuffle=False, num_epochs=3, sample_weight=sw,
                  reduction="sample_mean", fit_intercept=True, penalty="l2", alpha=0.01, learning_rate=0.05)
    a = gdfast.train(np.zeros((2, 30)), X, Y, **kwargs)
    b = gdfast.train(np.zeros((2, 30)), X.toarray(), Y, **kwargs)
    np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-12 * np.abs(b.W).max())
    np.testing.assert_allclose(a.b, b.b, rtol=0, atol=1e-12 * np.abs(b.W).max())
    # the mean reduction gives another answer (the check can fail)
    c = gdfast.train(np.zeros((2, 30)), X, Y, **{**kwargs, "reduction": "mean"})
    assert np.abs(c.W - b.W).max() > 1e-6


def test_classifier_sparse_equals_dense():
    from gdfast import GDClassifier

    rng = np.random.default_rng(6)
    X = sp.random(150, 20, density=0.3, random_state=2, format="csr")
    y = rng.integers(0, 3, 150)
    sparse = GDClassifier(random_state=0, max_iter=5, tol=None).fit(X, y)
    dense = GDClassifier(random_state=0, max_iter=5, tol=None).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-12 * np.abs(dense.coef_).max())
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))


def _multiclass_problem(n=60, d=15, k=3, seed=0):
    """A non-separable K-class problem on a CSR matrix with empty rows (every 7th), a duplicate
    entry in every other row and unsorted indices; labels from noisy logits."""
    rng = np.random.default_rng(seed)
    A = sp.random(n, d, density=0.3, format="lil", random_state=rng)
    rows, cols, vals = [], [], []
    for i in range(n):
        if i % 7 == 3:
            continue  # an empty row
        c = np.array(A.rows[i], dtype=np.int64)
        v = rng.standard_normal(c.size)
        if c.size and i % 2 == 0:  # a duplicate entry: it adds to its column, as scipy reads it
            c, v = np.append(c, c[0]), np.append(v, 0.5)
        order = rng.permutation(c.size)  # unsorted within the row
        rows += [i] * c.size
        cols += list(c[order])
        vals += list(v[order])
    indptr = np.searchsorted(np.array(rows), np.arange(n + 1))
    X = sp.csr_matrix((np.array(vals), np.array(cols), indptr), shape=(n, d))
    assert not X.has_canonical_format and (np.diff(X.indptr) == 0).any()
    logits = X.toarray() @ rng.standard_normal((k, d)).T + 1.5 * rng.standard_normal((n, k))
    return X, np.argmax(logits, axis=1)


def _torch_multinomial(X, y, k, lr, epochs, batch_size, alpha):
    """The oracle: torch.optim.SGD on torch.nn.CrossEntropyLoss (mean over the batch) of a
    torch.nn.Linear on the dense matrix, batches in sample order, weight_decay=alpha on the weights
    only (w - lr * (g + alpha * w) = (1 - lr * alpha) * w - lr * g, gdfast's L2 step; the bias is
    not penalised)."""
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(X.shape[1], k, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
    opt = torch.optim.SGD([{"params": [lin.weight], "weight_decay": alpha},
                           {"params": [lin.bias], "weight_decay": 0.0}], lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    ce = torch.nn.CrossEntropyLoss(reduction="mean")
    for _ in range(epochs):
        for start in range(0, X.shape[0], batch_size):
            opt.zero_grad()
            ce(lin(Xt[start:start + batch_size]), yt[start:start + batch_size]).backward()
            opt.step()
    return lin.weight.detach().numpy(), lin.bias.detach().numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_multinomial_equals_torch(batch_size, dtype):
    """loss='multinomial' on CSR X (per-sample loop and mini-batches), L2 penalty, intercept, empty
    rows and duplicate entries: torch's SGD on CrossEntropyLoss (float64) over X.toarray() to 1e-10
    of max |W| (as tests/test_multinomial.py: the two sum each step's terms in other orders, an ulp
    or so per step that 3 epochs carry; measured 6e-16). float32 X (torch on the same float32
    values, in float64): 1e-6 of max |W| (float32 parameters, rounded at every mini-batch step or
    once at the end of the per-sample loop; eps 6e-8; measured 5e-8 per sample, 2e-7 in batches of
    7). A 1% larger learning rate must fail both by a factor 100."""
    X, y = _multiclass_problem()
    X = X.astype(dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-6
    lr, epochs, alpha = 0.2, 3, 0.01
    opts = dict(loss="multinomial", batch_size=batch_size, shuffle=False, num_epochs=epochs, penalty="l2",
                alpha=alpha, fit_intercept=True)
    r = gdfast.train(np.zeros((3, X.shape[1]), dtype=dtype), X, y, learning_rate=lr, **opts)
    assert r.W.dtype == dtype
    W_t, b_t = _torch_multinomial(X.toarray().astype(np.float64), y, 3, lr, epochs, batch_size, alpha)
    scale = np.abs(W_t).max()
    assert scale > 0.1  # the run moved
    np.testing.assert_allclose(r.W, W_t, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(r.b, b_t, rtol=0, atol=tol * scale)
    off = gdfast.train(np.zeros((3, X.shape[1]), dtype=dtype), X, y, learning_rate=lr * 1.01, **opts)
    assert np.abs(off.W - W_t).max() > 100 * tol * scale


@pytest.mark.parametrize("options", [
    dict(batch_size=1, shuffle=False, penalty="l2", alpha=0.01),
    dict(batch_size=1, seed=3, penalty="l2", alpha=0.01),
    dict(batch_size=7, seed=3, penalty="elasticnet", alpha=0.01, l1_ratio=0.3),
    dict(batch_size=1, seed=4, schedule="invscaling", reduction="sample_mean"),
    dict(batch_size=7, seed=1, penalty="l2", alpha=0.05),
    dict(batch_size=None, num_iterations=40, penalty="l2", alpha=0.01),
    dict(batch_size=5, seed=2, optimizer="adam"),
])
def test_multinomial_sparse_equals_dense(options):
    """gdfast's own dense run on X.toarray() (its other loops) to 1e-12 of max |W|, the loss
    histories to rtol 1e-12, weighted, with and without intercept. Not bit-equal: the dense dot
    products group their terms by feature index (and duplicates are added first by toarray()), the
    CSR ones by stored entry, and the per-sample loop keeps W as a scale times a vector (the L2
    shrink is one multiplication of the scale); measured ~1e-16. (An L1 penalty with batch_size=1
    acts on each row's stored entries only on CSR X, as scikit-learn's sparse SGD: not compared.)"""
    X, y = _multiclass_problem(seed=4)
    sw = np.random.default_rng(1).uniform(0.0, 2.0, X.shape[0])
    sw[::5] = 0.0
    for fit_intercept, weights in ((True, None), (False, sw)):
        opts = dict(loss="multinomial", learning_rate=0.1, fit_intercept=fit_intercept, sample_weight=weights,
                    **({} if "num_iterations" in options else {"num_epochs": 3}), **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # (weights that cancel with batch_size=1)
            s = gdfast.train(np.zeros((3, X.shape[1])), X, y, **opts)
            d = gdfast.train(np.zeros((3, X.shape[1])), X.toarray(), y, **opts)
        assert np.abs(d.W).max() > 0.05
        assert _close(s.W, d.W, DENSE_RTOL)
        if fit_intercept:
            assert _close(s.b, d.b, DENSE_RTOL)
        assert s.n_iter == d.n_iter and s.status == d.status
        assert np.allclose(s.losses, d.losses, rtol=1e-12, atol=0) and np.isclose(s.loss, d.loss, rtol=1e-12)
        assert np.allclose(s.epoch_losses, d.epoch_losses, rtol=1e-12, atol=0, equal_nan=True)


def test_multinomial_loss_on_csr_matches_logsumexp():
    """The loss a run reports on CSR X is the mean softmax cross-entropy written here with
    scipy.special.logsumexp (rtol 1e-12: a few dozen double terms in other orders)."""
    from scipy.special import logsumexp

    X, y = _multiclass_problem(seed=8)
    r = gdfast.train(np.zeros((3, X.shape[1])), X, y, loss="multinomial", learning_rate=0.3, batch_size=4,
                     seed=0, num_epochs=2, fit_intercept=True)
    Z = X.toarray() @ r.W.T + r.b
    expected = float(np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]))
    assert np.isclose(r.loss, expected, rtol=1e-12, atol=0)


def test_multinomial_float32():
    """float32 CSR X: the per-sample loop keeps double weights during the call and rounds once at
    its end, so it equals the float64 run on the same values, rounded (2 float32 ulps); mini-batches
    round W to float32 at every step, as the dense float32 run does: 1e-5 of max |W| (a last-bit
    difference of the double sums can flip a float32 rounding by an ulp, 6e-8, which later steps
    carry)."""
    X, y = _multiclass_problem(seed=6)
    X32 = X.astype(np.float32)
    opts = dict(loss="multinomial", learning_rate=0.1, shuffle=False, num_epochs=3, penalty="l2", alpha=0.01,
                fit_intercept=True)
    r32 = gdfast.train(np.zeros((3, X.shape[1]), dtype=np.float32), X32, y, batch_size=1, **opts)
    r64 = gdfast.train(np.zeros((3, X.shape[1])), X32.astype(np.float64), y, batch_size=1, **opts)
    assert r32.W.dtype == np.float32 and r32.b.dtype == np.float32
    assert np.all(np.abs(r32.W - r64.W) <= 2 * np.spacing(np.abs(r64.W).astype(np.float32)) + 1e-30)
    assert np.all(np.abs(r32.b - r64.b) <= 2 * np.spacing(np.abs(r64.b).astype(np.float32)) + 1e-30)
    m32 = gdfast.train(np.zeros((3, X.shape[1]), dtype=np.float32), X32, y, batch_size=6, **opts)
    d32 = gdfast.train(np.zeros((3, X.shape[1]), dtype=np.float32), X32.toarray(), y, batch_size=6, **opts)
    assert m32.W.dtype == np.float32
    np.testing.assert_allclose(m32.W, d32.W, rtol=0, atol=1e-5 * np.abs(d32.W).max())
    np.testing.assert_allclose(m32.b, d32.b, rtol=0, atol=1e-5 * np.abs(d32.W).max())


def test_multinomial_classifier_sparse_equals_dense():
    """GDClassifier(multi_class='multinomial') on CSR X equals it on the dense array: coef_ and
    intercept_ to 1e-12 of max |coef_| (the kernels' summation orders, as above), the same
    predictions and probabilities to 1e-12."""
    from gdfast import GDClassifier

    X, y = _multiclass_problem(n=120, seed=9)
    kw = dict(multi_class="multinomial", random_state=0, max_iter=5, tol=None, alpha=0.001)
    sparse = GDClassifier(**kw).fit(X, y)
    dense = GDClassifier(**kw).fit(X.toarray(), y)
    assert sparse.coef_.shape == (3, X.shape[1])
    scale = np.abs(dense.coef_).max()
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=0, atol=1e-12 * scale)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()), rtol=0, atol=1e-12)
    # and it learned something: better than the majority class on its training data
    assert (sparse.predict(X) == y).mean() > np.bincount(y).max() / len(y)
