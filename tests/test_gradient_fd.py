"""Gradients against central finite differences, independently of ``gdfast.reference``'s formulas.

For a loss that is quadratic (MSE) or piecewise linear/quadratic (MAE, Huber away from their
kinks) along the probed direction, the central difference (L(w+h) - L(w-h)) / 2h has no
truncation error at all; what is left is rounding, about eps * |L| / h. With h = 1e-6 and
float64 that is ~1e-10 relative to the loss scale, so rtol 1e-7 with an absolute floor of
1e-7 * (loss scale) leaves a margin of 1000 while still catching any wrong factor or sign.
"""
import numpy as np
import pytest

import gdfast
from finite_differences import central_differences  # (tests/ is on sys.path)
from gdfast import reference
from gdfast._engine import TrainOptions

RTOL_FD = 1e-7


# --- mse_gradient -------------------------------------------------------------------------------

@pytest.mark.parametrize("n_outputs,n_features,n_samples", [(1, 1, None), (3, 5, None), (1, 4, 1), (4, 3, 7),
                                                            (6, 11, 40)])
def test_mse_gradient_equals_central_differences(rng, n_outputs, n_features, n_samples):
    W = rng.standard_normal((n_outputs, n_features))
    X = rng.standard_normal(n_features if n_samples is None else (n_samples, n_features))
    Y = rng.standard_normal(n_outputs if n_samples is None else (n_samples, n_outputs))
    # f is the kernels' own mse of the kernels' own predict: nothing from the reference.
    fd = central_differences(lambda w: gdfast.mse(gdfast.predict(w, X), Y), W)
    g = gdfast.mse_gradient(W, X, Y)
    scale = gdfast.mse(gdfast.predict(W, X), Y) + 1.0
    np.testing.assert_allclose(g, fd, rtol=RTOL_FD, atol=RTOL_FD * scale)


def test_mse_gradient_one_sample_closed_form(rng):
    """The issue's formula for one sample: 2/m * outer(W@x - y, x), written out with NumPy."""
    W, x, y = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(4)
    np.testing.assert_allclose(gdfast.mse_gradient(W, x, y), 2 / 4 * np.outer(W @ x - y, x), rtol=1e-13, atol=1e-14)


def test_mse_gradient_is_zero_at_the_least_squares_solution(rng):
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    W_star = np.linalg.lstsq(X, Y, rcond=None)[0].T
    assert np.max(np.abs(gdfast.mse_gradient(W_star, X, Y))) < 1e-13


# --- training losses (mse, mae, huber; bias; sample weights) --------------------------------------

def weighted_loss(kind, R, w, delta):
    """torch's MSELoss / L1Loss / HuberLoss(delta) with reduction='mean', weighted over samples."""
    a = np.abs(R)
    if kind == "mse":
        terms = R * R
    elif kind == "mae":
        terms = a
    else:
        terms = np.where(a <= delta, 0.5 * R * R, delta * (a - 0.5 * delta))
    return float((w[:, None] * terms).sum() / (R.shape[1] * w.sum()))


def away_from_kinks(kind, rng, shape, delta, margin=1e-3):
    """A problem whose residuals stay `margin` away from 0 (mae) and +-delta (huber)."""
    m, n, s = shape
    while True:
        X = rng.standard_normal((s, n))
        W = rng.standard_normal((m, n))
        b = rng.standard_normal(m)
        Y = rng.standard_normal((s, m)) * 2
        R = X @ W.T + b - Y
        a = np.abs(R)
        if kind == "mae" and a.min() > margin:
            return W, b, X, Y
        if kind == "huber" and np.abs(a - delta).min() > margin and (a < delta).any() and (a > delta).any():
            return W, b, X, Y
        if kind == "mse":
            return W, b, X, Y


CASES = [(kind, fit, weighted) for kind in ("mse", "mae", "huber") for fit in (False, True)
         for weighted in (False, True)]


def _problem(kind, fit, weighted, seed):
    rng = np.random.default_rng(seed)
    delta = 0.7
    W, b, X, Y = away_from_kinks(kind, rng, (3, 4, 9), delta)
    w = rng.uniform(0.2, 2.0, X.shape[0]) if weighted else np.ones(X.shape[0])
    return W, (b if fit else np.zeros(3)), X, Y, w, delta


@pytest.mark.parametrize("kind,fit,weighted", CASES)
def test_reference_loss_and_gradient_equal_finite_differences(kind, fit, weighted):
    W, b, X, Y, w, delta = _problem(kind, fit, weighted, 11)
    m, n = W.shape
    theta = np.concatenate([W.reshape(-1), b if fit else []])
    options = TrainOptions.from_kwargs(loss=kind, huber_delta=delta, fit_intercept=fit)

    def loss(t):
        R = X @ t[: m * n].reshape(m, n).T - Y + (t[m * n:] if fit else 0.0)
        return weighted_loss(kind, R, w, delta)

    value, grad = reference.loss_and_gradient(theta, X, Y, w, np.arange(X.shape[0]), options)
    assert value == pytest.approx(loss(theta), rel=1e-14)
    fd = central_differences(loss, theta)
    np.testing.assert_allclose(grad, fd, rtol=RTOL_FD, atol=RTOL_FD * (1 + abs(value)))


@pytest.mark.parametrize("kind,fit,weighted", CASES)
def test_kernel_gradient_from_one_sgd_step_equals_finite_differences(kind, fit, weighted):
    """One update of plain SGD with lr = 1 from (W0, b=0): (W0 - W1) / lr is the kernel's gradient."""
    W, b, X, Y, w, delta = _problem(kind, fit, weighted, 12)
    # train starts the bias at 0: fold b into the targets so the residuals (away from kinks) stay
    Y = Y - b
    m, n = W.shape
    lr = 1.0
    res = gdfast.train(W, X, Y, learning_rate=lr, num_iterations=1, optimizer="sgd", loss=kind,
                       huber_delta=delta, fit_intercept=fit, sample_weight=w if weighted else None)
    g_W = (W - res.W) / lr
    fd_W = central_differences(
        lambda V: weighted_loss(kind, X @ V.T - Y, w, delta), W
    )
    # (W - W1) / lr subtracts two O(|W| + |g|) numbers: absolute rounding ~ eps * (|W| + |g|).
    scale = 1 + np.max(np.abs(W)) + np.max(np.abs(fd_W))
    np.testing.assert_allclose(g_W, fd_W, rtol=RTOL_FD, atol=RTOL_FD * scale)
    assert res.losses[0] == pytest.approx(weighted_loss(kind, X @ W.T - Y, w, delta), rel=1e-13)
    if fit:
        g_b = -res.b / lr
        fd_b = central_differences(lambda c: weighted_loss(kind, X @ W.T - Y + c, w, delta), np.zeros(m))
        np.testing.assert_allclose(g_b, fd_b, rtol=RTOL_FD, atol=RTOL_FD * scale)
    else:
        assert res.b is None


def test_mae_subgradient_is_zero_at_zero_residual():
    """L1Loss's subgradient at a zero residual is 0 (torch's sign(0) = 0)."""
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    W = np.array([[1.0, 1.0]])
    Y = X @ W.T  # zero residuals everywhere
    res = gdfast.train(W, X, Y, learning_rate=0.1, num_iterations=3, loss="mae")
    np.testing.assert_array_equal(res.W, W)
    assert res.loss == 0.0
