"""Every kernel-backed function equals its pure-NumPy twin in ``gdfast.reference``.

One registry (``CASES``) of (kernel function, reference function, input generator) drives every
test here: dtype x memory layout x shape, output dtype, promotion of integer/bool/mixed inputs,
"raises exactly when the reference raises", and hypothesis property tests.

Tolerances (tests/conftest.py): RTOL per dtype for single calls, RTOL_LOOP/ATOL_LOOP for train.
Sums that cancel (predictions, gradients) are compared with an absolute floor ``RTOL * scale`` where
``scale`` is the same sum taken over absolute values: the rounding error of any summation order
is bounded by eps * n * that scale, so a relative test on a near-zero result would be meaningless.
"""
from __future__ import annotations

import sys
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import gdfast
from gdfast import reference
from conftest import ATOL_LOOP, DTYPES, RTOL, RTOL_LOOP

hypothesis = pytest.importorskip("hypothesis", reason="the property tests need hypothesis")
from hypothesis import assume, given, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


# --- Memory layouts: the same values in different memory ---------------------------------------

NON_NATIVE = ">" if sys.byteorder == "little" else "<"


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values (same dtype kind and precision) laid out in memory as ``layout`` says."""
    a = np.asarray(a)
    if a.ndim == 0 or layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        # Every other element of a larger buffer along each axis.
        big = np.zeros(tuple(2 * s + 1 for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        assert not view.flags.c_contiguous or view.size == 1
        return view
    if layout == "negative":
        # Reversed along every axis in memory, read back with negative strides.
        rev = np.ascontiguousarray(a[tuple(slice(None, None, -1) for _ in a.shape)])
        view = rev[tuple(slice(None, None, -1) for _ in a.shape)]
        assert all(st < 0 for st, n in zip(view.strides, view.shape) if n > 1)
        return view
    if layout == "byteswapped":
        out = a.astype(a.dtype.newbyteorder(NON_NATIVE))
        assert not out.dtype.isnative
        return out
    raise ValueError(layout)


LAYOUTS = ["C", "F", "strided", "negative", "byteswapped"]

# (n_outputs, n_features, n_samples): 1x1 up to a few hundred, odd sizes for the unrolled sums.
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 2), (3, 4, 1), (17, 13, 29), (64, 33, 100), (2, 300, 7), (200, 3, 257)]


# --- The registry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A kernel-backed function, its reference twin, and a generator of its inputs.

    ``make(rng, shape, dtype)`` returns (args, kwargs, scale): positional arrays (to be laid out),
    keyword arguments, and the magnitude used as absolute tolerance floor (see module docstring).
    """

    name: str
    kernel: Callable
    ref: Callable
    make: Callable
    loop: bool = False  # an iterated loop: compare with RTOL_LOOP / ATOL_LOOP


def _wxy(rng, shape, dtype, single):
    m, n, s = shape
    W = rng.standard_normal((m, n)).astype(dtype)
    X = rng.standard_normal(n if single else (s, n)).astype(dtype)
    Y = rng.standard_normal(m if single else (s, m)).astype(dtype)
    return W, X, Y


def _predict_scale(W, X):
    return np.abs(np.asarray(X, np.float64)) @ np.abs(np.asarray(W, np.float64)).T


def make_predict(single):
    def make(rng, shape, dtype):
        W, X, _ = _wxy(rng, shape, dtype, single)
        return (W, X), {}, float(np.max(_predict_scale(W, X)))
    return make


def make_mse(single):
    def make(rng, shape, dtype):
        m, _, s = shape
        shp = m if single else (s, m)
        p, t = rng.standard_normal(shp).astype(dtype), rng.standard_normal(shp).astype(dtype)
        return (p, t), {}, 0.0
    return make


def make_mse_gradient(single):
    def make(rng, shape, dtype):
        W, X, Y = _wxy(rng, shape, dtype, single)
        X2, Y2 = np.atleast_2d(X).astype(np.float64), np.atleast_2d(Y).astype(np.float64)
        abs_res = _predict_scale(W, X2) + np.abs(Y2)
        scale = 2.0 / Y2.size * abs_res.T @ np.abs(X2)
        return (W, X, Y), {}, float(np.max(scale))
    return make


def make_update(kind):
    def make(rng, shape, dtype):
        m, n, _ = shape
        W = rng.standard_normal((m, n)).astype(dtype)
        lr = 0.37
        if kind == "array":
            G = rng.standard_normal((m, n)).astype(dtype)
        elif kind == "python scalar":
            G = float(rng.standard_normal())
        else:  # a NumPy scalar of the same dtype (0-d)
            G = dtype(rng.standard_normal())
        scale = float(np.max(np.abs(W)) + lr * np.max(np.abs(G)))
        return ((W, G) if kind == "array" else (W,)), ({} if kind == "array" else {"G": G}) | {"learning_rate": lr}, scale
    return make


def _update_out(fn):
    def call(W, G, learning_rate):
        out = np.full(np.shape(W), np.nan, dtype=np.result_type(W, G))
        res = fn(W, G, learning_rate, out=out)
        assert res is out
        return out
    return call


def make_descend(rng, shape, dtype):
    m, n, _ = shape
    x0 = (rng.standard_normal(n) * 10).astype(dtype)
    # f = x**2 + 4x + 4 cancels near its minimum: the floor is the size of its terms.
    r = float(np.max(np.abs(x0))) + 2.0
    return (x0,), {}, r * r + 4 * r + 4


def _descend(fn):
    f = gdfast.Quadratic(1.0, 4.0, 4.0)

    def call(x0):
        path = fn(f.gradient, x0, learning_rate=0.1, num_iterations=30, function=f)
        return np.concatenate([path.x.reshape(-1), path.f.reshape(-1)])
    return call


def make_train(rng, shape, dtype):
    m, n, s = shape
    if m * n * s > 20000:  # the loop cases stay small: they iterate
        m, n, s = min(m, 8), min(n, 8), min(s, 32)
    X = rng.standard_normal((s, n)).astype(dtype)
    Y = rng.standard_normal((s, m)).astype(dtype)
    W = (0.1 * rng.standard_normal((m, n))).astype(dtype)
    return (W, X, Y), {}, 0.0


def make_train_labels(rng, shape, dtype):
    """make_train with binary class labels -1/+1 as targets (the classification losses)."""
    (W, X, Y), kwargs, scale = make_train(rng, shape, dtype)
    return (W, X, np.where(Y > 0, 1, -1).astype(dtype)), kwargs, scale


def _train(fn, **options):
    def call(W, X, Y):
        r = fn(W, X, Y, **options)
        # W, b, the loss history and the final loss, in W's dtype (so the dtype check applies)
        parts = [r.W.reshape(-1), r.losses, [r.loss]] + ([r.b] if r.b is not None else [])
        return np.concatenate([np.asarray(p, dtype=r.W.dtype) for p in parts])
    return call


TRAIN_OPTIONS = dict(learning_rate=0.05, num_iterations=40, optimizer="adam", fit_intercept=True,
                     batch_size=None, seed=0)
TRAIN_MINIBATCH = dict(learning_rate=0.02, num_iterations=40, optimizer=gdfast.SGD(momentum=0.9),
                       loss="huber", batch_size=1, seed=3)
TRAIN_LOG_LOSS = dict(learning_rate=0.05, num_iterations=40, loss="log_loss", fit_intercept=True, batch_size=1, seed=4)
TRAIN_HINGE = dict(learning_rate=0.02, num_iterations=40, optimizer="adam", loss="hinge", fit_intercept=True, seed=5)
TRAIN_INSENSITIVE = dict(learning_rate=0.002, num_iterations=40, loss="squared_epsilon_insensitive", epsilon=0.2,
                         batch_size=1, shuffle=False)

CASES = [
    Case("predict(one sample)", gdfast.predict, reference.predict, make_predict(True)),
    Case("predict(batch)", gdfast.predict, reference.predict, make_predict(False)),
    Case("mse(1-D)", gdfast.mse, reference.mse, make_mse(True)),
    Case("mse(2-D)", gdfast.mse, reference.mse, make_mse(False)),
    Case("mse_gradient(one sample)", gdfast.mse_gradient, reference.mse_gradient, make_mse_gradient(True)),
    Case("mse_gradient(batch)", gdfast.mse_gradient, reference.mse_gradient, make_mse_gradient(False)),
    Case("update(array G)", gdfast.update, reference.update, make_update("array")),
    Case("update(python scalar G)", gdfast.update, reference.update, make_update("python scalar")),
    Case("update(numpy scalar G)", gdfast.update, reference.update, make_update("numpy scalar")),
    Case("update(out=)", _update_out(gdfast.update), _update_out(reference.update), make_update("array")),
    Case("descend(Quadratic)", _descend(gdfast.descend), _descend(reference.descend), make_descend),
    Case("train(adam, bias, full batch)", _train(gdfast.train, **TRAIN_OPTIONS),
         _train(reference.train, **TRAIN_OPTIONS), make_train, loop=True),
    Case("train(sgd momentum, huber, batch 1)", _train(gdfast.train, **TRAIN_MINIBATCH),
         _train(reference.train, **TRAIN_MINIBATCH), make_train, loop=True),
    Case("train(sgd, log_loss, bias, batch 1)", _train(gdfast.train, **TRAIN_LOG_LOSS),
         _train(reference.train, **TRAIN_LOG_LOSS), make_train_labels, loop=True),
    Case("train(adam, hinge, bias, full batch)", _train(gdfast.train, **TRAIN_HINGE),
         _train(reference.train, **TRAIN_HINGE), make_train_labels, loop=True),
    Case("train(sgd, squared_epsilon_insensitive, batch 1)", _train(gdfast.train, **TRAIN_INSENSITIVE),
         _train(reference.train, **TRAIN_INSENSITIVE), make_train, loop=True),
]
CASE_IDS = [c.name for c in CASES]


def assert_equivalent(case, actual, desired, dtype, scale):
    dtype = np.dtype(dtype)
    if case.loop:
        # The absolute floor of a loop scales with the problem: the result's largest entry.
        finite = np.asarray(desired)[np.isfinite(desired)]
        rtol, atol = RTOL_LOOP[dtype], ATOL_LOOP[dtype] * max(1.0, float(np.max(np.abs(finite), initial=0.0)))
    else:
        rtol, atol = RTOL[dtype], RTOL[dtype] * scale
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=case.name)


def _seed(*parts):
    """A generator seeded from the test's parameters (crc32: stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


# --- dtype x layout x shape ----------------------------------------------------------------------

def _matrix():
    """case x dtype x layout x shape; the iterating train cases on three layouts and small shapes."""
    for case in CASES:
        for dtype in DTYPES:
            for layout in LAYOUTS:
                for shape in SHAPES:
                    if case.loop and (layout not in ("C", "F", "negative") or np.prod(shape) > 5000):
                        continue
                    yield pytest.param(case, dtype, layout, shape, id="-".join(
                        [case.name, np.dtype(dtype).name, layout, "x".join(map(str, shape))]))


@pytest.mark.parametrize("case,dtype,layout,shape", list(_matrix()))
def test_kernel_equals_reference(case, dtype, layout, shape):
    rng = _seed(case.name, np.dtype(dtype).name, shape)
    args, kwargs, scale = case.make(rng, shape, dtype)
    laid = tuple(in_layout(a, layout) if isinstance(a, np.ndarray) else a for a in args)
    for a, b in zip(args, laid):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in laid]
    actual = case.kernel(*laid, **kwargs)
    desired = case.ref(*args, **kwargs)  # the reference sees plain C arrays
    assert_equivalent(case, actual, desired, dtype, scale)
    if isinstance(desired, np.ndarray):
        assert np.asarray(actual).dtype == np.dtype(dtype), "output dtype must be the input dtype"
        assert np.asarray(actual).shape == desired.shape
    else:
        assert type(actual) is float and type(desired) is float
    for before, after in zip(copies, laid):  # inputs are never modified
        if isinstance(before, np.ndarray):
            np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("case", [c for c in CASES if not c.loop], ids=[c.name for c in CASES if not c.loop])
def test_float32_agrees_with_float64(case):
    """The float32 kernels (accumulating in double) agree with the float64 ones to float32 accuracy."""
    shape = (17, 13, 29)
    a64, kw, scale = case.make(np.random.default_rng(7), shape, np.float64)
    a32 = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in a64)
    kw32 = {k: (np.float32(v) if isinstance(v, np.floating) else v) for k, v in kw.items()}
    r32, r64 = case.kernel(*a32, **kw32), case.kernel(*a64, **kw)
    # Inputs rounded to float32 (relative 6e-8) and outputs rounded once more: 1e-5 is ample.
    np.testing.assert_allclose(r32, r64, rtol=1e-5, atol=1e-5 * max(scale, 1.0), err_msg=case.name)


# --- dtype promotion -----------------------------------------------------------------------------

def _converted(args, kind):
    out = []
    for a in args:
        if not isinstance(a, np.ndarray):
            out.append(a)
        elif kind == "int":
            out.append(np.round(a * 3).astype(np.int32))
        elif kind == "uint8":
            out.append(np.abs(np.round(a * 3)).astype(np.uint8))
        elif kind == "bool":
            out.append(a > 0)
        elif kind == "list":
            out.append(a.tolist())
    return tuple(out)


@pytest.mark.parametrize("kind", ["int", "uint8", "bool", "list"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_integer_bool_and_list_input_computes_in_float64(case, kind):
    args, kwargs, _ = case.make(np.random.default_rng(3), (3, 4, 5), np.float64)
    args = _converted(args, kind)
    if case.name.startswith("update(out=)"):
        pytest.skip("out= must have the result's dtype; covered in test_validation")
    if case.loop and kind in ("bool", "uint8"):
        pytest.skip("a boolean or unsigned training problem is degenerate; int and list cover the loop")
    if case.make is make_train_labels and kind == "int":
        pytest.skip("3 * labels are not class labels (refused, naming Y); list covers the classification losses")
    actual = case.kernel(*args, **kwargs)
    desired = case.ref(*args, **kwargs)
    if isinstance(desired, np.ndarray):
        assert desired.dtype == np.float64
        assert np.asarray(actual).dtype == np.float64
    # the float64 answer of the float64 conversion of the same input
    f64 = tuple(np.asarray(a, dtype=np.float64) if isinstance(a, (np.ndarray, list)) else a for a in args)
    expected = case.ref(*f64, **kwargs)
    assert_equivalent(case, actual, expected, np.float64, 1e3)


@pytest.mark.parametrize("case", [c for c in CASES if c.make is not make_descend], ids=lambda c: c.name)
def test_mixed_float32_float64_gives_float64(case):
    args, kwargs, scale = case.make(np.random.default_rng(4), (3, 4, 5), np.float64)
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    if len(arrays) < 2:
        pytest.skip("one array argument: nothing to mix")
    mixed = list(args)
    mixed[arrays[0]] = mixed[arrays[0]].astype(np.float32)  # first array float32, the rest float64
    promoted = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in mixed)
    actual = case.kernel(*mixed, **kwargs)
    expected = case.ref(*promoted, **kwargs)
    if isinstance(expected, np.ndarray):
        assert np.asarray(actual).dtype == np.float64
    assert_equivalent(case, actual, expected, np.float64, scale)


def test_float16_computes_in_float32():
    W = np.ones((2, 3), np.float16)
    assert gdfast.predict(W, np.ones(3, np.float16)).dtype == np.float32


def test_update_python_scalar_keeps_float32():
    """A Python float is 'weak' (NumPy's rule): float32 W stays float32."""
    W = np.ones((2, 2), np.float32)
    assert gdfast.update(W, 0.5, 0.1).dtype == np.float32
    assert reference.update(W, 0.5, 0.1).dtype == np.float32
    assert gdfast.update(W, np.float64(0.5), 0.1).dtype == np.float64


# --- Raises exactly when the reference raises ---------------------------------------------------

def _bad_variants(args):
    """(label, index, bad value) for each array argument: the bottleneck-style zoo of wrong inputs."""
    for i, a in enumerate(args):
        if not isinstance(a, np.ndarray):
            continue
        f = a.astype(np.float64)
        variants = {
            "nan": np.where(np.arange(f.size).reshape(f.shape) == f.size // 2, np.nan, f),
            "inf": np.where(np.arange(f.size).reshape(f.shape) == 0, -np.inf, f),
            "empty": f.reshape(-1)[:0],
            "0-d": np.float64(1.0),
            "3-D": f.reshape((1,) + f.shape + (1,)) if f.ndim else f,
            "wrong length": np.concatenate([f.reshape(-1), [1.0]]),
            "transposed": f.T if f.ndim == 2 and f.shape[0] != f.shape[1] else f.reshape(-1)[:-1] if f.size > 1 else f[:0],
            "complex": f.astype(np.complex128),
            "object": f.astype(object),
            "string": f.astype(str),
            "ragged": [[1.0, 2.0], [3.0]],
            "None": None,
        }
        for label, bad in variants.items():
            yield label, i, bad


def _outcome(fn, args, kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return type(exc)
    return None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_raises_exactly_when_reference_raises(case):
    args, kwargs, _ = case.make(np.random.default_rng(5), (3, 4, 5), np.float64)
    checked = 0
    for label, i, bad in _bad_variants(args):
        bad_args = list(args)
        bad_args[i] = bad
        k = _outcome(case.kernel, bad_args, kwargs)
        r = _outcome(case.ref, bad_args, kwargs)
        assert k is r, f"{case.name}, argument {i} {label}: kernel -> {k}, reference -> {r}"
        assert k is None or issubclass(k, (ValueError, TypeError)), f"{case.name} {label}: {k}"
        checked += k is not None
    assert checked >= 8  # the zoo really exercised the error paths


# --- Property-based (hypothesis) ------------------------------------------------------------------

def _float_arrays(dtype, shape):
    width = 32 if dtype == np.float32 else 64
    return hnp.arrays(dtype, shape, elements=st.floats(-1e3, 1e3, width=width, allow_subnormal=False))


@st.composite
def problems(draw, single=None):
    dtype = draw(st.sampled_from(DTYPES))
    m = draw(st.integers(1, 12))
    n = draw(st.integers(1, 40))
    s = draw(st.integers(1, 30))
    one = draw(st.booleans()) if single is None else single
    W = draw(_float_arrays(dtype, (m, n)))
    X = draw(_float_arrays(dtype, (n,) if one else (s, n)))
    Y = draw(_float_arrays(dtype, (m,) if one else (s, m)))
    layout = draw(st.sampled_from(LAYOUTS))
    return dtype, W, X, Y, layout


def assert_close_at_scale(actual, desired, dtype, scale):
    """Equal up to RTOL[dtype] relative to the values and to ``scale``, the size of the terms summed
    (cancellation can leave a result far smaller than its terms). + tiny: below float32's smallest
    normal number the float32 reference loses digits (subnormals)."""
    rtol = RTOL[np.dtype(dtype)]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale + np.finfo(dtype).tiny)


@given(problems())
def test_property_predict(problem):
    dtype, W, X, _, layout = problem
    actual = gdfast.predict(in_layout(W, layout), in_layout(X, layout))
    desired = reference.predict(W, X)
    scale = float(np.max(_predict_scale(W, X)))
    assert actual.dtype == dtype and actual.shape == desired.shape
    assert_close_at_scale(actual, desired, dtype, scale)


@given(problems())
def test_property_mse_gradient(problem):
    dtype, W, X, Y, layout = problem
    actual = gdfast.mse_gradient(in_layout(W, layout), in_layout(X, layout), in_layout(Y, layout))
    desired = reference.mse_gradient(W, X, Y)
    X2, Y2 = np.atleast_2d(X).astype(np.float64), np.atleast_2d(Y).astype(np.float64)
    scale = float(np.max(2.0 / Y2.size * (_predict_scale(W, X2) + np.abs(Y2)).T @ np.abs(X2)))
    assert actual.dtype == dtype and actual.shape == W.shape
    assert_close_at_scale(actual, desired, dtype, scale)


@given(problems())
def test_property_mse(problem):
    dtype, _, X, _, layout = problem
    other = X[::-1].copy()
    actual = gdfast.mse(in_layout(X, layout), in_layout(other, layout))
    desired = reference.mse(X, other)
    assert type(actual) is float
    # The float32 reference squares in float32: anything below float32's smallest normal number
    # underflows there, while the kernel squares in double. That is the absolute floor.
    np.testing.assert_allclose(actual, desired, rtol=RTOL[np.dtype(dtype)], atol=np.finfo(dtype).tiny)


@given(problems(), st.floats(1e-6, 10.0))
def test_property_update(problem, lr):
    dtype, W, _, _, layout = problem
    G = W[::-1, ::-1].copy()
    actual = gdfast.update(in_layout(W, layout), in_layout(G, layout), lr)
    desired = reference.update(W, G, lr)
    assert actual.dtype == dtype
    scale = float(np.max(np.abs(W)) * (1 + lr))
    np.testing.assert_allclose(actual, desired, rtol=RTOL[np.dtype(dtype)], atol=RTOL[np.dtype(dtype)] * scale)


@given(st.floats(-50, 50), st.floats(0.01, 5), st.floats(-5, 5), st.floats(1e-3, 0.4), st.integers(0, 60),
       st.sampled_from([float, np.float32]))
def test_property_descend_quadratic(x0, a, b, lr, n, scalar_type):
    x0 = scalar_type(x0)
    f = gdfast.Quadratic(a, b, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # growing float32 paths may overflow
        fast = gdfast.descend(f.gradient, x0, learning_rate=lr, num_iterations=n, function=f)
        slow = reference.descend(f.gradient, x0, learning_rate=lr, num_iterations=n, function=f)
    # A scalar path is the same arithmetic in the same order as the Python loop (x**2 is libm's
    # pow, as for Python and NumPy scalars), so it is equal to the bit, up to the same last point.
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_array_equal(fast.f, slow.f)
    assert fast.n_iter == slow.n_iter and fast.diverged == slow.diverged
    assert fast.n_iter == n or fast.diverged


# The normalising optimizers step by lr * g / (sqrt(v) + eps): where a gradient coordinate is ~eps
# (hypothesis finds exact cancellations) that amplifies the gradient's rounding by lr / eps = 1e6,
# an ill-conditioning of the algorithm, not a kernel error. eps = 1e-3 keeps the amplification ~10;
# the default eps is compared on generic random data in test_train.py.
PROPERTY_OPTIMIZERS = [gdfast.SGD(momentum=0.5), gdfast.Adam(eps=1e-3), gdfast.AdamW(eps=1e-3),
                       gdfast.RMSprop(eps=1e-3), gdfast.Adagrad(eps=1e-3)]


@given(problems(single=False), st.sampled_from(PROPERTY_OPTIMIZERS),
       st.sampled_from(["mse", "mae", "huber"]), st.booleans())
def test_property_train(problem, optimizer, loss, fit_intercept):
    dtype, W, X, Y, layout = problem
    # scale the data to O(1) so a fixed learning rate is stable for every draw
    X = (X / (1.0 + np.max(np.abs(X)))).astype(dtype)
    Y = (Y / (1.0 + np.max(np.abs(Y)))).astype(dtype)
    W = (W / (1.0 + np.max(np.abs(W)))).astype(dtype)
    if loss != "mse":
        # float32: the reference rounds residuals in float32 (~1e-7 of their terms), so a residual
        # that passes within that of a kink takes the other subgradient there; on hypothesis's
        # structured draws that happens. Float32 mae/huber are compared on generic data in test_train.
        assume(dtype == np.float64)
        # At a kink (residual exactly 0 for mae, +-delta for huber) the subgradient jumps, and
        # whether the rounded residual is +1e-17 or 0 depends on summation order (BLAS may use FMA,
        # the kernel does not): a tie-break, not a bug. Hypothesis loves exact ties (small integers
        # that make residuals cancel exactly, at the start or later along the path); a fixed,
        # generic jitter of the data and a margin at the start keep the draws off the kinks.
        X = (X + 1e-3 * np.sin(1.0 + np.arange(X.size)).reshape(X.shape)).astype(dtype)
        Y = (Y + 1e-3 * np.cos(1.0 + np.arange(Y.size)).reshape(Y.shape)).astype(dtype)
        a = np.abs(X.astype(np.float64) @ W.astype(np.float64).T - Y)
        assume(a.min() > 1e-6 and (loss == "mae" or np.abs(a - 1.0).min() > 1e-6))
    opts = dict(learning_rate=0.01, num_iterations=20, optimizer=optimizer, loss=loss,
                fit_intercept=fit_intercept, seed=1)
    fast = gdfast.train(in_layout(W, layout), in_layout(X, layout), in_layout(Y, layout), **opts)
    slow = reference.train(W, X, Y, **opts)
    d = np.dtype(dtype)
    assert fast.W.dtype == d
    # absolute floors at each quantity's own scale (a loss that falls from 2 to 0.03 keeps the
    # absolute rounding of its start)
    for a, b in ((fast.W, slow.W), (fast.losses, slow.losses)) + (((fast.b, slow.b),) if fit_intercept else ()):
        np.testing.assert_allclose(a, b, rtol=RTOL_LOOP[d], atol=ATOL_LOOP[d] * max(1.0, float(np.max(np.abs(b)))))


# NumPy's own overflow warnings of the Python loop (reference path) are not what is tested here.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("x0", [10.0, np.float32(7.0), np.array([1.0, 5.0, -3.0]), np.array([1.0, 2.0], np.float32)],
                         ids=["float", "float32 scalar", "float64 array", "float32 array"])
@pytest.mark.parametrize("with_function", [False, True])
def test_descend_divergence_equals_reference(x0, with_function):
    """lr = 50 on x**2 + 4x + 4 multiplies the distance to the minimum by 99 per step: both paths
    stop at the same last finite point, flag it and warn."""
    f = gdfast.Quadratic(1.0, 4.0, 4.0)
    kw = dict(learning_rate=50.0, num_iterations=400, function=f if with_function else None)
    with pytest.warns(RuntimeWarning, match="left the finite numbers"):
        fast = gdfast.descend(f.gradient, x0, **kw)
    with pytest.warns(RuntimeWarning, match="left the finite numbers"):
        slow = reference.descend(f.gradient, x0, **kw)
    assert fast.diverged and slow.diverged and 0 < fast.n_iter == slow.n_iter < 400
    np.testing.assert_array_equal(fast.x, slow.x)
    assert np.isfinite(fast.x).all() and fast.x.dtype == slow.x.dtype
    if with_function:
        np.testing.assert_array_equal(fast.f, slow.f)
