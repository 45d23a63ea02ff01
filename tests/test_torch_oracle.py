"""A second, independent oracle: the same training run in PyTorch (autograd + torch.optim).

``torch.nn.Linear(bias=fit_intercept)`` in float64, ``torch.optim.{SGD, Adam, AdamW, RMSprop,
Adagrad, NAdam, RAdam, Adamax}`` (``foreach=False``) with the same hyper-parameters, ``MSELoss`` / ``L1Loss`` / ``HuberLoss`` with
``reduction="mean"``, torch's LR schedulers and ``clip_grad_norm_``. Mini-batches are fed in the
order of gdfast's documented generator (``reference.SplitMix64`` + Fisher-Yates).

Tolerance: rtol 1e-10 (float64) on the loss history and the final W/b. torch's updates differ from
gdfast's only by rounding (e.g. ``exp_avg.lerp_(g, 1 - beta1)`` instead of
``beta1 * m + (1 - beta1) * g``, recursive schedulers instead of closed forms), i.e. a few ulps per
step, amplified at most by the iteration count and the problem's conditioning.

torch keeps an optimizer's scalar state (the step count, NAdam's ``mu_product``) in tensors of its
default dtype, float32 unless set: the module runs with ``torch.set_default_dtype(torch.float64)`` so
that NAdam's mu_product is float64 there as in gdfast (measured on this file's problem, 300 NAdam
updates: W within 4e-16 relative of torch's with float64 scalars, 1.5e-11 with float32 ones). The step
counts are small integers, exact in either dtype.
"""
import numpy as np
import pytest

import gdfast
from gdfast import reference, schedules
from conftest import random_problem

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: the torch oracle needs `pip install torch==2.13.0` (CPU wheel)"
)

RTOL_TORCH = 1e-10
ATOL_TORCH = 1e-12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old, old_dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)  # deterministic reductions; the CI machine has 2 cores
    torch.set_default_dtype(torch.float64)  # float64 optimizer scalars (NAdam's mu_product): see above
    yield
    torch.set_num_threads(old)
    torch.set_default_dtype(old_dtype)


def torch_optimizer(opt, params, lr):
    name = type(opt).__name__
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, dampening=opt.dampening,
                               nesterov=opt.nesterov, weight_decay=opt.weight_decay, foreach=False)
    if name in ("Adam", "AdamW"):
        cls = torch.optim.AdamW if name == "AdamW" else torch.optim.Adam
        return cls(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, weight_decay=opt.weight_decay,
                   amsgrad=opt.amsgrad, foreach=False)
    if name == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=opt.alpha, eps=opt.eps, weight_decay=opt.weight_decay,
                                   momentum=opt.momentum, centered=opt.centered, foreach=False)
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=opt.lr_decay, weight_decay=opt.weight_decay,
                                   initial_accumulator_value=opt.initial_accumulator_value, eps=opt.eps,
                                   foreach=False)
    if name == "NAdam":
        return torch.optim.NAdam(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                 weight_decay=opt.weight_decay, momentum_decay=opt.momentum_decay,
                                 decoupled_weight_decay=opt.decoupled_weight_decay, foreach=False)
    if name == "RAdam":
        return torch.optim.RAdam(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                 weight_decay=opt.weight_decay, decoupled_weight_decay=opt.decoupled_weight_decay,
                                 foreach=False)
    if name == "Adamax":
        return torch.optim.Adamax(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.eps,
                                  weight_decay=opt.weight_decay, foreach=False)
    raise AssertionError(name)


def torch_scheduler(schedule, optimizer):
    if schedule is None:
        return None
    if isinstance(schedule, schedules.ExponentialDecay):
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=schedule.gamma)
    if isinstance(schedule, schedules.StepDecay):
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=schedule.step_size, gamma=schedule.gamma)
    if isinstance(schedule, schedules.CosineAnnealing):
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule.t_max, eta_min=schedule.eta_min)
    if isinstance(schedule, schedules.InverseScaling):  # scikit-learn's; torch has no class for it
        p = schedule.power_t
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 / (t + 1) ** p)
    raise AssertionError(schedule)


def torch_loss(name, delta):
    return {"mse": torch.nn.MSELoss(reduction="mean"), "mae": torch.nn.L1Loss(reduction="mean"),
            "huber": torch.nn.HuberLoss(reduction="mean", delta=delta)}[name]


def batches(n_samples, batch_size, shuffle, seed, n_steps):
    """The row indices of each update, in the order gdfast's kernel takes them (its documented
    generator: SplitMix64(seed) driving a Fisher-Yates shuffle of the running permutation at
    each epoch start)."""
    if batch_size is None:
        for _ in range(n_steps):
            yield np.arange(n_samples)
        return
    perm, rng, pos = np.arange(n_samples), reference.SplitMix64(seed), 0
    for _ in range(n_steps):
        if pos == 0 and shuffle:
            reference.shuffle_permutation(perm, rng)
        rows = perm[pos: pos + batch_size].copy()
        pos = (pos + len(rows)) % n_samples
        yield rows


def run_torch(W0, X, Y, *, optimizer, learning_rate, num_iterations, loss="mse", huber_delta=1.0,
              fit_intercept=False, batch_size=None, shuffle=True, seed=0, schedule=None, clip_norm=None,
              sample_weight=None):
    m, n = W0.shape
    model = torch.nn.Linear(n, m, bias=fit_intercept, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W0))
        if fit_intercept:
            model.bias.zero_()
    opt = torch_optimizer(optimizer, model.parameters(), learning_rate)
    sched = torch_scheduler(schedule, opt)
    criterion = torch_loss(loss, huber_delta)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    wt = None if sample_weight is None else torch.from_numpy(sample_weight)
    losses = []
    for rows in batches(X.shape[0], batch_size, shuffle, seed, num_iterations):
        idx = torch.from_numpy(rows)
        opt.zero_grad()
        pred = model(Xt[idx])
        if wt is None:
            value = criterion(pred, Yt[idx])
        else:  # weighted mean of the squared error (no torch loss takes per-sample weights)
            w = wt[idx]
            value = (w[:, None] * (pred - Yt[idx]) ** 2).sum() / (m * w.sum())
        value.backward()
        losses.append(value.item())
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        opt.step()
        if sched is not None:
            sched.step()
    W = model.weight.detach().numpy().copy()
    b = model.bias.detach().numpy().copy() if fit_intercept else None
    return W, b, np.array(losses)


def compare(W0, X, Y, **options):
    ours = gdfast.train(W0, X, Y, **options)
    W, b, losses = run_torch(W0, X, Y, **options)
    np.testing.assert_allclose(ours.losses, losses, rtol=RTOL_TORCH, atol=ATOL_TORCH, err_msg="loss trajectory")
    np.testing.assert_allclose(ours.W, W, rtol=RTOL_TORCH, atol=ATOL_TORCH, err_msg="W")
    if b is not None:
        np.testing.assert_allclose(ours.b, b, rtol=RTOL_TORCH, atol=ATOL_TORCH, err_msg="b")
    else:
        assert ours.b is None
    return ours


@pytest.fixture(scope="module")
def problem():
    return random_problem(np.random.default_rng(77), 16, 5, 3, noise=0.5)


OPTIMIZERS = [
    (gdfast.SGD(), 0.05),
    (gdfast.SGD(momentum=0.9), 0.02),
    (gdfast.SGD(momentum=0.8, dampening=0.4, weight_decay=0.05), 0.02),
    (gdfast.SGD(momentum=0.9, nesterov=True, weight_decay=0.01), 0.02),
    (gdfast.Adam(), 0.02),
    (gdfast.Adam(amsgrad=True, beta1=0.8, beta2=0.99, weight_decay=0.05), 0.02),
    (gdfast.AdamW(), 0.02),
    (gdfast.AdamW(weight_decay=0.1, amsgrad=True, eps=1e-6), 0.02),
    (gdfast.RMSprop(), 0.005),
    (gdfast.RMSprop(centered=True, alpha=0.9), 0.005),
    (gdfast.RMSprop(momentum=0.9, weight_decay=0.01), 0.002),
    (gdfast.RMSprop(centered=True, momentum=0.5), 0.002),
    (gdfast.Adagrad(), 0.1),
    (gdfast.Adagrad(lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6), 0.1),
    (gdfast.NAdam(), 0.02),
    (gdfast.NAdam(beta1=0.8, beta2=0.99, weight_decay=0.05, momentum_decay=0.01), 0.02),
    (gdfast.NAdam(weight_decay=0.1, decoupled_weight_decay=True, eps=1e-6), 0.02),
    (gdfast.RAdam(), 0.02),  # rho_t > 5 from the 6th update: both branches run
    (gdfast.RAdam(beta1=0.8, beta2=0.9, weight_decay=0.05), 0.02),
    (gdfast.RAdam(weight_decay=0.1, decoupled_weight_decay=True, eps=1e-6), 0.02),
    (gdfast.Adamax(), 0.02),
    (gdfast.Adamax(beta1=0.8, beta2=0.99, weight_decay=0.05, eps=1e-6), 0.02),
]
NEW = {"nadam": OPTIMIZERS[14], "radam": OPTIMIZERS[17], "adamax": OPTIMIZERS[20]}


@pytest.mark.parametrize("fit_intercept", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
@pytest.mark.parametrize("optimizer,lr", OPTIMIZERS, ids=[repr(o).replace(" ", "") for o, _ in OPTIMIZERS])
def test_full_batch_matches_torch(problem, optimizer, lr, loss, fit_intercept):
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, loss=loss, huber_delta=0.5,
            fit_intercept=fit_intercept)


@pytest.mark.parametrize("batching", [dict(batch_size=4, seed=3), dict(batch_size=5, seed=2**63 + 5),
                                      dict(batch_size=6, shuffle=False), dict(batch_size=1, seed=1)],
                         ids=["b4", "b5-bigseed", "b6-noshuffle", "b1"])
@pytest.mark.parametrize("optimizer,lr", [OPTIMIZERS[3], OPTIMIZERS[5], OPTIMIZERS[9], OPTIMIZERS[13]],
                         ids=["sgd-nesterov", "adam-amsgrad", "rmsprop-centered", "adagrad"])
def test_minibatches_in_the_kernels_order_match_torch(problem, optimizer, lr, batching):
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, fit_intercept=True, loss="huber",
            **batching)


@pytest.mark.parametrize("schedule", [schedules.ExponentialDecay(0.95), schedules.StepDecay(step_size=7, gamma=0.5),
                                      schedules.CosineAnnealing(t_max=30, eta_min=1e-3),
                                      schedules.InverseScaling(power_t=0.5)], ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("optimizer,lr", [OPTIMIZERS[1], OPTIMIZERS[4]], ids=["sgd-momentum", "adam"])
def test_schedules_match_torch_schedulers(problem, optimizer, lr, schedule):
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, schedule=schedule)


@pytest.mark.parametrize("optimizer,lr", [OPTIMIZERS[0], OPTIMIZERS[6]], ids=["sgd", "adamw"])
def test_clip_grad_norm_matches_torch(problem, optimizer, lr):
    W0, X, Y = problem
    r = compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, clip_norm=0.3,
                fit_intercept=True, batch_size=4, seed=8)
    assert r.grad_norm > 0.3  # the clip was active (the test would pass vacuously otherwise)


def test_sample_weight_matches_torch_weighted_mse(problem):
    W0, X, Y = problem
    w = np.linspace(0.1, 3.0, X.shape[0])
    compare(W0, X, Y, optimizer=gdfast.Adam(), learning_rate=0.02, num_iterations=40, sample_weight=w,
            fit_intercept=True, batch_size=5, seed=4)


def test_long_run_matches_torch(problem):
    """500 Adam steps: rounding differences stay at the tolerance over a long trajectory."""
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=gdfast.Adam(), learning_rate=0.01, num_iterations=500, fit_intercept=True,
            batch_size=8, seed=11)


@pytest.mark.parametrize("batching", [dict(batch_size=4, seed=3), dict(batch_size=1, seed=1)], ids=["b4", "b1"])
@pytest.mark.parametrize("optimizer,lr", list(NEW.values()), ids=list(NEW))
def test_new_optimizers_on_minibatches_match_torch(problem, optimizer, lr, batching):
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, fit_intercept=True, loss="huber",
            **batching)


@pytest.mark.parametrize("schedule", [schedules.ExponentialDecay(0.95), schedules.CosineAnnealing(t_max=30, eta_min=1e-3)],
                         ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("optimizer,lr", list(NEW.values()), ids=list(NEW))
def test_new_optimizers_with_schedules_match_torch(problem, optimizer, lr, schedule):
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=40, schedule=schedule)


@pytest.mark.parametrize("optimizer,lr", [OPTIMIZERS[15], OPTIMIZERS[18], OPTIMIZERS[21]], ids=list(NEW))
def test_new_optimizers_long_run_match_torch(problem, optimizer, lr):
    """300 updates: NAdam's mu_product, RAdam's rectification and Adamax's norm over a long run."""
    W0, X, Y = problem
    compare(W0, X, Y, optimizer=optimizer, learning_rate=lr, num_iterations=300, fit_intercept=True,
            batch_size=8, seed=11)
