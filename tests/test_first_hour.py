"""Issue 11, "the first hour": what a learner types next works, and says what it did.

Oracles: torch.optim's schedulers (skipped without torch), hand loops written here, inspect.
"""
import inspect
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import reference, schedules
from gdfast.lesson import INPUT, TARGET, W1


def hand_gd(W, X, Y, rates, b=None):
    """Full-batch gradient descent on the MSE with per-update rates, by hand (W then b)."""
    for lr in rates:
        R = X @ W.T - Y + (0 if b is None else b)
        D = 2.0 / Y.size * R
        W = W - lr * (D.T @ X)
        if b is not None:
            b = b - lr * D.sum(axis=0)
    return W, b


@pytest.fixture
def problem():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 4))
    Y = X @ rng.standard_normal((4, 2)) + 0.1 * rng.standard_normal((30, 2))
    return np.zeros((2, 4)), X, Y


# --- grad_tol: one word, one meaning --------------------------------------------------------------

def test_grad_tol_is_the_gradient_norm_threshold_and_tol_a_deprecated_alias(problem):
    W0, X, Y = problem
    r = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=50_000, grad_tol=1e-6)
    assert r.converged and np.linalg.norm(gdfast.mse_gradient(r.W, X, Y)) < 1e-6
    with pytest.warns(DeprecationWarning, match="grad_tol"):
        old = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=50_000, tol=1e-6)
    assert old.W.tobytes() == r.W.tobytes() and old.n_iter == r.n_iter
    with pytest.raises(TypeError, match="not both"):
        gdfast.train(W0, X, Y, grad_tol=1e-6, tol=1e-6)
    with pytest.warns(DeprecationWarning):
        res = gdfast.sweep(W0, X, Y, learning_rates=[0.05], num_iterations=50_000, tol=1e-6)
    assert res.results[0].W.tobytes() == r.W.tobytes()
    assert "grad_tol" in inspect.signature(gdfast.train).parameters
    assert list(inspect.signature(reference.train).parameters) == list(inspect.signature(gdfast.train).parameters)


# --- schedules: cosine spans the run; any schedule as an array ------------------------------------

def test_cosine_by_name_spans_the_run_like_torch(problem):
    torch = pytest.importorskip("torch")
    W0, X, Y = problem
    n, lr = 40, 0.05
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n)
    rates = []
    for _ in range(n):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[-1] < 0.01 * lr  # spans the run: near eta_min at its end
    W_hand, _ = hand_gd(W0, X, Y, rates)
    r = gdfast.train(W0, X, Y, learning_rate=lr, schedule="cosine", num_iterations=n)
    np.testing.assert_allclose(r.W, W_hand, rtol=1e-12)
    # a schedule object with t_max=None spans a continued run's whole length at each call
    assert schedules.CosineAnnealing().t_max is None


def test_per_update_rates_follow_torch_lambda_lr(problem):
    torch = pytest.importorskip("torch")
    W0, X, Y = problem
    n, base = 60, 0.1

    def warmup_then_decay(t):
        return min(1.0, (t + 1) / 10) * 0.97 ** max(0, t - 10)

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_then_decay)
    torch_rates = []
    for _ in range(n):
        torch_rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    rates = base * np.array([warmup_then_decay(t) for t in range(n)])
    np.testing.assert_allclose(rates, torch_rates, rtol=1e-15)
    r = gdfast.train(W0, X, Y, schedule=rates, num_iterations=n)
    W_hand, _ = hand_gd(W0, X, Y, rates)
    np.testing.assert_allclose(r.W, W_hand, rtol=1e-12)
    slow = reference.train(W0, X, Y, schedule=rates, num_iterations=n)
    np.testing.assert_allclose(slow.W, r.W, rtol=1e-12)
    # the rates are read by absolute update count: two halves equal the whole run
    first = gdfast.train(W0, X, Y, schedule=rates, num_iterations=n // 2)
    second = gdfast.train(first.W, X, Y, schedule=rates, num_iterations=n // 2, state=first.state)
    assert second.W.tobytes() == r.W.tobytes()


def test_an_update_past_the_rates_is_an_error_not_a_repeat(problem):
    W0, X, Y = problem
    with pytest.raises(ValueError, match="holds 10 learning rates"):
        gdfast.train(W0, X, Y, schedule=np.full(10, 0.01), num_iterations=11)
    first = gdfast.train(W0, X, Y, schedule=np.full(10, 0.01), num_iterations=6)
    with pytest.raises(ValueError, match="at least 12 rates"):
        gdfast.train(first.W, X, Y, schedule=np.full(10, 0.01), num_iterations=6, state=first.state)
    for bad in (np.array([0.1, np.nan]), np.array([-0.1]), np.zeros((2, 2)), []):
        with pytest.raises(ValueError, match="schedule"):
            gdfast.train(W0, X, Y, schedule=bad, num_iterations=1)
    with pytest.raises(TypeError, match="schedule"):
        gdfast.train(W0, X, Y, schedule=3.0)
    rates = np.full(5, 0.01)
    gdfast.train(W0, X, Y, schedule=rates, num_iterations=5)
    assert rates.flags.writeable  # the user's array is copied, not frozen or kept


def test_sweep_takes_per_update_rates_per_run(problem):
    W0, X, Y = problem
    a, b = np.full(20, 0.01), np.linspace(0.1, 0.0, 20)
    res = gdfast.sweep(W0, X, Y, configs=[{"schedule": a}, {"schedule": b}], num_iterations=20)
    for cfg, r in zip(res.configs, res.results):
        assert r.W.tobytes() == gdfast.train(W0, X, Y, num_iterations=20, **cfg).W.tobytes()
        np.testing.assert_allclose(r.W, hand_gd(W0, X, Y, cfg["schedule"])[0], rtol=1e-12)


# --- an initial bias ---------------------------------------------------------------------------

def test_an_initial_bias_reproduces_torch_linear(problem):
    torch = pytest.importorskip("torch")
    W0, X, Y = problem
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2, dtype=torch.float64)
    W_init = layer.weight.detach().numpy().copy()
    b_init = layer.bias.detach().numpy().copy()
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(25):
        opt.zero_grad()
        torch.nn.functional.mse_loss(layer(Xt), Yt).backward()
        opt.step()
    r = gdfast.train(W_init, X, Y, b=b_init, fit_intercept=True, learning_rate=0.05, num_iterations=25)
    np.testing.assert_allclose(r.W, layer.weight.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(r.b, layer.bias.detach().numpy(), rtol=1e-10)
    res = gdfast.sweep(W_init, X, Y, b=b_init, fit_intercept=True, learning_rates=[0.05], num_iterations=25)
    assert res.b[0].tobytes() == r.b.tobytes()


def test_initial_bias_errors_name_the_fix(problem):
    W0, X, Y = problem
    with pytest.raises(ValueError, match="fit_intercept=True"):
        gdfast.train(W0, X, Y, b=np.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        gdfast.train(W0, X, Y, b=np.zeros(3), fit_intercept=True)
    b = np.array([1.0, 2.0])
    keep = b.copy()
    r = gdfast.train(W0, X, Y, b=b, fit_intercept=True, num_iterations=0)
    np.testing.assert_array_equal(r.b, keep)
    np.testing.assert_array_equal(b, keep)


# --- what a printed result shows ---------------------------------------------------------------

def test_reprs_are_a_dozen_lines_at_most(problem):
    r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200)
    text = repr(r)
    assert len(text.splitlines()) <= 12 and len(text) < 1200
    assert "status='max_iter'" in text and "n_iter=200" in text and "(4, 4)" in text
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64))
    Y = X @ rng.standard_normal((64, 64))
    big = gdfast.train(np.zeros((64, 64)), X, Y, optimizer="adam", learning_rate=0.05, num_iterations=500)
    assert len(repr(big).splitlines()) <= 12 and len(repr(big)) < 1200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(W1, INPUT, TARGET, learning_rates=np.logspace(-3, 0, 16), num_iterations=200)
    assert len(repr(res).splitlines()) <= 12 and len(repr(res)) < 1200
    assert "16 runs" in repr(res) and "diverged" in repr(res)


def test_a_run_stopped_far_from_its_optimum_says_so():
    """train()'s defaults on a 1000 x 50 problem stop at loss 0.906 (optimum ~0.01) after 100 updates."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 50))
    Y = X @ rng.standard_normal((50, 1)) + 0.1 * rng.standard_normal((1000, 1))
    W0 = np.zeros((1, 50))
    r = gdfast.train(W0, X, Y)
    W_opt = np.linalg.lstsq(X, Y, rcond=None)[0].T
    optimum = np.mean((X @ W_opt.T - Y) ** 2)
    assert r.n_iter == 100 and r.loss > 10 * optimum  # far from converged, by a closed form
    assert "still falling" in repr(r) and r.still_improving_hint()
    done = gdfast.train(W0, X, Y, learning_rate=0.3, num_iterations=2000)
    assert done.loss < 1.01 * optimum and not done.still_improving_hint()


def test_num_iterations_docstring_and_signature_agree():
    sig = inspect.signature(gdfast.train)
    assert sig.parameters["num_iterations"].default is None
    doc = gdfast.train.__doc__
    assert "None (the default) means 100" in doc and "num_iterations : int, default 100" not in doc
    assert gdfast.train(W1, INPUT, TARGET).n_iter == 100


def test_losses_hold_the_loss_before_each_update_and_loss_the_final_one():
    r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=3)
    by_hand = []
    W = W1.copy()
    for _ in range(3):
        R = W @ INPUT - TARGET
        by_hand.append(np.mean(R * R))
        W = W - 0.02 * 2 / 4 * np.outer(R, INPUT)
    np.testing.assert_allclose(r.losses, by_hand, rtol=1e-13)
    assert r.loss == pytest.approx(np.mean((W @ INPUT - TARGET) ** 2), rel=1e-13)
    assert "final loss" in repr(r) and "not in it" in gdfast.TrainResult.__doc__


# --- one output with 1-D arrays; the bias everywhere ------------------------------------------------

def test_single_output_regression_with_1d_arrays():
    """train(np.zeros(50), X, y) with X (s, 50), y (s,): a 1-D W is one output; results stay 1-D."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 50))
    w_true = rng.standard_normal(50)
    y = X @ w_true + 0.5
    r = gdfast.train(np.zeros(50), X, y, learning_rate=0.1, num_iterations=3000, fit_intercept=True)
    assert r.W.shape == (50,) and r.b.shape == ()
    np.testing.assert_allclose(r.W, w_true, rtol=1e-8)  # closed form: the noise-free optimum
    assert float(r.b) == pytest.approx(0.5, rel=1e-8)
    # the same bits as the 2-D spelling of the same problem
    r2 = gdfast.train(np.zeros((1, 50)), X, y[:, None], learning_rate=0.1, num_iterations=3000, fit_intercept=True)
    assert r2.W[0].tobytes() == r.W.tobytes() and r2.b.tobytes() == r.b.reshape(1).tobytes()
    # continued with its own state; sweep too
    more = gdfast.train(r.W, X, y, learning_rate=0.1, num_iterations=10, fit_intercept=True, state=r.state)
    assert more.W.shape == (50,)
    res = gdfast.sweep(np.zeros(50), X, y, learning_rates=[0.1], num_iterations=3000, fit_intercept=True,
                       initial_weights=np.zeros((1, 50)))
    assert res.W.shape == (1, 50) and res.results[0].W.tobytes() == r.W.tobytes()
    assert reference.train(np.zeros(50), X, y, learning_rate=0.1, num_iterations=5).W.shape == (50,)


def test_predict_and_mse_gradient_take_a_bias_and_a_1d_w():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((7, 3))
    W = rng.standard_normal((2, 3))
    b = rng.standard_normal(2)
    Y = rng.standard_normal((7, 2))
    # oracles: NumPy's expression of the model, and central finite differences of the loss
    np.testing.assert_allclose(gdfast.predict(W, X, b), X @ W.T + b, rtol=1e-14)
    np.testing.assert_allclose(gdfast.predict(W, X[0], b), W @ X[0] + b, rtol=1e-14)
    G = gdfast.mse_gradient(W, X, Y, b)

    def loss(Wf):
        return np.mean((X @ Wf.reshape(2, 3).T + b - Y) ** 2)

    h = 1e-6
    fd = np.array([(loss(W.ravel() + h * e) - loss(W.ravel() - h * e)) / (2 * h) for e in np.eye(6)]).reshape(2, 3)
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(reference.mse_gradient(W, X, Y, b), G, rtol=1e-12)
    np.testing.assert_allclose(reference.predict(W, X, b), X @ W.T + b, rtol=1e-14)
    # one output, 1-D arrays: the outputs' axis is dropped
    w, y = W[0], Y[:, 0]
    np.testing.assert_allclose(gdfast.predict(w, X, 0.25), X @ w + 0.25, rtol=1e-14)
    assert np.ndim(gdfast.predict(w, X[0])) == 0
    np.testing.assert_allclose(gdfast.mse_gradient(w, X, y, 0.25), 2 / 7 * (X @ w + 0.25 - y) @ X, rtol=1e-12)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        gdfast.predict(W, X, np.zeros(3))
    trained = gdfast.train(W, X, Y, fit_intercept=True, num_iterations=5)
    np.testing.assert_allclose(gdfast.predict(trained.W, X, trained.b), X @ trained.W.T + trained.b, rtol=1e-14)


@pytest.mark.parametrize("args, fix", [
    ((np.zeros((1, 5)), np.ones((9, 5)), np.ones(9)), r"Y.reshape\(-1, 1\)"),
    ((np.zeros(5), np.ones((9, 5)), np.ones((9, 1))), r"Y.ravel\(\)"),
    ((np.zeros((1, 5)), np.ones((5, 9)), np.ones((9, 1))), r"pass X.T"),
])
def test_a_wrong_shape_says_which_reshape_fixes_it(args, fix):
    for fn in (gdfast.train, gdfast.mse_gradient):
        with pytest.raises(ValueError, match=fix):
            fn(*args)


def test_gdregressor_points_scikit_learns_learning_rate_names_to_schedule():
    pytest.importorskip("sklearn")
    X, y = np.ones((6, 2)), np.arange(6.0)
    with pytest.raises(TypeError, match=r"schedule='invscaling' here \(with learning_rate=eta0\)"):
        gdfast.GDRegressor(learning_rate="invscaling").fit(X, y)
    with pytest.raises(TypeError, match="learning_rate is the step size"):
        gdfast.GDRegressor(learning_rate="optimal").fit(X, y)
