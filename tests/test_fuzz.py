"""Fuzz of the public API against ``gdfast.reference`` (issue 7), driven by hypothesis.

Every call gets random shapes (0, mismatched), dtypes (every NumPy kind, byte-swapped, float16,
longdouble, complex, object, strings, datetime), layouts (C, F, strided, negative strides, zero-stride
broadcast views, read-only, unaligned), values (NaN, inf, 1e308, denormals, -0.0) and parameters
(0, negative, NaN, huge, wrong types). The property checked on each example:

* gdfast and the reference either both return, with the same answer (tolerances below), or both raise
  the same exception type;
* every ValueError/TypeError names one of the call's arguments in its message, and nothing else
  escapes (no KeyError, OverflowError, IndexError... and of course no crash);
* a non-finite result from finite inputs comes with a RuntimeWarning (never a silent NaN/inf);
* the caller's arrays are never modified (except ``out=``).

Tolerances. One-shot kernels (predict, mse_gradient) sum in double in their own order while NumPy
uses BLAS: the error of either is bounded by ``eps * n * sum |terms|``, so the check is
``|got - expected| <= RTOL[dtype] * bound + atol`` where ``bound`` is that sum of magnitudes (computed
in float64 from the inputs; RTOL is conftest's) and atol a few denormals (float32 products that
underflow in the reference but not in the kernel's double). When ``bound`` exceeds the dtype's range
the result depends on the summation order (one order overflows, another does not): then only
dtype/shape and the "non-finite => RuntimeWarning" rule are checked. ``update`` and the compiled
``descend`` path claim NumPy's / Python's arithmetic exactly and are compared bit for bit. ``train``
uses conftest's RTOL_LOOP / ATOL_LOOP on the whole trajectory (scaled by the run's magnitude);
runs that overflow ("diverged" in either) must both stay finite and flag it. Runs whose update is
sign-like (MAE; Adam/AdamW/RMSprop/Adagrad; Huber or clipped runs where gradient descent is unstable or
the iterates' rounding exceeds delta) compare the start loss and the invariants only: there the sign of
a gradient that is zero in exact arithmetic depends on summation order and decides whole steps (found by
the long profile; see ``compare_train``).

Profiles. The normal suite runs a fixed-seed (derandomized) profile of a few hundred examples in all.
The long profile: ``GDFAST_FUZZ_EXAMPLES=100000 python -m pytest tests/test_fuzz.py`` spreads that many
examples over the tests below (weights in ``_WEIGHTS``) with a random seed; add
``--hypothesis-show-statistics`` to see the per-test counts.
"""
from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gdfast  # noqa: E402
from gdfast import reference as ref  # noqa: E402
from gdfast import optimizers as opt_mod, schedules as sch_mod  # noqa: E402

from conftest import ATOL_LOOP, RTOL, RTOL_LOOP  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------
_TOTAL = int(os.environ.get("GDFAST_FUZZ_EXAMPLES", "0") or 0)
_LONG = _TOTAL > 0
# Share of the long profile's examples per test, and the fixed count of the normal suite.
_WEIGHTS = {"predict": 0.16, "mse": 0.12, "mse_gradient": 0.14, "update": 0.16, "descend": 0.1,
            "train": 0.2, "sweep": 0.04, "classes": 0.08}
_CI = {"predict": 150, "mse": 150, "mse_gradient": 150, "update": 200, "descend": 100,
       "train": 150, "sweep": 25, "classes": 150}


def fuzz_settings(name):
    n = max(1, int(_TOTAL * _WEIGHTS[name])) if _LONG else _CI[name]
    return settings(
        max_examples=n, deadline=None, derandomize=not _LONG, database=None,
        suppress_health_check=list(HealthCheck), print_blob=True,
    )


# ---------------------------------------------------------------------------------------------
# Inputs: an "array spec" is drawn once and materialised into fresh objects for every call, so the
# gdfast call, the reference call and the untouched copy never share memory.
# ---------------------------------------------------------------------------------------------
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-308, 5e-324, 1e-40, 1e-45, 1e308, -1e308, 3e38, -3e38,
           65504.0, 1e5, float("nan"), float("inf"), -float("inf")]
MODERATE = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False)
KINDS = ["f8", "f8", "f8", "f4", "f4", "f2", ">f8", ">f4", "i8", "i4", "u1", "i1", "b", "g", "c16",
         "O", "U", "S", "M8[s]", "m8[s]", "V", "list", "list_ragged"]
LAYOUTS = ["C", "C", "F", "strided", "reversed", "broadcast", "readonly", "unaligned", "matrix"]


@st.composite
def values_for(draw, size, clean=False):
    """``size`` float64 values: mostly moderate, sometimes special (NaN, inf, huge, denormal, -0)."""
    modes = ["moderate", "moderate", "ints"] if clean else ["moderate", "ints", "special", "special", "constant"]
    mode = draw(st.sampled_from(modes))
    if mode == "moderate":
        return np.array(draw(st.lists(MODERATE, min_size=size, max_size=size)), dtype=np.float64)
    if mode == "ints":
        return np.array(draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size)), dtype=np.float64)
    if mode == "constant":
        return np.full(size, draw(st.sampled_from(SPECIAL + [0.25, 3.0])))
    vals = draw(st.lists(st.one_of(MODERATE, st.sampled_from(SPECIAL)), min_size=size, max_size=size))
    return np.array(vals, dtype=np.float64)


@st.composite
def array_spec(draw, shape, kind=None, layout=None, clean=False):
    size = int(np.prod(shape)) if shape else 1
    return dict(
        shape=tuple(shape), values=draw(values_for(size, clean)),
        kind=kind if kind is not None else draw(st.sampled_from(KINDS)),
        layout=layout if layout is not None else draw(st.sampled_from(LAYOUTS)),
    )


def materialize(spec):
    """A fresh object (array, list, ...) from an array spec."""
    if not (isinstance(spec, dict) and "values" in spec and "layout" in spec):
        return spec
    shape, vals, kind, layout = spec["shape"], spec["values"], spec["kind"], spec["layout"]
    base = vals.reshape(shape)
    if kind == "list":
        return base.tolist()
    if kind == "list_ragged":
        return [[1.0, 2.0], [3.0]] if base.ndim != 1 else [[1.0], 2.0]
    with np.errstate(all="ignore"):
        if kind == "V":
            a = np.zeros(shape, dtype="V8")
        elif kind in ("U", "S"):
            a = base.astype(kind)
        elif kind.startswith(("M8", "m8")):
            a = np.where(np.isfinite(base), base, 0).astype(np.int64).astype(kind)
        elif kind in ("i8", "i4", "u1", "i1"):
            a = np.where(np.isfinite(base), np.clip(base, -100, 100), 0).astype(kind)
        elif kind == "b":
            a = base != 0
        elif kind == "O":
            a = base.astype(object)
        else:
            a = base.astype(kind)
    if a.ndim == 0 or layout == "C":
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.empty(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "reversed":
        big = a[tuple(slice(None, None, -1) for _ in a.shape)].copy()
        return big[tuple(slice(None, None, -1) for _ in a.shape)]
    if layout == "broadcast":
        # A zero-stride view: broadcast the first row (or element) to the whole shape.
        first = a[(0,) * (a.ndim - 1)] if a.size else a.reshape(-1)[:0]
        if a.size == 0:
            return a
        return np.broadcast_to(first if a.ndim > 1 else a[:1], a.shape)
    if layout == "readonly":
        a.setflags(write=False)
        return a
    if layout == "unaligned":
        if a.dtype.kind not in "fiub" or a.dtype.itemsize < 2:
            return a
        buf = np.empty(a.nbytes + 1, dtype=np.uint8)
        u = np.frombuffer(buf[1:].data, dtype=a.dtype, count=a.size).reshape(a.shape)
        u[...] = a
        return u
    if layout == "matrix":  # an ndarray subclass
        if a.ndim == 2 and a.dtype.kind in "biuf":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                return np.asmatrix(a)
        return a
    raise AssertionError(layout)


def float_view(spec):
    """The spec's numbers as float64 (for error bounds), or None if it is not numeric."""
    obj = materialize(spec)
    try:
        with np.errstate(all="ignore"):
            a = np.asarray(obj)
            if a.dtype.kind not in "biuf":
                return None
            return np.asarray(a, dtype=np.float64)
    except (ValueError, TypeError):
        return None


def snapshot(obj):
    if isinstance(obj, np.ndarray):
        return ("array", obj.copy(), obj.dtype, obj.shape, obj.strides)
    return ("other", repr(obj))


def unchanged(obj, snap):
    if snap[0] == "array":
        return obj.dtype == snap[2] and obj.shape == snap[3] and obj.tobytes() == snap[1].tobytes()
    return repr(obj) == snap[1]


# ---------------------------------------------------------------------------------------------
# Calling and comparing
# ---------------------------------------------------------------------------------------------
ESCAPES_OK = (ValueError, TypeError)


def call(func, *args, **kwargs):
    """('ok', value, warnings) or ('err', exception, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with np.errstate(all="warn"):
                value = func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the property is about which exception
            return "err", exc, caught
    return "ok", value, caught


def runtime_warned(caught):
    return any(issubclass(w.category, RuntimeWarning) for w in caught)


def check_error(err, ref_outcome, arg_names):
    """gdfast raised ``err``: the reference must raise the same type; a Value/TypeError names an argument."""
    if ref_outcome is not None:
        kind, value, _ = ref_outcome
        assert kind == "err", f"gdfast raised {err!r} but the reference returned"
        assert type(err) is type(value), f"gdfast raised {err!r}, the reference {value!r}"
    assert isinstance(err, ESCAPES_OK), f"unexpected exception type {err!r}"
    msg = str(err)
    assert any(re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", msg) for n in arg_names), (
        f"message does not name an argument of {arg_names}: {msg!r}"
    )


def both(func_fast, func_ref, arg_names, *args_specs, **kw_specs):
    """Call gdfast and the reference on fresh copies; check errors; return the two outcomes."""
    args = [materialize(s) for s in args_specs]
    kwargs = {k: materialize(v) for k, v in kw_specs.items()}
    snaps = [snapshot(a) for a in args] + [snapshot(v) for k, v in kwargs.items() if k != "out"]
    fast = call(func_fast, *args, **kwargs)
    inputs = args + [v for k, v in kwargs.items() if k != "out"]
    for obj, snap in zip(inputs, snaps):
        assert unchanged(obj, snap), "gdfast modified an input array"
    slow = call(func_ref, *[materialize(s) for s in args_specs],
                **{k: materialize(v) for k, v in kw_specs.items()})
    event(f"{fast[0]} {type(fast[1]).__name__ if fast[0] == 'err' else ''}")
    if fast[0] == "err":
        check_error(fast[1], slow, arg_names)
    else:
        assert slow[0] == "ok", f"the reference raised {slow[1]!r} but gdfast returned {fast[1]!r}"
    return fast, slow, kwargs


def check_finite_or_warned(value, caught, what):
    if not np.all(np.isfinite(value)):
        assert runtime_warned(caught), f"{what}: non-finite result without a RuntimeWarning"


def result_dtype(*float_arrays):
    dt = np.result_type(*float_arrays)
    return np.dtype(np.float64) if dt.kind in "biu" else (np.dtype(np.float32) if dt == np.float16 else dt)


def assert_bounded(got, exp, bound, dtype, n_terms, what):
    """|got - exp| <= RTOL * bound + atol, elementwise (see the module docstring)."""
    got = np.asarray(got, dtype=np.float64)
    exp = np.asarray(exp, dtype=np.float64)
    atol = 4 * (n_terms + 1) * float(np.finfo(dtype).smallest_subnormal)
    same_special = (np.isinf(got) & (got == exp)) | (np.isnan(got) & np.isnan(exp))
    with np.errstate(all="ignore"):
        err = np.where(same_special, 0.0, np.abs(got - exp))
    limit = RTOL[np.dtype(dtype)] * bound + atol
    assert np.all(err <= limit), f"{what}: got {got}, expected {exp} (bound {bound})"


def overflowing(bound, dtype):
    return not np.all(np.isfinite(bound)) or np.max(bound, initial=0.0) > np.finfo(dtype).max / 16


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------
dims = st.integers(1, 4)
bad_dims = st.sampled_from([0, 1, 2, 3, 5])


@st.composite
def linear_shapes(draw, with_y, clean=False):
    """(W shape, X shape, Y shape): consistent most of the time, otherwise mutated."""
    m, n, k = draw(dims), draw(dims), draw(st.integers(1, 5))
    single = draw(st.booleans())
    w, x = (m, n), ((n,) if single else (k, n))
    y = (m,) if single else (k, m)
    if not clean and draw(st.integers(0, 1)) == 0:  # mutate one shape
        which = draw(st.sampled_from(["w", "x", "y"] if with_y else ["w", "x"]))
        new = tuple(draw(st.lists(bad_dims, min_size=0, max_size=3)))
        w, x, y = (new if which == "w" else w), (new if which == "x" else x), (new if which == "y" else y)
    return w, x, y


NUMERIC_KIND = st.sampled_from(["f8", "f8", "f4", "f2", ">f8", ">f4", "i8", "u1", "b"])
ANY_KIND = st.sampled_from(KINDS)


@st.composite
def kind_choice(draw, clean=False):
    return draw(NUMERIC_KIND) if clean or draw(st.integers(0, 2)) else draw(ANY_KIND)


# Each example is "clean" (valid inputs of every kind and layout: the answers get compared) about
# two times in three, else anything goes (the errors get compared).
CLEAN = st.integers(0, 2).map(bool)


# ---------------------------------------------------------------------------------------------
# predict / mse / mse_gradient / update
# ---------------------------------------------------------------------------------------------
def draw_linear_specs(data, with_y):
    """Array specs W, X (and Y with ``with_y``) of a linear layer's shapes, each of its own kind."""
    clean = data.draw(CLEAN)
    shapes = data.draw(linear_shapes(with_y, clean))[:3 if with_y else 2]
    return [data.draw(array_spec(shape, data.draw(kind_choice(clean)), clean=clean)) for shape in shapes]


def compare_arrays(name, arg_names, *specs):
    """gdfast.<name> against the reference on the specs: None when both raised (errors compared),
    else (got, exp) of the same shape and dtype, got finite unless a RuntimeWarning said so."""
    fast, slow, _ = both(getattr(gdfast, name), getattr(ref, name), arg_names, *specs)
    if fast[0] == "err":
        return None
    got, exp = fast[1], slow[1]
    assert got.shape == exp.shape and got.dtype == exp.dtype
    check_finite_or_warned(got, fast[2], name)
    return got, exp


@fuzz_settings("predict")
@given(st.data())
def test_fuzz_predict(data):
    W, X = draw_linear_specs(data, with_y=False)
    compared = compare_arrays("predict", ["W", "X"], W, X)
    if compared is None:
        return
    got, exp = compared
    w, x = float_view(W), float_view(X)
    # an array; a NumPy scalar for one 1-D sample of a 1-D W (one output), as NumPy's w @ x
    assert type(got) is np.ndarray or (w.ndim == x.ndim == 1 and isinstance(got, np.generic))
    with np.errstate(all="ignore"):
        bound = np.abs(x) @ np.abs(w).T if x.ndim == 2 else np.abs(w) @ np.abs(x)
    if not overflowing(bound, got.dtype):
        assert_bounded(got, exp, bound, got.dtype, w.shape[-1], "predict")


@fuzz_settings("mse")
@given(st.data())
def test_fuzz_mse(data):
    clean = data.draw(CLEAN)
    shape = tuple(data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    other = shape if data.draw(st.integers(0, 4)) else tuple(data.draw(st.lists(st.integers(0, 4), max_size=3)))
    P = data.draw(array_spec(shape, data.draw(kind_choice(clean)), clean=clean))
    T = data.draw(array_spec(other, data.draw(kind_choice(clean)), clean=clean))
    if data.draw(st.integers(0, 9)) == 0:  # plain Python scalars
        P, T = float(P["values"].reshape(-1)[0]) if P["values"].size else 1.0, 2
    fast, slow, _ = both(gdfast.mse, ref.mse, ["prediction", "target"], P, T)
    if fast[0] == "err":
        return
    got, exp = fast[1], slow[1]
    assert type(got) is float
    check_finite_or_warned(got, fast[2], "mse")
    p, t = np.atleast_1d(float_view(P)), np.atleast_1d(float_view(T))
    dtype = result_dtype(np.asarray(materialize(P)), np.asarray(materialize(T)))
    with np.errstate(all="ignore"):
        peak = np.max((np.abs(p) + np.abs(t)) ** 2)
    if not overflowing(peak, dtype):
        # A mean of non-negative terms: relative error ~ eps * log(n), no cancellation.
        assert_bounded(got, exp, abs(exp), dtype, p.size, "mse")


@fuzz_settings("mse_gradient")
@given(st.data())
def test_fuzz_mse_gradient(data):
    W, X, Y = draw_linear_specs(data, with_y=True)
    compared = compare_arrays("mse_gradient", ["W", "X", "Y"], W, X, Y)
    if compared is None:
        return
    got, exp = compared
    # (a 1-D W is one output: its Y has no outputs' axis)
    w, x = np.atleast_2d(float_view(W)), np.atleast_2d(float_view(X))
    y = float_view(Y).reshape(x.shape[0], w.shape[0])
    with np.errstate(all="ignore"):
        r_bound = np.abs(x) @ np.abs(w).T + np.abs(y)
        g_unscaled = 2 * (r_bound.T @ np.abs(x))
    if not (overflowing(r_bound, got.dtype) or overflowing(g_unscaled, got.dtype)):
        assert_bounded(got, exp, (g_unscaled / y.size).reshape(got.shape), got.dtype, x.size, "mse_gradient")


GOOD_LR = st.sampled_from([0.1, 0.5, 1.0, 1e-3, 3, np.float32(0.25), np.float64(0.1), 1e308, 5e-324, 1e30])
LEARNING_RATES = st.one_of(
    GOOD_LR,
    st.sampled_from([0, 0.0, -0.1, -1, float("nan"), float("inf"), -float("inf"), "0.1", None, True,
                     np.bool_(True), [0.1], np.array([0.1]), 1j, 10**400]),
)


@fuzz_settings("update")
@given(st.data())
def test_fuzz_update(data):
    clean = data.draw(CLEAN)
    shape = tuple(data.draw(st.lists(st.integers(1 if clean else 0, 4), min_size=1 if clean else 0, max_size=3)))
    W = data.draw(array_spec(shape, data.draw(kind_choice(clean)), clean=clean))
    g_mode = data.draw(st.sampled_from(["same", "same", "scalar", "pyscalar"] + ([] if clean else ["other"])))
    if g_mode == "same":
        G = data.draw(array_spec(shape, data.draw(kind_choice(clean)), clean=clean))
    elif g_mode == "scalar":
        G = data.draw(array_spec((), data.draw(kind_choice(clean)), "C", clean=clean))
    elif g_mode == "pyscalar":
        G = data.draw(st.sampled_from([1, 0.5, -2.0, 1e308] + ([] if clean else [float("nan"), True, 10**400])))
    else:
        G = data.draw(array_spec(tuple(data.draw(st.lists(st.integers(0, 4), max_size=3))),
                                 data.draw(kind_choice(clean))))
    lr = data.draw(GOOD_LR if clean else LEARNING_RATES)
    out_mode = data.draw(st.sampled_from(["none", "none", "fresh", "W", "G", "strided"] + (
        [] if clean else ["wrong_dtype", "wrong_shape", "readonly", "list"])))
    kw = {}
    if out_mode != "none":
        kw["out"] = dict(mode=out_mode, W=W, G=G)

    def run(func):
        w, g = materialize(W), materialize(G)
        out = None
        if out_mode == "W":
            out = w
        elif out_mode == "G":
            out = g
        elif out_mode != "none":
            dt, shp = np.dtype(np.float64), ()
            try:  # the result's dtype and shape when they exist (else out is just some array)
                wa = np.asarray(w)
                shp = wa.shape
                weak = isinstance(g, (int, float)) and not isinstance(g, bool)
                dt = result_dtype(wa) if weak else result_dtype(wa, np.asarray(g))
            except (ValueError, TypeError):
                pass
            if out_mode == "fresh":
                out = np.zeros(shp, dtype=dt)
            elif out_mode == "wrong_dtype":
                out = np.zeros(shp, dtype=np.float16)
            elif out_mode == "wrong_shape":
                out = np.zeros(shp + (2,), dtype=dt)
            elif out_mode == "readonly":
                out = np.zeros(shp, dtype=dt)
                out.setflags(write=False)
            elif out_mode == "strided":
                out = np.zeros(tuple(2 * s for s in shp), dtype=dt)[tuple(slice(None, None, 2) for _ in shp)]
            else:
                out = np.zeros(shp).tolist()
        snap_w = snapshot(w) if out_mode != "W" else None
        snap_g = snapshot(g) if out_mode != "G" else None
        res = call(func, w, g, lr, **({} if out_mode == "none" else {"out": out}))
        return res, out, (w, snap_w), (g, snap_g)

    fast, out_f, (wf, sw), (gf, sg) = run(gdfast.update)
    event(f"{fast[0]} {type(fast[1]).__name__ if fast[0] == 'err' else ''}")
    for obj, snap in ((wf, sw), (gf, sg)):
        if snap is not None:
            assert unchanged(obj, snap), "update modified an input that is not out"
    slow, out_s, _, _ = run(ref.update)
    names = ["W", "G", "learning_rate", "out"]
    if fast[0] == "err":
        check_error(fast[1], slow, names)
        return
    assert slow[0] == "ok", f"the reference raised {slow[1]!r}"
    got, exp = fast[1], slow[1]
    if out_mode != "none":
        assert got is out_f, "update(out=...) must return out itself"
    assert got.shape == exp.shape and got.dtype == exp.dtype
    # Documented as NumPy's own arithmetic: bit for bit (NaN where NumPy has NaN).
    np.testing.assert_array_equal(got, exp, strict=True)
    check_finite_or_warned(got, fast[2], "update")


# ---------------------------------------------------------------------------------------------
# descend
# ---------------------------------------------------------------------------------------------
COEFS = st.one_of(st.sampled_from([1.0, 0.5, -1.0, 0.0, 4.0, 1e308, -1e308, 5e-324, 3e38, 1e20]), MODERATE,
                  st.sampled_from([float("nan"), "1", None, True, 1j, 10**400]))


@fuzz_settings("descend")
@given(st.data())
def test_fuzz_descend(data):
    clean = data.draw(CLEAN)
    coefs = st.one_of(MODERATE, st.sampled_from([1.0, 0.5, -1.0, 0.0, 1e20, 1e308])) if clean else COEFS
    a, b, c = data.draw(coefs), data.draw(coefs), data.draw(coefs)
    quad_out = call(gdfast.Quadratic, a, b, c)
    quad_ref = call(gdfast.Quadratic, a, b, c)
    if quad_out[0] == "err":
        check_error(quad_out[1], quad_ref, ["a", "b", "c"])
        return
    q = quad_out[1]
    grad_kind = data.draw(st.sampled_from(["method", "method", "method", "lambda"] + (
        [] if clean else ["bad_shape", "bad_dtype", "not_callable"])))
    grad = {"method": q.gradient, "lambda": lambda x: q.gradient(x), "bad_shape": lambda x: np.zeros(7),
            "bad_dtype": lambda x: "slope", "not_callable": 5}[grad_kind]
    function = data.draw(st.sampled_from([None, q] + ([] if clean else ["bad"])))
    shape = data.draw(st.sampled_from([(), (), (1,), (3,)] + ([] if clean else [(0,), (2, 2)])))
    x0 = data.draw(array_spec(shape, data.draw(kind_choice(clean)), clean=clean))
    lr = data.draw(GOOD_LR if clean else LEARNING_RATES)
    n = data.draw(st.integers(0, 30)) if clean else data.draw(
        st.one_of(st.integers(0, 30), st.sampled_from([-1, 2.0, "3", None, True, 10**30, 2**70])))
    fast, slow, _ = both(gdfast.descend, ref.descend,
                         ["gradient", "x0", "learning_rate", "num_iterations", "function"],
                         grad, x0, learning_rate=lr, num_iterations=n, function=function)
    if fast[0] == "err":
        return
    got, exp = fast[1], slow[1]
    assert got.n_iter == exp.n_iter and got.diverged == exp.diverged
    assert got.x.dtype == exp.x.dtype and got.x.shape == exp.x.shape
    # The compiled path evaluates each expression in Python's order: bit-identical paths.
    np.testing.assert_array_equal(got.x, exp.x, strict=True)
    if exp.f is not None:
        assert got.f.dtype == exp.f.dtype and got.f.shape == exp.f.shape
        # Quadratic.__call__ computes x**2, which NumPy evaluates for scalars through pow (1 ulp off x*x
        # now and then, float32 and float64 alike); the kernel squares as x*x. Bound: RTOL * sum |terms|.
        x = exp.x.astype(np.float64)
        with np.errstate(all="ignore"):
            bound = abs(q.a) * x * x + abs(q.b) * np.abs(x) + abs(q.c)
        assert_bounded(got.f, exp.f, bound, got.f.dtype, 3, "descend f")
    assert np.isfinite(got.x).all()
    if got.diverged:
        assert runtime_warned(fast[2])


# ---------------------------------------------------------------------------------------------
# Optimizer and schedule classes
# ---------------------------------------------------------------------------------------------
HYPER = st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.999, 1.0, 1e-8, 2.0, 100, 5e-324, 1e308, -0.0]),
                  st.sampled_from([-0.1, -1, float("nan"), float("inf"), "0.9", None, True, 1j, [0.9], 10**400]))
CLASS_FIELDS = {
    opt_mod.SGD: ["momentum", "dampening", "nesterov", "weight_decay"],
    opt_mod.Adam: ["beta1", "beta2", "eps", "weight_decay", "amsgrad"],
    opt_mod.AdamW: ["beta1", "beta2", "eps", "weight_decay", "amsgrad"],
    opt_mod.RMSprop: ["alpha", "eps", "momentum", "centered", "weight_decay"],
    opt_mod.Adagrad: ["eps", "lr_decay", "weight_decay", "initial_accumulator_value"],
    sch_mod.ExponentialDecay: ["gamma"],
    sch_mod.StepDecay: ["step_size", "gamma"],
    sch_mod.InverseScaling: ["power_t"],
    sch_mod.CosineAnnealing: ["t_max", "eta_min"],
    sch_mod.Constant: [],
}
BOOL_FIELDS = {"nesterov", "amsgrad", "centered"}
INT_FIELDS = {"step_size", "t_max"}


@st.composite
def hyper_kwargs(draw, cls, valid_rate=3):
    kw = {}
    for name in CLASS_FIELDS[cls]:
        if not draw(st.booleans()):
            continue
        if draw(st.integers(0, valid_rate)):  # a plausible value
            if name in BOOL_FIELDS:
                kw[name] = draw(st.booleans())
            elif name in INT_FIELDS:
                kw[name] = draw(st.sampled_from([1, 3, 10, 1000]))
            elif name.startswith("beta"):
                kw[name] = draw(st.sampled_from([0.0, 0.5, 0.9, 0.999]))
            elif name in ("gamma",):
                kw[name] = draw(st.sampled_from([0.5, 0.9, 1.0]))
            elif name in ("alpha", "dampening"):
                kw[name] = draw(st.sampled_from([0.0, 0.5, 0.99]))
            elif name == "eps":
                kw[name] = draw(st.sampled_from([1e-8, 1e-3, 1.0]))
            else:
                kw[name] = draw(st.sampled_from([0.0, 0.1, 0.9, 2.0]))
        else:
            kw[name] = draw(HYPER)
    return kw


@fuzz_settings("classes")
@given(st.data())
def test_fuzz_optimizer_and_schedule_classes(data):
    cls = data.draw(st.sampled_from(sorted(CLASS_FIELDS, key=lambda c: c.__name__)))
    kw = data.draw(hyper_kwargs(cls, valid_rate=1))
    made = call(cls, **kw)
    if made[0] == "err":
        check_error(made[1], None, list(CLASS_FIELDS[cls]))
        return
    obj = made[1]
    for name in CLASS_FIELDS[cls]:
        v = getattr(obj, name)
        if v is None and name == "t_max":  # CosineAnnealing's default: spans the run
            continue
        assert isinstance(v, (bool, int, float)) and (isinstance(v, bool) or math.isfinite(v))
    if isinstance(obj, sch_mod.Schedule):
        t = data.draw(st.sampled_from([0, 1, 7, 10**6, 2**62]))
        lr = obj.resolved(2**62)(0.1, t)
        assert math.isfinite(lr) and lr >= 0
    else:
        assert obj.to_dict()["name"] == cls.__name__


# ---------------------------------------------------------------------------------------------
# train (against reference.train) and sweep (against gdfast.train, which it must equal bit for bit)
# ---------------------------------------------------------------------------------------------
TRAIN_ARGS = ["W", "X", "Y", "learning_rate", "num_iterations", "grad_tol", "record_every", "optimizer", "loss",
              "huber_delta", "fit_intercept", "batch_size", "shuffle", "seed", "num_epochs", "schedule",
              "loss_tol", "n_iter_no_change", "clip_norm", "sample_weight", "state", "progress", "initial_weights",
              "learning_rates", "seeds", "configs", "n_threads", "eps", "beta1", "beta2", "momentum",
              "updates", "n_samples", "alpha", "gamma"]
BAD = st.sampled_from([-1, float("nan"), float("inf"), "1", None, 1.5, True, [1], 1j, 10**30])


def maybe_bad(draw, good, bad_rate=12):
    return draw(BAD) if bad_rate and draw(st.integers(0, bad_rate)) == 0 else draw(good)


@st.composite
def train_options(draw, n_samples, clean=False):
    o = {}
    bad = 0 if clean else 4
    o["learning_rate"] = draw(st.one_of(st.sampled_from([1e-3, 0.01, 0.05, 0.1, 0.3]),
                                        st.sampled_from([1.0, 10.0, 1e10, 1e308]),
                                        GOOD_LR if clean else LEARNING_RATES)) if draw(st.integers(0, 6)) else 0.05
    if draw(st.integers(0, 5)) == 0:
        o["num_epochs"] = maybe_bad(draw, st.integers(0, 4), bad)
        if not clean and draw(st.integers(0, 8)) == 0:
            o["num_iterations"] = 3  # both given: an error
    else:
        o["num_iterations"] = maybe_bad(draw, st.integers(0, 12), bad)
    if draw(st.booleans()):
        name = draw(st.sampled_from(["sgd", "adam", "adamw", "rmsprop", "adagrad", "SGD", "obj", "obj", "obj"]
                                    + ([] if clean else ["nope", 3])))
        if name == "obj":
            cls = draw(st.sampled_from([opt_mod.SGD, opt_mod.Adam, opt_mod.AdamW, opt_mod.RMSprop, opt_mod.Adagrad]))
            made = call(cls, **draw(hyper_kwargs(cls, valid_rate=30)))
            o["optimizer"] = made[1] if made[0] == "ok" else cls()
        else:
            o["optimizer"] = name
    if draw(st.integers(0, 2)) == 0:
        o["loss"] = draw(st.sampled_from(["mse", "mae", "huber", "Huber"] + ([] if clean else ["l2", None])))
        o["huber_delta"] = maybe_bad(draw, st.sampled_from([0.1, 1.0, 5.0, 5e-324, 1e308]), bad)
    if draw(st.integers(0, 3)) == 0:
        s = draw(st.sampled_from(["exponential", "step", "invscaling", "cosine", "constant", "objs"]
                                 + ([] if clean else ["bad"])))
        if s == "objs":
            cls = draw(st.sampled_from([sch_mod.ExponentialDecay, sch_mod.StepDecay, sch_mod.InverseScaling,
                                        sch_mod.CosineAnnealing]))
            made = call(cls, **draw(hyper_kwargs(cls, valid_rate=30)))
            s = made[1] if made[0] == "ok" else cls()
        o["schedule"] = s
    if draw(st.integers(0, 2)) == 0:
        o["fit_intercept"] = maybe_bad(draw, st.booleans(), bad)
    if draw(st.booleans()):
        o["batch_size"] = maybe_bad(draw, st.integers(1, n_samples + (0 if clean else 1)), bad)
        o["shuffle"] = maybe_bad(draw, st.booleans(), bad)
    o["seed"] = maybe_bad(draw, st.sampled_from([0, 1, 12345, 2**64 - 1]), bad)
    if draw(st.integers(0, 3)) == 0:
        o["grad_tol"] = maybe_bad(draw, st.sampled_from([0.0, 1e-8, 1e-2, 1.0, 1e300]), bad)
    if draw(st.integers(0, 3)) == 0:
        o["n_iter_no_change"] = maybe_bad(draw, st.integers(1, 4), bad)
        o["loss_tol"] = maybe_bad(draw, st.sampled_from([0.0, 1e-4, 0.1, 1e300]), bad)
    if draw(st.integers(0, 4)) == 0:
        o["clip_norm"] = maybe_bad(draw, st.sampled_from([1e-3, 0.5, 10.0, 5e-324, 1e308]), bad)
    if draw(st.integers(0, 4)) == 0:
        o["record_every"] = maybe_bad(draw, st.sampled_from([1, 2, 3, 1000, 2**63 - 1]), bad)
    return o


def _scale(*arrays):
    vals = [np.max(np.abs(np.asarray(a, dtype=np.float64)), initial=0.0) for a in arrays if a is not None]
    return max([1.0] + [v for v in vals if np.isfinite(v)])


def compare_train(got, exp, dtype, W0, loss_name="mse", huber_delta=1.0, xmax=1.0, unstable=False):
    """Same run: statuses, counts and the whole trajectory within RTOL_LOOP / ATOL_LOOP."""
    dtype = np.dtype(dtype)
    assert got.W.dtype == exp.W.dtype and got.W.shape == exp.W.shape
    assert (got.b is None) == (exp.b is None)
    assert np.isfinite(got.W).all() and (got.b is None or np.isfinite(got.b).all())
    big = np.finfo(dtype).max ** 0.5
    extreme = (got.diverged or exp.diverged
               or not all(np.all(np.abs(np.append(r.losses, r.loss)) < big) for r in (got, exp))
               or _scale(got.W, exp.W) > big)
    if extreme:
        # Overflow: float32 losses overflow earlier in the float32 reference than in the kernel's double
        # accumulation, so the step of divergence may differ; both must stay finite and say so.
        for r in (got,):
            if not np.isfinite(r.loss):
                assert r.diverged
        return False
    # Scale of absolute errors: the largest magnitude the run went through. Intermediate iterates can be
    # much larger than the final one (large steps that cancel); the recorded losses bound the residuals
    # |r| along the path (mse: sqrt(loss), mae: loss, huber: max(sqrt(2 loss), 2 loss / delta)).
    peak = float(np.max(np.concatenate([exp.losses, exp.epoch_losses, [exp.loss]])))
    traj = {"mse": math.sqrt(peak), "mae": peak}.get(loss_name, max(math.sqrt(2 * peak), 2 * peak / huber_delta))
    # Huber too when gradient descent on it is unstable (lr * curvature > 2): outside |r| < delta the steps
    # stay bounded while rounding differences are amplified ~(lr * curvature) per step, so the iterates
    # need not stay close (for MSE they grow as fast as the differences: relative agreement holds).
    sign_like = loss_name == "mae" or (loss_name == "huber" and (
        unstable or traj * float(np.finfo(dtype).eps) * 16 > huber_delta))
    if sign_like:
        # MAE's derivative sign(r) jumps at r = 0 (and Huber's clip(r, -delta, delta) acts the same once the
        # iterates' rounding error exceeds delta). Residuals that are exactly zero in exact arithmetic
        # (the fuzz's integer-like data) come out as 0, +tiny or -tiny depending on the summation order
        # (float32 reference vs the kernel's double sums), and the runs then legitimately part by whole
        # steps. So there: the loss at the start point (no such ambiguity) and the invariants only.
        np.testing.assert_allclose(got.losses[:1], exp.losses[:1], rtol=RTOL[dtype] * 10,
                                   atol=ATOL_LOOP[dtype] * _scale(exp.losses[:1]))
        assert got.losses.size == exp.losses.size or got.status != exp.status
        return False
    # Early stops on a threshold (tol, n_iter_no_change) may fall one step apart when the deciding
    # quantity sits on the threshold; then the common prefix of the run must agree.
    n = min(got.n_iter, exp.n_iter)
    if got.status != exp.status or got.n_iter != exp.n_iter:
        assert {got.status, exp.status} <= {"max_iter", "converged", "no_improvement"}, (got.status, exp.status)
        k = min(got.losses.size, exp.losses.size)
        np.testing.assert_allclose(got.losses[:k], exp.losses[:k], rtol=RTOL_LOOP[dtype],
                                   atol=ATOL_LOOP[dtype] * _scale(exp.losses))
        return False
    scale = max(_scale(exp.W, W0, exp.b), traj)
    rtol, atol = RTOL_LOOP[dtype], ATOL_LOOP[dtype]
    np.testing.assert_allclose(got.W, exp.W, rtol=rtol, atol=atol * scale)
    if exp.b is not None:
        np.testing.assert_allclose(got.b, exp.b, rtol=rtol, atol=atol * scale)
    lscale = max(_scale(exp.losses, [exp.loss]), peak)
    np.testing.assert_allclose(got.loss, exp.loss, rtol=rtol, atol=atol * lscale)
    np.testing.assert_allclose(got.losses, exp.losses, rtol=rtol, atol=atol * lscale)
    np.testing.assert_allclose(got.epoch_losses, exp.epoch_losses, rtol=rtol, atol=atol * lscale)
    assert got.n_iter == exp.n_iter == n
    assert got.state.step == exp.state.step and got.state.epoch == exp.state.epoch
    if not math.isnan(exp.grad_norm):
        # |gradient| <= 2 |r| |x| per term: its absolute error scales with the residuals along the path.
        gscale = max(_scale([exp.grad_norm]), 2 * traj * xmax)
        if math.isfinite(atol * gscale):
            np.testing.assert_allclose(got.grad_norm, exp.grad_norm, rtol=rtol, atol=atol * gscale)
    return True


TRAIN_KINDS = st.sampled_from(["f8", "f8", "f8", "f4", "f4", "f2", ">f8", "i8", "b", "list", "O", "c16", "g"])


@st.composite
def train_problem(draw, clean):
    ws, xs, ys = draw(linear_shapes(True, clean))
    kinds = [draw(TRAIN_KINDS) if not clean and draw(st.integers(0, 3)) == 0 else "f8" for _ in range(3)]
    if draw(st.integers(0, 2)) == 0:
        kinds = ["f4", "f4", "f4"]
    W = draw(array_spec(ws, kinds[0], clean=clean))
    X = draw(array_spec(xs, kinds[1], clean=clean))
    Y = draw(array_spec(ys, kinds[2], clean=clean))
    n_samples = 1 if len(xs) < 2 else max(xs[0], 1)
    sw = None
    if draw(st.integers(0, 4)) == 0:
        sw = draw(array_spec((n_samples,), "f8", "C"))
        mode = draw(st.sampled_from(["pos", "pos", "mixed"] + ([] if clean else ["zeros", "bad_shape", "raw"])))
        if mode == "pos":
            sw["values"] = np.abs(sw["values"]) + draw(st.sampled_from([0.5, 1e-300, 1e300]))
        elif mode == "zeros":
            sw["values"] = np.zeros(n_samples)
        elif mode == "mixed":
            sw["values"] = np.abs(sw["values"])
        elif mode == "bad_shape":
            sw["shape"], sw["values"] = (n_samples + 1,), np.ones(n_samples + 1)
    return W, X, Y, n_samples, sw


def draw_train_case(data):
    """clean, a training problem (W, X, Y, n_samples, sample_weight) and options for train."""
    clean = data.draw(CLEAN)
    W, X, Y, n_samples, sw = data.draw(train_problem(clean))
    return clean, (W, X, Y, n_samples, sw), data.draw(train_options(n_samples, clean))


@fuzz_settings("train")
@given(st.data())
def test_fuzz_train(data):
    clean, (W, X, Y, n_samples, sw), opts = draw_train_case(data)
    if not clean and data.draw(st.integers(0, 12)) == 0:
        opts["progress"] = data.draw(st.sampled_from(["yes", 1, None]))
    fast, slow, _ = both(gdfast.train, ref.train, TRAIN_ARGS, W, X, Y, sample_weight=sw, **opts)
    if fast[0] == "err":
        return
    got, exp = fast[1], slow[1]
    if got.diverged:
        assert runtime_warned(fast[2]), "diverged without a RuntimeWarning"
    dtype = got.W.dtype
    loss_name = str(opts.get("loss", "mse")).lower()
    delta = float(opts.get("huber_delta", 1.0))
    xv = np.atleast_2d(float_view(X))
    xmax = float(np.max(np.abs(xv), initial=1.0))
    # An upper bound of the MSE Hessian's largest eigenvalue, 2 ||X||_F^2 / (n_samples n_outputs), with
    # the largest (scheduled) learning rate and the weights' imbalance: GD is unstable above 2.
    lr_max = float(opts.get("learning_rate", 0.01))
    if isinstance(opts.get("schedule"), sch_mod.CosineAnnealing):
        lr_max = max(lr_max, opts["schedule"].eta_min)
    w_ratio = 1.0
    if sw is not None:
        wv = float_view(sw)
        w_ratio = xv.shape[0] * float(np.max(wv)) / float(np.sum(wv))
    with np.errstate(all="ignore"):
        curv = 2 * float(np.sum(xv * xv)) / (xv.shape[0] * got.W.shape[0]) * w_ratio
    unstable = lr_max * curv > 2
    # Gradient clipping bounds the steps like Huber's saturation does: same treatment when unstable.
    bounded = "clip_norm" in opts
    # Adaptive optimizers step by ~lr * g / |g| (sign-like) whatever the gradient's size: near an optimum,
    # or for coordinates whose gradient is zero in exact arithmetic, order-dependent rounding of g decides
    # the direction of a whole step. Compared like MAE (start loss and invariants).
    opt = opts.get("optimizer", "sgd")
    opt_name = (opt if isinstance(opt, str) else type(opt).__name__).lower()
    if opt_name in ("adam", "adamw", "rmsprop", "adagrad"):
        loss_name = "mae"
    tight = compare_train(got, exp, dtype, float_view(W), "huber" if bounded and unstable else loss_name, delta,
                          xmax, unstable=unstable)

    # Continue both runs from their states (a tampered state must be refused, never reach the kernel).
    if data.draw(st.integers(0, 3)) == 0 and not got.diverged:
        more = dict(opts, num_iterations=data.draw(st.integers(0, 5)))
        more.pop("num_epochs", None)
        state_f, state_s = got.state, exp.state
        tamper = data.draw(st.sampled_from(["none", "none", "counters", "perm", "params", "dtype", "type"]))
        for s in (state_f, state_s):
            if tamper == "counters":
                s.record["current"] = 7
            elif tamper == "perm":
                s.perm[...] = -5
            elif tamper == "params":
                s.params = s.params[:, :-1]
            elif tamper == "dtype":
                s.opt_state = s.opt_state.astype(np.float32)
        if tamper == "type":
            state_f = state_s = "state"
        fast2 = call(gdfast.train, got.W, materialize(X), materialize(Y), state=state_f,
                     sample_weight=materialize(sw), **more)
        slow2 = call(ref.train, exp.W, materialize(X), materialize(Y), state=state_s,
                     sample_weight=materialize(sw), **more)
        if fast2[0] == "err":
            check_error(fast2[1], slow2, TRAIN_ARGS)
            return
        assert tamper == "none" and slow2[0] == "ok"
        if tight:  # otherwise the two runs already (legitimately) parted: continue from different points
            compare_train(fast2[1], slow2[1], dtype, got.W, "huber" if bounded and unstable else loss_name, delta,
                          xmax, unstable=unstable)
        assert np.isfinite(fast2[1].W).all()


@fuzz_settings("sweep")
@given(st.data())
def test_fuzz_sweep(data):
    clean, (W, X, Y, n_samples, sw), opts = draw_train_case(data)
    opts.pop("seed", None)
    kw = {}
    good_lrs = st.lists(st.sampled_from([0.01, 0.1, 0.5, 1e308]), min_size=1, max_size=3)
    if data.draw(st.booleans()):
        kw["learning_rates"] = data.draw(good_lrs if clean else st.one_of(
            good_lrs, st.sampled_from([[], "0.1", 0.1, np.array(0.1), (x for x in [0.1]), [0.1, -1], {"a": 1}])))
    good_seeds = st.lists(st.sampled_from([0, 1, 7]), min_size=1, max_size=2)
    kw["seeds"] = data.draw(good_seeds if clean else st.one_of(good_seeds, st.sampled_from([[-1], [1.5], None])))
    if data.draw(st.integers(0, 2)) == 0:
        good_cfgs = [[{"optimizer": "adam"}, {"optimizer": "sgd", "learning_rate": 0.01}], [{"loss": "huber"}],
                     [{"batch_size": 1, "shuffle": True}], [{"optimizer": "rmsprop", "num_iterations": 3}]]
        bad_cfgs = [[{"fit_intercept": True}], [{"bogus": 1}], ["adam"], [{"num_iterations": -1}],
                    [{"initial_weights": 0}]]
        kw["configs"] = data.draw(st.sampled_from(good_cfgs + ([] if clean else bad_cfgs)))
    if data.draw(st.integers(0, 3)) == 0:
        k = data.draw(st.integers(0, 2))
        shape = (k,) + (np.shape(materialize(W)) if isinstance(materialize(W), np.ndarray) else (1, 1))
        kw["initial_weights"] = data.draw(array_spec(shape, "f8", data.draw(st.sampled_from(LAYOUTS))))
    kw["n_threads"] = data.draw(st.sampled_from([None, 1, 2, 64, 2**40] + ([] if clean else [0, -1, 1.5, "2"])))
    args = [materialize(s) for s in (W, X, Y)]
    snaps = [snapshot(a) for a in args]
    res = call(gdfast.sweep, *args, sample_weight=materialize(sw),
               **{k: materialize(v) for k, v in kw.items()}, **opts)
    for a, s in zip(args, snaps):
        assert unchanged(a, s)
    event(f"{res[0]} {type(res[1]).__name__ if res[0] == 'err' else ''}")
    if res[0] == "err":
        check_error(res[1], None, TRAIN_ARGS)
        return
    sres = res[1]
    starts = materialize(kw.get("initial_weights"))
    for cfg, r in zip(sres.configs, sres.results):
        one = dict(opts)
        # Documented: a run's own length (num_iterations or num_epochs) replaces the shared one.
        if {"num_iterations", "num_epochs"} & set(cfg):
            one.pop("num_iterations", None)
            one.pop("num_epochs", None)
        one.update(cfg)
        start = one.pop("initial_weights", None)
        # Start points are cast to the dtype the sweep computes in (that of W, X and Y; see its docstring).
        w0 = materialize(W) if start is None else np.asarray(starts)[start].astype(r.W.dtype)
        single = call(gdfast.train, w0, materialize(X), materialize(Y), sample_weight=materialize(sw), **one)
        assert single[0] == "ok", f"sweep ran a config that train refuses: {single[1]!r}"
        t = single[1]
        # Documented: each run equals a plain train call bit for bit.
        np.testing.assert_array_equal(r.W, t.W, strict=True)
        np.testing.assert_array_equal(r.losses, t.losses, strict=True)
        assert r.status == t.status and r.n_iter == t.n_iter and (r.loss == t.loss or r.loss != r.loss)
