"""``accumulate=``: the default sums in double, bit for bit as before; ``"float32"`` sums the large
full batches of float32 data in float32 with BLAS (sgemv/sgemm on the arrays themselves).

Oracles, written here and not read from gdfast: a NumPy float32 loop (``R = X @ W.T - Y``,
``G = (2 R).T @ X`` in float32, the step ``W - lr * G / (n * m)`` in float64 as gdfast's optimizer
takes it) and the same two lines in torch float32. Both compute their products in float32 with
their own BLAS, so they agree with gdfast to float32 rounding, not to the bit.

Tolerance of those comparisons: TOL = 1e-5 x max|W|. Each entry of a float32 product of n terms
carries a rounding error up to about n x 6e-8 times the sum of its terms' magnitudes (typically
sqrt(n) x 6e-8 of it); two implementations that sum in different orders differ by about that
much per step, lr times it in W, and a contracting iteration does not amplify it. Measured on the
problems below (20,000 x 50 and 256 x 128 x 128, 10-50 steps): gdfast vs NumPy 0 (the same OpenBLAS
kernels) and vs torch under 4e-8 x max|W|, while the float32 results are 6e-8 to 3e-7 x max|W|
from exact arithmetic. 1e-5 leaves room for other BLAS builds and still rejects the same run with a
learning rate 1% off (1e-4 to 7e-3 x max|W| away; each oracle test checks that it does).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gdfast
from gdfast import _train, reference
from gdfast._engine import TrainOptions

TOL = 1e-5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The oracles' NumPy products on one BLAS thread, as gdfast's (deterministic sums)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def problem(n, d, m, seed=0, dtype=np.float32):
    """Least squares with noise: X (n, d) standard normal, Y = X @ A.T + 0.1 noise, W0 = 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = X @ (rng.standard_normal((m, d)) / np.sqrt(d)).T + 0.1 * rng.standard_normal((n, m))
    return np.zeros((m, d), dtype), X.astype(dtype), Y.astype(dtype)


def numpy_float32_sgd(W, X, Y, lr, k, b=None):
    """k full-batch SGD steps on the MSE (mean over samples and outputs), products in float32."""
    n, m = X.shape[0], W.shape[0]
    W = W.copy()
    for _ in range(k):
        R = X @ W.T - Y if b is None else (X @ W.T + b) - Y  # float32
        D = 2 * R  # (exact in float32)
        G = D.T @ X  # float32, NumPy's BLAS
        W = (W.astype(np.float64) - lr * (G.astype(np.float64) / (n * m))).astype(np.float32)
        if b is not None:
            b = (b.astype(np.float64) - lr * (D.astype(np.float64).sum(axis=0) / (n * m))).astype(np.float32)
    return W, b


def within_tol(a, oracle):
    return float(np.max(np.abs(a.astype(np.float64) - oracle))) <= TOL * float(np.max(np.abs(oracle)))


# (n_samples, n_features, n_outputs, learning rate, updates): the tall single-output batch (blocked
# loops in double by default), two outputs, and a batch-512-like multi-output one (dgemm by default).
ORACLE_CASES = [(20_000, 50, 1, 0.1, 10), (20_000, 50, 2, 0.1, 10), (256, 128, 128, 0.5, 30), (256, 128, 8, 0.5, 30)]


@pytest.mark.parametrize("n, d, m, lr, k", ORACLE_CASES)
def test_float32_matches_a_numpy_float32_loop(n, d, m, lr, k):
    W, X, Y = problem(n, d, m, seed=n + d + m)
    cfg = TrainOptions.from_kwargs(accumulate="float32").kernel_config(n)
    assert _train.run_sums_in_float32(cfg, n, d, m)
    r = gdfast.train(W, X, Y, learning_rate=lr, num_iterations=k, accumulate="float32")
    oracle, _ = numpy_float32_sgd(W, X, Y, lr, k)
    assert r.W.dtype == np.float32 and within_tol(r.W, oracle)
    # The tolerance can tell a different computation: the same run with lr 1% larger fails it.
    off = gdfast.train(W, X, Y, learning_rate=lr * 1.01, num_iterations=k, accumulate="float32")
    assert not within_tol(off.W, oracle)
    # The history: the loss before each update, from the float32 residuals, summed in double.
    R0 = X.astype(np.float64) @ W.T.astype(np.float64) - Y
    assert r.losses[0] == pytest.approx(np.mean(R0 ** 2), rel=1e-6)


def test_float32_with_a_bias_matches_the_numpy_loop():
    W, X, Y = problem(20_000, 50, 2, seed=3)
    b0 = np.array([0.5, -0.25], dtype=np.float32)
    r = gdfast.train(W, X, Y, b=b0, fit_intercept=True, learning_rate=0.1, num_iterations=10, accumulate="float32")
    W_o, b_o = numpy_float32_sgd(W, X, Y, 0.1, 10, b=b0)
    assert within_tol(r.W, W_o) and within_tol(r.b, b_o)


def test_float32_weighted_huber_matches_a_numpy_loop():
    """The general branch (weights, another loss): D = float32(w l'(R)), loss and weights in double."""
    n, d, m, lr, k, delta = 20_000, 30, 1, 0.2, 10, 0.5
    W, X, Y = problem(n, d, m, seed=5)
    w = np.random.default_rng(6).uniform(0.0, 2.0, n).astype(np.float32)
    r = gdfast.train(W, X, Y, sample_weight=w, loss="huber", huber_delta=delta, learning_rate=lr, num_iterations=k,
                     accumulate="float32")
    Wo = W.copy()
    for _ in range(k):
        R = (X @ Wo.T - Y).astype(np.float64)
        dl = np.where(np.abs(R) <= delta, R, delta * np.sign(R))
        D = (w[:, None].astype(np.float64) * dl).astype(np.float32)
        G = D.T @ X  # float32
        Wo = (Wo.astype(np.float64) - lr * G.astype(np.float64) / (m * w.astype(np.float64).sum())).astype(np.float32)
    assert within_tol(r.W, Wo)


def test_float32_log_loss_matches_a_numpy_loop():
    """A margin loss on the float32 path (labels -1/+1): l'(z) = -1 / (1 + exp(z)) of z = s P,
    D = float32(s l'(z)), written here from the logistic loss's definition."""
    n, d, m, lr, k = 20_000, 30, 2, 0.5, 10
    W, X, Y = problem(n, d, m, seed=8)
    labels = np.where(Y > 0, 1.0, -1.0).astype(np.float32)
    r = gdfast.train(W, X, labels, loss="log_loss", learning_rate=lr, num_iterations=k, accumulate="float32")
    Wo = W.copy()
    for _ in range(k):
        z = labels.astype(np.float64) * (X @ Wo.T).astype(np.float64)
        D = (labels * (-1.0 / (1.0 + np.exp(z)))).astype(np.float32)
        G = D.T @ X  # float32
        Wo = (Wo.astype(np.float64) - lr * G.astype(np.float64) / (n * m)).astype(np.float32)
    assert within_tol(r.W, Wo)
    assert r.loss == pytest.approx(np.mean(np.logaddexp(0.0, -labels * (X @ Wo.T).astype(np.float64))), rel=1e-5)


@pytest.mark.parametrize("n, d, m, lr, k", ORACLE_CASES[::2])
def test_float32_matches_torch_float32(n, d, m, lr, k):
    torch = pytest.importorskip("torch")
    W, X, Y = problem(n, d, m, seed=n + d + m)
    r = gdfast.train(W, X, Y, learning_rate=lr, num_iterations=k, accumulate="float32")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Wt, Xt, Yt = torch.from_numpy(W.copy()), torch.from_numpy(X), torch.from_numpy(Y)
        with torch.no_grad():
            for _ in range(k):
                Wt.sub_((Xt @ Wt.T - Yt).T @ Xt, alpha=lr * 2 / (n * m))  # float32 throughout
    finally:
        torch.set_num_threads(old)
    assert within_tol(r.W, Wt.numpy())


# --- the default is unchanged ----------------------------------------------------------------------

DEFAULT_CASES = [
    dict(shape=(256, 64, 64)),                    # dgemm on float64 copies (float32) / dgemm (float64)
    dict(shape=(20_000, 20, 1)),                  # blocked loops
    dict(shape=(64, 8, 2)),                       # below BLAS_MIN_WORK: the loops
    dict(shape=(256, 64, 64), batch_size=32),     # mini-batches
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DEFAULT_CASES, ids=lambda c: "x".join(map(str, c["shape"])) + (
    f"-batch{c['batch_size']}" if "batch_size" in c else ""))
def test_default_is_bit_identical_to_not_passing_the_option(case, dtype):
    W, X, Y = problem(*case["shape"], dtype=dtype)
    options = dict(learning_rate=0.05, num_iterations=20, seed=1, batch_size=case.get("batch_size"))
    plain = gdfast.train(W, X, Y, **options)
    assert gdfast.train(W, X, Y, accumulate="float64", **options) == plain
    assert gdfast.train(W, X, Y, accumulate="FLOAT64", **options) == plain  # names are case-insensitive
    assert reference.train(W, X, Y, accumulate="float64", **options).n_iter == plain.n_iter


def test_float32_leaves_mini_batches_and_small_problems_alone():
    """Only full batches from 2048 multiply-adds change: mini-batches (the tall blocked ones too) and
    smaller problems give the default's bits."""
    for shape, batch in (((256, 64, 64), 32), ((20_000, 20, 1), 10_000), ((64, 8, 2), None)):
        W, X, Y = problem(*shape)
        options = dict(learning_rate=0.05, num_iterations=6, seed=2, batch_size=batch)
        cfg = TrainOptions.from_kwargs(accumulate="float32", batch_size=batch).kernel_config(shape[0])
        assert not _train.run_sums_in_float32(cfg, *shape)
        assert gdfast.train(W, X, Y, accumulate="float32", **options) == gdfast.train(W, X, Y, **options)


# --- it really sums in float32 ---------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 8])
def test_float32_sums_lose_the_digits_that_double_sums_keep(m):
    """One update from W = 0 on data where the gradient's sums cancel: x = 100 + N(0, 1) and
    residuals +1 for the first half of the samples, -1 for the second, so each gradient entry is
    ~300 at the end of partial sums that reach ~2e6. Summed in double, W after the step is exact to
    its float32 rounding (relative error < 1e-6); summed in float32, the partial sums' rounding
    (ulp 0.25 at 2e6, over 20,000 additions) costs far more than 1e-5 of the result, but stays
    within the float32 bound n x 6e-8 x sum|terms| / |sum|."""
    n, d = 20_000, 16
    rng = np.random.default_rng(11)
    X = (100.0 + rng.standard_normal((n, d))).astype(np.float32)
    Y = np.where(np.arange(n) < n // 2, -1.0, 1.0)[:, None].repeat(m, axis=1).astype(np.float32)
    W0 = np.zeros((m, d), np.float32)
    D = 2.0 * -Y.astype(np.float64)  # the residuals at W = 0 are -Y, exactly
    exact = -1.0 * (D.T @ X.astype(np.float64)) / (n * m)  # W after one step with lr 1
    bound = n * 2.0 ** -24 * (np.abs(D).T @ np.abs(X.astype(np.float64))) / (n * m)

    default = gdfast.train(W0, X, Y, learning_rate=1.0, num_iterations=1).W
    f32 = gdfast.train(W0, X, Y, learning_rate=1.0, num_iterations=1, accumulate="float32").W
    assert np.max(np.abs(default - exact) / np.abs(exact)) < 1e-6
    assert np.max(np.abs(f32 - exact) / np.abs(exact)) > 1e-5
    assert np.all(np.abs(f32 - exact) <= bound + 1e-6 * np.abs(exact))
    assert not np.array_equal(f32, default)


def test_gdfast_blas_0_turns_float32_sums_off():
    """GDFAST_BLAS=0 (never call BLAS): accumulate="float32" then changes nothing (the loops, in double)."""
    code = textwrap.dedent("""
        import numpy as np, gdfast
        rng = np.random.default_rng(0)
        for n, d, m in ((20000, 20, 1), (256, 64, 64)):
            X = rng.standard_normal((n, d)).astype(np.float32); Y = rng.standard_normal((n, m)).astype(np.float32)
            W = np.zeros((m, d), np.float32)
            a = gdfast.train(W, X, Y, learning_rate=0.05, num_iterations=5, accumulate="float32", seed=0)
            b = gdfast.train(W, X, Y, learning_rate=0.05, num_iterations=5, seed=0)
            assert a == b, (n, d, m)
        print("ok")
    """)
    env = dict(os.environ, GDFAST_BLAS="0", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_which_runs_sum_in_float32():
    def sums(n, d, m, **options):
        cfg = TrainOptions.from_kwargs(**options).kernel_config(n)
        return _train.run_sums_in_float32(cfg, n, d, m)

    assert sums(75_000, 100, 1, accumulate="float32")        # tall, one output: instead of the blocks
    assert sums(256, 512, 512, accumulate="float32")         # instead of dgemm
    assert sums(256, 8, 1, accumulate="float32")             # exactly 2048 multiply-adds
    assert not sums(255, 8, 1, accumulate="float32")         # one row less: the loops
    assert not sums(256, 512, 512)                           # the default
    assert not sums(256, 512, 512, accumulate="float32", batch_size=128)
    assert sums(256, 512, 512, accumulate="float32", batch_size=256, shuffle=True)  # one batch: nothing to shuffle
    # the other helpers agree: BLAS yes, dgemm and blocks no
    cfg = TrainOptions.from_kwargs(accumulate="float32").kernel_config(75_000)
    assert _train.run_uses_blas(cfg, 75_000, 100, 1) and not _train.run_uses_dgemm(cfg, 75_000, 100, 1)
    assert not _train.run_uses_blocks(cfg, 75_000, 1)
    cfg = TrainOptions.from_kwargs().kernel_config(75_000)
    assert _train.run_uses_blocks(cfg, 75_000, 1) and not _train.run_uses_blas(cfg, 75_000, 100, 1)


# --- validation ------------------------------------------------------------------------------------


def test_unknown_values_are_refused_naming_accumulate():
    W, X, Y = problem(8, 3, 1)
    with pytest.raises(ValueError, match="accumulate 'float16'.*'float64'.*'float32'"):
        gdfast.train(W, X, Y, accumulate="float16")
    with pytest.raises(TypeError, match="accumulate must be"):
        gdfast.train(W, X, Y, accumulate=np.float32)
    with pytest.raises(ValueError, match="accumulate"):
        gdfast.grid(accumulate=["float32", "double"])
    with pytest.raises(ValueError, match="accumulate"):
        reference.train(W, X, Y, accumulate="half")


def test_float32_sums_need_float32_data():
    W, X, Y = problem(8, 3, 1, dtype=np.float64)
    with pytest.raises(ValueError, match="accumulate='float32' needs float32 W, X and Y; got float64"):
        gdfast.train(W, X, Y, accumulate="float32")
    with pytest.raises(ValueError, match="needs float32"):  # one float64 array promotes the call
        gdfast.train(W.astype(np.float32), X, Y.astype(np.float32), accumulate="float32")
    with pytest.raises(ValueError, match="needs float32"):
        gdfast.sweep(W, X, Y, learning_rates=[0.1], accumulate="float32")
    with pytest.raises(ValueError, match="needs float32"):
        gdfast.sweep(W, X, Y, configs=[{"accumulate": "float64"}, {"accumulate": "float32"}])
    with pytest.raises(ValueError, match="needs float32"):
        reference.train(W, X, Y, accumulate="float32")
    # integer data converts to float64: refused too, not silently summed in double
    with pytest.raises(ValueError, match="needs float32"):
        gdfast.train(np.zeros((1, 3), np.int64), np.ones((8, 3), np.int64), np.ones((8, 1), np.int64),
                     accumulate="float32")


# --- sweeps, continuation, the estimator ----------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2])
def test_sweep_equals_separate_train_calls_bit_for_bit(n_threads):
    W, X, Y = problem(256, 64, 64, seed=4)
    Wt, Xt, Yt = problem(20_000, 20, 1, seed=5)
    for (W_, X_, Y_) in ((W, X, Y), (Wt, Xt, Yt)):
        lrs = [0.01, 0.05, 0.1]
        res = gdfast.sweep(W_, X_, Y_, learning_rates=lrs, num_iterations=8, accumulate="float32",
                           n_threads=n_threads, seeds=[3])
        for lr, r in zip(lrs, res.results):
            assert r == gdfast.train(W_, X_, Y_, learning_rate=lr, num_iterations=8, accumulate="float32", seed=3)
    # per-run overrides: each run as its own train call
    res = gdfast.sweep(W, X, Y, configs=gdfast.grid(accumulate=["float64", "float32"], optimizer=["sgd", "adam"]),
                       learning_rate=0.01, num_iterations=5, seed=0, n_threads=n_threads)
    for cfg, r in zip(res.configs, res.results):
        assert r == gdfast.train(W, X, Y, learning_rate=0.01, num_iterations=5, seed=0, **cfg)
    assert not np.array_equal(res.results[0].W, res.results[2].W)  # float64 vs float32 sums differ


def test_a_run_continued_in_pieces_gives_the_same_bits():
    W, X, Y = problem(20_000, 20, 1, seed=8)
    options = dict(learning_rate=0.05, optimizer="adam", accumulate="float32")
    whole = gdfast.train(W, X, Y, num_iterations=10, **options)
    first = gdfast.train(W, X, Y, num_iterations=4, **options)
    rest = gdfast.train(first.W, X, Y, num_iterations=6, state=first.state, **options)
    assert np.array_equal(rest.W, whole.W) and rest.loss == whole.loss
    # a full batch's final loss is the loss its next update records (the same float32 sums)
    assert rest.losses[0] == first.loss


def test_a_continued_run_may_change_accumulate():
    """accumulate is not part of the state: a run started with double sums continues in float32."""
    W, X, Y = problem(256, 64, 64, seed=9)
    first = gdfast.train(W, X, Y, learning_rate=0.05, num_iterations=3)
    more = gdfast.train(first.W, X, Y, learning_rate=0.05, num_iterations=3, state=first.state, accumulate="float32")
    fresh = gdfast.train(first.W, X, Y, learning_rate=0.05, num_iterations=3, accumulate="float32")
    assert more.state.step == 6 and np.array_equal(more.W, fresh.W)  # (plain SGD carries no buffers)


def test_gdregressor_takes_accumulate():
    pytest.importorskip("sklearn")
    from gdfast import GDRegressor

    W, X, Y = problem(4096, 16, 1, seed=10)
    full = dict(batch_size=None, schedule=None)  # accumulate="float32" sums full batches
    fast = GDRegressor(**full, learning_rate=0.1, max_iter=50, tol=None, accumulate="float32").fit(X, Y[:, 0])
    default = GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=50, tol=None).fit(X, Y[:, 0])
    assert fast.coef_.dtype == np.float32
    assert np.allclose(fast.coef_, default.coef_, rtol=1e-4, atol=1e-5)
    assert fast.get_params()["accumulate"] == "float32"
    with pytest.raises(ValueError, match="needs float32"):
        GDRegressor(accumulate="float32").fit(X.astype(np.float64), Y[:, 0])
    with pytest.raises(ValueError, match="accumulate"):
        GDRegressor(accumulate="fp32").fit(X, Y[:, 0])
