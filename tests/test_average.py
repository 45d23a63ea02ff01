"""average= (issue #14): averaged SGD, the mean of the iterates, as scikit-learn's SGD ``average``.

Oracles:
- scikit-learn's SGDRegressor / SGDClassifier(average=True or 10), per sample (batch_size=1, no
  shuffling, constant rate), without a penalty and with "l2": coef_ and intercept_ to 1e-10. Measured:
  about 2e-15 (scikit-learn keeps its average lazily, as scaled sums; gdfast as mean += (w - mean) / k:
  the same mean, rounded differently). The squared-error mapping of tests/test_penalty.py: gdfast's
  mse is twice scikit-learn's half squared error, so learning_rate = eta0 / 2 and alpha = 2 * alpha_sk.
  A learning rate 1% off moves the averaged weights by ~1e-3, far past 1e-10 (checked below).
- With an L1 part ("elasticnet") the mean is of the iterates after their truncation: checked against a
  hand loop written here (scikit-learn's per-sample update, then the mean of the iterates), to 1e-12
  (the same operations, summed in another order). scikit-learn's own average differs there by ~1e-3: a
  second hand loop that replays its lazy scaled sums (the truncation, applied after the average is
  updated, is not compensated in those sums) reproduces scikit-learn to 1e-12, which shows where the
  difference comes from.
- Mini-batches: a hand NumPy loop (batch gradient of the mean loss, one iterate per update, the mean
  from update ``average`` on), to 1e-12 (float64 sums in another order). Any configuration (shuffled
  batches, momentum, schedules): np.mean of the raw iterates of the same run without averaging,
  collected one update at a time, to 1e-12.
- Continuation: a run split in two calls equals one call, bit for bit.
"""
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import reference

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import SGDClassifier, SGDRegressor  # noqa: E402

TOL_SKLEARN = 1e-10  # measured ~2e-15; see the module docstring
TOL_HAND = 1e-12  # the same arithmetic in another order of summation (float64)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.3 + 0.1 * rng.normal(size=60)
    return X, y


def _sk_regressor(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=None, max_iter reached by design
        return SGDRegressor(learning_rate="constant", shuffle=False, tol=None, **kw).fit(X, y)


def _ours_regressor(X, y, eta, epochs, alpha=0.0001, **kw):
    # gdfast's mse is twice scikit-learn's squared_error: half the rate, twice alpha (same updates)
    return gdfast.train(np.zeros(X.shape[1]), X, y, learning_rate=eta / 2, alpha=2 * alpha, batch_size=1,
                        shuffle=False, num_epochs=epochs, **kw)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("average", [True, 10, 1000])
def test_per_sample_equals_sgdregressor(data, average, penalty, fit_intercept):
    X, y = data
    eta, a, epochs = 0.01, 0.01, 5  # 300 updates: average=1000 never begins (both return the raw iterate)
    sk = _sk_regressor(X, y, average=average, penalty=penalty, alpha=a, eta0=eta, max_iter=epochs,
                       fit_intercept=fit_intercept)
    ours = _ours_regressor(X, y, eta, epochs, alpha=a, penalty=penalty, average=average,
                           fit_intercept=fit_intercept)
    np.testing.assert_allclose(ours.W, sk.coef_, rtol=0, atol=TOL_SKLEARN)
    if fit_intercept:
        np.testing.assert_allclose(ours.b, sk.intercept_[0], rtol=0, atol=TOL_SKLEARN)
    # the averaged weights are not the raw iterate (which stays in the state)
    raw = ours.state.split()[0][0]
    assert (np.abs(raw - ours.W).max() > 1e-4) == (average != 1000)


def test_tolerance_catches_a_one_percent_learning_rate(data):
    X, y = data
    sk = _sk_regressor(X, y, average=True, eta0=0.01, max_iter=5, fit_intercept=True)
    off = _ours_regressor(X, y, 0.0101, 5, average=True, fit_intercept=True)
    assert np.abs(off.W - sk.coef_).max() > 1e3 * TOL_SKLEARN
    # and averaging must be there: the raw iterate is far from scikit-learn's mean too
    raw = _ours_regressor(X, y, 0.01, 5, fit_intercept=True)
    assert np.abs(raw.W - sk.coef_).max() > 1e3 * TOL_SKLEARN


@pytest.mark.parametrize("penalty", [None, "l2"])
@pytest.mark.parametrize("loss", ["hinge", "log_loss"])
def test_per_sample_equals_sgdclassifier(data, loss, penalty):
    X, y = data
    labels = np.where(y > 0.3, 1.0, -1.0)
    eta, a, epochs = 0.01, 0.01, 5  # margin losses: the same scale on both sides (same rate and alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SGDClassifier(loss=loss, average=True, penalty=penalty, alpha=a, learning_rate="constant", eta0=eta,
                           shuffle=False, tol=None, max_iter=epochs).fit(X, labels)
    ours = gdfast.train(np.zeros(4), X, labels, loss=loss, learning_rate=eta, penalty=penalty, alpha=a,
                        average=True, batch_size=1, shuffle=False, num_epochs=epochs, fit_intercept=True)
    np.testing.assert_allclose(ours.W, sk.coef_[0], rtol=0, atol=TOL_SKLEARN)
    np.testing.assert_allclose(ours.b, sk.intercept_[0], rtol=0, atol=TOL_SKLEARN)
    off = gdfast.train(np.zeros(4), X, labels, loss=loss, learning_rate=eta * 1.01, penalty=penalty, alpha=a,
                       average=True, batch_size=1, shuffle=False, num_epochs=epochs, fit_intercept=True)
    assert np.abs(off.W - sk.coef_[0]).max() > 1e3 * TOL_SKLEARN


def _elasticnet_by_hand(X, y, eta, alpha, l1_ratio, epochs, average):
    """scikit-learn's per-sample update on its half squared error with an elastic net (shrink, loss
    step, cumulative truncated gradient), written out; returns (the mean of the iterates after their
    truncation, from sample ``average`` on, its intercept, scikit-learn's lazy average of the same run)."""
    n, d = X.shape
    w, b, q, u = np.zeros(d), 0.0, np.zeros(d), 0.0
    mean, mean_b, k = np.zeros(d), 0.0, 0
    # scikit-learn's lazy average: w = wscale * v; average = (aw + A * v) / B
    v, wscale, aw, A, B = np.zeros(d), 1.0, np.zeros(d), 0.0, 1.0
    t = 1
    for _ in range(epochs):
        for i in range(n):
            p = w @ X[i] + b
            update = -eta * (p - y[i])
            shrink = max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha)
            w = shrink * w + update * X[i]
            b += update
            wscale *= shrink
            v += X[i] * (update / wscale)
            if t >= average:
                m = t - average + 1
                aw += A * X[i] * (-update / wscale)
                if m > 1:
                    B /= 1.0 - 1.0 / m
                A += B * wscale / m
            u += l1_ratio * eta * alpha
            for j in range(d):
                z = w[j]
                if z > 0:
                    w[j] = max(0.0, z - (u + q[j]))
                elif z < 0:
                    w[j] = min(0.0, z + (u - q[j]))
                q[j] += w[j] - z
                v[j] = w[j] / wscale  # the same truncation on scikit-learn's scaled copy
            if t >= average:
                k += 1
                mean += (w - mean) / k
                mean_b += (b - mean_b) / k
            t += 1
    return mean, mean_b, (aw + A * v) / B


@pytest.mark.parametrize("average", [True, 10])
def test_per_sample_elasticnet_is_the_mean_of_the_truncated_iterates(data, average):
    X, y = data
    eta, a, l1_ratio, epochs = 0.01, 0.01, 0.15, 5
    mean, mean_b, lazy = _elasticnet_by_hand(X, y, eta, a, l1_ratio, epochs, int(average))
    ours = _ours_regressor(X, y, eta, epochs, alpha=a, penalty="elasticnet", l1_ratio=l1_ratio, average=average,
                           fit_intercept=True)
    np.testing.assert_allclose(ours.W, mean, rtol=0, atol=TOL_HAND)
    np.testing.assert_allclose(ours.b, mean_b, rtol=0, atol=TOL_HAND)
    # scikit-learn's average is its lazy sum (the hand replay shows it), which the truncation shifts:
    # ~1e-3 away from the mean of the iterates here; the intercept (never truncated) agrees
    sk = _sk_regressor(X, y, average=average, penalty="elasticnet", alpha=a, l1_ratio=l1_ratio, eta0=eta,
                       max_iter=epochs)
    np.testing.assert_allclose(lazy, sk.coef_, rtol=0, atol=TOL_HAND)
    assert np.abs(ours.W - sk.coef_).max() > 1e-4
    np.testing.assert_allclose(ours.b, sk.intercept_[0], rtol=0, atol=TOL_SKLEARN)


@pytest.mark.parametrize("average", [True, 3, 7])
def test_mini_batches_average_over_updates(data, average):
    # hand loop: batches of 8 rows in order (the last epoch batch has 4), the mean loss's gradient,
    # one iterate per update; the mean of the iterates after updates average, average + 1, ...
    X, y = data
    lr, batch, steps = 0.05, 8, 20
    w, b = np.zeros(4), 0.0
    iterates = []
    pos = 0
    for _ in range(steps):
        rows = np.arange(pos, min(pos + batch, 60))
        pos = (pos + batch) % 60 if pos + batch < 60 else 0
        r = X[rows] @ w + b - y[rows]
        w = w - lr * 2 * X[rows].T @ r / len(rows)  # d/dw mean(r**2)
        b = b - lr * 2 * r.mean()
        iterates.append(np.append(w, b))
    expected = np.mean(iterates[int(average) - 1:], axis=0)
    ours = gdfast.train(np.zeros(4), X, y, learning_rate=lr, batch_size=batch, shuffle=False, num_iterations=steps,
                        fit_intercept=True, average=average)
    np.testing.assert_allclose(ours.W, expected[:4], rtol=0, atol=TOL_HAND)
    np.testing.assert_allclose(ours.b, expected[4], rtol=0, atol=TOL_HAND)
    assert ours.state.record["averaged"] == steps - int(average) + 1
    np.testing.assert_allclose(ours.state.split()[0][0], iterates[-1][:4], rtol=0, atol=TOL_HAND)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [
    dict(batch_size=5, shuffle=True, seed=3),
    dict(batch_size=None, optimizer=gdfast.SGD(momentum=0.9, nesterov=True)),
    dict(batch_size=1, schedule="invscaling", penalty="elasticnet", alpha=0.05),
    dict(batch_size=7, loss="huber", optimizer=gdfast.SGD(momentum=0.5)),
    dict(batch_size=7, penalty="l1", alpha=0.1),
], ids=["shuffled", "momentum", "invscaling-elasticnet", "huber-momentum", "l1-soft-thresholding"])
def test_the_mean_of_the_raw_iterates(data, kw, dtype):
    # any configuration: the same run without average, continued one update at a time, gives the raw
    # iterates; the result is their mean (np.mean, in float64), and the raw run is untouched
    X, y = (a.astype(dtype) for a in data)
    common = dict(learning_rate=0.01, fit_intercept=True, **{"seed": 3, **kw})
    start, steps = 4, 30
    iterates = []
    step = gdfast.train(np.zeros(4, dtype), X, y, num_iterations=1, **common)
    iterates.append(np.append(step.W, step.b))
    for _ in range(steps - 1):
        step = gdfast.train(step.W, X, y, b=step.b, num_iterations=1, state=step.state, **common)
        iterates.append(np.append(step.W, step.b))
    expected = np.mean(np.array(iterates[start - 1:], dtype=np.float64), axis=0)
    ours = gdfast.train(np.zeros(4, dtype), X, y, num_iterations=steps, average=start, **common)
    assert ours.W.dtype == dtype
    # float64: the running mean vs np.mean (1e-12); float32: then one rounding to float32 (rel. 2**-24)
    tol = TOL_HAND if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(ours.W, expected[:4], rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.b, expected[4], rtol=tol, atol=tol)
    np.testing.assert_array_equal(ours.state.split()[0][0], iterates[-1][:4])  # the raw iterate, bit for bit
    np.testing.assert_allclose(ours.state.opt_state[2], expected, rtol=TOL_HAND, atol=TOL_HAND)


@pytest.mark.parametrize("kw", [
    dict(batch_size=1, shuffle=False, average=10),
    dict(batch_size=1, shuffle=False, average=50, penalty="elasticnet", alpha=0.05),  # split before it begins
    dict(batch_size=6, shuffle=True, seed=2, average=True),
    dict(batch_size=None, average=3),
])
def test_a_run_split_in_two_calls_equals_one_call(data, kw):
    X, y = data
    common = dict(learning_rate=0.01, fit_intercept=True, **kw)
    whole = gdfast.train(np.zeros(4), X, y, num_iterations=100, **common)
    first = gdfast.train(np.zeros(4), X, y, num_iterations=37, **common)
    rest = gdfast.train(first.W, X, y, b=first.b, num_iterations=63, state=first.state, **common)
    np.testing.assert_array_equal(rest.W, whole.W)
    np.testing.assert_array_equal(rest.b, whole.b)
    np.testing.assert_array_equal(rest.state.opt_state, whole.state.opt_state)
    np.testing.assert_array_equal(rest.state.params, whole.state.params)
    assert rest.state.record["averaged"] == whole.state.record["averaged"] > 0
    # the raw iterate (state.split()) is accepted as W too
    raw_W, raw_b = first.state.split()
    again = gdfast.train(raw_W[0], X, y, b=raw_b, num_iterations=63, state=first.state, **common)
    np.testing.assert_array_equal(again.W, whole.W)
    # other weights are not
    with pytest.raises(ValueError, match="W differs"):
        gdfast.train(first.W + 1.0, X, y, b=first.b, num_iterations=1, state=first.state, **common)


def test_losses_and_stopping_are_the_raw_iterates(data):
    # averaging changes what is returned, never the run: its losses, stopping epoch and raw iterate
    # are those of the same run without average; result.loss is the loss of the returned mean
    X, y = data
    kw = dict(learning_rate=0.02, batch_size=4, shuffle=True, seed=1, num_epochs=200, fit_intercept=True,
              n_iter_no_change=3, loss_tol=1e-3)
    plain = gdfast.train(np.zeros(4), X, y, **kw)
    averaged = gdfast.train(np.zeros(4), X, y, average=True, **kw)
    assert plain.status == averaged.status == "no_improvement"
    assert plain.n_iter == averaged.n_iter < 200 * 15
    np.testing.assert_array_equal(plain.losses, averaged.losses)
    np.testing.assert_array_equal(plain.epoch_losses, averaged.epoch_losses)
    np.testing.assert_array_equal(plain.state.params, averaged.state.params)
    r = X @ averaged.W + averaged.b - y
    np.testing.assert_allclose(averaged.loss, np.mean(r ** 2), rtol=1e-12)
    assert averaged.best_step == averaged.state.step


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_kernel_equals_reference_twin(data, batch_size, dtype):
    X, y = (a.astype(dtype) for a in data)
    Y = np.stack([y, -y], axis=1)
    kw = dict(learning_rate=0.01, average=5, penalty="l2", alpha=0.1, batch_size=batch_size, fit_intercept=True,
              num_iterations=60, seed=5)
    ours = gdfast.train(np.zeros((2, 4), dtype), X, Y, **kw)
    twin = reference.train(np.zeros((2, 4), dtype), X, Y, **kw)
    tol = 1e-12 if dtype == np.float64 else 1e-5  # the twin sums float32 data in float32
    np.testing.assert_allclose(ours.W, twin.W, rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.b, twin.b, rtol=tol, atol=tol)
    assert ours.state.record["averaged"] == twin.state.record["averaged"] == 56
    np.testing.assert_allclose(ours.loss, twin.loss, rtol=tol)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_averaged_sweep_equals_separate_train_calls(data, batch_size):
    # runs that differ only in their learning rate would share the lockstep path of plain SGD: with
    # average they must not
    X, y = data
    kw = dict(average=5, batch_size=batch_size, fit_intercept=True, num_iterations=40, seed=1)
    lrs = [0.01, 0.02, 0.03, 0.04]
    res = gdfast.sweep(np.zeros(4), X, y, learning_rates=lrs, n_threads=2, **kw)
    for lr, r in zip(lrs, res.results):
        one = gdfast.train(np.zeros(4), X, y, learning_rate=lr, **kw)
        np.testing.assert_array_equal(r.W, one.W)
        np.testing.assert_array_equal(r.b, one.b)
        assert r.loss == one.loss
    raw = gdfast.train(np.zeros(4), X, y, learning_rate=lrs[0], **{**kw, "average": False})
    assert not np.array_equal(raw.W, res.results[0].W)


def test_average_false_and_zero_are_todays_arithmetic(data):
    X, y = data
    kw = dict(learning_rate=0.01, batch_size=3, seed=4, num_iterations=50, fit_intercept=True)
    base = gdfast.train(np.zeros(4), X, y, **kw)
    for off in (False, 0):
        again = gdfast.train(np.zeros(4), X, y, average=off, **kw)
        np.testing.assert_array_equal(again.W, base.W)
        np.testing.assert_array_equal(again.state.opt_state, base.state.opt_state)
        assert again.state.record["averaged"] == 0


@pytest.mark.parametrize("average", [True, 10])
def test_gdregressor_fit_and_partial_fit_equal_sgdregressor(data, average):
    X, y = data
    eta, a = 0.01, 0.01
    sk = _sk_regressor(X, y, average=average, penalty="l2", alpha=a, eta0=eta, max_iter=5)
    ours = gdfast.GDRegressor(average=average, penalty="l2", alpha=2 * a, learning_rate=eta / 2, batch_size=1,
                              schedule=None, shuffle=False, max_iter=5, tol=None).fit(X, y)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=0, atol=TOL_SKLEARN)
    np.testing.assert_allclose(ours.intercept_, sk.intercept_[0], rtol=0, atol=TOL_SKLEARN)
    # partial_fit continues the mean and the raw iterate across calls, as scikit-learn's
    sk = SGDRegressor(average=average, penalty="l2", alpha=a, learning_rate="constant", eta0=eta, shuffle=False)
    ours = gdfast.GDRegressor(average=average, penalty="l2", alpha=2 * a, learning_rate=eta / 2, batch_size=1,
                              schedule=None, shuffle=False)
    for rows in (slice(0, 7), slice(7, 60), slice(0, 60)):
        sk.partial_fit(X[rows], y[rows])
        ours.partial_fit(X[rows], y[rows])
        np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=0, atol=TOL_SKLEARN)
        np.testing.assert_allclose(ours.intercept_, sk.intercept_[0], rtol=0, atol=TOL_SKLEARN)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(average=-1), ValueError, "average"),
    (dict(average=2.5), TypeError, "average"),
    (dict(average="yes"), TypeError, "average"),
    (dict(average=True, optimizer="adam"), ValueError, "average"),
    (dict(average=5, optimizer="rmsprop"), ValueError, "optimizer='sgd'"),
    (dict(average=True, restore_best=True), ValueError, "restore_best=False"),
])
def test_bad_average_options_raise(data, kwargs, error, match):
    X, y = data
    for fn in (gdfast.train, reference.train):
        with pytest.raises(error, match=match):
            fn(np.zeros(4), X, y, num_iterations=2, **kwargs)
    if "restore_best" not in kwargs:
        with pytest.raises(error, match=match):
            gdfast.GDRegressor(max_iter=2, **kwargs).fit(X, y)


def test_gdregressor_average_ignores_restore_best(data):
    X, y = data
    reg = gdfast.GDRegressor(average=True, learning_rate=0.01, batch_size=1, max_iter=3, tol=None).fit(X, y)
    assert reg.restore_best and reg._state.record["averaged"] == reg.t_


def test_a_corrupt_averaged_count_is_refused(data):
    X, y = data
    first = gdfast.train(np.zeros(4), X, y, learning_rate=0.01, num_iterations=5, average=True)
    for bad in (-1, 6):
        corrupt = first.state.copy()
        corrupt.record["averaged"] = bad
        with pytest.raises(ValueError, match="averaged"):
            gdfast.train(first.W, X, y, learning_rate=0.01, num_iterations=1, average=True, state=corrupt)


def test_inputs_are_not_modified(data):
    X, y = data
    X0, y0, W0 = X.copy(), y.copy(), np.full(4, 0.5)
    W = W0.copy()
    gdfast.train(W, X, y, learning_rate=0.01, num_iterations=20, batch_size=1, average=True)
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_blocked_batches_same_bits_for_any_thread_count():
    # full batches of >= 2 blocks of rows are summed in fixed blocks on n_threads threads: the mean too
    from gdfast import _train
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2 * _train.block_rows() + 301, 3))
    y = X @ np.array([1.0, -0.5, 0.2]) + 0.4
    kw = dict(learning_rate=0.1, fit_intercept=True, num_iterations=6, average=2)
    one = gdfast.train(np.zeros(3), X, y, n_threads=1, **kw)
    two = gdfast.train(np.zeros(3), X, y, n_threads=2, **kw)
    np.testing.assert_array_equal(one.W, two.W)
    np.testing.assert_array_equal(one.state.opt_state, two.state.opt_state)
    twin = reference.train(np.zeros(3), X, y, **kw)
    np.testing.assert_allclose(one.W, twin.W, rtol=1e-10, atol=1e-12)  # NumPy's sums in another order


@pytest.mark.parametrize("average", [True, 10])
def test_classifier_average_equals_sgdclassifier_one_vs_rest(average):
    """GDClassifier(average=) on three classes (one-vs-rest, one kernel call) against
    SGDClassifier(average=) with the same per-sample, unshuffled, constant-rate settings: 1e-10 of
    the largest weight (measured ~5e-16)."""
    import warnings

    from sklearn.linear_model import SGDClassifier

    from gdfast import GDClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = rng.integers(0, 3, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GDClassifier(loss="hinge", batch_size=1, shuffle=False, learning_rate=0.01, max_iter=3, tol=None,
                            average=average, alpha=0.001).fit(X, y)
        theirs = SGDClassifier(loss="hinge", shuffle=False, learning_rate="constant", eta0=0.01, max_iter=3,
                               tol=None, average=average, alpha=0.001).fit(X, y)
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-10 * scale)


def test_average_on_sparse_x_equals_dense():
    """Averaged per-sample SGD on CSR X (the general loop: the sparse per-sample loop does not
    average) gives the dense run's answer."""
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(1)
    X = sp.random(100, 8, density=0.4, random_state=1, format="csr")
    Y = rng.standard_normal((100, 1))
    kwargs = dict(batch_size=1, shuffle=False, num_epochs=2, average=5, fit_intercept=True)
    sparse = gdfast.train(np.zeros((1, 8)), X, Y, **kwargs)
    dense = gdfast.train(np.zeros((1, 8)), X.toarray(), Y, **kwargs)
    np.testing.assert_allclose(sparse.W, dense.W, rtol=0, atol=1e-12 * np.abs(dense.W).max())
    np.testing.assert_allclose(sparse.b, dense.b, rtol=0, atol=1e-12 * np.abs(dense.W).max())
    plain = gdfast.train(np.zeros((1, 8)), X, Y, **{**kwargs, "average": False})
    assert np.abs(plain.W - dense.W).max() > 1e-6  # the mean is not the last iterate
