"""The C fast paths of predict / mse / mse_gradient / update (gdfast/_kernels.pyx, *_fast).

They run only for already-valid arrays; everything else must take the Python validation path, so
every bad input still raises, and valid input gives the same bits whichever path computes it.
Expected values: the Python path (fed lists, which the fast path never accepts) must agree to the
bit (same kernels), and gdfast.reference within RTOL (NumPy sums in another order).
"""
import numpy as np
import pytest

import gdfast
from gdfast import _kernels, reference
from gdfast.lesson import INPUT, TARGET, W1

from conftest import DTYPES, RTOL


def lesson(dtype):
    return np.asarray(W1, dtype), np.asarray(INPUT, dtype), np.asarray(TARGET, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [False, True])
def test_fast_equals_python_path_and_reference(dtype, batch, rng):
    W, x, y = lesson(dtype)
    if batch:
        x = rng.standard_normal((5, 4)).astype(dtype)
        y = rng.standard_normal((5, 4)).astype(dtype)
    p = gdfast.predict(W, x)
    G = gdfast.mse_gradient(W, x, y)
    cases = [
        (_kernels.predict_fast(W, x), gdfast.predict(W.tolist(), x.tolist()), reference.predict(W, x)),
        (_kernels.mse_fast(p, y), gdfast.mse(p.tolist(), y.tolist()), reference.mse(p, y)),
        (_kernels.mse_gradient_fast(W, x, y), gdfast.mse_gradient(W.tolist(), x.tolist(), y.tolist()),
         reference.mse_gradient(W, x, y)),
        (_kernels.update_fast(W, G, 0.01), gdfast.update(W, G.tolist(), 0.01), reference.update(W, G, 0.01)),
    ]
    for fast, slow, ref in cases:
        assert fast is not None  # the fast path really ran
        if isinstance(slow, np.ndarray) and slow.dtype != np.dtype(dtype):
            # lists are float64: recompute the Python path in the array dtype for the bitwise check
            continue
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_allclose(fast, ref, rtol=RTOL[np.dtype(dtype)], atol=1e-6)
        if isinstance(fast, np.ndarray):
            assert fast.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_equals_python_path_bitwise(dtype):
    """Strided copies of the same values take the Python path: same bits as the fast path."""
    W, x, y = lesson(dtype)
    p = W @ x
    G = np.outer(p - y, x)

    def strided(a):
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]

    assert _kernels.predict_fast(strided(W), x) is None
    np.testing.assert_array_equal(gdfast.predict(W, x), gdfast.predict(strided(W), strided(x)))
    assert gdfast.mse(p, y) == gdfast.mse(strided(p), strided(y))
    np.testing.assert_array_equal(gdfast.mse_gradient(W, x, y), gdfast.mse_gradient(strided(W), strided(x), y))
    np.testing.assert_array_equal(gdfast.update(W, G, 0.01), gdfast.update(strided(W), strided(G), 0.01))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_still_raise(dtype, bad):
    W, x, y = lesson(dtype)
    p = W @ x
    G = np.ones_like(W)
    for make_call in range(9):
        Wb, xb, yb, pb, Gb = W.copy(), x.copy(), y.copy(), p.copy(), G.copy()
        target = [Wb, xb, Wb, xb, yb, pb, yb, Wb, Gb][make_call]
        target.flat[2] = bad
        calls = [
            lambda: gdfast.predict(Wb, xb), lambda: gdfast.predict(Wb, xb),
            lambda: gdfast.mse_gradient(Wb, xb, yb), lambda: gdfast.mse_gradient(Wb, xb, yb),
            lambda: gdfast.mse_gradient(Wb, xb, yb), lambda: gdfast.mse(pb, yb), lambda: gdfast.mse(pb, yb),
            lambda: gdfast.update(Wb, Gb, 0.01), lambda: gdfast.update(Wb, Gb, 0.01),
        ]
        with pytest.raises(ValueError, match="NaN or infinity"):
            calls[make_call]()


@pytest.mark.parametrize("dtype", DTYPES)
def test_bad_shapes_and_parameters_still_raise(dtype):
    W, x, y = lesson(dtype)
    with pytest.raises(ValueError, match="n_features"):
        gdfast.predict(W, x[:3])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        gdfast.predict(W[None], x)  # (a 1-D W is one output: W[0] @ x)
    with pytest.raises(ValueError, match="empty"):
        gdfast.predict(W[:0], x)
    with pytest.raises(ValueError, match="same shape"):
        gdfast.mse(x, y[:3])
    with pytest.raises(ValueError, match="empty"):
        gdfast.mse(x[:0], y[:0])
    with pytest.raises(ValueError, match="Y must have shape"):
        gdfast.mse_gradient(W, x, y[:3])
    with pytest.raises(ValueError, match="G must be a scalar or have W's shape"):
        gdfast.update(W, W[:2], 0.01)
    for lr, err in [(0.0, ValueError), (-0.1, ValueError), (np.nan, ValueError), (np.inf, ValueError),
                    (True, TypeError), ("0.1", TypeError)]:
        with pytest.raises(err):
            gdfast.update(W, W, lr)


def test_other_layouts_and_dtypes_take_the_python_path():
    W, x, y = lesson(np.float64)
    swapped = W.astype(W.dtype.newbyteorder(">"))
    assert _kernels.predict_fast(swapped, x) is None
    np.testing.assert_array_equal(gdfast.predict(swapped, x), gdfast.predict(W, x))
    assert _kernels.predict_fast(W.astype(np.float32), x) is None  # mixed dtypes promote, in Python
    assert gdfast.predict(W.astype(np.float32), x).dtype == np.float64
    assert _kernels.predict_fast(np.asfortranarray(W), x) is None
    np.testing.assert_array_equal(gdfast.predict(np.asfortranarray(W), x), gdfast.predict(W, x))
    assert _kernels.update_fast(W, W, np.float32(0.5)) is None  # not a Python float
    assert _kernels.predict_fast(W.astype(np.int64), x.astype(np.int64)) is None
    assert gdfast.predict(W.astype(np.int64), x.astype(np.int64)).dtype == np.float64


def test_inputs_not_modified():
    W, x, y = lesson(np.float64)
    keep = [a.copy() for a in (W, x, y)]
    gdfast.predict(W, x)
    gdfast.mse(x, y)
    gdfast.mse_gradient(W, x, y)
    gdfast.update(W, W, 0.5)
    for a, b in zip((W, x, y), keep):
        np.testing.assert_array_equal(a, b)
