"""Blocked batches: batches of >= 2 * BLOCK_ROWS rows (and <= 4 outputs) are summed in fixed blocks
of BLOCK_ROWS consecutive batch rows, the blocks added in block order (src/_linear.pxd,
``block_partial_into`` and ``blocks_reduce``), so ``train(..., n_threads=)`` gives the same bits for
every thread count.

The oracle (``hand_step``) is an independent re-statement of that order in plain Python floats:
per block, row by row, the four-partial-sum dot product, the residual, the loss term and
derivative, and the gradient accumulated with explicit ``+=`` in row order; then the blocks added
in block order and scaled once. One step of plain SGD (p - lr * g) must match it to the bit.
"""
import numpy as np
import pytest

import gdfast
from gdfast import _train, reference
from gdfast._engine import TrainOptions

BLOCK = _train.block_rows()
N_SAMPLES = 2 * BLOCK + 777  # three blocks, the last one short


def problem(dtype, n_features=5, n_outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, n_features)).astype(dtype)
    W_true = rng.standard_normal((n_outputs, n_features))
    Y = (X @ W_true.T + 0.3 + 0.5 * rng.standard_normal((N_SAMPLES, n_outputs))).astype(dtype)
    W = (0.1 * rng.standard_normal((n_outputs, n_features))).astype(dtype)
    sw = rng.uniform(0.0, 2.0, N_SAMPLES).astype(dtype)
    return W, X, Y, sw


def test_block_rows_is_the_documented_constant():
    assert BLOCK == 4096
    def config(batch_size):
        return TrainOptions.from_kwargs(batch_size=batch_size).kernel_config(N_SAMPLES)

    assert _train.run_uses_blocks(config(2 * BLOCK), N_SAMPLES, 4)
    assert _train.run_uses_blocks(config(None), N_SAMPLES, 1)
    assert not _train.run_uses_blocks(config(2 * BLOCK - 1), N_SAMPLES, 4)
    assert not _train.run_uses_blocks(config(None), N_SAMPLES, 5)  # many outputs: dgemm or the loops
    # a blocked full batch never calls dgemm
    assert not _train.run_uses_blas(config(None), N_SAMPLES, 100, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("loss", ["mse", "huber"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batch_size", [None, 2 * BLOCK])
def test_bit_identical_for_any_thread_count(dtype, fit_intercept, loss, weighted, batch_size):
    W, X, Y, sw = problem(dtype)
    kw = dict(learning_rate=0.05, fit_intercept=fit_intercept, loss=loss, batch_size=batch_size, seed=7,
              sample_weight=sw if weighted else None)
    if batch_size is None:
        kw["num_iterations"] = 25
    else:
        kw["num_epochs"] = 4  # batches of 8192 (blocked) and 777 (not), reshuffled each epoch
    first = gdfast.train(W, X, Y, n_threads=1, **kw)
    assert first.n_iter > 0 and np.isfinite(first.loss)
    assert first.losses[-1] < first.losses[0]
    for n_threads in (2, 3, 4):
        again = gdfast.train(W, X, Y, n_threads=n_threads, **kw)
        assert again == first, f"n_threads={n_threads} changed the result"
        np.testing.assert_array_equal(again.W, first.W)
        np.testing.assert_array_equal(again.losses, first.losses)
        np.testing.assert_array_equal(again.epoch_losses, first.epoch_losses)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_continued_in_pieces_with_other_thread_counts_equals_one_call(fit_intercept):
    W, X, Y, _ = problem(np.float64)
    kw = dict(learning_rate=0.05, fit_intercept=fit_intercept)
    whole = gdfast.train(W, X, Y, num_iterations=12, n_threads=3, **kw)
    part = gdfast.train(W, X, Y, num_iterations=5, n_threads=1, **kw)
    rest = gdfast.train(part.W, X, Y, num_iterations=7, n_threads=2, state=part.state, b=part.b, **kw)
    np.testing.assert_array_equal(rest.W, whole.W)
    assert rest.loss == whole.loss


# --- The oracle: one step by hand, in the blocked order ------------------------------------------

def hand_dot(a, b):
    """src/_linear.pxd's ``dot``: four partial sums from 0.0, the tail into the first, ((s0 + s1) + (s2 + s3))."""
    s = [0.0, 0.0, 0.0, 0.0]
    n = len(a)
    k = 0
    while k + 4 <= n:
        for m in range(4):
            s[m] += float(a[k + m]) * float(b[k + m])
        k += 4
    while k < n:
        s[0] += float(a[k]) * float(b[k])
        k += 1
    return (s[0] + s[1]) + (s[2] + s[3])


def hand_loss(kind, r, delta):
    """(l(r), l'(r)) as torch's MSELoss / HuberLoss terms."""
    if kind == "mse":
        return r * r, 2.0 * r
    a = abs(r)
    value = 0.5 * r * r if a <= delta else delta * (a - 0.5 * delta)
    derivative = delta if r > delta else (-delta if r < -delta else r)
    return value, derivative


def hand_step(W, b, X, Y, sw, kind, delta=1.0):
    """(loss, grad_W, grad_b) of one full batch, block by block in plain Python floats."""
    n_rows, n_features = X.shape
    n_outputs = W.shape[0]
    W = [[float(v) for v in row] for row in W]
    blocks = []
    for start in range(0, n_rows, BLOCK):
        gW = [[0.0] * n_features for _ in range(n_outputs)]
        gb = [0.0] * n_outputs
        loss_sum = weight_sum = 0.0
        for i in range(start, min(n_rows, start + BLOCK)):  # the rows of the block, in order
            x = [float(v) for v in X[i]]
            weight = float(sw[i]) if sw is not None else 1.0
            weight_sum += weight
            for j in range(n_outputs):
                prediction = hand_dot(W[j], x)
                if b is not None:
                    prediction += float(b[j])
                r = prediction - float(Y[i, j])
                value, derivative = hand_loss(kind, r, delta)
                loss_sum += weight * value
                c = weight * derivative
                if c != 0.0:
                    for k in range(n_features):
                        gW[j][k] += c * x[k]
                    gb[j] += c
        blocks.append((gW, gb, loss_sum, weight_sum))
    gW, gb, loss_sum, weight_sum = blocks[0]
    gW = [row[:] for row in gW]
    gb = gb[:]
    for bW, bb, bl, bs in blocks[1:]:  # the blocks in block order
        for j in range(n_outputs):
            for k in range(n_features):
                gW[j][k] += bW[j][k]
            gb[j] += bb[j]
        loss_sum += bl
        weight_sum += bs
    scale = 1.0 / (n_outputs * weight_sum)
    return (loss_sum * scale, [[v * scale for v in row] for row in gW], [v * scale for v in gb])


@pytest.mark.parametrize("kind, weighted, fit_intercept", [("mse", False, False), ("huber", True, True)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_one_step_equals_the_hand_loop_bitwise(kind, weighted, fit_intercept, n_threads):
    # 6 features: dot's four partial sums and its tail are both used
    W, X, Y, sw = problem(np.float64, n_features=6, n_outputs=2, seed=3)
    sw = sw if weighted else None
    b0 = np.array([0.25, -0.5]) if fit_intercept else None
    lr = 0.1
    res = gdfast.train(W, X, Y, b=b0, learning_rate=lr, num_iterations=1, loss=kind, fit_intercept=fit_intercept,
                       sample_weight=sw, n_threads=n_threads)
    loss, gW, gb = hand_step(W, b0, X, Y, sw, kind)
    assert res.losses[0] == loss
    # plain SGD: p - lr * g, in double
    expected_W = np.array([[float(W[j, k]) - lr * gW[j][k] for k in range(W.shape[1])] for j in range(W.shape[0])])
    np.testing.assert_array_equal(res.W, expected_W)
    if fit_intercept:
        np.testing.assert_array_equal(res.b, np.array([float(b0[j]) - lr * gb[j] for j in range(2)]))
    # and the reference twin (NumPy's own sums) agrees to rounding: 1e-12 relative on a gradient of
    # ~8969 terms of size ~1, whose order-dependent rounding is ~ 8969 * 2**-53 ~ 1e-12 of the sum
    twin = reference.train(W, X, Y, b=b0, learning_rate=lr, num_iterations=1, loss=kind,
                           fit_intercept=fit_intercept, sample_weight=sw)
    np.testing.assert_allclose(res.W, twin.W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.losses, twin.losses, rtol=1e-12)


def test_many_steps_reach_least_squares():
    # A blocked full batch converges to np.linalg.lstsq's solution (the MSE's minimiser): after
    # 400 steps at lr 0.3 on standardised features the error left is below 1e-10 (the problem is
    # well conditioned: its contraction per step is <= 1 - 2 * 0.3 * min eigenvalue ~ 0.4).
    W, X, Y, _ = problem(np.float64, n_features=5, n_outputs=1, seed=5)
    res = gdfast.train(W, X, Y, learning_rate=0.3, num_iterations=400, n_threads=2)
    solution = np.linalg.lstsq(X, Y, rcond=None)[0].T
    np.testing.assert_allclose(res.W, solution, rtol=0, atol=1e-10)


# --- n_threads validation ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [gdfast.train, reference.train])
@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError),
                                        ("2", TypeError), (None, TypeError)])
def test_n_threads_is_validated(fn, bad, error):
    W, X, Y, _ = problem(np.float64)
    with pytest.raises(error, match="n_threads"):
        fn(W[:, :2], X[:10, :2], Y[:10], num_iterations=1, n_threads=bad)


def test_n_threads_accepts_numpy_integers():
    W, X, Y, _ = problem(np.float64)
    a = gdfast.train(W, X, Y, num_iterations=2, seed=1, n_threads=np.int64(2))
    assert a == gdfast.train(W, X, Y, num_iterations=2, seed=1)


# --- Sweeps keep their threads over runs, and equal train -------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [None, 2 * BLOCK])
def test_sweep_with_threads_equals_train_of_each_config(dtype, batch_size):
    W, X, Y, _ = problem(dtype)
    lrs = [0.01, 0.03, 0.05]  # plain SGD runs that would go in lockstep were they not blocked
    kw = dict(num_iterations=6, batch_size=batch_size, seed=11, fit_intercept=True)
    res = gdfast.sweep(W, X, Y, learning_rates=lrs, n_threads=2, **kw)
    for lr, r in zip(lrs, res.results):
        ref = gdfast.train(W, X, Y, learning_rate=lr, n_threads=1, **kw)
        np.testing.assert_array_equal(r.W, ref.W)
        np.testing.assert_array_equal(r.b, ref.b)
        np.testing.assert_array_equal(r.losses, ref.losses)
        assert r.loss == ref.loss


def test_sweep_of_one_config_gives_its_threads_to_the_blocks():
    W, X, Y, _ = problem(np.float64)
    res = gdfast.sweep(W, X, Y, learning_rates=[0.05], num_iterations=6, n_threads=3)
    ref = gdfast.train(W, X, Y, learning_rate=0.05, num_iterations=6)
    np.testing.assert_array_equal(res.results[0].W, ref.W)
    np.testing.assert_array_equal(res.results[0].losses, ref.losses)


@pytest.mark.parametrize("n_samples", [3, N_SAMPLES])
def test_more_threads_than_blocks_is_capped_not_an_overflow(n_samples):
    # A found fuzz case: n_threads = 2**40 for a one-run set reached the kernel's C int and raised
    # OverflowError. Threads beyond the blocks of the batch (or beyond 1 without blocks) do nothing.
    W, X, Y, _ = problem(np.float64)
    X, Y = X[:n_samples], Y[:n_samples]
    big = gdfast.train(W, X, Y, num_iterations=3, seed=1, n_threads=2**40)
    assert big == gdfast.train(W, X, Y, num_iterations=3, seed=1, n_threads=1)
    res = gdfast.sweep(W, X, Y, learning_rates=[0.01], num_iterations=3, n_threads=2**40)
    np.testing.assert_array_equal(res.results[0].W, big.W)
