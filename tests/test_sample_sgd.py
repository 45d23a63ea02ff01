"""Plain SGD one sample at a time (``batch_size=1``): the training loop updates the parameters straight
from the sample's d loss / d prediction, without storing its gradient (``sample_sgd_step`` in
src/_train.pyx).

Two checks:
- the same bits as the general loop, which forms the gradient and then steps: ``clip_norm=1e300``
  sends a run through that loop (a norm is computed) without changing any step (the clipping factor
  1e300 / (norm + 1e-6) is never below 1);
- a hand loop written here in NumPy (the definition: one sample's weighted mean loss over its
  outputs, so the weight cancels and each output's gradient is l'(p) / n_outputs), to 1e-12
  relative: the loop sums each prediction in another order than the kernel's dot (a few ulps a step).
"""
import numpy as np
import pytest

import gdfast
from gdfast._engine import LOSSES, MARGIN_LOSSES

from conftest import DTYPES


def problem(rng, loss, n_samples, n_features, n_outputs, dtype):
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    if loss == "multinomial":
        Y = np.eye(n_outputs, dtype=dtype)[rng.integers(0, n_outputs, n_samples)]  # one-hot rows
    elif loss in MARGIN_LOSSES:
        Y = np.where(rng.standard_normal((n_samples, n_outputs)) > 0, 1.0, -1.0).astype(dtype)
    else:
        Y = rng.standard_normal((n_samples, n_outputs)).astype(dtype)
    return X, Y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("n_features,n_outputs", [(3, 1), (20, 3)])
def test_same_bits_as_the_general_loop(rng, dtype, loss, n_features, n_outputs):
    if loss == "multinomial":
        n_outputs = max(n_outputs, 2)  # (K >= 2 classes)
    X, Y = problem(rng, loss, 40, n_features, n_outputs, dtype)
    W0 = (0.1 * rng.standard_normal((n_outputs, n_features))).astype(dtype)
    sw = rng.uniform(0.0, 2.0, 40).astype(dtype)
    sw[3] = 0.0  # a sample that contributes nothing
    for options in (
        dict(),
        dict(sample_weight=sw, fit_intercept=True),
        dict(sample_weight=sw, fit_intercept=True, reduction="sample_mean"),
        dict(schedule="invscaling", shuffle=False, fit_intercept=True),
    ):
        kwargs = dict(learning_rate=0.05, loss=loss, batch_size=1, num_epochs=3, record_every=7, seed=0)
        kwargs.update(options)
        fused = gdfast.train(W0, X, Y, **kwargs)
        general = gdfast.train(W0, X, Y, clip_norm=1e300, **kwargs)
        np.testing.assert_array_equal(fused.W, general.W)
        if fused.b is not None:
            np.testing.assert_array_equal(fused.b, general.b)
        np.testing.assert_array_equal(fused.losses, general.losses)
        np.testing.assert_array_equal(fused.epoch_losses, general.epoch_losses)
        assert fused.loss == general.loss
        assert fused.state.step == general.state.step == 120


def hand_loop(W, b, X, Y, sw, lr, epochs, derivative):
    """Per-sample SGD on the mean over outputs of a sample's (weighted) loss: the weight cancels."""
    W = W.copy()
    b = b.copy()
    k = W.shape[0]
    for _ in range(epochs):
        for i in range(X.shape[0]):
            if sw is not None and sw[i] == 0.0:
                continue  # a zero-weight batch contributes nothing
            p = W @ X[i] + b
            g = derivative(p, Y[i]) / k
            W = W - lr * np.outer(g, X[i])
            b = b - lr * g
    return W, b


DERIVATIVES = {
    "mse": lambda p, y: 2.0 * (p - y),
    "huber": lambda p, y: np.clip(p - y, -1.0, 1.0),
    "log_loss": lambda p, y: -y / (1.0 + np.exp(y * p)),
    "hinge": lambda p, y: np.where(y * p <= 1.0, -y, 0.0),
}


@pytest.mark.parametrize("loss", sorted(DERIVATIVES))
def test_equals_a_hand_loop(rng, loss):
    X, Y = problem(rng, loss, 50, 18, 2, np.float64)
    W0 = 0.1 * rng.standard_normal((2, 18))
    b0 = np.array([0.3, -0.2])
    sw = rng.uniform(0.5, 2.0, 50)
    sw[7] = 0.0
    lr = 0.03
    result = gdfast.train(W0, X, Y, b=b0, fit_intercept=True, learning_rate=lr, loss=loss, batch_size=1,
                          shuffle=False, num_epochs=2, sample_weight=sw)
    W, b = hand_loop(W0, b0, X, Y, sw, lr, 2, DERIVATIVES[loss])
    scale = np.max(np.abs(W))
    np.testing.assert_allclose(result.W, W, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(result.b, b, rtol=0, atol=1e-12 * scale)
    # the tolerance tells a 1%-off learning rate apart
    W_off, _ = hand_loop(W0, b0, X, Y, sw, lr * 1.01, 2, DERIVATIVES[loss])
    assert np.max(np.abs(result.W - W_off)) > 1e-6 * scale
