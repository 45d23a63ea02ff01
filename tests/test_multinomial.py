"""loss="multinomial" (alias "cross_entropy"): the softmax cross-entropy of K >= 2 logits, against
oracles that share no code with gdfast:

(a) the loss value against ``scipy.special.logsumexp`` written here, and the gradient against torch's
    autograd of ``torch.nn.functional.cross_entropy``, on every path of the kernel (loops, dgemm,
    mini-batch, blocked sums, float32 sums), weighted and not, hard and soft labels;
(b) the gradient against central finite differences (tests/finite_differences.py) of (a)'s formula;
(c) whole trajectories against torch.optim SGD, Adam and RMSprop with ``torch.nn.CrossEntropyLoss``
    (float64, full batch and in-order mini-batches), rtol 1e-10 of max |W| (as tests/test_torch_oracle.py:
    the two sum a step's terms in different orders, a few ulps per step that the iterations carry);
    a learning rate 1% off must fail that tolerance;
(d) scikit-learn's LogisticRegression (lbfgs, multinomial) optimum, reached by a long full-batch run;
(e) the routing: never the lockstep lanes or the plain-MSE loops (a sweep equals its runs one by one,
    the lockstep planner leaves every multinomial run alone), the same bits for every thread count,
    state continuation, restore_best, divergence; and the validation of Y.

The mean is over samples (weighted), not over samples x classes: torch's CrossEntropyLoss(reduction="mean").
"""
import numpy as np
import pytest
from scipy.special import logsumexp

# torch and scikit-learn are the independent oracles of this file (the test extras do not install
# them: without them, as in the wheel round-trip's venv, the file is skipped)
torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402

import gdfast  # noqa: E402
from gdfast import _engine, _train, reference  # noqa: E402
from gdfast._engine import TrainOptions  # noqa: E402
from finite_differences import central_differences  # noqa: E402

# rtol of the loss value against the logsumexp formula, and of the one-step gradient against torch's
# autograd: both sum a few hundred double terms in different orders (relative error ~1e-15 each).
RTOL = 1e-12
# Trajectories (c): relative to max |W|, as tests/test_torch_oracle.py.
RTOL_TORCH = 1e-10


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic reductions
    yield
    torch.set_num_threads(old)


def problem(rng, n, d, K, soft=False, dtype=np.float64):
    """(W, b, X, labels, Y): logits spread over a few units; Y one-hot rows of the labels, or soft
    probability rows (a Dirichlet draw) when ``soft``."""
    W = rng.standard_normal((K, d)) / np.sqrt(d)
    b = 0.3 * rng.standard_normal(K)
    X = rng.standard_normal((n, d))
    labels = rng.integers(0, K, n)
    Y = rng.dirichlet(np.ones(K), n) if soft else np.eye(K)[labels]
    return tuple(a.astype(dtype) for a in (W, b, X)) + (labels, Y.astype(dtype))


def formula_loss(W, b, X, Y, w):
    """The weighted mean over rows of -sum(Y * log_softmax(P)), P = X W^T + b, by scipy's logsumexp."""
    P = X @ W.T + b
    per_row = logsumexp(P, axis=1) * Y.sum(axis=1) - (Y * P).sum(axis=1)
    return float((w * per_row).sum() / w.sum())


def torch_value_and_gradient(W, b, X, Y, w):
    """(loss, dW, db) by torch's autograd of cross_entropy with probability targets, weighted mean."""
    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    per_row = torch.nn.functional.cross_entropy(torch.tensor(X) @ Wt.T + bt, torch.tensor(Y), reduction="none")
    wt = torch.tensor(w)
    loss = (wt * per_row).sum() / wt.sum()
    loss.backward()
    return loss.item(), Wt.grad.numpy(), bt.grad.numpy()


def kernel_step(W, b, X, Y, w=None, **options):
    """(loss at W0, gradient of W, gradient of b, result) of one plain SGD step with lr 1."""
    res = gdfast.train(W, X, Y, b=b, fit_intercept=True, learning_rate=1.0, num_iterations=1, optimizer="sgd",
                       loss="multinomial", sample_weight=w, **options)
    return res.losses[0], W - res.W, b - res.b, res


# (n, d, K, batch_size, options, which path): the loops (small full batch), dgemm (a full batch of
# >= 2048 multiply-adds, K > 4), a mini-batch (the first rows, in order), the blocked sums (>= 8192
# rows, K <= 4), and float32 sums (accumulate="float32", float32 data, a large full batch).
PATHS = {
    "loops": (9, 4, 3, None, {}),
    "dgemm": (200, 4, 5, None, {}),
    "minibatch": (30, 5, 3, 7, {}),
    "blocked": (8200, 3, 3, None, {}),
}


def path_taken(name, n, d, K, options):
    cfg = TrainOptions.from_kwargs(loss="multinomial", **options).kernel_config(n)
    return {"loops": not _train.run_uses_blas(cfg, n, d, K) and not _train.run_uses_blocks(cfg, n, K),
            "dgemm": _train.run_uses_dgemm(cfg, n, d, K),
            "minibatch": not _train.run_uses_blocks(cfg, n, K),
            "blocked": _train.run_uses_blocks(cfg, n, K)}[name]


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("path", list(PATHS))
def test_value_and_gradient_equal_logsumexp_and_torch(path, weighted, soft):
    n, d, K, batch, extra = PATHS[path]
    rng = np.random.default_rng([n, d, K, weighted, soft])
    W, b, X, labels, Y = problem(rng, n, d, K, soft)
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    options = dict(batch_size=batch, shuffle=False, **extra)
    assert path_taken(path, n, d, K, options)  # the path this case is about is the one taken
    value, g_W, g_b, res = kernel_step(W, b, X, Y, w, **options)
    rows = slice(0, batch or n)
    ww = (np.ones(n) if w is None else w)[rows]
    assert value == pytest.approx(formula_loss(W, b, X[rows], Y[rows], ww), rel=RTOL)
    t_value, t_W, t_b = torch_value_and_gradient(W, b, X[rows], Y[rows], ww)
    assert value == pytest.approx(t_value, rel=RTOL)
    scale = np.abs(t_W).max()
    np.testing.assert_allclose(g_W, t_W, rtol=RTOL, atol=1e-14 * scale)
    np.testing.assert_allclose(g_b, t_b, rtol=RTOL, atol=1e-14 * scale)
    # the final loss (dataset_losses: all samples at W1, b1)
    final = formula_loss(res.W, res.b, X, Y, np.ones(n) if w is None else w)
    assert res.loss == pytest.approx(final, rel=RTOL)


def test_a_loss_divided_by_k_would_fail():
    """The mean is over rows: the same step divided by K (the element-wise losses' mean) is far off."""
    rng = np.random.default_rng(3)
    W, b, X, labels, Y = problem(rng, 9, 4, 3)
    value = kernel_step(W, b, X, Y)[0]
    assert value != pytest.approx(formula_loss(W, b, X, Y, np.ones(9)) / 3, rel=1e-3)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_sums_value_and_gradient(weighted):
    """accumulate="float32": BLAS's float32 products; the loss terms in double from float32 logits.
    Tolerances: the logits and gradient products carry float32 rounding (~d * 1.2e-7 relative per
    entry, summed over 3000 rows: ~1e-5 relative to the largest entry)."""
    n, d, K = 3000, 8, 4
    rng = np.random.default_rng([7, weighted])
    W, b, X, labels, Y = problem(rng, n, d, K, dtype=np.float32)
    w = rng.uniform(0.2, 2.0, n).astype(np.float32) if weighted else None
    cfg = TrainOptions.from_kwargs(loss="multinomial", accumulate="float32").kernel_config(n)
    assert _train.run_sums_in_float32(cfg, n, d, K)
    value, g_W, g_b, res = kernel_step(W, b, X, Y, w, accumulate="float32")
    assert res.W.dtype == np.float32
    f64 = [a.astype(np.float64) for a in (W, b, X, Y)]
    ww = np.ones(n) if w is None else w.astype(np.float64)
    t_value, t_W, t_b = torch_value_and_gradient(*f64, ww)
    assert value == pytest.approx(t_value, rel=1e-6)
    scale = np.abs(t_W).max()
    np.testing.assert_allclose(g_W, t_W, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(g_b, t_b, rtol=1e-4, atol=1e-5 * scale)
    assert res.loss == pytest.approx(formula_loss(res.W.astype(np.float64), res.b.astype(np.float64), f64[2],
                                                  f64[3], ww), rel=1e-5)


def test_float32_loops_value_and_gradient():
    """float32 data on the double-sum loops: the same arithmetic in double from float32 inputs, so the
    float64 oracle on the float32 values agrees to double precision (the update is then rounded to
    float32: W1 checked to float32's half-ulp of the step)."""
    rng = np.random.default_rng(32)
    W, b, X, labels, Y = problem(rng, 12, 4, 3, dtype=np.float32)
    value, g_W, g_b, res = kernel_step(W, b, X, Y)
    assert res.W.dtype == np.float32
    f64 = [a.astype(np.float64) for a in (W, b, X, Y)]
    t_value, t_W, t_b = torch_value_and_gradient(*f64, np.ones(12))
    assert value == pytest.approx(t_value, rel=RTOL)
    np.testing.assert_allclose(res.W, (f64[0] - t_W).astype(np.float32), rtol=2e-7, atol=1e-7)


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_equals_central_differences(soft):
    """Central differences of the logsumexp formula (h = 1e-6: truncation ~h**2 * f''' ~ 1e-12,
    rounding ~1e-16 / h ~ 1e-10), so 1e-7 absolute on O(1) gradients."""
    rng = np.random.default_rng([11, soft])
    n, d, K = 13, 3, 4
    W, b, X, labels, Y = problem(rng, n, d, K, soft)
    w = rng.uniform(0.2, 2.0, n)
    _, g_W, g_b, _ = kernel_step(W, b, X, Y, w)
    fd_W = central_differences(lambda V: formula_loss(V, b, X, Y, w), W)
    fd_b = central_differences(lambda c: formula_loss(W, c, X, Y, w), b)
    np.testing.assert_allclose(g_W, fd_W, atol=1e-7)
    np.testing.assert_allclose(g_b, fd_b, atol=1e-7)


def test_large_logits_are_stable():
    """Logits of +-1000 (exp would overflow without the row maximum subtracted): finite, equal to
    the logsumexp formula, and the gradient equal to torch's."""
    rng = np.random.default_rng(5)
    W, b, X, labels, Y = problem(rng, 10, 3, 3)
    W = W * 1000.0
    value, g_W, g_b, _ = kernel_step(W, b, X, Y)
    assert np.isfinite(value)
    assert value == pytest.approx(formula_loss(W, b, X, Y, np.ones(10)), rel=RTOL)
    t_value, t_W, t_b = torch_value_and_gradient(W, b, X, Y, np.ones(10))
    # exp(z - m) for |z - m| ~ 1e3 carries a relative error ~1e3 * 2.2e-16 in either program: 1e-12 of
    # the largest gradient entry
    np.testing.assert_allclose(g_W, t_W, rtol=1e-12, atol=1e-12 * np.abs(t_W).max())


# --- (c) trajectories against torch.optim ---------------------------------------------------------

def run_torch(W0, X, labels, *, optimizer, lr, n_steps, batch_size=None):
    """torch.nn.Linear + CrossEntropyLoss (class indices, mean over the batch) under torch.optim,
    the batches in order (rows 0.., wrapping at the end of the data: gdfast's shuffle=False)."""
    K, d = W0.shape
    model = torch.nn.Linear(d, K, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W0))
        model.bias.zero_()
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr, foreach=False),
           "adam": lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=False),
           "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-8, foreach=False)}[optimizer](
        model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(labels)
    n, pos, losses = X.shape[0], 0, []
    for _ in range(n_steps):
        rows = np.arange(n) if batch_size is None else np.arange(pos, min(pos + batch_size, n))
        pos = (pos + len(rows)) % n
        opt.zero_grad()
        loss = loss_fn(model(Xt[rows]), yt[rows])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy(), np.array(losses)


@pytest.mark.parametrize("batch_size", [None, 16])
@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("adam", 0.05), ("rmsprop", 0.01)])
def test_trajectory_matches_torch(optimizer, lr, batch_size):
    rng = np.random.default_rng([len(optimizer), batch_size or 0])
    W0, _, X, labels, _ = problem(rng, 48, 5, 4)
    n_steps = 60
    tW, tb, t_losses = run_torch(W0, X, labels, optimizer=optimizer, lr=lr, n_steps=n_steps, batch_size=batch_size)
    res = gdfast.train(W0, X, labels, loss="multinomial", optimizer=optimizer, learning_rate=lr,
                       num_iterations=n_steps, fit_intercept=True, batch_size=batch_size, shuffle=False)
    scale = np.abs(tW).max()
    np.testing.assert_allclose(res.W, tW, rtol=0, atol=RTOL_TORCH * scale)
    np.testing.assert_allclose(res.b, tb, rtol=0, atol=RTOL_TORCH * scale)
    np.testing.assert_allclose(res.losses, t_losses, rtol=RTOL_TORCH)
    # the tolerance is tight enough to see a learning rate 1% off
    off = gdfast.train(W0, X, labels, loss="multinomial", optimizer=optimizer, learning_rate=lr * 1.01,
                       num_iterations=n_steps, fit_intercept=True, batch_size=batch_size, shuffle=False)
    assert np.abs(off.W - tW).max() > 100 * RTOL_TORCH * scale


def test_cross_entropy_is_an_alias_and_label_shapes_agree():
    rng = np.random.default_rng(2)
    W0, _, X, labels, Y = problem(rng, 30, 4, 3)
    kw = dict(learning_rate=0.3, num_iterations=5, fit_intercept=True, shuffle=False, seed=0)
    one_hot = gdfast.train(W0, X, Y, loss="multinomial", **kw)
    for targets, loss in [(labels, "cross_entropy"), (labels.reshape(-1, 1), "multinomial"),
                          (labels.astype(np.float64), "Multinomial"), (Y.astype(np.int64), "multinomial")]:
        assert gdfast.train(W0, X, targets, loss=loss, **kw) == one_hot


# --- (d) scikit-learn's optimum -------------------------------------------------------------------

def sklearn_problem():
    """A non-separable 3-class problem (labels from noisy logits), so the unpenalised optimum is finite."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((300, 4))
    logits = X @ rng.standard_normal((3, 4)).T + 2.0 * rng.standard_normal((300, 3))
    return X, np.argmax(logits, axis=1)


def centred(W, b):
    """The logits' parameters less their class mean: softmax is unchanged by adding one vector to every
    class's row, so optima are compared in this one representative."""
    return W - W.mean(axis=0), b - b.mean()


@pytest.mark.parametrize("C", [np.inf, 0.05])
def test_long_full_batch_run_reaches_scikit_learns_optimum(C):
    """scikit-learn minimises C * sum_i loss_i + 0.5 * ||W||^2 (C = inf: no penalty; the bias never
    penalised); gdfast the mean loss + 0.5 * alpha * ||W||^2, so alpha = 1 / (C * n_samples) with
    penalty="l2" (plain SGD). Started at 0, both keep the class sums of W and b at 0 (every gradient's
    class sum is 0); compared in ``centred`` form anyway, and by the probabilities. 1e-6: both solvers
    run far past it (scikit-learn's tol 1e-12; gdfast's gradient norm ends < 1e-9)."""
    X, y = sklearn_problem()
    n = X.shape[0]
    clf = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
    options = {} if np.isinf(C) else dict(penalty="l2", alpha=1.0 / (C * n))
    res = gdfast.train(np.zeros((3, 4)), X, y, loss="multinomial", learning_rate=1.0, num_iterations=8000,
                       fit_intercept=True, shuffle=False, grad_tol=1e-10, **options)
    W, b = centred(res.W, res.b)
    sW, sb = centred(clf.coef_, clf.intercept_)
    np.testing.assert_allclose(W, sW, atol=1e-6)
    np.testing.assert_allclose(b, sb, atol=1e-6)
    P = np.exp(X @ res.W.T + res.b)
    np.testing.assert_allclose(P / P.sum(axis=1, keepdims=True), clf.predict_proba(X), atol=1e-6)
    if not np.isinf(C):  # the penalty matters: the unpenalised optimum is elsewhere
        free = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, y)
        assert np.abs(centred(free.coef_, free.intercept_)[0] - W).max() > 1e-3


# --- (e) routing, threads, state, validation -------------------------------------------------------

@pytest.mark.parametrize("batch_size", [None, 8])
def test_sweep_equals_its_runs_and_is_never_in_lockstep(task_sizes, batch_size):
    """Plain-SGD runs that the lockstep lanes (MSE only) would take if the loss were the MSE: the
    planner leaves every multinomial run alone, and the sweep equals train run by run, bit for bit."""
    rng = np.random.default_rng(8)
    W0, _, X, labels, Y = problem(rng, 40, 4, 3)
    lrs = [0.1, 0.2, 0.3, 0.4]
    kw = dict(num_iterations=25, fit_intercept=True, batch_size=batch_size, shuffle=False, seed=0)
    gdfast.sweep(W0, X, Y, learning_rates=lrs, loss="mse", **kw)
    assert task_sizes and all(task_sizes)  # the control: the MSE runs did go in lockstep
    task_sizes.clear()
    swept = gdfast.sweep(W0, X, labels, learning_rates=lrs, loss="multinomial", **kw)
    assert task_sizes and not any(task_sizes)
    for lr, got in zip(lrs, swept.results):
        alone = gdfast.train(W0, X, labels, learning_rate=lr, loss="multinomial", **kw)
        assert got == alone


def test_the_same_bits_for_every_thread_count():
    """The blocked path (8200 rows, 3 classes) splits a step's blocks over threads: same bits."""
    rng = np.random.default_rng(9)
    W0, _, X, labels, _ = problem(rng, 8200, 3, 3)
    kw = dict(loss="multinomial", learning_rate=0.5, num_iterations=3, fit_intercept=True, shuffle=False, seed=0)
    one = gdfast.train(W0, X, labels, n_threads=1, **kw)
    two = gdfast.train(W0, X, labels, n_threads=2, **kw)
    assert one == two
    sw1 = gdfast.sweep(W0, X[:200], labels[:200], learning_rates=[0.1, 0.2, 0.3], n_threads=1,
                       **{**kw, "num_iterations": 10})
    sw2 = gdfast.sweep(W0, X[:200], labels[:200], learning_rates=[0.1, 0.2, 0.3], n_threads=2,
                       **{**kw, "num_iterations": 10})
    for a, b in zip(sw1.results, sw2.results):
        assert a == b


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_continuation_equals_one_run(optimizer):
    rng = np.random.default_rng(10)
    W0, _, X, labels, _ = problem(rng, 30, 4, 3)
    kw = dict(loss="multinomial", optimizer=optimizer, learning_rate=0.1, fit_intercept=True, batch_size=7,
              shuffle=True, seed=1)
    whole = gdfast.train(W0, X, labels, num_iterations=20, **kw)
    first = gdfast.train(W0, X, labels, num_iterations=9, **kw)
    rest = gdfast.train(first.W, X, labels, b=first.b, state=first.state, num_iterations=11, **kw)
    np.testing.assert_array_equal(rest.W, whole.W)
    np.testing.assert_array_equal(rest.b, whole.b)


def test_reference_twin_agrees():
    """The NumPy twin (same formula, NumPy's sums): close, not bit-equal (1e-12 relative to max |W|)."""
    rng = np.random.default_rng(12)
    W0, _, X, labels, _ = problem(rng, 30, 4, 3)
    w = rng.uniform(0.5, 1.5, 30)
    kw = dict(loss="cross_entropy", optimizer="adam", learning_rate=0.05, num_iterations=30, fit_intercept=True,
              batch_size=8, shuffle=True, seed=3, sample_weight=w)
    a, b = gdfast.train(W0, X, labels, **kw), reference.train(W0, X, labels, **kw)
    np.testing.assert_allclose(a.W, b.W, rtol=0, atol=1e-12 * np.abs(b.W).max())
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12)


def test_restore_best_and_divergence():
    rng = np.random.default_rng(13)
    W0, _, X, labels, _ = problem(rng, 40, 4, 3)
    kw = dict(loss="multinomial", fit_intercept=True, shuffle=False, batch_size=10)
    best = gdfast.train(W0, X, labels, learning_rate=3.0, num_epochs=30, restore_best=True, **kw)
    # the returned weights are those of the best epoch: their loss on all samples is the lowest seen
    assert best.loss <= best.epoch_losses.min() * (1 + 1e-12) or best.best_step < best.state.step
    # a step to logits of ~1e308: the loss overflows (not finite), the run stops at the last finite iterate
    with pytest.warns(RuntimeWarning):
        blown = gdfast.train(W0, X, labels, learning_rate=1e308, num_iterations=50, **kw)
    assert blown.diverged and np.isfinite(blown.W).all() and np.isfinite(blown.loss)


def test_user_arrays_are_not_modified():
    rng = np.random.default_rng(14)
    W0, _, X, labels, Y = problem(rng, 20, 3, 3)
    copies = [a.copy() for a in (W0, X, labels, Y)]
    gdfast.train(W0, X, labels, loss="multinomial", num_iterations=3)
    gdfast.train(W0, X, Y, loss="multinomial", num_iterations=3)
    for a, c in zip((W0, X, labels, Y), copies):
        np.testing.assert_array_equal(a, c)


def test_float32_labels_keep_float32():
    rng = np.random.default_rng(15)
    W0, _, X, labels, _ = problem(rng, 20, 3, 3, dtype=np.float32)
    res = gdfast.train(W0, X, labels, loss="multinomial", num_iterations=3)
    assert res.W.dtype == np.float32


@pytest.mark.parametrize("fn", [gdfast.train, reference.train, lambda W, X, Y, **kw: gdfast.sweep(
    W, X, Y, learning_rates=[0.1], **kw)])
@pytest.mark.parametrize("W_shape,Y,pattern", [
    ((3, 2), [0, 1, 3, 0], r"^Y's class indices must be in 0\.\.2 \(n_classes = W\.shape\[0\] = 3\)"),
    ((3, 2), [0, 1, -1, 0], r"^Y's class indices must be in 0\.\.2"),
    ((3, 2), [0, 1.5, 2, 0], r"^Y must hold integer class indices 0\.\.2 for loss='multinomial'"),
    ((3, 2), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.6, 0]], r"^Y's rows must sum to 1 .*row 3 sums to 1\.1"),
    ((3, 2), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1.5, -0.5, 0]], r"^Y's probability rows must be >= 0"),
    ((1, 2), [0, 0, 0, 0], r"^loss='multinomial' needs W of shape \(n_classes, n_features\) with n_classes >= 2"),
    ((2,), [0, 1, 0, 1], r"^loss='multinomial' needs W of shape"),
])
def test_bad_targets_are_refused_naming_y(fn, W_shape, Y, pattern):
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=pattern):
        fn(np.zeros(W_shape), X, np.array(Y), loss="multinomial", num_iterations=1)


def test_gd_regressor_refuses_multinomial():
    with pytest.raises(ValueError, match=r"^loss='multinomial' is a classification loss"):
        gdfast.GDRegressor(loss="multinomial").fit(np.ones((4, 2)), np.ones(4))
