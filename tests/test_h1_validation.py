"""Issue 10, "never silently wrong": input validation and the small-API defects.

Every test here failed on the code before its fix. Expected values come from NumPy itself, from
the same call made with plain float64 NumPy input, or from a closed form; never from gdfast's twin.
"""
import tracemalloc
import warnings

import numpy as np
import numpy.ma as ma
import pytest

import gdfast
from gdfast import reference
from gdfast._validation import prepare_samples

rng0 = np.random.default_rng(10)
W = rng0.standard_normal((3, 4))
X = rng0.standard_normal((6, 4))
Y = rng0.standard_normal((6, 3))

# Every public function that takes a model's arrays, called with (W, X, Y).
MODEL_CALLS = {
    "predict": lambda W, X, Y: gdfast.predict(W, X),
    "mse_gradient": gdfast.mse_gradient,
    "train": lambda W, X, Y: gdfast.train(W, X, Y, num_iterations=2),
    "sweep": lambda W, X, Y: gdfast.sweep(W, X, Y, learning_rates=[0.1], num_iterations=2, n_threads=1),
    "reference.predict": lambda W, X, Y: reference.predict(W, X),
    "reference.mse_gradient": reference.mse_gradient,
    "reference.train": lambda W, X, Y: reference.train(W, X, Y, num_iterations=2),
}


def _peak_bytes(call):
    """Peak bytes NumPy/Python allocated during call() (tracemalloc sees NumPy's data buffers)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        try:
            call()
        except ValueError:
            pass
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


# --- 1. r04: the ndarray fast paths warn on overflow like the general path ------------------------

BIG = np.array([1e200, -1e200])
W32, G32 = np.array([1.0, 2.0], np.float32), np.array([0.0, 1.0], np.float32)
OVERFLOWS = {
    "mse": (gdfast.mse, (BIG, -BIG)),
    "predict": (gdfast.predict, (np.array([[1e200, 1e200]]), np.array([[1e200, 1e200]]))),
    "mse_gradient": (gdfast.mse_gradient, (np.array([[1e200, 1e200]]), np.array([1e200, 1e200]), np.array([0.0]))),
    "update": (gdfast.update, (W32, G32, 1e39)),
}


@pytest.mark.parametrize("name", list(OVERFLOWS))
def test_ndarray_fast_path_warns_on_overflow_like_lists(name):
    fn, args = OVERFLOWS[name]
    with pytest.warns(RuntimeWarning) as slow:  # the general path: lists (update: out=)
        if name == "update":
            expected = fn(*args, out=np.empty(2, np.float32))
        else:
            expected = fn(*[a.tolist() for a in args])
    with pytest.warns(RuntimeWarning) as fast:
        got = fn(*args)
    assert [str(w.message) for w in fast] == [str(w.message) for w in slow]
    assert str(fast[0].message).startswith(f"{name}: overflow")
    assert fast[0].filename == __file__  # points at the caller, as the general path's does
    np.testing.assert_array_equal(got, expected)  # same (non-finite) values, NaN where NaN
    # The oracle: NumPy's own arithmetic overflows too.
    with np.errstate(all="ignore"):
        if name == "mse":
            assert not np.isfinite(np.mean((BIG + BIG) ** 2))
        if name == "update":
            np.testing.assert_array_equal(got, W32 - np.float32(1e39) * G32)


def test_finite_fast_path_results_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdfast.mse(X, X + 1.0)
        gdfast.predict(W, X)
        gdfast.mse_gradient(W, X, Y)
        gdfast.update(W, W, 0.1)


# --- 2. r07: masked arrays ------------------------------------------------------------------------

def _masked(a, index):
    m = np.zeros(np.shape(a), bool)
    m.reshape(-1)[index] = True
    out = ma.masked_array(np.array(a, dtype=float), mask=m)
    out.data.reshape(-1)[index] = 1e6  # garbage under the mask
    return out


@pytest.mark.parametrize("which", ["W", "X", "Y"])
@pytest.mark.parametrize("name", list(MODEL_CALLS))
def test_masked_element_is_refused(name, which):
    if which == "Y" and "predict" in name:
        pytest.skip("predict takes no Y")
    args = {"W": W, "X": X, "Y": Y}
    args[which] = _masked(args[which], 1)
    with pytest.raises(TypeError, match=rf"^{which} is a masked array with 1 masked element.*filled"):
        MODEL_CALLS[name](args["W"], args["X"], args["Y"])


def test_masked_refused_by_mse_update_descend_and_sample_weight():
    p = _masked(np.ones(3), 0)
    with pytest.raises(TypeError, match=r"^prediction is a masked array"):
        gdfast.mse(p, np.ones(3))
    with pytest.raises(TypeError, match=r"^target is a masked array"):
        gdfast.mse(np.ones(3), p)
    with pytest.raises(TypeError, match=r"^G is a masked array"):
        gdfast.update(np.ones(3), p, 0.1)
    with pytest.raises(TypeError, match=r"^W is a masked array"):
        gdfast.update(p, np.ones(3), 0.1)
    with pytest.raises(TypeError, match=r"^x0 is a masked array"):
        gdfast.descend(lambda x: 2 * x, p, learning_rate=0.1, num_iterations=2)
    with pytest.raises(TypeError, match=r"^sample_weight is a masked array"):
        gdfast.train(W, X, Y, num_iterations=1, sample_weight=_masked(np.ones(6), 2))


def test_masked_array_with_nothing_masked_is_its_data():
    # Decision: nothing masked means nothing missing, so the data is used (no copy needed).
    Xm = ma.masked_array(X, mask=np.zeros(X.shape, bool))
    Xn = ma.masked_array(X)  # mask = nomask
    expected = X @ W.T  # NumPy is the oracle
    for Xa in (Xm, Xn):
        np.testing.assert_allclose(gdfast.predict(W, Xa), expected, rtol=1e-13)
        np.testing.assert_array_equal(gdfast.predict(W, Xa), gdfast.predict(W, X))


# --- 3. r08: update follows NumPy's promotion and bits -------------------------------------------

def _g(kind, n, rng):
    base = rng.standard_normal(n)
    return {
        "array32": base.astype(np.float32), "array64": base, "list": base.tolist(),
        "pyfloat": 0.1234567891, "pyint": 3, "np32": np.float32(0.1234567891), "np64": np.float64(0.1234567891),
        "0d32": np.array(0.1234567891, np.float32), "0d64": np.array(0.1234567891),
    }[kind]


@pytest.mark.parametrize("out", [False, True], ids=["new", "out"])
@pytest.mark.parametrize("lr", [0.3, np.float32(0.3), np.float64(0.3), 1], ids=["py", "np32", "np64", "pyint"])
@pytest.mark.parametrize("g_kind", ["array32", "array64", "list", "pyfloat", "pyint", "np32", "np64", "0d32", "0d64"])
@pytest.mark.parametrize("w_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [gdfast.update, reference.update], ids=["update", "reference"])
def test_update_is_numpys_w_minus_lr_times_g(fn, w_dtype, g_kind, lr, out):
    rng = np.random.default_rng(8)
    Wa = rng.standard_normal(1000).astype(w_dtype)
    G = _g(g_kind, 1000, rng)
    # The oracle: NumPy itself (a list G is what NumPy sees after np.asarray).
    expected = Wa - lr * (np.asarray(G) if isinstance(G, list) else G)
    W_before = Wa.copy()
    if out:
        target = np.empty_like(expected)
        got = fn(Wa, G, lr, out=target)
        assert got is target
    else:
        got = fn(Wa, G, lr)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # to the bit: no tolerance
    np.testing.assert_array_equal(Wa, W_before)


def test_update_repro_r08():
    Wa = np.array([-0.5677696], np.float32)
    np.testing.assert_array_equal(gdfast.update(Wa, 0.1, 0.3), Wa - 0.3 * 0.1)
    ones, half = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    assert gdfast.update(ones, half, np.float64(0.3)).dtype == np.float64


def test_update_out_with_the_wrong_dtype_says_which():
    with pytest.raises(TypeError, match=r"out must have the result's dtype float64"):
        gdfast.update(np.ones(3, np.float32), np.ones(3, np.float32), np.float64(0.1), out=np.empty(3, np.float32))


# --- 6. r14: float32 sample weights beyond float32's range ----------------------------------------

@pytest.mark.parametrize("sw", [[1e-50] * 3, [1e39, 1.0, 1.0], [1e-45, 1e-50, 1e-40], [1e300, 1e300, 1e299]])
@pytest.mark.parametrize("fn", [gdfast.train, reference.train], ids=["train", "reference"])
def test_valid_weights_are_never_refused_for_float32(fn, sw):
    W0 = np.zeros((1, 2), np.float32)
    X32 = np.ones((3, 2), np.float32)
    Y32 = np.ones((3, 1), np.float32)
    # Identical samples: any valid weights give the unweighted loss (closed form below), so the
    # run must equal the unweighted one. Tolerance: sum(w*l)/sum(w) vs mean(l) differ by a few
    # float32 roundings per step over 5 steps: rtol 1e-5.
    result = fn(W0, X32, Y32, sample_weight=sw, learning_rate=0.1, num_iterations=5)
    plain = fn(W0, X32, Y32, learning_rate=0.1, num_iterations=5)
    # Closed form: W_{t+1} = W_t - 0.1 * 2 * (2 w - 1) * [1, 1] for both weights equal to w.
    w = 0.0
    for _ in range(5):
        w = w - 0.1 * 2 * (2 * w - 1)
    np.testing.assert_allclose(result.W, [[w, w]], rtol=1e-5)
    np.testing.assert_allclose(result.W, plain.W, rtol=1e-5)


@pytest.mark.parametrize("sw,exc,pattern", [
    ([-1.0, 1.0, 1.0], ValueError, r"sample_weight must be >= 0; got 1 negative"),
    ([0.0, 0.0, 0.0], ValueError, r"sample_weight must have at least one positive weight"),
    ([np.nan, 1.0, 1.0], ValueError, r"sample_weight contains NaN or infinity"),
    ([np.inf, 1.0, 1.0], ValueError, r"sample_weight contains NaN or infinity"),
    ([1.0, 1.0], ValueError, r"sample_weight must have shape \(3,\)"),
])
def test_bad_weights_still_refused(sw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        gdfast.train(np.zeros((1, 2), np.float32), np.ones((3, 2), np.float32), np.ones((3, 1), np.float32),
                     sample_weight=sw)


def test_sample_weight_not_modified():
    sw = np.array([1e39, 1.0, 1.0])
    gdfast.train(np.zeros((1, 2), np.float32), np.ones((3, 2), np.float32), np.ones((3, 1), np.float32),
                 sample_weight=sw, num_iterations=1)
    np.testing.assert_array_equal(sw, [1e39, 1.0, 1.0])


# --- 7. r15: shapes are checked before any conversion ---------------------------------------------

HUGE_INT8 = np.broadcast_to(np.int8(1), (1_000_000, 3))  # no memory of its own; 24 MB as float64


@pytest.mark.parametrize("name", list(MODEL_CALLS))
def test_shape_error_before_conversion(name):
    Yb = np.broadcast_to(np.int8(1), (1_000_000, 2))
    peak = _peak_bytes(lambda: MODEL_CALLS[name](np.ones((2, 4)), HUGE_INT8, Yb))
    with pytest.raises(ValueError, match=r"X's second axis must have length n_features = W.shape\[-1\] = 4"):
        MODEL_CALLS[name](np.ones((2, 4)), HUGE_INT8, Yb)
    assert peak < 1_000_000, peak  # vs 24 MB for the float64 copy of X


def test_target_and_weight_shape_errors_before_conversion():
    Xs = np.broadcast_to(np.int8(1), (1_000_000, 3))
    Yb = np.broadcast_to(np.int8(1), (999_999, 2))
    with pytest.raises(ValueError, match=r"Y must have shape \(1000000, 2\)"):
        gdfast.mse_gradient(np.ones((2, 3)), Xs, Yb)
    assert _peak_bytes(lambda: gdfast.mse_gradient(np.ones((2, 3)), Xs, Yb)) < 1_000_000
    p = np.broadcast_to(np.int8(1), (3_000_000,))
    with pytest.raises(ValueError, match=r"prediction and target must have the same shape"):
        gdfast.mse(p, p[:-1])
    assert _peak_bytes(lambda: gdfast.mse(p, p[:-1])) < 1_000_000
    Xw = np.ones((10, 3))
    sw = np.broadcast_to(np.int8(1), (3_000_000,))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(10,\)"):
        gdfast.train(np.ones((1, 3)), Xw, np.ones((10, 1)), sample_weight=sw)
    assert _peak_bytes(lambda: gdfast.train(np.ones((1, 3)), Xw, np.ones((10, 1)), sample_weight=sw)) < 1_000_000


# --- 8. r16: pandas nullable columns --------------------------------------------------------------

def test_pandas_nullable_without_missing_values_is_accepted():
    pd = pytest.importorskip("pandas")
    values = [[1, 2], [3, 4], [5, 6]]
    targets = [[1.5], [2.5], [-1.0]]
    expected = gdfast.train(np.zeros((1, 2)), np.array(values, float), np.array(targets), num_iterations=5,
                            learning_rate=0.01)
    for dtype in ("Int64", "Float64", "Int32"):
        Xd = pd.DataFrame(values, dtype=dtype)
        got = gdfast.train(np.zeros((1, 2)), Xd, np.array(targets), num_iterations=5, learning_rate=0.01)
        np.testing.assert_array_equal(got.W, expected.W)
    Ys = pd.Series([1.5, 2.5, -1.0], dtype="Float64")
    Xs = pd.DataFrame(values, dtype="Int64")
    np.testing.assert_array_equal(gdfast.predict(np.ones((1, 2)), Xs), np.array(values, float) @ np.ones((2, 1)))
    np.testing.assert_array_equal(gdfast.mse(Ys, Ys.to_numpy(float)), 0.0)
    # A Float32 frame stays float32, as a float32 ndarray would.
    assert gdfast.predict(np.ones((1, 2), np.float32), pd.DataFrame(values, dtype="Float32")).dtype == np.float32


def test_pandas_missing_values_are_refused():
    pd = pytest.importorskip("pandas")
    Xd = pd.DataFrame({"a": [1, 2, 3], "b": [4, None, 6]}, dtype="Int64")
    with pytest.raises(ValueError, match=r"X's column 'b' has 1 missing value\(s\) \(pd.NA\).*fillna"):
        gdfast.train(np.zeros((1, 2)), Xd, np.ones((3, 1)))
    Ys = pd.Series([1.0, None, 2.0], dtype="Float64")
    with pytest.raises(ValueError, match=r"^target has 1 missing value"):
        gdfast.mse(np.ones(3), Ys)
    with pytest.raises(ValueError, match=r"^Y's column 0 has 1 missing value"):
        gdfast.train(np.zeros((1, 2)), np.ones((3, 2)), Ys.to_frame())


# --- 9. scipy.sparse ------------------------------------------------------------------------------

# train, sweep and predict take CSR X (tests/test_sparse.py, tests/test_sparse_sweep.py); the other
# calls refuse it, saying what to do.
SPARSE_CALLS = {"predict", "train", "sweep"}
SPARSE_REFUSALS = {
    "reference.train": r"^the NumPy twin takes dense X: pass X.toarray\(\)",
}


@pytest.mark.parametrize("name", list(MODEL_CALLS))
def test_sparse_x_says_not_supported(name):
    sparse = pytest.importorskip("scipy.sparse")
    for Xs in (sparse.csr_matrix(X), sparse.csr_array(X)):
        if name in SPARSE_CALLS:
            MODEL_CALLS[name](W, Xs, Y)
            with pytest.raises(TypeError, match=r"^X is a scipy.sparse .* in 'coo' format.*X.tocsr\(\)"):
                MODEL_CALLS[name](W, Xs.tocoo(), Y)
            continue
        match = SPARSE_REFUSALS.get(name, r"^X is a scipy.sparse .*not support sparse input.*X.toarray\(\)")
        with pytest.raises(TypeError, match=match):
            MODEL_CALLS[name](W, Xs, Y)


# --- 10. the finite check allocates no n x d temporary --------------------------------------------

def test_validating_a_valid_array_allocates_almost_nothing():
    rng = np.random.default_rng(3)
    Xv = rng.standard_normal((4000, 250))  # 8 MB
    Yv = rng.standard_normal((4000, 2))
    Wv = np.zeros((2, 250))
    prepare_samples(Wv, Xv, Yv)  # warm up
    peak = _peak_bytes(lambda: prepare_samples(Wv, Xv, Yv))
    assert peak < 0.05 * Xv.nbytes, peak  # np.isfinite(X).all() alone would be 12.5% (1 byte of 8)
    X32 = Xv.astype(np.float32)
    peak32 = _peak_bytes(lambda: prepare_samples(Wv.astype(np.float32), X32, Yv.astype(np.float32)))
    assert peak32 < 0.05 * X32.nbytes, peak32


def test_float64_values_beyond_float32_are_named():
    W0 = np.zeros((1, 2), np.float32)
    starts = np.array([[[1e39, 1.0]]])  # float64, cast to W's float32
    with pytest.raises(ValueError, match=r"initial_weights has values beyond the range of float32"):
        gdfast.sweep(W0, np.ones((3, 2), np.float32), np.ones((3, 1), np.float32), initial_weights=starts,
                     learning_rates=[0.1], num_iterations=1, n_threads=1)
