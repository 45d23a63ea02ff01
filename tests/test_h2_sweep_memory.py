"""``sweep`` allocates no per-run scratch: its peak memory is bounded by what the results hold.

The kernel works on per-thread gradient and residual buffers; it used to get, besides, a stacked
n_configs x batch x n_outputs residual array (and n_configs gradient rows) that nothing read: +320 MB
for 1000 configs on 10,000 x 4 data.
"""
import tracemalloc

import numpy as np

import gdfast


def result_bytes(r):
    """Bytes of the arrays a TrainResult owns (its state is what a later train(state=...) needs)."""
    arrays = [r.W, r.b, r.losses, r.epoch_losses, r.state.params, r.state.opt_state, r.state.perm,
              r.state.record]
    return sum(a.nbytes for a in arrays if a is not None)


def test_peak_memory_of_a_1000_config_sweep_is_twice_what_the_results_hold():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10_000, 4)), rng.standard_normal((10_000, 4))
    W = np.zeros((4, 4))
    lrs = np.logspace(-4, -1, 1000)
    gdfast.sweep(W, X[:10], Y[:10], learning_rates=lrs[:2], num_iterations=2)  # first-call caches
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = gdfast.sweep(W, X, Y, learning_rates=lrs, num_iterations=10, record_every=10, seeds=[0])
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    held = sum(result_bytes(r) for r in res.results)  # 1000 x (80 KB permutation + ~0.5 KB): ~77 MiB
    # The kernel advances one stacked copy of the runs' state (about `held` bytes) and the results
    # get their own copies (`held`): 2 * held, plus 16 MiB for the loss histories, the per-row
    # padding and Python objects. The unread residual scratch alone was 1000 x 10,000 x 4 x 8 B.
    assert peak < 2 * held + 16 * 2**20, (peak / 2**20, held / 2**20)
    # and the results are right: one config against a plain train call
    ref = gdfast.train(W, X, Y, learning_rate=lrs[500], num_iterations=10, record_every=10, seed=0)
    np.testing.assert_array_equal(res.results[500].W, ref.W)
