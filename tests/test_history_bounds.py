"""Long runs keep bounded histories: epoch losses are kept about once per ``record_every`` updates.

Expected values: gdfast.reference (the NumPy loop, same bookkeeping rules) and, for a full batch, the
loss history itself (each update is one epoch, so the kept epoch losses are the kept losses).
"""
import numpy as np
import pytest

import gdfast
from gdfast import reference
from gdfast.lesson import INPUT, TARGET, W1

from conftest import ATOL_LOOP, RTOL_LOOP, random_problem


def test_full_batch_epoch_history_follows_record_every():
    r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10_000, record_every=1000)
    assert r.losses.shape == (10,) and r.epoch_losses.shape == (10,)
    # one sample: the epoch mean is loss * 1 / 1, the loss itself
    np.testing.assert_array_equal(r.epoch_losses, r.losses)
    ref = reference.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10_000, record_every=1000)
    np.testing.assert_allclose(r.epoch_losses, ref.epoch_losses, rtol=RTOL_LOOP[np.dtype(np.float64)],
                               atol=ATOL_LOOP[np.dtype(np.float64)])


@pytest.mark.parametrize("record_every, expected_epochs", [(1, 30), (4, 30), (8, 15), (9, 15), (100, 2)])
def test_mini_batch_epoch_history(rng, record_every, expected_epochs):
    W, X, Y = random_problem(rng, 40, 3, 2)
    opts = dict(learning_rate=0.05, batch_size=10, seed=7, num_epochs=30, record_every=record_every)
    r = gdfast.train(W, X, Y, **opts)  # 4 updates per epoch
    ref = reference.train(W, X, Y, **opts)
    assert r.epoch_losses.shape == (expected_epochs,)
    np.testing.assert_allclose(r.epoch_losses, ref.epoch_losses, rtol=RTOL_LOOP[np.dtype(np.float64)],
                               atol=ATOL_LOOP[np.dtype(np.float64)])
    every = max(1, record_every // 4)
    all_epochs = gdfast.train(W, X, Y, **{**opts, "record_every": 1}).epoch_losses
    np.testing.assert_array_equal(r.epoch_losses, all_epochs[::every])


def test_chunked_progress_run_keeps_the_same_histories():
    pytest.importorskip("tqdm")
    kw = dict(learning_rate=0.01, num_iterations=5_000, record_every=300)
    one = gdfast.train(W1, INPUT, TARGET, **kw)
    chunked = gdfast.train(W1, INPUT, TARGET, progress=True, **kw)
    np.testing.assert_array_equal(one.W, chunked.W)
    np.testing.assert_array_equal(one.losses, chunked.losses)
    np.testing.assert_array_equal(one.epoch_losses, chunked.epoch_losses)
