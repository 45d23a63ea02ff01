"""Plain SGD one sample at a time (``batch_size=1``): the training loop updates the parameters straight
from the sample's d loss / d prediction, without storing its gradient (``sample_sgd_step`` in
src/_train.pyx); on dense data in a loop of its own (``dense_sgd_loop``). Also the full batch of one
sample (the lesson's shape), whose loop has a compiled copy for four features.

Checks:
- the same bits as the general loop, which forms the gradient and then steps: ``clip_norm=1e300``
  sends a run through that loop (a norm is computed) without changing any step (the clipping factor
  1e300 / (norm + 1e-6) is never below 1);
- a hand loop written here in NumPy (the definition: one sample's weighted mean loss over its
  outputs, so the weight cancels and each output's gradient is l'(p) / n_outputs), to 1e-12
  relative: the loop sums each prediction in another order than the kernel's dot (a few ulps a step);
- the dedicated loop's stopping rules, records and continuation against the general loop's;
- the one-sample full batch against the kernels' arithmetic written out with Python floats, bit for
  bit, and (four features, its loop with the outputs in vector lanes) its rules and state against
  the general loop's.
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
@pytest.mark.parametrize("n_features,n_outputs", [(3, 1), (9, 1), (20, 3)])
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


def _same_run(a, b):
    np.testing.assert_array_equal(a.W, b.W)
    if a.b is not None:
        np.testing.assert_array_equal(a.b, b.b)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.epoch_losses, b.epoch_losses)
    assert (a.state.step, a.status, a.converged, a.diverged) == (b.state.step, b.status, b.converged, b.diverged)
    assert a.loss == b.loss or (np.isnan(a.loss) and np.isnan(b.loss))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rules_and_continuation_as_the_general_loop(rng, dtype):
    """Dense per-sample plain SGD has its own loop (``dense_sgd_loop``): its stopping rules, records
    and state must be the general loop's (``clip_norm=1e300`` forces that loop, see the module
    docstring), and a run continued in pieces with ``state=`` must equal the run in one call."""
    X, Y = problem(rng, "mse", 30, 6, 2, dtype)
    W0 = (0.1 * rng.standard_normal((2, 6))).astype(dtype)
    cases = [
        dict(shuffle=True, seed=3, num_epochs=5, record_every=4, fit_intercept=True),  # reshuffled each epoch
        dict(shuffle=False, num_epochs=200, n_iter_no_change=2, loss_tol=1e-3),  # stops on no improvement
        dict(shuffle=False, num_epochs=50, learning_rate=40.0),  # diverges: the caller's replay
        dict(schedule=gdfast.schedules.ExponentialDecay(gamma=0.97), num_epochs=4),
        dict(loss="huber", num_epochs=3, fit_intercept=True, reduction="sample_mean"),
    ]
    for options in cases:
        kwargs = {"learning_rate": 0.05, "batch_size": 1, "seed": 0, **options}
        fused = gdfast.train(W0, X, Y, **kwargs)
        general = gdfast.train(W0, X, Y, clip_norm=1e300, **kwargs)
        _same_run(fused, general)
    # the second case stopped by n_iter_no_change and the third diverged: the rules did fire
    stopped = gdfast.train(W0, X, Y, learning_rate=0.05, batch_size=1, shuffle=False, num_epochs=200,
                           n_iter_no_change=2, loss_tol=1e-3)
    assert stopped.state.step < 200 * 30 and not stopped.diverged
    assert gdfast.train(W0, X, Y, learning_rate=40.0, batch_size=1, shuffle=False, num_epochs=50).diverged
    # continued in pieces (a piece ends mid-epoch: 45 updates = 1.5 epochs) = one call
    whole = gdfast.train(W0, X, Y, learning_rate=0.05, batch_size=1, seed=1, num_iterations=135, record_every=1)
    part = gdfast.train(W0, X, Y, learning_rate=0.05, batch_size=1, seed=1, num_iterations=45, record_every=1)
    for _ in range(2):
        part = gdfast.train(part.W, X, Y, learning_rate=0.05, batch_size=1, seed=1, num_iterations=45,
                            record_every=1, state=part.state)
    np.testing.assert_array_equal(part.W, whole.W)
    np.testing.assert_array_equal(part.losses, whole.losses[90:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_samples", [1, 2, 7])
def test_state_rows_as_the_general_loops(rng, dtype, n_samples):
    """``dense_sgd_loop`` updates in place except where a call may end: the state it leaves must
    still be the general loop's, both parameter rows (the previous iterate and the current one, in
    the same rows), for calls that end anywhere in an epoch, after an odd or even number of
    updates, on the epoch rules, and continued in pieces."""
    X, Y = problem(rng, "mse", n_samples, 5, 2, dtype)
    W0 = (0.1 * rng.standard_normal((2, 5))).astype(dtype)
    n_updates = [1, 2, 3, n_samples, n_samples + 1, 3 * n_samples - 1, 3 * n_samples + 2, 20]
    stopped = 0
    for n in n_updates:
        for options in (dict(shuffle=False), dict(seed=4, fit_intercept=True),
                        dict(shuffle=False, n_iter_no_change=1, loss_tol=10.0)):  # (the last stops after 2 epochs)
            kwargs = {"learning_rate": 0.05, "batch_size": 1, "num_iterations": n, **options}
            fused = gdfast.train(W0, X, Y, **kwargs)
            general = gdfast.train(W0, X, Y, clip_norm=1e300, **kwargs)
            assert fused.state.params.tobytes() == general.state.params.tobytes(), (n, options)
            for name in ("current", "step", "position", "epoch"):
                assert fused.state.record[name] == general.state.record[name], (n, options, name)
            stopped += fused.stopped_early
            # continued: a call of 3 updates from this state, both ways
            kwargs["num_iterations"] = 3
            more = gdfast.train(fused.W, X, Y, state=fused.state, **kwargs)
            more_general = gdfast.train(general.W, X, Y, state=general.state, clip_norm=1e300, **kwargs)
            assert more.state.params.tobytes() == more_general.state.params.tobytes(), (n, options)
    assert stopped >= 3  # n_iter_no_change did end calls (after the second epoch, before their last update)
    # the state's other row is the previous iterate: one plain step from it, written here, gives W
    last = gdfast.train(W0, X, Y, learning_rate=0.05, batch_size=1, shuffle=False, num_iterations=n_samples + 2)
    previous = last.state.params[1 - last.state.record["current"]][:10].reshape(2, 5)
    i = (n_samples + 1) % n_samples  # the sample of the last update
    r = previous.astype(np.float64) @ X[i].astype(np.float64) - Y[i]
    expected = previous - 0.05 * (2 * r[:, None] * X[i] / 2)  # mean over the 2 outputs of r**2
    np.testing.assert_allclose(last.W, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def scalar_sgd_one_row(W, x, y, lr, n_steps, dtype, b=None):
    """Full-batch SGD on one sample, written out with Python floats in the kernels' order: each
    prediction in dot's four partial sums (then + b_j), the residual, D = 2 r, each gradient
    element (0.0 + D_j x_k) / m and the bias's (0.0 + D_j) / m, each update
    rounded to the parameters' type. Exact in float64 (Python floats are doubles)."""
    W = [[float(v) for v in row] for row in W]
    x = [float(v) for v in x]
    m, d = len(W), len(x)
    bias = None if b is None else [float(v) for v in b]
    scale = 1.0 / (m * 1.0)
    cast = (lambda v: float(np.float32(v))) if dtype == np.float32 else float
    for _ in range(n_steps):
        grads, bias_grads = [], []
        for j in range(m):
            s = [0.0, 0.0, 0.0, 0.0]
            for k in range(d - d % 4):
                s[k % 4] += W[j][k] * x[k]
            for k in range(d - d % 4, d):
                s[0] += W[j][k] * x[k]
            p = (s[0] + s[1]) + (s[2] + s[3])
            if bias is not None:
                p = p + bias[j]
            r = p - float(y[j])
            c = 2.0 * r
            grads.append([(0.0 + c * xk) * scale for xk in x])
            bias_grads.append((0.0 + c) * scale)
        W = [[cast(W[j][k] - lr * grads[j][k]) for k in range(d)] for j in range(m)]
        if bias is not None:
            bias = [cast(bias[j] - lr * bias_grads[j]) for j in range(m)]
    if bias is None:
        return np.array(W, dtype=dtype)
    return np.array(W, dtype=dtype), np.array(bias, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features,n_outputs", [(4, 4), (5, 4), (4, 1), (4, 7), (4, 64)])
def test_one_sample_full_batch_equals_a_scalar_loop_bitwise(rng, dtype, n_features, n_outputs):
    """The lesson's shape (one sample, four features) has loops of its own: ``lesson_sgd_steps``
    (four outputs, the parameters in registers), ``one_sample_sgd_steps`` (float64, five or more
    outputs, held transposed so that the outputs fill vector lanes) and a compiled copy of
    ``simple_sgd_steps`` (fewer outputs, or float32 with more); five features take the general
    copy. Each must give the bits of the kernels' arithmetic written out by hand, with and without
    an intercept."""
    W0 = rng.standard_normal((n_outputs, n_features)).astype(dtype)
    x = rng.standard_normal(n_features).astype(dtype)
    y = rng.standard_normal(n_outputs).astype(dtype)
    result = gdfast.train(W0, x[None, :], y[None, :], learning_rate=0.01, num_iterations=60, record_every=60)
    np.testing.assert_array_equal(result.W, scalar_sgd_one_row(W0, x, y, 0.01, 60, dtype))
    # and the check can fail: a learning rate 0.01% away changes the bits
    assert not np.array_equal(result.W, scalar_sgd_one_row(W0, x, y, 0.01 * (1 + 1e-4), 60, dtype))
    b0 = rng.standard_normal(n_outputs).astype(dtype)
    fitted = gdfast.train(W0, x[None, :], y[None, :], b=b0, fit_intercept=True, learning_rate=0.01,
                          num_iterations=60, record_every=60)
    W_hand, b_hand = scalar_sgd_one_row(W0, x, y, 0.01, 60, dtype, b=b0)
    np.testing.assert_array_equal(fitted.W, W_hand)
    np.testing.assert_array_equal(fitted.b, b_hand)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [4, 9])
def test_one_sample_four_features_rules_and_state_as_the_general_loop(rng, dtype, n_outputs):
    """``lesson_sgd_steps`` (one sample of four features, four outputs) and ``one_sample_sgd_steps``
    (float64, nine outputs) hold the parameters transposed for the whole call, in registers or in
    memory: their records, stopping rules (a diverged run steps back to its last finite iterate),
    both parameter rows of the state and a run continued in pieces must be the general loop's
    (``clip_norm=1e300``, see the module docstring)."""
    W0 = (0.5 * rng.standard_normal((n_outputs, 4))).astype(dtype)
    x = rng.standard_normal((1, 4)).astype(dtype)
    y = rng.standard_normal((1, n_outputs)).astype(dtype)
    unit = n_outputs / (2.0 * float(np.sum(x.astype(np.float64) ** 2)))  # the learning rate of q = 1
    cases = [
        dict(num_iterations=1),
        dict(num_iterations=2, fit_intercept=True),
        dict(num_iterations=37, record_every=1, fit_intercept=True),
        # each step multiplies the residual by 1 - q, q = lr * 2 |x|**2 / n_outputs
        dict(num_iterations=400, learning_rate=40.0 * unit, divergence_factor=None),  # to inf: steps back
        dict(num_iterations=200, learning_rate=3.0 * unit, divergence_factor=2.0),  # grows past the factor
    ]
    diverged = 0
    for options in cases:
        kwargs = {"learning_rate": 0.05, **options}
        fast = gdfast.train(W0, x, y, **kwargs)
        general = gdfast.train(W0, x, y, clip_norm=1e300, **kwargs)
        _same_run(fast, general)
        assert fast.state.params.tobytes() == general.state.params.tobytes(), options
        for name in ("current", "step", "epoch"):
            assert fast.state.record[name] == general.state.record[name], (options, name)
        diverged += fast.diverged
        if fast.diverged:
            continue  # (a diverged run's state cannot be continued)
        # continued: 3 more steps from this state, both ways
        kwargs["num_iterations"] = 3
        more = gdfast.train(fast.W, x, y, b=fast.b, state=fast.state, **kwargs)
        more_general = gdfast.train(general.W, x, y, b=general.b, state=general.state, clip_norm=1e300, **kwargs)
        assert more.state.params.tobytes() == more_general.state.params.tobytes(), options
    assert diverged == 2  # the two divergence cases did diverge
    # continued in pieces = one call
    whole = gdfast.train(W0, x, y, learning_rate=0.05, num_iterations=30, record_every=1)
    part = gdfast.train(W0, x, y, learning_rate=0.05, num_iterations=10, record_every=1)
    for _ in range(2):
        part = gdfast.train(part.W, x, y, learning_rate=0.05, num_iterations=10, record_every=1, state=part.state)
    np.testing.assert_array_equal(part.W, whole.W)
    np.testing.assert_array_equal(part.losses, whole.losses[20:])


@pytest.mark.parametrize("n_outputs", [5, 4])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_one_sample_signed_zeros_as_the_general_loop(fit_intercept, n_outputs):
    """``one_sample_sgd_steps`` (five outputs) and ``lesson_sgd_steps`` (four) sum each prediction
    without dot's "+0.0" starts (the comment in one_sample_sgd_steps shows why no bit of W, b or the
    loss can change): products and predictions of -0.0 and +0.0, targets of 0.0 and a row of W at
    zero, against the general loop (``clip_norm=1e300``) and the scalar loop written out here, bit
    for bit, the loss history too."""
    x = np.array([[0.0, -0.0, 1.5, -2.0]])
    y = np.array([[0.0, -0.0, 0.0, 1.0, 0.0]])
    W0 = np.array([[-1.0, 2.0, 0.0, 0.0],     # products -0.0, -0.0, +0.0, -0.0: a prediction of zero
                   [0.0, 0.0, 0.0, 0.0],      # a row at zero, a target of -0.0
                   [1.0, -3.0, -0.0, 0.0],
                   [0.5, 0.5, 0.25, -0.125],
                   [-0.0, -0.0, -0.0, -0.0]])
    b0 = np.array([-0.0, 0.0, -0.0, 0.5, -0.0])
    W0, y, b0 = W0[:n_outputs], y[:, :n_outputs], b0[:n_outputs]
    kwargs = dict(learning_rate=0.05, num_iterations=40, record_every=1)
    if fit_intercept:
        kwargs.update(b=b0, fit_intercept=True)
    fast = gdfast.train(W0, x, y, **kwargs)
    general = gdfast.train(W0, x, y, clip_norm=1e300, **kwargs)
    _same_run(fast, general)
    assert fast.W.tobytes() == general.W.tobytes()  # (the signs of zeros too)
    if fit_intercept:
        assert fast.b.tobytes() == general.b.tobytes()
        W_hand, b_hand = scalar_sgd_one_row(W0, x[0], y[0], 0.05, 40, np.float64, b=b0)
        assert fast.b.tobytes() == b_hand.tobytes()
    else:
        W_hand = scalar_sgd_one_row(W0, x[0], y[0], 0.05, 40, np.float64)
    assert fast.W.tobytes() == W_hand.tobytes()
