"""The training engine (``gdfast.train``) against its NumPy twin ``gdfast.reference.train``, closed
forms, and its own guarantees (continuation to the bit, reproducible shuffles, stopping rules).

Tolerances: RTOL_LOOP / ATOL_LOOP of tests/conftest.py, the absolute floor scaled by the largest
entry of the compared array (an iterated loop's rounding is relative to the problem's scale).
Counters, permutations and generator states are integers: compared exactly.
"""
import math
import warnings

import numpy as np
import pytest

import gdfast
from gdfast import reference, schedules
from conftest import ATOL_LOOP, DTYPES, RTOL_LOOP, random_problem


def close(actual, desired, dtype, what=""):
    d = np.dtype(dtype)
    desired = np.asarray(desired, dtype=np.float64)
    finite = desired[np.isfinite(desired)]  # a diverged history ends in inf/nan: compared as such
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    np.testing.assert_allclose(np.asarray(actual, np.float64), desired, rtol=RTOL_LOOP[d], atol=ATOL_LOOP[d] * scale,
                               err_msg=what)


def assert_same_run(fast, slow, dtype):
    """Everything a result holds: weights, bias, histories, final loss, stop flags and the state."""
    assert fast.W.dtype == np.dtype(dtype) and slow.W.dtype == np.dtype(dtype)
    assert (fast.n_iter, fast.status, fast.converged, fast.stopped_early, fast.diverged) == (
        slow.n_iter, slow.status, slow.converged, slow.stopped_early, slow.diverged)
    close(fast.W, slow.W, dtype, "W")
    if slow.b is None:
        assert fast.b is None
    else:
        assert fast.b.dtype == np.dtype(dtype)
        close(fast.b, slow.b, dtype, "b")
    assert fast.losses.shape == slow.losses.shape and fast.epoch_losses.shape == slow.epoch_losses.shape
    close(fast.losses, slow.losses, dtype, "losses")
    close(fast.epoch_losses, slow.epoch_losses, dtype, "epoch_losses")
    close(fast.loss, slow.loss, dtype, "loss")
    for k in range(3):  # optimizer buffers, each at its own scale
        close(fast.state.opt_state[k], slow.state.opt_state[k], dtype, f"optimizer buffer {k}")
    for field in ("step", "current", "position", "epoch", "no_improvement", "best_step", "rng", "status",
                  "recorded", "epochs_recorded"):  # the record's counters (the twin rounds its running losses in its own order)
        assert fast.state.record[field] == slow.state.record[field], field
    np.testing.assert_array_equal(fast.state.perm, slow.state.perm)
    assert fast.seed == slow.seed


@pytest.fixture(scope="module")
def problems():
    """One small problem per dtype: 12 samples, 5 features, 3 outputs (float32 rounded from float64)."""
    W0, X, Y = random_problem(np.random.default_rng(2024), 12, 5, 3)
    return {np.dtype(d): (W0.astype(d), X.astype(d), Y.astype(d)) for d in DTYPES}


OPTIMIZERS = [
    gdfast.SGD(),
    gdfast.SGD(momentum=0.9),
    gdfast.SGD(momentum=0.8, dampening=0.3),
    gdfast.SGD(momentum=0.9, nesterov=True),
    gdfast.SGD(momentum=0.5, weight_decay=0.1),
    gdfast.Adam(),
    gdfast.Adam(amsgrad=True, beta1=0.8, beta2=0.99),
    gdfast.Adam(weight_decay=0.1),
    gdfast.AdamW(weight_decay=0.1),
    gdfast.AdamW(amsgrad=True),
    gdfast.RMSprop(),
    gdfast.RMSprop(centered=True),
    gdfast.RMSprop(momentum=0.9, alpha=0.9),
    gdfast.RMSprop(centered=True, momentum=0.5, weight_decay=0.01),
    gdfast.Adagrad(),
    gdfast.Adagrad(lr_decay=0.05),
    gdfast.Adagrad(initial_accumulator_value=0.1, weight_decay=0.01, eps=1e-6),
]
LR = {"SGD": 0.05, "Adam": 0.02, "AdamW": 0.02, "RMSprop": 0.005, "Adagrad": 0.1}


def _id(obj):
    return repr(obj).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fit_intercept", [False, True], ids=["nob", "bias"])
@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=_id)
def test_every_optimizer_and_loss_equals_reference(problems, optimizer, loss, fit_intercept, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    opts = dict(learning_rate=LR[type(optimizer).__name__], num_iterations=30, optimizer=optimizer, loss=loss,
                huber_delta=0.5, fit_intercept=fit_intercept, seed=0)
    assert_same_run(gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts), dtype)


SCHEDULES = [None, "exponential", schedules.ExponentialDecay(0.9), schedules.StepDecay(step_size=7, gamma=0.5),
             schedules.InverseScaling(power_t=0.5), schedules.CosineAnnealing(t_max=25, eta_min=1e-3), "cosine"]
BATCHING = [dict(), dict(batch_size=4, seed=1), dict(batch_size=5, shuffle=False), dict(batch_size=1, seed=7),
            dict(batch_size=12, seed=3), dict(batch_size=11, seed=2**64 - 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("batching", BATCHING, ids=_id)
@pytest.mark.parametrize("optimizer", ["sgd", gdfast.SGD(momentum=0.9, nesterov=True), "adam", "rmsprop", "adagrad"],
                         ids=_id)
def test_minibatches_and_shuffling_equal_reference(problems, optimizer, batching, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    name = type(gdfast.optimizers.get_optimizer(optimizer)).__name__
    opts = dict(learning_rate=LR[name], num_iterations=40, optimizer=optimizer, fit_intercept=True,
                **{"seed": 0, **batching})
    assert_same_run(gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=_id)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", gdfast.Adagrad(lr_decay=0.1)], ids=_id)
def test_schedules_equal_reference(problems, optimizer, schedule, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    name = type(gdfast.optimizers.get_optimizer(optimizer)).__name__
    opts = dict(learning_rate=LR[name], num_iterations=30, optimizer=optimizer, schedule=schedule, batch_size=6,
                seed=5)
    assert_same_run(gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts), dtype)


def test_schedule_formulas():
    """The schedules' closed forms, written out independently (the kernel runs the same formulas,
    compared through train above)."""
    lr = 0.3
    for t in (0, 1, 5, 17, 100):
        assert schedules.Constant()(lr, t) == lr
        assert schedules.ExponentialDecay(0.9)(lr, t) == pytest.approx(lr * 0.9**t, rel=1e-15)
        assert schedules.StepDecay(step_size=7, gamma=0.5)(lr, t) == pytest.approx(lr * 0.5 ** (t // 7), rel=1e-15)
        assert schedules.InverseScaling(0.5)(lr, t) == pytest.approx(lr / math.sqrt(t + 1), rel=1e-15)
        assert schedules.CosineAnnealing(t_max=20, eta_min=0.01)(lr, t) == pytest.approx(
            0.01 + (lr - 0.01) * (1 + math.cos(math.pi * t / 20)) / 2, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("clip_norm", [0.05, 1e6])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", gdfast.RMSprop(centered=True)], ids=_id)
def test_clip_norm_equals_reference(problems, optimizer, clip_norm, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    opts = dict(learning_rate=0.02, num_iterations=30, optimizer=optimizer, clip_norm=clip_norm, fit_intercept=True,
                batch_size=3, seed=9)
    fast, slow = gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts)
    assert_same_run(fast, slow, dtype)
    close(fast.grad_norm, slow.grad_norm, dtype, "grad_norm")


def test_clip_norm_bounds_the_step(problems):
    """With plain SGD, ||W1 - W0|| / lr is the clipped gradient norm: clip_norm * norm / (norm + 1e-6)."""
    W0, X, Y = problems[np.dtype(np.float64)]
    g = gdfast.mse_gradient(W0, X, Y)
    norm = np.linalg.norm(g)
    assert norm > 0.5
    r = gdfast.train(W0, X, Y, learning_rate=1.0, num_iterations=1, clip_norm=0.5)
    np.testing.assert_allclose((W0 - r.W), g * (0.5 / (norm + 1e-6)), rtol=1e-12, atol=1e-15)
    unclipped = gdfast.train(W0, X, Y, learning_rate=1.0, num_iterations=1, clip_norm=10 * norm)
    np.testing.assert_allclose(W0 - unclipped.W, g, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rmsprop"], ids=_id)
def test_sample_weight_equals_reference(problems, optimizer, loss, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    sw = np.linspace(0.0, 2.0, X.shape[0]).astype(dtype)  # a zero weight included
    name = type(gdfast.optimizers.get_optimizer(optimizer)).__name__
    opts = dict(learning_rate=LR[name], num_iterations=25, optimizer=optimizer, loss=loss, sample_weight=sw,
                fit_intercept=True, batch_size=4, seed=4)
    assert_same_run(gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts), dtype)


@pytest.mark.parametrize("batch_size,shuffle", [(1, True), (2, False), (3, True)])
def test_zero_weight_batches_contribute_nothing(batch_size, shuffle):
    """A mini-batch whose weights are all zero is skipped (zero gradient), not a 0/0 'divergence'."""
    W0, X, Y = random_problem(np.random.default_rng(12), 6, 3, 2)
    sw = np.array([0.0, 0.0, 1.0, 2.0, 0.0, 1.0])
    opts = dict(learning_rate=0.05, num_iterations=24, batch_size=batch_size, shuffle=shuffle, seed=3,
                sample_weight=sw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fast = gdfast.train(W0, X, Y, **opts)
        slow = reference.train(W0, X, Y, **opts)
    assert not fast.diverged and np.isfinite(fast.losses).all()
    assert_same_run(fast, slow, np.float64)
    # Plain SGD over zero-weight samples only: every step is a no-op.
    two = gdfast.train(W0, X[:3], Y[:3], learning_rate=0.05, num_iterations=2, batch_size=1, shuffle=False,
                       sample_weight=[0.0, 0.0, 1.0])
    np.testing.assert_array_equal(two.W, W0)
    np.testing.assert_array_equal(two.losses, [0.0, 0.0])


def test_integer_sample_weights_equal_repeated_samples():
    """Weight 2 on a sample = that sample twice (full batch, mean loss): an independent check."""
    W0, X, Y = random_problem(np.random.default_rng(1), 5, 3, 2)
    sw = np.array([1, 2, 1, 3, 1])
    rep = np.repeat(np.arange(5), sw)
    a = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=20, sample_weight=sw, fit_intercept=True)
    b = gdfast.train(W0, X[rep], Y[rep], learning_rate=0.05, num_iterations=20, fit_intercept=True)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.b, b.b, rtol=1e-12, atol=1e-14)


# --- start, stop, record --------------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
def test_zero_iterations_returns_the_start(problems, fit_intercept):
    W0, X, Y = problems[np.dtype(np.float64)]
    r = gdfast.train(W0, X, Y, num_iterations=0, optimizer="adam", fit_intercept=fit_intercept, seed=0)
    np.testing.assert_array_equal(r.W, W0)
    assert r.W is not W0 and not np.shares_memory(r.W, W0)
    if fit_intercept:
        np.testing.assert_array_equal(r.b, np.zeros(3))
    assert r.n_iter == 0 and not r.converged and not r.diverged and r.status == "max_iter"
    assert r.loss == pytest.approx(np.mean((X @ W0.T - Y) ** 2), rel=1e-13)
    assert r.losses.size == 0
    slow = reference.train(W0, X, Y, num_iterations=0, optimizer="adam", fit_intercept=fit_intercept, seed=0)
    assert_same_run(r, slow, np.float64)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_tol_stops_on_the_gradient_norm(optimizer):
    W0, X, Y = random_problem(np.random.default_rng(3), 40, 4, 2, noise=0.3)
    tol = 1e-4
    opts = dict(learning_rate=0.05 if optimizer == "sgd" else 0.01, num_iterations=20000, grad_tol=tol, optimizer=optimizer)
    r = gdfast.train(W0, X, Y, **opts)
    assert r.converged and r.status == "converged" and 0 < r.n_iter < 20000
    # Independently: the gradient at the returned W is below tol, and one update earlier it was not.
    assert np.linalg.norm(gdfast.mse_gradient(r.W, X, Y)) < tol
    before = gdfast.train(W0, X, Y, **{**opts, "grad_tol": None, "num_iterations": r.n_iter - 1})
    assert np.linalg.norm(gdfast.mse_gradient(before.W, X, Y)) >= tol
    assert r.grad_norm == pytest.approx(np.linalg.norm(gdfast.mse_gradient(r.W, X, Y)), rel=1e-9)
    assert r.losses.size == r.n_iter + 1  # the forward pass that found convergence is recorded
    slow = reference.train(W0, X, Y, **{**opts, "num_iterations": r.n_iter + 5})
    assert slow.converged and slow.n_iter == r.n_iter
    close(r.W, slow.W, np.float64)


def test_tol_zero_never_converges(problems):
    W0, X, Y = problems[np.dtype(np.float64)]
    r = gdfast.train(W0, X, Y, num_iterations=50, grad_tol=0.0)
    assert not r.converged and r.n_iter == 50


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("batch_size", [None, 4])
def test_n_iter_no_change_equals_reference(dtype, batch_size):
    W0, X, Y = random_problem(np.random.default_rng(5), 12, 3, 2, dtype=dtype, noise=0.5)
    opts = dict(learning_rate=0.1, num_epochs=500, n_iter_no_change=3, loss_tol=1e-3, batch_size=batch_size, seed=2)
    fast, slow = gdfast.train(W0, X, Y, **opts), reference.train(W0, X, Y, **opts)
    assert fast.stopped_early and fast.status == "no_improvement"
    steps = 1 if batch_size is None else 3
    assert fast.n_iter < 500 * steps and fast.n_iter % steps == 0
    assert_same_run(fast, slow, dtype)
    # scikit-learn's rule, replayed on the recorded epoch losses: the last 3 epochs did not
    # improve on the best before them by loss_tol, and the run did not stop earlier.
    e = fast.epoch_losses
    best, no_improvement = np.inf, 0
    for k, v in enumerate(e):
        no_improvement = no_improvement + 1 if v > best - 1e-3 else 0
        best = min(best, v)
        if no_improvement >= 3:
            assert k == len(e) - 1
    assert no_improvement >= 3


@pytest.mark.parametrize("optimizer", ["sgd", "adam", gdfast.SGD(momentum=0.9)], ids=_id)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_divergence(optimizer, fit_intercept):
    W0, X, Y = random_problem(np.random.default_rng(6), 20, 4, 2)
    # Adam's steps are bounded by lr: it needs lr ~ 1e200 to overflow a squared residual.
    opts = dict(learning_rate=1e3 if optimizer != "adam" else 1e200, num_iterations=500, optimizer=optimizer,
                fit_intercept=fit_intercept, seed=0)
    with pytest.warns(RuntimeWarning, match=r"loss blew up"):
        r = gdfast.train(W0, X, Y, **opts)
    assert r.diverged and r.status == "diverged" and r.n_iter < 500
    # (the first update already takes the loss past 1e4 times the start's: divergence_factor)
    assert np.isfinite(r.W).all() and np.isfinite(r.loss)
    with pytest.warns(RuntimeWarning):
        slow = reference.train(W0, X, Y, **opts)
    assert_same_run(r, slow, np.float64)
    # W is the iterate after n_iter updates (to the bit), and one more update leaves the finite numbers.
    exact = gdfast.train(W0, X, Y, **{**opts, "num_iterations": r.n_iter})
    assert not exact.diverged
    np.testing.assert_array_equal(exact.W, r.W)
    with pytest.warns(RuntimeWarning):
        assert gdfast.train(W0, X, Y, **{**opts, "num_iterations": r.n_iter + 1}).diverged


@pytest.mark.parametrize("record_every", [1, 2, 3, 7, 50, 100])
def test_record_every(problems, record_every):
    W0, X, Y = problems[np.dtype(np.float64)]
    every = gdfast.train(W0, X, Y, num_iterations=20, optimizer="adam", seed=0)
    r = gdfast.train(W0, X, Y, num_iterations=20, optimizer="adam", record_every=record_every, seed=0)
    assert r.losses.size == math.ceil(20 / record_every)
    np.testing.assert_array_equal(r.losses, every.losses[::record_every])
    np.testing.assert_array_equal(r.W, every.W)
    slow = reference.train(W0, X, Y, num_iterations=20, optimizer="adam", record_every=record_every, seed=0)
    assert_same_run(r, slow, np.float64)


def test_losses_are_the_forward_pass_losses(problems):
    """losses[t] is the MSE of W_t, the weights before update t (full batch)."""
    W0, X, Y = problems[np.dtype(np.float64)]
    r = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=5)
    for t in range(5):
        Wt = gdfast.train(W0, X, Y, learning_rate=0.05, num_iterations=t).W
        assert r.losses[t] == pytest.approx(gdfast.mse(gdfast.predict(Wt, X), Y), rel=1e-13)
    assert r.loss == pytest.approx(gdfast.mse(gdfast.predict(r.W, X), Y), rel=1e-13)


@pytest.mark.parametrize("batch_size,n_batches", [(None, 1), (4, 3), (5, 3), (12, 1), (1, 12)])
def test_num_epochs(problems, batch_size, n_batches):
    W0, X, Y = problems[np.dtype(np.float64)]
    r = gdfast.train(W0, X, Y, num_epochs=4, batch_size=batch_size, seed=1, learning_rate=0.02)
    assert r.n_iter == 4 * n_batches and r.state.epoch == 4
    assert r.epoch_losses.size == 4
    # An epoch's loss is the sample-weighted mean of its batch losses.
    sizes = np.array([len(c) for c in np.array_split(np.arange(12), range(batch_size or 12, 12, batch_size or 12))])
    per_epoch = r.losses.reshape(4, n_batches)
    np.testing.assert_allclose(r.epoch_losses, per_epoch @ sizes / 12, rtol=1e-13)
    same = gdfast.train(W0, X, Y, num_iterations=4 * n_batches, batch_size=batch_size, seed=1, learning_rate=0.02)
    np.testing.assert_array_equal(same.W, r.W)


# --- randomness ---------------------------------------------------------------------------------

def test_splitmix64_known_outputs():
    """Vigna's splitmix64 reference outputs for seed 1234567 (independent of gdfast)."""
    g = reference.SplitMix64(1234567)
    assert [g.next() for _ in range(5)] == [6457827717110365317, 3203168211198807973, 9817491932198370423,
                                             4593380528125082431, 16408922859458223821]


def test_kernel_shuffle_is_the_documented_generator():
    """The permutation after one epoch is reference.shuffle_permutation driven by SplitMix64(seed)."""
    W0, X, Y = random_problem(np.random.default_rng(8), 10, 2, 1)
    for seed in (0, 1, 12345, 2**64 - 1):
        r = gdfast.train(W0, X, Y, num_iterations=1, batch_size=3, seed=seed)
        perm = np.arange(10)
        g = reference.SplitMix64(seed)
        reference.shuffle_permutation(perm, g)
        np.testing.assert_array_equal(r.state.perm, perm)
        assert int(r.state.record["rng"]) == g.state
        assert sorted(perm) == list(range(10))


def test_same_seed_same_bits_different_seed_different_order(problems):
    W0, X, Y = problems[np.dtype(np.float64)]
    opts = dict(num_iterations=30, batch_size=4, optimizer="adam", fit_intercept=True)
    a, b = gdfast.train(W0, X, Y, seed=42, **opts), gdfast.train(W0, X, Y, seed=42, **opts)
    assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
    assert a.losses.tobytes() == b.losses.tobytes()
    c = gdfast.train(W0, X, Y, seed=43, **opts)
    assert not np.array_equal(a.state.perm, c.state.perm)
    assert not np.array_equal(a.W, c.W)
    # no seed: one is drawn and reported; passing it back reproduces the run
    d = gdfast.train(W0, X, Y, **opts)
    e = gdfast.train(W0, X, Y, seed=d.seed, **opts)
    assert d.W.tobytes() == e.W.tobytes()


def test_shuffle_false_takes_batches_in_order(problems):
    W0, X, Y = problems[np.dtype(np.float64)]
    r = gdfast.train(W0, X, Y, num_iterations=3, batch_size=4, shuffle=False, learning_rate=0.05)
    W = W0.copy()
    for k in range(3):  # an independent NumPy loop over the batches 0:4, 4:8, 8:12
        xb, yb = X[4 * k: 4 * k + 4], Y[4 * k: 4 * k + 4]
        W = W - 0.05 * 2 / yb.size * (xb @ W.T - yb).T @ xb
    np.testing.assert_allclose(r.W, W, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(r.state.perm, np.arange(12))


# --- continuation -------------------------------------------------------------------------------

WARM = [
    ("sgd", dict(seed=0)),
    (gdfast.SGD(momentum=0.9, nesterov=True), dict(batch_size=5, seed=3)),
    (gdfast.Adam(amsgrad=True), dict(batch_size=4, seed=1, fit_intercept=True)),
    # (a cosine schedule given by name spans each call: the halves need t_max fixed to the whole run)
    (gdfast.AdamW(), dict(batch_size=7, seed=2, schedule=schedules.CosineAnnealing(t_max=1000))),
    (gdfast.RMSprop(centered=True, momentum=0.5), dict(batch_size=3, seed=11, clip_norm=0.1)),
    (gdfast.Adagrad(lr_decay=0.01), dict(batch_size=1, seed=5, loss="huber", schedule="invscaling")),
    ("adam", dict(batch_size=5, seed=6, n_iter_no_change=10**6, loss_tol=0.0, sample_weight=np.arange(12.0))),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("optimizer,options", WARM, ids=[_id(w) for w in WARM])
def test_two_halves_equal_one_run_to_the_bit(problems, optimizer, options, dtype):
    W0, X, Y = problems[np.dtype(dtype)]
    opts = dict(learning_rate=0.01, optimizer=optimizer, **options)
    whole = gdfast.train(W0, X, Y, num_iterations=1000, **opts)
    first = gdfast.train(W0, X, Y, num_iterations=500, **opts)
    second = gdfast.train(first.W, X, Y, num_iterations=500, state=first.state, **opts)
    assert second.W.tobytes() == whole.W.tobytes()
    if whole.b is not None:
        assert second.b.tobytes() == whole.b.tobytes()
    assert second.state.opt_state.tobytes() == whole.state.opt_state.tobytes()
    # every field of the record but the per-call ones (where this call's histories began)
    for field in ("step", "current", "position", "epoch", "no_improvement", "best_step", "rng", "status",
                  "best_loss", "first_loss", "epoch_loss_sum", "epoch_samples", "last_loss", "last_grad_norm"):
        np.testing.assert_array_equal(second.state.record[field], whole.state.record[field], err_msg=field)
    np.testing.assert_array_equal(second.state.perm, whole.state.perm)
    assert np.concatenate([first.losses, second.losses]).tobytes() == whole.losses.tobytes()
    assert second.n_iter == 500 and whole.state.step == second.state.step == 1000


def test_uneven_chunks_equal_one_run(problems):
    """Chunks that end mid-epoch (12 samples, batch 5: epochs of 3 steps) continue exactly."""
    W0, X, Y = problems[np.dtype(np.float64)]
    opts = dict(learning_rate=0.01, optimizer="adam", batch_size=5, seed=9, fit_intercept=True)
    whole = gdfast.train(W0, X, Y, num_iterations=50, **opts)
    r = gdfast.train(W0, X, Y, num_iterations=7, **opts)
    for n in (1, 11, 0, 31):
        r = gdfast.train(r.W, X, Y, num_iterations=n, state=r.state, **opts)
    assert r.state.step == 50
    assert r.W.tobytes() == whole.W.tobytes() and r.b.tobytes() == whole.b.tobytes()
    # and the reference continues the same way
    s = reference.train(W0, X, Y, num_iterations=20, **opts)
    s = reference.train(s.W, X, Y, num_iterations=30, state=s.state, **opts)
    close(s.W, whole.W, np.float64)
    assert s.state.record["step"] == 50 and s.state.record["position"] == whole.state.record["position"]
    assert s.state.record["epoch"] == whole.state.record["epoch"]


@pytest.mark.parametrize("record_every", [1, 3])
def test_progress_bar_gives_the_same_result(problems, record_every):
    pytest.importorskip("tqdm", reason="progress=True needs tqdm")
    W0, X, Y = problems[np.dtype(np.float64)]
    opts = dict(learning_rate=0.01, num_iterations=1000, optimizer="adam", batch_size=5, seed=3, fit_intercept=True,
                record_every=record_every)
    quiet = gdfast.train(W0, X, Y, **opts)
    shown = gdfast.train(W0, X, Y, progress=True, **opts)
    assert quiet.W.tobytes() == shown.W.tobytes() and quiet.b.tobytes() == shown.b.tobytes()
    assert quiet.losses.tobytes() == shown.losses.tobytes()
    assert quiet.epoch_losses.tobytes() == shown.epoch_losses.tobytes()


def test_callers_W_is_untouched(problems):
    W0, X, Y = problems[np.dtype(np.float64)]
    keep = W0.copy()
    r = gdfast.train(W0, X, Y, num_iterations=10, optimizer="adam")
    np.testing.assert_array_equal(W0, keep)
    assert not np.shares_memory(r.W, W0)


# --- closed forms ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n_outputs", [1, 3])
def test_one_sample_residual_shrinks_geometrically(n_outputs):
    """Full-batch SGD on one sample: r_{t+1} = (1 - lr * 2/m * |x|^2) r_t, exactly in exact arithmetic."""
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal(4), rng.standard_normal(n_outputs)
    W0 = rng.standard_normal((n_outputs, 4))
    lr = 0.05
    q = 1 - lr * 2 / n_outputs * (x @ x)
    assert abs(q) < 1
    r = gdfast.train(W0, x, y, learning_rate=lr, num_iterations=40)
    r0 = W0 @ x - y
    np.testing.assert_allclose(r.W @ x - y, q**40 * r0, rtol=1e-10, atol=1e-14)
    t = np.arange(40)
    np.testing.assert_allclose(r.losses, np.mean(r0**2) * q ** (2 * t), rtol=1e-10)
    # the update moves W only along x: the part of W orthogonal to x never changes
    P = np.eye(4) - np.outer(x, x) / (x @ x)
    np.testing.assert_allclose(r.W @ P, W0 @ P, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), (gdfast.SGD(momentum=0.9), 0.02), ("adam", 0.05)])
def test_least_squares_converges_to_lstsq(optimizer, lr, fit_intercept):
    W0, X, Y = random_problem(np.random.default_rng(11), 50, 4, 2, noise=0.3)
    Y = Y + (1.5 if fit_intercept else 0.0)
    A = np.hstack([X, np.ones((50, 1))]) if fit_intercept else X
    sol = np.linalg.lstsq(A, Y, rcond=None)[0].T
    r = gdfast.train(W0, X, Y, learning_rate=lr, num_iterations=20000, grad_tol=1e-11, optimizer=optimizer,
                     fit_intercept=fit_intercept)
    W_ls = sol[:, :4]
    # |W - W*| <= |grad| / (2 * lambda_min(X^T X / n) / m): tiny at a gradient norm below 1e-9
    np.testing.assert_allclose(r.W, W_ls, rtol=0, atol=1e-8)
    if fit_intercept:
        np.testing.assert_allclose(r.b, sol[:, 4], rtol=0, atol=1e-8)
    assert r.converged


def test_float32_tracks_float64(problems):
    W64, X64, Y64 = problems[np.dtype(np.float64)]
    W32, X32, Y32 = problems[np.dtype(np.float32)]
    opts = dict(learning_rate=0.02, num_iterations=200, optimizer="adam", batch_size=4, seed=1, fit_intercept=True)
    a, b = gdfast.train(W32, X32, Y32, **opts), gdfast.train(W64, X64, Y64, **opts)
    assert a.W.dtype == np.float32 and a.b.dtype == np.float32
    # inputs differ by float32 rounding (6e-8 relative); 200 contracting steps keep that ~1e-5
    np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-4)


def test_concurrent_calls_from_python_threads_equal_sequential_ones(problems):
    """train releases the GIL for its loop: calls running at the same time in several Python threads
    share nothing and give the same bits as one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    W0, X, Y = problems[np.dtype(np.float64)]
    jobs = [dict(optimizer=o, learning_rate=0.01, num_iterations=3000, batch_size=b, seed=s, fit_intercept=True)
            for o, b, s in (("adam", 5, 1), ("sgd", 3, 2), ("rmsprop", 12, 3), ("adagrad", 1, 4))]
    sequential = [gdfast.train(W0, X, Y, **j) for j in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda j: gdfast.train(W0, X, Y, **j), jobs))
    for a, b in zip(sequential, concurrent):
        assert a.W.tobytes() == b.W.tobytes() and a.b.tobytes() == b.b.tobytes()
        assert a.losses.tobytes() == b.losses.tobytes()
