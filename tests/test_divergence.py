"""Issue 10, "never silently wrong": divergence, restore_best, corrupt states, memory of histories.

The oracles here are hand loops written in this file (plain NumPy / Python floats), not
``gdfast.reference``, which is a twin of the kernels and shared two bugs with them.
"""
import tracemalloc
import warnings

import numpy as np
import pytest

import gdfast
from gdfast.lesson import INPUT, TARGET, W1

OPTIMIZERS = ["sgd", gdfast.SGD(momentum=0.9), gdfast.SGD(momentum=0.9, nesterov=True), "adam", "adamw",
              "rmsprop", gdfast.RMSprop(centered=True, momentum=0.5), "adagrad"]


def _id(v):
    return repr(v) if not isinstance(v, str) else v


def quiet_train(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gdfast.train(*args, **kwargs)


def hand_mse(W, X, Y):
    """The lesson's loss, written here: mean over samples and outputs of the squared residual."""
    R = X @ W.T - Y
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(R * R))


def hand_sgd_path(W, X, Y, lr, n):
    """Full-batch gradient descent on the MSE, by hand: every iterate W_0 .. W_n and its loss."""
    Ws, losses = [W.copy()], [hand_mse(W, X, Y)]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n):
            G = 2.0 / Y.size * (X @ W.T - Y).T @ X
            W = W - lr * G
            Ws.append(W.copy())
            losses.append(hand_mse(W, X, Y))
    return Ws, losses


# --- the documented divergence rule, checked against a hand loop ---------------------------------

@pytest.mark.parametrize("lr", [0.14, 0.2, 0.5])
def test_lesson_blowups_are_flagged_at_the_documented_iterate(lr):
    """r20: the lesson's layer past the stability limit 2/15 grows by 17 orders of magnitude; the
    rule (loss > 1e4 x best and > first) flags it, and W is the iterate before the flagged one."""
    Ws, losses = hand_sgd_path(W1, INPUT[None, :], TARGET[None, :], lr, 200)
    flagged = next(t for t in range(1, 201) if losses[t] > 1e4 * min(losses[:t]) and losses[t] > losses[0])
    with pytest.warns(RuntimeWarning, match="blew up"):
        r = gdfast.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=200)
    assert r.diverged and r.status == "diverged"
    assert r.n_iter == flagged - 1
    np.testing.assert_allclose(r.W, Ws[flagged - 1], rtol=1e-10)  # same formula, other summation order
    assert r.loss == pytest.approx(losses[flagged - 1], rel=1e-9) and np.isfinite(r.loss)


def test_converging_lesson_runs_are_not_flagged():
    """Below the limit 2/15 the rule never fires, even where the loss reaches rounding noise."""
    for lr in (0.01, 0.05, 0.1, 0.13):
        r = gdfast.train(W1, INPUT, TARGET, learning_rate=lr, num_iterations=5000)
        assert not r.diverged, lr


def test_divergence_factor_none_keeps_only_the_non_finite_rule():
    r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.14, num_iterations=200, divergence_factor=None)
    assert not r.diverged and r.loss > 1e15  # the blow-up, unflagged, as asked
    with pytest.raises(ValueError, match="divergence_factor"):
        gdfast.train(W1, INPUT, TARGET, divergence_factor=0.5)


def test_minibatch_divergence_returns_the_last_iterate_with_a_finite_loss():
    """r02: the kernel stepped back once and the old _finish again, onto the overflowing iterate.

    Hand loop: per-sample SGD on x = (1e-200, 1), y = 0, in order; W_2 = -2e200 already has an
    infinite loss on all samples (through the second sample), though its own batch's loss is 2."""
    X = np.array([[1e-200], [1.0]])
    Y = np.zeros((2, 1))
    lr = 1e200
    w, path = 1.0, [1.0]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(4):
            x = X[t % 2, 0]
            w = float(np.float64(w) - lr * (2.0 * (w * x - 0.0) * x))
            path.append(w)
    with np.errstate(over="ignore"):
        finite = [k for k, wk in enumerate(path) if np.isfinite(np.mean((wk * X[:, 0]) ** 2))]
    r = quiet_train(np.array([[1.0]]), X, Y, learning_rate=lr, batch_size=1, shuffle=False, num_iterations=10)
    assert r.diverged
    last_good = max(k for k in finite if k <= 3)  # the kernel's batches overflow at update 3
    assert r.n_iter == last_good == 1
    assert r.W[0, 0] == path[last_good] and r.loss == pytest.approx(0.5) and np.isfinite(r.loss)


def _diverging_problem(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((24, 3)) * np.exp(rng.uniform(-3, 3, size=(24, 1)))  # rows of very unequal scale
    Y = rng.standard_normal((24, 2))
    return np.zeros((2, 3)), X, Y


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=_id)
@pytest.mark.parametrize("batch", [None, 1, 5])
def test_a_diverged_result_equals_a_fresh_run_of_n_iter_updates(optimizer, batch):
    """The invariant of issue 10, for every optimizer and batch mode: bits equal, loss finite."""
    seen = 0
    for seed in range(6):
        W0, X, Y = _diverging_problem(seed)
        for lr in (3.0, 30.0, 1e4, 1e150, 1e200):  # Adam's steps are ~lr: it needs a huge one
            opts = dict(learning_rate=lr, optimizer=optimizer, batch_size=batch, seed=seed,
                        num_iterations=300, fit_intercept=bool(seed % 2))
            r = quiet_train(W0, X, Y, **opts)
            if not r.diverged:
                continue
            seen += 1
            assert np.isfinite(r.loss) or r.n_iter == 0
            fresh = quiet_train(W0, X, Y, **{**opts, "num_iterations": r.n_iter})
            assert fresh.W.tobytes() == r.W.tobytes()
            assert (r.b is None) or fresh.b.tobytes() == r.b.tobytes()
            assert fresh.loss == r.loss
            # one more update is the blow-up (or an iterate without a finite loss on all samples)
            more = quiet_train(W0, X, Y, **{**opts, "num_iterations": r.n_iter + 1})
            assert more.diverged or more.n_iter <= r.n_iter
    assert seen >= 2


def test_sweep_flags_each_run_and_returns_the_same_iterates_as_train():
    W0, X, Y = _diverging_problem(1)
    lrs = [1e-3, 0.5, 3.0, 30.0, 1e4, 1e150]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gdfast.sweep(W0, X, Y, learning_rates=lrs, configs=gdfast.grid(batch_size=[None, 1, 5]),
                           seeds=[3], num_iterations=300, n_threads=2)
    assert res.diverged.any() and not res.diverged.all()
    for cfg, r in zip(res.configs, res.results):
        alone = quiet_train(W0, X, Y, num_iterations=300, **cfg)
        assert alone.W.tobytes() == r.W.tobytes() and alone.diverged == r.diverged and alone.n_iter == r.n_iter
        if r.diverged:
            assert np.isfinite(r.loss)
            fresh = quiet_train(W0, X, Y, **{**cfg, "num_iterations": r.n_iter})
            assert fresh.W.tobytes() == r.W.tobytes()


def test_a_diverged_state_cannot_be_continued():
    r = quiet_train(W1, INPUT, TARGET, learning_rate=0.5, num_iterations=50)
    assert r.diverged
    with pytest.raises(ValueError, match="diverged"):
        gdfast.train(r.W, INPUT, TARGET, learning_rate=0.5, num_iterations=5, state=r.state)


# --- restore_best ------------------------------------------------------------------------------

def test_restore_best_returns_the_lowest_loss_iterate_of_a_hand_loop():
    """1% past the stability limit 2 / lambda_max the stable directions converge first (the loss
    falls), then the unstable one grows, slowly (2500 x in 300 updates, under divergence_factor):
    restore_best returns the iterate with the lowest loss, found by a hand loop over every iterate."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)) * [1.0, 3.0, 0.3]
    Y = rng.standard_normal((20, 2))
    W0 = np.zeros((2, 3))
    lr = 1.01 * 2 / np.linalg.eigvalsh(2 / Y.size * X.T @ X).max()
    n = 300
    Ws, losses = hand_sgd_path(W0, X, Y, lr, n)
    best = int(np.argmin(losses))
    assert 0 < best < n and losses[-1] > 1000 * losses[best]
    last = gdfast.train(W0, X, Y, learning_rate=lr, num_iterations=n)
    r = gdfast.train(W0, X, Y, learning_rate=lr, num_iterations=n, restore_best=True)
    assert not r.diverged and r.n_iter == n and last.best_step == n
    assert r.best_step == best
    np.testing.assert_allclose(r.W, Ws[best], rtol=1e-9)
    assert r.loss == pytest.approx(losses[best], rel=1e-9)
    np.testing.assert_array_equal(r.state.split()[0], last.W)  # the state continues the last iterate


def test_restore_best_keeps_the_last_weights_of_a_converging_run():
    a = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=100)
    b = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=100, restore_best=True)
    assert b.best_step == 100 and a.W.tobytes() == b.W.tobytes()


# --- corrupt states (r09, r10) and grad_norm (r17) -----------------------------------------------

def _adam_state():
    X = np.ones((4, 2))
    Y = np.ones((4, 1))
    r = gdfast.train(np.zeros((1, 2)), X, Y, optimizer="adam", num_iterations=3, batch_size=2, seed=0,
                     n_iter_no_change=2)
    return r, X, Y


@pytest.mark.parametrize("corrupt, match", [
    (lambda s: s.record.__setitem__("step", 2**63 - 1), "overflow the step counter"),
    (lambda s: s.record.__setitem__("best_loss", np.nan), "best loss"),
    (lambda s: s.opt_state.__setitem__((0, 0), np.nan), "opt_state"),
    (lambda s: s.opt_state.__setitem__((1, 0), -1.0), "must be >= 0"),
    (lambda s: s.record.__setitem__("epoch_loss_sum", np.inf), "epoch sums"),
])
def test_a_corrupt_state_is_refused(corrupt, match):
    r, X, Y = _adam_state()
    corrupt(r.state)
    with pytest.raises(ValueError, match=match):
        gdfast.train(r.W, X, Y, optimizer="adam", num_iterations=3, batch_size=2, state=r.state)


def test_grad_norm_is_nan_when_no_gradient_was_computed():
    r = gdfast.train(np.zeros((1, 2)), np.ones((3, 2)), np.ones((3, 1)), grad_tol=1e-3, num_iterations=0)
    assert np.isnan(r.grad_norm) and not r.converged


# --- memory of the loss histories ---------------------------------------------------------------

def test_full_batch_histories_cost_8_bytes_per_recorded_update():
    """record_every=1 kept two NaN-filled buffers and copied both (32 bytes per update at peak):
    a full batch's losses and epoch losses are the same numbers, kept once."""
    n = 200_000
    gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10)  # warm up
    tracemalloc.start()
    try:
        r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.losses.size == n and r.epoch_losses.size == n
    np.testing.assert_array_equal(r.losses, r.epoch_losses)
    assert peak < 8 * n + 200_000, peak


def test_progress_float32_blas_path_gives_the_same_bits():
    tqdm = pytest.importorskip("tqdm")  # noqa: F841
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 64)).astype(np.float32)
    Y = rng.standard_normal((256, 64)).astype(np.float32)
    W0 = np.zeros((64, 64), np.float32)
    a = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=200)
    b = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=200, progress=True)
    assert a.W.tobytes() == b.W.tobytes() and a.losses.tobytes() == b.losses.tobytes()


# --- GDRegressor (r18, r19) -------------------------------------------------------------------

def test_gdregressor_warns_and_keeps_the_best_epoch_when_the_loss_blows_up():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg = gdfast.GDRegressor(batch_size=None, schedule=None, learning_rate=1e3, tol=1e-4).fit(X, y)
    assert np.isfinite(reg.coef_).all()
    # a learning rate just past stability: the loss grows for several epochs, then no improvement
    lr = 2.0 / np.linalg.eigvalsh(2 / len(X) * np.c_[X, np.ones(len(X))].T @ np.c_[X, np.ones(len(X))]).max()
    with pytest.warns(ConvergenceWarning, match="stopped improving.*best epoch"):
        reg = gdfast.GDRegressor(batch_size=None, schedule=None, learning_rate=1.05 * lr, tol=1e-4).fit(X, y)
    curve = reg.loss_curve_
    # hand check: the model's training loss is the best epoch's, not the last one's
    mse = np.mean((X @ reg.coef_ + reg.intercept_ - y) ** 2)
    assert mse == pytest.approx(curve.min(), rel=1e-9) and curve[-1] > 1.1 * curve.min()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # a good run: no warning
        gdfast.GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=2000, tol=1e-4).fit(X, y)
