"""descend's last loop options of issue 15: ``clip_norm=`` and ``state=`` continuation, on its three paths
(the compiled Quadratic loop, the compiled objective loop, the Python loop).

Oracles, each independent of the code under test:
- clip_norm: torch.optim (SGD, SGD with momentum, Adam) with ``torch.nn.utils.clip_grad_norm_`` on the
  Rosenbrock function written in torch (float64, autograd), 200 updates, rtol 1e-10 (atol 1e-12): the
  updates differ from gdfast's only by rounding (autograd's order of operations, torch's norm), a few ulps
  per step amplified by the iteration count; the test asserts the clip fired in the torch loop, and a 1%
  larger clip_norm misses the oracle. Plain SGD on a Quadratic: a NumPy hand loop written here, the same
  operations in the same order, so equal to the bit.
- state=: the single uninterrupted run of n + m updates (gdfast's own, but with no state involved) is the
  oracle for two calls of n and m updates: equal to the bit, points, values and steps, for every optimizer.
"""
import numpy as np
import pytest

import gdfast
from gdfast import reference, schedules
from gdfast.functions import Rosenbrock

# every optimizer, with hyper-parameters that reach each of its branches (as tests/test_objectives.py)
OPTIMIZERS = [
    gdfast.SGD(),
    gdfast.SGD(momentum=0.9),
    gdfast.SGD(momentum=0.9, nesterov=True, weight_decay=0.01),
    gdfast.SGD(momentum=0.5, dampening=0.3),
    gdfast.Adam(),
    gdfast.Adam(amsgrad=True, weight_decay=0.01),
    gdfast.AdamW(weight_decay=0.1),
    gdfast.RMSprop(),
    gdfast.RMSprop(centered=True, momentum=0.5),
    gdfast.Adagrad(lr_decay=0.01),
    gdfast.NAdam(),
    gdfast.NAdam(weight_decay=0.05, decoupled_weight_decay=True),
    gdfast.RAdam(),  # its first 5 updates are unadapted: the continuation crosses that boundary (n = 20)
    gdfast.Adamax(),
]


@pytest.fixture
def torch():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed: the torch oracle needs `pip install torch==2.13.0` (CPU wheel)")
    old, old_dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_num_threads(old)
    torch.set_default_dtype(old_dtype)


def torch_clipped_path(torch, opt, x0, lr, n, clip_norm):
    """n updates of torch.optim on the 2-D Rosenbrock function with clip_grad_norm_; (points, clips fired)."""
    from test_torch_oracle import torch_optimizer
    x = torch.tensor(np.array(x0, dtype=np.float64), requires_grad=True)
    o = torch_optimizer(opt, [x], lr)
    xs, fired = [x.detach().numpy().copy()], 0
    for _ in range(n):
        o.zero_grad()
        (100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2).backward()
        norm = float(torch.nn.utils.clip_grad_norm_([x], clip_norm))
        fired += clip_norm / (norm + 1e-6) < 1.0
        o.step()
        xs.append(x.detach().numpy().copy())
    return np.array(xs), fired


# --- clip_norm ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opt, lr", [(gdfast.SGD(), 1e-3), (gdfast.SGD(momentum=0.9), 1e-4), (gdfast.Adam(), 0.01)],
                         ids=repr)
@pytest.mark.parametrize("path", ["kernel", "python"])
def test_clip_norm_equals_torch_clip_grad_norm(torch, opt, lr, path):
    rosen, x0, clip = Rosenbrock(), [-1.2, 1.0], 1.0
    want, fired = torch_clipped_path(torch, opt, x0, lr, 200, clip)
    assert fired >= 50  # the clip acts on many updates (the gradient's norm at x0 is about 232)
    run = gdfast.descend if path == "kernel" else reference.descend
    p = run(rosen.gradient, x0, learning_rate=lr, num_iterations=200, optimizer=opt, clip_norm=clip)
    assert p.status == "max_iter" and np.abs(want[-1] - want[0]).max() > 1e-3  # it moved
    np.testing.assert_allclose(p.x, want, rtol=1e-10, atol=1e-12)
    # a 1% larger clip misses the oracle: the tolerance is far below the option's effect
    q = run(rosen.gradient, x0, learning_rate=lr, num_iterations=200, optimizer=opt, clip_norm=1.01 * clip)
    assert not np.allclose(q.x, want, rtol=1e-10, atol=1e-12)


def numpy_clipped_sgd(a, b, x0, lr, n, clip):
    """Plain SGD on f = a*x**2 + b*x + c element-wise, g clipped to norm ``clip`` as torch does."""
    x = np.array(x0, dtype=np.float64)
    xs, fired = [x.copy()], 0
    for _ in range(n):
        g = 2 * a * x + b
        norm = np.sqrt(np.cumsum(g * g)[-1])  # squares summed in order, in float64
        coef = clip / (norm + 1e-6)
        if coef < 1.0:
            g = g * coef
            fired += 1
        x = x - lr * g
        xs.append(x.copy())
    return np.array(xs), fired


@pytest.mark.parametrize("path", ["kernel", "python"])
def test_clip_norm_on_a_quadratic_equals_a_numpy_hand_loop(path):
    f = gdfast.Quadratic(1.5, 4.0, 4.0)
    x0 = [10.0, -3.0, 0.25]
    want, fired = numpy_clipped_sgd(1.5, 4.0, x0, 0.1, 60, 2.0)
    assert 10 <= fired < 60  # the clip fires while far away and stops acting near the minimum
    run = gdfast.descend if path == "kernel" else reference.descend
    p = run(f.gradient, x0, learning_rate=0.1, num_iterations=60, clip_norm=2.0)
    np.testing.assert_array_equal(p.x, want)  # the same float64 operations in the same order
    off = run(f.gradient, x0, learning_rate=0.1, num_iterations=60, clip_norm=2.02)
    assert np.abs(off.x - want).max() > 1e-3


def test_clip_norm_shares_grad_tols_norm():
    # grad_tol tests the norm before clipping: clipping to 1e-3 must not stop a run whose gradient is large
    f = gdfast.Quadratic(1.0, 0.0, 0.0)
    p = gdfast.descend(f.gradient, [3.0, 4.0], learning_rate=0.5, num_iterations=20000, clip_norm=1e-3, grad_tol=1e-2)
    # g = 2x: |g| = 10 at x0; each clipped update moves x by lr * clip = 5e-4 towards 0 (|x| from 5) until
    # |2x| < 1e-2, |x| < 5e-3: (5 - 0.005) / 5e-4 = 9990 updates (the 1e-6 in the clip's factor: +- 1)
    assert p.status == "converged"
    assert np.linalg.norm(2 * p.x[-1]) < 1e-2 <= np.linalg.norm(2 * p.x[-2])
    assert 9989 <= p.n_iter <= 9991


def test_clip_norm_in_float32_matches_between_kernel_and_python_loop():
    # not an independent oracle: the two paths of one program (plain SGD in the precision of x)
    f = gdfast.Quadratic(1.0, 4.0, 4.0)
    x0 = np.array([10.0, -7.0], dtype=np.float32)
    k = gdfast.descend(f.gradient, x0, learning_rate=0.1, num_iterations=40, clip_norm=3.0)
    r = reference.descend(f.gradient, x0, learning_rate=0.1, num_iterations=40, clip_norm=3.0)
    assert k.x.dtype == np.float32
    np.testing.assert_array_equal(k.x, r.x)


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), ("1", TypeError)])
@pytest.mark.parametrize("path", ["quadratic", "objective", "python"])
def test_bad_clip_norm_is_refused(value, error, path):
    grad = {"quadratic": gdfast.Quadratic(1, 4, 4).gradient, "objective": Rosenbrock().gradient,
            "python": lambda x: 2 * x}[path]
    with pytest.raises(error, match="clip_norm"):
        gdfast.descend(grad, [1.0, 2.0], learning_rate=0.1, num_iterations=3, clip_norm=value)


# --- state= ---------------------------------------------------------------------------------------------

QUADRATIC = gdfast.Quadratic(1.0, 4.0, 4.0)
PATHS = {
    # name: (gradient, function, x0, learning rate scale); each takes the path it is named after
    "quadratic": (QUADRATIC.gradient, QUADRATIC, [10.0, -3.0], 10.0),
    "objective": (Rosenbrock().gradient, Rosenbrock(), [-1.2, 1.0], 1.0),
    "python": (lambda x: Rosenbrock().gradient(x), lambda x: Rosenbrock()(x), [-1.2, 1.0], 1.0),
}
BASE_LR = {"SGD": 1e-4, "Adagrad": 0.1, "RAdam": 1e-3, "RMSprop": 1e-3}


def three_runs(path, opt, n, m, every, schedule, **extra):
    gradient, function, x0, scale = PATHS[path]
    lr = BASE_LR.get(type(opt).__name__, 0.01) * scale
    kw = dict(learning_rate=lr, optimizer=opt, schedule=schedule, function=function, **extra)
    first = gdfast.descend(gradient, x0, num_iterations=n, record_every=every, **kw)
    second = gdfast.descend(gradient, first.x[-1], num_iterations=m, record_every=every, state=first.state, **kw)
    whole = gdfast.descend(gradient, x0, num_iterations=n + m, record_every=1, **kw)
    return first, second, whole


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_two_calls_equal_one_for_every_optimizer(path, opt):
    n, m, every = 20, 33, 7  # 7 divides neither n nor n + m
    first, second, whole = three_runs(path, opt, n, m, every, schedules.StepDecay(step_size=10, gamma=0.5))
    assert whole.status == "max_iter" and np.abs(whole.x[-1] - whole.x[0]).max() > 1e-3  # it moved
    # steps counted from the run's start; multiples of record_every of that count, as the single run
    np.testing.assert_array_equal(first.steps, [0, 7, 14, 20])
    np.testing.assert_array_equal(second.steps, [20, 21, 28, 35, 42, 49, 53])
    assert (first.n_iter, second.n_iter, second.state.step) == (20, 33, 53)
    # whole has every point (record_every=1): each recorded point is its point of that step, to the bit
    np.testing.assert_array_equal(first.x, whole.x[first.steps])
    np.testing.assert_array_equal(second.x, whole.x[second.steps])
    np.testing.assert_array_equal(second.f, whole.f[second.steps])
    np.testing.assert_array_equal(second.state.opt_state, whole.state.opt_state)
    assert second.state.mu_product == whole.state.mu_product


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("opt", [gdfast.Adam(), gdfast.SGD(momentum=0.9)], ids=repr)
def test_cosine_schedule_and_clip_continue(path, opt):
    # CosineAnnealing with its horizon at the end of the whole run, clipped gradients, three calls
    gradient, function, x0, scale = PATHS[path]
    lr = BASE_LR.get(type(opt).__name__, 0.01) * scale
    kw = dict(learning_rate=lr, optimizer=opt, schedule=schedules.CosineAnnealing(t_max=60, eta_min=lr / 10),
              clip_norm=5.0, record_every=4)
    a = gdfast.descend(gradient, x0, num_iterations=11, **kw)
    b = gdfast.descend(gradient, a.x[-1], num_iterations=30, state=a.state, **kw)
    c = gdfast.descend(gradient, b.x[-1], num_iterations=19, state=b.state, **kw)
    whole = gdfast.descend(gradient, x0, num_iterations=60, **kw)
    np.testing.assert_array_equal(c.x[-1], whole.x[-1])
    joined = {int(s): x for p in (a, b, c) for s, x in zip(p.steps, p.x)}
    for s, x in zip(whole.steps, whole.x):
        np.testing.assert_array_equal(joined[int(s)], x)
    # the default horizon spans the run up to the end of this call (step 60), as train's
    spans = gdfast.descend(gradient, b.x[-1], num_iterations=19, state=b.state,
                           **{**kw, "schedule": schedules.CosineAnnealing(eta_min=lr / 10)})
    np.testing.assert_array_equal(spans.x[-1], whole.x[-1])
    # and the schedule's position matters: a horizon one update longer gives another point
    other = gdfast.descend(gradient, b.x[-1], num_iterations=19, state=b.state,
                           **{**kw, "schedule": schedules.CosineAnnealing(t_max=61, eta_min=lr / 10)})
    assert not np.array_equal(other.x[-1], whole.x[-1])


def test_scalar_lesson_run_continues():
    f = gdfast.Quadratic(1, 4, 4)
    first = gdfast.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=8, function=f)
    more = gdfast.descend(f.gradient, first.x[-1], learning_rate=0.1, num_iterations=12, function=f,
                          state=first.state)
    # the notebook's loop (Python floats), written here
    x, xs = 10.0, [10.0]
    for _ in range(20):
        x = x - 0.1 * (2 * x + 4)
        xs.append(x)
    assert more.x.shape == (13,) and more.x.tolist() == xs[8:]
    assert more.f.tolist() == [f(v) for v in xs[8:]]


def test_record_every_from_an_offset_start():
    # t0 = 2, record_every = 3, 5 more updates: x0 (2), 3, 6, the last (7): one more point than n // 3 + 2
    f = gdfast.Quadratic(1, 4, 4)
    for run in (gdfast.descend, reference.descend):
        a = run(f.gradient, [1.0], learning_rate=0.1, num_iterations=2, record_every=3)
        b = run(f.gradient, a.x[-1], learning_rate=0.1, num_iterations=5, record_every=3, state=a.state)
        assert b.steps.tolist() == [2, 3, 6, 7]
    o = Rosenbrock()
    a = gdfast.descend(o.gradient, [0.0, 0.0], learning_rate=1e-3, num_iterations=2, record_every=3)
    b = gdfast.descend(o.gradient, a.x[-1], learning_rate=1e-3, num_iterations=5, record_every=3, state=a.state)
    assert b.steps.tolist() == [2, 3, 6, 7]


def test_state_is_not_modified_and_can_be_continued_twice():
    o = Rosenbrock()
    a = gdfast.descend(o.gradient, [-1.2, 1.0], learning_rate=0.01, num_iterations=10, optimizer="adam")
    before = a.state.opt_state.copy()
    b1 = gdfast.descend(o.gradient, a.x[-1], learning_rate=0.01, num_iterations=10, optimizer="adam", state=a.state)
    b2 = gdfast.descend(o.gradient, a.x[-1], learning_rate=0.01, num_iterations=10, optimizer="adam", state=a.state)
    np.testing.assert_array_equal(a.state.opt_state, before)
    np.testing.assert_array_equal(b1.x, b2.x)
    assert not a.state.opt_state.flags.writeable and not a.state.x.flags.writeable


@pytest.mark.parametrize("path", ["quadratic", "objective", "python"])
def test_bad_states_are_refused(path):
    gradient = {"quadratic": gdfast.Quadratic(1, 4, 4).gradient, "objective": Rosenbrock().gradient,
                "python": lambda x: Rosenbrock().gradient(x)}[path]
    kw = dict(learning_rate=1e-3, num_iterations=5)
    a = gdfast.descend(gradient, [-1.2, 1.0], optimizer=gdfast.Adam(), **kw)
    x = a.x[-1]
    with pytest.raises(ValueError, match="x0 differs"):
        gdfast.descend(gradient, x + 1e-9, optimizer=gdfast.Adam(), state=a.state, **kw)
    with pytest.raises(ValueError, match="beta1"):
        gdfast.descend(gradient, x, optimizer=gdfast.Adam(beta1=0.8), state=a.state, **kw)
    with pytest.raises(ValueError, match="name"):
        gdfast.descend(gradient, x, optimizer="sgd", state=a.state, **kw)
    with pytest.raises(ValueError, match="dimension 2 .*x0 of dimension 3"):
        gdfast.descend(gradient, [-1.2, 1.0, 0.5], optimizer=gdfast.Adam(), state=a.state, **kw)
    with pytest.raises(ValueError, match="dtype float64.*dtype float32"):
        gdfast.descend(gradient, x.astype(np.float32), optimizer=gdfast.Adam(), state=a.state, **kw)
    with pytest.raises(TypeError, match="DescentState"):
        gdfast.descend(gradient, x, optimizer=gdfast.Adam(), state={"step": 5}, **kw)


def test_a_diverged_state_cannot_be_continued():
    f = gdfast.Quadratic(1, 4, 4)
    with pytest.warns(RuntimeWarning, match="finite"):
        p = gdfast.descend(f.gradient, [1.0], learning_rate=1e300, num_iterations=50)
    assert p.diverged and p.state.diverged
    with pytest.raises(ValueError, match="diverged"):
        gdfast.descend(f.gradient, p.x[-1], learning_rate=0.1, num_iterations=5, state=p.state)
