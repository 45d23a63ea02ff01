"""NAdam, RAdam and Adamax, and the one-step-per-optimizer engine (src/_optimizers.pxd, the twin steps
of gdfast.reference, descend's Python loop calling the kernel step).

Oracles: torch.optim (tests/test_torch_oracle.py runs the training loops against it; here descend's
path), hand loops written below (NAdam's mu_product, Adamax on one coordinate), NumPy.
Tolerances: float64 kernel vs twin rtol 1e-10 / atol 1e-12 (conftest RTOL_LOOP: the twin sums the
gradient in another order, a few ulps per step amplified by the loop); float32 runs against the
float64 run rtol 1e-3 / atol 1e-4 (float32 parameters carry ~6e-8 relative rounding per update,
over 30 updates of a well-conditioned problem); bit equality where the same code runs
(continued runs, sweeps, descend's two paths, which share the kernel's step).
"""
import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

import gdfast
from gdfast import _contract, reference
from gdfast.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from conftest import ATOL_LOOP, RTOL_LOOP, random_problem

NEW = [
    gdfast.NAdam(),
    gdfast.NAdam(beta1=0.8, weight_decay=0.05, momentum_decay=0.01),
    gdfast.NAdam(weight_decay=0.1, decoupled_weight_decay=True),
    gdfast.RAdam(),
    gdfast.RAdam(beta2=0.9, weight_decay=0.05),
    gdfast.RAdam(weight_decay=0.1, decoupled_weight_decay=True),
    gdfast.Adamax(),
    gdfast.Adamax(beta1=0.8, beta2=0.99, weight_decay=0.05),
]
IDS = [repr(o).replace(" ", "") for o in NEW]


@pytest.fixture(scope="module")
def problem():
    return random_problem(np.random.default_rng(3), 24, 4, 2, noise=0.3)


def _all_subclasses(cls):
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


# --- the public surface -------------------------------------------------------------------------

def test_new_optimizers_are_exported_and_named():
    for name, cls in (("nadam", gdfast.NAdam), ("radam", gdfast.RAdam), ("adamax", gdfast.Adamax)):
        assert cls.__name__ in gdfast.__all__ and cls.__name__ in gdfast.optimizers.__all__
        assert OPTIMIZERS[name] is cls
        assert type(get_optimizer(name)) is cls and type(get_optimizer(name.upper())) is cls


def test_defaults_are_torchs():
    torch = pytest.importorskip("torch")
    p = [torch.nn.Parameter(torch.zeros(1))]
    for ours, theirs in ((gdfast.NAdam(), torch.optim.NAdam(p)), (gdfast.RAdam(), torch.optim.RAdam(p)),
                         (gdfast.Adamax(), torch.optim.Adamax(p))):
        d = theirs.defaults
        assert (ours.beta1, ours.beta2) == d["betas"] and ours.eps == d["eps"]
        assert ours.weight_decay == d["weight_decay"]
        if "momentum_decay" in d:
            assert ours.momentum_decay == d["momentum_decay"]
        if "decoupled_weight_decay" in d:
            assert ours.decoupled_weight_decay == d["decoupled_weight_decay"]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "match"), [
    (gdfast.NAdam, dict(beta1=1.0), ValueError, r"beta1 must be < 1"),
    (gdfast.NAdam, dict(beta2=-0.1), ValueError, r"beta2 must be >= 0"),
    (gdfast.NAdam, dict(eps=0.0), ValueError, r"eps must be > 0"),
    (gdfast.NAdam, dict(weight_decay=-1.0), ValueError, r"weight_decay must be >= 0"),
    (gdfast.NAdam, dict(momentum_decay=-1e-3), ValueError, r"momentum_decay must be >= 0"),
    (gdfast.NAdam, dict(momentum_decay=float("nan")), ValueError, r"momentum_decay must be finite"),
    (gdfast.NAdam, dict(decoupled_weight_decay="yes"), TypeError, r"decoupled_weight_decay must be True or False"),
    (gdfast.RAdam, dict(beta1=1.5), ValueError, r"beta1 must be < 1"),
    (gdfast.RAdam, dict(beta2=1.0), ValueError, r"beta2 must be < 1"),
    (gdfast.RAdam, dict(eps=-1.0), ValueError, r"eps must be > 0"),
    (gdfast.RAdam, dict(weight_decay=float("inf")), ValueError, r"weight_decay must be finite"),
    (gdfast.RAdam, dict(decoupled_weight_decay=1), TypeError, r"decoupled_weight_decay must be True or False"),
    (gdfast.Adamax, dict(beta1=-0.5), ValueError, r"beta1 must be >= 0"),
    (gdfast.Adamax, dict(beta2=1.0), ValueError, r"beta2 must be < 1"),
    (gdfast.Adamax, dict(eps=0.0), ValueError, r"eps must be > 0"),
    (gdfast.Adamax, dict(weight_decay="0.1"), TypeError, r"weight_decay must be a real number"),
])
def test_bad_hyper_parameters_are_refused(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_adamax_has_no_decoupled_weight_decay():
    """torch.optim.Adamax has none: passing it is a clear TypeError, not a silently ignored option."""
    with pytest.raises(TypeError, match="decoupled_weight_decay"):
        gdfast.Adamax(decoupled_weight_decay=True)  # type: ignore[call-arg]


# --- one engine: a kernel step, a twin step, a code for every class ---------------------------

def test_every_optimizer_class_has_a_twin_step():
    for cls in _all_subclasses(Optimizer):
        assert any(base in reference._STEPS for base in cls.__mro__), cls


def test_the_twin_does_not_dispatch_on_class_names():
    """reference.optimizer_step and the twin steps look the class up, never its name."""
    tree = ast.parse(inspect.getsource(reference))
    steps = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
             and (node.name == "optimizer_step" or (node.name.startswith("_") and node.name.endswith("_step")))]
    assert len(steps) == 1 + len(reference._STEPS)
    for node in steps:
        body = "\n".join(line for line in ast.unparse(node).splitlines() if "raise TypeError" not in line)
        assert "__name__" not in body and "'SGD'" not in body and '"Adam"' not in body, node.name


@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / "setup.py").exists(), reason="reads the source checkout")
def test_weight_decay_is_written_once_in_the_kernel_steps():
    src = (Path(__file__).resolve().parents[1] / "src" / "_optimizers.pxd").read_text()
    code = "\n".join(line.split("#")[0] for line in src.splitlines())
    assert code.count("weight_decay") == 2  # wd = cfg.weight_decay, and the decoupled flag
    assert code.count("wd * p_old[k]") == 1 and code.count("1.0 - lr * wd") == 1
    assert "optimizer_step" not in (Path(__file__).resolve().parents[1] / "gdfast" / "descent.py").read_text().replace(
        "the kernel's optimizer_step itself", "")


# --- kernel == twin, float32 ------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("optimizer", NEW, ids=IDS)
def test_kernel_matches_twin(problem, optimizer, fit_intercept):
    W0, X, Y = problem
    kw = dict(optimizer=optimizer, learning_rate=0.02, num_iterations=60, fit_intercept=fit_intercept,
              batch_size=5, seed=7, loss="huber", schedule="cosine")
    ours, twin = gdfast.train(W0, X, Y, **kw), reference.train(W0, X, Y, **kw)
    tol = dict(rtol=RTOL_LOOP[np.dtype(np.float64)], atol=ATOL_LOOP[np.dtype(np.float64)])
    np.testing.assert_allclose(ours.losses, twin.losses, **tol)
    np.testing.assert_allclose(ours.W, twin.W, **tol)
    np.testing.assert_allclose(ours.state.opt_state, twin.state.opt_state, **tol)
    np.testing.assert_allclose(ours.state.record["mu_product"], twin.state.record["mu_product"], rtol=1e-15)
    assert ours.n_iter == twin.n_iter == 60


@pytest.mark.parametrize("optimizer", NEW, ids=IDS)
def test_float32_runs_are_finite_and_close(problem, optimizer):
    W0, X, Y = problem
    # 30 updates: later the bias of this problem sits at its optimum, where NAdam's g / denom (g ~ 0)
    # turns rounding into ~1e-7 relative differences even between float64 runs (torch's included)
    kw = dict(optimizer=optimizer, learning_rate=0.02, num_iterations=30, fit_intercept=True)
    r64 = gdfast.train(W0, X, Y, **kw)
    r32 = gdfast.train(W0.astype(np.float32), X.astype(np.float32), Y.astype(np.float32), **kw)
    t32 = reference.train(W0.astype(np.float32), X.astype(np.float32), Y.astype(np.float32), **kw)
    assert r32.W.dtype == np.float32 and np.isfinite(r32.W).all() and np.isfinite(r32.losses).all()
    for got in (r32, t32):
        np.testing.assert_allclose(got.W, r64.W, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(got.losses, r64.losses, rtol=1e-3, atol=1e-4)
    assert r32.losses[-1] < 0.9 * r32.losses[0]  # it learns


# --- NAdam's mu_product: a per-run scalar carried by the state -----------------------------------

def _hand_mu_product(beta1, psi, n):
    product = 1.0
    for t in range(1, n + 1):
        product *= beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    return product


def test_mu_product_is_the_product_of_the_mus(problem):
    W0, X, Y = problem
    opt = gdfast.NAdam(beta1=0.85, momentum_decay=0.02)
    r = gdfast.train(W0, X, Y, optimizer=opt, learning_rate=0.01, num_iterations=37)
    # the same multiplications in the same order as the hand loop: equal to the last bit
    assert r.state.record["mu_product"] == _hand_mu_product(0.85, 0.02, 37)
    # other optimizers leave it at its start value
    r = gdfast.train(W0, X, Y, optimizer="adam", learning_rate=0.01, num_iterations=5)
    assert r.state.record["mu_product"] == 1.0


@pytest.mark.parametrize("optimizer", [NEW[1], NEW[2], NEW[4], NEW[7]], ids=["nadam", "nadamw", "radam", "adamax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_continuing_a_run_gives_the_bits_of_one_long_run(problem, optimizer, dtype):
    W0, X, Y = (a.astype(dtype) for a in problem)
    kw = dict(optimizer=optimizer, learning_rate=0.02, fit_intercept=True, batch_size=7, seed=4)
    whole = gdfast.train(W0, X, Y, num_iterations=50, **kw)
    first = gdfast.train(W0, X, Y, num_iterations=20, **kw)
    second = gdfast.train(first.W, X, Y, b=first.b, num_iterations=30, state=first.state, **kw)
    assert second.W.tobytes() == whole.W.tobytes() and second.b.tobytes() == whole.b.tobytes()
    assert second.state.opt_state.tobytes() == whole.state.opt_state.tobytes()
    per_call = ("history_origin", "epoch_origin", "recorded", "epochs_recorded")  # where this call's histories began
    for field in set(whole.state.record.dtype.names) - set(per_call):
        assert second.state.record[field].tobytes() == whole.state.record[field].tobytes(), field
    if isinstance(optimizer, gdfast.NAdam):
        # the continuation needs the carried mu_product: restarting it from 1.0 gives other weights
        reset = first.state.copy()
        reset.record["mu_product"] = 1.0
        other = gdfast.train(first.W, X, Y, b=first.b, num_iterations=30, state=reset, **kw)
        assert not np.array_equal(other.W, whole.W)


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, float("inf")])
def test_a_corrupt_mu_product_is_refused(problem, bad):
    W0, X, Y = problem
    first = gdfast.train(W0, X, Y, optimizer="nadam", learning_rate=0.01, num_iterations=3)
    first.state.record["mu_product"] = bad
    with pytest.raises(ValueError, match="mu_product must be in"):
        gdfast.train(first.W, X, Y, optimizer="nadam", learning_rate=0.01, num_iterations=3, state=first.state)
    with pytest.raises(ValueError, match="mu_product must be in"):
        reference.train(first.W, X, Y, optimizer="nadam", learning_rate=0.01, num_iterations=3, state=first.state)


def test_the_record_has_the_new_field():
    assert _contract.RECORD_DTYPE["mu_product"] == np.dtype(np.float64)


# --- sweeps and descend -------------------------------------------------------------------------

def test_sweep_of_a_list_of_optimizers_equals_train(problem):
    W0, X, Y = problem
    opts = ["nadam", "radam", "adamax", gdfast.NAdam(decoupled_weight_decay=True, weight_decay=0.1), "adam"]
    configs = [dict(optimizer=o) for o in opts]
    kw = dict(learning_rate=0.02, num_iterations=40, batch_size=6, seed=2, fit_intercept=True)
    s = gdfast.sweep(W0, X, Y, configs=configs, n_threads=2, **kw)
    for cfg, r in zip(configs, s.results):
        one = gdfast.train(W0, X, Y, **cfg, **kw)
        assert r.W.tobytes() == one.W.tobytes() and r.losses.tobytes() == one.losses.tobytes()
        assert r.state.record.tobytes() == one.state.record.tobytes()


@pytest.mark.parametrize("optimizer", NEW + ["sgd", gdfast.SGD(momentum=0.9, weight_decay=0.1), "adam", "adamw",
                                             "rmsprop", "adagrad"],
                         ids=IDS + ["sgd", "sgd-momentum-wd", "adam", "adamw", "rmsprop", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_descend_kernel_and_python_loop_agree_bit_for_bit(optimizer, dtype):
    f = gdfast.Quadratic(1.5, -2.0, 0.5)
    x0 = np.linspace(-3, 3, 7).astype(dtype)
    kw = dict(learning_rate=0.05, num_iterations=120, optimizer=optimizer, function=f)
    fast = gdfast.descend(f.gradient, x0, **kw)
    slow = reference.descend(f.gradient, x0, **kw)
    assert fast.x.dtype == dtype and fast.x.tobytes() == slow.x.tobytes() and fast.f.tobytes() == slow.f.tobytes()
    assert abs(float(fast.x[-1, 3]) - f.minimizer()) < 0.5  # moving towards the minimum 2/3


def test_descend_adamax_matches_a_hand_loop():
    """Adamax on f = x**2 - 4x from x0 = 10, written out from torch's docs (Python floats)."""
    f = gdfast.Quadratic(1.0, -4.0, 0.0)
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    x, m, u, xs = 10.0, 0.0, 0.0, [10.0]
    for t in range(1, 51):
        g = 2.0 * x - 4.0
        m = b1 * m + (1 - b1) * g
        u = max(b2 * u, abs(g) + eps)
        x = x - lr / (1 - b1**t) * m / u
        xs.append(x)
    path = gdfast.descend(f.gradient, 10.0, learning_rate=lr, num_iterations=50, optimizer="adamax")
    np.testing.assert_allclose(path.x, xs, rtol=1e-14, atol=1e-14)  # same operations; bits in practice


@pytest.mark.parametrize("optimizer", ["nadam", "radam", gdfast.RAdam(decoupled_weight_decay=True, weight_decay=0.1),
                                       "adamax"])
def test_descend_matches_torch(optimizer):
    torch = pytest.importorskip("torch")
    opt = get_optimizer(optimizer)
    a, b = 1.5, -2.0
    x0 = np.linspace(-3, 3, 5)
    path = gdfast.descend(gdfast.Quadratic(a, b, 0.0).gradient, x0, learning_rate=0.05, num_iterations=80,
                          optimizer=opt)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # float64 optimizer scalars (NAdam's mu_product), as gdfast's
    try:
        x = torch.nn.Parameter(torch.tensor(x0))
        kw = dict(lr=0.05, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.weight_decay, foreach=False)
        if isinstance(opt, gdfast.NAdam):
            t_opt = torch.optim.NAdam([x], momentum_decay=opt.momentum_decay,
                                      decoupled_weight_decay=opt.decoupled_weight_decay, **kw)
        elif isinstance(opt, gdfast.RAdam):
            t_opt = torch.optim.RAdam([x], decoupled_weight_decay=opt.decoupled_weight_decay, **kw)
        else:
            t_opt = torch.optim.Adamax([x], **kw)
        for _ in range(80):
            x.grad = 2 * a * x.detach() + b
            t_opt.step()
    finally:
        torch.set_default_dtype(old)
    # rtol 1e-12: torch's lerp_/addcdiv_ round differently from the formulas, a few ulps per update
    np.testing.assert_allclose(path.x[-1], x.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_optimizer_update_leaves_its_inputs_alone():
    from gdfast import _train
    from gdfast._engine import TrainOptions

    cfg = TrainOptions.from_kwargs(learning_rate=0.1, optimizer=gdfast.NAdam(weight_decay=0.5)).kernel_config(1)
    p, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    p0, g0 = p.copy(), g.copy()
    state, mu, out = np.zeros((3, 3)), np.ones(1), np.empty(3)
    _train.optimizer_update(cfg, p, g, state, mu, 0.1, 1, out)
    assert np.array_equal(p, p0) and np.array_equal(g, g0)
    assert mu[0] == 0.9 * (1.0 - 0.5 * 0.96 ** 0.004) and np.isfinite(out).all() and not np.array_equal(out, p)
    with pytest.raises(ValueError, match="mu_product must have shape"):
        _train.optimizer_update(cfg, p, g, state, np.ones(2), 0.1, 1, out)
    with pytest.raises(ValueError, match="opt_state"):
        _train.optimizer_update(cfg, p, g, np.zeros((3, 2)), mu, 0.1, 1, out)
    assert math.isfinite(mu[0])
