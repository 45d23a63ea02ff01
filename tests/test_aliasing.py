"""Aliasing and ownership (issue 7): ``out=`` aliasing an input, inputs overlapping each other, and
results that must not share memory with the inputs or with earlier results.

Expected values come from ``gdfast.reference`` called on independent copies of the inputs (so no
aliasing can reach the oracle). Tolerances: conftest's RTOL for one-shot kernels; ``update`` is
documented as NumPy's own arithmetic and compared exactly.
"""
import numpy as np
import pytest

import gdfast
from gdfast import reference as ref

from conftest import DTYPES, RTOL, random_problem


def _owned_arrays(result):
    """Every ndarray a TrainResult hands out (W, b, histories, the state's arrays)."""
    st = result.state
    arrays = [result.W, result.losses, result.epoch_losses, st.params, st.opt_state, st.perm, st.record]
    if result.b is not None:
        arrays.append(result.b)
    return arrays


def _assert_disjoint(arrays_a, arrays_b):
    for a in arrays_a:
        for b in arrays_b:
            assert not np.shares_memory(a, b), "result shares memory with another array"


# --- update(out=...) ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_update_out_is_W_in_place(dtype, rng):
    W = rng.standard_normal((3, 4)).astype(dtype)
    G = rng.standard_normal((3, 4)).astype(dtype)
    expected = ref.update(W.copy(), G.copy(), 0.1)
    got = gdfast.update(W, G, 0.1, out=W)
    assert got is W
    np.testing.assert_array_equal(W, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_out_is_G(dtype, rng):
    W = rng.standard_normal(7).astype(dtype)
    G = rng.standard_normal(7).astype(dtype)
    expected = ref.update(W.copy(), G.copy(), 0.25)
    W_before = W.copy()
    got = gdfast.update(W, G, 0.25, out=G)
    assert got is G
    np.testing.assert_array_equal(G, expected)
    np.testing.assert_array_equal(W, W_before)


@pytest.mark.parametrize("shift", [1, 2, -1, -3])
def test_update_overlapping_views_of_one_buffer(shift, rng):
    """W and G are shifted views of one buffer and out is W: the step reads the old values only."""
    buf = rng.standard_normal(20)
    lo = max(0, shift)
    W = buf[lo - min(0, shift): lo - min(0, shift) + 10] if shift < 0 else buf[:10]
    G = buf[shift:shift + 10] if shift > 0 else buf[:10]
    assert np.shares_memory(W, G) and W.base is buf and G.base is buf
    W0, G0 = W.copy(), G.copy()
    expected = ref.update(W0, G0, 0.5)
    got = gdfast.update(W, G, 0.5, out=W)
    np.testing.assert_array_equal(got, expected)


def test_update_out_strided_view_of_W(rng):
    buf = rng.standard_normal(16)
    W = buf[::2]
    G = buf[1::2]
    expected = ref.update(W.copy(), G.copy(), 0.3)
    gdfast.update(W, G, 0.3, out=W)
    np.testing.assert_array_equal(W, expected)
    np.testing.assert_array_equal(buf[1::2], G)  # G (interleaved with out) untouched


def test_update_out_overlapping_reversed_view(rng):
    """out is W reversed (negative strides over the same memory)."""
    W = rng.standard_normal(9)
    G = rng.standard_normal(9)
    expected = ref.update(W.copy(), G.copy(), 0.1)
    out = W[::-1]
    gdfast.update(W, G, 0.1, out=out)
    np.testing.assert_array_equal(out, expected)


# --- Inputs overlapping each other ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_mse_gradient_with_W_X_Y_views_of_one_buffer(dtype, rng):
    buf = rng.standard_normal(64).astype(dtype)
    W = buf[:12].reshape(3, 4)
    X = buf[4:24].reshape(5, 4)           # overlaps W
    Y = buf[9:24].reshape(5, 3)           # overlaps W and X
    copies = [a.copy() for a in (W, X, Y)]
    rtol = RTOL[np.dtype(dtype)]
    np.testing.assert_allclose(gdfast.predict(W, X), ref.predict(*copies[:2]), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(gdfast.mse_gradient(W, X, Y), ref.mse_gradient(*copies), rtol=rtol, atol=rtol)
    before = buf.copy()
    gdfast.train(W, X, Y, num_iterations=5, learning_rate=0.01, seed=0)
    np.testing.assert_array_equal(buf, before)  # nothing written through any view


def test_mse_of_an_array_with_itself_and_overlapping_views(rng):
    a = rng.standard_normal(10)
    assert gdfast.mse(a, a) == 0.0
    np.testing.assert_allclose(gdfast.mse(a[1:], a[:-1]), ref.mse(a[1:].copy(), a[:-1].copy()), rtol=1e-12)


def test_zero_stride_broadcast_inputs(rng):
    W = np.broadcast_to(rng.standard_normal(4), (3, 4))
    X = np.broadcast_to(rng.standard_normal(4), (6, 4))
    np.testing.assert_allclose(gdfast.predict(W, X), ref.predict(W.copy(), X.copy()), rtol=1e-12)
    out = gdfast.update(W, 1.0, 0.5)
    assert out.flags.writeable and out.strides != W.strides
    np.testing.assert_array_equal(out, W - 0.5)


# --- Results never share memory with inputs ----------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_core_results_do_not_share_memory_with_inputs(dtype, rng):
    W, X, Y = random_problem(rng, 5, 4, 3, dtype)
    inputs = [W, X, Y]
    for result in (gdfast.predict(W, X), gdfast.predict(W, X[0]), gdfast.mse_gradient(W, X, Y),
                   gdfast.mse_gradient(W, X[0], Y[0]), gdfast.update(W, np.zeros_like(W), 0.1),
                   gdfast.update(W, 0.0, 0.1)):
        _assert_disjoint([result], inputs)
    path = gdfast.descend(gdfast.Quadratic(1, 4, 4).gradient, X[0], learning_rate=0.1, num_iterations=3)
    _assert_disjoint([path.x], inputs)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_train_result_owns_its_memory(fit_intercept, rng):
    W, X, Y = random_problem(rng, 8, 3, 2)
    sw = rng.uniform(0.5, 1.5, 8)
    r = gdfast.train(W, X, Y, num_iterations=7, optimizer="adam", fit_intercept=fit_intercept,
                     sample_weight=sw, batch_size=3, seed=1)
    owned = _owned_arrays(r)
    _assert_disjoint(owned, [W, X, Y, sw])
    # W and b are copies, not views of the state's parameters.
    _assert_disjoint([r.W] + ([r.b] if fit_intercept else []), [r.state.params])


def test_train_zero_iterations_returns_a_copy_of_W(rng):
    W, X, Y = random_problem(rng, 4, 3, 2)
    r = gdfast.train(W, X, Y, num_iterations=0)
    np.testing.assert_array_equal(r.W, W)
    assert not np.shares_memory(r.W, W)


def test_continued_train_does_not_touch_or_share_the_earlier_state(rng):
    W, X, Y = random_problem(rng, 10, 3, 2)
    r1 = gdfast.train(W, X, Y, num_iterations=5, optimizer="adam", batch_size=4, seed=3)
    snapshot = r1.state.copy()
    W1 = r1.W.copy()
    r2 = gdfast.train(r1.W, X, Y, num_iterations=5, optimizer="adam", batch_size=4, seed=3, state=r1.state)
    _assert_disjoint(_owned_arrays(r2), _owned_arrays(r1))
    for name in ("params", "opt_state", "perm", "record"):  # (bytes: the record holds NaN fields)
        assert getattr(r1.state, name).tobytes() == getattr(snapshot, name).tobytes(), name
    np.testing.assert_array_equal(r1.W, W1)
    # ...and continuing twice from the same state gives the same run (nothing leaked between calls).
    r3 = gdfast.train(r1.W, X, Y, num_iterations=5, optimizer="adam", batch_size=4, seed=3, state=r1.state)
    np.testing.assert_array_equal(r2.W, r3.W)
    # Writing into a result must not change another one.
    r2.W[...] = 0.0
    r2.state.params[...] = 0.0
    assert not np.array_equal(r3.W, 0.0)


def test_sweep_results_own_their_memory(rng):
    W, X, Y = random_problem(rng, 6, 3, 2)
    starts = np.stack([W, 2 * W])
    s = gdfast.sweep(W, X, Y, learning_rates=[0.01, 0.1], initial_weights=starts, num_iterations=4, seed=0)
    arrays = [_owned_arrays(r) for r in s.results]
    for a in arrays:
        _assert_disjoint(a, [W, X, Y, starts])
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            _assert_disjoint(arrays[i], arrays[j])


@pytest.mark.parametrize("dtype", DTYPES)
def test_unaligned_inputs_are_copied_before_the_kernels(dtype, rng):
    """Views at an odd byte offset (found by UBSan: misaligned loads in the kernels) give the aligned
    answer; validation hands the kernels an aligned copy."""
    from gdfast._validation import as_float

    def unaligned(a):
        buf = np.empty(a.nbytes + 1, dtype=np.uint8)
        u = np.frombuffer(buf[1:].data, dtype=a.dtype, count=a.size).reshape(a.shape)
        u[...] = a
        assert not u.flags.aligned
        return u

    W, X, Y = random_problem(rng, 6, 3, 2, dtype)
    uW, uX, uY = unaligned(W), unaligned(X), unaligned(Y)
    assert as_float("X", uX, np.dtype(dtype)).flags.aligned
    np.testing.assert_array_equal(gdfast.predict(uW, uX), gdfast.predict(W, X))
    np.testing.assert_array_equal(gdfast.mse_gradient(uW, uX, uY), gdfast.mse_gradient(W, X, Y))
    np.testing.assert_array_equal(gdfast.train(uW, uX, uY, num_iterations=5).W, gdfast.train(W, X, Y, num_iterations=5).W)
