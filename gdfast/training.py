"""``gdfast.train``: the whole gradient-descent loop in one compiled call."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _train
from ._engine import (
    C_EPOCHS_RECORDED, C_RECORDED, C_STATUS, C_STEP, C_CURRENT, CONVERGED, DIVERGED, NO_IMPROVEMENT,
    S_LAST_GRAD_NORM, STATUS_NAMES, TrainOptions, TrainState, draw_seed, history_lengths,
)
from ._validation import as_array, as_float, check_bool, prepare_samples
from .optimizers import Optimizer
from .schedules import Schedule

__all__ = ["train", "TrainResult"]


def _same_value(a: object, b: object) -> bool:
    """Equality of TrainResult fields: arrays by dtype, shape and values (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))
    if isinstance(a, TrainState) and isinstance(b, TrainState):
        return all(_same_value(getattr(a, f.name), getattr(b, f.name)) for f in fields(TrainState))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN == NaN here (e.g. grad_norm when no gradient norm was asked for)
    return bool(a == b)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`gdfast.train` returns.

    Attributes
    ----------
    W : ndarray
        Final weights (a new array; the caller's W is untouched).
    b : ndarray or None
        Final bias when ``fit_intercept=True``.
    loss : float
        Loss of the final (W, b) on all samples.
    losses : ndarray of float64
        Loss computed in the forward pass of updates t = 0, record_every, 2*record_every, ...
        (the batch's loss for mini-batches).
    epoch_losses : ndarray of float64
        Mean batch loss of each completed epoch (with a full batch: one entry per update). With
        ``record_every`` > 1, only every ``max(1, record_every // steps_per_epoch)``-th epoch is
        kept (from the first), so long runs keep bounded memory.
    n_iter : int
        Updates done by this call.
    converged : bool
        Stopped because the gradient's norm fell below ``tol``.
    stopped_early : bool
        Stopped by the ``n_iter_no_change`` rule.
    diverged : bool
        Stopped because the loss stopped being finite; W is then the last iterate whose loss was
        finite, and a RuntimeWarning was issued.
    status : str
        ``"max_iter"``, ``"converged"``, ``"no_improvement"`` or ``"diverged"``.
    grad_norm : float
        Norm of the last gradient computed (NaN when neither ``tol`` nor ``clip_norm`` asked for it).
    seed : int
        Seed of the shuffling generator (drawn from the OS when none was given).
    state : TrainState
        Pass as ``train(result.W, X, Y, state=result.state, ...)`` to continue the run exactly.

    Examples
    --------
    >>> import gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> r = gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10)
    >>> r.status, r.n_iter, r.losses.shape, r.W.shape, r.b is None
    ('max_iter', 10, (10,), (4, 4), True)

    Two results are equal (``==``) when every field is: arrays (and the arrays of ``state``) of the
    same dtype, shape and values, NaN equal to NaN, so a rerun with the same seed compares equal:

    >>> r == gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=10, seed=r.seed)
    True
    >>> r == gdfast.train(W1, INPUT, TARGET, learning_rate=0.01, num_iterations=11)
    False
    """

    W: np.ndarray
    b: np.ndarray | None
    loss: float
    losses: np.ndarray
    epoch_losses: np.ndarray
    n_iter: int
    converged: bool
    stopped_early: bool
    diverged: bool
    status: str
    grad_norm: float
    seed: int
    state: TrainState

    def __eq__(self, other: object) -> bool:
        """Field-by-field equality, arrays compared by dtype, shape and values (NaN equal to NaN).

        The dataclass's generated ``==`` compared the arrays with ``==`` and raised "The truth
        value of an array ... is ambiguous"; results are not hashable (they hold arrays).
        """
        if not isinstance(other, TrainResult):
            return NotImplemented
        return all(_same_value(getattr(self, f.name), getattr(other, f.name)) for f in fields(TrainResult))

    __hash__ = None  # type: ignore[assignment]


def train(
    W: npt.ArrayLike,
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    *,
    learning_rate: float = 0.01,
    num_iterations: int | None = None,
    tol: float | None = None,
    record_every: int = 1,
    optimizer: Optimizer | str = "sgd",
    loss: str = "mse",
    huber_delta: float = 1.0,
    fit_intercept: bool = False,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    num_epochs: int | None = None,
    schedule: Schedule | str | None = None,
    loss_tol: float = 1e-4,
    n_iter_no_change: int | None = None,
    clip_norm: float | None = None,
    sample_weight: npt.ArrayLike | None = None,
    state: TrainState | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train the linear model ``W @ x (+ b)`` by gradient descent, the whole loop in one kernel call.

    Parameters
    ----------
    W : array_like, shape (n_outputs, n_features)
        Starting weights (not modified).
    X : array_like, shape (n_features,) or (n_samples, n_features)
        One sample, or one sample per row.
    Y : array_like, shape (n_outputs,) or (n_samples, n_outputs)
        Targets, matching X.
    learning_rate : float, default 0.01
        Base step size (> 0); a ``schedule`` may vary it per update.
    num_iterations : int, default 100
        Number of updates (>= 0). ``0`` returns the start unchanged.
    tol : float, optional
        Stop (``converged=True``) when the norm of the loss gradient falls below ``tol``.
    record_every : int, default 1
        Record the loss every this many updates (bounded memory for long runs); epoch losses are
        then kept about as often (see ``TrainResult.epoch_losses``).
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or an object from
        :mod:`gdfast.optimizers` with its hyper-parameters.
    loss : {"mse", "mae", "huber"}, default "mse"
        Mean over samples and outputs, as torch's MSELoss, L1Loss and HuberLoss(delta=huber_delta).
    huber_delta : float, default 1.0
    fit_intercept : bool, default False
        Also train a bias b (prediction ``W @ x + b``); it starts at zero.
    batch_size : int, optional
        Mini-batch size (1 <= batch_size <= n_samples); None means the full batch. The last batch of
        an epoch is smaller when batch_size does not divide n_samples.
    shuffle : bool, default True
        Reshuffle the samples at each epoch start (mini-batches only), in the kernel, with a
        splitmix64 generator and Fisher-Yates; ``seed`` makes it reproducible to the bit.
    seed : int, optional
        Seed in [0, 2**64). None draws one (reported as ``result.seed``).
    num_epochs : int, optional
        Alternative to ``num_iterations``: this many passes over the samples.
    schedule : str or Schedule, optional
        Learning-rate schedule from :mod:`gdfast.schedules` (default constant).
    loss_tol : float, default 1e-4
        With ``n_iter_no_change``: an epoch "improves" when its mean loss is below the best so far
        minus ``loss_tol`` (scikit-learn's rule).
    n_iter_no_change : int, optional
        Stop after this many consecutive epochs without improvement.
    clip_norm : float, optional
        Rescale the gradient to this global norm when it is larger (torch's ``clip_grad_norm_``).
    sample_weight : array_like, shape (n_samples,), optional
        Non-negative weights of the samples in the loss (weighted mean).
    state : TrainState, optional
        ``result.state`` of an earlier call, to continue it exactly (pass ``result.W`` as W). It is
        copied, never modified, so one state can be continued several times.
    progress : bool, default False
        Show a tqdm progress bar (the kernel then runs in chunks between bar updates).

    Returns
    -------
    TrainResult
        All its arrays (W, b, the loss histories, the state's arrays) are new: they share no memory
        with the inputs, with each other's W/b, or with an earlier result.

    Examples
    --------
    >>> import numpy as np, gdfast
    >>> from gdfast.lesson import INPUT, TARGET, W1
    >>> result = gdfast.train(W1, INPUT, TARGET, learning_rate=0.02, num_iterations=200)
    >>> result.loss < 1e-10
    True
    """
    options = TrainOptions.from_kwargs(
        learning_rate=learning_rate, num_iterations=num_iterations, tol=tol, record_every=record_every,
        optimizer=optimizer, loss=loss, huber_delta=huber_delta, fit_intercept=fit_intercept,
        batch_size=batch_size, shuffle=shuffle, seed=seed, num_epochs=num_epochs, schedule=schedule,
        loss_tol=loss_tol, n_iter_no_change=n_iter_no_change, clip_norm=clip_norm,
    )
    progress = check_bool(progress, "progress")
    W, X2, Y2, _ = prepare_samples(W, X, Y)
    sw = _prepare_sample_weight(sample_weight, X2)
    n_samples = X2.shape[0]
    n_steps = options.resolved_num_iterations(n_samples)
    cfg = options.kernel_config(n_samples)
    if state is None:
        used_seed = options.seed if options.seed is not None else draw_seed()
        state = TrainState.new(W, None, n_samples, options, used_seed)
    else:
        if not isinstance(state, TrainState):
            raise TypeError(f"state must be a TrainState (result.state); got {type(state).__name__}")
        state = state.copy()  # checked after copying, so no other thread can change what was checked
        TrainState.check_compatible(state, W, n_samples, options)
        used_seed = options.seed if options.seed is not None else -1
    return _run(cfg, options, X2, Y2, sw, state, n_steps, used_seed, progress)


def _prepare_sample_weight(sample_weight: Any, X2: np.ndarray) -> np.ndarray | None:
    if sample_weight is None:
        return None
    sw = as_float("sample_weight", as_array("sample_weight", sample_weight), X2.dtype, ndim=1)
    if sw.shape[0] != X2.shape[0]:
        raise ValueError(f"sample_weight must have shape ({X2.shape[0]},) (n_samples); got {sw.shape}")
    if (sw < 0).any() or not (sw > 0).any():
        raise ValueError("sample_weight must be >= 0 with at least one positive weight")
    # The loss is sum(w * l) / sum(w): invariant to scaling w, but sum(w) can overflow (huge weights)
    # or 1 / sum(w) can (tiny ones). Scale such weights by a power of two, which is exact.
    top = float(sw.max())
    if not 2.0**-64 <= top <= 2.0**64:
        sw = np.ldexp(sw, -np.frexp(top)[1])
    return sw


def _history_sizes(options: TrainOptions, n_samples: int, n_steps: int) -> tuple[int, int]:
    """Lengths of the loss and epoch-loss histories a call of ``n_steps`` updates can fill."""
    hist_len, epoch_len = history_lengths(n_steps, options.record_every, options.steps_per_epoch(n_samples))
    if max(hist_len, epoch_len) > np.iinfo(np.intp).max // 8:
        raise ValueError(
            f"{n_steps} updates need loss histories of {hist_len} and {epoch_len} entries, more than an "
            "array can hold: lower num_iterations / num_epochs, or raise record_every"
        )
    return hist_len, epoch_len


def _allocate(cfg: dict[str, Any], options: TrainOptions, Y2: np.ndarray, size: int,
              n_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """History buffers and scratch of one run: (history, epoch_history, grad, residual)."""
    n_samples, n_outputs = Y2.shape
    hist_len, epoch_len = _history_sizes(options, n_samples, n_steps)
    return (np.full(hist_len, np.nan), np.full(epoch_len, np.nan), np.zeros(size),
            np.empty(cfg["batch_size"] * n_outputs))


def _run(cfg: dict[str, Any], options: TrainOptions, X2: np.ndarray, Y2: np.ndarray, sw: np.ndarray | None,
         state: TrainState, n_steps: int, seed: int, progress: bool) -> TrainResult:
    history, epoch_history, grad, residual = _allocate(cfg, options, Y2, state.params.shape[1], n_steps)
    t0, e0 = state.step, state.epoch
    state.counters[C_RECORDED] = state.counters[C_EPOCHS_RECORDED] = 0
    state.counters[C_STATUS] = 0
    args = (X2, Y2, sw, options.fit_intercept, state.params, state.opt_state, grad, residual, state.perm,
            state.counters, state.scalars, history, epoch_history, t0, e0)
    if progress and n_steps > 0:
        status = _run_with_progress(cfg, args, n_steps, t0, state)
    else:
        status = _train.run_steps(cfg, *args, n_steps) if n_steps > 0 else 0
    return _finish(cfg, options, X2, Y2, sw, state, status, t0, seed, history, epoch_history)


def _finish(cfg: dict[str, Any], options: TrainOptions, X2: np.ndarray, Y2: np.ndarray, sw: np.ndarray | None,
            state: TrainState, status: int, t0: int, seed: int, history: np.ndarray, epoch_history: np.ndarray,
            warn: bool = True) -> TrainResult:
    """Final loss, divergence fix-up and the TrainResult of a run the kernel has advanced."""
    theta = state.current_params()
    final_loss = _train.dataset_loss(cfg, X2, Y2, sw, options.fit_intercept, theta, np.empty(Y2.size))
    if not np.isfinite(final_loss) and state.step > 0:
        # The very last update overflowed (no forward pass saw it yet): step back to the previous one.
        state.counters[C_CURRENT] = 1 - state.counters[C_CURRENT]
        state.counters[C_STEP] -= 1
        status = DIVERGED
        final_loss = _train.dataset_loss(
            cfg, X2, Y2, sw, options.fit_intercept, state.current_params(), np.empty(Y2.size)
        )
    elif not np.isfinite(final_loss):
        status = DIVERGED  # the start point's loss itself is not finite (seen when no update ran)
    n_iter = state.step - t0
    if status == DIVERGED and warn:
        warnings.warn(
            f"train: the loss stopped being finite after {n_iter} updates (learning_rate too large?); "
            "returning the last weights whose loss was finite",
            RuntimeWarning,
            stacklevel=4,
        )
    W, b = state.split()
    grad_norm = state.scalars[S_LAST_GRAD_NORM] if (options.tol is not None or options.clip_norm) else np.nan
    return TrainResult(
        W=W, b=b, loss=float(final_loss),
        losses=history[: state.counters[C_RECORDED]].copy(),
        epoch_losses=epoch_history[: state.counters[C_EPOCHS_RECORDED]].copy(),
        n_iter=int(n_iter), converged=status == CONVERGED, stopped_early=status == NO_IMPROVEMENT,
        diverged=status == DIVERGED, status=STATUS_NAMES[status], grad_norm=float(grad_norm),
        seed=int(seed), state=state,
    )


def _run_with_progress(cfg: dict[str, Any], args: tuple[Any, ...], n_steps: int, t0: int, state: TrainState) -> int:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("progress=True needs tqdm: pip install tqdm") from None
    chunk = max(1, n_steps // 100)
    status = 0
    with tqdm(total=n_steps, unit="it") as bar:
        done = 0
        while done < n_steps and status == 0:
            todo = min(chunk, n_steps - done)
            before = state.step
            # (mypy cannot match a star-unpacked tuple followed by one more positional argument)
            status = _train.run_steps(cfg, *args, todo)  # type: ignore[call-arg]
            done += todo
            bar.update(max(state.step - before, 0))
            bar.set_postfix(loss=f"{state.scalars[3]:.4g}")
    return status
