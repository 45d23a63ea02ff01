"""Pure-NumPy twins of gdfast's public numeric functions (the oracle of the tests, the benchmarks'
baseline), like bottleneck's ``slow`` module.

Same names, same arguments, same validation (``gdfast._validation``), same results within the
tolerances stated in ``tests/conftest.py``; no compiled code. Arithmetic is plain NumPy in the
inputs' dtype: float32 inputs are computed in float32 here, while the kernels accumulate sums in
double, which is why float32 comparisons use a looser tolerance.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, Callable, cast

import numpy as np
import numpy.typing as npt

from ._engine import (
    CONVERGED, DIVERGED, MARGIN_LOSSES, MULTINOMIAL, NO_IMPROVEMENT, RUNNING, STATUS_NAMES, TrainCall, TrainOptions,
    TrainState, epoch_record_every,
)
from ._validation import (
    as_array, as_float, check_int, check_out, check_same_shape, common_float_dtype, prepare_bias, prepare_samples,
    shape_of, update_operands,
)
from .optimizers import SGD, Adagrad, Adam, Adamax, NAdam, Optimizer, RAdam, RMSprop
from ._sparse import is_sparse
from .descent import DescentPath, DescentState, Quadratic, descend as _descend_any
from .functions import Objective
from .training import TrainResult, single_output

__all__ = ["predict", "mse", "mse_gradient", "update", "descend", "train", "shuffle_permutation",
           "SplitMix64"]


def predict(W: npt.ArrayLike, X: npt.ArrayLike, b: npt.ArrayLike | None = None) -> Any:
    """``W @ X + b`` for one sample, ``X @ W.T + b`` for a batch (no b: no bias).

    Examples
    --------
    >>> from gdfast import reference
    >>> reference.predict([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0])
    array([3., 7.])
    """
    W2, X2, _, single, vector = prepare_samples(W, X)
    out: np.ndarray = X2 @ W2.T
    if b is not None:
        out = out + prepare_bias(b, W2)
    if vector:
        return out[0, 0] if single else out[:, 0]
    return out[0] if single else out


def mse(prediction: npt.ArrayLike, target: npt.ArrayLike) -> float:
    """``np.mean((prediction - target) ** 2)`` as a float.

    Examples
    --------
    >>> from gdfast import reference
    >>> reference.mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    check_same_shape(shape_of(prediction), shape_of(target))  # before any conversion, as gdfast.mse
    p = as_array("prediction", prediction)
    t = as_array("target", target)
    check_same_shape(p.shape, t.shape)
    dtype = common_float_dtype(prediction=p, target=t)
    p = as_float("prediction", p, dtype)
    t = as_float("target", t, dtype)
    return float(np.mean((p - t) ** 2))


def mse_gradient(W: npt.ArrayLike, X: npt.ArrayLike, Y: npt.ArrayLike, b: npt.ArrayLike | None = None) -> np.ndarray:
    """``2 / Y.size * (X @ W.T + b - Y).T @ X``.

    Examples
    --------
    >>> from gdfast import reference
    >>> reference.mse_gradient([[1.0, 0.0]], [2.0, 1.0], [1.0])   # 2 * (2 - 1) * [2, 1]
    array([[4., 2.]])
    """
    W2, X2, Y2, _, vector = prepare_samples(W, X, Y)
    R = X2 @ W2.T - Y2
    if b is not None:
        R = X2 @ W2.T + prepare_bias(b, W2) - Y2
    grad: np.ndarray = (2.0 / Y2.size) * (R.T @ X2)
    return grad[0] if vector else grad


def update(W: npt.ArrayLike, G: npt.ArrayLike, learning_rate: float, out: np.ndarray | None = None) -> np.ndarray:
    """``W - learning_rate * G`` evaluated by NumPy itself (its NEP 50 promotion: Python numbers
    are weak, NumPy scalars and arrays strong), after gdfast's validation.

    Examples
    --------
    >>> from gdfast import reference
    >>> reference.update([1.0, 2.0], [10.0, 20.0], 0.1)
    array([0., 0.])
    """
    lr, w_in, g_in = update_operands(W, G, learning_rate)  # the input checks of gdfast.update
    g_arr = as_float("G", g_in.reshape(-1) if g_in.ndim == 0 else g_in, common_float_dtype(G=g_in))
    g: Any = g_arr
    if g_in.ndim == 0:  # a Python number stays weak; a NumPy scalar or 0-d array is strong
        g = float(g_arr[0]) if type(G) in (int, float, bool) else g_arr[0]
    with np.errstate(all="ignore"):
        step = lr * g
    dtype = np.result_type(common_float_dtype(W=w_in), step)
    w = as_float("W", w_in, dtype)
    target = check_out(out, w_in.shape, dtype)
    with np.errstate(all="ignore"):
        result: np.ndarray = w - step
    if target is None:
        return result
    target[...] = result
    return target


def descend(gradient: Callable[[Any], Any], x0: Any, *, learning_rate: float, num_iterations: int,
            function: Callable[[Any], Any] | None = None, optimizer: Any = "sgd", schedule: Any = None,
            grad_tol: float | None = None, clip_norm: float | None = None, record_every: int = 1,
            state: DescentState | None = None) -> DescentPath:
    """:func:`gdfast.descend` as its Python loop, never the kernel (the methods of a Quadratic or of a
    :mod:`gdfast.functions` object are wrapped so the compiled path is not taken). Same options, same arithmetic (plain SGD in the
    precision of x; the other optimizers in float64 by the kernels' own step).

    Examples
    --------
    >>> import gdfast
    >>> from gdfast import reference
    >>> f = gdfast.Quadratic(1, 4, 4)      # x1 = 10 - 0.1 * 24, x2 = 7.6 - 0.1 * 19.2
    >>> reference.descend(f.gradient, 10.0, learning_rate=0.1, num_iterations=2).x
    array([10.  ,  7.6 ,  5.68])
    """
    if isinstance(getattr(gradient, "__self__", None), (Quadratic, Objective)):
        bound = gradient
        gradient = lambda x: bound(x)  # noqa: E731 - hides the Quadratic from the fast path
    return _descend_any(gradient, x0, learning_rate=learning_rate, num_iterations=num_iterations,
                        function=function, optimizer=optimizer, schedule=schedule, grad_tol=grad_tol,
                        clip_norm=clip_norm, record_every=record_every, state=state)


# --- The random generator and the shuffle of src/_train.pyx ------------------------------------

_MASK = (1 << 64) - 1


class SplitMix64:
    """Vigna's splitmix64, the generator of gdfast's in-kernel shuffles (Python integers).

    Examples
    --------
    >>> from gdfast.reference import SplitMix64
    >>> hex(SplitMix64(0).next())          # the published first output for seed 0
    '0xe220a8397b1dcdaf'
    >>> rng = SplitMix64(7)
    >>> all(0 <= rng.below(6) < 6 for _ in range(100))
    True
    """

    def __init__(self, state: int):
        self.state = state & _MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Unbiased integer in [0, bound): outputs below 2**64 mod bound are rejected."""
        threshold = (2**64 - bound) % bound
        r = self.next()
        while r < threshold:
            r = self.next()
        return r % bound


def shuffle_permutation(perm: np.ndarray, rng: SplitMix64) -> None:
    """Fisher-Yates in place: for i = n-1 .. 1 swap perm[i] and perm[rng.below(i + 1)].

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.reference import SplitMix64, shuffle_permutation
    >>> perm = np.arange(6)
    >>> shuffle_permutation(perm, SplitMix64(1))
    >>> sorted(perm.tolist()) == list(range(6))
    True
    """
    for i in range(perm.shape[0] - 1, 0, -1):
        j = rng.below(i + 1)
        perm[i], perm[j] = perm[j], perm[i]


# --- Training ----------------------------------------------------------------------------------

def _loss_terms(kind: str, R: np.ndarray, width: Any) -> tuple[np.ndarray, np.ndarray]:
    """A regression loss of each residual R and its derivative (gdfast.train's formulas, R's dtype)."""
    if kind == "mse":
        return R * R, 2 * R
    if kind == "mae":
        return np.abs(R), np.sign(R)
    a = np.abs(R)
    if kind == "huber":
        quad = a <= width
        return np.where(quad, 0.5 * R * R, width * (a - 0.5 * width)), np.where(quad, R, width * np.sign(R))
    excess = np.maximum(a - width, 0)  # 0 on the kink |r| == width: so is the derivative
    if kind == "epsilon_insensitive":
        return excess, np.sign(R) * (excess > 0)
    return excess * excess, 2 * np.sign(R) * excess  # squared_epsilon_insensitive


def _margin_terms(kind: str, P: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A classification loss of each prediction P and label Y (+-1, or 0 read as -1), and its
    derivative with respect to P (gdfast.train's formulas, P's dtype): l(z) of the margin z = s P."""
    one = P.dtype.type(1)
    s = np.where(Y > 0, one, -one)
    z = s * P
    if kind == "log_loss":
        # log(1 + exp(-z)) = logaddexp(0, -z);  d/dz = -1 / (1 + exp(z)) = -expit(-z)
        return np.logaddexp(P.dtype.type(0), -z), s * -_expit(-z)
    if kind in ("hinge", "perceptron"):
        threshold = one if kind == "hinge" else 0 * one
        active = z <= threshold  # scikit-learn's Hinge: the derivative is -1 on the threshold too
        return np.where(active, threshold - z, 0 * one), np.where(active, -s, 0 * one)
    e = np.maximum(one - z, 0 * one)
    if kind == "squared_hinge":
        return e * e, s * (-2 * e)
    quad = z >= -one  # modified_huber
    return np.where(quad, e * e, -4 * z), s * np.where(quad, -2 * e, -4 * one)


def _softmax_terms(P: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The softmax cross-entropy of the logit rows P against probability rows Y: (terms, d terms / d P),
    terms of shape (n, 1) (one per row) and derivatives (n, K): -sum(Y * log_softmax(P)) and
    softmax(P) * Y.sum() - Y, with the row maximum subtracted (exp never overflows)."""
    m = P.max(axis=1, keepdims=True)
    e = np.exp(P - m)
    e_sum = e.sum(axis=1, keepdims=True)
    s = Y.sum(axis=1, keepdims=True)
    terms = (Y * (m - P)).sum(axis=1, keepdims=True) + s * np.log(e_sum)
    return terms, s * (e / e_sum) - Y


def _expit(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow warnings."""
    e = np.exp(-np.abs(x))
    out: np.ndarray = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out


def loss_and_gradient(theta: np.ndarray, X: np.ndarray, Y: np.ndarray, sw: np.ndarray | None, rows: Any,
                      options: TrainOptions) -> tuple[float, np.ndarray]:
    """The loss of the linear model on the batch ``rows`` (``options.reduction``: the weighted mean, or
    scikit-learn's sample mean of the weighted losses summed over outputs) and its gradient (W then b)."""
    n_outputs, n_features = Y.shape[1], X.shape[1]
    dtype = X.dtype
    W = theta[: n_outputs * n_features].reshape(n_outputs, n_features)
    Xb, Yb = X[rows], Y[rows]
    w = np.ones(len(rows), dtype=dtype) if sw is None else sw[rows]
    R = Xb @ W.T - Yb
    if options.fit_intercept:
        R = R + theta[n_outputs * n_features:]
    per_row = n_outputs
    if options.loss == MULTINOMIAL:
        P = Xb @ W.T
        if options.fit_intercept:
            P = P + theta[n_outputs * n_features:]
        terms, dterms = _softmax_terms(P, Yb)
        per_row = 1  # one term per row, not per output
    elif options.loss in MARGIN_LOSSES:
        P = Xb @ W.T
        if options.fit_intercept:
            P = P + theta[n_outputs * n_features:]
        terms, dterms = _margin_terms(options.loss, P, Yb)
    else:
        terms, dterms = _loss_terms(options.loss, R, dtype.type(options.loss_width))
    if options.reduction == "sample_mean":
        # scikit-learn's objective: (1 / n_rows) sum_i w_i sum_j l_ij (weights not normalised, outputs summed)
        scale = dtype.type(1.0) / dtype.type(len(rows))
    else:
        # an all-zero-weight batch contributes nothing (as in the kernel), not 0/0
        scale = dtype.type(1.0) / (dtype.type(per_row) * w.sum()) if w.sum() > 0 else dtype.type(0.0)
    loss = float((w[:, None] * terms).sum() * scale)
    D = (w[:, None] * dterms) * scale
    grad = (D.T @ Xb).reshape(-1)
    if options.fit_intercept:
        grad = np.concatenate([grad, D.sum(axis=0)])
    return loss, grad


# --- The optimizers: one NumPy step per class of gdfast.optimizers --------------------------------
# Each step implements the Algorithm of its class's docstring (after the weight-decay stage of
# ``optimizer_step``) in the parameters' dtype: ``dt`` is that scalar type, ``buffers`` the three
# rows of the run's optimizer state (as in src/_optimizers.pxd).

_Step = Callable[..., Any]
_STEPS: dict[type[Optimizer], _Step] = {}


def _twin_of(cls: type[Optimizer]) -> Callable[[_Step], _Step]:
    """Register the decorated function as the NumPy step of ``cls`` (and of its subclasses)."""
    def register(step: _Step) -> _Step:
        _STEPS[cls] = step
        return step
    return register


@_twin_of(SGD)
def _sgd_step(opt: SGD, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
              mu_product: np.ndarray) -> Any:
    """:class:`gdfast.SGD`'s Algorithm; buffers[0] = b."""
    if opt.momentum != 0:
        m = dt(opt.momentum)
        buffers[0] = g if step == 1 else m * buffers[0] + dt(1 - opt.dampening) * g
        g = g + m * buffers[0] if opt.nesterov else buffers[0]
    return p - lr * g


def _first_moment(opt: Adam | NAdam | RAdam | Adamax, g: np.ndarray, buffers: Any, dt: Any) -> None:
    """The Adam family's first moment, m = beta1 * m + (1 - beta1) * g, into buffers[0]."""
    b1 = dt(opt.beta1)
    buffers[0] = b1 * buffers[0] + (dt(1) - b1) * g


def _moments(opt: Adam | NAdam | RAdam, g: np.ndarray, buffers: Any, dt: Any) -> None:
    """The Adam family's moments: m as :func:`_first_moment` and v = beta2 * v + (1 - beta2) * g**2,
    into buffers[0] and buffers[1]."""
    _first_moment(opt, g, buffers, dt)
    b2 = dt(opt.beta2)
    buffers[1] = b2 * buffers[1] + (dt(1) - b2) * g * g


@_twin_of(Adam)
def _adam_step(opt: Adam, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
               mu_product: np.ndarray) -> Any:
    """:class:`gdfast.Adam`'s (and AdamW's) Algorithm; buffers = m, v, v_max."""
    _moments(opt, g, buffers, dt)
    v = buffers[1]
    if opt.amsgrad:
        buffers[2] = np.maximum(buffers[2], buffers[1])
        v = buffers[2]
    step_size = lr / dt(1 - opt.beta1**step)
    denom = np.sqrt(v) / dt(np.sqrt(1 - opt.beta2**step)) + dt(opt.eps)
    return p - step_size * buffers[0] / denom


@_twin_of(RMSprop)
def _rmsprop_step(opt: RMSprop, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
                  mu_product: np.ndarray) -> Any:
    """:class:`gdfast.RMSprop`'s Algorithm; buffers = v, a, b."""
    a = dt(opt.alpha)
    buffers[0] = a * buffers[0] + (dt(1) - a) * g * g
    v = buffers[0]
    if opt.centered:
        buffers[1] = a * buffers[1] + (dt(1) - a) * g
        v = np.maximum(v - buffers[1] * buffers[1], dt(0))
    avg = np.sqrt(v) + dt(opt.eps)
    if opt.momentum > 0:
        buffers[2] = dt(opt.momentum) * buffers[2] + g / avg
        return p - lr * buffers[2]
    return p - lr * g / avg


@_twin_of(Adagrad)
def _adagrad_step(opt: Adagrad, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
                  mu_product: np.ndarray) -> Any:
    """:class:`gdfast.Adagrad`'s Algorithm; buffers[0] = s."""
    clr = lr / dt(1 + (step - 1) * opt.lr_decay)
    buffers[0] = buffers[0] + g * g
    return p - clr * g / (np.sqrt(buffers[0]) + dt(opt.eps))


@_twin_of(NAdam)
def _nadam_step(opt: NAdam, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
                mu_product: np.ndarray) -> Any:
    """:class:`gdfast.NAdam`'s Algorithm; buffers = m, v; ``mu_product`` (float64, shape (1,)) in place."""
    mu = opt.beta1 * (1.0 - 0.5 * 0.96 ** (step * opt.momentum_decay))
    mu_next = opt.beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * opt.momentum_decay))
    mu_product[0] *= mu
    product = float(mu_product[0])
    _moments(opt, g, buffers, dt)
    denom = np.sqrt(buffers[1] / dt(1 - opt.beta2**step)) + dt(opt.eps)
    p = p - lr * dt((1.0 - mu) / (1.0 - product)) * g / denom
    return p - lr * dt(mu_next / (1.0 - product * mu_next)) * buffers[0] / denom


@_twin_of(RAdam)
def _radam_step(opt: RAdam, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
                mu_product: np.ndarray) -> Any:
    """:class:`gdfast.RAdam`'s Algorithm; buffers = m, v."""
    _moments(opt, g, buffers, dt)
    m_hat = buffers[0] / dt(1 - opt.beta1**step)
    rho_inf = 2 / (1 - opt.beta2) - 1
    rho_t = rho_inf - 2 * step * opt.beta2**step / (1 - opt.beta2**step)
    if rho_t <= 5:
        return p - lr * m_hat
    r_t = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * dt(np.sqrt(1 - opt.beta2**step)) / (np.sqrt(buffers[1]) + dt(opt.eps)) * dt(r_t)


@_twin_of(Adamax)
def _adamax_step(opt: Adamax, p: np.ndarray, g: np.ndarray, buffers: Any, lr: Any, step: int, dt: Any,
                 mu_product: np.ndarray) -> Any:
    """:class:`gdfast.Adamax`'s Algorithm; buffers = m, u."""
    _first_moment(opt, g, buffers, dt)
    buffers[1] = np.maximum(dt(opt.beta2) * buffers[1], np.abs(g) + dt(opt.eps))
    return p - lr / dt(1 - opt.beta1**step) * buffers[0] / buffers[1]


def optimizer_step(opt: Optimizer, p: np.ndarray, g: np.ndarray, buffers: Any, lr: float, step: int,
                   mu_product: np.ndarray) -> Any:
    """One torch.optim update of the flat parameters ``p`` (returns the new p; ``buffers`` and NAdam's
    ``mu_product`` in place): the weight-decay stage, then the step registered for ``opt``'s class
    (or its nearest registered base class)."""
    dt = p.dtype.type
    lr_t = dt(lr)
    wd = getattr(opt, "weight_decay", 0.0)
    if opt._kernel_fields().get("decoupled_weight_decay", False):
        p = p * (dt(1) - lr_t * dt(wd))  # decoupled: p = p * (1 - lr * weight_decay)
    elif wd != 0:
        g = g + dt(wd) * p  # coupled (L2): g = g + weight_decay * p
    for cls in type(opt).__mro__:
        if cls in _STEPS:
            return _STEPS[cls](opt, p, g, buffers, lr_t, step, dt, mu_product)
    raise TypeError(f"reference: no NumPy step for optimizer class {type(opt).__name__}")  # pragma: no cover


def _penalised_sgd_update(options: TrainOptions, p: np.ndarray, g: np.ndarray, q: np.ndarray, lr: float,
                        r: np.ndarray, size_W: int, per_sample: bool) -> np.ndarray:
    """Plain SGD with ``options.penalty`` on the weights ``p[:size_W]`` (never the bias), in double:
    shrink by max(0, 1 - lr * l2), the loss step, then the L1 part: scikit-learn's truncated
    gradient for ``per_sample`` steps (``q`` the L1 applied to each weight, in place; the record's
    ``l1_total`` the L1 owed), else soft-thresholding."""
    l1 = options.alpha * options.resolved_l1_ratio
    l2 = options.alpha * (1.0 - options.resolved_l1_ratio)
    w_old = p[:size_W].astype(np.float64)
    w = w_old * max(0.0, 1.0 - lr * l2) - lr * g[:size_W].astype(np.float64)
    if l1 != 0.0 and per_sample:
        r["l1_total"] += lr * l1
        u = float(r["l1_total"])
        z = w.copy()
        qw = q[:size_W].astype(np.float64)
        w = np.where(z > 0, np.maximum(0.0, z - (u + qw)), np.where(z < 0, np.minimum(0.0, z + (u - qw)), z))
        q[:size_W] = qw + (w - z)
    elif l1 != 0.0:
        w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0.0)
    out: np.ndarray = p - p.dtype.type(lr) * g
    out[:size_W] = w
    return out


def train(W: npt.ArrayLike, X: npt.ArrayLike, Y: npt.ArrayLike, *, b: npt.ArrayLike | None = None,
          learning_rate: float = 0.01,
          num_iterations: int | None = None, grad_tol: float | None = None, record_every: int = 1,
          optimizer: Any = "sgd", loss: str = "mse", huber_delta: float | None = None,
          epsilon: float | None = None, fit_intercept: bool = False,
          batch_size: int | None = None, shuffle: bool = True, seed: int | None = None,
          num_epochs: int | None = None, schedule: Any = None, loss_tol: float = 1e-4,
          n_iter_no_change: int | None = None, clip_norm: float | None = None,
          sample_weight: npt.ArrayLike | None = None, state: TrainState | None = None,
          progress: bool = False, divergence_factor: float | None = 1e4,
          restore_best: bool = False, n_threads: int = 1, accumulate: str = "float64",
          tol: float | None = None, penalty: str | None = None, alpha: float = 0.0001,
          l1_ratio: float = 0.15, reduction: str = "mean", average: bool | int = False) -> TrainResult:
    """:func:`gdfast.train` as a plain NumPy loop (same options, same result object).

    ``n_threads`` and ``accumulate`` are validated and otherwise unused (one NumPy loop, whose
    products are NumPy's in the data's dtype: float32 data is summed in float32 here whatever
    ``accumulate``). Sums are NumPy's, in NumPy's
    order: gdfast.train's blocked batches (fixed blocks of rows added in block order) agree with
    this twin to rounding, not to the bit.

    Examples
    --------
    >>> from gdfast import reference
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> result = reference.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200)
    >>> result.loss < 1e-10, result.n_iter
    (True, 200)
    """
    if is_sparse(X):
        raise TypeError("the NumPy twin takes dense X: pass X.toarray() (gdfast.train takes a CSR matrix)")
    call = TrainCall.prepare(locals())  # the validation of gdfast.train (input checks, not arithmetic)
    check_int(n_threads, "n_threads", low=1)
    assert isinstance(call.X, np.ndarray)
    options, X2, Y2, sw, start, used_seed = call.options, call.X, call.Y, call.sample_weight, call.start, call.seed
    state = start.copy()
    result = _run_reference(options, X2, Y2, sw, state, call.n_steps, used_seed)
    if result.diverged and not np.isfinite(result.loss):
        # Only batches' losses were seen: the last earlier iterate whose loss on all samples is
        # finite, by running the same loop again for fewer updates.
        for k in range(result.n_iter - 1, -1, -1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                again = _run_reference(options, X2, Y2, sw, start.copy(), k, used_seed)
            if np.isfinite(again.loss):
                again.state.record["status"] = DIVERGED
                result = replace(again, diverged=True, status=STATUS_NAMES[DIVERGED], converged=False,
                                 stopped_early=False)
                break
    return single_output(result) if call.vector else result


def _run_reference(options: TrainOptions, X: np.ndarray, Y: np.ndarray, sw: np.ndarray | None,
                   state: TrainState, n_steps: int, seed: int) -> TrainResult:
    n_samples = X.shape[0]
    dtype = X.dtype
    batch = options.resolved_batch_size(n_samples)
    full_batch = batch >= n_samples and not options.effective_shuffle(n_samples)
    shuffle = options.effective_shuffle(n_samples)

    history, epoch_history = [], []
    r = state.record  # the run's counters and running losses, by field name (written in place)
    t0 = int(r["step"])
    e0 = int(r["epoch"])
    epoch_every = epoch_record_every(options.record_every, options.steps_per_epoch(n_samples))
    rng = SplitMix64(int(r["rng"]))
    # Optimizer buffers in the parameters' dtype (what a float32 NumPy user would write).
    buffers = [state.opt_state[k].astype(dtype) for k in range(3)]
    mean = state.opt_state[2].copy()  # averaged SGD: the running mean of the iterates, in double
    cur = int(r["current"])
    status = RUNNING
    factor = options.divergence_factor
    schedule = options.resolved_schedule(t0 + n_steps)

    def grown(epoch_loss: float) -> bool:
        # past factor x the best epoch loss and past the first one (NaN before it: never)
        return factor is not None and epoch_loss > factor * float(r["best_loss"]) and epoch_loss > float(r["first_loss"])

    for _ in range(n_steps):
        t = int(r["step"])
        p = state.params[cur].copy()
        if full_batch:
            rows = np.arange(n_samples)
        else:
            if r["position"] == 0 and shuffle:
                shuffle_permutation(state.perm, rng)
            rows = state.perm[r["position"]: r["position"] + batch].copy()
        loss, grad = loss_and_gradient(p, X, Y, sw, rows, options)
        if (t - t0) % options.record_every == 0:
            history.append(loss)
        if not np.isfinite(loss) or (full_batch and grown(loss)):
            if full_batch and t > t0:
                cur = 1 - cur
                r["step"] = t - 1
            status = DIVERGED
            break
        r["last_loss"] = loss
        if options.grad_tol is not None or options.clip_norm is not None:
            norm = float(np.sqrt(np.dot(grad.astype(np.float64), grad.astype(np.float64))))
            r["last_grad_norm"] = norm
            if options.grad_tol is not None and norm < options.grad_tol:
                status = CONVERGED
                break
            if options.clip_norm is not None:
                coef = options.clip_norm / (norm + 1e-6)
                if coef < 1.0:
                    grad = grad * dtype.type(coef)
        lr = schedule(options.learning_rate, t)
        if options.penalty is not None:
            state.params[1 - cur] = _penalised_sgd_update(options, p, grad, buffers[1], lr, r, X.shape[1] * Y.shape[1],
                                                        batch == 1)
        else:
            state.params[1 - cur] = optimizer_step(cast(Optimizer, options.optimizer), p, grad, buffers, lr, t + 1,
                                                   r["mu_product"].reshape(1))  # a view: updated in place
        cur = 1 - cur
        r["step"] = t + 1
        if options.average and t + 1 >= options.average:
            r["averaged"] += 1
            mean += (state.params[cur].astype(np.float64) - mean) / float(r["averaged"])
        r["epoch_loss_sum"] += loss * len(rows)
        r["epoch_samples"] += len(rows)
        r["position"] = 0 if full_batch else (r["position"] + len(rows)) % n_samples
        if r["position"] == 0:
            # a full batch's epoch is its one update: the epoch loss is that update's loss
            epoch_loss = loss if full_batch else r["epoch_loss_sum"] / r["epoch_samples"]
            if (r["epoch"] - e0) % epoch_every == 0:
                epoch_history.append(epoch_loss)
            r["epoch"] += 1
            r["epoch_loss_sum"] = r["epoch_samples"] = 0.0
            if not full_batch and grown(epoch_loss):
                status = DIVERGED
                break
            if np.isnan(r["first_loss"]):
                r["first_loss"] = epoch_loss
            if options.restore_best and epoch_loss < r["best_loss"]:
                # the weights this epoch loss belongs to: before the update (full batch), after it
                state.params[2] = p if full_batch else state.params[cur]
                r["best_step"] = t if full_batch else t + 1
            if options.n_iter_no_change:
                if epoch_loss > r["best_loss"] - options.loss_tol:
                    r["no_improvement"] += 1
                else:
                    r["no_improvement"] = 0
            r["best_loss"] = min(r["best_loss"], epoch_loss)
            if options.n_iter_no_change and r["no_improvement"] >= options.n_iter_no_change:
                status = NO_IMPROVEMENT
                break
    r["current"] = cur
    r["rng"] = rng.state
    r["status"] = status
    r["recorded"], r["epochs_recorded"] = len(history), len(epoch_history)
    for k in range(3):
        state.opt_state[k] = buffers[k]
    if options.average:
        state.opt_state[2] = mean

    all_rows = np.arange(n_samples)
    final_loss, _ = loss_and_gradient(state.current_params(), X, Y, sw, all_rows, options)
    if r["step"] > t0 and full_batch and status != DIVERGED and (not np.isfinite(final_loss) or grown(final_loss)):
        r["current"] = 1 - r["current"]
        r["step"] -= 1
        final_loss, _ = loss_and_gradient(state.current_params(), X, Y, sw, all_rows, options)
        status = DIVERGED
    if not np.isfinite(final_loss):
        status = DIVERGED
    n_iter = int(r["step"]) - t0
    # histories of exactly the updates kept (a dropped last update's record goes too)
    if status == DIVERGED:
        history = history[: -(-n_iter // options.record_every)]
    if full_batch:
        epoch_history = history
    if status == DIVERGED:
        r["status"] = DIVERGED
        warnings.warn(f"reference.train: the loss blew up after {n_iter} updates",
                      RuntimeWarning, stacklevel=3)
    theta, best_step = state.current_params(), int(r["step"])
    if options.restore_best and r["best_step"] >= 0:
        best_loss, _ = loss_and_gradient(state.params[2], X, Y, sw, all_rows, options)
        if best_loss < final_loss:
            theta, final_loss, best_step = state.params[2], best_loss, int(r["best_step"])
    averaged = state.averaged_params(options)
    if averaged is not None and status != DIVERGED:
        theta = averaged
        final_loss, _ = loss_and_gradient(theta, X, Y, sw, all_rows, options)
    m, n_feat = state.shape
    W_out = theta[: m * n_feat].reshape(m, n_feat).copy()
    b_out = theta[m * n_feat:].copy() if options.fit_intercept else None
    want_norm = options.grad_tol is not None or options.clip_norm is not None
    return TrainResult(
        W=W_out, b=b_out, loss=float(final_loss), losses=np.array(history, dtype=np.float64),
        epoch_losses=np.array(epoch_history, dtype=np.float64), n_iter=n_iter,
        converged=status == CONVERGED, stopped_early=status == NO_IMPROVEMENT,
        diverged=status == DIVERGED, status=STATUS_NAMES[status],
        grad_norm=float(r["last_grad_norm"]) if want_norm else float("nan"),
        seed=int(seed), state=state, best_step=best_step,
    )
