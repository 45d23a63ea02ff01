"""gdfast.functions, descend's compiled objective loop (src/_objectives.pxd, ``descend_objective``) and user
objectives through scipy.LowLevelCallable (issue 15).

Oracles, each independent of the code under test:
- closed forms: each function's known minima (value and zero gradient) and hand-computed values;
- central finite differences (tests/finite_differences.py) of each function's value, compiled and NumPy:
  h = 1e-6, so the error is about h**2 * f''' + eps * |f| / h; tolerance rtol 1e-6 with an absolute floor
  of 1e-6 times the gradient's scale (a 1% error in any gradient term fails it);
- gradients written out in this file (Rosenbrock, Beale) for hand loops of plain SGD, momentum and grad_tol;
- torch.optim on the same functions written in torch (float64, autograd), 200 updates, rtol 1e-10: the
  updates differ from gdfast's only by rounding (autograd's order of operations, ``lerp_``), a few ulps
  per step amplified by the iteration count.
The compiled twin is compared with the NumPy methods (rtol 1e-12, as issue 15 states; they are in fact
equal to the bit, the same operations in the same order) and the compiled loop with the Python loop
(a subclass of the same class takes the Python loop): NOT independent oracles, they check that the twins
stay one program.
"""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import gdfast
from gdfast import _train, reference, schedules
from gdfast.descent import GRADIENT_SIGNATURE, VALUE_SIGNATURE
from gdfast.functions import Beale, Booth, Himmelblau, QuadraticForm, Rastrigin, Rosenbrock, StyblinskiTang
from finite_differences import central_differences

LowLevelCallable = pytest.importorskip("scipy").LowLevelCallable

SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]])
FUNCTIONS = [
    (QuadraticForm(SPD, [1.0, -2.0, 0.5]), 3),
    (Rosenbrock(), 2), (Rosenbrock(), 5), (Beale(), 2), (Himmelblau(), 2), (Booth(), 2),
    (Rastrigin(), 1), (Rastrigin(), 4), (StyblinskiTang(), 3),
]
IDS = [f"{type(f).__name__}-{n}" for f, n in FUNCTIONS]


def compiled(f, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    g = np.empty_like(x)
    return _train.objective_at(int(f._code), f.kernel_params(x.size), x, g), g


def points(n, count=20, seed=0):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=(count, n))


# --- the functions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("f, n", FUNCTIONS, ids=IDS)
def test_compiled_value_and_gradient_equal_the_numpy_twin(f, n):
    for x in points(n):
        value, grad = compiled(f, x)
        np.testing.assert_allclose(value, f(x), rtol=1e-12, atol=0)
        np.testing.assert_allclose(grad, f.gradient(x), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("f, n", FUNCTIONS, ids=IDS)
def test_gradients_equal_finite_differences(f, n):
    for x in points(n, count=10, seed=1):
        fd = central_differences(f, x)
        scale = max(1.0, float(np.abs(fd).max()))
        np.testing.assert_allclose(f.gradient(x), fd, rtol=1e-6, atol=1e-6 * scale)
        fd_compiled = central_differences(lambda y: compiled(f, y)[0], x)
        np.testing.assert_allclose(compiled(f, x)[1], fd_compiled, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("f, x_star, f_star", [
    (Rosenbrock(), [1.0, 1.0, 1.0, 1.0], 0.0),
    (Beale(), [3.0, 0.5], 0.0),
    (Himmelblau(), [3.0, 2.0], 0.0),
    (Booth(), [1.0, 3.0], 0.0),
    (Rastrigin(), [0.0, 0.0, 0.0], 0.0),
    (StyblinskiTang(), [-2.903534027771178] * 2, -2 * 39.16616570377142),
    (QuadraticForm([[2.0, 0.0], [0.0, 8.0]], [-4.0, 8.0]), [2.0, -1.0], -8.0),  # -b/diag; -0.5 b'A^-1 b
], ids=lambda v: type(v).__name__ if not isinstance(v, (list, float)) else "")
def test_known_minima(f, x_star, f_star):
    value, grad = compiled(f, x_star)
    assert value == pytest.approx(f_star, abs=1e-10) and f(x_star) == pytest.approx(f_star, abs=1e-10)
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)
    np.testing.assert_allclose(f.gradient(x_star), 0.0, atol=1e-10)


def test_hand_computed_values():
    assert Rosenbrock()([0.0, 0.0, 0.0]) == 2.0                  # two terms (1 - 0)**2
    assert Rosenbrock()([2.0, 3.0]) == 100.0 * (3 - 4) ** 2 + 1.0
    assert Beale()([1.0, 1.0]) == 1.5**2 + 2.25**2 + 2.625**2
    assert Himmelblau()([0.0, 0.0]) == 121.0 + 49.0
    assert Booth()([0.0, 0.0]) == 49.0 + 25.0
    assert Rastrigin()([0.5]) == pytest.approx(10.0 + 0.25 + 10.0)
    assert StyblinskiTang()([1.0, 2.0]) == 0.5 * ((1 - 16 + 5) + (16 - 64 + 10))
    assert QuadraticForm([[2.0, 1.0], [1.0, 2.0]], [1.0, 0.0])([1.0, 1.0]) == 0.5 * 6.0 + 1.0


@pytest.mark.parametrize("make, x, pattern", [
    (Beale, [1.0, 2.0, 3.0], "x must have 2 coordinates"),
    (Himmelblau, [1.0], "x must have 2 coordinates"),
    (Booth, [[1.0, 2.0]], "x must be 1-D"),
    (Rosenbrock, [1.0], "at least 2 coordinates"),
    (Rastrigin, 1.0, "x must be 1-D"),
])
def test_bad_points_are_refused(make, x, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()(x)
    with pytest.raises(ValueError, match=pattern):
        make().gradient(x)


@pytest.mark.parametrize("A, b, exc, pattern", [
    ([[1.0, 2.0, 3.0]], None, ValueError, "A must be a square"),
    ([1.0, 2.0], None, ValueError, "A must be a square"),
    ([[1.0, 2.0], [0.0, 1.0]], None, ValueError, "A must be symmetric.*pass \\(A \\+ A.T\\) / 2"),
    ([[1.0, np.nan], [np.nan, 1.0]], None, ValueError, "A contains NaN"),
    ([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0, 3.0], ValueError, "b must have shape \\(2,\\)"),
    ([[1.0, 0.0], [0.0, 1.0]], [1.0, np.inf], ValueError, "b contains NaN"),
    ([["a", "b"], ["c", "d"]], None, TypeError, "A must hold real numbers"),
])
def test_quadratic_form_validates(A, b, exc, pattern):
    with pytest.raises(exc, match=pattern):
        QuadraticForm(A, b)


def test_quadratic_form_copies_its_inputs():
    A, b = SPD.copy(), np.array([1.0, 2.0, 3.0])
    f = QuadraticForm(A, b)
    A[0, 0] = 100.0
    b[0] = 100.0
    assert f.A[0, 0] == 4.0 and f.b[0] == 1.0
    with pytest.raises(ValueError):
        f.A[0, 0] = 1.0  # read-only: the kernel's parameters cannot drift from the NumPy methods


# --- the compiled loop: independent oracles ----------------------------------------------------------

def rosen_grad(x):
    """Rosenbrock's gradient, written out here (2-D)."""
    return np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)])


def test_plain_sgd_equals_a_hand_loop():
    f = Rosenbrock()
    p = gdfast.descend(f.gradient, [-1.2, 1.0], learning_rate=1e-3, num_iterations=300, function=f)
    x, want = np.array([-1.2, 1.0]), [np.array([-1.2, 1.0])]
    for _ in range(300):
        x = x - 1e-3 * rosen_grad(x)
        want.append(x)
    want = np.array(want)
    # the same operations up to the gradient's order of evaluation: a few ulps per step
    np.testing.assert_allclose(p.x, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.f, (1 - want[:, 0]) ** 2 + 100 * (want[:, 1] - want[:, 0] ** 2) ** 2, rtol=1e-10)
    assert p.f.shape == (301,) and p.status == "max_iter" and p.n_iter == 300


def test_momentum_equals_a_hand_loop():
    f = Rosenbrock()
    p = gdfast.descend(f.gradient, [-1.2, 1.0], learning_rate=2e-4, num_iterations=200,
                       optimizer=gdfast.SGD(momentum=0.9))
    x, buf = np.array([-1.2, 1.0]), None
    for _ in range(200):
        g = rosen_grad(x)
        buf = g if buf is None else 0.9 * buf + g   # torch.optim.SGD's documented rule
        x = x - 2e-4 * buf
    np.testing.assert_allclose(p.x[-1], x, rtol=1e-10)


def test_grad_tol_stops_at_the_first_small_gradient_and_record_every():
    f = Booth()
    p = gdfast.descend(f.gradient, [0.0, 0.0], learning_rate=0.05, num_iterations=10_000, grad_tol=1e-6,
                       record_every=7, function=f)
    x, t = np.array([0.0, 0.0]), 0
    while True:   # Booth's gradient, written out
        g = np.array([2 * (x[0] + 2 * x[1] - 7) + 4 * (2 * x[0] + x[1] - 5),
                      4 * (x[0] + 2 * x[1] - 7) + 2 * (2 * x[0] + x[1] - 5)])
        if np.sqrt(g @ g) < 1e-6:
            break
        x, t = x - 0.05 * g, t + 1
    assert p.status == "converged" and p.converged and p.n_iter == t
    np.testing.assert_allclose(p.x[-1], x, rtol=1e-12)
    np.testing.assert_array_equal(p.steps, [*range(0, t + 1, 7)] + ([t] if t % 7 else []))
    np.testing.assert_allclose(p.x[-1], [1.0, 3.0], atol=1e-6)


def test_divergence_returns_the_last_finite_point_and_warns():
    f = Rosenbrock()
    with pytest.warns(RuntimeWarning, match="left the finite numbers"):
        p = gdfast.descend(f.gradient, [-1.2, 1.0], learning_rate=0.1, num_iterations=1000, function=f)
    assert p.diverged and p.status == "diverged" and p.n_iter < 1000
    assert np.isfinite(p.x).all() and np.isfinite(p.f).all() and len(p.x) == p.n_iter + 1
    # the hand loop leaves the finite numbers at the next update
    x = p.x[-1]
    with np.errstate(all="ignore"):
        nxt = x - 0.1 * rosen_grad(x)
        assert not (np.isfinite(nxt).all() and np.isfinite(Rosenbrock()(nxt)))


def torch_function(name, torch, x):
    if name == "Rosenbrock":
        return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()
    return ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
            + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2)


# (optimizer, learning rate on Rosenbrock, on Beale): rates that make progress without diverging
TORCH_OPTIMIZERS = [
    (gdfast.SGD(), 2e-4, 1e-3),
    (gdfast.SGD(momentum=0.9), 1e-4, 5e-4),
    (gdfast.SGD(momentum=0.9, nesterov=True, weight_decay=0.01), 1e-4, 5e-4),
    (gdfast.SGD(momentum=0.5, dampening=0.3), 1e-4, 5e-4),
    (gdfast.Adam(), 0.01, 0.01),
    (gdfast.Adam(amsgrad=True, weight_decay=0.01), 0.01, 0.01),
    (gdfast.AdamW(weight_decay=0.1), 0.01, 0.01),
    (gdfast.RMSprop(), 1e-3, 1e-3),
    (gdfast.RMSprop(centered=True, momentum=0.5), 1e-3, 1e-3),
    (gdfast.Adagrad(lr_decay=0.01), 0.1, 0.1),
    (gdfast.NAdam(), 0.01, 0.01),
    (gdfast.NAdam(weight_decay=0.05, decoupled_weight_decay=True), 0.01, 0.01),
    (gdfast.RAdam(), 1e-3, 0.01),  # its first 5 updates are unadapted: lr * ~200 on Rosenbrock
    (gdfast.Adamax(), 0.01, 0.01),
]


@pytest.fixture
def torch():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed: the torch oracle needs `pip install torch==2.13.0` (CPU wheel)")
    old, old_dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)  # float64 NAdam mu_product, as in tests/test_torch_oracle.py
    yield torch
    torch.set_num_threads(old)
    torch.set_default_dtype(old_dtype)


def torch_path(torch, name, opt, schedule, x0, lr, n):
    from test_torch_oracle import torch_optimizer, torch_scheduler
    x = torch.tensor(np.array(x0, dtype=np.float64), requires_grad=True)
    o = torch_optimizer(opt, [x], lr)
    s = torch_scheduler(schedule, o)
    xs = [x.detach().numpy().copy()]
    for _ in range(n):
        o.zero_grad()
        torch_function(name, torch, x).backward()
        o.step()
        if s is not None:
            s.step()
        xs.append(x.detach().numpy().copy())
    return np.array(xs)


@pytest.mark.parametrize("name, x0", [("Rosenbrock", [-1.2, 1.0]), ("Rosenbrock", [-1.0, 1.2, 0.5, 0.8]),
                                      ("Beale", [1.0, 1.0])], ids=["rosenbrock2", "rosenbrock4", "beale"])
@pytest.mark.parametrize("opt, lr_rosenbrock, lr_beale", TORCH_OPTIMIZERS, ids=[repr(o[0]) for o in TORCH_OPTIMIZERS])
def test_every_optimizer_equals_torch_for_200_steps(torch, name, x0, opt, lr_rosenbrock, lr_beale):
    f = Rosenbrock() if name == "Rosenbrock" else Beale()
    lr = lr_rosenbrock if name == "Rosenbrock" else lr_beale
    p = gdfast.descend(f.gradient, x0, learning_rate=lr, num_iterations=200, optimizer=opt, function=f)
    want = torch_path(torch, name, opt, None, x0, lr, 200)
    assert p.status == "max_iter" and np.abs(want[-1] - want[0]).max() > 1e-3  # it moved
    assert f(want[-1]) < f(want[0])  # downhill: a meaningful run, not a blow-up that both sides share
    np.testing.assert_allclose(p.x, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("schedule", [schedules.ExponentialDecay(0.99), schedules.StepDecay(step_size=30, gamma=0.5),
                                      schedules.CosineAnnealing(t_max=200, eta_min=0.001)], ids=repr)
@pytest.mark.parametrize("opt", [gdfast.Adam(), gdfast.SGD(momentum=0.9)], ids=repr)
def test_schedules_equal_torch(torch, opt, schedule):
    f = Rosenbrock()
    lr = 0.01 if isinstance(opt, gdfast.Adam) else 1e-4
    p = gdfast.descend(f.gradient, [-1.2, 1.0], learning_rate=lr, num_iterations=200, optimizer=opt,
                       schedule=schedule)
    np.testing.assert_allclose(p.x, torch_path(torch, "Rosenbrock", opt, schedule, [-1.2, 1.0], lr, 200),
                               rtol=1e-10, atol=1e-12)


# --- the compiled loop and the Python loop: one program ----------------------------------------------

class PyRosenbrock(Rosenbrock):
    """A subclass: the Python loop, calling the same NumPy methods."""


class PyQuadraticForm(QuadraticForm):
    pass


@pytest.mark.parametrize("opt", [o for o, _, _ in TORCH_OPTIMIZERS[::2]] + [gdfast.SGD()], ids=repr)
@pytest.mark.parametrize("schedule", [None, schedules.CosineAnnealing(t_max=50)], ids=["constant", "cosine"])
def test_kernel_equals_python_loop_bit_for_bit(opt, schedule):
    for kernel_f, python_f, x0 in [(Rosenbrock(), PyRosenbrock(), [-1.2, 1.0, 0.3]),
                                   (QuadraticForm(SPD, [1.0, 0.0, -1.0]), PyQuadraticForm(SPD, [1.0, 0.0, -1.0]),
                                    [1.0, 2.0, 3.0])]:
        kw = dict(learning_rate=1e-3, num_iterations=60, optimizer=opt, schedule=schedule, record_every=7,
                  grad_tol=1e-2)
        fast = gdfast.descend(kernel_f.gradient, x0, function=kernel_f, **kw)
        slow = gdfast.descend(python_f.gradient, x0, function=python_f, **kw)
        np.testing.assert_array_equal(fast.x, slow.x, strict=True)
        np.testing.assert_array_equal(fast.f, slow.f, strict=True)
        np.testing.assert_array_equal(fast.steps, slow.steps, strict=True)
        assert fast.status == slow.status and fast.n_iter == slow.n_iter
        ref = reference.descend(kernel_f.gradient, x0, function=kernel_f, **kw)  # the Python loop too
        np.testing.assert_array_equal(ref.x, fast.x, strict=True)
        np.testing.assert_array_equal(ref.f, fast.f, strict=True)


def test_subclass_and_reference_never_enter_the_kernel(monkeypatch):
    def boom(*args):
        raise AssertionError("the compiled loop was called")

    monkeypatch.setattr(_train, "descend_objective", boom)
    f = Rosenbrock()
    reference.descend(f.gradient, [-1.2, 1.0], function=f, learning_rate=1e-3, num_iterations=3)
    g = PyRosenbrock()
    gdfast.descend(g.gradient, [-1.2, 1.0], learning_rate=1e-3, num_iterations=3)
    with pytest.raises(AssertionError, match="compiled loop"):
        gdfast.descend(f.gradient, [-1.2, 1.0], learning_rate=1e-3, num_iterations=3)


def test_float32_start_runs_the_python_loop_in_float32():
    f = Himmelblau()
    p32 = gdfast.descend(f.gradient, np.array([0.0, 0.0], np.float32), learning_rate=0.01, num_iterations=100,
                         function=f, optimizer="adam")
    p64 = gdfast.descend(f.gradient, [0.0, 0.0], learning_rate=0.01, num_iterations=100, function=f, optimizer="adam")
    assert p32.x.dtype == np.float32 and p32.f.shape == (101,)
    np.testing.assert_allclose(p32.x, p64.x, rtol=1e-5, atol=1e-5)  # float32 rounding of x, 100 steps


def test_python_function_with_a_scalar_value_is_recorded_per_point():
    p = gdfast.descend(rosen_grad, [-1.2, 1.0], learning_rate=1e-3, num_iterations=5,
                       function=lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2)
    assert p.f.shape == (6,) and p.f[0] == pytest.approx(24.2)


def test_inputs_not_modified_and_wrong_dimension():
    x0 = np.array([-1.2, 1.0])
    gdfast.descend(Rosenbrock().gradient, x0, learning_rate=1e-3, num_iterations=10, optimizer="adam")
    assert x0.tolist() == [-1.2, 1.0]
    with pytest.raises(ValueError, match="x must have 2 coordinates"):
        gdfast.descend(Beale().gradient, [1.0, 2.0, 3.0], learning_rate=0.1, num_iterations=1)
    with pytest.raises(ValueError, match="x0 must be a 1-D point for Rosenbrock"):
        gdfast.descend(Rosenbrock().gradient, 1.0, learning_rate=0.1, num_iterations=1)


# --- scipy.LowLevelCallable ----------------------------------------------------------------------------

C_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
PROTO = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, C_DOUBLE_P, C_DOUBLE_P, ctypes.c_void_p)


@PROTO
def ctypes_rosen_grad(n, x, g, user_data):
    # the arithmetic of src/_objectives.pxd's rosenbrock_gradient, in Python floats
    for i in range(n):
        g[i] = 0.0
    for i in range(n - 1):
        u = x[i + 1] - x[i] * x[i]
        g[i] = -400.0 * x[i] * u - 2.0 * (1.0 - x[i])
    for i in range(n - 1):
        u = x[i + 1] - x[i] * x[i]
        g[i + 1] = g[i + 1] + 200.0 * u
    return 0


@PROTO
def ctypes_rosen_value(n, x, f, user_data):
    s = 0.0
    for i in range(n - 1):
        u, v = x[i + 1] - x[i] * x[i], 1.0 - x[i]
        s = s + (100.0 * (u * u) + v * v)
    f[0] = s
    return 0


@pytest.mark.parametrize("opt", ["sgd", gdfast.SGD(momentum=0.9), "adam", "rmsprop", "nadam"], ids=repr)
def test_ctypes_callable_equals_the_builtin_rosenbrock_bit_for_bit(opt):
    # the same operations in the same order (Python floats are C doubles): equal to the bit
    f = Rosenbrock()
    kw = dict(learning_rate=1e-4 if opt == "sgd" or not isinstance(opt, str) else 1e-2, num_iterations=200,
              optimizer=opt, record_every=3)
    builtin = gdfast.descend(f.gradient, [-1.2, 1.0, 0.5], function=f, **kw)
    user = gdfast.descend(LowLevelCallable(ctypes_rosen_grad), [-1.2, 1.0, 0.5],
                          function=LowLevelCallable(ctypes_rosen_value), **kw)
    np.testing.assert_array_equal(user.x, builtin.x, strict=True)
    np.testing.assert_array_equal(user.f, builtin.f, strict=True)
    np.testing.assert_array_equal(user.steps, builtin.steps, strict=True)


def test_user_data_reaches_the_callback():
    @PROTO
    def scaled_bowl(n, x, g, user_data):   # f = c/2 * |x - 1|**2, c read from user_data
        c = ctypes.cast(user_data, C_DOUBLE_P)[0]
        for i in range(n):
            g[i] = c * (x[i] - 1.0)
        return 0

    c = ctypes.c_double(4.0)
    grad = LowLevelCallable(scaled_bowl, ctypes.cast(ctypes.pointer(c), ctypes.c_void_p))
    p = gdfast.descend(grad, [3.0, -1.0], learning_rate=0.1, num_iterations=3)
    want = [np.array([3.0, -1.0])]
    for _ in range(3):
        want.append(want[-1] - 0.1 * 4.0 * (want[-1] - 1.0))
    np.testing.assert_allclose(p.x, want, rtol=1e-15)


def test_scalar_start_with_a_callable():
    p = gdfast.descend(LowLevelCallable(ctypes_rosen_grad), 0.5, learning_rate=0.1, num_iterations=2)
    assert p.x.shape == (3,) and p.x.dtype == np.float64 and (p.x == 0.5).all()  # 1-D Rosenbrock: g = 0


def test_non_zero_return_ends_the_run_as_diverged():
    calls = []

    @PROTO
    def failing(n, x, g, user_data):
        calls.append(1)
        for i in range(n):
            g[i] = 2.0 * x[i]
        return 0 if len(calls) <= 5 else -1

    with pytest.warns(RuntimeWarning, match="returned non-zero"):
        p = gdfast.descend(LowLevelCallable(failing), [1.0], learning_rate=0.1, num_iterations=100)
    assert p.diverged and p.n_iter == 5 and len(p.x) == 6
    np.testing.assert_allclose(p.x[:, 0], 0.8 ** np.arange(6), rtol=1e-15)


def test_non_finite_gradient_or_value_ends_the_run_as_diverged():
    @PROTO
    def nan_gradient(n, x, g, user_data):
        g[0] = float("nan") if x[0] < 0.5 else 2.0 * x[0]
        return 0

    @PROTO
    def value_fails(n, x, f, user_data):
        f[0] = x[0] * x[0]
        return 0 if x[0] > 0.5 else 3

    with pytest.warns(RuntimeWarning, match="diverged|finite"):
        p = gdfast.descend(LowLevelCallable(nan_gradient), [1.0], learning_rate=0.1, num_iterations=100)
    assert p.diverged and p.x[-1, 0] < 0.5 and np.isfinite(p.x).all()
    with pytest.warns(RuntimeWarning, match="returned non-zero"):
        p = gdfast.descend(LowLevelCallable(nan_gradient), [1.0], learning_rate=0.1, num_iterations=100,
                           function=LowLevelCallable(value_fails))
    assert p.diverged and p.x[-1, 0] > 0.5 and np.allclose(p.f, p.x[:, 0] ** 2, rtol=1e-15)


def test_wrong_signatures_are_refused_with_the_expected_one():
    float_proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_float),
                                   ctypes.POINTER(ctypes.c_float), ctypes.c_void_p)
    scalar_proto = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)
    for bad in (float_proto(lambda n, x, g, d: 0), scalar_proto(lambda x: x)):
        with pytest.raises(TypeError, match=r"must have the C signature 'int \(intptr_t n, const double \*x"):
            gdfast.descend(LowLevelCallable(bad), [1.0], learning_rate=0.1, num_iterations=1)
    with pytest.raises(TypeError, match="function: a scipy.LowLevelCallable value function needs"):
        gdfast.descend(Rosenbrock().gradient, [1.0, 1.0], function=LowLevelCallable(ctypes_rosen_value),
                       learning_rate=0.1, num_iterations=1)
    with pytest.raises(TypeError, match="function must be None or a LowLevelCallable"):
        gdfast.descend(LowLevelCallable(ctypes_rosen_grad), [1.0, 1.0], function=Rosenbrock(),
                       learning_rate=0.1, num_iterations=1)
    assert "double *g" in GRADIENT_SIGNATURE and "double *f" in VALUE_SIGNATURE


def test_spelled_out_signatures_are_accepted():
    ptr = ctypes.cast(ctypes_rosen_grad, ctypes.c_void_p)
    for sig in (GRADIENT_SIGNATURE, "int (Py_ssize_t, double const *, double *, void *)",
                "int (intptr_t, const double*, double*, void*)"):
        grad = LowLevelCallable(ctypes_rosen_grad, signature=sig)
        p = gdfast.descend(grad, [-1.2, 1.0], learning_rate=1e-4, num_iterations=3)
        assert p.n_iter == 3
    assert ptr.value


def numba_cfuncs():
    numba = pytest.importorskip("numba")
    types = numba.types
    sig = types.intc(types.intp, types.CPointer(types.float64), types.CPointer(types.float64), types.voidptr)

    @numba.cfunc(sig)
    def grad(n, x, g, user_data):
        g[n - 1] = 0.0
        for i in range(n - 1):
            u = x[i + 1] - x[i] * x[i]
            g[i] = -400.0 * x[i] * u - 2.0 * (1.0 - x[i])
        for i in range(n - 1):
            u = x[i + 1] - x[i] * x[i]
            g[i + 1] = g[i + 1] + 200.0 * u
        return 0

    @numba.cfunc(sig)
    def value(n, x, f, user_data):
        s = 0.0
        for i in range(n - 1):
            u = x[i + 1] - x[i] * x[i]
            v = 1.0 - x[i]
            s = s + (100.0 * (u * u) + v * v)
        f[0] = s
        return 0

    return grad, value


@pytest.mark.parametrize("opt", ["sgd", "adam", gdfast.RAdam()], ids=repr)
def test_numba_cfunc_equals_the_builtin_rosenbrock(opt):
    grad, value = numba_cfuncs()
    f = Rosenbrock()
    kw = dict(learning_rate=1e-4 if opt == "sgd" else 1e-2, num_iterations=500, optimizer=opt)
    builtin = gdfast.descend(f.gradient, [-1.2, 1.0, 0.5, 2.0], function=f, **kw)
    user = gdfast.descend(LowLevelCallable(grad.ctypes), [-1.2, 1.0, 0.5, 2.0],
                          function=LowLevelCallable(value.ctypes), **kw)
    # Numba compiles without fast-math or contraction into FMA (its default), so the same operations give
    # the same bits; the tolerance allows an FMA-contracting LLVM build: 1e-12 relative over 500 steps
    np.testing.assert_allclose(user.x, builtin.x, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(user.f, builtin.f, rtol=1e-10, atol=1e-14)
    assert user.status == builtin.status == "max_iter"


# --- Ctrl-C ----------------------------------------------------------------------------------------------

CHILD = """
import ctypes, os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if SIGINT was inherited ignored (a `&` job)
import numpy as np
import gdfast
from gdfast.functions import Rosenbrock
from scipy import LowLevelCallable
f = Rosenbrock()
if sys.argv[1] == "builtin":
    gradient = f.gradient
else:
    numba = __import__("numba")
    t = numba.types
    @numba.cfunc(t.intc(t.intp, t.CPointer(t.float64), t.CPointer(t.float64), t.voidptr))
    def grad(n, x, g, user_data):
        g[0] = -400.0 * x[0] * (x[1] - x[0] * x[0]) - 2.0 * (1.0 - x[0])
        g[1] = 200.0 * (x[1] - x[0] * x[0])
        return 0
    gradient = LowLevelCallable(grad.ctypes)
def send():
    global t_sent
    t_sent = time.perf_counter()
    os.kill(os.getpid(), signal.SIGINT)
threading.Timer(0.3, send).start()
try:
    # ~10^12 updates: hours uninterrupted; record_every keeps two points
    gdfast.descend(gradient, [-1.2, 1.0], learning_rate=1e-12, num_iterations=10**12, record_every=10**12,
                   optimizer="adam")
except KeyboardInterrupt:
    print(f"INTERRUPTED after {time.perf_counter() - t_sent:.4f} s")
p = gdfast.descend(gradient, [-1.2, 1.0], learning_rate=1e-3, num_iterations=2)
assert p.n_iter == 2 and np.isfinite(p.x).all()
print("USABLE")
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("kind", ["builtin", "numba"])
def test_sigint_stops_a_long_descend(kind):
    if kind == "numba":
        pytest.importorskip("numba")
    root = os.path.dirname(os.path.dirname(os.path.abspath(gdfast.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, timeout=120,
                          env=env, cwd=root)
    print(proc.stdout.strip())  # the latency is printed, not asserted
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "INTERRUPTED after" in proc.stdout and "USABLE" in proc.stdout
