"""``gdfast.GDRegressor`` and ``gdfast.GDClassifier``: the compiled training loop as scikit-learn estimators.

Importing this module imports scikit-learn (``pip install gdfast[sklearn]``); ``import gdfast`` alone
does not: ``gdfast.GDRegressor`` and ``gdfast.GDClassifier`` are loaded on first access.
"""
from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np
from scipy.special import expit, softmax  # type: ignore[import-untyped]
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._engine import CLASSIFICATION_LOSSES, LOSSES, MARGIN_LOSSES, RUNNING, TrainOptions, TrainState, check_reduction
from ._validation import as_array, as_float, check_bool, check_int, check_ndim, check_real
from .schedules import SCHEDULES
from .core import predict as _predict
from .training import TrainResult, train

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["GDRegressor", "GDClassifier"]

_Method = TypeVar("_Method", bound=Callable[..., Any])

# The Parameters and Returns sections of fit and partial_fit: the same arguments, the same result.
_FIT_ARGUMENTS_DOC = """Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weights (weighted mean loss).

        Returns
        -------
        self"""


def _is_seed(random_state: Any) -> bool:
    """True for an int seed that ``np.random.RandomState`` takes (0 to 2**32 - 1; not a bool)."""
    return (isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_))
            and 0 <= int(random_state) < 2**32)


def _check_random_state(random_state: Any) -> None:
    """``check_random_state``'s validation, without seeding a generator for an int seed (a
    Mersenne Twister seeding costs about 0.2 ms: as much as a whole small fit's epochs)."""
    if not _is_seed(random_state):
        check_random_state(random_state)


@functools.lru_cache(maxsize=256)
def _seed_of_int(seed: int) -> int:
    """The first draw of ``np.random.RandomState(seed)`` in [0, 2**31 - 1)."""
    return int(np.random.RandomState(seed).randint(0, 2**31 - 1))


def _kernel_seed(random_state: Any) -> int:
    """The kernel's seed: one draw from ``check_random_state(random_state)`` (a RandomState or
    the global generator advances; an int seed always gives the same draw, remembered)."""
    if _is_seed(random_state):
        return _seed_of_int(int(random_state))
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _with_fit_arguments(method: _Method) -> _Method:
    """``method`` with the line ``{fit arguments}`` of its docstring replaced by _FIT_ARGUMENTS_DOC."""
    if method.__doc__ is not None:  # None under python -OO
        method.__doc__ = method.__doc__.replace("{fit arguments}", _FIT_ARGUMENTS_DOC)
    return method


class _BaseGD(BaseEstimator):
    """What GDRegressor and GDClassifier share: training through :func:`gdfast.train`, continuing
    it (``partial_fit``), the public ``coef_``/``intercept_`` and the convergence warnings.

    A subclass gives ``_reduction`` (``reduction=`` of :func:`gdfast.train`) and ``_check_loss``.
    """

    _reduction = "mean"
    _public_name = "GDRegressor"  # the name warnings use
    loss_curve_: np.ndarray
    t_: int

    def _check_loss(self, loss: str) -> None:
        raise NotImplementedError

    def _train_loss(self) -> str:
        """The ``loss=`` given to :func:`gdfast.train` (a classifier's softmax replaces its ``loss``)."""
        return str(self.loss)

    def _fit_start(self, coef_init: Any, intercept_init: Any, coef_shape: tuple[int, ...]) -> bool:
        """Set ``coef_``/``intercept_`` to where ``fit`` starts: ``coef_init``/``intercept_init``
        (zeros for the one not given), else with ``warm_start`` the fitted ones; True when ``fit``
        starts from them, False for zero weights (scikit-learn's rules)."""
        check_bool(self.warm_start, "warm_start")
        self._check_early_stopping()
        for name in ("validation_scores_", "best_iteration_"):
            self.__dict__.pop(name, None)  # only the fit that held out a validation part has them
        if coef_init is None and intercept_init is None:
            if self.warm_start and hasattr(self, "coef_"):
                return True
            for name in ("coef_", "intercept_"):
                self.__dict__.pop(name, None)  # fit starts from zero
            return False
        n_outputs = coef_shape[0] if len(coef_shape) == 2 else 1
        if coef_init is None:
            coef = np.zeros(coef_shape)
        else:
            coef = as_array("coef_init", coef_init)
            if coef.shape != coef_shape and not (len(coef_shape) == 2 and coef_shape[0] == 1
                                                 and coef.shape == coef_shape[1:]):
                raise ValueError(f"coef_init must have shape {coef_shape} (outputs, features); got {coef.shape}")
            coef = as_float("coef_init", coef.reshape(coef_shape), np.result_type(coef.dtype, np.float32)).copy()
        if intercept_init is None:
            intercept = np.zeros(n_outputs)
        else:
            intercept = as_array("intercept_init", intercept_init)
            if intercept.shape not in ((), (n_outputs,)):
                raise ValueError(f"intercept_init must be a number or have shape ({n_outputs},); got {intercept.shape}")
            intercept = as_float("intercept_init", np.broadcast_to(intercept, (n_outputs,)), coef.dtype).copy()
        self.coef_ = coef
        self.intercept_ = intercept if len(coef_shape) == 2 else float(intercept[0])
        return True

    def _check_early_stopping(self) -> None:
        check_bool(self.early_stopping, "early_stopping")
        check_real(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_inclusive=False,
                   high_inclusive=False)

    def _fit_early_stopping(self, X: np.ndarray, y: np.ndarray, sample_weight: Any, warm: bool,
                            fit_epoch: Callable[..., Any], stratify: bool) -> None:
        """``fit`` with ``early_stopping=True``: hold out ``validation_fraction`` of the samples
        (stratified by class for a classifier; the split is drawn from ``random_state``), train one
        epoch at a time on the rest, score the held-out samples after each (``score``: R² or
        accuracy, weighted by ``sample_weight``), stop when the score has not improved on the best
        by ``tol`` for ``n_iter_no_change`` epochs, and keep the weights of the best score.

        ``fit_epoch(X, y, sample_weight, first, from_public)`` trains one epoch (continuing the
        run unless ``first``)."""
        n_samples = X.shape[0]
        splitter = (StratifiedShuffleSplit if stratify else ShuffleSplit)(
            n_splits=1, test_size=self.validation_fraction, random_state=check_random_state(self.random_state))
        try:
            train_idx, val_idx = next(splitter.split(np.zeros((n_samples, 1)), y if stratify else None))
        except ValueError as exc:
            raise ValueError(
                f"early_stopping: validation_fraction={self.validation_fraction} of {n_samples} samples cannot be "
                f"split off{' with every class on both sides' if stratify else ''} ({exc}); give more samples or "
                "another validation_fraction"
            ) from exc
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                                      ensure_non_negative=True)
        X_val, y_val = X[val_idx], y[val_idx]
        sw_val = None if sw is None else sw[val_idx]
        tol = -np.inf if self.tol is None else self.tol
        best_score, best, no_improvement = -np.inf, None, 0
        curve: list[np.ndarray] = []
        scores = []
        t_total = 0
        for epoch in range(self.max_iter):
            fit_epoch(X[train_idx], y[train_idx], None if sw is None else sw[train_idx], epoch == 0, warm and epoch == 0)
            curve.append(self.loss_curve_)
            t_total = self.t_
            score = float(self.score(X_val, y_val, sample_weight=sw_val))
            scores.append(score)
            no_improvement = no_improvement + 1 if score < best_score + tol else 0
            if score > best_score:
                best_score = score
                best = (np.array(self.coef_, copy=True), np.array(self.intercept_, copy=True), epoch)
            if no_improvement >= self.n_iter_no_change:
                break
        else:
            if self.tol is not None:
                warnings.warn(
                    f"{self._public_name}: max_iter={self.max_iter} epochs reached before the validation score "
                    "stopped improving by tol; consider increasing max_iter or learning_rate",
                    ConvergenceWarning, stacklevel=4)
        assert best is not None
        self.coef_ = best[0]
        self.intercept_ = best[1] if best[1].ndim else float(best[1])
        self.n_iter_ = len(scores)
        self.t_ = t_total
        self.best_iteration_ = best[2] + 1
        self.validation_scores_ = np.array(scores)
        self.loss_curve_ = curve[-1]

    # ------------------------------------------------------------------------------------------
    def _train(self, X: np.ndarray, y: np.ndarray, sample_weight: Any, *, first: bool, epochs: int,
               early_stop: bool, from_public: bool = False) -> Self:
        Y = np.asarray(y, dtype=X.dtype)
        y_1d = Y.ndim == 1
        Y = Y.reshape(-1, 1) if y_1d else Y
        n_samples, n_features = X.shape
        warm = None
        if not first or from_public or (not early_stop and hasattr(self, "coef_")):
            # Continue from the public attributes (the user may have set them), in the model's dtype.
            dtype = self._state.params.dtype if not first else X.dtype
            W_pub, b_pub, model_1d = self._public_params(dtype)
            if Y.shape[1] != W_pub.shape[0] or y_1d != model_1d:
                raise ValueError(
                    f"y has {Y.shape[1]} target(s) ({'1-D' if y_1d else '2-D'}); the model (coef_) has "
                    f"{W_pub.shape[0]} ({'1-D' if model_1d else '2-D'})"
                )
            if W_pub.shape[1] != n_features:
                raise ValueError(f"coef_ has {W_pub.shape[1]} features; X has {n_features}")
            if not self.fit_intercept and b_pub.any():
                raise ValueError("intercept_ must be 0 with fit_intercept=False; set fit_intercept=True to train it")
            warm = (W_pub, b_pub)
            # Keep the model's dtype: later batches are cast to it.
            X = X.astype(dtype, copy=False)  # (an ndarray or a CSR matrix)
            Y = np.asarray(Y, dtype=dtype)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        batch_size = None if self.batch_size is None else min(self.batch_size, n_samples)  # checked
        options: dict[str, Any] = dict(
            learning_rate=self.learning_rate, optimizer=self.optimizer, loss=self._train_loss(),
            huber_delta=self.huber_delta, epsilon=self.epsilon, fit_intercept=self.fit_intercept,
            batch_size=batch_size, shuffle=self.shuffle,
            num_epochs=epochs, schedule=self.schedule, clip_norm=self.clip_norm,
            accumulate=self.accumulate, penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio,
            reduction=self._reduction, average=self.average,
            # One per-update record per epoch: loss_curve_ comes from the (complete) epoch history.
            progress=bool(self.verbose), record_every=-(-n_samples // (batch_size or n_samples)),
        )
        if early_stop and self.tol is not None:
            options.update(loss_tol=self.tol, n_iter_no_change=self.n_iter_no_change)
        if early_stop:
            # (the mean of the iterates is returned when averaging: no best iterate to restore)
            options.update(restore_best=self.restore_best and not self.average)
        if first:
            seed = _kernel_seed(self.random_state)
            if warm is None:
                W0 = np.zeros((Y.shape[1], n_features), dtype=X.dtype)
                result = train(W0, X, Y, seed=seed, sample_weight=sw, **options)
            else:  # a first partial_fit from coef_ / intercept_ set by the user
                start = TrainState.new(warm[0], warm[1], n_samples, TrainOptions.from_kwargs(
                    **{k: v for k, v in options.items() if k != "progress"}), seed)
                result = train(warm[0], X, Y, seed=seed, state=start, sample_weight=sw, **options)
            curve_before: np.ndarray = np.empty(0)
            t_before, epoch_before = 0, 0
        else:
            state = self._state
            t_before, epoch_before = state.step, state.epoch
            if state.perm.shape[0] != n_samples or state.record["position"] != 0:
                # A batch of another size: same optimizer buffers, counters and generator, a fresh
                # sample order for the new data (an epoch always ends at the end of a call).
                state = replace(state.copy(), perm=np.arange(n_samples, dtype=np.intp))
                state.record["position"] = 0
            else:
                state = state.copy()
            assert warm is not None
            m, n = state.shape
            theta = state.current_params()  # the copy's: the model's state is not touched
            averaged = state.averaged_params(TrainOptions.from_kwargs(average=self.average))
            if averaged is None or not (np.array_equal(averaged[: m * n], warm[0].reshape(-1))
                                        and (not state.fit_intercept or np.array_equal(averaged[m * n:], warm[1]))):
                # coef_ / intercept_ are not the state's mean of the iterates (set by the user, or
                # no averaging): continue from them; else from the raw iterate, as scikit-learn
                theta[: m * n] = warm[0].reshape(-1)
                if state.fit_intercept:
                    theta[m * n:] = warm[1]
            result = train(warm[0], X, Y, state=state, sample_weight=sw, **options)
            curve_before = self.loss_curve_
        self._store(result, y_1d, X.dtype)
        self.n_iter_ = int(result.state.epoch - epoch_before)
        self.t_ = int(t_before + result.n_iter)
        self.loss_curve_ = np.concatenate([curve_before, result.epoch_losses])
        self._warn_if_worse_than_best(result, early_stop)
        if early_stop and self.tol is not None and result.status == "max_iter" and not result.diverged:
            warnings.warn(
                f"{self._public_name}: max_iter={self.max_iter} epochs reached before the loss stopped improving "
                "by tol; consider increasing max_iter or learning_rate",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _warn_if_worse_than_best(self, result: TrainResult, early_stop: bool) -> None:
        """A ConvergenceWarning when fit ended on divergence, or on no improvement far above its best."""
        curve = result.epoch_losses
        if not early_stop or result.status not in ("diverged", "no_improvement"):
            return
        restored = result.best_step != result.state.step
        if result.status == "diverged":
            kept = "the weights of its best epoch" if restored else "the last weights before the blow-up"
            warnings.warn(
                f"{self._public_name}: training diverged after {result.n_iter} updates (the loss overflowed or grew "
                f"past 1e4 times its best); the model holds {kept}. The learning_rate ({self.learning_rate}) "
                "is too large for this data: lower it, or standardise the features.",
                ConvergenceWarning, stacklevel=4,
            )
            return
        best = int(np.argmin(curve))
        if not curve[-1] > curve[best]:  # (both 0: a separable problem solved exactly)
            return
        ratio = curve[-1] / curve[best] if curve[best] > 0 else np.inf
        if not ratio > 1.1:
            return
        kept = "the weights of the best epoch" if restored else "the last weights"
        warnings.warn(
            f"{self._public_name}: training stopped improving with a last epoch loss of {curve[-1]:.4g}, {ratio:.3g} "
            f"times the best epoch's ({curve[best]:.4g}, epoch {best + 1}); the model holds {kept}. The "
            f"learning_rate ({self.learning_rate}) is probably too large.",
            ConvergenceWarning,
            stacklevel=4,
        )

    def _check_params(self) -> None:
        """Validate every hyper-parameter (at fit time, as scikit-learn does) with the validators of
        :func:`gdfast.train`; messages name the parameter as the estimator spells it."""
        check_int(self.max_iter, "max_iter", low=1)
        if self.tol is not None:
            check_real(self.tol, "tol", low=0.0)
        check_int(self.n_iter_no_change, "n_iter_no_change", low=1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", low=1)
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_int(self.verbose, "verbose", low=0)
        check_bool(self.restore_best, "restore_best")
        if isinstance(self.learning_rate, str):
            hint = (f"; scikit-learn's learning_rate={self.learning_rate!r} is schedule={self.learning_rate!r} "
                    "here (with learning_rate=eta0)" if self.learning_rate.lower() in SCHEDULES else "")
            raise TypeError(f"learning_rate is the step size, a number > 0; got {self.learning_rate!r}{hint}")
        options = TrainOptions.from_kwargs(
            learning_rate=self.learning_rate, optimizer=self.optimizer, loss=self.loss,
            huber_delta=self.huber_delta, epsilon=self.epsilon, fit_intercept=self.fit_intercept,
            shuffle=self.shuffle, schedule=self.schedule, clip_norm=self.clip_norm, accumulate=self.accumulate,
            penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio, average=self.average,
        )
        self._check_loss(options.loss)
        _check_random_state(self.random_state)

    def _public_params(self, dtype: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """(W, b, y_1d) from ``coef_`` and ``intercept_``: W of shape (n_targets, n_features), b of
        shape (n_targets,), in ``dtype`` (None: coef_'s float dtype)."""
        coef = as_array("coef_", self.coef_)
        check_ndim("coef_", coef.shape, (1, 2))
        y_1d = coef.ndim == 1
        W = as_float("coef_", coef.reshape(1, -1) if y_1d else coef,
                     np.dtype(dtype) if dtype is not None else np.result_type(coef.dtype, np.float32))
        intercept = as_array("intercept_", self.intercept_)
        m = W.shape[0]
        if intercept.shape not in ((), (m,), (1,) if m == 1 else (m,)):
            raise ValueError(f"intercept_ must be a number or have shape ({m},) (one per target); got {intercept.shape}")
        b = as_float("intercept_", np.broadcast_to(intercept, (m,)), W.dtype)
        return W, b, y_1d

    def _store(self, result: TrainResult, y_1d: bool, dtype: np.dtype) -> None:
        if result.best_step != result.state.step or result.diverged:
            # restore_best returned earlier weights, or the run diverged: a later partial_fit continues
            # from the returned weights (with the optimizer's buffers and counters of the last update).
            state = result.state.copy()
            state.record["status"] = RUNNING
            m, n = result.W.shape
            theta = state.current_params()
            theta[: m * n] = result.W.reshape(-1)
            if result.b is not None:
                theta[m * n:] = result.b
            result = replace(result, state=state)
        if result.state.params.shape[0] > 2:
            # partial_fit continues without restore_best: the state without its best-iterate row
            result = replace(result, state=replace(result.state, params=result.state.params[:2].copy()))
        self._state: TrainState = result.state
        n_outputs = result.W.shape[0]
        b = result.b if result.b is not None else np.zeros(n_outputs, dtype=dtype)
        if y_1d:
            self.coef_ = result.W[0].copy()
            self.intercept_ = float(b[0])
        else:
            self.coef_ = result.W.copy()
            self.intercept_ = b.copy()


class GDRegressor(RegressorMixin, _BaseGD):
    """Linear regression trained by :func:`gdfast.train`, with scikit-learn's estimator API.

    The model is ``X @ coef_.T + intercept_``, trained from zero weights by (mini-batch) gradient
    descent on the mean loss over samples and outputs, the whole loop in one compiled call.

    The defaults (mini-batches of 8 samples, ``learning_rate=0.02`` with scikit-learn's
    inverse-scaling schedule, ``0.02 / (t + 1)**0.25`` at update ``t``, ``tol=2e-3``) were chosen by
    ``benchmarks/regressor_defaults.py``: on standardised data (diabetes, breast_cancer, linnerud,
    friedman1, a 10^5 x 100 linear set) their test R² was at least ``SGDRegressor()``'s on every
    set (mean and worst of three seeds), in a similar number of epochs, at a median fit time of
    0.2 to 1.1 times its own, and ``partial_fit`` fed chunks of a stream learns as
    ``SGDRegressor``'s does. The full batch (``batch_size=None, schedule=None``, the defaults
    before) needed 10 to 22 times the epochs, 1.3 to 3.0 times ``SGDRegressor``'s time on four
    of the five sets, and took one step per ``partial_fit`` call.

    Parameters
    ----------
    learning_rate : float, default 0.02
        Base step size (> 0); with the default schedule, the rate of update ``t`` (from 0) is
        ``learning_rate / (t + 1)**0.25``. ``loss="mse"`` is the mean of r**2, twice
        scikit-learn's ``squared_error``: ``learning_rate=0.005`` takes the steps of its
        ``eta0=0.01``.
    optimizer : str or Optimizer, default "sgd"
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``, ``"nadam"``, ``"radam"``,
        ``"adamax"`` or an object from
        :mod:`gdfast.optimizers`.
    loss : str, default "mse"
        A regression loss of :func:`gdfast.train`: ``"mse"`` (alias ``"squared_error"``; the mean of
        r**2, twice scikit-learn's half squared error), ``"mae"``, ``"huber"``,
        ``"epsilon_insensitive"`` or ``"squared_epsilon_insensitive"``. (The classification losses
        are for a classifier, which this is not.)
    huber_delta : float, optional
        The same option as ``epsilon``, under torch's name (give one of them).
    epsilon : float, optional
        The width of ``"huber"`` (default 1.0) and of the insensitive losses (default 0.1).
    fit_intercept : bool, default True
        Also learn ``intercept_`` (scikit-learn's default; :func:`gdfast.train` defaults to False).
    batch_size : int or None, default 8
        Mini-batch size; None is the full batch (deterministic gradient descent; with
        ``schedule=None`` the defaults before the measurements above). Batches larger than the
        data are clipped to the number of samples.
    shuffle : bool, default True
        Reshuffle the samples every epoch (mini-batches only).
    random_state : int, RandomState instance or None, default None
        Seeds the in-kernel shuffling generator.
    max_iter : int, default 1000
        Maximum number of epochs (passes over the data) of ``fit``.
    tol : float or None, default 2e-3
        Stop when the epoch's mean loss has not improved on the best one by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs (scikit-learn's SGD rule; ``loss_tol`` of
        :func:`gdfast.train`). None trains for all ``max_iter`` epochs. The default is
        ``SGDRegressor``'s ``tol=1e-3`` on its loss r**2 / 2, in units of ``"mse"``.
    n_iter_no_change : int, default 5
    schedule : str, Schedule or None, default "invscaling"
        Learning-rate schedule from :mod:`gdfast.schedules`: ``"invscaling"`` is
        :class:`~gdfast.schedules.InverseScaling` (``power_t=0.25``, scikit-learn's
        ``learning_rate="invscaling"``); None or ``"constant"`` keeps ``learning_rate``.
    clip_norm : float, optional
        Clip the gradient to this global norm.
    penalty : {None, "l2", "l1", "elasticnet"}, default None
        Penalty on ``coef_`` (never ``intercept_``), scikit-learn's definition; ``penalty`` of
        :func:`gdfast.train` (plain SGD only).
    alpha : float, default 0.0001
        Strength of ``penalty``.
    l1_ratio : float, default 0.15
        The L1 share of ``penalty="elasticnet"``.
    average : bool or int, default False
        Averaged SGD, as scikit-learn's: ``coef_`` and ``intercept_`` are the mean of the iterates
        from update ``average`` on (True: from the first; an int counts updates, samples with
        ``batch_size=1``), continued across ``partial_fit`` calls; ``average`` of
        :func:`gdfast.train` (optimizer "sgd" only). ``restore_best`` is not applied when
        averaging, and ``tol`` reads the raw iterate's epoch losses.
    verbose : bool or int, default False
        Show a tqdm progress bar (``progress=True`` of :func:`gdfast.train`; needs tqdm).
    restore_best : bool, default True
        ``fit`` keeps the weights of the epoch with the lowest training loss when the last ones are
        worse (``restore_best=True`` of :func:`gdfast.train`). When ``fit`` ends on divergence, or
        on ``n_iter_no_change`` with a last epoch loss over 1.1 times the best one, a
        ``ConvergenceWarning`` says so (the learning rate is then usually too large).
    accumulate : {"float64", "float32"}, default "float64"
        ``accumulate`` of :func:`gdfast.train`: ``"float32"`` sums the full batches of float32
        data (``batch_size=None``) in float32 with BLAS, at NumPy's float32 speed and precision
        and with CPU-dependent last bits; it needs float32 X and y (``fit`` raises a ValueError
        for other data). The default sums in double.

    warm_start : bool, default False
        ``fit`` starts from the fitted ``coef_``/``intercept_`` instead of zeros.
    early_stopping : bool, default False
        ``fit`` holds out ``validation_fraction`` of the samples (a random subset, drawn from
        ``random_state``), trains on the rest one epoch at a time, and stops when ``score`` on the
        held-out samples (R²) has not improved on its best by ``tol`` for ``n_iter_no_change``
        epochs; the weights of the best score are kept (``best_iteration_``,
        ``validation_scores_``). ``restore_best`` is then unused.
    validation_fraction : float, default 0.1
        In (0, 1).
    reduction : {"mean", "sample_mean"}, default "mean"
        ``reduction`` of :func:`gdfast.train`: the weighted mean loss over samples and targets, or
        scikit-learn's SGD objective (each sample weight scales its sample's step, the targets
        summed; ``SGDRegressor``'s meaning of ``sample_weight``).

    Attributes
    ----------
    coef_ : ndarray, shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        Epochs run by the last ``fit`` or ``partial_fit`` call.
    t_ : int
        Updates done since the first ``fit``/``partial_fit`` (continued by ``partial_fit``).
    loss_curve_ : ndarray of float64
        Mean training loss of each epoch (``partial_fit`` appends to it).
    validation_scores_ : ndarray of float64
        With ``early_stopping``: the held-out score after each epoch.
    best_iteration_ : int
        With ``early_stopping``: the epoch (from 1) whose weights were kept.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast import GDRegressor
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = X @ np.array([2.0, -1.0]) + 0.5
    >>> # full batch and a constant rate: gradient descent to the least-squares solution
    >>> reg = GDRegressor(batch_size=None, schedule=None, learning_rate=0.1, max_iter=2000, tol=None).fit(X, y)
    >>> np.round(reg.coef_, 4), round(float(reg.intercept_), 4)
    (array([ 2., -1.]), 0.5)
    >>> round(reg.score(X, y), 6)
    1.0
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.02,
        optimizer: Any = "sgd",
        loss: str = "mse",
        huber_delta: float | None = None,
        epsilon: float | None = None,
        fit_intercept: bool = True,
        batch_size: int | None = 8,
        shuffle: bool = True,
        random_state: Any = None,
        max_iter: int = 1000,
        tol: float | None = 2e-3,
        n_iter_no_change: int = 5,
        schedule: Any = "invscaling",
        clip_norm: float | None = None,
        verbose: bool | int = False,
        restore_best: bool = True,
        accumulate: str = "float64",
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        warm_start: bool = False,
        reduction: str = "mean",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
    ) -> None:
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.loss = loss
        self.huber_delta = huber_delta
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.schedule = schedule
        self.clip_norm = clip_norm
        self.verbose = verbose
        self.restore_best = restore_best
        self.accumulate = accumulate
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.warm_start = warm_start
        self.reduction = reduction
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.average = average

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None,
            sample_weight: Any = None) -> "GDRegressor":
        """Train for up to ``max_iter`` epochs, from zero weights (scikit-learn's signature).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_targets)
        coef_init : array_like, shape (n_features,) or (n_targets, n_features), optional
            Start from these weights (zeros when only ``intercept_init`` is given).
        intercept_init : float or array_like of shape (n_targets,), optional
            Start from this intercept (zero when only ``coef_init`` is given).
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weights (weighted mean loss).

        Returns
        -------
        self

        Without ``coef_init``/``intercept_init``, ``warm_start=True`` starts from the fitted
        ``coef_``/``intercept_`` (a new run: the step count, schedule and optimizer state restart,
        as scikit-learn's ``fit``).

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> X = np.arange(8.0).reshape(4, 2)
        >>> reg = GDRegressor(learning_rate=0.02, max_iter=5, tol=None).fit(X, X.sum(axis=1))
        >>> reg.n_iter_, reg.t_, reg.loss_curve_.shape
        (5, 5, (5,))
        """
        self._check_params()
        self.__dict__.pop("_state", None)  # a new fit starts a new run
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse="csr", multi_output=True,
                             y_numeric=True, reset=True)
        shape = (X.shape[1],) if np.ndim(y) == 1 else (np.shape(y)[1], X.shape[1])
        warm = self._fit_start(coef_init, intercept_init, shape)
        if self.early_stopping:
            def fit_epoch(Xs: np.ndarray, ys: np.ndarray, sws: Any, first: bool, from_public: bool) -> None:
                self._train(Xs, ys, sws, first=first, epochs=1, early_stop=False, from_public=from_public)

            self._fit_early_stopping(X, y, sample_weight, warm, fit_epoch, stratify=False)
            return self
        return self._train(X, y, sample_weight, first=True, epochs=self.max_iter, early_stop=True,
                           from_public=warm)

    @_with_fit_arguments
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "GDRegressor":
        """One more epoch over (X, y), continuing the optimizer state, step count and schedule.

        The first call (or a call after ``fit``) starts or continues from the current weights,
        ``coef_`` and ``intercept_`` (set them to start elsewhere; a first call without them starts
        from zero); batches may have different numbers of samples. ``tol`` is not used (no early
        stopping).

        {fit arguments}

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> reg = GDRegressor(learning_rate=0.02)
        >>> for X in np.split(np.arange(16.0).reshape(8, 2), [3, 4]):  # batches of 3, 1 and 4 samples
        ...     reg = reg.partial_fit(X, X.sum(axis=1))
        >>> reg.t_, reg.loss_curve_.shape, reg.coef_.shape
        (3, (3,), (2,))
        """
        self._check_params()
        first = not hasattr(self, "_state")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse="csr", multi_output=True,
                             y_numeric=True, reset=first)
        return self._train(X, y, sample_weight, first=first, epochs=1, early_stop=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``X @ coef_.T + intercept_`` (computed by :func:`gdfast.predict`).

        ``coef_`` and ``intercept_`` are read at each call, so values set by the user are used.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,) or (n_samples, n_targets)

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDRegressor
        >>> X = np.array([[0.0], [1.0], [2.0]])
        >>> reg = GDRegressor(learning_rate=0.1, tol=None).fit(X, 3 * X[:, 0] + 1)
        >>> np.round(reg.predict([[4.0]]), 4)
        array([13.])
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse="csr", reset=False)
        W, b, y_1d = self._public_params(None)
        if W.shape[1] != X.shape[1]:
            raise ValueError(f"coef_ has {W.shape[1]} features; X has {X.shape[1]}")
        out: np.ndarray = _predict(W, X) + b.astype(W.dtype if W.dtype == X.dtype else np.float64)
        return out[:, 0] if y_1d else out

    @property
    def _reduction(self) -> str:  # type: ignore[override]
        return str(self.reduction)

    def _check_loss(self, loss: str) -> None:
        check_reduction(self.reduction)
        if loss in CLASSIFICATION_LOSSES:
            raise ValueError(
                f"loss={self.loss!r} is a classification loss; GDRegressor takes the regression losses "
                f"{', '.join(sorted(set(LOSSES) - CLASSIFICATION_LOSSES))} (for classes: GDClassifier, or "
                "gdfast.train with class targets)"
            )



class GDClassifier(ClassifierMixin, _BaseGD):
    """Linear classifier trained by :func:`gdfast.train`, with scikit-learn's estimator API.

    Binary problems train one weight vector on the targets -1 (``classes_[0]``) and +1
    (``classes_[1]``). Multi-class problems are one-vs-rest: the K binary problems "class k against
    the others" are trained together as one K-output problem in one kernel call, on scikit-learn's
    objective (``reduction="sample_mean"`` of :func:`gdfast.train`: the outputs summed, each sample
    weight scaling its sample's step), so each column of ``coef_`` is exactly the binary problem
    scikit-learn's ``SGDClassifier`` trains for that class. With the same settings (``batch_size=1``,
    ``shuffle=False``, a constant rate, the same ``penalty``/``alpha``) ``coef_`` and
    ``intercept_`` equal ``SGDClassifier``'s (``learning_rate`` is its ``eta0``).

    ``multi_class="multinomial"`` trains one softmax model instead (multinomial logistic regression,
    scikit-learn's ``LogisticRegression`` objective): ``coef_`` has one row per class, trained on the
    softmax cross-entropy of the K logits (``loss="multinomial"`` of :func:`gdfast.train`, the mean
    over samples of each row's cross-entropy, each sample weight scaling its sample's term),
    ``predict_proba`` is the softmax of ``decision_function``.

    Parameters
    ----------
    loss : str, default "log_loss"
        A classification (margin) loss of :func:`gdfast.train`: ``"log_loss"`` (logistic
        regression; ``predict_proba``), ``"hinge"`` (a linear SVM; scikit-learn's default),
        ``"modified_huber"`` (``predict_proba``), ``"squared_hinge"`` or ``"perceptron"``. The
        default was chosen by ``benchmarks/classifier_defaults.py``: with the other defaults, its
        test accuracy was the best of the candidates on the three problems there, and above
        ``SGDClassifier()``'s on each.
    learning_rate : float, default 0.01
        Base step size (> 0): scikit-learn's ``eta0``.
    optimizer : str or Optimizer, default "sgd"
        As :class:`GDRegressor` (a ``penalty`` needs plain SGD).
    penalty : {None, "l2", "l1", "elasticnet"}, default "l2"
        Penalty on ``coef_`` (never ``intercept_``), scikit-learn's definition.
    alpha : float, default 0.0001
    l1_ratio : float, default 0.15
    fit_intercept : bool, default True
    batch_size : int, optional, default 1
        Samples per update (1: scikit-learn's per-sample SGD; None: the full batch).
    shuffle : bool, default True
        Reshuffle the samples every epoch (mini-batches only).
    random_state : int, RandomState instance or None, default None
    max_iter : int, default 1000
        Maximum number of epochs of ``fit``.
    tol : float or None, default 1e-3
        Stop when the epoch's training loss (the sum over the K binary problems) has not improved
        on its best by ``tol`` for ``n_iter_no_change`` consecutive epochs; None: ``max_iter``
        epochs.
    n_iter_no_change : int, default 5
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, scikit-learn's definition: ``{label: weight}``, or "balanced"
        (``n_samples / (n_classes * np.bincount(y))``, from the ``y`` of ``fit``). As in
        ``SGDClassifier``, the problem "class k against the rest" weights the samples of class k by
        ``class_weight[k]`` and the rest by 1; a binary problem weights each class by its own.
        Multiplies ``sample_weight``. With several classes and weights that are not all 1, each
        binary problem has its own sample weights and ``fit`` trains them in K kernel calls.
    schedule, clip_norm, verbose, restore_best, accumulate
        As :class:`GDRegressor`. ``restore_best`` keeps the weights of the epoch with the lowest
        training loss.
    warm_start : bool, default False
        ``fit`` starts from the fitted ``coef_``/``intercept_`` instead of zeros.
    early_stopping : bool, default False
        ``fit`` holds out ``validation_fraction`` of the samples (stratified by class, drawn from
        ``random_state``), trains on the rest one epoch at a time, and stops when ``score`` on the
        held-out samples (accuracy; ``class_weight='balanced'`` is computed on the training part) has not improved on its best by ``tol`` for ``n_iter_no_change``
        epochs; the weights of the best score are kept (``best_iteration_``,
        ``validation_scores_``). ``restore_best`` is then unused.
    average : bool or int, default False
        Averaged SGD, as scikit-learn's: ``coef_`` and ``intercept_`` are the mean of the iterates
        from update ``average`` on (True: from the first), as :class:`GDRegressor`.
    validation_fraction : float, default 0.1
        In (0, 1).
    multi_class : {"ovr", "multinomial"}, default "ovr"
        With three classes or more: "ovr" trains the K binary problems "class k against the rest"
        (``loss`` each); "multinomial" trains the softmax cross-entropy over the K classes (needs
        ``loss="log_loss"``, its multi-class form, as scikit-learn's ``LogisticRegression``; dense
        or CSR X). ``class_weight`` then weights each sample by its own class's weight (scikit-learn's
        ``LogisticRegression`` definition), in one kernel call. With two classes both are the same
        binary logistic model (the softmax of two logits is the logistic of their difference):
        "multinomial" trains it as "ovr" does, and ``coef_`` keeps shape (1, n_features).

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    coef_ : ndarray, shape (1, n_features) (two classes) or (n_classes, n_features)
    intercept_ : ndarray, shape (1,) or (n_classes,)
    n_iter_ : int
    t_ : int
    loss_curve_ : ndarray of float64
        Mean training loss of each epoch, summed over the binary problems ("multinomial": the
        mean cross-entropy).
    validation_scores_ : ndarray of float64
        With ``early_stopping``: the held-out score after each epoch.
    best_iteration_ : int
        With ``early_stopping``: the epoch (from 1) whose weights were kept.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast import GDClassifier
    >>> X = np.array([[-2.0, 0.0], [-1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> clf = GDClassifier(random_state=0).fit(X, ["no", "no", "yes", "yes"])
    >>> clf.classes_.tolist(), clf.predict([[-3.0, 0.0], [3.0, 0.0]]).tolist()
    (['no', 'yes'], ['no', 'yes'])
    >>> clf.coef_.shape, clf.intercept_.shape
    ((1, 2), (1,))

    Multinomial logistic regression on three classes:

    >>> X = np.array([[0.0, 0.0], [0.2, 0.1], [3.0, 0.0], [3.1, 0.2], [0.0, 3.0], [0.1, 3.2]])
    >>> soft = GDClassifier(multi_class="multinomial", random_state=0).fit(X, [0, 0, 1, 1, 2, 2])
    >>> soft.coef_.shape, soft.predict([[3.0, 0.1], [0.0, 3.1]]).tolist()
    ((3, 2), [1, 2])
    >>> bool(np.allclose(soft.predict_proba(X).sum(axis=1), 1.0))
    True
    """

    _reduction = "sample_mean"
    _public_name = "GDClassifier"

    def __init__(
        self,
        *,
        loss: str = "log_loss",
        learning_rate: float = 0.01,
        optimizer: Any = "sgd",
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        batch_size: int | None = 1,
        shuffle: bool = True,
        random_state: Any = None,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        n_iter_no_change: int = 5,
        class_weight: Any = None,
        schedule: Any = None,
        clip_norm: float | None = None,
        verbose: bool | int = False,
        restore_best: bool = True,
        accumulate: str = "float64",
        warm_start: bool = False,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
        multi_class: str = "ovr",
    ) -> None:
        self.loss = loss
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.schedule = schedule
        self.clip_norm = clip_norm
        self.verbose = verbose
        self.restore_best = restore_best
        self.accumulate = accumulate
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.average = average
        self.multi_class = multi_class

    # The regression-only options of the shared training code, fixed for a classifier.
    huber_delta = None
    epsilon = None

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_loss(self, loss: str) -> None:
        if loss not in MARGIN_LOSSES:
            raise ValueError(
                f"loss={self.loss!r} is a regression loss; GDClassifier takes the classification losses "
                f"{', '.join(sorted(MARGIN_LOSSES))} (GDRegressor takes {self.loss!r})"
            )

    def _check_multi_class(self) -> None:
        if not isinstance(self.multi_class, str) or self.multi_class not in ("ovr", "multinomial"):
            raise ValueError(f"multi_class must be 'ovr' or 'multinomial'; got {self.multi_class!r}")
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError(
                f"multi_class='multinomial' is the softmax cross-entropy, the multi-class form of "
                f"loss='log_loss'; got loss={self.loss!r} (use multi_class='ovr' for it)"
            )

    def _softmax(self) -> bool:
        """Whether the fitted model is one softmax over the classes (multinomial, three classes or more)."""
        return self.multi_class == "multinomial" and self.classes_.shape[0] > 2

    def _train_loss(self) -> str:
        return "multinomial" if self._softmax() else str(self.loss)

    def _check_class_weight(self) -> None:
        cw = self.class_weight
        if cw is None or cw == "balanced":
            return
        if not isinstance(cw, dict):
            raise ValueError(f"class_weight must be a dict {{label: weight}}, 'balanced' or None; got {cw!r}")
        for label, weight in cw.items():
            check_real(weight, f"class_weight[{label!r}]", low=0.0)

    # ------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None,
            sample_weight: Any = None) -> "GDClassifier":
        """Train for up to ``max_iter`` epochs, from zero weights (scikit-learn's signature).

        Without ``coef_init``/``intercept_init``, ``warm_start=True`` starts from the fitted
        ``coef_``/``intercept_`` (a new run: the step count and schedule restart, as scikit-learn's).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
            Class labels (at least two classes).
        coef_init : array_like, shape (n_classes, n_features) (or (1, n_features) for two classes), optional
        intercept_init : array_like, shape (n_classes,) (or (1,)), optional
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weights; each multiplies its sample's step (scikit-learn's meaning).

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDClassifier
        >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 2.0]])
        >>> clf = GDClassifier(max_iter=5, tol=None, random_state=0).fit(X, [0, 1, 2, 2])
        >>> clf.coef_.shape, clf.n_iter_, clf.t_
        ((3, 2), 5, 20)
        """
        self._check_params()
        self._check_multi_class()
        self._check_class_weight()
        self.__dict__.pop("_state", None)  # a new fit starts a new run
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse="csr", reset=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.shape[0] < 2:
            raise ValueError(
                f"GDClassifier needs at least 2 classes in y; got {self.classes_.shape[0]} class "
                f"({self.classes_.tolist()!r})"
            )
        shape = (1 if self.classes_.shape[0] == 2 else self.classes_.shape[0], X.shape[1])
        if coef_init is None and intercept_init is None and self.warm_start and hasattr(self, "coef_"):
            if np.shape(self.coef_) != shape:
                raise ValueError(f"warm_start: the fitted coef_ has shape {np.shape(self.coef_)}, this y's classes "
                                 f"need {shape}; fit with warm_start=False")
        warm = self._fit_start(coef_init, intercept_init, shape)
        if self.early_stopping:
            def fit_epoch(Xs: np.ndarray, ys: np.ndarray, sws: Any, first: bool, from_public: bool) -> None:
                self._fit_classes(Xs, ys, sws, first=first, epochs=1, early_stop=False, from_public=from_public)

            self._fit_early_stopping(X, y, sample_weight, warm, fit_epoch, stratify=True)
            return self
        return self._fit_classes(X, y, sample_weight, first=True, epochs=self.max_iter, early_stop=True,
                                 from_public=warm)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> "GDClassifier":
        """One more epoch over (X, y), continuing the optimizer state, step count and schedule.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        classes : array_like, shape (n_classes,), optional
            Every class of the problem: required on the first call (y may not show them all), and
            if given later, equal to ``classes_``.
        sample_weight : array_like, shape (n_samples,), optional

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from gdfast import GDClassifier
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
        >>> clf = GDClassifier(random_state=0).partial_fit(X[:2], [0, 1], classes=[0, 1, 2])
        >>> clf = clf.partial_fit(X[2:], [2, 0])
        >>> clf.classes_.tolist(), clf.t_
        ([0, 1, 2], 4)
        """
        self._check_params()
        self._check_multi_class()
        self._check_class_weight()
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit (it needs all of y); compute the "
                "weights once with sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
                "y=y) and pass them as a dict"
            )
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be given on the first call to partial_fit (every class of the problem)")
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(f"classes={classes.tolist()!r} is not classes_={self.classes_.tolist()!r} of "
                                 "the earlier calls")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], accept_sparse="csr", reset=first)
        check_classification_targets(y)
        if first:
            if classes.shape[0] < 2:
                raise ValueError(f"classes must hold at least 2 classes; got {classes.tolist()!r}")
            self.classes_ = classes
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()!r} that are not in classes={self.classes_.tolist()!r}")
        return self._fit_classes(X, y, sample_weight, first=not hasattr(self, "_state"), epochs=1, early_stop=False)

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        """One weight per class of ``classes_`` (scikit-learn's ``compute_class_weight``)."""
        if self.class_weight is None:
            return np.ones(self.classes_.shape[0])
        present = np.unique(y) if self.class_weight == "balanced" else self.classes_
        weights = np.ones(self.classes_.shape[0])
        computed = compute_class_weight(self.class_weight, classes=present, y=y)
        weights[np.searchsorted(self.classes_, present)] = computed
        return weights

    def _fit_classes(self, X: np.ndarray, y: np.ndarray, sample_weight: Any, *, first: bool, epochs: int,
                     early_stop: bool, from_public: bool = False) -> "GDClassifier":
        n_classes = self.classes_.shape[0]
        index = np.searchsorted(self.classes_, y)
        sw = np.ones(X.shape[0], dtype=np.float64)
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        cw = self._class_weights(y)
        if self._softmax():
            # One softmax over the classes: one-hot rows (the class indices' cross-entropy), each
            # sample weighted by its own class's weight (LogisticRegression's class_weight)
            Y = (index[:, None] == np.arange(n_classes)).astype(np.float64)
            weights = None if sample_weight is None and np.all(cw == 1.0) else sw * cw[index]
            return self._train(X, Y, weights, first=first, epochs=epochs, early_stop=early_stop,
                               from_public=from_public)
        if n_classes == 2:
            # y = +1 for classes_[1], -1 for classes_[0]; each sample weighted by its class's weight
            Y = np.where(index == 1, 1.0, -1.0).reshape(-1, 1)
            weights = None if sample_weight is None and np.all(cw == 1.0) else sw * cw[index]
            return self._train(X, Y, weights, first=first, epochs=epochs, early_stop=early_stop,
                               from_public=from_public)
        # One-vs-rest: column k is "class k (+1) against the rest (-1)"
        Y = np.where(index[:, None] == np.arange(n_classes), 1.0, -1.0)
        if np.all(cw == 1.0):
            return self._train(X, Y, sample_weight if sample_weight is None else sw, first=first, epochs=epochs,
                               early_stop=early_stop, from_public=from_public)
        # scikit-learn's one-vs-rest weights: class k's samples by class_weight[k], the rest by 1; a
        # different weight vector per column, so one kernel call per class.
        if not early_stop:
            raise ValueError(
                "partial_fit and early_stopping=True with several classes and a class_weight other than 1 would "
                "need one run per class; give the weights through sample_weight, or use fit without early_stopping"
            )
        parts = []
        for k in range(n_classes):
            one = _BinaryPart(**self.get_params())
            one.n_features_in_ = self.n_features_in_
            if from_public:
                one.coef_, one.intercept_ = np.asarray(self.coef_)[k:k + 1], np.asarray(self.intercept_)[k:k + 1]
            one._train(X, Y[:, k:k + 1], sw * np.where(index == k, cw[k], 1.0), first=True, epochs=epochs,
                       early_stop=True, from_public=from_public)
            parts.append(one)
        self.__dict__.pop("_state", None)  # no single run state: a later partial_fit starts from coef_
        self.coef_ = np.concatenate([p.coef_ for p in parts])
        self.intercept_ = np.concatenate([p.intercept_ for p in parts])
        self.n_iter_ = max(p.n_iter_ for p in parts)
        self.t_ = max(p.t_ for p in parts)
        longest = max(p.loss_curve_.shape[0] for p in parts)
        # a finished problem's loss stays at its last epoch's value
        self.loss_curve_ = np.sum([np.pad(p.loss_curve_, (0, longest - p.loss_curve_.shape[0]), mode="edge")
                                   for p in parts], axis=0)
        return self

    # ------------------------------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """Confidence scores ``X @ coef_.T + intercept_``: shape (n_samples,) for two classes
        (positive: ``classes_[1]``), else (n_samples, n_classes).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray

        Examples
        --------
        >>> from gdfast import GDClassifier
        >>> clf = GDClassifier(random_state=0).fit([[-1.0], [1.0]], [0, 1])
        >>> bool(clf.decision_function([[2.0]])[0] > 0)
        True
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse="csr", reset=False)
        W, b, _ = self._public_params(None)
        if W.shape[1] != X.shape[1]:
            raise ValueError(f"coef_ has {W.shape[1]} features; X has {X.shape[1]}")
        scores: np.ndarray = _predict(W, X) + b.astype(W.dtype if W.dtype == X.dtype else np.float64)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The class of each sample: ``classes_[1]`` where the score is > 0 (two classes), else the
        class of the largest score.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples,)

        Examples
        --------
        >>> from gdfast import GDClassifier
        >>> clf = GDClassifier(random_state=0).fit([[-1.0], [1.0]], ["a", "b"])
        >>> clf.predict([[-2.0], [2.0]]).tolist()
        ['a', 'b']
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        out: np.ndarray = self.classes_[index]
        return out

    def _check_proba(self) -> bool:
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(f"probability estimates are not available for loss={self.loss!r}")
        return True

    @available_if(_check_proba)  # type: ignore[untyped-decorator]
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (``loss="log_loss"`` or ``"modified_huber"`` only), scikit-learn's formulas.

        ``multi_class="multinomial"`` (three classes or more): the softmax of the K scores.
        log_loss: the logistic ``1 / (1 + exp(-score))`` of each binary problem (two classes:
        ``[1 - p, p]``; more: each row divided by its sum, one-vs-rest normalisation).
        modified_huber: ``(clip(score, -1, 1) + 1) / 2``, the same way (a row of zeros becomes
        uniform).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_classes)

        Examples
        --------
        >>> from gdfast import GDClassifier
        >>> clf = GDClassifier(loss="log_loss", random_state=0).fit([[-1.0], [1.0]], [0, 1])
        >>> p = clf.predict_proba([[0.0], [3.0]])
        >>> p.shape, bool(p[1, 1] > 0.5)
        ((2, 2), True)
        """
        scores = np.asarray(self.decision_function(X), dtype=np.float64)
        if self._softmax():
            out_softmax: np.ndarray = softmax(scores, axis=1)
            return out_softmax
        if self.loss == "log_loss":
            prob = expit(scores)
        else:
            prob = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
        if prob.ndim == 1:
            return np.stack([1.0 - prob, prob], axis=1)
        total = prob.sum(axis=1)
        zero = total == 0
        prob[zero] = 1.0
        total[zero] = prob.shape[1]
        out: np.ndarray = prob / total[:, None]
        return out

    @available_if(_check_proba)  # type: ignore[untyped-decorator]
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``np.log(predict_proba(X))``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_classes)

        Examples
        --------
        >>> from gdfast import GDClassifier
        >>> clf = GDClassifier(loss="log_loss", random_state=0).fit([[-1.0], [1.0]], [0, 1])
        >>> clf.predict_log_proba([[0.5]]).shape
        (1, 2)
        """
        with np.errstate(divide="ignore"):
            out: np.ndarray = np.log(self.predict_proba(X))
        return out


class _BinaryPart(GDClassifier):
    """One binary problem of a one-vs-rest GDClassifier with its own sample weights (trained alone)."""
