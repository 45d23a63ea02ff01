"""The losses of issue 14 (epsilon_insensitive, squared_epsilon_insensitive; binary log_loss, hinge,
squared_hinge, modified_huber, perceptron; the squared_error and epsilon spellings), against oracles
that share no code with gdfast's kernel or its NumPy twin:

- the formulas written out below from scikit-learn's definitions (its SGD documentation and the
  loss classes of ``sklearn/linear_model/_sgd_fast.pyx.tp``), value and derivative, kinks included;
- central finite differences of those formulas, away from the kinks;
- torch's losses where torch has them (``binary_cross_entropy_with_logits``, ``soft_margin_loss``,
  ``multi_margin_loss`` over the two logits (0, p), ``huber_loss``) and its autograd gradients;
- scikit-learn's ``SGDClassifier`` / ``SGDRegressor`` trajectories (per-sample SGD, no shuffling).

What gdfast exposes of a loss is ``train``: one plain SGD update with learning rate 1 from (W0, b0)
gives the gradient as W0 - W1 (and b0 - b1), ``result.losses[0]`` the (kernel's) loss at W0 and
``result.loss`` the loss at W1 (the final-loss kernel, ``dataset_losses``). The loss is the weighted
mean over samples and outputs: sum(w_i l(p_ij, y_ij)) / (n_outputs * sum(w)).

Tolerances (float64): the loss and gradient are sums of a few dozen to 8192 terms in another order
than NumPy's, a few ulps each: rtol 1e-12. The gradient read back as W0 - W1 carries the rounding of
that subtraction, eps * (|W0| + |g|): an absolute floor of 1e-13 times that scale. float32 data: the
kernel sums in double but W1 is rounded to float32 (6e-8 relative), so rtol 1e-5 with a floor of
1e-6 times the scale. Finite differences: see tests/test_gradient_fd.py (h = 1e-6, rtol 1e-7, no
truncation error for the piecewise-quadratic losses; the log loss's h**2 * f''' / 6 is ~1e-14).
"""
import warnings

import numpy as np
import pytest

import gdfast
from finite_differences import central_differences  # (tests/ is on sys.path)
from gdfast import _train, reference
from gdfast._engine import TrainOptions

MARGIN = ["log_loss", "hinge", "squared_hinge", "modified_huber", "perceptron"]
INSENSITIVE = ["epsilon_insensitive", "squared_epsilon_insensitive"]
NEW = MARGIN + INSENSITIVE
# Where each loss's derivative jumps or its second derivative does (z for the margin losses, |r| for
# the regression ones); random problems stay KINK_MARGIN away from them.
KINKS = {"log_loss": [], "hinge": [1.0], "squared_hinge": [1.0], "modified_huber": [1.0, -1.0],
         "perceptron": [0.0], "epsilon_insensitive": ["eps"], "squared_epsilon_insensitive": ["eps"],
         "huber": ["eps"], "mse": [], "mae": [0.0]}
KINK_MARGIN = 1e-3
EPS = 0.3
RTOL = 1e-12
RTOL_FD = 1e-7


# --- the oracle formulas ------------------------------------------------------------------------

def margin_loss(loss, z):
    """scikit-learn's binary losses of the margin z = y p (y = +-1), and d loss / d z.

    log_loss log(1 + exp(-z)); hinge max(0, 1 - z) with derivative -1 for z <= 1 (the kink
    included, as scikit-learn's Hinge); squared_hinge max(0, 1 - z)**2; modified_huber 0 for z >= 1,
    (1 - z)**2 for -1 <= z < 1, -4 z below; perceptron max(0, -z) with derivative -1 for z <= 0.
    """
    z = np.asarray(z, dtype=np.float64)
    if loss == "log_loss":
        return np.logaddexp(0.0, -z), -np.exp(-np.logaddexp(0.0, z))  # -1 / (1 + e^z)
    if loss == "hinge":
        return np.where(z <= 1, 1 - z, 0.0), np.where(z <= 1, -1.0, 0.0)
    if loss == "perceptron":
        return np.where(z <= 0, -z, 0.0), np.where(z <= 0, -1.0, 0.0)
    if loss == "squared_hinge":
        return np.where(z < 1, (1 - z) ** 2, 0.0), np.where(z < 1, -2 * (1 - z), 0.0)
    assert loss == "modified_huber"
    value = np.where(z >= 1, 0.0, np.where(z >= -1, (1 - z) ** 2, -4 * z))
    return value, np.where(z >= 1, 0.0, np.where(z >= -1, -2 * (1 - z), -4.0))


def residual_loss(loss, r, eps):
    """The regression losses of the residual r = p - y, and d loss / d r (derivative 0 on the
    insensitive losses' kink |r| = eps, as scikit-learn's)."""
    a = np.abs(r)
    if loss == "mse":
        return r * r, 2 * r
    if loss == "mae":
        return a, np.sign(r)
    if loss == "huber":
        return np.where(a <= eps, 0.5 * r * r, eps * (a - 0.5 * eps)), np.clip(r, -eps, eps)
    if loss == "epsilon_insensitive":
        return np.maximum(a - eps, 0.0), np.where(a > eps, np.sign(r), 0.0)
    assert loss == "squared_epsilon_insensitive"
    return np.maximum(a - eps, 0.0) ** 2, np.where(a > eps, 2 * (r - np.sign(r) * eps), 0.0)


def elementwise(loss, P, Y, eps):
    """Each output's loss and d loss / d prediction (labels: y > 0 is the positive class)."""
    if loss in MARGIN:
        s = np.where(Y > 0, 1.0, -1.0)
        value, dz = margin_loss(loss, s * P)
        return value, s * dz
    return residual_loss(loss, P - Y, eps)


def mean_loss(loss, W, b, X, Y, w, eps):
    """The training loss and its gradient (W, b): the weighted mean over samples and outputs."""
    P = X @ W.T + b
    value, d = elementwise(loss, P, Y, eps)
    scale = 1.0 / (Y.shape[1] * w.sum())
    D = w[:, None] * d * scale
    return float((w[:, None] * value).sum() * scale), D.T @ X, D.sum(axis=0)


def rows_near_kinks(loss, W, b, X, Y, eps):
    """The rows of which some output's margin (residual) lies within KINK_MARGIN of a kink."""
    P = X @ W.T + b
    x = np.where(Y > 0, 1.0, -1.0) * P if loss in MARGIN else np.abs(P - Y)
    near = np.zeros(X.shape[0], dtype=bool)
    for k in KINKS[loss]:
        near |= (np.abs(x - (eps if k == "eps" else k)) < KINK_MARGIN).any(axis=1)
    return near


def problem(loss, rng, n_samples, n_features, n_outputs, labels="pm1", dtype=np.float64):
    """A random problem (W, b, X, Y) whose margins (residuals) all stay KINK_MARGIN off the loss's
    kinks: the rows that come closer are drawn again. Margins spread over [-3, 3], so every branch
    of each loss is taken."""
    W = rng.standard_normal((n_outputs, n_features)) / np.sqrt(n_features)
    b = 0.3 * rng.standard_normal(n_outputs)
    X = rng.standard_normal((n_samples, n_features))
    if loss in MARGIN:
        Y = np.where(rng.standard_normal((n_samples, n_outputs)) > 0, 1.0, -1.0)
        if labels == "01":
            Y = (Y > 0).astype(np.float64)
    else:
        Y = X @ W.T + b + rng.standard_normal((n_samples, n_outputs))
    W, b = W.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
    for _ in range(100):
        X, Y = X.astype(dtype).astype(np.float64), Y.astype(dtype).astype(np.float64)
        near = rows_near_kinks(loss, W, b, X, Y, EPS)
        if not near.any():
            return tuple(a.astype(dtype) for a in (W, b, X, Y))
        X[near] = rng.standard_normal((int(near.sum()), n_features))
        if loss not in MARGIN:
            Y[near] = X[near] @ W.T + b + rng.standard_normal((int(near.sum()), n_outputs))
    raise AssertionError("no problem off the kinks")  # pragma: no cover


def kernel_step(loss, W, b, X, Y, w=None, **options):
    """(loss at W0, gradient of W, gradient of b, loss at W1) of one SGD step with lr 1."""
    options.setdefault("epsilon", EPS)
    res = gdfast.train(W, X, Y, b=b, fit_intercept=b is not None, learning_rate=1.0, num_iterations=1,
                       optimizer="sgd", loss=loss, sample_weight=w, **options)
    g_b = None if b is None else b - res.b
    return res.losses[0], W - res.W, g_b, res


# --- (a) formulas and (b) finite differences, on every path of the kernel ----------------------

# (n_samples, n_features, n_outputs, batch_size): the loops (small full batch), BLAS dgemm (a full
# batch of >= 2048 multiply-adds), a mini-batch (the first batch_size rows, in order) and the
# blocked sums (>= 8192 rows, <= 4 outputs).
PATHS = {"loops": (9, 4, 3, None), "blas": (200, 4, 3, None), "minibatch": (30, 5, 2, 7),
         "blocked": (8200, 3, 1, None)}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", NEW + ["huber"])
def test_value_and_gradient_equal_the_formulas(loss, weighted, path):
    n, d, m, batch = PATHS[path]
    rng = np.random.default_rng([len(loss), n, weighted])
    W, b, X, Y = problem(loss, rng, n, d, m)
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    options = dict(batch_size=batch, shuffle=False)
    if path == "blocked":
        cfg = TrainOptions.from_kwargs(loss=loss, epsilon=EPS).kernel_config(n)
        assert _train.run_uses_blocks(cfg, n, m)  # the path this case is about is the one taken
    value, g_W, g_b, res = kernel_step(loss, W, b, X, Y, w, **options)
    rows = slice(0, batch or n)
    ww = (np.ones(n) if w is None else w)[rows]
    exp_value, exp_W, exp_b = mean_loss(loss, W, b, X[rows], Y[rows], ww, EPS)
    scale = 1 + np.abs(W).max() + np.abs(exp_W).max()
    assert value == pytest.approx(exp_value, rel=RTOL)
    np.testing.assert_allclose(g_W, exp_W, rtol=RTOL, atol=1e-13 * scale)
    np.testing.assert_allclose(g_b, exp_b, rtol=RTOL, atol=1e-13 * scale)
    # the final loss (another kernel: all samples at W1, b1)
    final = mean_loss(loss, res.W, res.b, X, Y, np.ones(n) if w is None else w, EPS)[0]
    assert res.loss == pytest.approx(final, rel=RTOL)


@pytest.mark.parametrize("loss", NEW)
def test_float32_value_and_gradient_equal_the_formulas(loss):
    rng = np.random.default_rng(32)
    W, b, X, Y = problem(loss, rng, 12, 4, 2, dtype=np.float32)
    value, g_W, g_b, res = kernel_step(loss, W, b, X, Y)
    assert res.W.dtype == np.float32
    exp_value, exp_W, exp_b = mean_loss(loss, *(a.astype(np.float64) for a in (W, b, X, Y)), np.ones(12), EPS)
    scale = 1 + np.abs(W).max() + np.abs(exp_W).max()
    assert value == pytest.approx(exp_value, rel=1e-10)  # the kernel's loss: double sums of float32 data
    np.testing.assert_allclose(g_W, exp_W, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(g_b, exp_b, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("loss,labels", [(loss, "pm1") for loss in NEW] + [(loss, "01") for loss in MARGIN])
def test_gradient_equals_central_differences_of_the_formula(loss, labels):
    rng = np.random.default_rng([len(loss), 7])
    W, b, X, Y = problem(loss, rng, 11, 3, 2, labels=labels)
    w = rng.uniform(0.2, 2.0, 11)
    m, n = W.shape

    def f(theta):
        return mean_loss(loss, theta[: m * n].reshape(m, n), theta[m * n:], X, Y, w, EPS)[0]

    theta = np.concatenate([W.reshape(-1), b])
    fd = central_differences(f, theta)
    _, g_W, g_b, _ = kernel_step(loss, W, b, X, Y, w)
    value = f(theta)
    np.testing.assert_allclose(np.concatenate([g_W.reshape(-1), g_b]), fd, rtol=RTOL_FD,
                               atol=RTOL_FD * (1 + abs(value)))
    # and the oracle's own derivative agrees with its finite differences
    _, exp_W, exp_b = mean_loss(loss, W, b, X, Y, w, EPS)
    np.testing.assert_allclose(np.concatenate([exp_W.reshape(-1), exp_b]), fd, rtol=RTOL_FD,
                               atol=RTOL_FD * (1 + abs(value)))


def test_zero_one_labels_train_as_minus_one_plus_one():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((25, 3))
    y = np.where(X @ [1.0, -1.0, 0.5] + 0.2 * rng.standard_normal(25) > 0, 1.0, -1.0)
    for loss in MARGIN:
        a = gdfast.train(np.zeros(3), X, y, loss=loss, batch_size=4, seed=1, num_epochs=3, fit_intercept=True)
        b = gdfast.train(np.zeros(3), X, (y > 0).astype(np.float64), loss=loss, batch_size=4, seed=1,
                         num_epochs=3, fit_intercept=True)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.losses, b.losses)


# --- kinks: the derivative scikit-learn chooses there --------------------------------------------

@pytest.mark.parametrize("loss,z,value,dz", [
    ("hinge", 1.0, 0.0, -1.0),          # on the margin: scikit-learn's Hinge still moves (z <= 1)
    ("hinge", 0.0, 1.0, -1.0),
    ("perceptron", 0.0, 0.0, -1.0),     # a zero model moves (Hinge(threshold=0): z <= 0)
    ("squared_hinge", 1.0, 0.0, 0.0),
    ("modified_huber", 1.0, 0.0, 0.0),
    ("modified_huber", -1.0, 4.0, -4.0),
    ("log_loss", 0.0, np.log(2.0), -0.5),
])
@pytest.mark.parametrize("label", [1.0, -1.0])
def test_margin_kinks(loss, z, value, dz, label):
    """One sample x = 1, one weight p / x: the margin is exactly z; d loss / d w = y * dl/dz."""
    p = z * label
    X, Y, W = np.array([[1.0]]), np.array([[label]]), np.array([[p]])
    got_value, g_W, _, _ = kernel_step(loss, W, None, X, Y)
    assert got_value == pytest.approx(value, rel=1e-15, abs=0)
    assert g_W[0, 0] == label * dz


# An epsilon and residuals that are exact in binary, so that the residual is exactly on the kink.
KINK_EPS = 0.25


@pytest.mark.parametrize("loss,r,value,dr", [
    ("epsilon_insensitive", KINK_EPS, 0.0, 0.0), ("epsilon_insensitive", -KINK_EPS, 0.0, 0.0),
    ("squared_epsilon_insensitive", KINK_EPS, 0.0, 0.0), ("epsilon_insensitive", 0.0, 0.0, 0.0),
    ("epsilon_insensitive", 1.0, 0.75, 1.0), ("squared_epsilon_insensitive", -1.0, 0.5625, -1.5),
])
def test_insensitive_kinks(loss, r, value, dr):
    """Residual exactly r (prediction r + 2, target 2, both exact in binary)."""
    X, Y, W = np.array([[1.0]]), np.array([[2.0]]), np.array([[r + 2.0]])
    got_value, g_W, _, _ = kernel_step(loss, W, None, X, Y, epsilon=KINK_EPS)
    assert got_value == value
    assert g_W[0, 0] == dr


def test_kinks_agree_with_scikit_learns_loss_objects():
    """scikit-learn's own loss classes (private, for the kink choice; skipped if they move)."""
    pytest.importorskip("sklearn")
    try:
        from sklearn.linear_model import _sgd_fast as sgd
        objects = {"hinge": sgd.Hinge(1.0), "perceptron": sgd.Hinge(0.0), "squared_hinge": sgd.SquaredHinge(1.0),
                   "modified_huber": sgd.ModifiedHuber(), "epsilon_insensitive": sgd.EpsilonInsensitive(KINK_EPS),
                   "squared_epsilon_insensitive": sgd.SquaredEpsilonInsensitive(KINK_EPS)}
    except (ImportError, AttributeError) as exc:  # pragma: no cover - depends on scikit-learn's internals
        pytest.skip(f"scikit-learn's _sgd_fast loss classes are not available: {exc}")
    for loss, obj in objects.items():
        points = [(p, y) for y in (1.0, -1.0) for p in (1.0, -1.0, 0.0, 0.5, 2.0, -3.0)] if loss in MARGIN else [
            (2.0 + r, 2.0) for r in (KINK_EPS, -KINK_EPS, 0.0, 1.0, -1.0, 0.125)]
        for p, y in points:
            got_value, g_W, _, _ = kernel_step(loss, np.array([[p]]), None, np.array([[1.0]]), np.array([[y]]),
                                               epsilon=KINK_EPS)
            assert got_value == pytest.approx(obj.py_loss(p, y), rel=1e-15, abs=1e-16), (loss, p, y)
            assert g_W[0, 0] == pytest.approx(obj.py_dloss(p, y), rel=1e-15, abs=1e-16), (loss, p, y)


def test_log_loss_is_stable_for_large_margins():
    """log(1 + exp(-z)) and its derivative for |z| up to 1e4: no overflow, no NaN, no lost digits
    (exp(-z) alone overflows from z = -710 on, and log(1 + exp(-z)) loses everything below 1e-16)."""
    for z in (-1e4, -800.0, -40.0, -1.0, 1.0, 40.0, 800.0, 1e4):
        for y in (1.0, -1.0):
            # the margin in the start bias, W0 = 0: W1 = -gradient exactly (a gradient of 4e-18 read
            # back as W0 - W1 from W0 = 40 would round away)
            value, g_W, _, res = kernel_step("log_loss", np.zeros((1, 1)), np.array([z * y]), np.array([[1.0]]),
                                             np.array([[y]]))
            exp_value, exp_dz = margin_loss("log_loss", z)
            # (libm's exp and log1p, NumPy's logaddexp: a few ulps apart)
            assert np.isfinite(value) and value == pytest.approx(float(exp_value), rel=1e-14, abs=1e-300)
            assert g_W[0, 0] == pytest.approx(y * float(exp_dz), rel=1e-14, abs=1e-300)
            assert not res.diverged


# --- (c) torch ---------------------------------------------------------------------------------

def torch_loss(torch, loss, P, Y):
    """The mean loss over all entries of P, with torch's own loss functions."""
    F = torch.nn.functional
    pos = (Y > 0)
    if loss == "log_loss":
        return F.binary_cross_entropy_with_logits(P, pos.double())
    if loss == "log_loss_soft_margin":
        return F.soft_margin_loss(P, torch.where(pos, 1.0, -1.0).double())
    if loss in ("hinge", "squared_hinge", "perceptron"):
        # multi_margin_loss over the logits (0, p) with target 1 (y = +1) or 0 (y = -1): its one term
        # max(0, margin - y p)**power, divided by the number of classes (2).
        logits = torch.stack([torch.zeros_like(P), P], dim=-1).reshape(-1, 2)
        power, margin = {"hinge": (1, 1.0), "squared_hinge": (2, 1.0), "perceptron": (1, 0.0)}[loss]
        return 2 * F.multi_margin_loss(logits, pos.reshape(-1).long(), p=power, margin=margin)
    assert loss == "huber"
    return F.huber_loss(P, Y, delta=EPS)


@pytest.mark.parametrize("loss", ["log_loss", "log_loss_soft_margin", "hinge", "squared_hinge", "perceptron",
                                  "huber"])
def test_value_and_gradient_equal_torch(loss):
    torch = pytest.importorskip("torch")
    name = "log_loss" if loss.startswith("log_loss") else loss
    rng = np.random.default_rng(21)
    W, b, X, Y = problem(name, rng, 40, 5, 3)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    value_t = torch_loss(torch, loss, torch.tensor(X) @ Wt.T + bt, torch.tensor(Y))
    value_t.backward()
    value, g_W, g_b, _ = kernel_step(name, W, b, X, Y)
    scale = 1 + np.abs(W).max() + np.abs(Wt.grad.numpy()).max()
    assert value == pytest.approx(value_t.item(), rel=RTOL)
    np.testing.assert_allclose(g_W, Wt.grad.numpy(), rtol=RTOL, atol=1e-13 * scale)
    np.testing.assert_allclose(g_b, bt.grad.numpy(), rtol=RTOL, atol=1e-13 * scale)


def test_torch_hinge_embedding_loss_is_not_the_hinge_loss():
    """torch's hinge_embedding_loss is max(0, margin - p) for y = -1 but p itself for y = +1 (a
    distance loss): not max(0, 1 - y p), which is why the hinge oracle above is multi_margin_loss."""
    torch = pytest.importorskip("torch")
    p = torch.tensor([2.0, 0.5, -0.5], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    embedding = torch.nn.functional.hinge_embedding_loss(p, y, reduction="none").numpy()
    np.testing.assert_array_equal(embedding, p.numpy())  # p, not max(0, 1 - p) = [0, 0.5, 1.5]
    assert not np.allclose(embedding, np.maximum(0, 1 - p.numpy()))


# --- (d) scikit-learn's SGD, per sample --------------------------------------------------------

# gdfast loss name -> (scikit-learn estimator, its loss name, gdfast learning rate / eta0, extra kwargs)
SKLEARN = {
    "hinge": ("SGDClassifier", "hinge", 1.0, {}),
    "log_loss": ("SGDClassifier", "log_loss", 1.0, {}),
    "modified_huber": ("SGDClassifier", "modified_huber", 1.0, {}),
    "squared_hinge": ("SGDClassifier", "squared_hinge", 1.0, {}),
    "perceptron": ("SGDClassifier", "perceptron", 1.0, {}),
    "epsilon_insensitive": ("SGDRegressor", "epsilon_insensitive", 1.0, {"epsilon": EPS}),
    "squared_epsilon_insensitive": ("SGDRegressor", "squared_epsilon_insensitive", 1.0, {"epsilon": EPS}),
    "huber": ("SGDRegressor", "huber", 1.0, {"epsilon": EPS}),
    # scikit-learn's squared_error is r**2 / 2, gdfast's r**2: half the learning rate, the same step
    "squared_error": ("SGDRegressor", "squared_error", 0.5, {}),
    # mae's subgradient 0 at r = 0 is epsilon_insensitive's with epsilon = 0
    "mae": ("SGDRegressor", "epsilon_insensitive", 1.0, {"epsilon": 0.0}),
}


def sgd_data(classification, labels="pm1"):
    rng = np.random.default_rng(14)
    X = rng.standard_normal((60, 5))
    w = np.array([1.0, -2.0, 0.5, 0.0, 1.5])
    y = X @ w + 0.4 + 0.8 * rng.standard_normal(60)  # noisy: not separable, updates in every epoch
    if classification:
        y = np.where(y > 0, 1.0, -1.0 if labels == "pm1" else 0.0)
    return X, y


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss", list(SKLEARN))
def test_per_sample_sgd_equals_scikit_learn(loss, fit_intercept, epochs):
    """gdfast.train with batch_size=1, shuffle=False ends where SGDClassifier/SGDRegressor do.

    scikit-learn's plain SGD loop (``_plain_sgd``), for sample i in order: p = w.x + b, then
    w += -eta0 * dloss(p, y) * x and b += -eta0 * dloss(p, y) * intercept_decay, where dloss is
    the loss's derivative in p (its ``cy_gradient``, clipped to +-1e12: never reached here). With
    ``penalty=None`` there is no weight scaling by (1 - eta alpha) (alpha only enters the
    "optimal" learning rate, not used), ``intercept_decay`` is 1 for dense X, ``average=False``,
    ``tol=None``, and both start from zero weights. That is plain SGD on each sample's loss:
    gdfast's mean over a batch of one sample and one output is that loss, so learning_rate = eta0,
    except for squared_error, which scikit-learn halves (r**2 / 2): learning_rate = eta0 / 2 gives
    the same step (halving is exact). Class labels: SGDClassifier trains its positive class
    (``classes_[1]`` = +1) against -1, exactly y in {-1, +1}.

    The steps differ only in how the products are associated (eta * (d * x) against (eta * d) * x):
    an ulp per step. Observed: at most 5e-16; asserted 1e-12 (the issue asks for 1e-10). Sample
    weights are not compared: scikit-learn scales a sample's step by its weight, while gdfast's
    weighted mean over a batch of one sample divides the weight out again.
    """
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from sklearn.exceptions import ConvergenceWarning

    estimator, sk_loss, lr_factor, extra = SKLEARN[loss]
    X, y = sgd_data(estimator == "SGDClassifier")
    eta0 = 0.05
    model = getattr(sklearn_linear, estimator)(
        loss=sk_loss, penalty=None, learning_rate="constant", eta0=eta0, shuffle=False, max_iter=epochs,
        tol=None, average=False, fit_intercept=fit_intercept, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter epochs, as asked
        model.fit(X, y)
    res = gdfast.train(np.zeros(X.shape[1]), X, y, loss=loss, learning_rate=eta0 * lr_factor, batch_size=1,
                       shuffle=False, num_epochs=epochs, fit_intercept=fit_intercept,
                       **({"epsilon": extra["epsilon"]} if "epsilon" in extra else {}))
    assert res.n_iter == epochs * X.shape[0]
    np.testing.assert_allclose(res.W, model.coef_.reshape(-1), rtol=1e-12, atol=1e-12)
    if fit_intercept:
        np.testing.assert_allclose(res.b, model.intercept_[0], rtol=1e-12, atol=1e-12)
    assert np.abs(model.coef_).max() > 0.05  # the runs moved (the comparison is not of zeros)


@pytest.mark.parametrize("loss", MARGIN)
def test_zero_one_labels_equal_scikit_learn(loss):
    """SGDClassifier on y in {0, 1} (classes_ = [0, 1]) and gdfast on the same 0/1 targets."""
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from sklearn.exceptions import ConvergenceWarning

    X, y = sgd_data(True, labels="01")
    assert set(np.unique(y)) == {0.0, 1.0}
    model = sklearn_linear.SGDClassifier(loss=loss, penalty=None, learning_rate="constant", eta0=0.05,
                                         shuffle=False, max_iter=2, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    res = gdfast.train(np.zeros(5), X, y, loss=loss, learning_rate=0.05, batch_size=1, shuffle=False, num_epochs=2,
                       fit_intercept=True)
    np.testing.assert_allclose(res.W, model.coef_[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.b, model.intercept_[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["epsilon_insensitive", "squared_epsilon_insensitive", "squared_error"])
def test_gd_regressor_equals_sgd_regressor(loss):
    """GDRegressor with per-sample steps in order and scikit-learn's spellings (the same mapping as
    test_per_sample_sgd_equals_scikit_learn; restore_best off: scikit-learn keeps the last weights)."""
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    from sklearn.exceptions import ConvergenceWarning

    X, y = sgd_data(False)
    eta0 = 0.02
    sk = sklearn_linear.SGDRegressor(loss=loss, epsilon=EPS, penalty=None, learning_rate="constant", eta0=eta0,
                                     shuffle=False, max_iter=3, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
    gd = gdfast.GDRegressor(loss=loss, epsilon=EPS, learning_rate=eta0 * SKLEARN[loss][2], batch_size=1, schedule=None,
                            shuffle=False, max_iter=3, tol=None, restore_best=False).fit(X, y)
    np.testing.assert_allclose(gd.coef_, sk.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gd.intercept_, sk.intercept_[0], rtol=1e-12, atol=1e-12)


# --- the twin, sweep and the names -----------------------------------------------------------

@pytest.mark.parametrize("loss", NEW)
def test_reference_twin_and_sweep_agree(loss):
    """The NumPy twin (which shares gdfast's decisions, so it is no oracle) follows the kernel over
    a mini-batch Adam run (RTOL_LOOP: 40 iterated steps), and sweep equals train to the bit."""
    rng = np.random.default_rng(5)
    W, b, X, Y = problem(loss, rng, 30, 4, 2)
    opts = dict(loss=loss, learning_rate=0.05, optimizer="adam", batch_size=6, seed=2, num_iterations=40,
                fit_intercept=True, epsilon=EPS)
    fast = gdfast.train(W, X, Y, **opts)
    slow = reference.train(W, X, Y, **opts)
    np.testing.assert_allclose(fast.W, slow.W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.losses, slow.losses, rtol=1e-10, atol=1e-12)
    swept = gdfast.sweep(W, X, Y, configs=[{"loss": loss}, {"loss": "mse", "epsilon": None}],
                         **{k: v for k, v in opts.items() if k != "loss"})
    np.testing.assert_array_equal(swept.results[0].W, fast.W)
    np.testing.assert_array_equal(swept.results[0].losses, fast.losses)


def test_squared_error_is_mse_and_epsilon_is_huber_delta(rng):
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    W = rng.standard_normal((2, 3))
    a = gdfast.train(W, X, Y, loss="mse", num_iterations=5, seed=0)
    b = gdfast.train(W, X, Y, loss="squared_error", num_iterations=5, seed=0)
    np.testing.assert_array_equal(a.W, b.W)
    c = gdfast.train(W, X, Y, loss="huber", huber_delta=0.4, num_iterations=5, seed=0)
    d = gdfast.train(W, X, Y, loss="huber", epsilon=0.4, num_iterations=5, seed=0)
    np.testing.assert_array_equal(c.W, d.W)
    # the defaults: 1.0 for huber (as before), 0.1 for the insensitive losses (scikit-learn's)
    e = gdfast.train(W, X, Y, loss="huber", num_iterations=5, seed=0)
    f = gdfast.train(W, X, Y, loss="huber", epsilon=1.0, num_iterations=5, seed=0)
    np.testing.assert_array_equal(e.W, f.W)
    g = gdfast.train(W, X, Y, loss="epsilon_insensitive", num_iterations=5, seed=0)
    h = gdfast.train(W, X, Y, loss="epsilon_insensitive", epsilon=0.1, num_iterations=5, seed=0)
    np.testing.assert_array_equal(g.W, h.W)


# --- bad input ---------------------------------------------------------------------------------

X_BAD = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
W_BAD = np.zeros(2)


@pytest.mark.parametrize("fn", [gdfast.train, reference.train], ids=["kernel", "reference"])
@pytest.mark.parametrize("loss", MARGIN)
@pytest.mark.parametrize("y", [[0.0, 2.0, 0.0], [-1.0, 0.0, 1.0], [0.5, 1.0, -1.0], [1.0, -1.0, 3.0]],
                         ids=["0-2", "mixed", "fraction", "three"])
def test_classification_targets_must_be_labels(fn, loss, y):
    with pytest.raises(ValueError, match=rf"^Y must hold binary class labels for loss='{loss}': every value -1 "
                                         r"or \+1, or every value 0 or 1"):
        fn(W_BAD, X_BAD, np.array(y), loss=loss)


def test_classification_targets_checked_by_sweep_per_loss():
    y = np.array([0.5, 1.0, 2.0])
    gdfast.sweep(W_BAD, X_BAD, y, configs=[{"loss": "mse"}, {"loss": "epsilon_insensitive"}], num_iterations=1)
    with pytest.raises(ValueError, match=r"^Y must hold binary class labels for loss='hinge'"):
        gdfast.sweep(W_BAD, X_BAD, y, configs=[{"loss": "mse"}, {"loss": "hinge"}], num_iterations=1)


@pytest.mark.parametrize("labels", [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
def test_one_class_targets_are_labels(labels):
    r = gdfast.train(W_BAD, X_BAD, np.array(labels), loss="hinge", num_iterations=2)
    assert np.isfinite(r.loss)


@pytest.mark.parametrize("options,exc,pattern", [
    (dict(loss="log"), ValueError, r"^unknown loss 'log'; valid names: mse, mae, huber, epsilon_insensitive, "
                                   r"squared_epsilon_insensitive, log_loss, hinge, squared_hinge, modified_huber, "
                                   r"perceptron, multinomial \(or squared_error for mse, cross_entropy for multinomial\)$"),
    (dict(loss=3), TypeError, r"^loss must be one of mse, mae, huber, .*perceptron"),
    (dict(loss="epsilon_insensitive", epsilon=-0.1), ValueError, r"^epsilon must be >= 0"),
    (dict(epsilon=float("nan")), ValueError, r"^epsilon must be finite"),
    (dict(epsilon="wide"), TypeError, r"^epsilon must be a real number"),
    (dict(loss="huber", epsilon=0.0), ValueError, r"^epsilon must be > 0 for loss='huber'"),
    (dict(loss="huber", epsilon=0.5, huber_delta=0.5), TypeError, r"^give epsilon or huber_delta"),
    (dict(huber_delta=0.0), ValueError, r"^huber_delta must be > 0"),
])
@pytest.mark.parametrize("fn", [gdfast.train, reference.train], ids=["kernel", "reference"])
def test_bad_loss_options(fn, options, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn(W_BAD, X_BAD, np.array([1.0, -1.0, 1.0]), **options)


def test_epsilon_zero_is_valid_for_the_insensitive_losses():
    r = gdfast.train(W_BAD, X_BAD, np.array([1.0, -1.0, 1.0]), loss="epsilon_insensitive", epsilon=0.0,
                     num_iterations=3)
    m = gdfast.train(W_BAD, X_BAD, np.array([1.0, -1.0, 1.0]), loss="mae", num_iterations=3)
    np.testing.assert_array_equal(r.W, m.W)  # epsilon 0: mae, subgradient 0 at 0 included


def test_sweep_refuses_both_width_names_across_shared_and_per_run_options():
    with pytest.raises(TypeError, match=r"^give epsilon or huber_delta"):
        gdfast.sweep(W_BAD, X_BAD, np.ones(3), configs=[{"huber_delta": 0.5}], epsilon=0.2, loss="huber")


def test_gd_regressor_takes_regression_losses_only():
    pytest.importorskip("sklearn")
    X, y = sgd_data(False)
    with pytest.raises(ValueError, match=r"^loss='hinge' is a classification loss; GDRegressor takes the "
                                         r"regression losses epsilon_insensitive, huber, mae, mse, "
                                         r"squared_epsilon_insensitive"):
        gdfast.GDRegressor(loss="hinge").fit(X, y)
    with pytest.raises(TypeError, match=r"^give epsilon or huber_delta"):
        gdfast.GDRegressor(loss="huber", epsilon=0.2, huber_delta=0.2).fit(X, y)
    with pytest.raises(ValueError, match=r"^epsilon must be >= 0"):
        gdfast.GDRegressor(loss="epsilon_insensitive", epsilon=-1.0).fit(X, y)
